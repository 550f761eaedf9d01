"""Property: a tidy table written as CSV, long or wide, in any supported dialect reads back to
the same values (as text), rows in file order with their spreadsheet row numbers.

The CSV text is written by Python's csv module, an implementation independent of the reader's
(pyarrow's parser behind sniffing of our own).
"""

from __future__ import annotations

import codecs
import csv
import io
import string

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.instruments import default_registry
from data.readers.export import read_export

REG = default_registry()
TEXT = string.ascii_letters + string.digits + " ,;\t\"'-_/.éü€\n"
ids = st.text(TEXT, min_size=1, max_size=8).map(str.strip).filter(bool)
dialects = st.sampled_from([",", ";", "\t"])
encodings = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-be-bom"])
line_ends = st.sampled_from(["\n", "\r\n"])
scores = st.one_of(st.none(), st.integers(0, 80))


def encode(text: str, encoding: str) -> bytes:
    if encoding == "utf-16-be-bom":
        return codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    return text.encode(encoding)


def write_csv(rows: list[list], delimiter: str, line_end: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator=line_end).writerows(rows)
    return buf.getvalue()


def values(frame: pd.DataFrame, name: str) -> list:
    return [None if pd.isna(v) else v for v in frame[name]]


long_rows = st.lists(
    st.tuples(ids, st.sampled_from(["PHQ-9", "gad7", "PCL 5"]), st.integers(0, 12), scores),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(long_rows, dialects, encodings, line_ends)
def test_long_csv_reads_back_the_same_values(rows, delimiter, encoding, line_end):
    header = ["Client ID", "Measure", "session", "score"]
    text = write_csv([header, *[list(r) for r in rows]], delimiter, line_end)
    raw = read_export(encode(text, encoding), filename="x.csv", registry=REG)
    assert raw.delimiter == delimiter
    assert values(raw.frame, "patient_id") == [r[0] for r in rows]
    assert values(raw.frame, "instrument") == [r[1] for r in rows]
    assert values(raw.frame, "session") == [str(r[2]) for r in rows]
    assert values(raw.frame, "score") == [None if r[3] is None else str(r[3]) for r in rows]
    assert list(raw.frame["source_row"]) == list(range(2, len(rows) + 2))


WIDE_NAMES = {
    "PHQ-9": st.sampled_from(["phq9", "PHQ9 Total", "PHQ-9", "phq_9 score"]),
    "GAD-7": st.sampled_from(["gad7", "GAD7 Total", "GAD-7"]),
    "PCL-5": st.sampled_from(["pcl5", "PCL-5 total"]),
}
visits = st.lists(
    st.tuples(
        ids, st.integers(0, 12), scores, scores, scores, st.one_of(st.none(), st.integers(0, 3))
    ),
    min_size=1,
    max_size=25,
).filter(lambda vs: any(v[2:] != (None,) * 4 for v in vs))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(visits, st.fixed_dictionaries(WIDE_NAMES), dialects, encodings, line_ends)
def test_wide_csv_melts_to_the_same_values(rows, names, delimiter, encoding, line_end):
    header = ["Client ID", "Visit", names["PHQ-9"], names["GAD-7"], names["PCL-5"], "phq9_9"]
    text = write_csv([header, *[list(r) for r in rows]], delimiter, line_end)
    raw = read_export(encode(text, encoding), filename="x.csv", registry=REG)
    expected = []  # (source_row, patient, session, instrument, score, item_9), registry order
    for i, (pid, session, phq, gad, pcl, phq_item9) in enumerate(rows, start=2):
        for key, score, item9 in (
            ("PHQ-9", phq, phq_item9),
            ("GAD-7", gad, None),
            ("PCL-5", pcl, None),
        ):
            if score is not None or item9 is not None:
                expected.append(
                    (
                        i,
                        pid,
                        str(session),
                        key,
                        None if score is None else str(score),
                        None if item9 is None else str(item9),
                    )
                )
    got = list(
        zip(
            raw.frame["source_row"],
            values(raw.frame, "patient_id"),
            values(raw.frame, "session"),
            values(raw.frame, "instrument"),
            values(raw.frame, "score"),
            values(raw.frame, "item_9"),
            strict=True,
        )
    )
    assert raw.shape == "wide"
    assert got == expected
