"""Dashboard under load (issue 13): ``--sessions`` people (20) on one dashboard at once, on the
synthetic cohort of ``--patients`` patients (10,000), each opening pages and changing the sidebar
filters for ``--minutes`` (3). Targets: p95 page time under 1 s, no error, the server's memory
under 2 GB.

The dashboard is served by a real ``streamlit run`` on loopback (demo cohort of ``--patients``,
an empty SQLite store in a temporary folder). Before the clock starts, a warm-up visit opens
every page once, as on a server that has been up a while, and then the people arrive one after
another: each opens a browser context in Debian's Chromium (``--browsers`` spreads them over
several Chromium processes) and loads the dashboard. Both are timed but kept out of the load
figures. Then, all driven concurrently by Playwright's async API from this one process, each
person waits a think time drawn uniformly from ``--think`` seconds (5–20: reading the page) and
either opens another page from the sidebar (Overview, Claims, Trajectories, Outcomes, Safety,
Sites & clinicians, Patient, Downloads) or changes the Protocol or Site filter (adds a value it
has not chosen, or clears the box), half and half, until the time is up.

Page time is what the browser sees: from the click to the end of the script run it caused (the
app's ``data-test-script-state`` back to ``notRunning``, stamped in the page by a
MutationObserver so that a busy driver does not inflate it) with the page's main area drawn.
Errors: a Streamlit exception box, a run not ended within ``--timeout`` seconds, a lost
websocket. The server's own side comes from a ``sitecustomize`` hook put on the server's path
(product code unchanged): each script run's wall and CPU time, the app's own time
(``dashboard.state.RUN_MS_KEY``) and its page, so that the table says which pages take the
server's time. Once a second the resident memory and CPU time of the server and of the browsers
(with Playwright's driver) are read from ``/proc``.

On a 2-core machine the browsers are the heavier part of the load: rendering a page costs
Chromium more CPU than the server spends computing it. They run at ``--nice`` 10, so the server
is served first, as it would be with the browsers on people's own computers; the CPU seconds of
each side and the load average are printed beside the figures.

Run: ``.venv/bin/python -m benchmarks.load [--sessions 20] [--patients 10000] [--minutes 3]
[--think 5 20] [--browsers 1] [--nice 10]``. Not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import print_table
from benchmarks.load_probe import HOOK, RUN_LOG_ENV, Samples, sampler, server_pid
from dashboard.state import DEMO_PATIENTS_ENV
from tests.browser.conftest import CHROMIUM_ARGS, _free_port, chromium_path, serve_dashboard

#: url path -> page name; the pages a person browses ("" is the Overview).
PAGES = {
    "": "overview",
    "claims": "claims",
    "trajectories": "trajectories",
    "outcomes": "outcomes",
    "safety": "safety",
    "compare": "compare",
    "patient": "patient",
    "downloads": "downloads",
}
FILTERS = ("Protocol", "Site")
P95_TARGET_S = 1.0
RSS_TARGET_MB = 2048

#: Stamps each change of the script-run state with the page's clock (performance.now()).
OBSERVER = """
window.__rc = {starts: [], ends: [], last: null};
new MutationObserver(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const s = app && app.getAttribute('data-test-script-state');
  if (!s || s === window.__rc.last) return;
  window.__rc.last = s;
  if (s === 'running') window.__rc.starts.push(performance.now());
  if (s === 'notRunning') window.__rc.ends.push(performance.now());
}).observe(document, {subtree: true, childList: true, attributes: true,
                      attributeFilter: ['data-test-script-state']});
