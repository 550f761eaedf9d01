"""Cached analysis results, keyed by (dataset content, registry, filters, settings).

Large shared tables (the filtered assessments and per-patient outcomes) are cached as
resources: one copy, read-only. Results for charts and tables are cached with
``st.cache_data``. A filter change therefore recomputes only the figures of the page on screen;
per-patient outcomes of the whole dataset are computed once and then filtered (see
``dashboard.compute``). The slow figures (bootstrap intervals of g_av, growth models) have
their own cached calls, which pages run behind a spinner and only on request for large data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st

from analysis.assessments import Assessments
from analysis.balance import protocol_balance
from analysis.bootstrap import DEFAULT_N_BOOT
from analysis.claims.config import ClaimsConfig
from analysis.claims.evaluate import ClaimResult, evaluate_claims
from analysis.confirmed import confirmed_times, in_common_window
from analysis.expected_recovery import ExpectedModel, expected_bands, flag_hit_rate
from analysis.figures import (
    MATCHED_DAYS,
    MATCHED_TOL,
    Figures,
    assemble_figures,
    with_slow_figures,
    within_effects,
)
from analysis.funnel import inclusion_funnel
from analysis.methods import DataSource
from analysis.outcomes import patient_outcomes, planned_last_sessions
from analysis.provider_compare import UnitComparison, compare_units, patient_units
from analysis.reference_outputs import claim_effects
from analysis.references import practice_references
from analysis.research import research_tables
from analysis.safety import safety_report
from analysis.survival import km_by_group, km_curves, logrank_test
from analysis.tables import ResearchTable, prepare_for_export
from analysis.trajectories import by_day, by_session, matched_days
from dashboard import compute
from dashboard.compute import Filters
from dashboard.state import DataRef, attributes, full_tidy, positions, registry_from_text
from dashboard.state import store as open_dashboard_store
from data.benchmarks import default_benchmarks
from data.errors import AnalysisError, ReliefCheckError

#: Paired patients above which bootstrap intervals wait for the user to ask for them.
AUTO_BOOTSTRAP_MAX = 2000


@st.cache_resource(show_spinner="Computing per-patient outcomes…", max_entries=4)
def _outcomes_all(ref: DataRef, reg_text: str | None) -> pd.DataFrame:
    return patient_outcomes(full_tidy(ref), registry_from_text(reg_text))


@st.cache_resource(show_spinner=False, max_entries=6)
def tidy(ref: DataRef, filters: Filters) -> pd.DataFrame:
    """The assessments of the patients who pass the filters (read-only)."""
    return compute.filter_tidy(full_tidy(ref), attributes(ref), filters, positions(ref))


@st.cache_resource(show_spinner=False, max_entries=6)
def assessments(ref: DataRef, filters: Filters) -> Assessments:
    """The filtered assessments sorted once (``analysis.assessments``), shared by every page's
    analyses under these filters instead of each sorting them again (read-only)."""
    return Assessments.build(tidy(ref, filters))


@st.cache_resource(show_spinner=False, max_entries=16)
def outcomes(ref: DataRef, reg_text: str | None, filters: Filters) -> pd.DataFrame:
    """Per patient × instrument outcomes under the filters (read-only)."""
    registry = registry_from_text(reg_text)
    if compute.outcomes_depend_on_group(registry) and filters.active:
        # completers are judged against the whole practice's schedule, not the filtered part's
        whole = planned_last_sessions(_outcomes_all(ref, reg_text))
        return patient_outcomes(assessments(ref, filters), registry, planned_sessions=whole)
    return compute.filter_outcomes(_outcomes_all(ref, reg_text), filters, attributes(ref))


@st.cache_data(show_spinner=False, max_entries=32)
def rates(
    ref: DataRef, reg_text: str | None, filters: Filters
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(outcome rates under both denominators, paired-data rate) per instrument × protocol."""
    o = outcomes(ref, reg_text, filters)
    return compute.outcome_rates(o), compute.paired_rate(o)


@st.cache_data(show_spinner=False, max_entries=16)
def rates_export(ref: DataRef, reg_text: str | None, filters: Filters):
    """The outcome-rates researcher table, small cells suppressed and formulas neutralised."""
    return prepare_for_export(compute.outcome_rates_research(outcomes(ref, reg_text, filters)))


