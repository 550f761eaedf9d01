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
from analysis.rates import rates_table
from analysis.reference_outputs import summary_references

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


#: Who the SPEC section 7 group figures and rates count (SPEC 6.1): paired = baseline and last
#: observation; the ``*_completers`` keys count patients who reached the planned last session.
POPULATION = "last observation (LOCF): baseline and last post-baseline score"
POPULATION_COMPLETERS = "completers: baseline, planned last session reached, 2+ treatment scores"


def _groups(fig: Figures) -> list[dict]:
    out = fig.outcomes
    rates = fig.rates.set_index(["instrument", "protocol", "population", "flag"]).sort_index()
    eff = fig.effects.set_index(["instrument", "protocol"])
    km = fig.km.set_index(["instrument", "protocol", "scale"])
    keys = ["instrument", "protocol"]
    counts = out.groupby(keys, observed=True, sort=True).agg(
        n_patients=("patient_id", "size"),
        n_with_baseline=("has_baseline", "sum"),
        n_paired=("paired", "sum"),
    )
    # Completers (SPEC 6.1): counts, planned last session, mean change and every rate, the rates
    # from the same ``rates_table`` call as ``analysis.figures._rates`` makes on paired patients.
    has_completers = "completer" in out.columns
    if has_completers:
        done = out["completer"].fillna(False).to_numpy(dtype=bool)
        counts = counts.join(
            out.groupby(keys, observed=True, sort=True).agg(
                n_completers=("completer", "sum"),
                n_left_early=("left_early", "sum"),
                planned_last_session=("planned_last_session", "max"),
            )
        )
        done_rows = out.loc[done, [*keys, "change", *FLAG_COLUMNS]]
        mean_done = done_rows.groupby(keys, observed=True, sort=True)["change"].mean()
        done_rates = rates_table(done_rows, keys, FLAG_COLUMNS, ci_level=fig.config.ci_level)
        done_rates = done_rates.set_index([*keys, "flag"]).sort_index()
    groups = []
    for (ins, prot), c in counts.iterrows():
        g: dict = {
            "instrument": ins,
            "protocol": prot,
            "n_patients": int(c["n_patients"]),
            "n_with_baseline": int(c["n_with_baseline"]),
            "n_paired": int(c["n_paired"]),
            "population": POPULATION,
        }
        if has_completers:
            g["population_completers"] = POPULATION_COMPLETERS
            g["n_completers"] = int(c["n_completers"])
            g["n_left_early"] = int(c["n_left_early"])
            g["planned_last_session"] = num(c["planned_last_session"])
            g["mean_change_completers"] = num(mean_done.get((ins, prot)))
        g["change_mixed_model"] = _mixed_change(fig, ins, prot)
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
            if has_completers:  # fig.rates "completers" are paired patients (last observation)
                key = (ins, prot, flag)
                row = done_rates.loc[key] if key in done_rates.index else None
                g[flag + "_completers"] = _rate_obj(row)
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


def _mixed_change(fig: Figures, ins: str, prot: str) -> dict | None:
    """The headline within-group change: the day model's fitted improvement from baseline to
    the protocol's typical end of treatment, for everyone who started (missing at random);
    None until the growth models are computed."""
    for d in fig.day_models:
        if d.instrument != ins or not d.fitted:
            continue
        for i in d.improvements:
            if i.protocol == prot and i.at == "end_of_treatment":
                return {
                    "day": num(i.day),
                    "estimate": num(i.estimate),
                    "ci": [num(i.ci[0]), num(i.ci[1])],
                    "extrapolated": bool(i.extrapolated),
                    "method": "growth model over days (REML), everyone who started, "
                    "missing assessments taken as missing at random",
                }
    return None


def _comparisons(fig: Figures) -> list[dict]:
    res = []
    for row in fig.comparisons.to_dict("records"):
        c = {
            "instrument": row["instrument"],
            "a": row["a"],
            "b": row["b"],
            "n_a": int(row["n_a"]),
            "n_b": int(row["n_b"]),
            "g_change": num(row["g_change"]),
            "g_change_ci": [num(row["g_change_ci_lo"]), num(row["g_change_ci_hi"])],
            "mean_diff": num(row["mean_diff"]),
            "mean_diff_ci": [num(row["mean_diff_ci_lo"]), num(row["mean_diff_ci_hi"])],
            "welch_p": num(row["welch_p"]),
            "logrank_chi2": num(row["logrank_chi2"]),
            "logrank_p": num(row["logrank_p"]),
            "logrank_scale": row["logrank_scale"],
            "population": "paired (baseline and last observation)",
        }
        c["adjusted"] = _adjusted(row, fig.balance.get((row["instrument"], row["a"], row["b"])))
        for key in [
            k[: -len("_mean_diff")] for k in row if k.endswith("_mean_diff") and k.startswith("day")
        ]:
            c[f"matched_{key}"] = {
                "n_a": num(row[f"{key}_n_a"]),
                "n_b": num(row[f"{key}_n_b"]),
                "mean_diff": num(row[f"{key}_mean_diff"]),
                "ci": [num(row[f"{key}_mean_diff_ci_lo"]), num(row[f"{key}_mean_diff_ci_hi"])],
                "welch_p": num(row[f"{key}_welch_p"]),
            }
        res.append(c)
    return res


