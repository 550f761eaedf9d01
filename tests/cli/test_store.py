"""The store verbs of the command line (issue 4): ingest, uploads, undo, and summary --db."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'store.sqlite'}"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_commits_then_same_file_is_a_no_op(tmp_path, db, capsys):
    src = shutil.copy(SAMPLES / "wide.csv", tmp_path / "wide.csv")
    code, out, _ = run(capsys, "ingest", src, "--db", db)
    assert code == 0 and "as upload 1" in out
    n_rows = int(out.split("Stored ")[1].split()[0])
    assert n_rows == 561  # every accepted assessment of wide.csv (validate reports 561)
    code, out, _ = run(capsys, "ingest", src, "--db", db)
    assert code == 0 and "exactly the content of upload 1" in out and "Nothing was changed" in out
    code, out, _ = run(capsys, "uploads", "--db", db)
    assert code == 0 and "wide.csv" in out and out.count("wide.csv") == 1


def test_conflicting_rows_are_set_aside_and_written_to_the_rejects_dir(tmp_path, db, capsys):
    first = tmp_path / "march.csv"
    second = tmp_path / "april.csv"
    header = "patient_id,protocol,instrument,session,day,score\n"
    first.write_text(header + "P1,weekly,PHQ-9,0,0,20\nP1,weekly,PHQ-9,1,7,15\n")
    second.write_text(header + "P1,weekly,PHQ-9,1,7,12\nP1,weekly,PHQ-9,2,14,10\n")
    assert run(capsys, "ingest", first, "--db", db)[0] == 0
    code, out, _ = run(capsys, "ingest", second, "--db", db, "--rejects-dir", tmp_path / "r")
    assert code == 0 and "1 new assessment" in out
    (written,) = (tmp_path / "r").glob("april-*.set-aside.csv")
    assert f"1 row set aside (not stored), written to {written}" in out
    aside = pd.read_csv(written)
    assert aside[["session", "score", "stored_score", "kind"]].values.tolist() == [
        [1, 12.0, 15.0, "conflict"]
    ]
    # replace, then undo restores the stored score
    third = tmp_path / "april2.csv"
    third.write_text(header + "P1,weekly,PHQ-9,1,7,12\n")
    code, out, _ = run(capsys, "ingest", third, "--db", db, "--replace")
    assert code == 0 and "replaced" in out
    code, out, _ = run(capsys, "summary", "--db", db, "--quiet", "--no-models", "--n-boot", "0")
    group = json.loads(out)["groups"][0]
    assert group["eot_mean"] == 10.0 and group["n_paired"] == 1
    code, out, _ = run(capsys, "undo", 3, "--db", db)
    assert code == 0 and "restored" in out.lower()


def test_ingest_of_an_unusable_file_stores_nothing(tmp_path, db, capsys):
    bad = tmp_path / "names.csv"
    bad.write_text(
        "patient_id,Full name,protocol,instrument,session,day,score\nP1,Ann Lee,weekly,PHQ-9,0,0,20\n"
    )
    code, out, err = run(capsys, "ingest", bad, "--db", db)
    assert code == 2 and "Full name" in err and "Traceback" not in err
    code, out, _ = run(capsys, "uploads", "--db", db)
    assert "no uploads yet" in out


def test_every_row_rejected_exits_2_and_writes_rejects(tmp_path, db, capsys):
    bad = tmp_path / "scores.csv"
    bad.write_text("patient_id,protocol,instrument,session,day,score\nP1,weekly,PHQ-9,0,0,28\n")
    code, _, err = run(capsys, "ingest", bad, "--db", db, "--rejects-dir", tmp_path / "r")
    assert code == 2 and "nothing was stored" in err
    (written,) = (tmp_path / "r").glob("scores-*.rejects.csv")
    assert str(written) in err
    rejects = pd.read_csv(written)
    assert rejects["row"].tolist() == [2] and "outside" in rejects["reason"].iloc[0]


def test_undo_of_unknown_upload_and_empty_store_summary(db, capsys):
    code, _, err = run(capsys, "undo", 42, "--db", db)
    assert code == 2 and "no upload 42" in err
    code, _, err = run(capsys, "summary", "--db", db)
    assert code == 2 and "empty" in err
