"""Bias-corrected and accelerated (BCa) bootstrap for paired, moment-based effect sizes.

Used for the confidence interval of g_av (SPEC section 5). The statistic must depend on the
patients only through the baseline and end-of-treatment means and variances, which lets the
bootstrap run on resample counts and a matrix product instead of re-scoring every resample,
and the jackknife run in closed form from sums.

Method: Efron & Tibshirani (1993), *An Introduction to the Bootstrap*, ch. 14.3 and eq. 14.15;
the same estimator as ``scipy.stats.bootstrap(method="BCa")`` (bias correction counts ties as
half, quantiles by linear interpolation) and, up to that tie rule and the quantile rule,
R ``boot::boot.ci(type = "bca")``.

Drawing the resamples: a resample of n patients drawn with replacement is described fully, for
a moment statistic, by how many times each distinct (baseline, EOT) pair was drawn. Scores on
the practice's scales are whole numbers, so a large practice has far fewer distinct pairs (K)
than patients (n). From ``LARGE_SAMPLE`` patients, when each pair holds on average at least
``PAIRS_PER_PATIENT_DRAW`` patients, the counts per pair are drawn directly, as one multinomial
draw of n over the K pairs with their shares as probabilities: the same distribution as drawing
the patients one by one, at a cost near K instead of n per resample. Otherwise the patients are
drawn one by one, ``rng.integers(0, n, (B, n))``: as 64-bit indices under ``LARGE_SAMPLE``
patients, the very stream ``scipy.stats.bootstrap`` draws; as 32-bit indices (twice as fast)
from there. Every way takes its draws from one generator seeded with ``seed``, so a run is
reproducible; the ways give different resamples from the same seed, equal in distribution.

Zero spread: a resample in which every chosen patient has the same baseline score and the same
end-of-treatment score has no spread, so a standardised effect is undefined for it. Such
resamples are dropped, counted in ``n_dropped``, and the interval is taken over the rest. The
interval is NaN when fewer than ``MIN_N_BOOTSTRAP`` patients are given, when the full sample's
own statistic is undefined, when leaving one patient out leaves no spread (the jackknife is then
undefined), or when the resamples do not straddle the estimate at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

DEFAULT_SEED = 20130101
"""Fixed seed so that every run on the same data gives the same interval."""

DEFAULT_N_BOOT = 2000
MIN_N_BOOTSTRAP = 4
"""Fewest paired patients for a bootstrap interval: the jackknife's leave-one-out samples then
have 3 patients, the fewest for which g_av is defined (its small-sample factor is 0 at 2)."""

MEMORY_BUDGET_BYTES = 64 * 2**20
"""Upper bound on the working memory of one chunk of resamples."""

PAIRS_PER_PATIENT_DRAW = 16
"""Counts per distinct (baseline, EOT) pair are drawn instead of patients one by one when the
patients number at least this many times the distinct pairs. numpy draws a multinomial as one
binomial per pair, and a binomial with a small expected count costs about as much as drawing
that many patients, so the multinomial only wins when each pair holds many patients (measured
with numpy 2: at 50,000 patients on 540 pairs it is ten times faster, at 22,000 patients on
3,300 pairs slower)."""

LARGE_SAMPLE = 2000
"""From this many patients the resamples are drawn the faster ways: by pairs (see
``PAIRS_PER_PATIENT_DRAW``) or as 32-bit patient indices. Below, the patients are drawn one by
one as 64-bit indices, cheap at that size and the very stream ``scipy.stats.bootstrap`` draws,
which the tests check against."""

# Room per resampled patient beside its index, for the exact zero-spread check, which copies
# the indices and gathers the chosen scores of an eighth of a chunk at a time.
_BYTES_PER_DRAW_EXTRA = 2
#: Resampled patients counted at a time; small enough for the counts to stay in the CPU cache.
_COUNT_BATCH = 2**14
# index with offsets, int64 counts and float64 counts per patient of one counting batch
_BYTES_PER_BATCH_SLOT = 24

MomentStatistic = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]
"""f(mean_baseline, var_baseline, mean_eot, var_eot, n) -> statistic, vectorised over arrays.