@st.cache_data(show_spinner=False, max_entries=32)
def survival(
    ref: DataRef,
    reg_text: str | None,
    filters: Filters,
    instrument: str,
    unit: str,
    confirmed: bool = False,
) -> dict[str, object]:
    """Kaplan–Meier curves, medians and the log-rank test for one instrument and time unit:
    time to a first reliable improvement (SPEC section 4), or with ``confirmed`` to one that
    the next assessment confirms, over the protocols' common window (``analysis.confirmed``)."""
    o = outcomes(ref, reg_text, filters)
    mine = o.loc[(o["instrument"] == instrument).to_numpy()]
    data, n_unknown = compute.km_input(mine, unit)
    window = None
    if confirmed and not data.empty:
        sign = float(registry_from_text(reg_text).get(instrument).improvement(1.0, 0.0))
        a = assessments(ref, filters)
        times = confirmed_times(a, mine, instrument, sign, unit=unit, protocols=None)
        data, window = in_common_window(times) if len(times) else (times, None)
        data = data[["protocol", "time", "event"]]
    out: dict[str, object] = {"n_unknown": n_unknown, "n": len(data), "logrank": None}
    out["window"] = window
    if data.empty:
        out["curves"], out["medians"] = pd.DataFrame(), pd.DataFrame()
        return out
    out["curves"] = km_curves(data)
    out["medians"] = km_by_group(data)
    if data["protocol"].nunique() >= 2:
        try:
            lr = logrank_test(data["time"], data["event"], data["protocol"])
            out["logrank"] = {"chi2": lr.chi2, "df": lr.df, "p": lr.p, "table": lr.table}
        except AnalysisError as err:
            out["logrank_error"] = str(err)
    return out


@st.cache_data(show_spinner=False, max_entries=32)
def funnel(ref: DataRef, reg_text: str | None, filters: Filters) -> pd.DataFrame:
    """The inclusion funnel per instrument × protocol."""
    t = tidy(ref, filters)
    if t.empty:
        return pd.DataFrame()
    return inclusion_funnel(assessments(ref, filters), outcomes(ref, reg_text, filters))


@st.cache_data(show_spinner=False, max_entries=32)
def effects_fast(ref: DataRef, reg_text: str | None, filters: Filters) -> dict[str, pd.DataFrame]:
    """Effect sizes without the bootstrap: g_av and d_z (noncentral-t CI) per instrument ×
    protocol, and Hedges' g on change between protocols per instrument."""
    registry = registry_from_text(reg_text)
    o = outcomes(ref, reg_text, filters)
    within = within_effects(_paired(o), registry, ["instrument", "protocol"], n_boot=0)
    paired = o.loc[o["paired"].to_numpy(dtype=bool), ["instrument", "protocol", "change"]]
    between = compute.between_table(
        paired.astype({"instrument": str, "protocol": str}), ["instrument"]
    )
    return {"within": within, "between": compute.in_display_order(between, registry)}


@st.cache_data(show_spinner=False, max_entries=16)
def effects_bootstrap(
    ref: DataRef, reg_text: str | None, filters: Filters, n_boot: int = DEFAULT_N_BOOT
) -> pd.DataFrame:
    """Within-group effect sizes with the BCa bootstrap interval of g_av (slow: seconds at
    thousands of patients)."""
    registry = registry_from_text(reg_text)
    o = outcomes(ref, reg_text, filters)
    return within_effects(_paired(o), registry, ["instrument", "protocol"], n_boot=n_boot)


def n_paired(ref: DataRef, reg_text: str | None, filters: Filters) -> int:
    o = outcomes(ref, reg_text, filters)
    return int(np.count_nonzero(o["paired"].to_numpy(dtype=bool)))


@st.cache_data(show_spinner=False, max_entries=32)
def balance(ref: DataRef, reg_text: str | None, filters: Filters, instrument: str):
    """Who got which protocol on one instrument: a ``BalanceResult`` (intensive versus
    weekly, paired patients), or the reason it could not be computed."""
    try:
        return protocol_balance(outcomes(ref, reg_text, filters), instrument)
    except AnalysisError as err:
        return str(err)


@st.cache_data(show_spinner=False, max_entries=32)
def trajectory(ref: DataRef, filters: Filters, x: str) -> pd.DataFrame:
    """Mean score per instrument × protocol × session (x = "session") or day bin ("day")."""
    t = tidy(ref, filters)
    if t.empty:
        return pd.DataFrame()
    a = assessments(ref, filters)
    return by_session(a) if x == "session" else by_day(a)


