"""The dashboard's glue between the analysis modules and the charts (no Streamlit here).

Filters select patients, not rows: a patient is kept when their protocol, site, route and
treatment-resistant flag (as ``Assessments.patients_frame`` defines them: the value at their
baseline, else at their first assessment) match, and the instrument filter keeps the chosen
instruments. The filtered tidy table holds every row of the kept patients on the kept
instruments, so each patient's outcomes are the same as on the whole table. Outcomes are
therefore computed once per dataset and then filtered, except when an instrument's reliable
change uses the Jacobson–Truax rule with the group's own baseline SD: that threshold depends on
who is in the group, so outcomes are then recomputed on the filtered table.

Every function here is pure: tidy frames in, tidy frames out, shaped for ``dashboard.charts``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.assessments import Assessments
from analysis.effects import between_effects
from analysis.figures import protocol_pairs
from analysis.outcomes import FLAG_COLUMNS, as_all_starters
from analysis.rates import rates_table, wilson_ci
from analysis.result_tables import outcome_rates_table
from analysis.tables import ResearchTable
from dashboard.chart_style import protocol_order
from data.instruments import Registry
from data.periods import MONTH_COLUMN, UNITS, describe_period, in_period, period_options

#: Sidebar filters and the patient attribute each one reads.
FILTER_COLUMNS = {"protocols": "protocol", "sites": "site", "routes": "route"}
TR_CHOICES = {
    "all": "All patients",
    "yes": "Treatment-resistant only",
    "no": "Not treatment-resistant",
}
#: Outcome cards of the overview, in order (rates over paired patients).
CARD_FLAGS = ("reliable_improvement", "response", "remission", "reliable_deterioration")


@dataclass(frozen=True)
class Filters:
    """The sidebar filters; an empty tuple means "all"."""

    instruments: tuple[str, ...] = ()
    protocols: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()
    treatment_resistant: str = "all"
    #: Baseline period (from, to) as period labels, ``2025-Q1`` or ``2025-03`` (data/periods.py);
    #: empty: every patient, known period or not. Set: only patients whose baseline month is in
    #: the range (both ends included); patients with no known baseline month are left out.
    baseline_period: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """True when any filter narrows the data."""
        return self != Filters()

    def describe(self) -> str:
        """The filters in words, e.g. "protocol: intensive; site: Site A" (or "all patients")."""
        parts = [
            f"{name}: {', '.join(values)}"
            for name, values in (
                ("instrument", self.instruments),
                ("protocol", self.protocols),
                ("site", self.sites),
                ("route", self.routes),
            )
            if values
        ]
        if self.treatment_resistant != "all":
            parts.append(TR_CHOICES[self.treatment_resistant].lower())
        if self.baseline_period:
            parts.append(f"baseline period: {describe_period(self.baseline_period)}")
        return "; ".join(parts) if parts else "all patients"


def instrument_order(keys: object, registry: Registry) -> list[str]:
    """Instrument keys in registry order (PHQ-9, GAD-7, PCL-5, then a practice's own), any key
    the registry does not know last, alphabetically."""
    present = {str(k) for k in keys}  # type: ignore[union-attr]
    known = [k for k in registry.keys if k in present]
    return known + sorted(present - set(known))


def patient_attributes(tidy: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: patient_id, protocol and any of site, clinician, route,
    treatment_resistant (``Assessments.patients_frame``: the value at baseline, else first)."""
    return Assessments.build(tidy).patients_frame()


def filter_options(tidy: pd.DataFrame, attributes: pd.DataFrame) -> dict[str, list[str]]:
    """The values each filter can take; a filter whose column the data lacks gets no values."""
    out = {"instruments": sorted(pd.unique(tidy["instrument"].dropna().astype(str)))}
    for name, col in FILTER_COLUMNS.items():
        values = attributes[col].dropna().astype(str).unique() if col in attributes else []
        out[name] = protocol_order(values) if col == "protocol" else sorted(values)
    has_tr = "treatment_resistant" in attributes and attributes["treatment_resistant"].notna().any()
    out["treatment_resistant"] = list(TR_CHOICES) if has_tr else []
    months = attributes[MONTH_COLUMN] if MONTH_COLUMN in attributes else pd.array([], "Int64")
    for unit in UNITS:  # "period_month", "period_quarter": every period from first to last
        out[f"period_{unit}"] = period_options(months, unit)
    return out


def with_baseline_months(attributes: pd.DataFrame, months: pd.Series | None) -> pd.DataFrame:
    """``attributes`` with each patient's baseline month code (``baseline_month_day``, Int64;
    ``<NA>`` when unknown) from ``months`` (index patient_id), for the period filter."""
    codes = pd.array([pd.NA] * len(attributes), dtype="Int64")
    if months is not None and len(months):
        where = pd.Index(months.index.astype(str)).get_indexer(attributes["patient_id"].astype(str))
        found = where >= 0
        taken = pd.array(months.to_numpy(), dtype="Int64")[where[found]]
        codes[found] = taken
    return attributes.assign(**{MONTH_COLUMN: codes})


def period_unknown(attributes: pd.DataFrame) -> int:
    """How many patients have no known baseline month (left out when a period is chosen)."""
    if MONTH_COLUMN not in attributes:
        return len(attributes)
    return int(attributes[MONTH_COLUMN].isna().sum())


def _keep(frame: pd.DataFrame, filters: Filters) -> np.ndarray:
    """Rows of a patient-level frame (attributes or outcomes) that pass the patient filters."""
    keep = np.ones(len(frame), dtype=bool)
    for name, col in FILTER_COLUMNS.items():
        wanted = getattr(filters, name)
        if wanted and col in frame:
            keep &= frame[col].astype("string").isin(wanted).fillna(False).to_numpy(dtype=bool)
    if filters.treatment_resistant != "all" and "treatment_resistant" in frame:
        flag = frame["treatment_resistant"].astype("boolean")
        want = filters.treatment_resistant == "yes"
        keep &= (flag == want).fillna(False).to_numpy(dtype=bool)
    if filters.instruments and "instrument" in frame:
        keep &= frame["instrument"].astype("string").isin(filters.instruments).to_numpy(dtype=bool)
    if filters.baseline_period and MONTH_COLUMN in frame:
        keep &= in_period(frame[MONTH_COLUMN], filters.baseline_period)
    return keep


def patient_positions(tidy: pd.DataFrame, attributes: pd.DataFrame) -> np.ndarray:
    """For each row of ``tidy``, the position of its patient in ``attributes`` (computed once
    per dataset, it turns filtering into an array lookup instead of matching ids as text)."""
    return pd.Index(attributes["patient_id"]).get_indexer(tidy["patient_id"])


def filter_tidy(
    tidy: pd.DataFrame,
    attributes: pd.DataFrame,
    filters: Filters,
    positions: np.ndarray | None = None,
) -> pd.DataFrame:
    """Every row of the patients who pass the filters, on the chosen instruments.
    ``positions``: ``patient_positions(tidy, attributes)``, when already at hand."""
    if not filters.active:
        return tidy
    keep = _keep(attributes, filters)
    if positions is None:
        rows = tidy["patient_id"].isin(attributes.loc[keep, "patient_id"]).to_numpy(dtype=bool)
    else:
        rows = keep[positions]
    if filters.instruments:
        rows &= tidy["instrument"].isin(filters.instruments).to_numpy(dtype=bool)
    return tidy.loc[rows]


def filter_outcomes(
    outcomes: pd.DataFrame, filters: Filters, attributes: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Rows of ``analysis.outcomes.patient_outcomes`` that pass the filters. A baseline period
    reads each patient's month from ``attributes`` (``with_baseline_months``); without them no
    patient has a known month, so a chosen period keeps no one."""
    if not filters.active:
        return outcomes
    keep = _keep(outcomes, filters)
    if filters.baseline_period and MONTH_COLUMN not in outcomes:
        months = pd.array([pd.NA] * len(outcomes), dtype="Int64")
        if attributes is not None and MONTH_COLUMN in attributes:
            where = pd.Index(attributes["patient_id"]).get_indexer(outcomes["patient_id"])
            found = where >= 0
            months[found] = attributes[MONTH_COLUMN].array[where[found]]
        keep &= in_period(months, filters.baseline_period)
    return outcomes.loc[keep]


def outcomes_depend_on_group(registry: Registry) -> bool:
    """True when a reliable-change threshold is the Jacobson–Truax rule on the group's own
    baseline SD (then filtering changes the threshold, and outcomes must be recomputed)."""
    return any(i.rci_method == "jacobson-truax" and i.rci_sd == "sample" for i in registry)


# --------------------------------------------------------------------------- rates


def outcome_rates_research(outcomes: pd.DataFrame) -> ResearchTable:
    """Outcome rates per instrument × protocol under both denominators with Wilson CIs, as the
    researcher table ``analysis.result_tables.outcome_rates_table`` builds it, from the same
    ``rates_table`` calls as ``analysis.figures`` (completers: paired patients; everyone who
    started: ``as_all_starters``, a patient not eligible for a rule left out of its denominator),
    so the dashboard, the summary and the exported tables give the same figures."""
    by, flags = ["instrument", "protocol"], list(FLAG_COLUMNS)
    paired = outcomes.loc[outcomes["paired"].to_numpy(dtype=bool)]
    completers = rates_table(paired, by, flags)
    starters = rates_table(as_all_starters(outcomes), by, flags, missing="exclude")
    return outcome_rates_table(completers, starters)


def outcome_rates(outcomes: pd.DataFrame) -> pd.DataFrame:
    """The frame of ``outcome_rates_research``: instrument, protocol, outcome,
    denominator_basis, numerator, denominator, pct, ci_lo, ci_hi, ci_level, method."""
    if outcomes.empty:
        return pd.DataFrame(
            columns=[
                "instrument",
                "protocol",
                "outcome",
                "denominator_basis",
                "numerator",
                "denominator",
                "pct",
                "ci_lo",
                "ci_hi",
            ]
        )
    return outcome_rates_research(outcomes).frame


def paired_rate(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Patients assessed and the paired-data rate (baseline and EOT among everyone assessed)
    per instrument × protocol: instrument, protocol, numerator, denominator, pct, ci_lo, ci_hi."""
    frame = rates_table(outcomes, ["instrument", "protocol"], ["paired"])
    return frame.drop(columns="flag")


def with_wilson(frame: pd.DataFrame, k: str = "n", n: str = "of") -> pd.DataFrame:
    """``frame`` with Wilson 95% ci_lo / ci_hi (0–100) for k of n."""
    out = frame.copy()
    lo, hi = wilson_ci(out[k].to_numpy(dtype=np.int64), out[n].to_numpy(dtype=np.int64))
    out["ci_lo"], out["ci_hi"] = 100 * np.asarray(lo, float), 100 * np.asarray(hi, float)
    return out


# --------------------------------------------------------------------------- survival


def km_input(outcomes: pd.DataFrame, unit: str = "days") -> tuple[pd.DataFrame, int]:
    """Patients for the time-to-reliable-improvement curves (SPEC section 4): paired patients
    with a defined threshold; time = ``tti_days`` or ``tti_sessions``, event = ``tti_event``.

    Returns (instrument, protocol, time, event) and how many otherwise eligible patients were
    left out because that time is unknown (e.g. no ``day`` in the data).
    """
    col = "tti_days" if unit == "days" else "tti_sessions"
    eligible = outcomes.loc[outcomes["tti_event"].notna().to_numpy(dtype=bool)]
    time = pd.to_numeric(eligible[col], errors="coerce").astype(float)
    known = time.notna().to_numpy()
    out = pd.DataFrame(
        {
            "instrument": eligible["instrument"].to_numpy(dtype=object)[known],
            "protocol": eligible["protocol"].to_numpy(dtype=object)[known],
            "time": time.to_numpy()[known],
            "event": eligible["tti_event"].to_numpy(dtype=bool)[known],
        }
    )
    return out, int((~known).sum())


# --------------------------------------------------------------------------- effect sizes


def in_display_order(frame: pd.DataFrame, registry: Registry) -> pd.DataFrame:
    """Rows sorted by instrument (registry order) and protocol (intensive, weekly, others;
    the first protocol ``a`` of a comparison table)."""
    if frame.empty:
        return frame
    col = "protocol" if "protocol" in frame else "a"
    inst = {k: i for i, k in enumerate(instrument_order(frame["instrument"], registry))}
    prot = {k: i for i, k in enumerate(protocol_order(frame[col].astype(str)))}
    key = frame["instrument"].astype(str).map(inst) * 1000 + frame[col].astype(str).map(prot)
    return frame.iloc[np.argsort(key.to_numpy(), kind="stable")]


def effects_display(within: pd.DataFrame, boot: pd.DataFrame | None) -> pd.DataFrame:
    """The within-protocol effect sizes as a table for people: n, mean change, g_av with its
    bootstrap CI (when computed), d_z with its CI, d_av, d_rm."""

    def ci(lo: pd.Series, hi: pd.Series) -> list[str]:
        return [
            f"{a:.2f} to {b:.2f}" if np.isfinite(a) and np.isfinite(b) else "–"
            for a, b in zip(lo.astype(float), hi.astype(float), strict=True)
        ]

    out = pd.DataFrame(
        {
            "instrument": within["instrument"].astype(str),
            "protocol": within["protocol"].astype(str),
            "paired n": within["n"].astype(int),
            "mean change (points)": within["mean_change"].astype(float),
            "g_av": within["g_av"].astype(float),
        }
    )
    if boot is not None and len(boot) == len(within):
        out["g_av 95% CI"] = ci(boot["g_av_ci_lo"], boot["g_av_ci_hi"])
    out["d_z"] = within["d_z"].astype(float)
    out["d_z 95% CI"] = ci(within["d_z_ci_lo"], within["d_z_ci_hi"])
    out["d_av"] = within["d_av"].astype(float)
    out["d_rm"] = within["d_rm"].astype(float)
    return out


def forest_rows(effects: pd.DataFrame, measure: str = "g_av") -> pd.DataFrame:
    """Forest-plot rows (label, protocol, estimate, ci_lo, ci_hi, n) for ``measure``."""
    if effects.empty:
        return pd.DataFrame(columns=["label", "protocol", "estimate", "ci_lo", "ci_hi", "n"])
    return pd.DataFrame(
        {
            "label": effects["instrument"].astype(str) + " · " + effects["protocol"].astype(str),
            "protocol": effects["protocol"].astype(str),
            "estimate": effects[measure].astype(float),
            "ci_lo": effects[f"{measure}_ci_lo"].astype(float),
            "ci_hi": effects[f"{measure}_ci_hi"].astype(float),
            "n": effects["n"].astype(int),
        }
    )


def between_table(values: pd.DataFrame, by: list[str], column: str = "change") -> pd.DataFrame:
    """``between_effects`` of ``column`` for each protocol pair of ``analysis.figures`` (every
    protocol against weekly, the reference; none without weekly patients) within each ``by``
    group.

    Columns: the ``by`` columns, a, b, n_a, n_b, mean_diff with Welch CI, g with its
    noncentral-t CI (``_lo`` / ``_hi``), welch_p.
    """
    rows = []
    groups = values.groupby(by, sort=True, observed=True) if by else [((), values)]
    for key, part in groups:  # a handful of instruments × target days
        key = key if isinstance(key, tuple) else (key,)
        prot = part["protocol"].astype(str)
        for a, b in protocol_pairs(list(prot.unique())):
            res = between_effects(part.loc[prot == a, column], part.loc[prot == b, column])
            row = dict(zip(by, key, strict=True)) | {"a": a, "b": b}
            for name, value in res.to_dict().items():
                if isinstance(value, list):
                    row[f"{name}_lo"], row[f"{name}_hi"] = (
                        np.nan if v is None else v for v in value
                    )
                else:
                    row[name] = np.nan if value is None else value
            rows.append(row)
    return pd.DataFrame(rows)


def no_comparison_reason(protocols: object) -> str | None:
    """Why protocols cannot be compared in data with these protocol labels (None when they
    can): comparisons are against weekly, the reference, as in ``analysis.figures``."""
    present = sorted({str(p) for p in protocols})  # type: ignore[union-attr]
    if protocol_pairs(present):
        return None
    only = ", ".join(present) or "none"
    if "weekly" in present:
        return "Every patient here is on the weekly protocol, so there is nothing to compare."
    return (
        f"Protocols are compared with weekly, the reference, and these patients have no weekly "
        f"patients (protocols here: {only})."
    )


def between_forest_rows(between: pd.DataFrame) -> pd.DataFrame:
    """Forest rows of the between-protocol Hedges' g on change (one per instrument and pair)."""
    if between.empty:
        return pd.DataFrame(columns=["label", "estimate", "ci_lo", "ci_hi", "n"])
    return pd.DataFrame(
        {
            "label": between["instrument"] + ": " + between["a"] + " − " + between["b"],
            "estimate": between["g"].astype(float),
            "ci_lo": between["g_ci_lo"].astype(float),
            "ci_hi": between["g_ci_hi"].astype(float),
            "n": (between["n_a"] + between["n_b"]).astype(int),
        }
    )


def thresholds(outcomes: pd.DataFrame) -> dict[str, float]:
    """The reliable-change threshold of each protocol (points) among paired patients of one
    instrument; several values appear only under the Jacobson–Truax "sample" rule."""
    paired = outcomes.loc[outcomes["paired"].to_numpy(dtype=bool)]
    t = paired.groupby(paired["protocol"].astype(str))["rc_threshold"].first()
    return {str(k): float(v) for k, v in t.items()}
