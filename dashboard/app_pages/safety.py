"""Safety: the PHQ-9 item 9 answers by session and protocol, the patients whose latest answer
is 1 or more, and reliable deterioration."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import access, charts, results, state
from dashboard import components as ui
from data.access import may

who = access.require_page("safety")  # before anything reads data
ctx = state.context()
ref, reg_text, filters = ctx.ref, ctx.registry_text, ctx.filters
ids = may(who.role, "patient_ids")  # researchers see counts, never a list of patients
st.header("Safety", anchor=False)
ui.filters_caption(filters.describe())
st.info(
    "**Item 9 is not a risk assessment.** It asks how often, over the last two weeks, the "
    "patient had thoughts that they would be better off dead or of hurting themselves. A "
    "positive answer calls for a clinician's own assessment; a zero does not rule risk out. "
    "Follow your practice's safety protocol.",
    icon=":material/info:",
)

report = results.safety(ref, reg_text, filters)
if not report.available:
    st.warning(f"Item-level answers are needed for this page. {ui.md_escape(report.reason)}")
else:
    ins = ctx.registry.get(report.instrument)
    plain = f"{ins.key} item {ins.safety_item}"
    ui.chart(charts.item9_chart(report.prevalence, item_label=plain), key="item9")
    label = ui.md_escape(plain)  # the instrument key comes from a file: Markdown below
    ui.how_computed(
        f"At each session, the share of patients who answered {label} with 1 or more (several "
        "days, more than half the days, nearly every day) among those who answered it, with a "
        "Wilson 95% confidence interval. Each patient counts once per session.",
        help_anchor="safety-item",
    )

    st.subheader(f"Patients whose latest {label} is 1 or more", anchor=False)
    flags = report.flags
    if flags.empty:
        st.caption("None under the current filters.")
    elif not ids:
        st.caption(f"{len(flags)} patients. Owners and clinicians see who they are.")
    else:
        st.caption(
            f"{len(flags)} patients (pseudonymous ids). Open one on the Patient page to see "
            "their answers over time."
        )
        st.dataframe(
            pd.DataFrame(
                {
                    "patient": flags["patient_id"],
                    "protocol": flags["protocol"],
                    "latest answer": flags["value"],
                    "when": flags["phase"].astype(str)
                    + pd.Series(
                        ["" if pd.isna(v) else f", session {int(v)}" for v in flags["session"]],
                        index=flags.index,
                    ),
                    "days since baseline": flags["day"],
                }
            ),
            hide_index=True,
        )

    c1, c2 = st.columns(2)
    with c1:
        st.markdown(f"**Baseline {label} ≥ 1, back to 0**")
        st.dataframe(
            report.resolution[["protocol", "timepoint", "n", "of", "pct"]].rename(
                columns={"pct": "%"}
            ),
            hide_index=True,
            column_config={"%": st.column_config.NumberColumn(format="%.0f")},
        )
    with c2:
        st.markdown("**New onset: baseline 0, later ≥ 1**")
        st.dataframe(
            report.new_onset[["protocol", "n", "of", "pct"]].rename(columns={"pct": "%"}),
            hide_index=True,
            column_config={"%": st.column_config.NumberColumn(format="%.0f")},
        )

st.subheader("Reliable deterioration", anchor=False)
o = results.outcomes(ref, reg_text, filters)
rates, _ = results.rates(ref, reg_text, filters)
det = rates.loc[
    (rates["outcome"] == "reliable_deterioration").to_numpy()
    & (rates["denominator_basis"] == "completers").to_numpy()
]
if det.empty:
    st.caption("No paired patients under the current filters.")
else:
    st.dataframe(
        pd.DataFrame(
            {
                "instrument": det["instrument"],
                "protocol": det["protocol"],
                "deteriorated": det["numerator"],
                "of paired": det["denominator"],
                "%": det["pct"],
                "95% CI (%)": [
                    ui.ci_range(lo, hi) for lo, hi in zip(det["ci_lo"], det["ci_hi"], strict=True)
                ],
            }
        ),
        hide_index=True,
        column_config={"%": st.column_config.NumberColumn(format="%.1f")},
    )
    worse = o.loc[o["reliable_deterioration"].fillna(False).to_numpy(dtype=bool)]
    if len(worse) and ids:
        with st.expander(
            f"The {len(worse)} patient × instrument pairs with reliable deterioration"
        ):
            st.dataframe(
                worse[
                    ["patient_id", "instrument", "protocol", "baseline", "eot", "change"]
                ].sort_values("change"),
                hide_index=True,
            )
ui.how_computed(
    "Reliable deterioration: among paired patients, the score worsened from baseline to the "
    "end of treatment by at least the instrument's reliable-change threshold (e.g. 6 points on "
    "PHQ-9). The percentage has a Wilson 95% confidence interval.",
    help_anchor="deterioration",
)
