#!/usr/bin/env bash
# Set up, then open the ReliefCheck dashboard (the built-in synthetic demo cohort when nothing
# has been uploaded yet). Pass a port as the first argument to change it from 8501.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
port="${1:-8501}"
echo "ReliefCheck is starting on http://localhost:${port}"
exec .venv/bin/python -m streamlit run dashboard/app.py --server.port "$port" --server.headless true
