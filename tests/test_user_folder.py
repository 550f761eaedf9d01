"""Tests never touch the real user data folder (tests/conftest.py): every default that points
into it resolves under the session's stand-in folder, and a command run without ``--db`` or
``--rejects-dir`` leaves the real folder exactly as it was."""

import os

from cli import main
from cli.store import default_rejects_dir
from data.access import default_roles_path
from data.store.engine import default_db_url, normalise_url
from data.store.keys import key_file_path
from tests.conftest import ISOLATED_DATA_HOME, REAL_DATA_FOLDER, folder_state


def test_the_stand_in_folder_is_not_the_real_one():
    assert os.environ["XDG_DATA_HOME"] == str(ISOLATED_DATA_HOME)
    assert not ISOLATED_DATA_HOME.is_relative_to(REAL_DATA_FOLDER)
    assert not REAL_DATA_FOLDER.is_relative_to(ISOLATED_DATA_HOME)
    assert "RELIEFCHECK_DB_URL" not in os.environ and "RELIEFCHECK_ROLES" not in os.environ


def test_every_default_path_is_under_the_stand_in_folder():
    sqlite_path = default_db_url().removeprefix("sqlite:///")
    pg_keys = key_file_path(normalise_url("postgresql://db.example:5432/rc"))
    for path in (sqlite_path, pg_keys, default_roles_path(), default_rejects_dir()):
        assert os.fspath(path).startswith(str(ISOLATED_DATA_HOME)), path


def test_a_command_without_db_leaves_the_real_folder_alone(tmp_path, capsys):
    before = folder_state(REAL_DATA_FOLDER)
    src = tmp_path / "isolation_check.csv"
    src.write_text(
        "patient_id,protocol,instrument,session,day,score\n"
        "P1,weekly,PHQ-9,0,0,20\nP1,weekly,PHQ-9,1,7,15\nP2,weekly,PHQ-9,0,0,40\n"
    )
    assert main(["ingest", str(src)]) == 0  # the default store and the default rejects folder
    capsys.readouterr()
    assert (ISOLATED_DATA_HOME / "reliefcheck" / "reliefcheck.sqlite").exists()
    assert list(default_rejects_dir().glob("isolation_check-*.rejects.csv"))
    assert folder_state(REAL_DATA_FOLDER) == before
