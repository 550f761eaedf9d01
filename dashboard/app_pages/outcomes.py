"""Outcomes: the inclusion funnel, rates under both denominators, the Jacobson plot, the
waterfall of change, time to reliable improvement, the effect sizes and who got which protocol
(balance before and after overlap weighting, the raw and the adjusted difference)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.bootstrap import DEFAULT_N_BOOT
from dashboard import access, charts, charts_balance, compute, results, state
from dashboard import components as ui
from dashboard.safe_text import plot_text
from data.access import may

who = access.require_page("outcomes")  # before anything reads data
ctx = state.context()
ref, reg_text, filters = ctx.ref, ctx.registry_text, ctx.filters
st.header("Outcomes", anchor=False)

o = results.outcomes(ref, reg_text, filters)
if o.empty:
    st.info("No patients match the current filters. Widen the filters in the sidebar.")
    st.stop()
key = ui.instrument_picker(
    o["instrument"].astype(str).unique(), ctx.registry, key="outcomes_instrument"
)
ins = ctx.registry.get(key)
key_plot = plot_text(key)  # the instrument key inside a chart title
ui.filters_caption(filters.describe())
mine = o.loc[(o["instrument"] == key).to_numpy()]
paired = mine.loc[mine["paired"].to_numpy(dtype=bool)]
if not may(who.role, "patient_ids"):  # researchers: no pseudonymous ids in the hover labels
    paired = paired.assign(patient_id="a patient")


def on_instrument(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """The rows of ``frame`` on the instrument picked above (every tab follows the picker)."""
    if frame is None or not len(frame):
        return frame
    return frame.loc[(frame["instrument"].astype(str) == key).to_numpy()]


tabs = st.tabs(
    [
        "Rates",
        "Inclusion funnel",
        "Jacobson plot",
        "Waterfall",
        "Time to improvement",
        "Effect sizes",
        "Who got which protocol",
    ],
    key="outcomes_tab",
    on_change="rerun",
)

with tabs[0]:
    if tabs[0].open:
        rates, _ = results.rates(ref, reg_text, filters)
        ins_rates = rates.loc[(rates["instrument"] == key).to_numpy()]
        ui.chart(charts.rates_chart(ins_rates, instrument_label=key), key="rates")
        ui.how_computed(
            "Last observation: patients with a baseline and a later score, the last score counting "
            "as the end of treatment (LOCF; completers of the planned course are in the "
            "downloads and the summary). Everyone who "
            "started: every patient with a baseline; without an end-of-treatment score a "
            "patient counts as not improved. Bars show the percentage, whiskers the Wilson 95% "
            "confidence interval, the label inside the bar n of N.",
            help_anchor="denominators",
        )

with tabs[1]:
    if tabs[1].open:
        funnel = results.funnel(ref, reg_text, filters)
        part = funnel.loc[(funnel["instrument"] == key).to_numpy()] if len(funnel) else funnel
        title = f"{key_plot}: which patients each figure counts"
        ui.chart(charts.funnel_chart(part, title=title))
        ui.how_computed(
            "Each step counts the patients who also passed every step above it: assessed at "
            "least once; with a baseline (session 0) score; in the clinical range at baseline; "
            "with an end-of-treatment score; with an assessment in a follow-up window (30, 90 "
            "or 180 days after the end of treatment). Percentages are of those assessed.",
            help_anchor="inclusion-funnel",
        )

with tabs[2]:
    if tabs[2].open:
        thr = compute.thresholds(mine)
        data = paired[["patient_id", "protocol", "baseline", "eot"]]
        ui.chart(charts.jacobson_chart(data, instrument=ins, threshold=thr), key="jacobson")
        per_protocol = ", ".join(f"{ui.md_escape(p)}: {t:g}" for p, t in thr.items())
        ui.how_computed(
            f"One dot per paired patient: baseline score across, end-of-treatment score up. "
            f"Dots on the diagonal did not change. The grey band is the reliable-change "
            f"threshold ({per_protocol or 'none'} points): "
            "inside it, the change is within measurement error. The dashed lines are the "
            "caseness cut-off (Jacobson & Truax 1991).",
            help_anchor="reliable-change",
        )

with tabs[3]:
    if tabs[3].open:
        thr = compute.thresholds(mine)
        ui.chart(
            charts.waterfall_chart(
                paired[["patient_id", "protocol", "change"]], instrument=ins, threshold=thr
            ),
            key="waterfall",
        )
        ui.how_computed(
            "One bar per paired patient: change = baseline − end of treatment, so a bar above "
            "zero is an improvement. Dashed lines mark reliable improvement and reliable "
            "deterioration.",
            help_anchor="reliable-change",
        )

with tabs[4]:
    if tabs[4].open:
        unit = st.radio("Time in", ["days", "sessions"], horizontal=True, key="km_unit")
        confirmed = st.toggle(
            "Count an improvement only when the next assessment confirms it, within the "
            "protocols' common follow-up",
            value=True,
            key="km_confirmed",
        )
        km = results.survival(ref, reg_text, filters, key, unit, confirmed)
        lr = km.get("logrank")
        note = None
        if lr:
            p = "p < 0.001" if lr["p"] < 0.001 else f"p = {lr['p']:.3f}"
            note = f"Log-rank test between protocols: χ² = {lr['chi2']:.2f}, df = {lr['df']}, {p}"
        title = (
            f"{key_plot}: time to {'confirmed ' if confirmed else ''}reliable improvement ({unit})"
        )
        ui.chart(charts.km_chart(km.get("curves"), time_unit=unit, note=note, title=title))
        if km.get("window") is not None:
            st.caption(
                f"Follow-up cut at {km['window']:g} {unit}: the shorter of the protocols' median "
                "last treatment assessment, so neither protocol is followed longer."
            )
        if km["n_unknown"]:
            st.caption(
                f"{km['n_unknown']} paired patients have no {unit[:-1]} recorded and are left out."
            )
        medians = km.get("medians")
        if isinstance(medians, pd.DataFrame) and not medians.empty:
            shown = medians.rename(columns={"group": "protocol", "n_events": "improved"})
            shown[f"median {unit} (95% CI)"] = [
                f"{m:g} ({ui.ci_range(lo, hi, decimals=1)})" if pd.notna(m) else "not reached"
                for m, lo, hi in zip(
                    shown["median"], shown["median_ci_lo"], shown["median_ci_hi"], strict=True
                )
            ]
            st.dataframe(
                shown[["protocol", "n", "improved", f"median {unit} (95% CI)"]], hide_index=True
            )
        ui.how_computed(
            f"Kaplan–Meier estimate of the share not yet reliably improved, by {unit[:-1]} "
            "(shaded: 95% CI, Greenwood, log scale; ticks: patients censored at their last "
            "treatment assessment without reliable improvement). The median is the first time "
            "the curve reaches 50%. The log-rank test compares the protocols (R: survdiff). "
            "With the toggle on, an improvement counts only when the next assessment also "
            "meets it (the time is that of the first of the two), and follow-up stops at the "
            "shorter protocol's typical last treatment assessment; off, the first assessment "
            "meeting it counts, as in the summary's medians. A description only: a protocol assessed more often shows improvement sooner and "
            "crosses the threshold by chance more often, so the claims page compares the "
            "protocols at the same days since baseline instead.",
            help_anchor="kaplan-meier",
        )

with tabs[5]:
    if tabs[5].open:
        fast = results.effects_fast(ref, reg_text, filters)
        n_pairs = results.n_paired(ref, reg_text, filters)
        asked = st.session_state.setdefault("bootstrap_asked", set())
        token = (ref, reg_text, filters)
        boot = None
        if n_pairs <= results.AUTO_BOOTSTRAP_MAX or token in asked:
            with st.spinner(
                f"Computing bootstrap confidence intervals ({DEFAULT_N_BOOT:,} resamples)…"
            ):
                boot = results.effects_bootstrap(ref, reg_text, filters)
        else:
            st.info(
                f"The g_av intervals come from {DEFAULT_N_BOOT:,} bootstrap resamples of {n_pairs} paired "
                "patients, which takes a few seconds."
            )
            if st.button("Compute g_av confidence intervals", type="primary"):
                asked.add(token)
                st.rerun()
        boot = on_instrument(boot)
        if boot is not None:
            rows = compute.forest_rows(compute.in_display_order(boot, ctx.registry), "g_av")
            ui.chart(
                charts.forest_chart(
                    rows,
                    measure="Hedges' g_av",
                    title=f"{key_plot}: within-protocol change, Hedges' g_av",
                ),
                key="gav",
            )
        why_not = compute.no_comparison_reason(o["protocol"].dropna().unique())
        if why_not:
            st.info(f"**Between protocols**: {ui.md_escape(why_not)}", icon=":material/info:")
        else:
            ui.chart(
                charts.forest_chart(
                    compute.between_forest_rows(on_instrument(fast["between"])),
                    measure="Hedges' g on change, a − b",
                    positive="the first protocol improved more",
                    title=f"{key_plot}: between protocols, Hedges' g on change scores",
                ),
                key="between",
            )
        within = compute.in_display_order(on_instrument(fast["within"]), ctx.registry)
        if len(within):
            if boot is not None:
                boot = compute.in_display_order(boot, ctx.registry)
            table = compute.effects_display(within, boot)
            numbers = ("mean change (points)", "g_av", "d_z", "d_av", "d_rm")
            st.dataframe(
                table,
                hide_index=True,
                column_config={c: st.column_config.NumberColumn(format="%.2f") for c in numbers},
            )
        ui.how_computed(
            "Within a protocol: Hedges' g_av = mean change / mean of the baseline and "
            "end-of-treatment SDs, times the small-sample factor J; 95% CI by BCa bootstrap "
            f"({DEFAULT_N_BOOT:,} resamples, fixed seed). d_z = mean change / SD of change (CI from the "
            "noncentral t). Between protocols: Hedges' g on change scores with the pooled SD, "
            "CI from the noncentral t (positive: the first protocol improved more).",
            help_anchor="g-av",
        )

with tabs[6]:
    if tabs[6].open:
        bal = results.balance(ref, reg_text, filters, key)
        if isinstance(bal, str):
            st.info(f"**Intensive versus weekly**: {ui.md_escape(bal)}", icon=":material/info:")
        else:
            if bal.overlap_warning:
                st.warning(ui.md_escape(bal.overlap_warning), icon=":material/warning:")
            cols = st.columns(3)
            cols[0].metric(
                "Raw difference in change",
                f"{bal.raw_diff:+.1f} points",
                help="Intensive − weekly, paired patients (baseline and last observation).",
            )
            cols[0].caption(f"95% CI {ui.ci_range(*bal.raw_ci, decimals=1)}")
            cols[1].metric(
                "Adjusted difference",
                f"{bal.adjusted_diff:+.1f} points",
                help="Overlap-weighted, so the two protocols' patients look alike on the "
                "characteristics below; HC3 robust CI.",
            )
            cols[1].caption(f"95% CI {ui.ci_range(*bal.adjusted_ci, decimals=1)}")
            cols[2].metric(
                "E-value",
                f"{bal.e_value:.2f}",
                help="How strongly an unmeasured characteristic would have to be tied to both "
                "the protocol and the outcome to explain the adjusted difference away "
                "(VanderWeele & Ding 2017).",
            )
            cols[2].caption(f"for the CI: {bal.e_value_ci:.2f}")
            ui.chart(
                charts_balance.love_plot(
                    bal.balance, title=f"{key_plot}: balance before and after"
                ),
                key="love",
            )
            shown = bal.balance.rename(
                columns={
                    "mean_a": "intensive",
                    "mean_b": "weekly",
                    "smd_raw": "SMD before",
                    "smd_weighted": "SMD after",
                }
            )[["covariate", "intensive", "weekly", "SMD before", "SMD after"]]
            # weighting balances the model's covariates exactly; show 0, not −0.00
            shown["SMD after"] = shown["SMD after"].mask(shown["SMD after"].abs() < 5e-3, 0.0)
            st.dataframe(
                shown,
                hide_index=True,
                column_config={
                    c: st.column_config.NumberColumn(format="%.2f")
                    for c in ("intensive", "weekly", "SMD before", "SMD after")
                },
            )
            st.caption(
                f"{bal.n_a} intensive and {bal.n_b} weekly paired patients; effective numbers "
                f"after weighting {bal.ess_a:.0f} and {bal.ess_b:.0f}."
            )
        ui.how_computed(
            "Patients are not randomised to a protocol. A logistic model predicts each "
            "patient's chance of the intensive protocol from the baseline score, treatment "
            "resistance, route, site and other instruments' baselines; overlap weights (1 − "
            "chance for intensive, the chance for weekly) make the two groups alike on all of "
            "them (standardised mean difference, SMD, of 0 after weighting; below 0.1 is the "
            "usual aim). The adjusted difference compares the weighted groups (Li, Morgan & "
            "Zaslavsky 2018). Characteristics that were not recorded cannot be balanced.",
            help_anchor="adjusted-comparison",
        )