Variances are sample variances (ddof = 1). It returns NaN or ±inf where it is undefined."""


@dataclass(frozen=True)
class BootstrapInterval:
    """A BCa interval and the facts needed to report it."""

    lo: float
    hi: float
    n_used: int
    n_dropped: int
    bias_correction: float
    acceleration: float


def _nan_interval(n_used: int = 0, n_dropped: int = 0) -> BootstrapInterval:
    return BootstrapInterval(
        lo=np.nan,
        hi=np.nan,
        n_used=n_used,
        n_dropped=n_dropped,
        bias_correction=np.nan,
        acceleration=np.nan,
    )


def chunk_rows(n: int, memory_budget: int = MEMORY_BUDGET_BYTES, index_bytes: int = 8) -> int:
    """Resamples per chunk so one chunk of n-patient resamples (indices of ``index_bytes``
    each) stays within the budget."""
    n = max(n, 1)
    room = memory_budget - _BYTES_PER_BATCH_SLOT * max(n, _COUNT_BATCH)
    return max(1, int(room // ((index_bytes + _BYTES_PER_DRAW_EXTRA) * n)))


def _exact_zero_rows(idx: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each row of resample indices, whether every chosen patient has the same value."""
    chosen = values[idx]
    return chosen.min(axis=1) == chosen.max(axis=1)


