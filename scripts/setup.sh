#!/usr/bin/env bash
# Set up a fresh machine for ReliefCheck: system packages (Chromium for the PDF report and the
# browser tests, poppler-utils for the PDF report's tests, PostgreSQL for the shared-store
# tests), a virtual environment and the pinned Python packages.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want=()
command -v chromium >/dev/null 2>&1 || want+=(chromium)
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || want+=(fonts-dejavu-core)
command -v pdftoppm >/dev/null 2>&1 || want+=(poppler-utils)
if [ ${#want[@]} -gt 0 ]; then
  echo "Installing system packages: ${want[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi

bash scripts/install_postgres.sh

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.requirements.sha
sum=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$sum" > "$stamp"
fi
