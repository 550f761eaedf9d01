"""Patient: one pseudonymous patient's scores over time with severity bands and sessions
marked, the expected-recovery band behind them with a "not on track" flag
(``analysis.expected_recovery``) and how often such flags came true, their outcome summary and
their item answers."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.expected_recovery import HISTORY, LEVEL, MIN_HISTORY, ExpectedModel, on_track
from dashboard import access, charts, compute, results, state
from dashboard import components as ui
from dashboard.chart_style import FLAG_NAME
from dashboard.safe_text import plot_text
from data.schema import item_column

who = access.require_page("patient")  # before anything reads data
ctx = state.context()
ref, reg_text, filters = ctx.ref, ctx.registry_text, ctx.filters
st.header("Patient", anchor=False)

t = results.tidy(ref, filters)
if t.empty:
    st.info("No patients match the current filters. Widen the filters in the sidebar.")
    st.stop()
ids = sorted(pd.unique(t["patient_id"].astype(str)))
if st.session_state.get("patient_id") not in ids:
    st.session_state.pop("patient_id", None)
left, right = st.columns([2, 3])


def _find_own_id() -> None:
    """Select the patient whose clinic id was typed: the store files them under its keyed
    pseudonym, so the same hash finds them (nothing typed here is stored)."""
    typed = str(st.session_state.get("patient_lookup", "")).strip()
    if not typed:
        return
    found = typed if ref.is_demo else state.store().pseudonym_of(typed)
    if found in ids:
        st.session_state["patient_id"] = found
        st.session_state["patient_lookup_miss"] = False
    else:
        st.session_state["patient_lookup_miss"] = True
    st.session_state["patient_lookup"] = ""


left.text_input(
    "Find by the clinic's own id",
    key="patient_lookup",
    on_change=_find_own_id,
    help="Type the id your clinic uses; ReliefCheck turns it into the same pseudonym the store "
    "uses and selects that patient. The id you type is not stored.",
)
if st.session_state.pop("patient_lookup_miss", False):
    left.warning("No patient with that id passes the current filters.")
pid = left.selectbox(
    "Pseudonymous patient id",
    ids,
    key="patient_id",
    help="Type to search. Only patients who pass the sidebar filters are listed.",
)
x_label = right.segmented_control(
    "Time axis",
    ["Days since baseline", "Session"],
    default="Days since baseline",
    key="patient_axis",
    required=True,
)
x = "session" if x_label == "Session" else "day"
ui.filters_caption(filters.describe(), len(ids))

rows = t.loc[(t["patient_id"] == pid).to_numpy(dtype=bool)]
o = results.outcomes(ref, reg_text, filters)
mine = o.loc[(o["patient_id"] == pid).to_numpy(dtype=bool)]
facts = [f"protocol **{ui.md_escape(mine['protocol'].iloc[0])}**" if len(mine) else ""]
for col in ("site", "route"):  # labels as the files spell them: shown as text
    if col in mine and len(mine) and pd.notna(mine[col].iloc[0]):
        facts.append(f"{col} **{ui.md_escape(mine[col].iloc[0])}**")
if "treatment_resistant" in mine and len(mine) and pd.notna(mine["treatment_resistant"].iloc[0]):
    facts.append(
        "treatment-resistant" if mine["treatment_resistant"].iloc[0] else "not treatment-resistant"
    )
st.markdown(" · ".join(f for f in facts if f))
model = results.expected_model(ref, reg_text)
track = on_track(rows, model) if isinstance(model, ExpectedModel) else None
if isinstance(model, str):
    st.warning(f"No expected-recovery band: {ui.md_escape(model)}")


def _band_name(key: str) -> str:
    """The band's legend entry: its coverage or width, and its source."""
    row = model.sources.loc[model.sources["instrument"] == key].iloc[0]
    if row["source"] == HISTORY:
        return f"expected band ({model.level:.0%} of similar patients; practice history)"
    return f"expected band (± {row['rc']:g} points; published reference)"


def _track_text(key: str, mine_track: pd.DataFrame) -> None:
    """The band's source, then "not on track" in plain words, or that the scores are on track."""
    st.caption(ui.md_escape(model.describe(key)))
    scored = mine_track.loc[mine_track["not_on_track"].notna().to_numpy()]
    first = mine_track.loc[mine_track["first_flag"].to_numpy(dtype=bool)]
    if len(first):
        r = first.iloc[0]
        worse = "above" if ctx.registry.get(key).higher_is_worse else "below"
        when = f" (day {r['day']:g})" if pd.notna(r["day"]) else ""
        st.warning(
            f"**Not on track from session {int(r['session'])}**{when}: the "
            f"{ui.md_escape(key)} score of {r['score']:g} was {worse} the expected band "
            f"({r['lower']:.1f}–{r['upper']:.1f}) for a patient who started at "
            f"{r['baseline']:g}. This is a prompt to review the course with the patient "
            "(what has changed, the plan, the dose, the therapy), not a judgement on the patient "
            "or the clinician, and not a certainty: some patients flagged like this still end "
            "with a reliable improvement (how often is said below).",
            icon=":material/flag:",
        )
    elif len(scored):
        st.caption(
            f"**On track**: each of the {len(scored)} treatment scores so far lies inside the "
            "expected band or better."
        )