def _weighted_sums(idx: np.ndarray, columns_t: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = Σ_j columns_t[:, idx[i, j]]``: per-patient counts of each resample (a few
    resamples at a time, so the counts stay in the CPU cache) times the patients' columns."""
    n = columns_t.shape[1]
    per_batch = max(1, _COUNT_BATCH // n)
    offsets = (np.arange(per_batch, dtype=np.int64) * n)[:, None]
    for first in range(0, idx.shape[0], per_batch):
        part = idx[first : first + per_batch]
        k = part.shape[0]
        flat = (part + offsets[:k] if k > 1 else part).ravel()
        counts = np.bincount(flat, minlength=k * n).reshape(k, n).astype(np.float64)
        out[first : first + k] = (columns_t @ counts.T).T


def _zero_tolerance(centred: np.ndarray) -> float:
    """Summed squares below this might be rounding noise around an exact zero and are re-checked
    exactly (the worst-case rounding bound of the sums, with room to spare)."""
    n = centred.size
    return (
        8.0 * n * n * np.finfo(float).eps * float(np.max(centred * centred)) + np.finfo(float).tiny
    )


def _sums_by_patient(
    values: tuple[np.ndarray, np.ndarray],
    columns_t: np.ndarray,
    tols: tuple[float, float],
    n_boot: int,
    rng: np.random.Generator,
    memory_budget: int,
    index_type: type = np.int64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resample sums of ``columns_t`` drawing the patients one by one (indices of
    ``index_type``), and which resamples have no spread in baseline or EOT (exactly)."""
    n = columns_t.shape[1]
    rows = chunk_rows(n, memory_budget, np.dtype(index_type).itemsize)
    sums = np.empty((n_boot, 4))
    zeros = (np.zeros(n_boot, dtype=bool), np.zeros(n_boot, dtype=bool))
    for start in range(0, n_boot, rows):
        m = min(rows, n_boot - start)
        idx = rng.integers(0, n, size=(m, n), dtype=index_type)
        chunk = sums[start : start + m]
        _weighted_sums(idx, columns_t, chunk)
        for col, vals, tol, zero in zip((0, 2), values, tols, zeros, strict=True):
            if np.ptp(vals) == 0:
                zero[start : start + m] = True  # every patient has the same score
                continue
            ss = chunk[:, col + 1] - chunk[:, col] ** 2 / n
            suspect = np.flatnonzero(ss <= tol)
            step = max(1, m // 8)
            for first in range(0, suspect.size, step):
                batch = suspect[first : first + step]
                zero[start + batch] = _exact_zero_rows(idx[batch], vals)
        del idx  # free before the next chunk is drawn, so chunks never overlap in memory
    return sums, zeros[0], zeros[1]


def _sums_by_pair(
    pairs: np.ndarray,
    counts: np.ndarray,
    columns_t: np.ndarray,
    tols: tuple[float, float],
    n_boot: int,
    rng: np.random.Generator,
    memory_budget: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resample sums of ``columns_t`` (one column per distinct pair) drawing how many of the n
    patients land on each distinct pair, multinomial with the pairs' shares; and which
    resamples have no spread in baseline or EOT (exactly: one distinct value drawn)."""
    n = int(counts.sum())
    k = counts.size
    share = counts / n
    rows = max(1, memory_budget // (16 * k))  # int64 counts and their float64 copy
    sums = np.empty((n_boot, 4))
    zeros = (np.zeros(n_boot, dtype=bool), np.zeros(n_boot, dtype=bool))
    for start in range(0, n_boot, rows):
        m = min(rows, n_boot - start)
        drawn = rng.multinomial(n, share, size=m)
        chunk = sums[start : start + m]
        chunk[:] = drawn.astype(np.float64) @ columns_t.T
        for col, vals, tol, zero in zip((0, 2), pairs.T, tols, zeros, strict=True):
            ss = chunk[:, col + 1] - chunk[:, col] ** 2 / n
            suspect = np.flatnonzero(ss <= tol)
            if suspect.size:
                present = drawn[suspect] > 0
                low = np.where(present, vals, np.inf).min(axis=1)
                high = np.where(present, vals, -np.inf).max(axis=1)
                zero[start + suspect] = low == high
        del drawn
    return sums, zeros[0], zeros[1]


def resample_moments(
    baseline: np.ndarray,
    eot: np.ndarray,
    n_boot: int,
    seed: int,
    memory_budget: int = MEMORY_BUDGET_BYTES,
    *,
    by_pairs: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Means and sample variances of baseline and EOT in ``n_boot`` paired resamples.

    Patients are drawn with replacement as pairs, from one generator seeded with ``seed`` (the
    draws do not depend on the chunk size): one by one, or as counts per distinct pair when
    there are at least ``LARGE_SAMPLE`` patients and ``PAIRS_PER_PATIENT_DRAW`` patients
    per distinct pair (``by_pairs`` forces either way). The counts are multiplied with [b, b², e, e²] on data centred at the
    sample means. A variance that is zero in exact arithmetic is returned as exactly 0.
    """
    n = baseline.size
    centre_b, centre_e = baseline.mean(), eot.mean()
    cb, ce = baseline - centre_b, eot - centre_e
    tols = (_zero_tolerance(cb), _zero_tolerance(ce))
    rng = np.random.default_rng(seed)
    pairs, counts = np.unique(np.column_stack([baseline, eot]), axis=0, return_counts=True)
    if by_pairs is None:
        by_pairs = n >= max(LARGE_SAMPLE, PAIRS_PER_PATIENT_DRAW * counts.size)
    index_type = np.uint32 if n >= LARGE_SAMPLE else np.int64
    if by_pairs:
        pb, pe = pairs[:, 0] - centre_b, pairs[:, 1] - centre_e
        columns_t = np.vstack([pb, pb * pb, pe, pe * pe])
        sums, zero_b, zero_e = _sums_by_pair(
            pairs, counts, columns_t, tols, n_boot, rng, memory_budget
        )
    else:
        columns_t = np.vstack([cb, cb * cb, ce, ce * ce])
        sums, zero_b, zero_e = _sums_by_patient(
            (baseline, eot), columns_t, tols, n_boot, rng, memory_budget, index_type
        )
    mean_b = centre_b + sums[:, 0] / n
    mean_e = centre_e + sums[:, 2] / n
    var_b = np.clip(sums[:, 1] - sums[:, 0] ** 2 / n, 0.0, None) / (n - 1)
    var_e = np.clip(sums[:, 3] - sums[:, 2] ** 2 / n, 0.0, None) / (n - 1)
    var_b[zero_b] = 0.0
    var_e[zero_e] = 0.0
    return mean_b, var_b, mean_e, var_e


def _loo_exact_zero(values: np.ndarray) -> np.ndarray:
    """Whether leaving out patient i leaves every other patient with the same value."""
    distinct, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    if distinct.size == 1:
        return np.ones(values.size, dtype=bool)
    if distinct.size == 2:
        return counts[inverse] == 1
    return np.zeros(values.size, dtype=bool)


def jackknife_moments(
    baseline: np.ndarray, eot: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Leave-one-out means and sample variances (n - 1 patients each), in closed form.

    mean_(-i) = (S - x_i) / (n - 1); var_(-i) = (Q - x_i² - (n - 1)·mean_(-i)²) / (n - 2),
    with S and Q the sums and sums of squares of the data centred at the full-sample mean.
    """
    n = baseline.size
    out = []
    for values in (baseline, eot):
        centre = values.mean()
        c = values - centre
        s, q = c.sum(), (c * c).sum()
        loo_mean_c = (s - c) / (n - 1)
        loo_var = np.clip(q - c * c - (n - 1) * loo_mean_c**2, 0.0, None) / (n - 2)
        loo_var[_loo_exact_zero(values)] = 0.0
        out.extend([centre + loo_mean_c, loo_var])
    return out[0], out[1], out[2], out[3]


def bca_interval(
    estimate: float, boot: np.ndarray, jack: np.ndarray, ci_level: float
) -> tuple[float, float, float, float]:
    """BCa interval from bootstrap and jackknife values (Efron & Tibshirani 1993, eq. 14.15).

    z0 = Φ⁻¹((#{θ* < θ̂} + #{θ* ≤ θ̂}) / 2B); a = Σ(θ̄ − θ₍ᵢ₎)³ / (6·(Σ(θ̄ − θ₍ᵢ₎)²)^1.5);
    the ends are the linear-interpolation quantiles of θ* at
    Φ(z0 + (z0 + z_α) / (1 − a·(z0 + z_α))) for α = (1 − ci)/2 and 1 − α.
    Returns (lo, hi, z0, a); NaN where undefined.
    """
    if boot.size < 2 or not np.isfinite(estimate) or not np.all(np.isfinite(jack)):
        return np.nan, np.nan, np.nan, np.nan
    below = np.count_nonzero(boot < estimate) + np.count_nonzero(boot <= estimate)
    z0 = float(ndtri(below / (2.0 * boot.size)))
    dev = jack.mean() - jack
    spread = float(np.sum(dev**2))
    if not np.isfinite(z0) or spread == 0.0:
        return np.nan, np.nan, z0, np.nan
    a = float(np.sum(dev**3) / (6.0 * spread**1.5))
    z = ndtri(np.array([(1.0 - ci_level) / 2.0, (1.0 + ci_level) / 2.0]))
    levels = ndtr(z0 + (z0 + z) / (1.0 - a * (z0 + z)))
    lo, hi = np.quantile(boot, levels)
    return float(lo), float(hi), z0, a


def paired_bca(
    baseline: np.ndarray,
    eot: np.ndarray,
    statistic: MomentStatistic,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
    ci_level: float = 0.95,
    memory_budget: int = MEMORY_BUDGET_BYTES,
) -> BootstrapInterval:
    """BCa interval for a moment-based statistic of paired baseline / EOT scores.

    ``baseline`` and ``eot`` are complete pairs (no missing values). Resamples whose statistic
    is not finite (no spread) are dropped and counted.
    """
    n = baseline.size
    if n < MIN_N_BOOTSTRAP or n_boot < 1:
        return _nan_interval()
    full = statistic(
        np.array([baseline.mean()]),
        np.array([baseline.var(ddof=1)]) * (np.ptp(baseline) > 0),
        np.array([eot.mean()]),
        np.array([eot.var(ddof=1)]) * (np.ptp(eot) > 0),
        n,
    )
    estimate = float(full[0])
    if not np.isfinite(estimate):
        return _nan_interval()  # nothing to resample: the sample itself has no spread
    boot = statistic(*resample_moments(baseline, eot, n_boot, seed, memory_budget), n)
    kept = boot[np.isfinite(boot)]
    n_dropped = int(n_boot - kept.size)
    jack = statistic(*jackknife_moments(baseline, eot), n - 1)
    lo, hi, z0, a = bca_interval(estimate, kept, jack, ci_level)
    return BootstrapInterval(
        lo=lo, hi=hi, n_used=int(kept.size), n_dropped=n_dropped, bias_correction=z0, acceleration=a
    )
