"""The machine-readable summary (SPEC section 7): ``reliefcheck.summary/1`` JSON and its long
CSV form. Keys listed in the spec are always present; more keys are added beside them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis import __version__
from analysis.figures import Figures
from analysis.outcomes import FLAG_COLUMNS

SCHEMA = "reliefcheck.summary/1"
GROUP_FIGURES = (
    "baseline_mean",
    "baseline_sd",
    "eot_mean",
    "eot_sd",
    "mean_change",
    "d_z",
    "d_av",
    "g_av",
    "d_rm",
)


def num(x: object) -> float | int | None:
    """JSON number: NaN, None and <NA> become null; numpy scalars become Python numbers."""
    if x is None or x is pd.NA:
        return None
    if isinstance(x, bool | np.bool_):
        return bool(x)
    if isinstance(x, int | np.integer):
        return int(x)
    try:
        f = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def _rate_obj(row: pd.Series | None) -> dict:
    if row is None:
        return {"n": 0, "of": 0, "pct": None, "ci": [None, None]}
    return {
        "n": int(row["numerator"]),
        "of": int(row["denominator"]),
        "pct": num(row["pct"]),
        "ci": [num(row["ci_lo"]), num(row["ci_hi"])],
    }


def _groups(fig: Figures) -> list[dict]:
    out = fig.outcomes
    rates = fig.rates.set_index(["instrument", "protocol", "population", "flag"]).sort_index()
    eff = fig.effects.set_index(["instrument", "protocol"])
    km = fig.km.set_index(["instrument", "protocol", "scale"])
    counts = out.groupby(["instrument", "protocol"], observed=True, sort=True).agg(
        n_patients=("patient_id", "size"),
        n_with_baseline=("has_baseline", "sum"),
        n_paired=("paired", "sum"),
    )
    groups = []
    for (ins, prot), c in counts.iterrows():
        g: dict = {"instrument": ins, "protocol": prot, "n_patients": int(c["n_patients"]),
                   "n_with_baseline": int(c["n_with_baseline"]), "n_paired": int(c["n_paired"])}  # fmt: skip
        e = eff.loc[(ins, prot)] if (ins, prot) in eff.index else None
        for key in GROUP_FIGURES:
            g[key] = num(e[key]) if e is not None else None
        g["d_z_ci"] = [num(e["d_z_ci_lo"]), num(e["d_z_ci_hi"])] if e is not None else [None, None]
        g["g_av_ci"] = (
            [num(e["g_av_ci_lo"]), num(e["g_av_ci_hi"])] if e is not None else [None, None]
        )
        g["r_baseline_eot"] = num(e["r"]) if e is not None else None
        g["g_av_ci_method"] = f"BCa bootstrap, {fig.n_boot} resamples" if fig.n_boot else None
        for flag in FLAG_COLUMNS:
            for denom, suffix in (("completers", ""), ("all starters", "_all_starters")):
                key = (ins, prot, denom, flag)
                g[flag + suffix] = _rate_obj(rates.loc[key] if key in rates.index else None)
        for scale in ("sessions", "days"):
            k = (ins, prot, scale)
            row = km.loc[k] if k in km.index else None
            g[f"median_{scale}_to_reliable_improvement"] = (
                num(row["median"]) if row is not None else None
            )
            g[f"median_{scale}_to_reliable_improvement_ci"] = (
                [num(row["median_ci_lo"]), num(row["median_ci_hi"])]
                if row is not None
                else [None, None]
            )
        groups.append(g)
    return groups


def _comparisons(fig: Figures) -> list[dict]:
    res = []
    for row in fig.comparisons.to_dict("records"):
        c = {"instrument": row["instrument"], "a": row["a"], "b": row["b"],
             "n_a": int(row["n_a"]), "n_b": int(row["n_b"]),
             "g_change": num(row["g_change"]), "g_change_ci": [num(row["g_change_ci_lo"]), num(row["g_change_ci_hi"])],
             "mean_diff": num(row["mean_diff"]), "mean_diff_ci": [num(row["mean_diff_ci_lo"]), num(row["mean_diff_ci_hi"])],
             "welch_p": num(row["welch_p"]), "logrank_chi2": num(row["logrank_chi2"]),
             "logrank_p": num(row["logrank_p"]), "logrank_scale": row["logrank_scale"]}  # fmt: skip
        for key in [
            k[: -len("_mean_diff")] for k in row if k.endswith("_mean_diff") and k.startswith("day")
        ]:
            c[f"matched_{key}"] = {
                "n_a": num(row[f"{key}_n_a"]), "n_b": num(row[f"{key}_n_b"]),
                "mean_diff": num(row[f"{key}_mean_diff"]),
                "ci": [num(row[f"{key}_mean_diff_ci_lo"]), num(row[f"{key}_mean_diff_ci_hi"])],
                "welch_p": num(row[f"{key}_welch_p"]),
            }  # fmt: skip
        res.append(c)
    return res


def summary_json(fig: Figures) -> dict:
    """SPEC section 7's summary object (percentages 0–100, unrounded)."""
    return {
        "schema": SCHEMA,
        "software": {"name": "ReliefCheck", "version": __version__},
        "groups": _groups(fig),
        "comparisons": _comparisons(fig),
        "models": [m.to_dict() for m in fig.models],
        "claims": [c.to_dict() for c in fig.claims],
        "claims_config": fig.config.to_dict(),
    }


