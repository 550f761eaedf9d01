"""The figure builders of dashboard/charts.py: every chart has a title and axis titles with
units, one trace per protocol in the Okabe–Ito palette, draws exactly the CI values it is given,
and turns empty input into an informative empty figure instead of an exception.

Expected values are the handmade inputs below (the charts must draw them unchanged).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import charts
from dashboard.chart_style import (
    OKABE_ITO,
    PALETTE,
    REFERENCE,
    is_empty_figure,
    protocol_colours,
    rgba,
)
from data.instruments import default_registry

REG = default_registry()
PHQ9 = REG.get("PHQ-9")
GAD7 = REG.get("GAD-7")

# Okabe & Ito (2008), "Color Universal Design", the eight colours as published.
PUBLISHED_OKABE_ITO = {
    "#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
}  # fmt: skip


def _traces(fig, role):
    return [t for t in fig.data if isinstance(t.meta, dict) and t.meta.get("role") == role]


def _colour_of(trace):
    line = getattr(trace, "line", None)
    if line is not None and line.color:
        return line.color
    return trace.marker.color


def _titles(fig):
    return (
        fig.layout.title.text,
        fig.layout.xaxis.title.text,
        fig.layout.yaxis.title.text,
    )


SESSION_POINTS = pd.DataFrame(
    {
        "instrument": "PHQ-9",
        "protocol": ["intensive"] * 3 + ["weekly"] * 3,
        "session": pd.array([0, 1, 2, 0, 1, 2], dtype="Int64"),
        "n": [40, 35, 30, 50, 45, 1],
        "mean": [17.0, 12.5, 10.0, 16.0, 14.0, 13.0],
        "ci_lo": [15.5, 11.0, 8.5, 14.8, 12.9, np.nan],  # one patient at the last point: no CI
        "ci_hi": [18.5, 14.0, 11.5, 17.2, 15.1, np.nan],
    }
)
DAY_POINTS = pd.DataFrame(
    {
        "protocol": ["intensive", "intensive", "weekly", "weekly"],
        "bin": ["0", "1–3", "0", "8–14"],
        "day_lo": [0.0, 0.0, 0.0, 7.0],
        "day_hi": [0.0, 3.0, 0.0, 14.0],
        "n": [10, 9, 12, 11],
        "mean": [16.0, 11.0, 15.0, 12.0],
        "ci_lo": [14.0, 9.0, 13.0, 10.0],
        "ci_hi": [18.0, 13.0, 17.0, 14.0],
    }
)
CURVES = pd.DataFrame(
    {
        "group": ["intensive"] * 3 + ["weekly"] * 3,
        "time": [0.0, 2.0, 5.0, 0.0, 3.0, 9.0],
        "survival": [1.0, 0.6, 0.3, 1.0, 0.8, 0.5],
        "ci_lo": [1.0, 0.35, 0.1, 1.0, 0.6, 0.3],
        "ci_hi": [1.0, 0.85, 0.7, 1.0, 0.95, 0.8],
        "n_risk": [10, 10, 4, 8, 8, 3],
        "n_censor": [0, 0, 1, 0, 2, 1],
    }
)
FOREST = pd.DataFrame(
    {
        "label": ["PHQ-9 · intensive", "PHQ-9 · weekly"],
        "protocol": ["intensive", "weekly"],
        "estimate": [1.1, 0.8],
        "ci_lo": [0.7, 0.5],
        "ci_hi": [1.4, 1.2],
        "n": [30, 40],
    }
)
RATES = pd.DataFrame(
    {
        "protocol": ["intensive", "intensive", "weekly", "weekly"],
        "outcome": ["reliable_improvement", "reliable_improvement"] * 2,
        "denominator_basis": ["completers", "all starters"] * 2,
        "numerator": [12, 12, 9, 9],
        "denominator": [20, 25, 18, 30],
        "pct": [60.0, 48.0, 50.0, 30.0],
        "ci_lo": [38.7, 30.0, 29.0, 16.7],
        "ci_hi": [78.1, 66.5, 71.0, 47.9],
    }
)
FUNNEL = pd.DataFrame(
    {
        "protocol": ["intensive"] * 2 + ["weekly"] * 2,
        "step": ["assessed", "paired"] * 2,
        "label": ["assessed at least once", "with an end-of-treatment score"] * 2,
        "n": [20, 15, 30, 21],
        "pct_of_assessed": [100.0, 75.0, 100.0, 70.0],
    }
)
PREVALENCE = pd.DataFrame(
    {
        "protocol": ["intensive", "intensive", "weekly"],
        "session": pd.array([0, 1, 0], dtype="Int64"),
        "n": [5, 2, 8],
        "of": [20, 18, 30],
        "pct": [25.0, 100 * 2 / 18, 100 * 8 / 30],
        "ci_lo": [11.2, 3.1, 14.2],
        "ci_hi": [46.9, 32.8, 44.5],
    }
)
PAIRED = pd.DataFrame(
    {
        "patient_id": ["A", "B", "C"],
        "protocol": ["intensive", "weekly", "weekly"],
        "baseline": [20.0, 15.0, 12.0],
        "eot": [8.0, 14.0, 19.0],
    }
)
CHANGES = PAIRED.assign(change=PAIRED["baseline"] - PAIRED["eot"])
ONE_PATIENT = pd.DataFrame(
    {
        "session": pd.array([0, 1, 2, pd.NA], dtype="Int64"),
        "day": [0.0, 7.0, 14.0, 60.0],
        "phase": ["baseline", "treatment", "treatment", "follow-up"],
        "score": [18.0, 12.0, 9.0, 10.0],
        "flag": [True, False, False, False],
    }
)

BUILT = {
    "trajectory_session": lambda: charts.trajectory_chart(SESSION_POINTS, instrument=PHQ9),
    "trajectory_day": lambda: charts.trajectory_chart(DAY_POINTS, instrument=PHQ9, x="day"),
    "km": lambda: charts.km_chart(CURVES, time_unit="days"),
    "forest": lambda: charts.forest_chart(FOREST),
    "rates": lambda: charts.rates_chart(RATES, instrument_label="PHQ-9"),
    "funnel": lambda: charts.funnel_chart(FUNNEL),
    "item9": lambda: charts.item9_chart(PREVALENCE),
    "jacobson": lambda: charts.jacobson_chart(PAIRED, instrument=PHQ9, threshold=6.0),
    "waterfall": lambda: charts.waterfall_chart(CHANGES, instrument=PHQ9, threshold=6.0),
    "patient": lambda: charts.patient_chart(ONE_PATIENT, instrument=PHQ9),
}
EMPTY = {
    "trajectory_session": lambda e: charts.trajectory_chart(e, instrument=PHQ9),
    "km": lambda e: charts.km_chart(e),
    "forest": lambda e: charts.forest_chart(e),
    "rates": lambda e: charts.rates_chart(e),
    "funnel": lambda e: charts.funnel_chart(e),
    "item9": lambda e: charts.item9_chart(e),
    "jacobson": lambda e: charts.jacobson_chart(e, instrument=PHQ9, threshold=6.0),
    "waterfall": lambda e: charts.waterfall_chart(e, instrument=PHQ9, threshold=6.0),
    "patient": lambda e: charts.patient_chart(e, instrument=PHQ9),
}
# Charts whose rows are categories (outcomes, steps, groups): their y axis has no unit.
ROW_CHARTS = {"forest", "funnel", "rates"}


def test_palette_is_okabe_ito_as_published():
    assert {c.upper() for c in PALETTE} == PUBLISHED_OKABE_ITO
    assert protocol_colours(["weekly", "intensive"]) == {
        "intensive": OKABE_ITO["blue"],
        "weekly": OKABE_ITO["orange"],
    }


def test_protocol_colour_does_not_depend_on_which_protocols_are_shown():
    alone = protocol_colours(["retreat-plus"])
    together = protocol_colours(["intensive", "weekly", "retreat-plus"])
    assert alone["retreat-plus"] == together["retreat-plus"] in PALETTE


@pytest.mark.parametrize("name", sorted(BUILT))
def test_every_chart_has_title_and_axis_titles_with_units(name):
    fig = BUILT[name]()
    title, x_title, y_title = _titles(fig)
    assert title
    assert x_title and "(" in x_title  # the unit is in brackets, e.g. "(days)", "(points…)"
    if name not in ROW_CHARTS:
        assert y_title and "(" in y_title
    elif name != "forest":  # the forest plot's row labels name each row themselves
        assert y_title


@pytest.mark.parametrize("name", sorted(BUILT))
def test_every_trace_colour_comes_from_the_palette(name):
    fig = BUILT[name]()
    allowed = {c.upper() for c in (*PALETTE, REFERENCE)}  # REFERENCE: the grey reference lines
    for trace in fig.data:
        role = trace.meta.get("role") if isinstance(trace.meta, dict) else None
        if role in ("ci", "ci_lo", "ci_hi", "band", "individual", "rate_label"):
            continue  # translucent fills and labels derive from a palette colour (checked below)
        assert str(_colour_of(trace)).upper() in allowed, (name, role, _colour_of(trace))


@pytest.mark.parametrize("name", sorted(EMPTY))
def test_empty_input_gives_an_informative_empty_figure(name):
    fig = EMPTY[name](pd.DataFrame())
    assert is_empty_figure(fig)
    assert fig.layout.title.text
    message = fig.layout.annotations[0].text
    assert message.startswith("No ") or "has no" in message
    assert len(fig.data) == 0


def test_empty_none_input_gives_an_empty_figure():
    assert is_empty_figure(charts.trajectory_chart(None, instrument=PHQ9))
    assert is_empty_figure(charts.km_chart(None))


def test_trajectory_one_mean_line_and_one_band_per_protocol():
    fig = BUILT["trajectory_session"]()
    means = _traces(fig, "mean")
    assert [t.meta["protocol"] for t in means] == ["intensive", "weekly"]
    assert [t.meta["protocol"] for t in _traces(fig, "ci")] == ["intensive", "weekly"]
    assert means[0].line.color == OKABE_ITO["blue"] and means[1].line.color == OKABE_ITO["orange"]
    band = _traces(fig, "ci")[0]
    assert band.fillcolor == rgba(OKABE_ITO["blue"], 0.18)


def test_trajectory_band_equals_input_ci():
    fig = BUILT["trajectory_session"]()
    intensive, weekly = _traces(fig, "ci")
    # polygon: upper edge left to right, then lower edge right to left
    assert list(intensive.x) == [0, 1, 2, 2, 1, 0]
    assert list(intensive.y) == [18.5, 14.0, 11.5, 8.5, 11.0, 15.5]
    # the weekly point with one patient has no CI and is left out of the band
    assert list(weekly.y) == [17.2, 15.1, 12.9, 14.8]
    means = _traces(fig, "mean")
    assert list(means[1].y) == [16.0, 14.0, 13.0]


def test_trajectory_writes_n_under_every_point():
    fig = BUILT["trajectory_session"]()
    # the n rows are lines of the x tick labels, one per protocol ("–": not assessed there)
    rows = [label.split("<br>")[1:] for label in fig.layout.xaxis.labelalias.values()]
    texts = {n for row in rows for n in row}
    for n in SESSION_POINTS["n"]:
        assert str(n) in texts
    hover = _traces(fig, "mean")[0].hovertemplate
    assert "n = " in hover


def test_trajectory_severity_bands_come_from_the_registry():
    fig = BUILT["trajectory_session"]()
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(r.y0, r.y1) for r in rects] == [(0, 5), (5, 10), (10, 15), (15, 20), (20, 27)]
    labels = {a.text for a in fig.layout.annotations}
    assert {"minimal", "mild", "moderate", "moderately severe", "severe"} <= labels


def test_trajectory_day_bins_evenly_spaced_and_labelled():
    fig = BUILT["trajectory_day"]()
    alias = fig.layout.xaxis.labelalias
    assert [alias[k].split("<br>")[0] for k in ("0", "1", "2")] == ["0", "1–3", "8–14"]
    intensive, weekly = _traces(fig, "mean")
    assert list(intensive.x) == [0, 1] and list(weekly.x) == [0, 2]


def test_individual_days_placed_within_their_bin():
    bins = DAY_POINTS[["bin", "day_lo", "day_hi"]].drop_duplicates("bin").sort_values("day_lo")
    pos = charts._bin_position(pd.Series([0.0, 1.5, 3.0, 7.0 + 3.5, 20.0]), bins)
    # bin k spans k − 0.5 … k + 0.5: day 1.5 is half-way through 0 < day ≤ 3 (bin 1);
    # day 10.5 is half-way through 7 < day ≤ 14 (bin 2); day 20 is beyond the last bin.
    np.testing.assert_allclose(pos[:4], [0.0, 1.0, 1.5, 2.0])
    assert np.isnan(pos[4])


def test_individual_lines_with_pyarrow_ids():
    people = pd.DataFrame(
        {
            "patient_id": pd.array(["P1", "P1", "P2", "P2"], dtype="string[pyarrow]"),
            "protocol": pd.array(["weekly"] * 4, dtype="string[pyarrow]"),
            "session": [0.0, 1.0, 0.0, 1.0],
            "day": [0.0, 7.0, 0.0, 6.0],
            "score": [20.0, 15.0, 10.0, 9.0],
        }
    )
    fig = charts.trajectory_chart(SESSION_POINTS, instrument=PHQ9, individual=people)
    (lines,) = _traces(fig, "individual")
    # one gap (None / NaN) between the two patients
    assert list(lines.y[:2]) == [20.0, 15.0] and np.isnan(lines.y[2])
    assert list(lines.y[3:]) == [10.0, 9.0]


def test_km_bands_and_curve_equal_input_in_percent():
    fig = BUILT["km"]()
    lo = _traces(fig, "ci_lo")
    hi = _traces(fig, "ci_hi")
    surv = _traces(fig, "survival")
    assert [t.meta["protocol"] for t in surv] == ["intensive", "weekly"]
    np.testing.assert_allclose(lo[0].y, [100, 35, 10])
    np.testing.assert_allclose(hi[1].y, [100, 95, 80])
    np.testing.assert_allclose(surv[1].y, [100, 80, 50])
    assert surv[0].line.shape == "hv"  # step curve


def test_km_censor_ticks_where_patients_were_censored():
    fig = BUILT["km"]()
    ticks = _traces(fig, "censor")
    assert list(ticks[0].x) == [5.0] and list(ticks[1].x) == [3.0, 9.0]
    np.testing.assert_allclose(ticks[1].y, [80, 50])


def test_km_numbers_at_risk_under_the_axis():
    fig = charts.km_chart(CURVES)
    texts = [a.text for a in fig.layout.annotations]
    assert any(t.endswith("at risk intensive") for t in texts)
    assert any(t.endswith("at risk weekly") for t in texts)
    # at day 0 everyone is at risk; after the last time nobody is (a row per protocol)
    alias = fig.layout.xaxis.labelalias
    assert alias["0"] == "0<br>10<br>8"
    last = max(alias, key=float)
    assert float(last) >= 9 and alias[last].endswith("<br>0<br>0")


def test_forest_error_bars_equal_input_and_zero_line():
    fig = BUILT["forest"]()
    intensive, weekly = _traces(fig, "estimate")
    assert list(intensive.x) == [1.1]
    np.testing.assert_allclose(intensive.error_x.array, [1.4 - 1.1])
    np.testing.assert_allclose(weekly.error_x.arrayminus, [0.8 - 0.5])
    assert any(s.type == "line" and s.x0 == 0 and s.x1 == 0 for s in fig.layout.shapes)
    assert "g_av" in fig.layout.xaxis.title.text
    assert list(fig.layout.yaxis.categoryarray) == ["PHQ-9 · weekly", "PHQ-9 · intensive"]


def test_rates_both_denominators_side_by_side_with_their_cis():
    fig = BUILT["rates"]()
    rates = _traces(fig, "rate")
    by = {(t.meta["protocol"], t.meta["basis"]): t for t in rates}
    assert set(by) == {
        (p, b) for p in ("intensive", "weekly") for b in ("completers", "all starters")
    }
    t = by[("weekly", "all starters")]
    assert list(t.x) == [30.0]
    np.testing.assert_allclose(t.error_x.array, [47.9 - 30.0])
    np.testing.assert_allclose(t.error_x.arrayminus, [30.0 - 16.7])
    assert t.xaxis == "x2"  # the second panel
    labels = [x for tr in _traces(fig, "rate_label") for x in tr.text]
    assert "12 of 20" in labels and "9 of 30" in labels


def test_funnel_one_trace_per_protocol_with_counts():
    fig = BUILT["funnel"]()
    steps = _traces(fig, "step")
    assert [t.meta["protocol"] for t in steps] == ["intensive", "weekly"]
    assert list(steps[1].x) == [30, 21]
    assert steps[1].text[1] == "21 (70%)"


def test_item9_prevalence_and_cis_equal_input():
    fig = BUILT["item9"]()
    intensive, weekly = _traces(fig, "prevalence")
    np.testing.assert_allclose(intensive.y, [25.0, 100 * 2 / 18])
    np.testing.assert_allclose(intensive.error_y.array, [46.9 - 25.0, 32.8 - 100 * 2 / 18])
    assert "n = " in intensive.hovertemplate


def test_jacobson_band_is_threshold_around_diagonal_and_caseness_lines():
    fig = BUILT["jacobson"]()
    (band,) = _traces(fig, "band")
    # corners: (0, 6) → (27, 33) above the diagonal, (27, 21) → (0, −6) below it
    assert list(band.x) == [0, 27, 27, 0]
    assert list(band.y) == [6, 33, 21, -6]
    lines = [(s.x0, s.x1, s.y0, s.y1) for s in fig.layout.shapes if s.type == "line"]
    assert any(x0 == x1 == PHQ9.caseness for x0, x1, _, _ in lines)
    assert any(y0 == y1 == PHQ9.caseness for _, _, y0, y1 in lines)
    pts = _traces(fig, "patients")
    assert [t.meta["protocol"] for t in pts] == ["intensive", "weekly"]
    assert list(pts[1].x) == [15.0, 12.0] and list(pts[1].y) == [14.0, 19.0]


def test_jacobson_per_protocol_thresholds_draw_each_protocols_band_edges():
    fig = charts.jacobson_chart(
        PAIRED, instrument=PHQ9, threshold={"intensive": 5.0, "weekly": 7.5}
    )
    edges = _traces(fig, "band_edge")
    weekly = [t for t in edges if t.meta["protocol"] == "weekly"]
    assert sorted(tuple(t.y) for t in weekly) == [(-7.5, 19.5), (7.5, 34.5)]


def test_waterfall_sorted_by_change_with_threshold_lines():
    fig = BUILT["waterfall"]()
    bars = {t.meta["protocol"]: t for t in _traces(fig, "change")}
    # changes: A +12 (intensive), B +1, C −7 (weekly): ranks 1, 2, 3
    assert list(bars["intensive"].x) == [1] and list(bars["intensive"].y) == [12.0]
    assert list(bars["weekly"].x) == [2, 3] and list(bars["weekly"].y) == [1.0, -7.0]
    levels = sorted(s.y0 for s in fig.layout.shapes if s.type == "line")
    assert levels == [-6.0, 0.0, 6.0]


def test_patient_chart_marks_sessions_and_flags():
    fig = BUILT["patient"]()
    (scores,) = _traces(fig, "scores")
    assert list(scores.text) == ["B", "S1", "S2", "FU"]
    dotted = sorted(s.x0 for s in fig.layout.shapes if s.type == "line")
    assert dotted == [7.0, 14.0]  # one line per assessment after a dosing session
    (flag,) = _traces(fig, "flag")
    assert list(flag.x) == [0.0]


def test_patient_chart_by_session_leaves_follow_up_out():
    fig = charts.patient_chart(ONE_PATIENT, instrument=GAD7, x="session")
    (scores,) = _traces(fig, "scores")
    assert list(scores.x) == [0.0, 1.0, 2.0]
    assert "GAD-7" in fig.layout.yaxis.title.text
