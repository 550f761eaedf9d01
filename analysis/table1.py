"""Table 1: baseline characteristics by protocol, from the tidy table.

One tidy row per characteristic × level × protocol (the protocols, then ``All``), with columns
``characteristic, level, instrument, protocol, statistic, n, denominator, pct, mean, sd, median,
q1, q3``. ``statistic`` says which figures the row holds (``n``, ``n (%)``, ``mean (SD)``,
``median (IQR)``); ``analysis.tables.wide_for_display`` turns it into the familiar one column per
protocol view. Rules shared with the per-patient outcomes (``analysis.assessments``):

- a patient's protocol is the protocol of their baseline assessment, else of their first
  assessment; site, route and treatment-resistant status are the first recorded value;
- the baseline is the first scored session-0 assessment in assessment order (session, then day);
- cut-offs, bands and the safety item come from the registry.

Percentages are of the row's ``denominator``; SDs are sample SDs (n − 1); quartiles use linear
interpolation (R ``quantile`` type 7, pandas' default).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.assessments import Assessments, take
from analysis.tables import ResearchTable
from data.errors import AnalysisError
from data.instruments import Instrument, Registry
from data.schema import STRING, item_column

ALL = "All"
"""Label of the all-patients column."""
NOT_RECORDED = "not recorded"
"""Level shown for a patient without a site, route or protocol."""

COLUMNS = [
    "characteristic",
    "level",
    "instrument",
    "protocol",
    "statistic",
    "n",
    "denominator",
    "pct",
    "mean",
    "sd",
    "median",
    "q1",
    "q3",
]
_FIGURES = ("pct", "mean", "sd", "median", "q1", "q3")

NOTES = (
    "Columns: one per protocol (the protocol of the patient's baseline assessment, else of "
    "their first assessment), then All patients.",
    "n (%): patients, as a percentage of the row's denominator (column 'denominator' in the "
    "CSV): all patients for 'assessed', site, route; patients assessed with the instrument for "
    "'baseline'; patients with a baseline for scores, clinical range and severity; patients "
    "with the item answered at baseline for the safety item; patients with a recorded status "
    "for treatment-resistant.",
    "Baseline: the first scored session-0 assessment in assessment order (session, then day).",
    "mean (SD): sample SD (n - 1). median (IQR): quartiles by linear interpolation "
    "(R quantile type 7).",
    "Site, route and treatment-resistant status: the first value recorded for the patient.",
)


def _with_all(code: np.ndarray, n_columns: int) -> np.ndarray:
    """Protocol codes of every row twice: once its own, once All (the last column)."""
    return np.concatenate([code, np.full(len(code), n_columns - 1, dtype=np.int64)])


def _count(code: np.ndarray, n_columns: int) -> np.ndarray:
    return np.bincount(code, minlength=n_columns).astype(np.int64)


def _categorical(
    code: np.ndarray, level: np.ndarray, levels: list[str], columns: list[str]
) -> pd.DataFrame:
    """Patients per level × protocol (every combination, zeros included); the denominator is
    every patient of the protocol."""
    n_col = len(columns)
    lv = pd.Categorical(level, categories=levels).codes.astype(np.int64)
    p, lv = _with_all(code, n_col), np.concatenate([lv, lv])
    counts = np.bincount(lv * n_col + p, minlength=len(levels) * n_col)
    return pd.DataFrame(
        {
            "level": np.repeat(np.asarray(levels, dtype=object), n_col),
            "protocol": np.tile(np.asarray(columns, dtype=object), len(levels)),
            "n": counts.astype(np.int64),
            "denominator": np.tile(_count(p, n_col), len(levels)),
        }
    )


def _binary(code: np.ndarray, flag: np.ndarray, level: str, columns: list[str]) -> pd.DataFrame:
    """Patients with ``flag`` = 1 per protocol; the denominator is those with a known flag
    (NaN = unknown)."""
    n_col = len(columns)
    p = _with_all(code, n_col)
    f = np.concatenate([flag, flag]).astype(float)
    return pd.DataFrame(
        {
            "level": level,
            "protocol": columns,
            "n": _count(p[f == 1.0], n_col),
            "denominator": _count(p[~np.isnan(f)], n_col),
        }
    )


def _summary(code: np.ndarray, values: np.ndarray, level: str, columns: list[str]) -> pd.DataFrame:
    """n, mean, SD (n − 1), median and quartiles of the known values, per protocol."""
    n_col = len(columns)
    p = _with_all(code, n_col)
    v = np.concatenate([values, values]).astype(float)
    keep = ~np.isnan(v)
    grouped = pd.Series(v[keep]).groupby(p[keep])
    stats = pd.DataFrame(
        {
            "mean": grouped.mean(),
            "sd": grouped.std(ddof=1),
            "median": grouped.median(),
            "q1": grouped.quantile(0.25),
            "q3": grouped.quantile(0.75),
        }
    ).reindex(range(n_col))
    stats.insert(0, "n", _count(p[keep], n_col))
    stats.insert(0, "protocol", columns)
    stats.insert(0, "level", level)
    return stats.reset_index(drop=True)


def _block(
    frame: pd.DataFrame, characteristic: str, instrument: str | None, statistic: str
) -> pd.DataFrame:
    out = frame.copy()
    out["characteristic"] = characteristic
    out["instrument"] = instrument
    out["statistic"] = statistic
    if statistic == "n (%)":
        n = out["n"].to_numpy(dtype=float)
        d = out["denominator"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["pct"] = np.where(d > 0, 100.0 * n / d, np.nan)
    return out


def _cut_label(ins: Instrument) -> str:
    """The clinical-range rule in words, as ``Instrument.is_case`` applies it."""
    sign = "≥" if ins.higher_is_worse else "<"
    return f"score {sign} {ins.caseness:g}"


def _instrument_rows(
    a: Assessments, k: int, ins: Instrument, g_code: np.ndarray, columns: list[str]
) -> list[pd.DataFrame]:
    """Rows of one instrument: assessed, baseline, score, clinical range, bands, safety item,
    assessments per patient."""
    sel = a.group_instrument == k
    prot = g_code[sel]
    scored = ~np.isnan(a.score)
    base_pos = a.first(scored & (a.session == 0))[sel]
    has_base = base_pos >= 0
    baseline = take(a.score, base_pos)
    n_assess = np.bincount(a.group, minlength=a.n_groups)[sel]
    key = ins.key
    rows = [
        _block(
            _binary(prot, has_base.astype(float), "patients with a baseline (session 0)", columns),
            f"{key} baseline",
            key,
            "n (%)",
        ),
        _block(
            _summary(prot, baseline, "mean (SD)", columns),
            f"{key} baseline score",
            key,
            "mean (SD)",
        ),
    ]
    base_scores = pd.Series(baseline[has_base])
    base_prot = prot[has_base]
    if ins.caseness is not None:
        case = ins.is_case(base_scores).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        rows.append(
            _block(
                _binary(base_prot, case, _cut_label(ins), columns),
                f"{key} in clinical range at baseline",
                key,
                "n (%)",
            )
        )
    if ins.bands:
        band = ins.severity(base_scores).astype(object).fillna(NOT_RECORDED).to_numpy()
        levels = [label for _, label in ins.bands]
        if (band == NOT_RECORDED).any():
            levels.append(NOT_RECORDED)
        rows.append(
            _block(
                _categorical(base_prot, band, levels, columns),
                f"{key} severity at baseline",
                key,
                "n (%)",
            )
        )
    item = item_column(ins.safety_item) if ins.safety_item else None
    if item is not None and item in a.tidy.columns:
        values = a.tidy[item].to_numpy(dtype="float64", na_value=np.nan)[a.row]
        at_base = take(values, base_pos)[has_base]
        low = ins.item_min if ins.item_min is not None else 0
        flag = np.where(np.isnan(at_base), np.nan, (at_base > low).astype(float))
        rows.append(
            _block(
                _binary(base_prot, flag, f"item {ins.safety_item} ≥ {low + 1:g}", columns),
                f"{key} safety item at baseline",
                key,
                "n (%)",
            )
        )
    rows.append(
        _block(
            _summary(prot, n_assess.astype(float), "median (IQR)", columns),
            f"{key} assessments per patient",
            key,
            "median (IQR)",
        )
    )
    return rows


def _label_column(values: pd.Series) -> np.ndarray:
    return values.astype(object).where(values.notna(), NOT_RECORDED).astype(str).to_numpy()


def _levels(values: np.ndarray) -> list[str]:
    found = sorted(set(pd.unique(values).tolist()) - {NOT_RECORDED})
    return [*found, NOT_RECORDED] if NOT_RECORDED in values else found


def baseline_characteristics(
    tidy: pd.DataFrame, registry: Registry, *, name: str = "table1_baseline"
) -> ResearchTable:
    """Table 1 (SPEC section 1, researcher): baseline characteristics by protocol.

    Rows: patients (n); per instrument present (registry order): patients assessed, with a
    baseline, baseline score mean (SD), in the clinical range at baseline, severity bands,
    the safety item ≥ 1 at baseline (when item columns exist), assessments per patient median
    (IQR); then site, route and treatment-resistant when the table has them. Vectorised: one
    sort of the table (``Assessments.build``), then grouped counts.
    """
    a = Assessments.build(tidy)
    patients = a.patients_frame()
    p_prot = _label_column(patients["protocol"])
    protocols = sorted(set(pd.unique(p_prot).tolist()))
    if ALL in protocols:
        raise AnalysisError(
            f"A protocol is called '{ALL}', the name of Table 1's all-patients column. Rename "
            "that protocol in the export (e.g. 'all-inclusive')."
        )
    columns = [*protocols, ALL]
    p_code = pd.Categorical(p_prot, categories=protocols).codes.astype(np.int64)
    g_code = p_code[a.group_patient]
    blocks = [
        _block(
            _categorical(p_code, np.full(len(p_code), ""), [""], columns), "Patients", None, "n"
        ),
    ]
    found = {registry.get(key).key: k for k, key in enumerate(a.instruments)}
    order = [key for key in registry.keys if key in found]
    for key in order:
        ins = registry.get(key)
        k = found[key]
        assessed = np.zeros(len(p_code))
        assessed[a.group_patient[a.group_instrument == k]] = 1.0
        blocks.append(
            _block(
                _binary(p_code, assessed, "patients with any assessment", columns),
                f"{key} assessed",
                key,
                "n (%)",
            )
        )
        blocks.extend(_instrument_rows(a, k, ins, g_code, columns))
    for col, label in (("site", "Site"), ("route", "Route")):
        if col in patients.columns:
            values = _label_column(patients[col])
            blocks.append(
                _block(_categorical(p_code, values, _levels(values), columns), label, None, "n (%)")
            )
    if "treatment_resistant" in patients.columns:
        tr = (
            patients["treatment_resistant"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        )
        blocks.append(
            _block(_binary(p_code, tr, "yes", columns), "Treatment-resistant", None, "n (%)")
        )
    frame = pd.concat(blocks, ignore_index=True).reindex(columns=COLUMNS)
    frame["n"] = frame["n"].astype(np.int64)
    frame["denominator"] = frame["denominator"].astype("Int64").mask(frame["statistic"] != "n (%)")
    for col in ("characteristic", "level", "instrument", "protocol", "statistic"):
        frame[col] = frame[col].astype(STRING)
    for col in _FIGURES:
        frame[col] = frame[col].astype("float64")
    return ResearchTable(
        name=name,
        title="Table 1. Baseline characteristics by protocol",
        frame=frame,
        notes=NOTES,
        count_cols=("n", "denominator"),
        derived={"n": _FIGURES, "denominator": ("pct",)},
        decimals=dict.fromkeys(_FIGURES, 1),
        pivot=(("characteristic", "level"), "protocol"),
    )