def summary_long(summary: dict) -> pd.DataFrame:
    """The summary as one long table (the CSV form): one figure per row with its n, of, CI.

    Columns: section, instrument, protocol, figure, value, n, of, ci_lo, ci_hi.
    """
    rows: list[dict] = []

    def add(section, ins, prot, figure, value, n=None, of=None, ci=(None, None)):
        rows.append({"section": section, "instrument": ins, "protocol": prot, "figure": figure,
                     "value": value, "n": n, "of": of, "ci_lo": ci[0], "ci_hi": ci[1]})  # fmt: skip

    for g in summary["groups"]:
        ins, prot = g["instrument"], g["protocol"]
        for key in ("n_patients", "n_with_baseline", "n_paired"):
            add("group", ins, prot, key, g[key], n=g[key])  # n: small counts get suppressed
        for key in GROUP_FIGURES:
            ci = g.get(f"{key}_ci", (None, None))
            add("group", ins, prot, key, g[key], n=g["n_paired"], ci=ci)
        for key, v in g.items():
            if isinstance(v, dict) and "of" in v:
                add("rate", ins, prot, key + "_pct", v["pct"], v["n"], v["of"], v["ci"])
        for scale in ("sessions", "days"):
            k = f"median_{scale}_to_reliable_improvement"
            add("survival", ins, prot, k, g[k], n=g["n_paired"], ci=g[f"{k}_ci"])
    for c in summary["comparisons"]:
        prot = f"{c['a']} vs {c['b']}"
        add(
            "comparison",
            c["instrument"],
            prot,
            "g_change",
            c["g_change"],
            c["n_a"],
            c["n_b"],
            c["g_change_ci"],
        )
        add(
            "comparison",
            c["instrument"],
            prot,
            "mean_diff",
            c["mean_diff"],
            c["n_a"],
            c["n_b"],
            c["mean_diff_ci"],
        )
        add("comparison", c["instrument"], prot, "welch_p", c["welch_p"])
        add(
            "comparison",
            c["instrument"],
            prot,
            f"logrank_chi2_{c['logrank_scale']}",
            c["logrank_chi2"],
        )
        add("comparison", c["instrument"], prot, f"logrank_p_{c['logrank_scale']}", c["logrank_p"])
    for m in summary["models"]:
        for name, fe in (m.get("fixed_effects") or {}).items():
            add(
                "model",
                m["instrument"],
                None,
                name,
                fe.get("estimate"),
                ci=(fe.get("ci") or [None, None]),
            )
            add("model", m["instrument"], None, name + "_se", fe.get("se"))
    for cl in summary["claims"]:
        add(
            "claim",
            cl["instrument"],
            cl.get("group"),
            f"{cl['id']}: {cl['verdict']}",
            cl["estimate"],
            cl["n"],
            ci=cl["ci"],
        )
    return pd.DataFrame(
        rows,
        columns=[
            "section",
            "instrument",
            "protocol",
            "figure",
            "value",
            "n",
            "of",
            "ci_lo",
            "ci_hi",
        ],
    )
