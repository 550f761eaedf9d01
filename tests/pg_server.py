"""A throwaway PostgreSQL server for the store tests (one per test process).

With ``RELIEFCHECK_TEST_PG_URL`` set (``postgresql://user@host:port/db`` of a server where that
user may create databases), tests use that server. Otherwise the first test that needs
PostgreSQL starts one from Debian's binaries (``/usr/lib/postgresql/<version>/bin``, or
``$RELIEFCHECK_PG_BIN``): ``initdb`` into a temporary folder, listening on 127.0.0.1 on a free
port with its socket in that folder, run as an unprivileged user when the tests run as root
(``postgres`` if it exists, else ``nobody``), and stopped when the process exits. Each test gets
a database of its own.

Tests that need PostgreSQL are marked ``postgres``; without a server they fail with a message
saying how to get one, unless ``RELIEFCHECK_SKIP_PG=1`` asks explicitly to skip them.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

PG_URL_ENV = "RELIEFCHECK_TEST_PG_URL"
SKIP_ENV = "RELIEFCHECK_SKIP_PG"
BIN_ENV = "RELIEFCHECK_PG_BIN"

_server: dict[str, object] = {}


def _bin_dir() -> Path | None:
    if os.environ.get(BIN_ENV):
        return Path(os.environ[BIN_ENV])
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_user() -> list[str]:
    """Command prefix to run the server unprivileged when the tests run as root."""
    if os.geteuid() != 0:
        return []
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"]
    raise RuntimeError("Running as root with neither a 'postgres' nor a 'nobody' user.")


def _start() -> str:
    bindir = _bin_dir()
    if bindir is None or not (bindir / "initdb").exists():
        pytest.fail(
            "PostgreSQL tests need a server: install Debian's postgresql (bash scripts/install_postgres.sh), "
            f"or set {PG_URL_ENV} to a server's URL, or set {SKIP_ENV}=1 to skip them explicitly.",
            pytrace=False,
        )
    prefix = _as_user()
    # Under /tmp when switching user: $TMPDIR may not be reachable for the server's user, and a
    # short path keeps the socket name within its length limit.
    tmp = Path(tempfile.mkdtemp(prefix="rc-pg-", dir="/tmp" if prefix else None))
    if prefix:
        user = pwd.getpwnam(prefix[2])
        os.chown(tmp, user.pw_uid, user.pw_gid)
    data, port = tmp / "data", _free_port()

    def run(cmd: list[str]) -> None:
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        if done.returncode != 0:
            log = tmp / "server.log"
            detail = done.stderr + (log.read_text() if log.exists() else "")
            shutil.rmtree(tmp, ignore_errors=True)
            pytest.fail(f"Could not start the test PostgreSQL ({cmd[-1]}): {detail}", pytrace=False)

    run(
        [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ]
    )
    options = f"-h 127.0.0.1 -p {port} -k {tmp} -c fsync=off -c max_connections=100"
    run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(tmp / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        ]
    )

    def stop() -> None:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            cwd=tmp,
        )
        shutil.rmtree(tmp, ignore_errors=True)

    atexit.register(stop)
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def server_url() -> str:
    """URL of the test server's maintenance database (started on first use)."""
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: PostgreSQL tests skipped on request")
    if "url" not in _server:
        _server["url"] = os.environ.get(PG_URL_ENV) or _start()
    return str(_server["url"])


def fresh_database_url() -> str:
    """URL of a new, empty database on the test server."""
    import psycopg

    base = server_url()
    name = f"rc_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}"
