"""Where the command line writes (issue 10): regular files only, atomically, links followed,
special files refused with a message (exit 2, no traceback), ``-`` for standard output, and the
rejects and set-aside files of ``ingest`` checked before anything is committed."""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
from pathlib import Path

import pytest

from cli import files as outfiles
from cli import main
from cli.files import OutputPathError, PendingOutput, prepare_output
from data.store import open_store

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
FAST = ["--n-boot", "0", "--no-models", "--quiet"]
HEADER = "patient_id,protocol,instrument,session,day,score\n"
GOOD = HEADER + "P1,weekly,PHQ-9,0,0,20\nP1,weekly,PHQ-9,1,7,15\nP2,weekly,PHQ-9,0,0,18\n"
WITH_REJECT = GOOD + "P2,weekly,PHQ-9,1,7,40\n"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def summary(capsys, tmp_path, out) -> tuple[int, str, str]:
    src = tmp_path / "export.csv"
    src.write_text(GOOD)
    return run(capsys, "summary", src, "--out", out, *FAST)


def leftovers(folder: Path) -> list[Path]:
    return list(folder.rglob("*.part"))


def mode(path: Path) -> int:
    return os.lstat(path).st_mode


# --------------------------------------------------------------------------- links


def test_out_through_a_symlink_writes_its_target_and_keeps_the_link(tmp_path, capsys):
    target = tmp_path / "target.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    code, _, err = summary(capsys, tmp_path, link)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text())["schema"] == "reliefcheck.summary/1"
    assert leftovers(tmp_path) == []


def test_a_dangling_symlinks_target_is_created(tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    link = tmp_path / "link.json"
    link.symlink_to("sub/new.json")  # relative, and nothing there yet
    code, _, err = summary(capsys, tmp_path, link)
    assert code == 0, err
    assert link.is_symlink() and (tmp_path / "sub" / "new.json").is_file()


def test_a_looping_symlink_is_refused(tmp_path, capsys):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    code, _, err = summary(capsys, tmp_path, tmp_path / "a")
    assert code == 2 and "loops" in err and "Traceback" not in err


# --------------------------------------------------------------------------- special files


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def _socket(tmp_path: Path) -> Path:
    path = tmp_path / "sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()
    return path


def _device(tmp_path: Path) -> Path:
    """A character device like /dev/null, made in the test folder (needs root)."""
    path = tmp_path / "null"
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root")
    return path


def _folder(tmp_path: Path) -> Path:
    path = tmp_path / "folder"
    path.mkdir()
    return path


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (_fifo, "named pipe"),
        (_socket, "socket"),
        (_device, "device"),
        (_folder, "folder"),
    ],
    ids=["fifo", "socket", "device", "folder"],
)
def test_special_files_are_refused_and_left_as_they_were(tmp_path, capsys, make, words):
    special = make(tmp_path)
    before = mode(special)
    code, out, err = summary(capsys, tmp_path, special)
    assert code == 2 and words in err and "not a regular file" in err
    assert "Traceback" not in err + out
    assert mode(special) == before  # the device is still a device, the FIFO a FIFO
    assert leftovers(tmp_path) == []


def test_a_symlink_to_a_device_is_refused_naming_where_it_leads(tmp_path, capsys):
    device = _device(tmp_path)
    link = tmp_path / "out.json"
    link.symlink_to(device)
    code, _, err = summary(capsys, tmp_path, link)
    assert code == 2 and "device" in err and str(device) in err
    assert stat.S_ISCHR(mode(device)) and link.is_symlink()


@pytest.mark.parametrize("command", ["demo", "validate", "tables"])
def test_every_writing_command_refuses_a_fifo(tmp_path, capsys, command):
    fifo = _fifo(tmp_path)
    src = tmp_path / "export.csv"
    src.write_text(WITH_REJECT)
    argv = {
        "demo": ["demo", "--patients", "3", "--out", fifo],
        "validate": ["validate", src, "--rejects", fifo],
        "tables": ["tables", src, "--out", fifo, *FAST],
    }[command]
    code, _, err = run(capsys, *argv)
    assert code == 2 and "named pipe" in err
    assert ("not a folder" in err) == (command == "tables")
    assert stat.S_ISFIFO(mode(fifo)) and "Traceback" not in err


def test_a_missing_folder_is_named(tmp_path, capsys):
    code, _, err = summary(capsys, tmp_path, tmp_path / "nowhere" / "s.json")
    assert code == 2 and "nowhere" in err and "does not exist" in err


def test_out_never_overwrites_the_file_being_read(tmp_path, capsys):
    src = tmp_path / "export.csv"
    src.write_text(GOOD)
    code, _, err = run(capsys, "summary", src, "--out", src, *FAST)
    assert code == 2 and "being read" in err and src.read_text() == GOOD


def test_tables_checks_every_file_before_writing_any(tmp_path, capsys):
    src = tmp_path / "export.csv"
    src.write_text(GOOD)
    out = tmp_path / "tables"
    out.mkdir()
    os.mkfifo(out / "reliefcheck_tables.md")  # the last file written
    code, _, err = run(capsys, "tables", src, "--out", out, *FAST)
    assert code == 2 and "named pipe" in err
    assert sorted(p.name for p in out.iterdir()) == ["reliefcheck_tables.md"]


# --------------------------------------------------------------------------- standard output


