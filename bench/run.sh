#!/usr/bin/env bash
# Every benchmark with the project's virtualenv, from the repository root: bench/run.sh [NAME ...] [-v]
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m bench "$@"
