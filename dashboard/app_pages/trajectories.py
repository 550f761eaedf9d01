"""Trajectories: mean scores with 95% CI bands by session and by days since baseline, per
protocol, with n at every point and severity bands behind; individual patients on demand; the
matched-day comparison and the growth model."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.day_model import day_model_table
from analysis.figures import MATCHED_DAYS, MATCHED_TOL
from dashboard import access, charts, compute, results, state
from dashboard import components as ui
from data.access import may

who = access.require_page("trajectories")  # before anything reads data
ctx = state.context()
ref, reg_text, filters = ctx.ref, ctx.registry_text, ctx.filters
st.header("Trajectories", anchor=False)

left, right = st.columns([3, 2])
x_label = right.segmented_control(
    "Time axis",
    ["By session", "By days since baseline"],
    default="By session",
    key="traj_axis",
    required=True,
)
x = "day" if x_label == "By days since baseline" else "session"
points = results.trajectory(ref, filters, x)
if points.empty:
    st.info("No assessments match the current filters. Widen the filters in the sidebar.")
    st.stop()
key = ui.instrument_picker(
    points["instrument"].astype(str).unique(), ctx.registry, key="traj_instrument", container=left
)
ui.filters_caption(filters.describe())

people = None
if may(who.role, "patient_ids"):  # individual patients' lines: owners and clinicians
    c1, c2 = st.columns([1, 3])
    show_people = c1.toggle("Show individual patients", key="traj_people")
    n_people = c2.slider(
        "How many (chosen at random)",
        5,
        200,
        30,
        step=5,
        key="traj_n_people",
        disabled=not show_people,
    )
    if show_people:
        people = results.individuals(ref, filters, key, n_people)
mine = points.loc[(points["instrument"] == key).to_numpy()]
ui.chart(
    charts.trajectory_chart(mine, instrument=ctx.registry.get(key), x=x, individual=people),
    key="trajectory",
)
ui.how_computed(
    "Each point is the mean score of the patients assessed at that session (or in that range of "
    "days), with its 95% confidence interval (t distribution) as the shaded band; n above each "
    "point is the number of patients. Patients drop out over time, so later points rest on "
    "fewer patients and may be the ones doing better. Session k is the assessment after dosing "
    "session k; days are counted from each patient's baseline and grouped (day 0, 1–3, 4–7, "
    "8–14, 15–21, 22–28, then monthly); follow-up assessments appear on the days view only. "
    "Grey bands behind are the instrument's severity bands.",
    help_anchor="trajectory-means",
)

st.subheader("Matched-day comparison", anchor=False)
matched = results.matched(ref, reg_text, filters)
part = matched.loc[(matched["instrument"] == key).to_numpy()] if len(matched) else matched
if part.empty:
    why_not = compute.no_comparison_reason(points["protocol"].dropna().unique())
    days = " or ".join(f"{d:g}" for d in MATCHED_DAYS)
    st.caption(
        ui.md_escape(why_not)  # names the protocols in the data
        if why_not
        else f"Needs patients of both protocols assessed near day {days} (± {MATCHED_TOL:g} days)."
    )
else:
    table = pd.DataFrame(
        {
            "day": part["target_day"].map("{:g}".format),
            "comparison": part["a"] + " − " + part["b"],
            "n": part["n_a"].astype(int).astype(str) + " / " + part["n_b"].astype(int).astype(str),
            "mean change a (points)": part["mean_a"],
            "mean change b (points)": part["mean_b"],
            "difference": part["mean_diff"],
            "95% CI": [
                ui.ci_range(lo, hi, decimals=1)
                for lo, hi in zip(part["mean_diff_ci_lo"], part["mean_diff_ci_hi"], strict=True)
            ],
            "Welch p": part["welch_p"].map(ui.p_text),
        }
    )
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            c: st.column_config.NumberColumn(format="%.2f")
            for c in ("mean change a (points)", "mean change b (points)", "difference")
        },
    )
ui.how_computed(
    "For each patient, the change from baseline at the assessment nearest day 14 (and day 28), "
    "within ± 3 days; positive = better. The difference between protocols is a − b with a "
    "Welch 95% confidence interval and Welch's t-test.",
    help_anchor="matched-days",
)

with st.expander("Growth models (mixed-effects, over days and by session)"):
    st.caption(
        "Over days: score ~ shape(day) × protocol + (shape | patient), REML, the shape (a "
        "straight line, log(1 + day) or a spline) chosen by AIC; the protocols are compared by "
        "their fitted improvement at days 14 and 28 and at each one's typical end of treatment. "
        "By session: score ~ session × protocol + (session | patient), the straight line the "
        "summary's models keep; its protocol term mixes schedules with speed, so read the "
        "comparison from the model over days. Both as R's lme4::lmer."
    )
    asked = st.session_state.setdefault("growth_asked", set())
    token = (ref, filters)
    if token not in asked and st.button("Fit the growth model"):
        asked.add(token)
    if token in asked:
        with st.spinner("Fitting the growth models…"):
            models = results.growth_models(ref, filters)
            over_days = results.day_models(ref, reg_text, filters)
        for d in over_days:
            if d.instrument != key:
                continue
            if not d.fitted:
                st.warning(ui.md_escape(d.message))
                continue
            st.markdown(
                f"**Over days** ({d.shape.name if d.shape else '?'} shape; {d.n_patients} "
                f"patients, {d.n_obs} assessments)"
            )
            st.dataframe(
                day_model_table([d]).drop(
                    columns=["instrument", "shape", "n_patients", "n_obs", "converged", "singular"]
                ),
                hide_index=True,
                column_config={
                    c: st.column_config.NumberColumn(format="%.2f")
                    for c in ("estimate", "se", "ci_low", "ci_high")
                },
            )
        st.markdown("**By session**")
        for m in models:
            if m.instrument != key:
                continue
            if not m.fitted:
                st.warning(ui.md_escape(m.message))
                continue
            reference = ui.md_escape(m.reference_protocol)
            facts = f"{m.n_patients} patients, {m.n_obs} assessments; reference: {reference}"
            flags = [
                s
                for s, on in (("did not converge", not m.converged), ("singular fit", m.singular))
                if on
            ]
            st.caption(facts + ("; " + ", ".join(flags) if flags else ""))
            st.dataframe(
                m.coefficients().drop(columns="instrument"),
                hide_index=True,
                column_config={
                    c: st.column_config.NumberColumn(format="%.3f")
                    for c in ("estimate", "se", "ci_low", "ci_high")
                },
            )
