"""Sites & clinicians: a funnel plot of each site's or clinician's case-mix-adjusted outcome with
control limits, and a table with the raw, adjusted and shrunken figures
(``analysis.provider_compare``; docs/compare.md)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.provider_compare import INSIDE, MEAN_CHANGE, UNIT_COLUMNS
from dashboard import access, charts_compare, results, state
from dashboard import components as ui

access.require_page("compare")  # before anything reads data
ctx = state.context()
ref, reg_text, filters = ctx.ref, ctx.registry_text, ctx.filters
st.header("Sites & clinicians", anchor=False)
ui.filters_caption(filters.describe())
st.markdown(
    "Case-mix-adjusted outcome of each site or clinician, against its number of patients: a "
    "dot outside the funnel's limits did better or worse than its patients' baseline severity, "
    "protocol and treatment resistance lead one to expect, by more than chance explains."
)

t = results.tidy(ref, filters)
o = results.outcomes(ref, reg_text, filters)
if o.empty:
    st.info("No patients match the current filters. Widen the filters in the sidebar.")
    st.stop()
present = [c for c in UNIT_COLUMNS if c in t.columns and t[c].notna().any()]
if not present:
    st.info(
        "**This data names no site or clinician**, so there is nothing to compare. Add a "
        "`site` or `clinician` column (pseudonymous labels such as Site A or T01) to the "
        "export and upload it again.",
        icon=":material/info:",
    )
    st.stop()

UNIT_WORDS = {"site": "Sites", "clinician": "Clinicians"}
OUTCOMES = {
    "reliable_improvement": "Reliable improvement",
    "response": "Response (50% less)",
    "remission": "Remission",
    MEAN_CHANGE: "Mean change (points)",
}
c1, c2 = st.columns([1, 2])
column = (
    c1.segmented_control(
        "Compare",
        present,
        default=present[0],
        format_func=UNIT_WORDS.get,
        key="compare_unit",
        required=True,
    )
    or present[0]
)
missing = [UNIT_WORDS[c].lower() for c in UNIT_COLUMNS if c not in present]
if missing:
    c1.caption(f"The data names no {' or '.join(missing)}.")
key = ui.instrument_picker(
    o["instrument"].astype(str).unique(), ctx.registry, key="compare_instrument", container=c2
)
outcome = st.selectbox(
    "Outcome",
    list(OUTCOMES),
    format_func=OUTCOMES.get,
    key="compare_outcome",
    help="Among paired patients (a baseline and a later score). Mean change is baseline minus "
    "the last score, positive = better.",
)

res = results.unit_comparison(ref, reg_text, filters, column, key, outcome)
if isinstance(res, str):
    st.warning(ui.md_escape(res), icon=":material/info:")
    st.stop()

word = column  # "site" / "clinician": fixed words, not from a file
plural = UNIT_WORDS[column].lower()
shown = len(res.units)
ui.chart(charts_compare.funnel_plot(res), key="compare_funnel")
parts = [f"{shown} {plural if shown != 1 else word} shown"]
if res.n_suppressed_units:
    parts.append(
        f"**{res.n_suppressed_units} {plural if res.n_suppressed_units != 1 else word} "
        f"suppressed** (fewer than {res.min_n} paired patients each; their patients still "
        "count in the overall figure)"
    )
if res.n_unlabelled:
    n_un = res.n_unlabelled
    parts.append(f"{n_un} paired patient{'' if n_un == 1 else 's'} without a {word} left out")
outside = res.units.loc[res.units["flag"] != INSIDE]
parts.append(
    f"{len(outside)} outside the 95% limits" if len(outside) else "every one within the 95% limits"
)
st.markdown(" · ".join(parts))
for note in res.notes:
    st.caption(ui.md_escape(note))
if shown > 1 and res.tau2 == 0:
    st.caption(
        f"The {plural} differ no more than chance explains (between-unit variance 0), so "
        "every shrunken figure is the same: the best estimate for each is the overall one."
    )

u = res.units
pct = res.binary
unit_sign = "%" if pct else " pts"
table = pd.DataFrame(
    {
        word: u["unit"].astype(str),  # st.dataframe cells are plain text
        "patients": u["n_patients"],
        "observed": u["observed"],
        "expected": u["expected"],
        "O/E": u["oe_ratio"],
        f"raw{unit_sign}": u["raw"],
        f"adjusted{unit_sign}": u["adjusted"],
        "95% CI": [
            ui.ci_range(lo, hi, decimals=1)
            for lo, hi in zip(u["adjusted_ci_lo"], u["adjusted_ci_hi"], strict=True)
        ],
        f"shrunken{unit_sign}": u["shrunken"],
        "flag": u["flag"],
    }
)
if not pct:
    table = table.drop(columns=["O/E"]).rename(
        columns={"observed": "observed mean", "expected": "expected mean"}
    )
number = st.column_config.NumberColumn(format="%.1f")
st.dataframe(
    table,
    hide_index=True,
    column_config={
        "expected": number,
        "observed mean": number,
        "expected mean": number,
        "O/E": st.column_config.NumberColumn(format="%.2f"),
        f"raw{unit_sign}": number,
        f"adjusted{unit_sign}": number,
        f"shrunken{unit_sign}": number,
    },
    key="compare_table",
)
adjusted_for = ", ".join(res.covariates) or "nothing (the model could not be fitted)"
if pct:
    how = (
        f"Paired {ui.md_escape(key)} patients ({res.n_patients}); each patient counts under the "
        f"{word} on most of their assessments. **Expected** is the number of patients a "
        f"{word} would have with the outcome if its patients did as well as similar patients "
        "across the practice: the sum of each patient's probability from a logistic "
        f"regression on {ui.md_escape(adjusted_for)}. **O/E** is observed over expected; the "
        "**adjusted rate** is O/E × the overall rate, with a Wilson 95% interval. The funnel's "
        "limits are exact binomial limits around the overall rate for each number of "
        "patients (Spiegelhalter 2005): about 1 in 20 units falls outside the 95% limits and "
        "1 in 500 outside the 99.8% limits by chance alone. **Shrunken** pulls each unit's "
        "log O/E toward the mean by how little its own data say (empirical Bayes; "
        "between-unit variance by DerSimonian & Laird 1986): the fairer figure to rank small "
        f"units by. {plural.capitalize()} with fewer than {res.min_n} paired patients are not "
        "shown. A unit outside the limits calls for a look at its patients and records, not "
        "for a verdict: case mix not recorded here (diagnoses, life events) is not adjusted for."
    )
else:
    how = (
        f"Paired {ui.md_escape(key)} patients ({res.n_patients}). Change = baseline − last "
        f"score (positive = better). **Expected** mean change: from a linear regression on "
        f"{ui.md_escape(adjusted_for)} fitted on every patient; **adjusted** = overall mean + "
        "(observed − expected), with a 95% interval of ± 1.96 σ/√n (σ the residual SD). "
        "Limits: overall mean ± 1.96 and ± 3.09 σ/√n (Spiegelhalter 2005). **Shrunken**: the "
        "adjusted difference pulled toward the mean (empirical Bayes, DerSimonian & Laird "
        f"1986). {plural.capitalize()} with fewer than {res.min_n} paired patients are not shown."
    )
ui.how_computed(how, help_anchor="funnel-plot")
st.caption(
    "The same comparison (reliable improvement, every instrument) is in the Downloads as the "
    f"{word}_comparison table."
)