def _adjusted(row: dict, balance: object) -> dict:
    """The overlap-weighted comparison beside the raw one (analysis.balance)."""
    out = {
        "method": "overlap weights from a logistic propensity model; weighted regression on "
        "protocol and the same covariates; HC3 robust CI",
        "mean_diff": num(row.get("adjusted_diff")),
        "ci": [num(row.get("adjusted_diff_ci_lo")), num(row.get("adjusted_diff_ci_hi"))],
        "p": num(row.get("adjusted_p")),
        "e_value": num(row.get("e_value")),
        "e_value_ci": num(row.get("e_value_ci")),
        "max_abs_smd_raw": num(row.get("max_abs_smd_raw")),
        "max_abs_smd_weighted": num(row.get("max_abs_smd_weighted")),
        "note": row.get("adjustment_note") or None,
    }
    if balance is not None and not isinstance(balance, str):
        d = balance.to_dict()
        out["covariates"] = d["covariates"]
        out["balance"] = d["balance"]
        out["effective_n"] = [num(d["ess_a"]), num(d["ess_b"])]
    return out


def _models(fig: Figures) -> list[dict]:
    """SPEC's session models, each with the day model of its instrument beside it under
    ``day_model`` (the model the protocol contrasts should be read from; docs/growth.md)."""
    days = {d.instrument: d.to_dict() for d in fig.day_models}
    out = []
    for m in fig.models:
        entry = m.to_dict()
        if m.instrument in days:
            entry["day_model"] = days[m.instrument]
        out.append(entry)
    return out


def summary_json(fig: Figures, *, benchmarks=None) -> dict:
    """SPEC section 7's summary object (percentages 0–100, unrounded). ``references``: the
    published benchmarks beside the practice's figures (``analysis.references``; the built-in
    benchmark file when ``benchmarks`` is None)."""
    return {
        "schema": SCHEMA,
        "software": {"name": "ReliefCheck", "version": __version__},
        "groups": _groups(fig),
        "comparisons": _comparisons(fig),
        "models": _models(fig),
        "claims": [c.to_dict() for c in fig.claims],
        "claims_config": fig.config.to_dict(),
        "settings": fig.stamp().to_dict(),
        "references": summary_references(fig, benchmarks),
    }


def summary_long(summary: dict) -> pd.DataFrame:
    """The summary as one long table (the CSV form): one figure per row with its n, of, CI.

    Columns: section, instrument, protocol, figure, value, n, of, ci_lo, ci_hi.
    """
    rows: list[dict] = []

    def add(section, ins, prot, figure, value, n=None, of=None, ci=(None, None)):
        rows.append(
            {
                "section": section,
                "instrument": ins,
                "protocol": prot,
                "figure": figure,
                "value": value,
                "n": n,
                "of": of,
                "ci_lo": ci[0],
                "ci_hi": ci[1],
            }
        )

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
        adj = c.get("adjusted") or {}
        ci = adj.get("ci") or [None, None]
        add(
            "comparison",
            c["instrument"],
            prot,
            "mean_diff_adjusted",
            adj.get("mean_diff"),
            c["n_a"],
            c["n_b"],
            ci,
        )
        add("comparison", c["instrument"], prot, "e_value", adj.get("e_value"))
        add("comparison", c["instrument"], prot, "max_abs_smd_raw", adj.get("max_abs_smd_raw"))
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
    if summary.get("settings"):
        add("settings", None, None, summary["settings"]["text"], None)
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
    for r in summary.get("references") or ():
        if r.get("reference_id") is None:
            continue
        where = f"{r['claim']}: {r['reference_id']}"
        ci = (r.get("practice_ci_lo"), r.get("practice_ci_hi"))
        add(
            "reference",
            r["instrument"],
            None,
            f"{where} practice",
            r["practice_value"],
            r["practice_n"],
            r["practice_of"],
            ci,
        )
        add("reference", r["instrument"], None, f"{where} reference", r["reference_value"])
        dci = (r.get("difference_ci_lo"), r.get("difference_ci_hi"))
        add(
            "reference",
            r["instrument"],
            None,
            f"{where} difference",
            r["difference"],
            r["practice_n"],
            r["practice_of"],
            dci,
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
