"""Multiplicity control of the claims scorecard: one primary claim, the rest exploratory.

A scorecard tests many claims on many instruments. Each test on its own says "supported" wrongly
at most 2.5% of the time (one-sided; the lower end of a 95% CI clearing the threshold), but with
16 tests the chance that at least one of them does is far higher. So, as in a pre-registered
trial:

- **the primary claim** (``ClaimsConfig.primary_claim`` on ``primary_instrument``; by default
  large-improvement on PHQ-9) is tested at α = (1 − ``ci_level``) / 2 = 2.5%, exactly as before;
- **every other tested claim is exploratory**: their one-sided p-values are adjusted together by
  Holm's step-down procedure (Holm 1979; ``statsmodels.stats.multitest.multipletests(method=
  "holm")``, R ``p.adjust(method = "holm")``; ``holm`` below) and a claim is ``supported`` only when its adjusted
  p is at most α.

The chance of any false ``supported`` on the whole scorecard is then at most α + α = 5%
(Bonferroni over the two families; Holm keeps its family at α whatever the dependence between
the tests). Only ``supported`` is adjusted: a claim that loses it becomes ``inconclusive`` and
says why; ``not supported`` and ``inconclusive`` stand as each test gave them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from analysis.claims.config import INCONCLUSIVE, SUPPORTED, ClaimsConfig
from analysis.claims.verdicts import ClaimResult

PRIMARY, EXPLORATORY = "primary", "exploratory"
#: The rule in words, for the Methods sheet and the dashboard.
RULE = (
    "One primary claim (primary_claim on primary_instrument) is tested at one-sided α = "
    "(1 − ci_level) / 2; every other tested claim is exploratory: their one-sided p-values are "
    "adjusted together by Holm's method and a claim is supported only when its adjusted p is at "
    "most α. The chance of any false supported on the scorecard is at most 2α (5% with 95% "
    "intervals). Only supported is adjusted; a claim that loses it becomes inconclusive."
)
#: Room for floating point at the boundary: the Wilson bound and the score test agree exactly in
#: theory, and a p equal to α up to rounding counts as reaching it.
_TOL = 1e-12


def one_sided_alpha(cfg: ClaimsConfig) -> float:
    """α of every claim's one-sided test: (1 − ``ci_level``) / 2 (2.5% for 95% intervals)."""
    return (1.0 - cfg.ci_level) / 2.0


def is_primary(result: ClaimResult, cfg: ClaimsConfig) -> bool:
    """True for the result of the configured primary claim on the primary instrument."""
    return result.id == cfg.primary_claim and (result.instrument or "") == cfg.primary_instrument


def _has_test(result: ClaimResult) -> bool:
    return result.p_value is not None and bool(np.isfinite(result.p_value))


def _settle(result: ClaimResult, role: str, p_adj: float, alpha: float, m: int) -> ClaimResult:
    """The result with its role, adjusted p and final verdict (a caveat says what changed)."""
    own = result.verdict
    final = own
    caveats = result.caveats
    if own == SUPPORTED and p_adj > alpha + _TOL:
        final = INCONCLUSIVE
        caveats = (
            *caveats,
            f"Multiple claims: on its own this test would say supported (p = {result.p_value:.3g}),"
            f" but it is one of {m} exploratory tests; after Holm's adjustment p = {p_adj:.3g}, "
            f"above {alpha:.3g}, so the verdict is inconclusive.",
        )
    return replace(
        result, verdict=final, verdict_unadjusted=own, role=role, p_adjusted=p_adj, caveats=caveats
    )


def holm(pvals: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979), in the order given: sorted ascending,
    p_(i) × (m − i + 1), a running maximum, capped at 1. Reproduces R ``p.adjust(p, "holm")``
    and ``statsmodels.stats.multitest.multipletests(p, method="holm")[1]`` (tested against
    both); written out because statsmodels' version forces a full garbage collection on every
    call, which costs tens of milliseconds in a dashboard process holding large tables."""
    p = np.asarray(pvals, dtype=float)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * np.arange(p.size, 0, -1))
    out = np.empty_like(p)
    out[order] = np.minimum(stepped, 1.0)
    return out


def control_multiplicity(
    results: list[ClaimResult] | tuple[ClaimResult, ...], cfg: ClaimsConfig
) -> list[ClaimResult]:
    """The scorecard with the primary claim tested at α and the other tested claims Holm-adjusted
    as one exploratory family (module docstring). Results without a test (``not testable``,
    ``reported``) pass through unchanged; the order is kept."""
    alpha = one_sided_alpha(cfg)
    out = list(results)
    tested = [i for i, r in enumerate(out) if _has_test(r)]
    primary = next((i for i in tested if is_primary(out[i], cfg)), None)
    family = [i for i in tested if i != primary]
    if primary is not None:
        r = out[primary]
        out[primary] = _settle(r, PRIMARY, float(r.p_value), alpha, len(family))
    if family:
        adjusted = holm(np.array([out[i].p_value for i in family], dtype=float))
        for i, p_adj in zip(family, adjusted, strict=True):
            out[i] = _settle(out[i], EXPLORATORY, float(p_adj), alpha, len(family))
    return out
