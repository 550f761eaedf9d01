"""Baseline months in the store (data/store/periods.py): round trip, masking, undo, migration."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import text

from data.periods import month_day, month_index, period_labels
from data.store import content_hash, open_store
from data.store.engine import make_engine, normalise_url
from data.store.migrations import LATEST, migrate
from data.store.periods import month_shift
from tests.data.store_helpers import BACKENDS, pid, row, store_url, validated


@pytest.fixture(params=BACKENDS)
def url(request, tmp_path) -> str:
    return store_url(request.param, tmp_path)


def _commit(s, rows, name, **v):
    return s.commit(validated(rows, **v), filename=name, content_hash=content_hash(name.encode()))


def _labels(s) -> dict[str, str]:
    months = s.read_baseline_months()
    return dict(zip(months.index, period_labels(months, "month"), strict=True))


def _dated_upload(s):
    """a: baseline dated 17 March 2025; b: only a later row dated (no baseline row); c: days."""
    rows = [row("a", 0, 0.0, 20), row("a", 1, 7.0, 14), row("b", 2, 0.0, 12)]
    _commit(
        s,
        rows,
        "dated",
        anchors={"a": "2025-03-17 10:30", "b": "2025-05-02"},
        from_baseline={"a": True, "b": False},
    )
    _commit(s, [row("c", 0, 0.0, 18), row("c", 1, 7.0, 9)], "days")


def test_baseline_month_round_trips_for_dated_baselines_only(url):
    with open_store(url) as s:
        _dated_upload(s)
        assert _labels(s) == {pid("a"): "2025-03"}
        tidy = s.read_tidy()
    assert "baseline_month_day" not in tidy.columns  # kept apart from the assessments


def test_stored_month_is_masked_and_holds_no_day(url):
    with open_store(url) as s:
        patients = [f"m{i}" for i in range(12)]
        rows = [row(p, 0, 0.0, 10) for p in patients]
        _commit(s, rows, "many", anchors={p: "2025-03-17" for p in patients})
        key = s.keys().anchor_key
        engine = make_engine(normalise_url(url))
        with engine.connect() as conn:
            got = conn.execute(text("SELECT patient_id, month_masked FROM upload_periods"))
            stored = {str(p): int(m) for p, m in got}
        engine.dispose()
        true_month = int(month_index(month_day(pd.Series([pd.Timestamp("2025-03-17")])))[0])
        # Every patient had the same baseline month, yet the stored numbers differ: each is the
        # month plus that patient's keyed shift, and no column holds a date or a day.
        assert len(set(stored.values())) >= 6  # 2,401 possible shifts: a few may coincide
        shifts = month_shift(pd.Index(list(stored)), key)
        assert [v - sh for v, sh in zip(stored.values(), shifts, strict=True)] == [true_month] * 12
        assert set(_labels(s).values()) == {"2025-03"}


def test_earliest_upload_gives_the_month_and_undo_takes_its_month_away(url):
    with open_store(url) as s:
        first = _commit(s, [row("a", 0, 0.0, 20)], "one", anchors={"a": "2025-01-20"})
        _commit(
            s,
            [row("a", 1, 7.0, 15)],
            "two",
            anchors={"a": "2025-06-01"},
            from_baseline={"a": False},
        )
        _commit(
            s, [row("a", 0, 0.0, 20), row("a", 2, 14.0, 10)], "three", anchors={"a": "2025-02-03"}
        )
        assert _labels(s) == {pid("a"): "2025-01"}
        s.undo(first.upload_id)
        assert _labels(s) == {pid("a"): "2025-02"}


def test_migration_to_version_8_keeps_data_and_old_patients_have_no_period(url):
    with open_store(url) as made:  # a version-7 store: today's, without what version 8 added
        _commit(
            made, [row("a", 0, 0.0, 20), row("a", 1, 7.0, 12)], "old", anchors={"a": "2025-03-01"}
        )
        before = made.read_tidy()
    engine = make_engine(normalise_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE upload_periods"))
        conn.execute(text("DELETE FROM schema_version WHERE version > 7"))
    engine.dispose()
    with open_store(url, upgrade=False) as old:
        assert old.read_baseline_months().empty  # no table yet: no period, no error
    with open_store(url) as s:
        assert s.schema_version() == LATEST == 8
        pd.testing.assert_frame_equal(s.read_tidy(), before)
        assert s.read_baseline_months().empty  # stored before version 8: period unknown
        _commit(s, [row("b", 0, 0.0, 20)], "new", anchors={"b": "2025-04-09"})
        assert _labels(s) == {pid("b"): "2025-04"}
    engine = make_engine(normalise_url(url))
    assert migrate(engine) == LATEST  # again: nothing to do
    engine.dispose()


def test_a_dated_export_gives_each_patient_the_month_of_their_baseline_row(tmp_path):
    """End to end on the sample with dates: reader, validation, commit, read back."""
    from pathlib import Path

    from data.ingest import load_export
    from data.periods import month_day

    sample = Path(__file__).resolve().parents[2] / "data" / "samples" / "with_dates.csv"
    raw = pd.read_csv(sample, dtype=str)
    base = raw[raw["session"] == "0"].groupby("patient_id")["Assessment Date"].min()
    expected = dict(zip(base.index, period_labels(month_day(base), "month"), strict=True))
    with open_store(f"sqlite:///{tmp_path / 's.sqlite'}") as s:
        s.commit(load_export(sample), filename="with_dates.csv", content_hash="wd")
        got = _labels(s)
    assert expected and got == {pid(p): m for p, m in expected.items()}
