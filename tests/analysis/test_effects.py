"""Effect sizes against published examples, R effectsize output, scipy and hand arithmetic."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from analysis.effects import (
    between_effects,
    hedges_j,
    noncentral_t_ci,
    paired_effects,
    paired_effects_by_group,
)
from data.errors import AnalysisError

REFERENCE = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "reference" / "effects_reference.json").read_text()
)

# Lakens (2013), Frontiers in Psychology 4:863, Table 1: two movies rated by the same 10 people.
MOVIE_1 = [9, 7, 8, 9, 8, 9, 9, 10, 9, 9]
MOVIE_2 = [9, 6, 7, 8, 7, 9, 8, 8, 8, 7]


def g_av_reference(x, y, axis=-1):
    """g_av written out directly, for scipy.stats.bootstrap."""
    n = x.shape[axis]
    spread = (np.std(x, ddof=1, axis=axis) + np.std(y, ddof=1, axis=axis)) / 2
    return (np.mean(x, axis=axis) - np.mean(y, axis=axis)) / spread * (1 - 3 / (4 * (n - 1) - 1))


def toy_pairs(n, seed, rounded=True):
    rng = np.random.default_rng(seed)
    b = rng.normal(15, 4, n)
    e = 0.5 * b + rng.normal(3, 3, n)
    return (np.round(b), np.round(e)) if rounded else (b, e)


# --- within-group: published and R references -------------------------------------------


def test_paired_d_against_lakens_2013():
    r = paired_effects(MOVIE_1, MOVIE_2)
    assert r.n == 10
    assert r.d_z == pytest.approx(1.500000, abs=1e-6)
    assert r.d_av == pytest.approx(1.128696, abs=1e-6)
    assert r.d_rm == pytest.approx(1.111332, abs=1e-6)
    assert r.d_z_ci == pytest.approx((0.5605, 2.4034), abs=1e-4)


def test_paired_moments_against_lakens_2013_by_hand():
    r = paired_effects(MOVIE_1, MOVIE_2)
    # Sums of squared deviations: 6.1 (movie 1, mean 8.7) and 8.1 (movie 2, mean 7.7).
    assert r.baseline_mean == pytest.approx(8.7)
    assert r.eot_mean == pytest.approx(7.7)
    assert r.baseline_sd == pytest.approx(math.sqrt(6.1 / 9))
    assert r.eot_sd == pytest.approx(math.sqrt(8.1 / 9))
    assert r.mean_change == pytest.approx(1.0)
    assert r.sd_change == pytest.approx(2 / 3)  # changes 0 1 1 1 1 0 1 2 1 2: SS = 4
    # Cross-products of deviations sum to 5.1: r = 5.1 / sqrt(6.1 * 8.1).
    assert r.r == pytest.approx(5.1 / math.sqrt(6.1 * 8.1))


def test_g_av_j_factor_by_hand():
    r = paired_effects(MOVIE_1, MOVIE_2)
    d_av = 1.0 / ((math.sqrt(6.1 / 9) + math.sqrt(8.1 / 9)) / 2)
    j = 1 - 3 / (4 * 9 - 1)  # n = 10: 32/35
    assert j == pytest.approx(32 / 35)
    assert r.g_av == pytest.approx(d_av * 32 / 35, rel=1e-12)
    assert hedges_j(18) == pytest.approx(1 - 3 / 71)


def test_paired_d_z_ci_against_r_effectsize_cohens_d_paired():
    ref = REFERENCE["paired"]
    r = paired_effects(ref["baseline"], ref["eot"])
    assert r.d_z == pytest.approx(ref["cohens_d_paired"], rel=1e-9)
    # effectsize finds the bounds with optim (abstol 1e-9 on probabilities); we use brentq.
    assert r.d_z_ci == pytest.approx((ref["ci_low"], ref["ci_high"]), rel=1e-5)


def test_noncentral_t_ci_puts_t_at_the_tail_quantiles_scipy_nct():
    for t, df in [(4.743, 9), (-2.1, 30), (0.0, 5), (250.0, 16000)]:
        lo, hi = noncentral_t_ci(t, df, 0.95)
        assert stats.nct.cdf(t, df, lo) == pytest.approx(0.975, abs=1e-9)
        assert stats.nct.cdf(t, df, hi) == pytest.approx(0.025, abs=1e-9)


# --- within-group: BCa bootstrap ---------------------------------------------------------


def test_g_av_bca_against_scipy_bootstrap_within_monte_carlo_tolerance():
    b, e = toy_pairs(40, seed=7)
    ref = stats.bootstrap(
        (b, e),
        g_av_reference,
        paired=True,
        vectorized=True,
        n_resamples=20000,
        method="BCa",
        rng=np.random.default_rng(2),
    ).confidence_interval
    ours = paired_effects(b, e, n_boot=20000, seed=1)
    assert ours.g_av == pytest.approx(g_av_reference(b, e), rel=1e-12)
    # Monte-Carlo SD of each end at 20000 resamples is about 0.005 here.
    assert ours.g_av_ci == pytest.approx((ref.low, ref.high), abs=0.03)
    assert ours.n_boot_used == 20000 and ours.n_boot_dropped == 0


def test_g_av_bca_matches_scipy_bootstrap_on_the_same_random_stream():
    # scipy 1.17 draws its paired resample indices as rng.integers(0, n, (n_resamples, n)),
    # the same stream as ours, so the two BCa intervals must agree to rounding. Integer scores
    # give ties between resamples and the estimate, which checks the tie rule as well.
    b, e = toy_pairs(25, seed=11)
    ref = stats.bootstrap(
        (b, e),
        g_av_reference,
        paired=True,
        vectorized=True,
        n_resamples=3000,
        method="BCa",
        rng=np.random.default_rng(5),
    ).confidence_interval
    ours = paired_effects(b, e, n_boot=3000, seed=5)
    assert ours.g_av_ci == pytest.approx((ref.low, ref.high), rel=1e-9)


def test_resample_moments_against_direct_indexing_in_any_chunk_size():
    from analysis.bootstrap import chunk_rows, resample_moments

    b, e = toy_pairs(57, seed=3, rounded=False)
    idx = np.random.default_rng(9).integers(0, 57, size=(500, 57))
    expected = (
        b[idx].mean(axis=1),
        b[idx].var(axis=1, ddof=1),
        e[idx].mean(axis=1),
        e[idx].var(axis=1, ddof=1),
    )
    seven = next(b for b in range(1, 10**6, 57) if chunk_rows(57, b) == 7)
    for budget in (10**9, seven, 1):  # one chunk, chunks of 7, one resample at a time
        got = resample_moments(b, e, 500, 9, memory_budget=budget)
        for g, x in zip(got, expected, strict=True):
            np.testing.assert_allclose(g, x, rtol=1e-10, atol=1e-12)


def test_resample_memory_stays_within_budget_tracemalloc():
    import tracemalloc

    from analysis.bootstrap import resample_moments

    b, e = toy_pairs(20000, seed=6)
    budget = 20 * 2**20
    tracemalloc.start()
    try:
        resample_moments(b, e, 300, 1, memory_budget=budget, by_pairs=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The budget covers the chunk; the rest is the data and 300 rows of results (< 1 MB).
    assert 0.5 * budget < peak < budget + 2**20


def test_resample_by_pairs_against_counts_expanded_to_patients():
    # The same multinomial counts per distinct pair, expanded back into a list of patients,
    # must give the same moments as the pair path's matrix product, in any chunk size.
    from analysis.bootstrap import resample_moments

    b, e = toy_pairs(3000, seed=12)
    pairs, counts = np.unique(np.column_stack([b, e]), axis=0, return_counts=True)
    drawn = np.random.default_rng(4).multinomial(3000, counts / 3000, size=200)
    expanded = [np.repeat(pairs, row, axis=0) for row in drawn]
    expected = (
        [x[:, 0].mean() for x in expanded],
        [x[:, 0].var(ddof=1) for x in expanded],
        [x[:, 1].mean() for x in expanded],
        [x[:, 1].var(ddof=1) for x in expanded],
    )
    for budget in (10**9, 16 * counts.size * 7, 1):  # one chunk, chunks of 7, one at a time
        got = resample_moments(b, e, 200, 4, memory_budget=budget, by_pairs=True)
        for g, x in zip(got, expected, strict=True):
            np.testing.assert_allclose(g, x, rtol=1e-10, atol=1e-12)


def test_resample_by_pairs_has_the_bootstrap_distribution_of_the_mean():
    # Efron & Tibshirani (1993) eq. 5.10: over all resamples the mean of x̄* is x̄ and its
    # variance is (n − 1)/n · s²/n. 20,000 resamples put the checks well inside 5 SE.
    from analysis.bootstrap import resample_moments

    b, e = toy_pairs(4000, seed=13)
    n, n_boot = b.size, 20000
    for by_pairs in (True, False):
        mean_b, var_b, mean_e, _ = resample_moments(b, e, n_boot, 6, by_pairs=by_pairs)
        for values, boot in ((b, mean_b), (e, mean_e)):
            target_var = (n - 1) / n * values.var(ddof=1) / n
            assert abs(boot.mean() - values.mean()) < 5 * math.sqrt(target_var / n_boot)
            assert boot.var(ddof=1) == pytest.approx(target_var, rel=5 * math.sqrt(2 / n_boot))
        assert var_b.mean() == pytest.approx((n - 1) / n * b.var(ddof=1), rel=0.002)


def test_pairs_and_patients_give_the_same_g_av_distribution_within_monte_carlo_error():
    from analysis.bootstrap import PAIRS_PER_PATIENT_DRAW, resample_moments
    from analysis.effects import _g_av_statistic

    b, e = toy_pairs(12000, seed=14)
    k = np.unique(np.column_stack([b, e]), axis=0).shape[0]
    assert b.size >= PAIRS_PER_PATIENT_DRAW * k  # the default draws by pairs here
    by_pairs = _g_av_statistic(*resample_moments(b, e, 20000, 3), b.size)
    direct = _g_av_statistic(*resample_moments(b, e, 20000, 3, by_pairs=False), b.size)
    assert not np.array_equal(by_pairs, direct)  # two streams
    spread = direct.std()
    # Each quantile's Monte-Carlo SD is under 0.02 SD of the statistic at 20,000 resamples.
    for q in (0.025, 0.25, 0.5, 0.75, 0.975):
        assert np.quantile(by_pairs, q) == pytest.approx(np.quantile(direct, q), abs=0.06 * spread)
    assert by_pairs.std() == pytest.approx(spread, rel=0.04)
    full = paired_effects(b, e, n_boot=2000, seed=3)  # the default way, end to end
    assert full.g_av_ci[0] < full.g_av < full.g_av_ci[1]


def test_zero_spread_by_pairs_dropped_and_counted_against_the_multinomial_draws():
    # 2,999 identical patients and one different: a resample missing the odd one out has no
    # spread, which happens with probability (1 − 1/3000)^3000 ≈ e⁻¹. Non-integer values make
    # the sums of squares round to tiny non-zero numbers, so the exact check is what counts.
    from analysis.bootstrap import resample_moments

    b = np.array([0.1] * 2999 + [5.3])
    e = np.array([0.7] * 2999 + [0.2])
    _, var_b, _, var_e = resample_moments(b, e, 4000, 21)  # two distinct pairs: by pairs
    drawn = np.random.default_rng(21).multinomial(3000, [2999 / 3000, 1 / 3000], size=4000)
    missing = drawn[:, 1] == 0
    assert 1300 < missing.sum() < 1650
    np.testing.assert_array_equal(var_b == 0.0, missing)
    np.testing.assert_array_equal(var_e == 0.0, missing)


def test_jackknife_closed_form_against_leave_one_out_loop():
    from analysis.bootstrap import jackknife_moments

    b, e = toy_pairs(31, seed=4, rounded=False)
    got = jackknife_moments(b, e)
    for i in range(b.size):
        bi, ei = np.delete(b, i), np.delete(e, i)
        expected = (bi.mean(), bi.var(ddof=1), ei.mean(), ei.var(ddof=1))
        assert [g[i] for g in got] == pytest.approx(expected, rel=1e-10)


def test_zero_spread_resamples_dropped_and_counted_against_direct_draws():
    # Nine identical patients and one different: a resample without patient 10 has no spread.
    # Non-integer values make the sums of squares round to tiny non-zero numbers.
    b = np.array([0.1] * 9 + [5.3])
    e = np.array([0.7] * 9 + [0.2])
    r = paired_effects(b, e, n_boot=4000, seed=21)
    idx = np.random.default_rng(21).integers(0, 10, size=(4000, 10))
    expected_dropped = int(np.sum(~(idx == 9).any(axis=1)))
    assert expected_dropped > 1000  # 0.9 ** 10 of 4000 on average
    assert r.n_boot_dropped == expected_dropped
    assert r.n_boot_used == 4000 - expected_dropped
    # Leaving patient 10 out leaves no spread, so the jackknife (and the interval) is undefined.
    assert np.isnan(r.g_av_ci).all()
    assert np.isfinite(r.g_av)


def test_bootstrap_reproducible_with_fixed_seed():
    b, e = toy_pairs(30, seed=8)
    first = paired_effects(b, e, seed=123)
    assert paired_effects(b, e, seed=123).g_av_ci == first.g_av_ci
    assert paired_effects(b, e, seed=124).g_av_ci != first.g_av_ci


def test_small_samples_by_hand():
    two = paired_effects([10, 12], [4, 9])
    # Changes 6 and 3: mean 4.5, SD √4.5; J is 0 at n = 2, so g_av is left undefined.
    assert two.n == 2 and two.d_z == pytest.approx(4.5 / math.sqrt(4.5))
    assert np.isnan(two.g_av) and np.isnan(two.r) and np.isnan(two.d_rm)
    assert np.isfinite(two.d_av) and np.isfinite(two.d_z_ci).all()
    three = paired_effects([10, 12, 15], [4, 9, 8])
    assert np.isfinite(three.g_av) and np.isnan(three.g_av_ci).all()
    assert (three.n_boot_used, three.n_boot_dropped) == (0, 0)
    four = paired_effects([10, 12, 15, 11], [4, 9, 8, 10])
    assert np.isfinite(four.g_av_ci).all() and four.n_boot_used > 0


# --- within-group: edge cases ------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "eot"),
    [([], []), ([14], [9]), ([12, 12, 12], [5, 5, 5]), ([3.3] * 6, [1.1] * 6)],
)
def test_paired_effects_undefined_is_nan_without_warnings(baseline, eot):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = paired_effects(baseline, eot)
    for name in ("d_z", "d_av", "g_av", "d_rm", "r"):
        assert np.isnan(getattr(r, name)), name
    assert np.isnan(r.d_z_ci).all() and np.isnan(r.g_av_ci).all()
    json.dumps(r.to_dict(), allow_nan=False)


def test_same_change_for_everyone_gives_no_d_z_but_d_av():
    r = paired_effects([10, 14, 18, 22], [5, 9, 13, 17])
    assert r.sd_change == 0.0 and np.isnan(r.d_z) and np.isnan(r.d_z_ci).all()
    sd = np.std([10, 14, 18, 22], ddof=1)
    assert r.d_av == pytest.approx(5 / sd)
    assert r.r == pytest.approx(1.0)


def test_incomplete_pairs_are_left_out():
    full = paired_effects([12, 15, np.nan, 20, 9], [6, 10, 4, np.nan, 8], seed=3)
    complete = paired_effects([12, 15, 9], [6, 10, 8], seed=3)
    assert full == complete and full.n == 3


def test_paired_effects_accepts_nullable_series():
    b = pd.Series([12, 15, None, 9], dtype="Int64")
    e = pd.Series([6.0, 10.0, 4.0, 8.0], dtype="Float64")
    assert paired_effects(b, e).n == 3


@pytest.mark.parametrize(
    ("baseline", "eot"), [([1, 2, 3], [1, 2]), (["a", "b"], [1, 2]), ([1, np.inf], [1, 2])]
)
def test_paired_effects_bad_input_raises_domain_error(baseline, eot):
    with pytest.raises(AnalysisError):
        paired_effects(baseline, eot)


def test_to_dict_is_json_ready_with_named_effects():
    d = paired_effects(MOVIE_1, MOVIE_2).to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["d_z_ci"] == pytest.approx([0.5605, 2.4034], abs=1e-4)
    assert {"d_z", "d_z_ci", "d_av", "g_av", "g_av_ci", "d_rm"} <= set(d)


def test_by_group_rows_equal_paired_effects_on_each_group():
    b, e = toy_pairs(60, seed=5)
    frame = pd.DataFrame(
        {"protocol": ["intensive", "weekly", None] * 20, "baseline": b, "eot": e}
    ).astype({"protocol": "string"})
    out = paired_effects_by_group(frame, ["protocol"], n_boot=500, seed=4)
    assert len(out) == 3 and {"g_av_ci_lo", "g_av_ci_hi", "d_z_ci_lo"} <= set(out.columns)
    for label in ("intensive", "weekly"):
        row = out[out["protocol"] == label].iloc[0]
        part = frame[frame["protocol"] == label]
        ref = paired_effects(part["baseline"], part["eot"], n_boot=500, seed=4)
        assert row["n"] == ref.n == 20
        assert (row["g_av"], row["g_av_ci_lo"], row["g_av_ci_hi"]) == (ref.g_av, *ref.g_av_ci)
        assert (row["d_z_ci_lo"], row["d_z_ci_hi"]) == ref.d_z_ci
    assert out["protocol"].isna().sum() == 1  # patients without a protocol stay visible


def test_by_group_missing_column_raises_domain_error():
    with pytest.raises(AnalysisError, match="eot"):
        paired_effects_by_group(pd.DataFrame({"g": [1], "baseline": [3]}), ["g"])


# --- between protocols -------------------------------------------------------------------


@pytest.mark.parametrize("case", REFERENCE["between"], ids=lambda c: c["name"])
def test_between_g_against_r_effectsize_hedges_g(case):
    r = between_effects(case["a"], case["b"])
    df = len(case["a"]) + len(case["b"]) - 2
    j_approx = 1 - 3 / (4 * df - 1)
    # Cohen's d and its noncentral-t CI: the same method in both.
    assert r.g / j_approx == pytest.approx(case["cohens_d"], rel=1e-9)
    assert np.divide(r.g_ci, j_approx) == pytest.approx(
        (case["cohens_d_ci_low"], case["cohens_d_ci_high"]), rel=1e-5
    )
    # effectsize multiplies by the exact J; we by SPEC's approximation of it.
    rescale = j_approx / case["j_exact"]
    assert r.g == pytest.approx(case["hedges_g"] * rescale, rel=1e-9)
    assert r.g_ci == pytest.approx(
        (case["hedges_g_ci_low"] * rescale, case["hedges_g_ci_high"] * rescale), rel=1e-5
    )


def test_exact_j_in_fixture_and_its_gap_to_the_approximation():
    for case in REFERENCE["between"]:
        df = len(case["a"]) + len(case["b"]) - 2
        exact = math.exp(
            special.gammaln(df / 2) - math.log(math.sqrt(df / 2)) - special.gammaln((df - 1) / 2)
        )
        assert case["j_exact"] == pytest.approx(exact, rel=1e-12)
        assert abs(hedges_j(df) / exact - 1) < 1e-3  # the effects module docstring says so


@pytest.mark.parametrize("case", REFERENCE["between"], ids=lambda c: c["name"])
def test_welch_against_r_t_test(case):
    r = between_effects(case["a"], case["b"])
    assert r.welch_t == pytest.approx(case["welch_t"], rel=1e-9)
    assert r.welch_df == pytest.approx(case["welch_df"], rel=1e-9)
    assert r.welch_p == pytest.approx(case["welch_p"], rel=1e-7)
    assert r.mean_diff_ci == pytest.approx((case["welch_ci_low"], case["welch_ci_high"]), rel=1e-9)


def test_welch_p_against_scipy_ttest_ind():
    rng = np.random.default_rng(12)
    for n_a, n_b in [(8, 31), (40, 40), (3, 5)]:
        a, b = rng.normal(7, 5, n_a), rng.normal(4, 2, n_b)
        r = between_effects(a, b)
        ref = stats.ttest_ind(a, b, equal_var=False)
        assert r.welch_t == pytest.approx(ref.statistic, rel=1e-10)
        assert r.welch_df == pytest.approx(ref.df, rel=1e-10)
        assert r.welch_p == pytest.approx(ref.pvalue, rel=1e-8)
        ci = ref.confidence_interval(0.95)
        assert r.mean_diff_ci == pytest.approx((ci.low, ci.high), rel=1e-10)
        assert r.mean_diff == pytest.approx(a.mean() - b.mean())


def test_between_direction_is_a_minus_b():
    r = between_effects([8, 10, 12], [2, 4, 6])
    assert r.mean_diff == 6.0 and r.g > 0 and r.welch_t > 0
    # Pooled SD is 2 (both SDs 2), so d = 3 and g = 3 * (1 - 3 / 15).
    assert r.g == pytest.approx(3 * (1 - 3 / 15))


def test_between_undefined_is_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = between_effects([], [1, 2])
        one_each = between_effects([3], [5])
        flat = between_effects([4, 4], [4, 4])
    assert np.isnan(empty.g) and np.isnan(empty.welch_p)
    assert np.isnan(one_each.g) and np.isnan(one_each.mean_diff_ci).all()
    assert np.isnan(flat.g) and np.isnan(flat.welch_t)
    json.dumps(flat.to_dict(), allow_nan=False)


# --- coverage on a normal model (slow) ----------------------------------------------------


@pytest.mark.slow
def test_interval_coverage_on_normal_toy_model():
    # Baseline ~ N(16, 4), EOT = 0.6·baseline + N(2, 3): sd_EOT = √(0.36·16 + 9), change SD
    # = √(0.16·16 + 9), population d_av = (16 − 11.6) / ((4 + sd_EOT) / 2).
    sd_eot, sd_change = math.sqrt(0.36 * 16 + 9), math.sqrt(0.16 * 16 + 9)
    delta_av, delta_z = 4.4 / ((4 + sd_eot) / 2), 4.4 / sd_change
    rng = np.random.default_rng(2024)
    reps, n = 1000, 30
    hit_g = hit_z = 0
    for rep in range(reps):
        b = rng.normal(16, 4, n)
        e = 0.6 * b + rng.normal(2, 3, n)
        r = paired_effects(b, e, n_boot=1000, seed=rep)
        hit_g += r.g_av_ci[0] <= delta_av <= r.g_av_ci[1]
        hit_z += r.d_z_ci[0] <= delta_z <= r.d_z_ci[1]
    # Binomial SD of a coverage estimate from 1000 runs is about 0.007. The noncentral t
    # interval is exact under normality; BCa is known to run a little short at small n
    # (about 0.92 at n = 30 here), so its band is wider below.
    assert 0.90 <= hit_g / reps <= 0.975
    assert 0.93 <= hit_z / reps <= 0.97


@pytest.mark.slow
def test_interval_coverage_drawing_by_pairs_on_whole_number_scores():
    # The pair way of drawing (large practices) on PHQ-9-like whole-number scores: samples of
    # 10,000 from a population of a million, whose own d_av is the target (J ≈ 1 at this n).
    from analysis.bootstrap import PAIRS_PER_PATIENT_DRAW

    rng = np.random.default_rng(77)
    pop_b = np.clip(np.round(rng.normal(16, 4, 10**6)), 0, 27)
    pop_e = np.clip(np.round(0.6 * pop_b + rng.normal(2, 3, 10**6)), 0, 27)
    delta_av = (pop_b.mean() - pop_e.mean()) / ((pop_b.std() + pop_e.std()) / 2)
    reps, n = 200, 10000
    hits = 0
    for rep in range(reps):
        pick = rng.integers(0, 10**6, n)
        b, e = pop_b[pick], pop_e[pick]
        pairs = np.unique(np.column_stack([b, e]), axis=0).shape[0]
        assert n >= PAIRS_PER_PATIENT_DRAW * pairs  # drawn by pairs
        r = paired_effects(b, e, n_boot=1000, seed=rep)
        hits += r.g_av_ci[0] <= delta_av <= r.g_av_ci[1]
    # Binomial SD of a coverage estimate from 200 runs is about 0.015.
    assert 0.92 <= hits / reps <= 0.98
