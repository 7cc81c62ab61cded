"""Hostile input from outside: every refusal is a clear 4xx, never a 500 (docs/SECURITY.md, "Input
limits"). Most tests run the app with every secret set and Temporal on a closed port (a refusal must
come before anything reaches a workflow); the alert-size and locked-store tests use the dev server."""

from __future__ import annotations

# The security suite's offline app (`offline`, `app`, `client`) and the dev-server fixtures.
from tests.security.conftest import app, client, offline  # noqa: F401
