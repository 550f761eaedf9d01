#!/usr/bin/env bash
# Make Debian's PostgreSQL server binaries available for the store tests, without starting or
# creating any cluster: the tests start their own throwaway server (tests/pg_server.py).
# Run by scripts/setup.sh (bash scripts/install_postgres.sh).
# Does nothing when /usr/lib/postgresql/<version>/bin/initdb is already there, or when
# RELIEFCHECK_TEST_PG_URL points at a server. Needs root (or sudo) only when it installs.

_rc_pg_install() {
  if [ -n "${RELIEFCHECK_TEST_PG_URL:-}" ] || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install_postgres.sh: need root or sudo to install postgresql" >&2; return 1; }
    sudo="sudo"
  fi
  echo "install_postgres.sh: installing Debian's postgresql (no cluster, no service)" >&2
  # No 'main' cluster on install, and no service start (policy-rc.d answers 'not allowed').
  $sudo mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.conf >/dev/null
  local made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local status=0
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq || status=$?
  if [ "$status" -eq 0 ]; then
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      postgresql >/dev/null || status=$?
  fi
  [ -n "$made_policy" ] && $sudo rm -f /usr/sbin/policy-rc.d
  if [ "$status" -ne 0 ] || ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    echo "install_postgres.sh: could not install postgresql (apt-get exit $status)" >&2
    return 1
  fi
}

_rc_pg_install