def _hit_line(key: str) -> None:
    """How often the flag came true on this instrument (any session before the last)."""
    hits = results.flag_hits(ref, reg_text)
    if isinstance(hits, str):
        st.caption(f"The flag's hit rate could not be computed: {ui.md_escape(hits)}")
        return
    row = hits.loc[(hits["instrument"] == key).to_numpy() & hits["by_session"].isna().to_numpy()]
    if row.empty:
        st.caption("No hit rate for this instrument: no history or simulation covers it.")
        return
    r = row.iloc[0]
    where = (
        "in this practice's history (cross-fitted: each patient judged on bands fitted "
        "without them)"
        if r["source"] != "simulation"
        else "on a simulated cohort, as this practice's history is still too short"
    )
    if int(r["ppv_of"]) == 0:
        st.caption(
            f"How often the flag comes true {where}: no completed course was flagged before "
            "its last session yet."
        )
        return
    st.caption(
        f"How often the flag comes true {where}: of {r['ppv_of']} completed courses flagged "
        f"before their last session, {r['ppv_n']} ({ui.pct_text(r['ppv_pct'])}, "
        f"{ui.ci_text(r['ppv_ci_lo'], r['ppv_ci_hi'])}) ended without reliable improvement, "
        f"against {ui.pct_text(r['base_rate_pct'])} of all {r['n_courses']} completed courses. "
        f"Of the {r['sensitivity_of']} courses that ended without reliable improvement, "
        f"{r['sensitivity_n']} ({ui.pct_text(r['sensitivity_pct'])}) had been flagged; "
        f"{ui.pct_text(r['false_alarm_pct'])} of the courses that did improve reliably had been "
        "flagged too."
    )


for key in compute.instrument_order(rows["instrument"].unique(), ctx.registry):
    ins = ctx.registry.get(key)
    part = rows.loc[(rows["instrument"] == key).to_numpy()].copy()
    items = [c for c in ins.item_columns() if c in part and part[c].notna().any()]
    if ins.safety_item and item_column(ins.safety_item) in items:
        part["flag"] = part[item_column(ins.safety_item)].fillna(0) >= 1
    st.subheader(ui.md_escape(ins.display), anchor=False)
    title = f"{plot_text(pid)}: {plot_text(key)} scores"
    mine_track = None
    if track is not None and model.source(key) != "none":
        mine_track = track.loc[(track["instrument"] == key).to_numpy()]
    fig = charts.patient_chart(
        part,
        instrument=ins,
        x=x,
        title=title,
        expected=mine_track,
        expected_name=_band_name(key) if mine_track is not None else "",
    )
    ui.chart(fig, key=f"patient_{key}")
    if mine_track is not None:
        _track_text(key, mine_track)
        _hit_line(key)
    elif isinstance(model, ExpectedModel):
        st.caption(ui.md_escape(model.describe(key)))
    out = mine.loc[(mine["instrument"] == key).to_numpy()]
    if len(out) and bool(out["paired"].iloc[0]):
        r = out.iloc[0]
        verdicts = [
            name
            for name, col in (
                ("reliable improvement", "reliable_improvement"),
                ("response", "response"),
                ("remission", "remission"),
                ("reliable deterioration", "reliable_deterioration"),
            )
            if pd.notna(r[col]) and bool(r[col])
        ]
        st.caption(
            f"Baseline {r['baseline']:g} ({ui.md_escape(r['baseline_band'])}) → end of "
            f"treatment {r['eot']:g} ({ui.md_escape(r['eot_band'])}) after session "
            f"{r['eot_session']}: change "
            f"{r['change']:+g} points (+ = better). "
            + (", ".join(verdicts) or "no reliable change").capitalize()
            + "."
        )
    elif len(out):
        st.caption("No baseline and end-of-treatment pair yet, so no outcome is computed.")
    table = part[["session", "day", "phase", "score", *items]].sort_values(
        ["day", "session"], na_position="last"
    )
    with st.expander(f"{ui.md_escape(key)} answers ({len(table)} assessments)"):
        st.dataframe(table, hide_index=True)
ui.how_computed(
    "Markers: square = baseline, circle = after a dosing session (S1, S2 …, also marked by a "
    "dotted line), diamond = follow-up. Grey bands are the instrument's severity bands. An "
    f"{FLAG_NAME} ring marks an assessment where item 9 (thoughts of death or self-harm) was "
    "answered 1 or more; it is not a risk assessment.\n\n"
    "The green band is where this patient's score is expected to be at each session, given "
    f"their baseline score. Once the practice has {MIN_HISTORY} patients with a baseline and "
    "treatment scores on an instrument, it comes from the practice's own history (at each "
    "session, the score regressed on the baseline, per protocol where there are enough "
    f"patients; the band holds {LEVEL:.0%} of similar patients). Until then it comes from a "
    "published routine-care reference (named under each chart), spread over the course with "
    "most change early, ± the reliable-change threshold: a rough prior. A score worse than the "
    "band's worse edge is marked with a purple square, and the first one is labelled \"not on "
    f'track". By chance alone about {(1 - LEVEL) / 2:.0%} of patients on the expected path land '
    "beyond the worse edge at any one session. "
    "docs/expected_recovery.md explains the model and how to read the hit rate.",
    help_anchor="expected-recovery",
)
