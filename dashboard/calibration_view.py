"""How much can your data say? The calibration panel for the Claims page (docs/calibration.md).

``calibration_panel(ctx, config)`` runs ``analysis.calibration.calibrate`` on the patients who
pass the filters when the user asks (it takes minutes), with a progress bar, and keeps the result
per (dataset version, instruments, filters, settings, number of simulated practices) for every
session of this server. The words (``calibration_table``, ``claim_sentences``) are pure
functions of the result.
"""

from __future__ import annotations

from collections import OrderedDict

import pandas as pd
import streamlit as st

from analysis.calibration import DEFAULT_SEED, CalibrationResult, calibrate
from analysis.claims.config import ClaimsConfig
from analysis.outcomes import planned_last_sessions
from dashboard import results
from dashboard.claims_view import SHORT_NAMES
from dashboard.compute import Filters
from dashboard.safe_text import md_escape
from dashboard.state import Context, registry_from_text
from data.errors import ReliefCheckError

#: Simulated practices per claim and scenario the user can pick; the first run uses the default.
N_SIM_CHOICES = (50, 100, 200, 400)
DEFAULT_DASHBOARD_N_SIM = 100
#: Results kept for all sessions (the oldest is dropped first).
MAX_KEPT = 8

INTRO = (
    "Each verdict is a test, and a test can be wrong. Here ReliefCheck simulates many practices "
    "with **your** patients, schedule, dropouts and baselines, once where a claim is false "
    "(exactly at its threshold) and once where it is true, and counts how often the verdict "
    "says **supported**. The first figure should stay small (by design at most 2.5% for a "
    "share, 5% for the intensive-versus-weekly comparison); the second is the chance your data "
    "would detect a true claim (power)."
)


@st.cache_resource(show_spinner=False)
def _kept() -> OrderedDict:
    """Calibration results of this server, by key (shared, small)."""
    return OrderedDict()


def _rate(rate: object, lo: object = None, hi: object = None) -> str:
    if rate is None or pd.isna(rate):
        return "–"
    text = f"{100 * float(rate):.1f}%"
    if lo is not None and not pd.isna(lo):
        text += f" (simulation CI {100 * float(lo):.1f}–{100 * float(hi):.1f}%)"
    return text


def _pairs(result: CalibrationResult):
    """(claim, instrument, false row, true row) in the result's order."""
    rows = result.rows
    for (claim, ins), grp in rows.groupby(["claim", "instrument"], sort=False, dropna=False):
        by = {r["scenario"]: r for _, r in grp.iterrows()}
        yield claim, ins, by.get("false"), by.get("true")


def calibration_table(result: CalibrationResult) -> pd.DataFrame:
    """One row per claim and instrument: patients tested, the false-"supported" rate with its
    simulation CI and the most allowed, the power and the truth it assumes (plain text cells)."""
    out = []
    for claim, ins, f, t in _pairs(result):
        testable = f is not None and f["n_sim"] > 0
        out.append(
            {
                "Claim": SHORT_NAMES.get(claim, claim),
                "Instrument": "" if pd.isna(ins) else str(ins),
                "Patients tested (mean)": (
                    f"{f['mean_n']:.0f}" if testable and not pd.isna(f["mean_n"]) else "–"
                ),
                "If false: says supported": (
                    _rate(f["supported_rate"], f["rate_ci_lo"], f["rate_ci_hi"])
                    if testable
                    else "–"
                ),
                "Most allowed": _rate(f["nominal_rate"]) if testable else "–",
                "If true: says supported (power)": (
                    _rate(t["supported_rate"], t["rate_ci_lo"], t["rate_ci_hi"])
                    if t is not None and t["n_sim"] > 0
                    else "–"
                ),
                "True claim simulated": "" if t is None else str(t["truth_text"]),
                "Note": " ".join(
                    dict.fromkeys(str(r["note"]) for r in (f, t) if r is not None and r["note"])
                ),
            }
        )
    return pd.DataFrame(out)


def claim_sentences(result: CalibrationResult) -> list[str]:
    """A sentence per claim and instrument, as Markdown (labels escaped)."""
    lines = []
    for claim, ins, f, t in _pairs(result):
        name = f"**{SHORT_NAMES.get(claim, claim)}, {md_escape('' if pd.isna(ins) else ins)}**"
        if f is None or f["n_sim"] == 0:
            lines.append(f"{name}: {md_escape(f['note'] if f is not None else '')}")
            continue
        text = (
            f"{name} (about {f['mean_n']:.0f} patients tested): if the claim were false, "
            f"with {md_escape(str(f['truth_text']))}, the verdict would wrongly say "
            f"“supported” in {_rate(f['supported_rate'])} of practices like yours (at most "
            f"{_rate(f['nominal_rate'])} by design)"
        )
        if t is not None and t["n_sim"] > 0:
            text += (
                f"; if it were true, with {md_escape(str(t['truth_text']))}, it would say "
                f"“supported” in {_rate(t['supported_rate'])}."
            )
        else:
            text += "."
        notes = " ".join(
            dict.fromkeys(str(r["note"]) for r in (f, t) if r is not None and r["note"])
        )
        lines.append(text + (f" {md_escape(notes)}" if notes else ""))
    return lines


def calibration_panel(ctx: Context, config: ClaimsConfig, *, n_sim: int | None = None) -> None:
    """The panel: what calibration does, a choice of how many practices to simulate (unless
    ``n_sim`` is given), a button to run it with a progress bar, then the table and the
    sentences. A result already computed for the same data, filters and settings shows at once."""
    st.markdown(INTRO)
    if n_sim is None:
        n_sim = st.select_slider(
            "Simulated practices per claim and scenario",
            options=list(N_SIM_CHOICES),
            value=DEFAULT_DASHBOARD_N_SIM,
            key="calibration_n_sim",
            help="More practices give tighter figures and take longer.",
        )
    key = (ctx.ref, ctx.registry_text, ctx.filters, config, int(n_sim))
    kept = _kept()
    result = kept.get(key)
    if result is None:
        st.caption(
            "This takes a few minutes for a practice of a few hundred patients; the "
            "intensive-versus-weekly comparison fits a model per simulated practice."
        )
        if not st.button("Run the calibration", key="calibration_run", icon=":material/science:"):
            return
        bar = st.progress(0.0, text="Starting")
        planned = None
        if ctx.filters.active:  # completers judged on the whole practice's schedule, as the claims
            whole = results.outcomes(ctx.ref, ctx.registry_text, Filters())
            planned = planned_last_sessions(whole)
        try:
            result = calibrate(
                results.tidy(ctx.ref, ctx.filters),
                registry_from_text(ctx.registry_text),
                config,
                n_sim=int(n_sim),
                seed=DEFAULT_SEED,
                planned_sessions=planned,
                progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=md_escape(m)),
            )
        except ReliefCheckError as err:
            bar.empty()
            st.error(md_escape(str(err)))
            return
        bar.empty()
        kept[key] = result
        while len(kept) > MAX_KEPT:
            kept.popitem(last=False)
    st.dataframe(calibration_table(result), hide_index=True)
    for line in claim_sentences(result):
        st.markdown(line)
    st.caption(
        f"{result.n_sim} simulated practices per row (seed {result.seed}). Rates use each "
        "claim's own verdict; the scorecard's control for testing many claims can only lower "
        "them. How this works: docs/calibration.md."
    )
