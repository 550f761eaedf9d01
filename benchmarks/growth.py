"""Time and peak memory of the growth models (SPEC section 5) at 1k, 10k and 100k patients.

Issue target: every analysis figure for 100k patients (about 1.8 million assessments, three
instruments) in under 20 s and 4 GB, so the three growth models together should take a few
seconds at most. The cohort is the demo generator's (data/demo/cohort.py); each size runs in a fresh
process. "session" times ``fit_growth_models`` alone (demo generation excluded), "days" the
day models (``analysis.growth_days.fit_day_models``: three ML fits for the shape choice and one
REML refit per instrument); "peak" is the process's peak resident size including the cohort
itself, "added" what both fits added to it.

"own REML" and "statsmodels MixedLM" fit the same PHQ-9 session model (the design
``fit_growth_models`` builds: score ~ session × protocol + (session | patient), REML), once
by ``analysis.lmm.fit_random_slope`` and once by statsmodels' ``MixedLM`` with its default
optimiser; wall seconds with CPU seconds (user + sys) in brackets, and the largest absolute
difference between their fixed effects. MixedLM is skipped above ``--mixedlm-max`` patients.
Run: ``.venv/bin/python -m benchmarks.growth [--sizes 1000 10000 100000] [--repeat R]
[--mixedlm-max N]``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

from benchmarks.common import measure, print_table


def fit_cohort(n_patients: int, seed: int) -> dict:
    """Generate the demo cohort, fit the session and day models of each instrument, report
    the fits."""
    from analysis.growth import fit_growth_models
    from analysis.growth_days import fit_day_models
    from data.demo.cohort import generate_demo
    from data.instruments import default_registry

    tidy = generate_demo(n_patients=n_patients, seed=seed)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    results = fit_growth_models(tidy)
    fit_seconds = time.perf_counter() - start
    registry = default_registry()
    start = time.perf_counter()
    days = fit_day_models(tidy, registry)
    day_seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "rows": len(tidy),
        "fit_seconds": fit_seconds,
        "day_seconds": day_seconds,
        "added_mb": (after - before) / 1024,
        "day_models": [
            {
                "instrument": r.instrument,
                "shape": r.shape.name if r.shape else None,
                "converged": r.converged,
                "shapes_not_converged": sorted(r.shape_notes),
            }
            for r in days
        ],
        "models": [
            {
                "instrument": r.instrument,
                "n_obs": r.n_obs,
                "converged": r.converged,
                "singular": r.singular,
                "iterations": r.iterations,
            }
            for r in results
        ],
    }


def _phq9_design(tidy) -> tuple:
    """The PHQ-9 session model's y, X, session and patient codes, built as
    ``analysis.growth._fit_one`` builds them (weekly the reference protocol)."""
    import numpy as np
    import pandas as pd

    from analysis.growth import encode, reference_protocol

    enc = encode(tidy)
    code = enc.instruments.index("PHQ-9")
    rows = np.flatnonzero(enc.usable & (enc.instrument == code) & (enc.protocol >= 0))
    patient, _ = pd.factorize(enc.patient[rows])
    proto, present = pd.factorize(enc.protocol[rows])
    labels = [enc.protocols[k] for k in present]
    ref = reference_protocol(labels)
    session, score = enc.time[rows], enc.score[rows]
    indicators = [
        (proto == labels.index(lab)).astype(float) for lab in sorted(labels) if lab != ref
    ]
    X = np.column_stack(
        [np.ones_like(session), session, *indicators, *(session * i for i in indicators)]
    )
    return score, X, session, patient


def compare_mixedlm(n_patients: int, seed: int, with_mixedlm: bool, repeat: int) -> dict:
    """Fit the PHQ-9 session model by our REML (median of ``repeat``) and, when asked, once by
    statsmodels' MixedLM; wall and CPU seconds of each and the largest absolute difference of β."""
    import numpy as np

    from analysis.growth import fit_growth
    from analysis.lmm import fit_random_slope
    from data.demo.cohort import generate_demo

    tidy = generate_demo(n_patients=n_patients, seed=seed)
    y, X, session, patient = _phq9_design(tidy)
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, start = time.process_time(), time.perf_counter()
        own = fit_random_slope(y, X, session, patient)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    product = np.array([fe.estimate for fe in fit_growth(tidy, "PHQ-9").fixed_effects])
    if not np.array_equal(own.beta, product):
        raise RuntimeError("the benchmark's PHQ-9 design differs from fit_growth_models'")
    out = {
        "n_obs": int(y.size),
        "own_seconds": statistics.median(walls),
        "own_cpu": statistics.median(cpus),
        "own_converged": own.converged,
    }
    if with_mixedlm:
        import warnings

        from statsmodels.regression.mixed_linear_model import MixedLM

        exog_re = np.column_stack([np.ones_like(session), session])
        cpu, start = time.process_time(), time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sm = MixedLM(y, X, groups=patient, exog_re=exog_re).fit(reml=True)
        out["mixedlm_seconds"] = time.perf_counter() - start
        out["mixedlm_cpu"] = time.process_time() - cpu
        out["mixedlm_converged"] = bool(sm.converged)
        out["mixedlm_warnings"] = sorted({type(w.message).__name__ for w in caught})
        out["max_beta_diff"] = float(np.max(np.abs(np.asarray(sm.fe_params) - own.beta)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument(
        "--mixedlm-max",
        type=int,
        default=10_000,
        help="time statsmodels' MixedLM only up to this many patients (it is slow)",
    )
    args = ap.parse_args()
    rows = []
    versus = []
    for n in args.sizes:
        runs = [
            measure("benchmarks.growth", "fit_cohort", n, args.seed) for _ in range(args.repeat)
        ]
        extra = runs[0]["extra"]
        models = ", ".join(
            f"{m['instrument']} {m['n_obs']:,} obs"
            + ("" if m["converged"] else " NOT CONVERGED")
            + (" singular" if m["singular"] else "")
            for m in extra["models"]
        )
        shapes = ", ".join(
            f"{m['instrument']} {m['shape']}"
            + ("" if m["converged"] else " NOT CONVERGED")
            + "".join(f" ({k} ML not fitted/converged)" for k in m["shapes_not_converged"])
            for m in extra["day_models"]
        )
        rows.append(
            [
                f"{n:,}",
                f"{extra['rows']:,}",
                f"{statistics.median(r['extra']['fit_seconds'] for r in runs):.2f} s",
                f"{statistics.median(r['extra']['day_seconds'] for r in runs):.2f} s",
                f"{max(r['peak_mb'] for r in runs):.0f} MB",
                f"{max(r['extra']['added_mb'] for r in runs):.0f} MB",
                models,
                shapes,
            ]
        )
        with_mixedlm = n <= args.mixedlm_max
        cmp = measure(
            "benchmarks.growth", "compare_mixedlm", n, args.seed, with_mixedlm, args.repeat
        )["extra"]
        own = f"{cmp['own_seconds']:.2f} s ({cmp['own_cpu']:.2f} s CPU)"
        if not cmp["own_converged"]:
            own += " NOT CONVERGED"
        if with_mixedlm:
            sm = f"{cmp['mixedlm_seconds']:.2f} s ({cmp['mixedlm_cpu']:.2f} s CPU)"
            sm += "" if cmp["mixedlm_converged"] else " NOT CONVERGED"
            sm += "".join(f" {w}" for w in cmp["mixedlm_warnings"])
            ratio = f"{cmp['mixedlm_seconds'] / cmp['own_seconds']:.0f}×"
            diff = f"{cmp['max_beta_diff']:.1e}"
        else:
            sm, ratio, diff = f"skipped (n > {args.mixedlm_max:,})", "", ""
        versus.append([f"{n:,}", f"{cmp['n_obs']:,}", own, sm, ratio, diff])
    print(
        f"fit_growth_models and fit_day_models on the demo cohort, median of {args.repeat} runs, "
        "fresh process each"
    )
    headers = ["patients", "assessments", "session (3 models)", "days (3 models)", "peak"]
    print_table([*headers, "added", "session models", "day-model shapes"], rows)
    print("Target: all analysis figures for 100k patients under 20 s and 4 GB.")
    print()
    print(
        f"PHQ-9 session model, own REML (median of {args.repeat}) against statsmodels MixedLM "
        "(REML, one run), fresh process per size"
    )
    headers = ["patients", "PHQ-9 obs", "own REML", "statsmodels MixedLM", "ratio"]
    print_table([*headers, "max abs Δβ"], versus)


if __name__ == "__main__":
    main()