@st.cache_data(show_spinner=False, max_entries=32)
def individuals(
    ref: DataRef, filters: Filters, instrument: str, n: int, seed: int = 1
) -> pd.DataFrame:
    """Scores of up to ``n`` randomly chosen patients (fixed seed) on one instrument."""
    t = tidy(ref, filters)
    rows = t.loc[(t["instrument"] == instrument).to_numpy(dtype=bool)]
    ids = pd.unique(rows["patient_id"])
    if len(ids) > n:
        ids = np.random.default_rng(seed).choice(ids, size=n, replace=False)
    keep = rows["patient_id"].isin(ids).to_numpy(dtype=bool)
    cols = ["patient_id", "protocol", "session", "day", "score"]
    return rows.loc[keep, cols].astype({"session": "float64"}).reset_index(drop=True)


@st.cache_data(show_spinner=False, max_entries=32)
def matched(ref: DataRef, reg_text: str | None, filters: Filters) -> pd.DataFrame:
    """Between-protocol difference in change from baseline at days 14 and 28 (± 3)."""
    t = tidy(ref, filters)
    if t.empty:
        return pd.DataFrame()
    m = matched_days(
        assessments(ref, filters), registry_from_text(reg_text), days=MATCHED_DAYS, tol=MATCHED_TOL
    )
    if m.empty:
        return pd.DataFrame()
    m = m.astype({"instrument": str, "protocol": str})
    return compute.between_table(m, ["instrument", "target_day"])


@st.cache_data(show_spinner=False, max_entries=8)
def growth_models(ref: DataRef, filters: Filters) -> list:
    """Mixed-effects growth model per instrument (slow: about a second)."""
    from analysis.growth import fit_growth_models

    t = tidy(ref, filters)
    return [] if t.empty else fit_growth_models(t)


@st.cache_data(show_spinner=False, max_entries=8)
def day_models(ref: DataRef, reg_text: str | None, filters: Filters) -> list:
    """Mixed-effects growth model over days per instrument (slow: a few seconds)."""
    from analysis.growth_days import fit_day_models

    t = tidy(ref, filters)
    return [] if t.empty else fit_day_models(t, registry_from_text(reg_text))


@st.cache_data(show_spinner=False, max_entries=16)
def safety(ref: DataRef, reg_text: str | None, filters: Filters):
    """The safety item's tables (``analysis.safety.SafetyReport``), prevalence with Wilson CIs."""
    report = safety_report(assessments(ref, filters), registry_from_text(reg_text))
    if report.available and len(report.prevalence):
        report = replace(report, prevalence=compute.with_wilson(report.prevalence))
    return report


@st.cache_data(show_spinner=False, max_entries=32)
def claims(
    ref: DataRef, reg_text: str | None, filters: Filters, config: ClaimsConfig
) -> list[ClaimResult]:
    """The claims scorecard (``analysis.claims.evaluate_claims``) on the filtered patients,
    from the per-patient outcomes and the safety tables already computed for the other pages;
    g_av per instrument beside the large-improvement verdicts, as ``analysis.figures`` does."""
    registry = registry_from_text(reg_text)
    o = outcomes(ref, reg_text, filters)
    paired = _paired(o)
    effects = (
        within_effects(paired, registry, ["instrument"], n_boot=0, ci_level=config.ci_level)
        if len(paired)
        else None
    )
    return evaluate_claims(
        assessments(ref, filters),
        o,
        registry,
        config,
        safety=safety(ref, reg_text, filters),
        effects=effects,
    )


@st.cache_data(show_spinner=False, max_entries=16)
def references(
    ref: DataRef, reg_text: str | None, filters: Filters, config: ClaimsConfig
) -> pd.DataFrame:
    """The practice's figures beside the published benchmarks (``analysis.references``), on the
    filtered patients, with the g_av the claims carry."""
    return practice_references(
        outcomes(ref, reg_text, filters),
        default_benchmarks(),
        effects=claim_effects(claims(ref, reg_text, filters, config)),
        ci_level=config.ci_level,
        config=config,
    )


@st.cache_resource(show_spinner="Computing every figure for the downloads…", max_entries=4)
def figures(ref: DataRef, reg_text: str | None, filters: Filters, config: ClaimsConfig) -> Figures:
    """``analysis.figures.fast_figures`` on the filtered patients: what the command line's
    ``summary`` and ``tables`` compute, for the downloads (read-only). Built from the outcomes,
    safety tables and claims the other pages already cached for these filters."""
    return assemble_figures(
        assessments(ref, filters),
        registry_from_text(reg_text),
        config,
        outcomes=outcomes(ref, reg_text, filters),
        safety=safety(ref, reg_text, filters),
        claims=claims(ref, reg_text, filters, config),
    )


