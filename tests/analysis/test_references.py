"""Published benchmarks beside the practice's figures (analysis/references.py) and where they are
shown: the summary JSON, the researcher exports and the dashboard's view builders."""

from __future__ import annotations

import datetime as dt
import io
import json
import math

import numpy as np
import openpyxl
import pandas as pd
import pytest

from analysis.export import to_csv_bytes, to_xlsx_bytes
from analysis.figures import fast_figures
from analysis.methods import methods_info
from analysis.reference_outputs import (
    benchmark_sources_table,
    claim_effects,
    figures_references,
    references_research_table,
)
from analysis.references import (
    COLUMNS,
    NO_REFERENCE,
    expected_untreated_change,
    practice_references,
    regression_to_mean_caveat,
    to_records,
)
from analysis.research import research_tables
from analysis.summary import summary_json, summary_long
from dashboard.references_view import (
    reference_lines,
    references_chart,
    references_display,
)
from data.benchmarks import BUILTIN_FILE, default_benchmarks, parse_benchmarks
from data.demo.cohort import generate_demo
from data.instruments import default_registry

BM = default_benchmarks()
Z = 1.959963984540054  # two-sided 95% normal quantile
T9 = 2.2621571627409915  # t(0.975, 9 df)


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson (1927) interval written out, in percent."""
    p = k / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return 100 * (centre - half), 100 * (centre + half)


def small_outcomes() -> pd.DataFrame:
    """Ten paired PHQ-9 patients (baseline 20 each; six fall to 8, four to 18) and two PCL-5."""
    improved = np.array([True] * 6 + [False] * 4)
    eot = np.where(improved, 8.0, 18.0)
    phq = pd.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(10)],
            "instrument": "PHQ-9",
            "paired": pd.array([True] * 10, dtype="boolean"),
            "has_baseline": True,
            "baseline": 20.0,
            "eot": eot,
            "change": 20.0 - eot,
            "reliable_improvement": pd.array(improved, dtype="boolean"),
            "response": pd.array(improved, dtype="boolean"),
            "remission": pd.array([False] * 10, dtype="boolean"),
            "recovery": pd.array(improved, dtype="boolean"),
            # patients 0-2 and 6-7 treatment-resistant: three of the five respond
            "treatment_resistant": pd.array(
                [True, True, True, False, False, False, True, True, False, False], dtype="boolean"
            ),
            # of the six responders, four followed up at 90 days, three still responding
            "sustained90": pd.array(
                [True, True, True, False, None, None] + [None] * 4, dtype="boolean"
            ),  # fmt: skip
            # two fell 50% at day 5, one at day 10 (too late), the rest not by half
            "first_post_day": [5.0, 5.0, 10.0, 5, 5, 5, 5, 5, 5, 5],
            "first_post_score": [9.0, 10.0, 9.0, 15, 15, 15, 15, 15, 15, 15],
        }
    )
    pcl = phq.iloc[:2].assign(instrument="PCL-5", patient_id=["q0", "q1"])
    return pd.concat([phq, pcl], ignore_index=True)


@pytest.fixture(scope="module")
def small():
    eff = pd.DataFrame(
        {"instrument": ["PHQ-9"], "n": [10], "g_av": [1.2], "g_av_ci_lo": [0.8],
         "g_av_ci_hi": [1.6]}
    )  # fmt: skip
    return practice_references(small_outcomes(), BM, effects=eff)


def row(frame: pd.DataFrame, claim: str, ref: str, instrument: str = "PHQ-9") -> pd.Series:
    hit = frame[(frame["claim"] == claim) & (frame["reference_id"] == ref)]
    hit = hit[hit["instrument"] == instrument]
    assert len(hit) == 1, (claim, ref)
    return hit.iloc[0]


# -- the practice's figure and the difference, by hand ----------------------------------------


def test_reliable_improvement_beside_routine_care_by_hand(small):
    r = row(small, "large-improvement", "talkingtherapies_reliable_improvement")
    lo, hi = wilson(6, 10)
    assert (r["practice_n"], r["practice_of"]) == (6, 10)
    assert r["practice_value"] == pytest.approx(60.0)
    assert (r["practice_ci_lo"], r["practice_ci_hi"]) == pytest.approx((lo, hi))
    assert r["reference_value"] == 67.0
    assert r["difference"] == pytest.approx(60.0 - 67.0)
    # the reference is a fixed number: the practice's CI shifted by it
    assert (r["difference_ci_lo"], r["difference_ci_hi"]) == pytest.approx((lo - 67, hi - 67))
    assert pd.isna(r["better_than_reference"])  # the CI straddles 0
    assert r["comparable"].startswith("close")


def test_percent_change_beside_untreated_by_hand(small):
    r = row(small, "large-improvement", "posternak2001_untreated_percent_change")
    diffs = np.array([-12.0] * 6 + [-2.0] * 4)
    half = T9 * diffs.std(ddof=1) / math.sqrt(10)
    assert r["practice_value"] == pytest.approx(100 * (12.0 - 20.0) / 20.0)  # -40%
    assert (r["practice_ci_lo"], r["practice_ci_hi"]) == pytest.approx(
        (100 * (-8 - half) / 20, 100 * (-8 + half) / 20)
    )
    assert r["difference"] == pytest.approx(-40.0 + 11.9)
    assert r["better_than_reference"] is True or r["better_than_reference"] == True  # noqa: E712
    assert r["comparable"].startswith("rough")  # HAM-D beside PHQ-9


def test_response_beside_untreated_and_kap_practice(small):
    untreated = row(small, "large-improvement", "posternak2001_untreated_response")
    kap = row(small, "large-improvement", "hull2022_kap_response")
    for r, ref in ((untreated, 19.7), (kap, 62.8)):
        assert r["practice_value"] == pytest.approx(60.0)
        assert r["difference"] == pytest.approx(60.0 - ref)
    assert untreated["better_than_reference"] == True  # noqa: E712 - CI above 19.7
    assert kap["comparable"].startswith("close")


def test_recovery_and_remission_rows(small):
    rec = row(small, "large-improvement", "talkingtherapies_recovery")
    assert (rec["practice_n"], rec["practice_of"], rec["difference"]) == (6, 10, pytest.approx(9.8))
    rem = row(small, "large-improvement", "whiteford2013_untreated_remission")
    assert rem["practice_value"] == 0.0 and rem["difference"] == pytest.approx(-23.0)
    assert pd.isna(rem["better_than_reference"])  # 0 of 10: the CI (0 to 28%) holds 23%


def test_g_av_beside_published_pre_post_d(small):
    for ref, value in (("rutherford2012_waitlist_d", 0.505), ("wakefield2021_depression_d", 0.87)):
        r = row(small, "large-improvement", ref)
        assert r["practice_measure"] == "g_av" and r["practice_value"] == 1.2
        assert r["difference"] == pytest.approx(1.2 - value)
        assert r["difference_ci_lo"] == pytest.approx(0.8 - value)
    assert row(small, "large-improvement", "rutherford2012_waitlist_d")["better_than_reference"]


def test_without_effects_the_d_rows_have_no_practice_figure():
    frame = practice_references(small_outcomes(), BM)
    r = row(frame, "large-improvement", "wakefield2021_depression_d")
    assert math.isnan(r["practice_value"]) and math.isnan(r["difference"])


def test_treatment_resistant_beside_the_esketamine_trials_comparator(small):
    r = row(small, "treatment-resistant", "transform_placebo_response")
    assert (r["practice_n"], r["practice_of"]) == (3, 5)
    assert r["difference"] == pytest.approx(60.0 - 45.2)
    assert r["reference_group"] == "placebo"


def test_lasting_is_context_only(small):
    r = row(small, "lasting", "murrough2013_relapse_days")
    assert (r["practice_n"], r["practice_of"]) == (3, 4)
    assert r["practice_measure"].startswith("share still responding at 90 days")
    assert r["comparable"] == "context only: different measure"
    assert math.isnan(r["difference"]) and pd.isna(r["better_than_reference"])


def test_rapid_onset_counts_only_early_falls_of_half(small):
    r = row(small, "rapid-onset", "transform_placebo_day2_response")
    assert (r["practice_n"], r["practice_of"]) == (2, 10)  # patient 2 fell by half at day 10


def test_claims_and_instruments_without_a_reference_say_so(small):
    none = small[small["comparable"] == "no reference"]
    assert set(none.loc[none["instrument"] == "PCL-5", "claim"]) >= {
        "large-improvement", "lasting", "treatment-resistant", "rapid-onset", "intensive-faster"
    }  # fmt: skip
    once = none[none["instrument"].isna()].set_index("claim")["comparability"]
    assert once["suicidal-ideation"] == NO_REFERENCE["suicidal-ideation"]
    assert once["initial-anxiety"] == NO_REFERENCE["initial-anxiety"]
    faster = none[(none["instrument"] == "PHQ-9") & (none["claim"] == "intensive-faster")]
    assert faster["comparability"].iloc[0] == NO_REFERENCE["intensive-faster"]
    assert list(small.columns) == COLUMNS


def test_a_gad7_practice_gets_only_the_gad7_references():
    out = small_outcomes().assign(instrument="GAD-7")
    ids = set(practice_references(out, BM)["reference_id"].dropna())
    assert ids == {b.id for b in BM if "GAD-7" in b.applies_to}
    assert "posternak2001_untreated_response" not in ids


def test_to_records_is_strict_json(small):
    records = to_records(small)
    text = json.dumps(records, allow_nan=False)
    assert len(records) == len(small) and "talkingtherapies_recovery" in text


# -- regression to the mean -------------------------------------------------------------------


def test_expected_untreated_change_at_the_practice_baseline():
    e = expected_untreated_change(small_outcomes(), "PHQ-9", BM)
    assert e["applies"] and e["benchmark_id"] == "posternak2001_untreated_percent_change"
    assert e["mean_baseline"] == 20.0 and e["n_paired"] == 10
    assert e["points"] == pytest.approx(20.0 * -11.9 / 100)
    assert e["points_range"] == pytest.approx([20 * -15.7 / 100, 20 * -11.9 / 100])
    assert e["observed_change"] == pytest.approx(-8.0)
    assert e["beyond_expected"] == pytest.approx(-8.0 + 2.38)


def test_regression_caveat_gives_the_numbers():
    text = regression_to_mean_caveat(small_outcomes(), "PHQ-9", BM)
    assert "11.9%" in text and "15.7%" in text and "Posternak & Miller 2001" in text
    assert "baseline of 20.0" in text and "2.4 to 3.1 points" in text and "fell 8.0" in text


def test_regression_caveat_says_when_no_benchmark_applies():
    text = regression_to_mean_caveat(small_outcomes(), "PCL-5", BM)
    assert "No published untreated figure" in text and "PCL-5" in text
    assert expected_untreated_change(small_outcomes(), "PCL-5", BM)["applies"] is False


# -- where the figures are shown ---------------------------------------------------------------


@pytest.fixture(scope="module")
def demo():
    reg = default_registry()
    tidy = generate_demo()
    fig = fast_figures(tidy, reg)
    return tidy, fig, reg


def test_every_figure_is_in_the_summary_json(demo):
    _, fig, _ = demo
    summary = summary_json(fig)
    refs = summary["references"]
    json.dumps(summary, allow_nan=False)
    assert {r["reference_id"] for r in refs} - {None} == set(BM.ids())
    for b in BM:
        r = next(r for r in refs if r["reference_id"] == b.id)
        assert r["reference_value"] == b.value and r["reference_citation"] == b.citation.full
    for key in ("schema", "software", "groups", "comparisons", "models", "claims"):
        assert key in summary
    long = summary_long(summary)
    assert (long["section"] == "reference").any()


def test_every_figure_is_in_the_exports_with_its_citation(demo):
    tidy, fig, reg = demo
    tables = {t.name: t for t in research_tables(tidy, fig, reg)}
    assert {"references", "benchmark_sources"} <= set(tables)
    methods = methods_info(reg, fig.config.to_dict(), dt.date(2024, 1, 1))
    xlsx = to_xlsx_bytes(list(tables.values()), methods)
    book = openpyxl.load_workbook(io.BytesIO(xlsx), read_only=True)
    sources = [r for r in book["benchmark_sources"].iter_rows(values_only=True)]
    head = list(sources[0])
    body = {r[head.index("id")]: r for r in sources[1:]}
    for b in BM:
        assert body[b.id][head.index("value")] == pytest.approx(b.value)
        assert body[b.id][head.index("citation")] == b.citation.full
    csv = to_csv_bytes(tables["references"]).decode("utf-8-sig")
    for bid in BM.ids():
        assert bid in csv


def test_exports_neutralise_a_formula_in_the_benchmark_file():
    text = BUILTIN_FILE.read_text(encoding="utf-8")
    old = 'population = "Adult outpatients with major depression randomised'
    evil = parse_benchmarks(text.replace(old, 'population = "=HYPERLINK(1)Adult', 1))
    for table in (
        benchmark_sources_table(evil),
        references_research_table(practice_references(small_outcomes(), evil)),
    ):
        csv = to_csv_bytes(table).decode("utf-8-sig")
        assert "'=HYPERLINK(1)Adult" in csv, table.name
        assert ",=HYPERLINK" not in csv and ',"=HYPERLINK' not in csv, table.name


def test_small_counts_are_suppressed_in_the_references_export(small):
    table = references_research_table(small)
    csv = pd.read_csv(io.StringIO(to_csv_bytes(table).decode("utf-8-sig")), dtype=str)
    tr = csv[(csv["claim"] == "treatment-resistant") & (csv["instrument"] == "PHQ-9")].iloc[0]
    assert tr["practice_n"] == "<5" and pd.isna(tr["practice_value"]) and pd.isna(tr["difference"])


def test_claim_effects_reads_the_g_av_of_the_verdicts(demo):
    _, fig, _ = demo
    eff = claim_effects(fig.claims)
    assert set(eff["instrument"]) == {"GAD-7", "PCL-5", "PHQ-9"}
    refs = figures_references(fig)
    r = row(refs, "large-improvement", "wakefield2021_depression_d")
    assert r["practice_value"] == pytest.approx(eff.set_index("instrument").loc["PHQ-9", "g_av"])


def test_chart_shows_practice_and_each_reference_on_its_scale(demo):
    _, fig, _ = demo
    refs = figures_references(fig)
    chart = references_chart(refs, "PHQ-9")
    drawn = {
        bid: x
        for t in chart.data
        if (t.meta or {}).get("role") == "reference"
        for bid, x in zip(t.meta["ids"], t.x, strict=True)
    }
    shares = refs[
        (refs["instrument"] == "PHQ-9") & refs["measure"].astype(str).str.endswith("share")
    ]
    for bid, value in zip(shares["reference_id"], shares["reference_value"], strict=True):
        assert drawn[bid] == pytest.approx(value)
    assert any((t.meta or {}).get("role") == "practice" for t in chart.data)
    d_chart = references_chart(refs, "PHQ-9", unit="d")
    d_ids = {
        i for t in d_chart.data if (t.meta or {}).get("role") == "reference" for i in t.meta["ids"]
    }
    assert d_ids == {"rutherford2012_waitlist_d", "wakefield2021_depression_d", "hull2022_kap_d"}
    empty = references_chart(refs, "PCL-5")
    assert empty.layout.meta["empty"] is True


def test_chart_text_from_files_is_escaped():
    evil = parse_benchmarks(
        BUILTIN_FILE.read_text(encoding="utf-8").replace(
            'label = "NHS Talking Therapies 2022-23"', 'label = "<a href=x>NHS</a>"'
        )
    )
    chart = references_chart(practice_references(small_outcomes(), evil), "PHQ-9")
    texts = [str(v) for t in chart.data for v in (t.text if t.text is not None else [])]
    assert any("&lt;a href=x&gt;NHS" in s for s in texts)
    assert not any("<a href" in s for s in texts)


def test_display_table_and_lines_carry_every_figure_with_its_source(demo):
    _, fig, _ = demo
    refs = figures_references(fig)
    table = references_display(refs)
    for b in BM:
        hit = table[table["Citation"] == b.citation.full]
        assert len(hit), b.id
        assert (hit["Source"] == b.citation.short).all()
    lines = reference_lines(refs, "large-improvement", "PHQ-9")
    assert any("Routine care (NHS Talking Therapies 2022-23): 67% reliable improvement" in s
               for s in lines)  # fmt: skip
    assert reference_lines(refs, "suicidal-ideation", None) == [NO_REFERENCE["suicidal-ideation"]]
