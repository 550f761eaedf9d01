"""Patient: one pseudonymous patient's scores over time with severity bands and sessions
marked, their outcome summary and their item answers."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import access, charts, compute, results, state
from dashboard import components as ui
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

for key in compute.instrument_order(rows["instrument"].unique(), ctx.registry):
    ins = ctx.registry.get(key)
    part = rows.loc[(rows["instrument"] == key).to_numpy()].copy()
    items = [c for c in ins.item_columns() if c in part and part[c].notna().any()]
    if ins.safety_item and item_column(ins.safety_item) in items:
        part["flag"] = part[item_column(ins.safety_item)].fillna(0) >= 1
    st.subheader(ui.md_escape(ins.display), anchor=False)
    title = f"{plot_text(pid)}: {plot_text(key)} scores"
    ui.chart(charts.patient_chart(part, instrument=ins, x=x, title=title), key=f"patient_{key}")
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
    "dotted line), diamond = follow-up. Grey bands are the instrument's severity bands. A red "
    "ring marks an assessment where item 9 (thoughts of death or self-harm) was answered 1 or "
    "more; it is not a risk assessment."
)