@st.cache_resource(show_spinner=False, max_entries=8)
def research(
    ref: DataRef,
    reg_text: str | None,
    filters: Filters,
    config: ClaimsConfig,
    n_boot: int,
    models: bool,
    stamp: str,
    _fig: Figures,
) -> list[ResearchTable]:
    """``analysis.research.research_tables`` of ``_fig`` (the figures of the other arguments,
    with ``n_boot`` bootstrap resamples and growth models when ``models``, and the settings
    stamp whose words are ``stamp``); read-only."""
    return research_tables(tidy(ref, filters), _fig, registry_from_text(reg_text))


#: How many sets of slow figures ``slow_figures`` keeps (the oldest is dropped first).
SLOW_FIGURES_KEPT = 4


@st.cache_resource(show_spinner=False)
def _slow_kept() -> dict[tuple, Figures]:
    """The process's slow figures by (data, registry, filters, settings): a plain dict, since
    a progress bar drawn inside an ``st.cache_*`` function cannot be replayed from the cache."""
    return {}


def slow_figures(
    ref: DataRef,
    reg_text: str | None,
    filters: Filters,
    config: ClaimsConfig,
    progress: Callable[[float, str], None] | None = None,
) -> Figures:
    """``figures`` with the BCa bootstrap CIs of g_av and the growth models
    (``analysis.figures.with_slow_figures``), computed once per data version, registry, filters
    and settings (read-only); ``progress(fraction, words)`` hears how far a computation is."""
    kept = _slow_kept()
    key = (ref, reg_text, filters, repr(config))
    found = kept.get(key)
    if found is None:
        found = with_slow_figures(
            figures(ref, reg_text, filters, config),
            tidy(ref, filters),
            registry_from_text(reg_text),
            progress=progress,
        )
        while len(kept) >= SLOW_FIGURES_KEPT:
            kept.pop(next(iter(kept)), None)
        kept[key] = found
    return found


@st.cache_data(show_spinner=False, max_entries=8)
def data_source(ref: DataRef) -> DataSource:
    """What the Methods sheet says of the data: the demo cohort, or the store's database kind,
    schema version, data version and counts of uploads and assessments (never its address)."""
    whole = full_tidy(ref)
    counts = {"n_assessments": len(whole), "n_patients": int(whole["patient_id"].nunique())}
    if ref.is_demo:
        return DataSource("demo", data_version=ref.version, **counts)
    store = open_dashboard_store()
    up = store.uploads()
    return DataSource(
        "store",
        data_version=str(ref.version),
        backend=store.backend,
        schema_version=store.schema_version(),
        n_uploads=len(up),
        n_undone=int((up["status"] == "undone").sum()),
        **counts,
    )


@st.cache_resource(show_spinner=False, max_entries=8)
def expected_model(ref: DataRef, reg_text: str | None) -> ExpectedModel | str:
    """The expected-recovery bands from the practice's whole history (``analysis.
    expected_recovery``; read-only; one fit per data version, whatever the sidebar filters), or
    why they could not be built."""
    try:
        return expected_bands(tidy(ref, Filters()), registry_from_text(reg_text))
    except ReliefCheckError as err:
        return str(err)


@st.cache_data(show_spinner="Checking how often the flags came true…", max_entries=8)
def flag_hits(ref: DataRef, reg_text: str | None) -> pd.DataFrame | str:
    """How often a "not on track" flag came before a course that ended without reliable
    improvement (cross-fitted on the practice's whole history, or simulated; one computation per
    data version), or why not."""
    try:
        registry = registry_from_text(reg_text)
        o = outcomes(ref, reg_text, Filters())
        return flag_hit_rate(tidy(ref, Filters()), registry, outcomes=o)
    except ReliefCheckError as err:
        return str(err)


@st.cache_data(show_spinner=False, max_entries=32)
def unit_comparison(
    ref: DataRef,
    reg_text: str | None,
    filters: Filters,
    unit_column: str,
    instrument: str,
    outcome: str,
) -> UnitComparison | str:
    """Sites or clinicians compared on one instrument's case-mix-adjusted outcome
    (``analysis.provider_compare``; units under 5 patients left out), or why not."""
    try:
        units = patient_units(tidy(ref, filters), unit_column)
        o = outcomes(ref, reg_text, filters)
        return compare_units(o, units, instrument, outcome=outcome, unit_column=unit_column)
    except ReliefCheckError as err:
        return str(err)


def _paired(o: pd.DataFrame) -> pd.DataFrame:
    """Paired patients' instrument, protocol, baseline and EOT, labels as plain text."""
    cols = ["instrument", "protocol", "baseline", "eot"]
    paired = o.loc[o["paired"].to_numpy(dtype=bool), cols]
    return paired.astype({"instrument": str, "protocol": str})
