"""Overview (practice owners): per protocol, patients, paired-data rate and the outcome rates,
each with its n and 95% CI; the claims scorecard at a glance."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import access, compute, layout, results, state
from dashboard import components as ui
from dashboard.chart_style import protocol_order
from dashboard.charts import OUTCOME_LABELS
from dashboard.claims_view import for_instruments, scorecard_markdown, untestable_reasons
from dashboard.compute import CARD_FLAGS
from dashboard.references_view import references_chart, render_references

who = access.require_page("overview")  # before anything reads data
ctx = state.context()
st.header("Overview", anchor=False)

rates, paired = results.rates(ctx.ref, ctx.registry_text, ctx.filters)
if paired.empty:
    st.info("No patients match the current filters. Widen the filters in the sidebar.")
    st.stop()

instruments = compute.instrument_order(pd.unique(paired["instrument"].astype(str)), ctx.registry)
instrument = ui.instrument_picker(instruments, ctx.registry, key="overview_instrument")
ui.filters_caption(ctx.filters.describe())

ins_rates = rates.loc[(rates["instrument"] == instrument).to_numpy()]
ins_paired = paired.loc[(paired["instrument"] == instrument).to_numpy()]


def _row(frame: pd.DataFrame, **match: str) -> dict | None:
    mask = pd.Series(True, index=frame.index)
    for col, value in match.items():
        mask &= frame[col].astype(str) == value
    hit = frame.loc[mask.to_numpy()]
    return None if hit.empty else hit.iloc[0].to_dict()


for i, protocol in enumerate(protocol_order(ins_paired["protocol"].astype(str))):
    st.subheader(f"{ui.md_escape(protocol.capitalize())} protocol", anchor=False)
    p_row = _row(ins_paired, protocol=protocol)
    # keyed for the phone and tablet layout: two cards a row on a phone, three on a tablet
    cols = st.container(key=layout.cards_key(i)).columns(2 + len(CARD_FLAGS))
    with cols[0]:
        ui.metric_card(
            "Patients assessed",
            str(p_row["denominator"]) if p_row else "0",
            note=f"with any {ui.md_escape(instrument)} score",
        )
    with cols[1]:
        ui.rate_card(
            "Paired data",
            p_row,
            note="baseline and a later score (last observation)",
            help="Share of assessed patients with both a baseline and an end-of-treatment score.",
        )
    for col, flag in zip(cols[2:], CARD_FLAGS, strict=True):
        done = _row(ins_rates, protocol=protocol, outcome=flag, denominator_basis="completers")
        everyone = _row(
            ins_rates, protocol=protocol, outcome=flag, denominator_basis="all starters"
        )
        note = None
        if everyone and everyone.get("denominator"):
            note = (
                f"All who started: {ui.pct_text(everyone['pct'])} "
                f"({everyone['numerator']} of {everyone['denominator']})"
            )
        with col:
            ui.rate_card(OUTCOME_LABELS[flag], done, note=note)

ui.how_computed(
    """
- **Patients assessed**: patients with at least one accepted score on this instrument.
- **Paired data**: of those, patients with a baseline (session 0) and an end-of-treatment score
  (the last assessment after a dosing session).
- **Rates** (big figure) are among completers: patients with paired data. The line underneath
  gives the same rate among everyone who started (had a baseline), counting a patient without an
  end-of-treatment score as not improved (or not deteriorated).
- **Reliable improvement / deterioration**: change of at least the instrument's reliable-change
  threshold (e.g. 6 points on PHQ-9). **Response**: a drop of at least half the baseline score.
  **Remission**: end-of-treatment score below the instrument's remission cut-off.
- Every percentage has a Wilson 95% confidence interval (Wilson 1927).
- The figures describe change in treated patients; with no control group they do not show that
  treatment caused it.
""",
    help_anchor="paired-data",
)

st.subheader("Claims scorecard", anchor=False)
config = state.claims_config()
claims = results.claims(ctx.ref, ctx.registry_text, ctx.filters, config)
shown = for_instruments(claims, ctx.filters.instruments)  # no empty column of another instrument
st.caption(
    "Each claim clinics make for the treatment, tested on these patients: the verdict, then the "
    "share of patients (or, for intensive versus weekly, the difference in points) with its 95% "
    "confidence interval. The primary claim is tested on its own; the others are exploratory "
    "and must also pass Holm's adjustment for testing many claims at once."
)
ui.settings_stamp(state.settings_stamp(config))
# keyed for the layout: on a narrow screen the table scrolls sideways inside its own box
st.container(key=layout.SCORECARD).markdown(scorecard_markdown(shown, instruments))
st.markdown("**Beside published figures** (untreated people, routine care, other ketamine care)")
refs = results.references(ctx.ref, ctx.registry_text, ctx.filters, config)
ui.chart(references_chart(refs, instrument), key="overview_references_chart")
with st.expander("Every comparison with its difference and source", icon=":material/menu_book:"):
    render_references(claims, refs, instrument=instrument, key="overview_references")
why_not = untestable_reasons(shown)
if why_not:
    st.caption("Not testable: " + " · ".join(ui.md_escape(w) for w in why_not))
st.page_link(
    "app_pages/claims.py", label="Every claim with its test, n and caveats", icon=":material/gavel:"
)
