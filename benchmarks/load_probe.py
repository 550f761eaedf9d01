"""What the load benchmark (``benchmarks.load``) reads on the server's side: a hook that logs
every script run's time, and once-a-second samples of memory and CPU time from ``/proc``."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.state import RUN_MS_KEY

TICK = os.sysconf("SC_CLK_TCK")

RUN_LOG_ENV = "RELIEFCHECK_LOAD_RUN_LOG"
#: Written as ``sitecustomize.py`` into a folder put first on the server's PYTHONPATH: logs
#: every script run's server wall and CPU time, the app's own time (``RUN_MS_KEY``) and the page.
HOOK = f"""
import json, os, threading, time
_out = os.environ.get({RUN_LOG_ENV!r})
if _out:
    from streamlit.runtime.scriptrunner import script_runner as _sr
    _run, _lock = _sr.ScriptRunner._run_script, threading.Lock()

    def _timed(self, rerun_data):
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return _run(self, rerun_data)
        finally:
            rec = {{"t": time.time(), "wall_ms": 1000 * (time.perf_counter() - t0),
                    "cpu_ms": 1000 * (time.thread_time() - c0), "page": None, "app_ms": None}}
            try:
                rec["app_ms"] = self._session_state[{RUN_MS_KEY!r}].get("ms")
                pm = self._get_script_run_ctx().pages_manager
                page = pm.get_pages()[pm.current_page_script_hash]
                rec["page"] = page.get("url_pathname") or "overview"
            except Exception:
                pass
            with _lock, open(_out, "a") as f:
                f.write(json.dumps(rec) + "\\n")

    _sr.ScriptRunner._run_script = _timed
"""


@dataclass
class Samples:
    """Once-a-second samples of the server's and the browser's processes."""

    server_rss_mb: list[float] = field(default_factory=list)
    browser_rss_mb: list[float] = field(default_factory=list)
    load1: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # group -> seconds
    _last: dict[int, float] = field(default_factory=dict)


def _proc_table() -> dict[int, int]:
    """pid -> parent pid of every process."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            out[int(d)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def _tree(root: int, parents: dict[int, int]) -> set[int]:
    """``root`` and all its descendants."""
    found, todo = {root}, [root]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p and c not in found]
        found.update(kids)
        todo.extend(kids)
    return found


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def server_pid(port: int) -> int:
    """The ``streamlit run`` serving on ``port``."""
    for pid in _proc_table():
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streamlit" in b" ".join(cmd) and str(port).encode() in cmd:
            return pid
    raise RuntimeError(f"no streamlit process serving port {port}")


def sample(samples: Samples, server: int) -> None:
    """One sample: RSS of the server's tree and of the rest of this process's tree (browser,
    Playwright driver), and the CPU seconds each group used since the last sample."""
    parents = _proc_table()
    srv = _tree(server, parents)
    browser = _tree(os.getpid(), parents) - srv - {os.getpid()}
    samples.server_rss_mb.append(sum(_rss_mb(p) for p in srv))
    samples.browser_rss_mb.append(sum(_rss_mb(p) for p in browser))
    samples.load1.append(os.getloadavg()[0])
    first = not samples._last  # the first sample only sets the baseline
    for group, pids in (
        ("server", srv),
        ("browser + driver", browser),
        ("load script", {os.getpid()}),
    ):
        for p in pids:
            now = _cpu_s(p)
            samples.cpu[group] += max(0.0, now - samples._last.get(p, now if first else 0.0))
            samples._last[p] = now


async def sampler(samples: Samples, server: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        sample(samples, server)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
