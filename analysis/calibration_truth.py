"""Exact probabilities under calibration's model (``analysis.calibration_sim``): the chance that
a patient's simulated score meets a claim's rule, so a scenario's truth can be set exactly and
the rate a verdict should reach can be computed without simulation error.

Under the model a later score on the x scale is normal before rounding and clipping:
x ~ N(x_i (1 − φ g), 2 SEM² + (s x_i g)²), and two later scores of one patient share the
baseline error u_i and the patient's gain D_i. An observed (rounded) x is at most a whole number
K exactly when the unrounded x is below K + ½.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize, special

from analysis.outcomes import _TOL as OUTCOME_TOL  # the rules' tolerance for prorated scores

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(96)


def upper_edge(limit: np.ndarray, integer: bool) -> np.ndarray:
    """The value an unrounded x must stay below for the observed x to be ≤ ``limit`` (−inf
    where no observed score can, i.e. ``limit`` < 0, the best score)."""
    lim = np.asarray(limit, dtype=float) + OUTCOME_TOL
    edge = np.floor(lim) + 0.5 if integer else lim
    return np.where(lim >= 0, edge, -np.inf)


def later_moments(
    x_base: np.ndarray, sem: np.ndarray, spread: float, phi: float, g: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD of an unrounded later x with a share g of the gain arrived."""
    mean = x_base * (1.0 - phi * g)
    sd = np.sqrt(2.0 * sem**2 + (spread * x_base * g) ** 2)
    return mean, sd


def p_at_most(
    limit: np.ndarray,
    x_base: np.ndarray,
    sem: np.ndarray,
    spread: float,
    phi: float,
    g: np.ndarray,
    integer: bool,
) -> np.ndarray:
    """P(observed later x ≤ ``limit``) per patient (x_base − limit is the change a rule needs)."""
    mean, sd = later_moments(x_base, sem, spread, phi, g)
    return special.ndtr((upper_edge(limit, integer) - mean) / sd)


def bvn_cdf(h: np.ndarray, k: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """P(Z1 < h, Z2 < k) for standard normals with correlation ``rho`` (|rho| < 1), vectorised:
    ∫₀^Φ(h) Φ((k − ρ Φ⁻¹(v)) / √(1 − ρ²)) dv by 96-point Gauss–Legendre."""
    h, k, rho = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (h, k, rho)))
    top = special.ndtr(h)
    v = top[..., None] * (_NODES + 1.0) / 2.0
    z = special.ndtri(np.clip(v, 1e-300, 1.0 - 1e-16))
    r = rho[..., None]
    inner = special.ndtr((k[..., None] - r * z) / np.sqrt(1.0 - r * r))
    return top * (inner * _WEIGHTS).sum(axis=-1) / 2.0


def p_both_at_most(
    limit: np.ndarray,
    x_base: np.ndarray,
    sem: np.ndarray,
    spread: float,
    phi: float,
    g_eot: np.ndarray,
    retention: float,
    integer: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Per patient: (P(end-of-treatment x ≤ limit), P(that and the follow-up x ≤ limit)) when
    the follow-up keeps a share ``retention`` of the end-of-treatment gain."""
    edge = upper_edge(limit, integer)
    sd_gain = spread * x_base * g_eot
    m_e = x_base * (1.0 - phi * g_eot)
    m_f = x_base * (1.0 - phi * g_eot * retention)
    v_e = 2.0 * sem**2 + sd_gain**2
    v_f = 2.0 * sem**2 + (sd_gain * retention) ** 2
    cov = sem**2 + sd_gain**2 * retention
    s_e, s_f = np.sqrt(v_e), np.sqrt(v_f)
    rho = np.clip(cov / (s_e * s_f), -0.999999, 0.999999)
    h, k = (edge - m_e) / s_e, (edge - m_f) / s_f
    both = np.where(np.isfinite(edge), bvn_cdf(np.nan_to_num(h), np.nan_to_num(k), rho), 0.0)
    return special.ndtr(h), both


def solve(fn: Callable[[float], float], target: float, lo: float, hi: float) -> float:
    """The parameter in [lo, hi] where the increasing ``fn`` reaches ``target``; the nearer end
    when the target lies outside what ``fn`` reaches there."""
    f_lo, f_hi = fn(lo) - target, fn(hi) - target
    if f_lo >= 0:
        return lo
    if f_hi <= 0:
        return hi
    return float(optimize.brentq(lambda v: fn(v) - target, lo, hi, xtol=1e-10, rtol=1e-12))


def poisson_binomial(p: np.ndarray) -> np.ndarray:
    """The distribution of the number of successes among independent trials with success
    probabilities ``p``: pmf over 0..len(p), by the discrete Fourier transform of its
    characteristic function (exact up to rounding). Works through the frequencies in blocks so
    memory stays small for thousands of trials."""
    p = np.asarray(p, dtype=float)
    n = p.size
    omega = 2.0 * np.pi * np.arange(n + 1) / (n + 1)
    cf = np.empty(n + 1, dtype=complex)
    step = max(1, 2_000_000 // max(n, 1))
    for start in range(0, n + 1, step):  # blocks of frequencies, not a loop over trials
        w = omega[start : start + step, None]
        terms = 1.0 - p[None, :] + p[None, :] * np.exp(1j * w)
        # the product of the factors, through the sum of their log moduli and of their angles
        logmod = np.log(np.maximum(np.abs(terms), 1e-300)).sum(axis=1)
        cf[start : start + step] = np.exp(logmod + 1j * np.angle(terms).sum(axis=1))
    pmf = np.clip(np.real(np.fft.fft(cf)) / (n + 1), 0.0, None)
    return pmf / pmf.sum()
