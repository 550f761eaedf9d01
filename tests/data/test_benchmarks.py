"""The published benchmarks file (data/benchmarks.toml) and its loader (data/benchmarks.py)."""

from __future__ import annotations

import re

import pytest

from data import benchmarks as bm
from data.benchmarks import (
    CLAIM_IDS,
    GROUPS,
    MEASURES,
    Benchmark,
    BenchmarkError,
    default_benchmarks,
    load_benchmarks,
    parse_benchmarks,
)
from data.errors import ReliefCheckError

#: The figures issue 11 names, as the sources give them (docs/benchmarks.md).
ISSUE_FIGURES = {
    "posternak2001_untreated_percent_change": -11.9,
    "posternak2001_untreated_response": 19.7,
    "rutherford2012_waitlist_d": 0.505,
    "whiteford2013_untreated_remission": 23.0,
    "talkingtherapies_reliable_improvement": 67.0,
    "talkingtherapies_recovery": 50.2,
    "wakefield2021_depression_d": 0.87,
    "wakefield2021_anxiety_d": 0.88,
    "transform_placebo_response": 45.2,
    "murrough2013_relapse_days": 18.0,
    "hull2022_kap_response": 62.8,
}

GOOD = """
[[benchmark]]
id = "x1"
group = "no treatment"
measure = "response share"
value = 20.0
unit = "%"
instrument = "HAM-D"
condition = "depression"
population = "wait-listed adults"
timeframe = "8 weeks"
location = "abstract"
checked = true
check_note = "abstract, PMID 1"
claims = ["large-improvement"]
applies_to = ["PHQ-9"]

[benchmark.citation]
authors = "Doe J; Roe R"
year = 2001
title = "A study"
journal = "A Journal"
volume = "1"
issue = "2"
pages = "3-4"
doi = "10.1/x"
"""


def test_builtin_file_parses():
    table = load_benchmarks()
    assert len(table) >= len(ISSUE_FIGURES)
    assert len(set(table.ids())) == len(table)
    for b in table:
        assert isinstance(b, Benchmark)
        assert b.group in GROUPS and b.measure in MEASURES
        assert set(b.claims) <= set(CLAIM_IDS)


def test_every_issue_figure_is_in_the_file_with_the_sources_value():
    table = default_benchmarks()
    for bid, value in ISSUE_FIGURES.items():
        assert table.get(bid).value == pytest.approx(value), bid


def test_every_entry_has_a_full_citation_and_a_check_note():
    for b in default_benchmarks():
        c = b.citation
        assert c.authors and c.title and c.journal and 1990 <= c.year <= 2030, b.id
        assert c.doi or c.url, b.id
        if c.doi:
            assert re.fullmatch(r"10\.\d{4,}/\S+", c.doi), b.id
            assert c.volume and c.pages, b.id  # journal articles: volume and pages
        assert b.location and b.check_note and b.population and b.timeframe, b.id
        assert str(c.year) in c.full and c.title.rstrip(".") in c.full, b.id
        assert b.comparability, b.id


def test_checked_entries_say_where_the_figure_was_read_and_unchecked_ones_say_why():
    for b in default_benchmarks():
        if b.checked:
            assert re.search(r"(?i)abstract|press release|report", b.check_note), b.id
        else:
            assert "not confirmed" in b.check_note.lower(), b.id


def test_unconfirmed_figure_is_marked_unchecked():
    assert default_benchmarks().get("talkingtherapies_reliable_improvement").checked is False


def test_named_ids_all_resolve():
    names = ("UNTREATED_PERCENT_CHANGE", "UNTREATED_PERCENT_CHANGE_SELF_REPORT",
             "UNTREATED_RESPONSE", "WAITLIST_PREPOST_D", "UNTREATED_REMISSION",
             "ROUTINE_CARE_RELIABLE_IMPROVEMENT", "ROUTINE_CARE_RECOVERY", "ROUTINE_CARE_PREPOST_D",
             "ROUTINE_CARE_PREPOST_D_ANXIETY", "ESKETAMINE_PLACEBO_RESPONSE",
             "ESKETAMINE_PLACEBO_DAY2_RESPONSE", "KETAMINE_RELAPSE_DAYS", "KAP_PRACTICE_RESPONSE",
             "KAP_PRACTICE_REMISSION", "KAP_PRACTICE_PREPOST_D")  # fmt: skip
    table = default_benchmarks()
    for name in names:
        bid = getattr(bm, name)
        assert table.get(bid).id == bid, name
    assert table.get(bm.ROUTINE_CARE_PREPOST_D).measure == "pre-post d"
    assert table.get(bm.UNTREATED_PERCENT_CHANGE).measure == "percent change"


