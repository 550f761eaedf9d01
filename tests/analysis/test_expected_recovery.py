"""Expected recovery per patient (analysis.expected_recovery): on a hand-made history whose
regression is known the band recovers the slope and the SD; flags fall on the right session in
the worse direction of the instrument; the source switches at min_history; the published curve
follows its formula; the cross-fitted hit rate beats chance on a cohort whose non-improvers are
known, and is computed out of sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

import analysis.expected_recovery as er
from analysis.expected_fit import ALL
from analysis.expected_recovery import (
    HISTORY,
    REFERENCE,
    Reference,
    expected_bands,
    flag_hit_rate,
    on_track,
    reference_for,
)
from data.benchmarks import ROUTINE_CARE_PREPOST_D, default_benchmarks
from data.errors import AnalysisError
from data.instruments import default_registry, load_registry
from data.schema import conform

REG = default_registry()
REF = Reference(d=0.87, label="Wakefield et al. 2021")
#: True regression of the hand-made history: session → (intercept, slope); residual SD.
TRUE = {1: (2.0, 0.8), 2: (1.0, 0.7), 3: (0.5, 0.6), 4: (0.0, 0.55)}
SIGMA = 1.5
WELL = """
[[instrument]]
key = "WELL"
min = 0
max = 60
higher_is_worse = false
reliable_change = 5
"""


def _tidy(baselines, scores, *, instrument="PHQ-9", protocol="weekly", prefix="H"):
    """A conformed tidy table: baselines (n,) and scores (n, sessions), weekly days."""
    n, k = scores.shape
    ids = np.array([f"{prefix}{i:04d}" for i in range(n)])
    session = np.r_[np.zeros(n, int), np.repeat(np.arange(1, k + 1), n)]
    frame = pd.DataFrame(
        {
            "patient_id": np.r_[ids, np.tile(ids, k)],
            "protocol": protocol,
            "instrument": instrument,
            "session": session,
            "day": session * 7.0,
            "phase": np.where(session == 0, "baseline", "treatment"),
            "score": np.r_[baselines, scores.T.ravel()],
        }
    )
    frame["session"] = frame["session"].astype("Int64")
    return conform(frame)


def _history(n: int, seed: int = 1, **kw) -> pd.DataFrame:
    """n patients whose session-s score is a_s + b_s · baseline + N(0, SIGMA²)."""
    rng = np.random.default_rng(seed)
    b = rng.uniform(10, 24, n)
    scores = np.column_stack([a + s * b + rng.normal(0, SIGMA, n) for a, s in TRUE.values()])
    return _tidy(b, scores, **kw)


def _patient(baseline, scores, **kw) -> pd.DataFrame:
    return _tidy(np.array([baseline]), np.array([scores], dtype=float), prefix="P", **kw)


@pytest.fixture(scope="module")
def model():
    return expected_bands(_history(1000), REG, reference=REF)  # slope SE ≈ 0.012


def test_history_band_recovers_the_true_slope_and_sd(model):
    assert model.source("PHQ-9") == HISTORY
    pooled = model.fits.loc[model.fits["group"] == ALL].set_index("session")
    for s, (a, slope) in TRUE.items():
        assert pooled.loc[s, "slope"] == pytest.approx(slope, abs=0.05)
        assert pooled.loc[s, "intercept"] == pytest.approx(a, abs=1.0)
        assert pooled.loc[s, "sigma"] == pytest.approx(SIGMA, rel=0.1)
    q = pd.DataFrame({"instrument": ["PHQ-9"], "protocol": ["weekly"], "session": [2.0],
                      "baseline": [17.0]})  # fmt: skip
    got = model.predict(q).iloc[0]
    assert got["expected"] == pytest.approx(1.0 + 0.7 * 17, abs=0.3)
    half = (got["upper"] - got["lower"]) / 2
    assert half == pytest.approx(norm.ppf(0.9) * SIGMA, rel=0.1)


def test_band_holds_its_share_of_new_patients(model):
    fresh = on_track(_history(2000, seed=7, prefix="N"), model)
    treated = fresh.loc[fresh["session"] >= 1]
    inside = (treated["score"] >= treated["lower"]) & (treated["score"] <= treated["upper"])
    assert inside.mean() == pytest.approx(0.80, abs=0.03)
    assert treated["not_on_track"].astype(bool).mean() == pytest.approx(0.10, abs=0.02)


def test_flag_falls_on_the_first_session_outside_the_band(model):
    b = 18.0
    exp = [a + s * b for a, s in TRUE.values()]
    track = on_track(_patient(b, [exp[0], exp[1] + 1.0, exp[2] + 5.0, exp[3] + 5.0]), model)
    treated = track.loc[track["session"] >= 1]
    assert treated["not_on_track"].tolist() == [False, False, True, True]
    assert treated["first_flag"].tolist() == [False, False, True, False]
    assert track.loc[track["session"] == 0, "not_on_track"].isna().all()
    assert (treated["source"] == HISTORY).all()


def test_scores_better_than_the_band_are_not_flagged(model):
    b = 20.0
    track = on_track(_patient(b, [0.0, 0.0, 0.0, 0.0]), model)
    assert not track["not_on_track"].fillna(False).any()
    assert not track["first_flag"].any()


def test_higher_is_better_instruments_flag_scores_below_the_band():
    reg = load_registry(practice_text=WELL)
    rng = np.random.default_rng(3)
    b = rng.uniform(10, 30, 300)
    scores = np.column_stack([10 + 0.5 * b + 3 * s + rng.normal(0, 2, 300) for s in range(1, 5)])
    m = expected_bands(_tidy(b, scores, instrument="WELL"), reg, reference=REF)
    assert m.source("WELL") == HISTORY
    # expected 23, 26, 29, 32 (± about 2.6): on the path, then far below it from session 3
    worse = on_track(_patient(20.0, [23.0, 26.0, 5.0, 5.0], instrument="WELL"), m)
    better = on_track(_patient(20.0, [40.0, 50.0, 55.0, 58.0], instrument="WELL"), m)
    treated = worse.loc[worse["session"] >= 1]
    assert (treated["worse_edge"] == treated["lower"]).all()
    assert treated["first_flag"].tolist() == [False, False, True, False]
    assert not better["not_on_track"].fillna(False).any()


def test_a_protocol_with_too_few_patients_uses_the_pooled_fit():
    tidy = pd.concat([_history(200), _history(5, seed=2, protocol="retreat", prefix="R")])
    m = expected_bands(tidy, REG, reference=REF)
    track = on_track(_patient(15.0, [13.0, 12.0, 11.0, 10.0], protocol="retreat"), m)
    assert (track.loc[track["session"] >= 1, "fit_n"] == 205).all()  # the pooled fits


def test_source_switches_at_min_history():
    below = expected_bands(_history(49), REG, reference=REF)
    at = expected_bands(_history(50), REG, reference=REF)
    assert below.source("PHQ-9") == REFERENCE
    assert at.source("PHQ-9") == HISTORY
    assert "rough prior" in below.describe("PHQ-9") and "Wakefield et al. 2021" in below.describe(
        "PHQ-9"
    )
    assert "(n = 49)" not in below.describe("PHQ-9") and "now 49" in below.describe("PHQ-9")
    assert "n = 50 patients" in at.describe("PHQ-9")


def test_published_curve_spreads_d_sd_over_the_course_with_most_change_early():
    tidy = _history(30)  # 4 sessions, fewer than min_history patients
    m = expected_bands(tidy, REG, reference=REF)
    b0 = tidy.loc[tidy["session"] == 0, "score"].to_numpy()
    sd, mean_sev = np.std(b0, ddof=1), np.mean(b0)
    base = 20.0
    track = on_track(_patient(base, [15.0, 15.0, 15.0, 15.0]), m)
    exp = track.set_index("session")["expected"]
    full = 0.87 * sd * base / mean_sev
    assert exp[4] == pytest.approx(base - full)
    assert exp[1] == pytest.approx(base - full * np.log(2) / np.log(5))
    assert exp[1] - exp[2] > exp[3] - exp[4] > 0  # most change early
    half = (track["upper"] - track["lower"]).dropna() / 2
    assert np.allclose(half, 6.0)  # ± the PHQ-9 reliable-change threshold
    assert (track.loc[track["session"] >= 1, "source"] == REFERENCE).all()


def test_reference_is_read_from_the_benchmarks_file():
    phq = reference_for("PHQ-9")
    assert phq.d == default_benchmarks().get(ROUTINE_CARE_PREPOST_D).value
    assert phq.label and phq.citation and phq.note == ""
    pcl = reference_for("PCL-5")
    assert pcl.benchmark_id == ROUTINE_CARE_PREPOST_D and "depression figure" in pcl.note
    m = expected_bands(_history(20), REG)  # no reference given: the benchmarks file
    assert m.sources["d"].iloc[0] == phq.d


def test_table_gives_bands_by_severity_and_session(model):
    table = model.table()
    assert set(table["severity"]) == {b[1] for b in REG.get("PHQ-9").bands}
    s2 = table.loc[(table["session"] == 2) & (table["protocol"] == ALL)].sort_values("baseline")
    assert s2["expected"].is_monotonic_increasing
    assert (s2["lower"] <= s2["expected"]).all() and (s2["expected"] <= s2["upper"]).all()


def _cohort(n: int = 600, seed: int = 11) -> tuple[pd.DataFrame, np.ndarray]:
    """Half improve (half the baseline by session 6), half do not: the truth is known."""
    rng = np.random.default_rng(seed)
    b = rng.uniform(12, 24, n)
    improver = rng.random(n) < 0.5
    s = np.arange(1, 7)
    curve = 1 - np.exp(-s / 2.0)
    gain = np.where(improver, 0.55, 0.0)[:, None] * b[:, None] * curve[None, :]
    scores = np.clip(b[:, None] - gain + rng.normal(0, 2.0, (n, 6)), 0, 27)
    return _tidy(b, scores), improver


def test_cross_fitted_hit_rate_beats_chance():
    tidy, improver = _cohort()
    hits = flag_hit_rate(tidy, REG, reference=REF)
    row = hits.loc[hits["by_session"].isna()].iloc[0]
    assert row["source"] == "practice history (cross-fitted)"
    assert row["n_courses"] == 600
    assert row["n_not_improved"] == pytest.approx((~improver).sum(), rel=0.15)
    assert row["ppv_ci_lo"] > row["base_rate_pct"]  # flags beat flagging at random
    assert row["sensitivity_pct"] > row["false_alarm_pct"] + 20
    early = hits.loc[hits["by_session"] == 2].iloc[0]
    assert early["n_flagged"] <= row["n_flagged"]


def test_hit_rate_judges_each_patient_on_bands_fitted_without_them(monkeypatch):
    tidy, _ = _cohort(200)
    fitted_on, judged = [], []
    real_bands, real_track = er.expected_bands, er.on_track

    def spy_bands(data, *args, **kw):
        fitted_on.append(set(data["patient_id"].astype(str)))
        return real_bands(data, *args, **kw)

    def spy_track(rows, model):
        judged.append(set(rows["patient_id"].astype(str)))
        return real_track(rows, model)

    monkeypatch.setattr(er, "expected_bands", spy_bands)
    monkeypatch.setattr(er, "on_track", spy_track)
    flag_hit_rate(tidy, REG, reference=REF, folds=4)
    trained = fitted_on[1:]  # the first call is the whole-practice model
    assert len(trained) == len(judged) == 4
    for train, test in zip(trained, judged, strict=True):
        assert test and not train & test
    assert set().union(*judged) == set(tidy["patient_id"].astype(str))


def test_short_history_is_judged_by_simulation():
    hits = flag_hit_rate(_history(20), REG, reference=REF, simulate_patients=300)
    assert set(hits["source"]) == {"simulation"}
    assert hits["note"].str.contains("simulated cohort").all()
    assert (hits["instrument"] == "PHQ-9").all() and (hits["n_courses"] > 100).all()


@pytest.mark.parametrize(
    "call",
    [
        lambda t: expected_bands(t, REG, reference=REF, level=1.2),
        lambda t: expected_bands(t, REG, reference=REF, min_history=-1),
        lambda t: expected_bands(t, REG, reference=REF, source="guess"),
        lambda t: flag_hit_rate(t, REG, reference=REF, folds=1),
        lambda t: flag_hit_rate(t, REG, reference=REF, by_sessions=(0,)),
    ],
)
def test_bad_settings_raise_a_clear_error(call):
    with pytest.raises(AnalysisError):
        call(_history(10))


def test_one_first_flag_when_a_session_has_two_assessments(model):
    one = _patient(18.0, [16.4, 13.6, 20.0, 9.9])
    extra = one.loc[one["session"] == 3].assign(day=22.0, score=21.0)
    track = on_track(conform(pd.concat([one, extra], ignore_index=True)), model)
    assert track["first_flag"].sum() == 1
    assert track.loc[track["first_flag"], "day"].tolist() == [21.0]


def test_no_assessments_give_no_band_and_no_error():
    from data.schema import empty_tidy

    m = expected_bands(empty_tidy(), REG, reference=REF)
    assert m.source("PHQ-9") == "none" and "no patient has a baseline" in m.describe("PHQ-9")
    assert on_track(empty_tidy(), m).empty
    assert flag_hit_rate(empty_tidy(), REG, reference=REF).empty
