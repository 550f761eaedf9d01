#!/usr/bin/env bash
# Set up, then run every ReliefCheck test: unit, reference, app (AppTest), store on SQLite and
# PostgreSQL, and browser tests in headless Chromium. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m ruff check .
# Two workers: the tests are independent (own ports, own databases, own folders).
.venv/bin/python -m pytest -q -n 2 "$@"