def test_default_benchmarks_is_read_once():
    assert default_benchmarks() is default_benchmarks()


def test_get_unknown_id_names_the_known_ones():
    with pytest.raises(BenchmarkError, match="posternak2001_untreated_response"):
        default_benchmarks().get("nope")


def test_for_claim_and_find_filter():
    table = default_benchmarks()
    assert [b.id for b in table.for_claim("lasting")] == ["murrough2013_relapse_days"]
    assert {b.id for b in table.for_claim("treatment-resistant")} == {"transform_placebo_response"}
    assert table.for_claim("intensive-faster") == ()
    found = table.find(group="routine care", measure="pre-post d", instrument="GAD-7")
    assert [b.id for b in found] == ["wakefield2021_anxiety_d"]
    assert list(table)[0].id == table.ids()[0]


def test_short_and_full_citations():
    b = parse_benchmarks(GOOD).get("x1")
    assert b.citation.short == "Doe & Roe 2001"
    assert b.citation.full == "Doe J, Roe R. A study. A Journal. 2001;1(2):3-4. doi:10.1/x."
    assert b.label == "20% (Doe & Roe 2001)"
    assert default_benchmarks().get("rutherford2012_waitlist_d").citation.short == (
        "Rutherford et al. 2012"
    )
    d = b.to_dict()
    assert d["citation"]["full"] == b.citation.full and d["claims"] == ["large-improvement"]


# -- bad files ---------------------------------------------------------------------------------


def bad(text: str, match: str) -> None:
    with pytest.raises(BenchmarkError, match=match) as info:
        parse_benchmarks(text, source="mine.toml")
    assert isinstance(info.value, ReliefCheckError)
    assert "mine.toml" in str(info.value)


def test_missing_field_names_entry_and_field():
    bad(GOOD.replace('timeframe = "8 weeks"\n', ""), r"benchmark 'x1'.*'timeframe'")


def test_missing_id_names_the_entry_number():
    bad(GOOD.replace('id = "x1"\n', ""), r"benchmark number 1.*'id'")


def test_unknown_group_measure_unit_and_claim_are_named():
    bad(GOOD.replace('"no treatment"', '"waitlist"'), r"'x1'.*'group' must be one of")
    bad(GOOD.replace('"response share"', '"responders"'), r"'x1'.*'measure'")
    bad(GOOD.replace('unit = "%"', 'unit = "pct"'), r"'x1'.*'unit'")
    bad(GOOD.replace('["large-improvement"]', '["big"]'), r"'x1'.*unknown claim\(s\) big")


def test_value_must_be_a_number_and_a_share_in_range():
    bad(GOOD.replace("value = 20.0", 'value = "20"'), r"'x1'.*'value' must be a number")
    bad(GOOD.replace("value = 20.0", "value = 120.0"), r"'x1'.*between 0 and 100")


def test_checked_must_be_true_or_false():
    bad(GOOD.replace("checked = true", 'checked = "yes"'), r"'x1'.*'checked'")


def test_citation_needs_authors_and_a_way_to_find_it():
    bad(GOOD.replace('authors = "Doe J; Roe R"\n', ""), r"'x1', citation.*'authors'")
    bad(GOOD.replace('doi = "10.1/x"\n', ""), r"'x1', citation.*doi, pmid or url")
    bad(GOOD.replace("year = 2001", 'year = "2001"'), r"'x1', citation.*'year'")


def test_unknown_field_and_duplicate_id_and_empty_file():
    bad(GOOD.replace('location = "abstract"', 'location = "abstract"\nvalu = 3'), r"unknown field")
    bad(GOOD + GOOD.replace("[[benchmark]]", "[[benchmark]]", 1), r"'x1' is used twice")
    bad("# nothing\n", r"no \[\[benchmark\]\] entries")
    bad("[[benchmark]\n", r"not valid TOML")


def test_unreadable_file(tmp_path):
    with pytest.raises(BenchmarkError, match="Cannot read the benchmarks file"):
        load_benchmarks(tmp_path / "missing.toml")
    path = tmp_path / "b.toml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_benchmarks(path).ids() == ("x1",)
