"""The Methods sheet: every definition, threshold and method behind the exported tables.

``methods_rows`` writes (section, item, text) rows. Instrument figures are read from the
registry, claim thresholds from the claims configuration passed in, and the outcome rules,
follow-up windows, effect-size methods and growth model from the modules that apply them, so the
sheet always states what the numbers were computed with. The first rows say which data they are
of (``DataSource``: the demo cohort or the store, its kind, schema and data version, never its
address or password) and which filters were applied, in words.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from analysis import __version__
from analysis.bootstrap import DEFAULT_N_BOOT, DEFAULT_SEED
from analysis.claims.multiplicity import RULE as MULTIPLICITY_RULE
from analysis.day_model import METHOD as DAY_METHOD
from analysis.effects import HEADLINE
from analysis.effects import METHODS as EFFECT_METHODS
from analysis.growth import METHOD as GROWTH_METHOD
from analysis.growth import REFERENCE_PROTOCOL
from analysis.matched_time import METHOD as MATCHED_TIME_METHOD
from analysis.outcomes import FOLLOW_UP_WINDOWS, RESPONSE_FRACTION
from analysis.result_tables import ADJUSTED_METHOD
from analysis.settings_stamp import SettingsStamp
from analysis.tables import DEFAULT_MIN_N, FORMULA_RULE, suppression_note
from analysis.trajectories import matched_days
from data.instruments import RCI_Z, Instrument, Registry

SOFTWARE = "ReliefCheck"

MethodsRow = tuple[str, str, str]


@dataclass(frozen=True)
class MethodsInfo:
    """What the Methods sheet states: the software version, the date and the rows."""

    software_version: str
    generated_on: dt.date
    rows: tuple[MethodsRow, ...]

    def header_rows(self) -> list[MethodsRow]:
        """The rows naming the software and the date, shown first."""
        return [
            ("About", "software", f"{SOFTWARE} {self.software_version}"),
            ("About", "generated on", self.generated_on.isoformat()),
        ]


@dataclass(frozen=True)
class DataSource:
    """Which data the figures are of, as the Methods sheet records it. ``kind`` is "demo" (the
    synthetic cohort) or "store"; for the store, ``backend`` is the database kind ("sqlite",
    "postgresql"), never its address. Counts are those at the time of the export: the whole
    store's (``n_assessments``, ``n_patients``, ``n_uploads``) and, after the filters, the
    analysed ones (``n_analysed``, ``n_analysed_patients``)."""

    kind: str
    data_version: str = ""
    backend: str = ""
    schema_version: int | None = None
    n_uploads: int | None = None
    n_undone: int | None = None
    n_assessments: int | None = None
    n_patients: int | None = None
    n_analysed: int | None = None
    n_analysed_patients: int | None = None
    note: str = ""

    def rows(self) -> list[MethodsRow]:
        """(section, item, text) rows: the source, its version, the counts at export time."""
        sec = "Data"
        if self.kind == "demo":
            source = "synthetic demo cohort (made-up patients, not real outcomes)"
        else:
            db = self.backend or "database"
            schema = (
                "" if self.schema_version is None else f", schema version {self.schema_version}"
            )
            source = f"the practice's outcome store ({db}{schema})"
        rows: list[MethodsRow] = [(sec, "source", source)]
        if self.note:
            rows.append((sec, "why this source", self.note))
        if self.data_version:
            rows.append((sec, "data version", self.data_version))
        if self.n_uploads is not None:
            undone = f", {self.n_undone:,} of them undone" if self.n_undone else ""
            rows.append((sec, "uploads", f"{self.n_uploads:,} committed{undone}"))
        if self.n_assessments is not None:
            who = "" if self.n_patients is None else f" of {self.n_patients:,} patients"
            rows.append((sec, "assessments", f"{self.n_assessments:,}{who}"))
        if self.n_analysed is not None:
            who = (
                ""
                if self.n_analysed_patients is None
                else f" of {self.n_analysed_patients:,} patients"
            )
            rows.append(
                (sec, "analysed after the filters", f"{self.n_analysed:,} assessments{who}")
            )
        return rows


def filter_rows(filters: Sequence[str]) -> list[MethodsRow]:
    """One row per filter applied, in words (e.g. "protocol: intensive"); one row saying none
    was when ``filters`` is empty."""
    if not filters:
        return [("Filters", "applied", "none: every patient in the data")]
    return [("Filters", f"filter {i}", text) for i, text in enumerate(filters, 1)]


def _g(x: float | None) -> str:
    return "not set" if x is None else f"{x:g}"


def _instrument_rows(ins: Instrument) -> list[MethodsRow]:
    """Every figure the registry holds for one instrument, in words."""
    sec = f"Instrument {ins.key}"
    worse, better = ("higher", "lower") if ins.higher_is_worse else ("lower", "higher")
    rows: list[MethodsRow] = [
        (sec, "name", ins.display),
        (sec, "score range", f"{ins.min:g} to {ins.max:g}; {worse} is worse"),
    ]
    if ins.items:
        rows.append((sec, "items", f"{ins.items} items scored {ins.item_min} to {ins.item_max}"))
        rows.append(
            (
                sec,
                "missing items",
                f"up to {ins.max_missing_items} missing: total = mean of answered items x "
                f"{ins.items}; more missing: no total",
            )
        )
    if ins.never_impute_items:
        listed = ", ".join(str(i) for i in ins.never_impute_items)
        rows.append((sec, "never imputed", f"item(s) {listed} keep their missing value"))
    if ins.recall_days is not None:
        rows.append((sec, "recall window", f"{ins.recall_days:g} days"))
    if ins.caseness is not None:
        sign = ">=" if ins.higher_is_worse else "<"
        rows.append((sec, "caseness (clinical range)", f"score {sign} {ins.caseness:g}"))
    if ins.remission is not None:
        sign = "<" if ins.higher_is_worse else ">"
        rows.append((sec, "remission", f"score {sign} {ins.remission:g}"))
    if ins.rci_method == "threshold":
        rule = f"fixed threshold: a change of at least {_g(ins.reliable_change)} points"
    else:
        sd = (
            "the baseline SD of the paired patients in the group analysed"
            if ins.rci_sd == "sample"
            else f"the norm SD {_g(ins.rci_sd)}"  # type: ignore[arg-type]
        )
        rule = (
            f"Jacobson-Truax: |change| >= {RCI_Z:g} x SD x sqrt(2) x sqrt(1 - r), "
            f"r = {_g(ins.reliability)}, SD = {sd}"
        )
    rows.append((sec, "reliable change", f"{rule}; change measured toward {better} scores"))
    if ins.bands:
        bands = "; ".join(f"{label} from {low:g}" for low, label in ins.bands)
        rows.append((sec, "severity bands", bands))
    if ins.safety_item:
        rows.append((sec, "safety item", f"item {ins.safety_item} (never imputed)"))
    for name, items in ins.clusters:
        rows.append((sec, f"cluster {name}", "items " + ", ".join(str(i) for i in items)))
    return rows


def _definition_rows() -> list[MethodsRow]:
    sec = "Definitions"
    windows = ", ".join(f"{c:g} +/- {w:g}" for c, w in FOLLOW_UP_WINDOWS)
    return [
        (sec, "baseline", "the session-0 assessment (the earliest by day if several)"),
        (sec, "end of treatment (EOT)", "the last assessment with session >= 1"),
        (sec, "paired", "has a baseline and an EOT assessment"),
        (sec, "change", "baseline - EOT (positive = better when higher is worse)"),
        (sec, "reliable improvement", "change >= the instrument's reliable-change threshold"),
        (
            sec,
            "reliable deterioration",
            "change <= minus the instrument's reliable-change threshold",
        ),
        (sec, "response", f"change / baseline >= {RESPONSE_FRACTION:g} (baseline > 0)"),
        (sec, "remission", "EOT score past the instrument's remission cut-off"),
        (sec, "recovery", "in the clinical range at baseline and not at EOT"),
        (sec, "reliable recovery", "recovery and reliable improvement"),
        (
            sec,
            "joint recovery (NHS Talking Therapies)",
            "with PHQ-9 and GAD-7: a case on either at baseline, a case on neither at EOT",
        ),
        (
            sec,
            "follow-up windows",
            f"days after EOT: {windows}; the assessment nearest the window's centre counts",
        ),
        (
            sec,
            "time to reliable improvement",
            "first assessment with session >= 1 meeting reliable improvement, in sessions and "
            "days; censored at the last treatment assessment",
        ),
        (sec, "sustained response", "among EOT responders, still meeting response in a window"),
        (
            sec,
            "recall-window violation",
            "two consecutive assessments of one instrument closer than its recall window",
        ),
    ]


def _statistics_rows() -> list[MethodsRow]:
    sec = "Statistics"
    params = inspect.signature(matched_days).parameters
    days = ", ".join(f"{d:g}" for d in params["days"].default)
    tol = params["tol"].default
    return [
        (sec, "headline effect size", HEADLINE),
        (sec, "d_z", EFFECT_METHODS["d_z"]),
        (sec, "d_av", EFFECT_METHODS["d_av"]),
        (sec, "g_av", EFFECT_METHODS["g_av"]),
        (sec, "d_rm", EFFECT_METHODS["d_rm"]),
        (
            sec,
            "bootstrap",
            f"BCa, {DEFAULT_N_BOOT} resamples, seed {DEFAULT_SEED}; resamples without spread "
            "are dropped and counted",
        ),
        (sec, "between protocols", EFFECT_METHODS["g"]),
        (sec, "Welch", EFFECT_METHODS["welch"]),
        (sec, "matched days", f"change from baseline nearest day {days} (+/- {tol:g} days)"),
        (sec, "SD", "sample SD (n - 1)"),
        (sec, "proportions", "numerator / denominator with the Wilson score interval"),
        (sec, "denominator: completers", "paired patients (baseline and EOT)"),
        (
            sec,
            "denominator: all starters",
            "everyone with a baseline; no EOT counts as not improved",
        ),
        (
            sec,
            "survival",
            "Kaplan-Meier (Greenwood variance, log-scale CI) of time to reliable improvement; "
            "median = smallest time with S(t) <= 0.5; log-rank test (R survdiff) between "
            "protocols on days (on sessions when there is no day)",
        ),
        (
            sec,
            "denominator: last observation",
            "the 'completers' rates above count paired patients, whose end of treatment is "
            "their last score (LOCF); completers who reached the planned last session are in "
            "the summary's _completers figures",
        ),
        (sec, "between protocols, adjusted", ADJUSTED_METHOD),
        (sec, "intensive faster (verdict)", MATCHED_TIME_METHOD),
        (sec, "growth model", f"{GROWTH_METHOD}; reference protocol {REFERENCE_PROTOCOL}"),
        (sec, "growth model over days", DAY_METHOD),
        (sec, "rounding", "figures are computed unrounded; rounding is for display only"),
    ]


def _disclosure_rows(min_n: int) -> list[MethodsRow]:
    sec = "Disclosure control"
    return [
        (sec, "small cells", suppression_note(min_n)),
        (sec, "formulas", FORMULA_RULE),
    ]


def methods_rows(
    registry: Registry,
    claims_config: Mapping[str, object] | None = None,
    *,
    min_n: int = DEFAULT_MIN_N,
    stamp: SettingsStamp | None = None,
) -> list[MethodsRow]:
    """(section, item, text) rows stating every instrument's figures (from ``registry``), the
    definitions, the statistical methods, each claim threshold in ``claims_config`` (e.g.
    ``ClaimsConfig().to_dict()``) and the disclosure rules for ``min_n``."""
    rows: list[MethodsRow] = []
    for ins in registry:
        rows.extend(_instrument_rows(ins))
    rows.extend(_definition_rows())
    rows.extend(_statistics_rows())
    for key, value in (claims_config or {}).items():
        rows.append(("Claims thresholds", str(key), str(value)))
    if claims_config is not None:
        rows.append(("Claims thresholds", "multiple claims", MULTIPLICITY_RULE))
    if stamp is not None:
        rows.append(("Claims thresholds", "settings stamp", stamp.text()))
        rows.append(("Claims thresholds", "settings SHA-256", stamp.sha256))
    rows.extend(_disclosure_rows(min_n))
    return rows


def methods_info(
    registry: Registry,
    claims_config: Mapping[str, object] | None,
    generated_on: dt.date,
    *,
    min_n: int = DEFAULT_MIN_N,
    stamp: SettingsStamp | None = None,
    source: DataSource | None = None,
    filters: Sequence[str] | None = None,
) -> MethodsInfo:
    """``MethodsInfo`` for this version of ReliefCheck (``analysis.__version__``); ``stamp``
    adds the claim settings' stamp (frozen or not, changed or not) and their SHA-256;
    ``source`` and ``filters`` (each filter in words) open the rows with the data they are of."""
    first: list[MethodsRow] = [] if source is None else source.rows()
    if filters is not None:
        first.extend(filter_rows(filters))
    rows = tuple([*first, *methods_rows(registry, claims_config, min_n=min_n, stamp=stamp)])
    return MethodsInfo(software_version=__version__, generated_on=generated_on, rows=rows)
