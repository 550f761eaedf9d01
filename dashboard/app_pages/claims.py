"""Claims: each marketing claim as a test, with its verdict, estimate, CI, n, the test in plain
words and its caveats; the thresholds can be changed here."""

from __future__ import annotations

from dataclasses import fields, replace

import streamlit as st

from analysis.claims.config import ClaimsConfig
from analysis.claims.multiplicity import RULE as MULTIPLICITY_RULE
from analysis.settings_stamp import canonical_json
from dashboard import access, results, state
from dashboard import components as ui
from dashboard.calibration_view import calibration_panel
from dashboard.claims_view import (
    SHORT_NAMES,
    VERDICTS,
    claim_text,
    for_instruments,
    verdict_counts,
)
from dashboard.references_view import reference_lines, render_references
from data.access import may
from data.errors import ReliefCheckError

who = access.require_page("claims")  # before anything reads data

CONFIG_KEY = state.CLAIMS_CONFIG_KEY
#: Threshold widgets: field, label, kind ("share" in %, "int", "days").
_CONTROLS = (
    ("rapid_days", "Rapid onset: first assessment within (days)", "days"),
    ("rapid_share", "Rapid onset: share with reliable improvement", "share"),
    ("large_share", "Large improvement: share with reliable improvement", "share"),
    ("lasting_share", "Lasting: responders still responding at 90 days", "share"),
    ("si_share", "Suicidal ideation: item 9 back to 0", "share"),
    ("noninferiority_fraction", "Intensive faster: margin (× reliable-change threshold)", "share"),
    ("min_patients", "Fewest patients for a verdict", "int"),
)

ctx = state.context()
st.header("Claims", anchor=False)
ui.filters_caption(ctx.filters.describe())
st.markdown(
    "Each claim that clinics make for ketamine-assisted psychotherapy, tested on your data. "
    "A claim is **supported** when the whole 95% confidence interval clears its threshold, "
    "**not supported** when even the top of the interval falls short, and **inconclusive** "
    "otherwise or with fewer patients than the minimum. One claim is the **primary** claim; "
    "the others are **exploratory**, and with many claims tested at once each of them must "
    "also pass Holm's adjustment to be supported, so that the whole scorecard says "
    "supported wrongly at most 5% of the time."
)

config = state.claims_config()
with st.expander("Thresholds", icon=":material/tune:"):
    values = {}
    cols = st.columns(2)
    for i, (name, label, kind) in enumerate(_CONTROLS):
        current = getattr(config, name)
        with cols[i % 2]:
            if kind == "share":
                values[name] = (
                    st.slider(
                        label,
                        0,
                        100,
                        int(round(current * 100)),
                        step=5,
                        format="%d%%",
                        key=f"claims_{name}",
                    )
                    / 100
                )
            elif kind == "days":
                values[name] = float(
                    st.number_input(label, 1, 60, int(current), key=f"claims_{name}")
                )
            else:
                values[name] = int(
                    st.number_input(label, 2, 100, int(current), key=f"claims_{name}")
                )
    cols = st.columns(2)
    primary_claims = [c for c in SHORT_NAMES if c != "initial-anxiety"]
    values["primary_claim"] = cols[0].selectbox(
        "Primary claim (tested on its own; the others are exploratory)",
        primary_claims,
        index=primary_claims.index(config.primary_claim)
        if config.primary_claim in primary_claims
        else 0,
        format_func=SHORT_NAMES.get,
        key="claims_primary_claim",
    )
    instruments = list(dict.fromkeys([config.primary_instrument, *ctx.registry.keys]))
    values["primary_instrument"] = cols[1].selectbox(
        "Primary instrument", instruments, key="claims_primary_instrument"
    )
    known = {f.name for f in fields(ClaimsConfig)}
    config = replace(config, **{k: v for k, v in values.items() if k in known})
    frozen = state.frozen()
    start = state.claims_config_start()
    if config != start and st.button(
        "Back to the frozen settings" if frozen is not None else "Back to the defaults"
    ):
        for name in [*(c[0] for c in _CONTROLS), "primary_claim", "primary_instrument"]:
            st.session_state.pop(f"claims_{name}", None)
        st.session_state.pop(CONFIG_KEY, None)
        st.rerun()
st.session_state[CONFIG_KEY] = config
stamp = state.settings_stamp(config)
ui.settings_stamp(stamp)
if may(who.role, "freeze_settings"):
    with st.expander("Freeze these settings (pre-registration)", icon=":material/lock:"):
        st.markdown(
            "Freezing records these settings in the outcome store with their fingerprint "
            "(SHA-256) and the time, **best before any data arrive**. From then on every page, "
            "table and report says whether its verdicts used the frozen settings, and a change "
            "made afterwards is named wherever a verdict is shown. Earlier freezes are kept in "
            "the audit log; the latest one is in force."
        )
        if frozen is not None and not stamp.warns:
            st.caption("These settings are the ones frozen.")
        elif st.button("Freeze these settings", type="primary", key="claims_freeze"):
            try:
                state.store().freeze_settings(canonical_json(config), actor=who.actor)
            except ReliefCheckError as err:
                st.error(ui.md_escape(err))
            else:
                state.forget_frozen()
                st.rerun()


# Every claim is tested (the multiplicity control counts them all); the instrument filter
# chooses which are shown, as on the Overview's scorecard.
claims = for_instruments(
    results.claims(ctx.ref, ctx.registry_text, ctx.filters, config), ctx.filters.instruments
)
counts = verdict_counts(claims)
st.markdown(
    " · ".join(f":{VERDICTS[v][0]}-badge[{n} {v}]" for v, n in counts.items())
    + f"  \n{len(claims)} tests shown: each claim on each instrument in the data"
    + (" you chose." if ctx.filters.instruments else ".")
)
refs = results.references(ctx.ref, ctx.registry_text, ctx.filters, config)
for claim_id in dict.fromkeys(r.id for r in claims):
    mine = [r for r in claims if r.id == claim_id]
    st.subheader(SHORT_NAMES.get(claim_id, claim_id), anchor=False)
    st.markdown(f"*“{claim_text(claim_id)}”*")
    for start in range(0, len(mine), 3):
        cols = st.columns(3)
        for col, result in zip(cols, mine[start : start + 3], strict=False):
            with col:
                ui.verdict_card(
                    result, references=reference_lines(refs, claim_id, result.instrument)
                )
with st.expander("Published references behind these comparisons", icon=":material/menu_book:"):
    render_references(claims, refs, key="claims_references")
with st.expander("How much can your data say? (calibration)", icon=":material/science:"):
    calibration_panel(ctx, config)

ui.how_computed(
    "Shares are of patients, with Wilson 95% confidence intervals. A claim is tested on each "
    "instrument separately; the suicidal-ideation claim reads PHQ-9 item 9 and the "
    "initial-anxiety claim GAD-7 at session 1. Every verdict carries its caveats: no control "
    "group, regression to the mean, attrition (the share among everyone who started is shown "
    "beside the completers' share) and assessments repeated inside an instrument's recall "
    "window. The thresholds above are part of the Methods sheet of every download.\n\n"
    f"**Multiple claims.** {MULTIPLICITY_RULE}",
    title="How the claims are tested",
    help_anchor="verdicts",
)