"""
#: Truthy once a run ended after the action (n: runs ended before it) and the main area is drawn.
RUN_ENDED = """([n, t0]) => {
  const r = window.__rc, app = document.querySelector('[data-testid="stApp"]');
  if (!r || !app || r.ends.length <= n) return false;
  if (app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const main = document.querySelector('[data-testid="stMainBlockContainer"]');
  if (!main || !main.innerText.trim()) return false;
  const start = r.starts.find(s => s >= t0);
  return {end: r.ends[r.ends.length - 1], start: start === undefined ? null : start,
          exceptions: document.querySelectorAll('[data-testid="stException"]').length,
          connection: app.getAttribute('data-test-connection-state')};
}"""
MARK = "() => [window.__rc ? window.__rc.ends.length : 0, performance.now()]"


@dataclass
class Action:
    """One timed action of one person."""

    session: int
    kind: str  # "first load", "open", "filter"
    page: str  # the page shown when the run ended
    seconds: float | None  # page time; None when the run did not end
    run_seconds: float | None = None  # from the run's start to its end, as the browser saw them
    error: str | None = None


async def timed(page, session: int, kind: str, name: str, act, timeout_s: float) -> Action:
    """Do ``act`` and wait for the run it causes to end; the page time in the page's clock."""
    if kind == "first load":
        n, t0 = 0, 0.0  # a new document: its clock starts with the navigation
    else:
        n, t0 = await page.evaluate(MARK)
    try:
        await act()
        handle = await page.wait_for_function(
            RUN_ENDED, arg=[n, t0], polling=100, timeout=timeout_s * 1000
        )
        done = await handle.json_value()
    except Exception as err:  # noqa: BLE001 - a timeout or a closed page is the measured error
        return Action(session, kind, name, None, error=f"{type(err).__name__}: {str(err)[:120]}")
    seconds = (done["end"] - t0) / 1000
    run = (done["end"] - done["start"]) / 1000 if done["start"] is not None else None
    error = None
    if done["exceptions"]:
        error = "exception box"
    elif done["connection"] != "CONNECTED":
        error = f"connection {done['connection']}"
    return Action(session, kind, name, seconds, run, error)


async def pick_filter(page, rng: random.Random, label: str) -> str | None:
    """Open the ``label`` multiselect and return an option not chosen yet (the list left open),
    or None when every option is chosen."""
    box = page.locator('[data-testid="stMultiSelect"]').filter(has_text=label)
    await box.locator("input").click()
    options = page.get_by_role("option")
    await options.first.wait_for(timeout=10_000)
    names = [t.strip() for t in await options.all_inner_texts()]
    names = [t for t in names if t and t != "Select all"]
    if not names:
        await page.keyboard.press("Escape")
        return None
    return rng.choice(names)


@dataclass
class Run:
    """What the people did and what was sampled meanwhile."""

    actions: list[Action] = field(default_factory=list)
    arrivals: list[Action] = field(default_factory=list)
    samples: Samples = field(default_factory=Samples)
    lost_sockets: int = 0
    skipped: int = 0  # filter lists that did not open (no action timed)
    info: dict = field(default_factory=dict)


class Person:
    """One person in their own browser context."""

    def __init__(self, index: int, url: str, timeout_s: float, out: Run) -> None:
        self.index, self.url, self.timeout_s, self.out = index, url, timeout_s, out
        self.rng = random.Random(index)
        self.here = "overview"
        self.closing = False

    async def arrive(self, browser) -> None:
        """Open a context and load the dashboard (its Overview)."""
        self.context = await browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.set_default_timeout(self.timeout_s * 1000)
        await self.context.add_init_script(OBSERVER)
        self.page = await self.context.new_page()
        self.page.on("websocket", self._watch)
        load = await timed(
            self.page,
            self.index,
            "first load",
            "overview",
            lambda: self.page.goto(self.url),
            self.timeout_s,
        )
        self.out.arrivals.append(load)

    def _watch(self, ws) -> None:
        def closed(_) -> None:
            if not self.closing:
                self.out.lost_sockets += 1

        ws.on("close", closed)

    async def browse(self, deadline: float, think: tuple[float, float]) -> None:
        """Open pages and change filters, a think time apart, until ``deadline``."""
        page, rng = self.page, self.rng
        last: Action | None = None
        while True:
            await asyncio.sleep(rng.uniform(*think))
            if time.monotonic() >= deadline:
                break
            if last is not None and last.seconds is None:  # stuck: load the dashboard again
                act, kind, self.here = (lambda: page.goto(self.url)), "first load", "overview"
            elif rng.random() < 0.5:
                path = rng.choice([p for p, name in PAGES.items() if name != self.here])
                link = page.locator(f'[data-testid="stSidebarNavLink"][href="{self.url}/{path}"]')
                act, kind, self.here = link.click, "open", PAGES[path]
            else:
                act = await self._filter_change()
                if act is None:
                    self.out.skipped += 1
                    continue
                kind = "filter"
            last = await timed(page, self.index, kind, self.here, act, self.timeout_s)
            self.out.actions.append(last)

    async def _filter_change(self):
        """The action that changes the Protocol or Site filter: clear the box, or add a value
        not chosen yet (the list is opened first, not timed). None if the list did not open."""
        page, rng = self.page, self.rng
        label = rng.choice(FILTERS)
        box = page.locator('[data-testid="stMultiSelect"]').filter(has_text=label)
        clear = box.get_by_role("button", name="Clear all")
        try:
            choice = None
            if not (await clear.count() and rng.random() < 0.5):
                choice = await pick_filter(page, rng, label)
        except Exception:  # noqa: BLE001 - the list did not open (the page is busy)
            await page.keyboard.press("Escape")
            return None
        if choice is None:
            return clear.click
        option = page.get_by_role("option", name=choice, exact=True)

        async def pick() -> None:
            await option.click()
            await page.keyboard.press("Escape")

        return pick

    async def leave(self) -> None:
        self.closing = True
        await self.context.close()


async def warm_up(browser, url: str, timeout_s: float) -> float:
    """Open every page once (caches filled, as on a server that has been up a while)."""
    started = time.perf_counter()
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(timeout_s * 1000)
    await context.add_init_script(OBSERVER)
    page = await context.new_page()
    for path, name in PAGES.items():
        done = await timed(
            page, -1, "first load", name, lambda p=path: page.goto(f"{url}/{p}"), timeout_s
        )
        if done.error:
            raise RuntimeError(f"warm-up: {name}: {done.error}")
    await context.close()
    return time.perf_counter() - started


async def run(args: argparse.Namespace, url: str, server: int) -> Run:
    """Warm the server, let the people arrive one after another, then time them browsing."""
    from playwright.async_api import async_playwright

    out, stop = Run(), asyncio.Event()
    if args.nice:  # the browsers (started below, they inherit it) yield the CPU to the server
        os.nice(args.nice)
    async with async_playwright() as p:
        browsers = [
            await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            for _ in range(args.browsers)
        ]
        out.info["warm_up_s"] = await warm_up(browsers[0], url, args.timeout)
        people = [Person(i, url, args.timeout, out) for i in range(args.sessions)]
        started = time.perf_counter()
        for i, person in enumerate(people):  # one after another: not timed with the load
            await person.arrive(browsers[i % len(browsers)])
        out.info["arrivals_s"] = time.perf_counter() - started
        watcher = asyncio.create_task(sampler(out.samples, server, stop))
        cpu0, begin, out.info["begin"] = time.process_time(), time.monotonic(), time.time()
        deadline = begin + 60 * args.minutes
        await asyncio.gather(*(person.browse(deadline, tuple(args.think)) for person in people))
        out.info["end"] = time.time()
        out.info["wall_s"] = time.monotonic() - begin
        out.info["driver_cpu_s"] = time.process_time() - cpu0
        stop.set()
        await watcher
        for person in people:
            await person.leave()
        for b in browsers:
            await b.close()
    return out


def _q(values: list[float], q: float) -> float:
    """The q-quantile (linear interpolation), 0 for no values."""
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def report(args: argparse.Namespace, out: Run, server_runs: list[dict]) -> None:
    """The summary table, then page by page: browser-side and server-side."""
    info, samples, cpu = out.info, out.samples, out.samples.cpu
    times = [a.seconds for a in out.actions if a.seconds is not None]
    firsts = [a.seconds for a in out.arrivals if a.seconds is not None]
    errors = [a.error for a in out.actions if a.error] + ["lost websocket"] * out.lost_sockets
    p95 = _q(times, 0.95)
    peak = max(samples.server_rss_mb, default=0.0)
    load = samples.load1 or [os.getloadavg()[0]]
    srv_wall = [r["wall_ms"] / 1000 for r in server_runs]
    app = [r["app_ms"] / 1000 for r in server_runs if r.get("app_ms") is not None]
    rows = [
        [
            "people (browser contexts)",
            f"{args.sessions} in {args.browsers} Chromium (niceness {args.nice})",
            "",
        ],
        ["cohort", f"{args.patients:,} patients (demo)", ""],
        [
            "before the clock",
            f"warm-up {info['warm_up_s']:.0f} s; {len(out.arrivals)} arrivals one after another {info['arrivals_s']:.0f} s",
            "",
        ],
        [
            "arrival (first load of the dashboard)",
            f"p50 {_q(firsts, 0.5):.2f} s, max {max(firsts, default=0):.2f} s",
            "",
        ],
        ["timed", f"{info['wall_s']:.0f} s, think time {args.think[0]:g}–{args.think[1]:g} s", ""],
        [
            "actions (pages opened, filters changed)",
            f"{len(out.actions)} ({len(out.actions) / info['wall_s']:.2f} per s; {out.skipped} skipped: filter list did not open)",
            "",
        ],
        ["page time p50 (browser)", f"{_q(times, 0.5):.2f} s", ""],
        [
            "page time p95 (browser)",
            f"{p95:.2f} s",
            f"≤ {P95_TARGET_S:g} s: {_met(p95 <= P95_TARGET_S)}",
        ],
        ["page time max (browser)", f"{max(times, default=0):.2f} s", ""],
        [
            "server run time p50 / p95 / max",
            f"{_q(srv_wall, 0.5):.2f} / {_q(srv_wall, 0.95):.2f} / {max(srv_wall, default=0):.2f} s ({len(srv_wall)} runs)",
            "",
        ],
        ["app's own run time p95 (RUN_MS_KEY)", f"{_q(app, 0.95):.2f} s", ""],
        [
            "errors",
            f"{len(errors)} (tracebacks in the server log: {info['log_tracebacks']})",
            f"0: {_met(not errors)}",
        ],
        [
            "server peak RSS",
            f"{peak:,.0f} MB",
            f"≤ {RSS_TARGET_MB:,} MB: {_met(peak <= RSS_TARGET_MB)}",
        ],
        ["browser peak RSS", f"{max(samples.browser_rss_mb, default=0):,.0f} MB", ""],
        [
            "CPU seconds while timed",
            ", ".join(f"{k} {v:.0f}" for k, v in cpu.items())
            + f" (of {2 * info['wall_s']:.0f} on 2 cores)",
            "",
        ],
        ["server CPU per action", f"{cpu['server'] / max(1, len(out.actions)):.2f} s", ""],
        [
            "load average (1 min) while timed",
            f"mean {statistics.mean(load):.1f}, max {max(load):.1f}",
            "",
        ],
    ]
    print()
    print_table(["measure", "figure", "goal"], rows)

    by: dict[tuple[str, str], list[Action]] = defaultdict(list)
    for a in out.actions:
        by[(a.kind, a.page)].append(a)
    rows = []
    for (kind, page), group in sorted(by.items()):
        t = [a.seconds for a in group if a.seconds is not None]
        rows.append(
            [
                kind,
                page,
                len(group),
                f"{_q(t, 0.5):.2f}",
                f"{_q(t, 0.95):.2f}",
                f"{max(t, default=0):.2f}",
                sum(1 for a in group if a.error),
            ]
        )
    print("\nPage time in the browser, by action and page:\n")
    print_table(["action", "page", "n", "p50 s", "p95 s", "max s", "errors"], rows)

    pages: dict[str, list[dict]] = defaultdict(list)
    for r in server_runs:
        pages[r.get("page") or "?"].append(r)
    total_cpu = sum(r["cpu_ms"] for r in server_runs) or 1.0
    rows = []
    for page, runs in sorted(pages.items(), key=lambda kv: -sum(r["cpu_ms"] for r in kv[1])):
        wall = [r["wall_ms"] / 1000 for r in runs]
        cpu_s = [r["cpu_ms"] / 1000 for r in runs]
        rows.append(
            [
                page or "overview",
                len(runs),
                f"{_q(wall, 0.5):.2f}",
                f"{_q(wall, 0.95):.2f}",
                f"{statistics.mean(cpu_s):.2f}",
                f"{100 * sum(r['cpu_ms'] for r in runs) / total_cpu:.0f}%",
            ]
        )
    print("\nServer runs while timed, by page (wall includes waiting for the other sessions):\n")
    print_table(["page", "runs", "wall p50 s", "wall p95 s", "CPU mean s", "share of CPU"], rows)
    if errors:
        print("\nerrors:", "; ".join(sorted(set(e.splitlines()[0] for e in errors))))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--think", type=float, nargs=2, default=(5.0, 20.0), metavar=("MIN", "MAX"))
    parser.add_argument("--browsers", type=int, default=1, help="Chromium processes to share")
    parser.add_argument("--nice", type=int, default=10, help="niceness of the browsers (0: none)")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds before a run is an error"
    )
    args = parser.parse_args(argv)

    load = os.getloadavg()
    print(f"load average before {load[0]:.1f} / {load[1]:.1f} on {os.cpu_count()} cores")
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "hook").mkdir()
        (folder / "hook" / "sitecustomize.py").write_text(HOOK)
        env = dict(os.environ)
        env[DEMO_PATIENTS_ENV] = str(args.patients)
        env["RELIEFCHECK_DB_URL"] = f"sqlite:///{folder / 'store.sqlite'}"
        env[RUN_LOG_ENV] = str(folder / "runs.jsonl")
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(folder / "hook"), env.get("PYTHONPATH")])
        )
        with serve_dashboard(folder, env, port=port) as url:
            out = asyncio.run(run(args, url, server_pid(port)))
        out.info["log_tracebacks"] = (folder / "streamlit.log").read_text().count("Traceback")
        runs_file = folder / "runs.jsonl"
        runs = (
            [json.loads(line) for line in runs_file.read_text().splitlines()]
            if runs_file.exists()
            else []
        )
    timed_runs = [r for r in runs if out.info["begin"] <= r["t"] <= out.info["end"]]
    report(args, out, timed_runs)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
