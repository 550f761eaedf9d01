#!/usr/bin/env bash
# Set up, then open the ReliefCheck dashboard (the built-in synthetic demo cohort when nothing
# has been uploaded yet). Pass a port as the first argument to change it from 8501.
#
# Without sign-in configured (no [auth] section in Streamlit's secrets) the dashboard is in local
# mode: it listens on 127.0.0.1 only, and its one user is the owner. With sign-in configured it
# listens on every network interface; RELIEFCHECK_ADDRESS chooses another address. See
# docs/access.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
port="${1:-8501}"
# Is an [auth] section configured in a secrets file Streamlit reads from here? A file that
# cannot be parsed counts as no: the dashboard then stays on loopback and says what is wrong.
signin=$(.venv/bin/python - <<'PY'
import tomllib
from pathlib import Path

files = [Path.home() / ".streamlit/secrets.toml", Path(".streamlit/secrets.toml"),
         Path("dashboard/.streamlit/secrets.toml")]
found = False
for f in files:
    try:
        found = found or isinstance(tomllib.loads(f.read_text("utf-8")).get("auth"), dict)
    except (OSError, ValueError):
        pass
print("yes" if found else "no")
PY
)
if [ "$signin" = yes ]; then
  address="${RELIEFCHECK_ADDRESS:-0.0.0.0}"
  echo "ReliefCheck is starting on port ${port} (address ${address}) with sign-in: docs/access.md"
else
  address="${RELIEFCHECK_ADDRESS:-127.0.0.1}"
  echo "ReliefCheck is starting on http://127.0.0.1:${port} in local mode (this computer only;"
  echo "to let others in, set up sign-in: docs/access.md)"
fi
exec .venv/bin/python -m streamlit run dashboard/app.py --server.port "$port" \
  --server.address "$address" --server.headless true
