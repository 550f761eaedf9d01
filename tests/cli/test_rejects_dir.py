"""Where ``ingest`` writes its rejected, set-aside and replaced rows (issue 12, point 6): in
``--rejects-dir`` or the user's data folder, never beside the export; the path is printed; and
replaced rows are reported as replaced, not as set aside."""

from pathlib import Path

import pandas as pd
import pytest

from cli import main
from cli.store import default_rejects_dir, safe_stem
from tests.conftest import ISOLATED_DATA_HOME

HEADER = "patient_id,protocol,instrument,session,day,score\n"
FIRST = HEADER + "P1,weekly,PHQ-9,0,0,20\nP1,weekly,PHQ-9,1,7,15\nP2,weekly,PHQ-9,0,0,40\n"
LATER = HEADER + "P1,weekly,PHQ-9,1,7,12\nP1,weekly,PHQ-9,2,14,10\n"


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'store.sqlite'}"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _export_folder(tmp_path: Path, name: str, text: str) -> tuple[Path, Path]:
    folder = tmp_path / "exports"
    folder.mkdir(exist_ok=True)
    src = folder / name
    src.write_text(text)
    return folder, src


def test_default_rejects_dir_is_in_the_isolated_user_data_folder():
    assert default_rejects_dir() == ISOLATED_DATA_HOME / "reliefcheck" / "rejects"


def test_ingest_writes_rejects_to_the_user_data_folder_by_default_and_prints_the_path(
    tmp_path, db, capsys
):
    folder, src = _export_folder(tmp_path, "default_folder.csv", FIRST)
    code, _, err = run(capsys, "ingest", src, "--db", db)
    assert code == 0
    (written,) = default_rejects_dir().glob("default_folder-*.rejects.csv")
    assert f"1 row rejected, written to {written}" in err
    assert pd.read_csv(written)["row"].tolist() == [4]
    assert sorted(p.name for p in folder.iterdir()) == ["default_folder.csv"]  # nothing beside


def test_rejects_dir_is_created_and_used_and_nothing_lands_beside_the_export(tmp_path, db, capsys):
    folder, src = _export_folder(tmp_path, "march.csv", FIRST)
    later = folder / "april.csv"
    later.write_text(LATER)
    target = tmp_path / "out" / "rejected"  # does not exist yet
    assert run(capsys, "ingest", src, "--db", db, "--rejects-dir", target)[0] == 0
    code, out, _ = run(capsys, "ingest", later, "--db", db, "--rejects-dir", target)
    assert code == 0
    names = sorted(p.name for p in target.iterdir())
    assert [n.split("-")[0] for n in names] == ["april", "march"]
    assert names[0].endswith(".set-aside.csv") and names[1].endswith(".rejects.csv")
    assert f"written to {target / names[0]}" in out
    assert sorted(p.name for p in folder.iterdir()) == ["april.csv", "march.csv"]


def test_replace_reports_replaced_rows_as_replaced_not_set_aside(tmp_path, db, capsys):
    _, src = _export_folder(tmp_path, "march.csv", FIRST)
    later = src.with_name("april.csv")
    later.write_text(LATER)
    target = tmp_path / "r"
    assert run(capsys, "ingest", src, "--db", db, "--rejects-dir", target)[0] == 0
    code, out, _ = run(capsys, "ingest", later, "--db", db, "--replace", "--rejects-dir", target)
    assert code == 0 and "1 new assessment" in out
    assert "1 stored assessment with a different score was replaced" in out
    assert "set aside" not in out  # the replaced row is stored: it is not set aside
    (replaced,) = target.glob("april-*.replaced.csv")
    assert f"1 replaced assessment (with the score before), written to {replaced}" in out
    rows = pd.read_csv(replaced)
    assert rows[["session", "score", "stored_score", "kind"]].values.tolist() == [
        [1, 12.0, 15.0, "replaced"]
    ]
    assert not list(target.glob("april-*.set-aside.csv"))


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("march.csv", "march"),
        ("../../etc/passwd.csv", "passwd"),
        ("=HYPERLINK(x);a b.csv", "HYPERLINK_x_a_b"),
        (".hidden.csv", "hidden"),
        ("Ämter 2024.xlsx", "mter_2024"),
        ("???.csv", "export"),
        ("x" * 300 + ".csv", "x" * 60),
    ],
)
def test_file_names_use_only_a_sanitised_stem_of_the_export_name(name, stem):
    assert safe_stem(name) == stem


def test_a_hostile_export_name_cannot_steer_where_rejects_go(tmp_path, db, capsys):
    folder = tmp_path / "exports"
    folder.mkdir()
    src = folder / "..;=cmd|x.csv"
    src.write_text(FIRST)
    target = tmp_path / "r"
    assert run(capsys, "ingest", src, "--db", db, "--rejects-dir", target)[0] == 0
    (written,) = target.iterdir()
    assert written.name.startswith("cmd_x-") and written.name.endswith(".rejects.csv")
