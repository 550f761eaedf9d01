"""``--skip-column``: a file refused for a column it does not need is read without that column,
and the column's values are never checked, printed or stored."""

from __future__ import annotations

import json

from cli import main

ROWS = (
    "patient_id,full_name,protocol,instrument,session,day,score\n"
    "A1,Jane Roe,weekly,PHQ-9,0,0,18\n"
    "A1,Jane Roe,weekly,PHQ-9,1,7,12\n"
)


def test_a_refused_file_is_read_without_the_skipped_column(tmp_path, capsys):
    path = tmp_path / "export.csv"
    path.write_text(ROWS, encoding="utf-8")
    assert main(["validate", str(path)]) == 2  # refused: a column of names
    refused = capsys.readouterr()
    assert "Jane" not in refused.out + refused.err
    assert main(["validate", str(path), "--skip-column", "full_name", "--format", "json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out)
    assert "Jane" not in out
    assert any("not read" in p["message"] for p in report["problems"])


def test_summary_reads_the_file_without_the_skipped_column(tmp_path, capsys):
    path = tmp_path / "export.csv"
    path.write_text(ROWS, encoding="utf-8")
    code = main(["summary", str(path), "--skip-column", "full_name", "--n-boot", "0", "--quiet"])
    assert code == 0
    assert "Jane" not in capsys.readouterr().out
