#!/usr/bin/env bash
# Both benchmarks with the project's virtualenv, from the repository root: bench/run.sh [-v]
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m bench "$@"