def test_dash_is_standard_output(tmp_path, capsys):
    code, out, _ = summary(capsys, tmp_path, "-")
    assert code == 0 and json.loads(out)["schema"] == "reliefcheck.summary/1"
    assert not (tmp_path / "-").exists()
    code, out, _ = run(capsys, "demo", "--patients", "2", "--out", "-")
    assert code == 0 and out.splitlines()[0].startswith("patient_id,")


def test_dash_is_refused_where_standard_output_carries_the_report(tmp_path, capsys):
    src = tmp_path / "export.csv"
    src.write_text(WITH_REJECT)
    code, _, err = run(capsys, "validate", src, "--rejects", "-")
    assert code == 2 and "standard output" in err and not (tmp_path / "-").exists()


# --------------------------------------------------------------------------- atomic writes


def test_a_replaced_file_keeps_its_permissions(tmp_path, capsys):
    target = tmp_path / "s.json"
    target.write_text("old")
    target.chmod(0o640)
    assert summary(capsys, tmp_path, target)[0] == 0
    assert stat.S_IMODE(mode(target)) == 0o640 and target.read_text() != "old"


def test_a_new_file_gets_the_usual_permissions(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        assert summary(capsys, tmp_path, tmp_path / "s.json")[0] == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(mode(tmp_path / "s.json")) == 0o644


def test_disk_full_leaves_the_old_file_and_no_part(tmp_path, capsys, monkeypatch):
    target = tmp_path / "s.json"
    target.write_text("old")

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(outfiles.os, "write", full)
    code, _, err = summary(capsys, tmp_path, target)
    assert code == 2 and "No space left" in err and "Traceback" not in err
    assert target.read_text() == "old" and leftovers(tmp_path) == []


def test_leaving_without_writing_removes_the_temporary_file(tmp_path):
    with prepare_output(tmp_path / "x.csv") as pending:
        assert pending.temp.exists() and pending.temp.parent == tmp_path
    assert not pending.temp.exists() and not (tmp_path / "x.csv").exists()


def test_an_empty_path_is_refused():
    with pytest.raises(OutputPathError, match="empty"):
        prepare_output("")


# --------------------------------------------------------------------------- ingest


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'store.sqlite'}"


def _uploads(db: str) -> int:
    return len(open_store(db).uploads())


def test_ingest_with_an_unwritable_rejects_file_commits_nothing(tmp_path, capsys, db):
    src = tmp_path / "export.csv"
    src.write_text(WITH_REJECT)
    fifo = _fifo(tmp_path)
    code, out, err = run(capsys, "ingest", src, "--db", db, "--rejects", fifo)
    assert code == 2 and "named pipe" in err and "Stored" not in out
    assert _uploads(db) == 0


def test_ingest_with_an_unwritable_set_aside_file_commits_nothing(tmp_path, capsys, db):
    src = tmp_path / "export.csv"
    src.write_text(GOOD)
    code, out, err = run(capsys, "ingest", src, "--db", db, "--set-aside", tmp_path / "no" / "x")
    assert code == 2 and "does not exist" in err and _uploads(db) == 0


def test_ingest_refuses_one_path_for_rejects_and_set_aside(tmp_path, capsys, db):
    src = tmp_path / "export.csv"
    src.write_text(WITH_REJECT)
    same = tmp_path / "out.csv"
    code, _, err = run(capsys, "ingest", src, "--db", db, "--rejects", same, "--set-aside", same)
    assert code == 2 and "same file" in err and _uploads(db) == 0


def test_ingest_writes_rejects_and_set_aside_where_asked(tmp_path, capsys, db):
    src = tmp_path / "march.csv"
    src.write_text(WITH_REJECT)
    assert run(capsys, "ingest", src, "--db", db, "--rejects", tmp_path / "r.csv")[0] == 0
    assert (tmp_path / "r.csv").read_bytes().startswith(b"\xef\xbb\xbfrow,")
    later = tmp_path / "april.csv"
    later.write_text(HEADER + "P1,weekly,PHQ-9,1,7,12\nP1,weekly,PHQ-9,2,14,10\n")
    code, out, _ = run(capsys, "ingest", later, "--db", db, "--set-aside", tmp_path / "a.csv")
    assert code == 0 and "1 row set aside" in out
    assert "conflict" in (tmp_path / "a.csv").read_text("utf-8-sig")
    assert leftovers(tmp_path) == [] and _uploads(db) == 2


def test_a_set_aside_file_failing_after_the_commit_says_so(tmp_path, capsys, db, monkeypatch):
    first = tmp_path / "march.csv"
    first.write_text(GOOD)
    assert run(capsys, "ingest", first, "--db", db)[0] == 0
    later = tmp_path / "april.csv"
    later.write_text(HEADER + "P1,weekly,PHQ-9,1,7,12\nP1,weekly,PHQ-9,2,14,10\n")
    real = PendingOutput.write

    def fail_set_aside(self, data):
        if self.shown.endswith("set-aside.csv"):
            self.discard()
            raise OutputPathError(f"Cannot write {self.shown} (No space left on device).")
        real(self, data)

    monkeypatch.setattr(PendingOutput, "write", fail_set_aside)
    code, out, err = run(capsys, "ingest", later, "--db", db)
    assert code == 0 and "as upload 2" in out  # committed: the exit code says so
    assert "is in the store" in err and "could not be written" in err and "undo" in err
    assert leftovers(tmp_path) == []
