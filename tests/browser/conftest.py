"""Browser tests: a real ``streamlit run`` on a free port, driven by Playwright in Debian's Chromium.

Playwright cannot download its own browser here, so it is pointed at ``/usr/bin/chromium``
(``RELIEFCHECK_CHROMIUM`` overrides the path). Screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("RELIEFCHECK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            "Chromium is not installed: the browser tests need Debian's chromium package "
            "(scripts/setup.sh installs it)."
        )
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("streamlit did not become healthy in time")


@contextlib.contextmanager
def serve_dashboard(
    folder: Path, env: dict[str, str], *, port: int | None = None, extra: tuple[str, ...] = ()
) -> Iterator[str]:
    """A real ``streamlit run`` of the dashboard on loopback with ``env``, its log in
    ``folder``; yields the URL and stops the server afterwards. ``extra``: more options."""
    port = port or _free_port()
    log = open(folder / "streamlit.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
            "--server.port", str(port), "--server.address", "127.0.0.1",
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", *extra,
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """URL of a dashboard served by a real ``streamlit run``, on a fresh, empty store."""
    tmp = tmp_path_factory.mktemp("browser-store")
    env = dict(os.environ)
    env["RELIEFCHECK_DB_URL"] = f"sqlite:///{tmp / 'store.sqlite'}"
    with serve_dashboard(tmp, env) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    yield pg
    context.close()


def wait_for_run(page, timeout: float = 30_000) -> None:
    """Wait until Streamlit has finished the current script run."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=timeout,
    )
    page.wait_for_timeout(300)


def pick_option(page, select, option: str, *, tries: int = 4) -> None:
    """Open a select box (``select``: its locator) and click ``option``. A rerun that starts
    while the list is open (a busy machine finishing the page) closes it again, so the box is
    opened again until the option shows."""
    for attempt in range(tries):
        wait_for_run(page, timeout=60_000)
        select.click()
        choice = page.get_by_role("option", name=option)
        try:
            choice.wait_for(timeout=10_000)
            choice.click()
            return
        except Exception:
            if attempt == tries - 1:
                raise
            page.keyboard.press("Escape")


def screenshot(page, name: str) -> Path:
    """Full-page screenshot into artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
