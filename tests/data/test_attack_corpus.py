"""The attack corpus of issue 10 (tests/fixtures/attacks/cases.toml), run through the command
line on a fresh store per case, on SQLite and PostgreSQL: exit code, message, and what the
database holds afterwards, searched byte by byte for the identifying strings."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from cli import main
from data.store.engine import normalise_url
from tests.data.store_helpers import BACKENDS, store_url

HERE = Path(__file__).resolve().parents[1] / "fixtures" / "attacks"
CASES = tomllib.loads((HERE / "cases.toml").read_text(encoding="utf-8"))["case"]
HEADER = "patient_id,protocol,instrument,session,day,score"


def _generated(folder: Path) -> Path:
    """Files too repetitive to keep: a60.csv (60 rows) and b80.csv (the same 60 plus 20)."""
    folder.mkdir(exist_ok=True)
    a = [f"P{p:02d},weekly,PHQ-9,{s},{7 * s},{20 - 2 * s}" for p in range(1, 21) for s in (0, 1, 2)]
    b = a + [f"P{p:02d},weekly,PHQ-9,{s},{7 * s},{18 - s}" for p in range(21, 31) for s in (0, 1)]
    (folder / "a60.csv").write_text("\n".join([HEADER, *a]) + "\n")
    (folder / "b80.csv").write_text("\n".join([HEADER, *b]) + "\n")
    return folder


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse refuses unknown options this way
        code = int(stop.code or 0)
    out, err = capsys.readouterr()
    return code, out + err


def _database_text(url: str) -> bytes:
    """Everything the store holds: the SQLite file's bytes (and its -wal file), or every row of
    every PostgreSQL table as text."""
    full = normalise_url(url)
    if full.startswith("sqlite"):
        path = Path(full.split(":///", 1)[1])
        parts = [p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists()]
        return b"".join(parts)
    engine = create_engine(full)
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
            rows = [
                str(r[0])
                for t in tables
                for r in conn.execute(text(f'SELECT CAST(x AS TEXT) FROM "{t}" x'))
            ]
    finally:
        engine.dispose()
    return "\n".join(rows).encode("utf-8")


def _rows(url: str) -> int:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("assessments"):
                return 0
            return int(
                conn.execute(
                    text("SELECT COUNT(*) FROM assessments WHERE replaced_by IS NULL")
                ).scalar()
            )
    finally:
        engine.dispose()


def _outputs(tmp_path: Path) -> list[str]:
    """Where ingest writes its rejects and set-aside files: never into the corpus folder."""
    return ["--rejects", str(tmp_path / "rejects.csv"), "--set-aside", str(tmp_path / "aside.csv")]


def _steps(case: dict, url: str, tmp_path: Path) -> list[tuple[list[str], str | None]]:
    """The commands of a case, each with the text its output must contain (or None)."""
    if "headers" in case:
        out = []
        for i, header in enumerate(case["headers"]):
            f = tmp_path / f"header_{i}.csv"
            f.write_text(f'{HEADER},"{header}"\nP1,weekly,PHQ-9,0,0,20,Quincy\n', encoding="utf-8")
            out.append((["ingest", str(f), "--db", url, *_outputs(tmp_path)], header))
        return out
    if "file" in case:
        argv = ["ingest", str(HERE / case["file"]), "--db", url, *_outputs(tmp_path)]
        return [(argv, case.get("message"))]
    gen = _generated(tmp_path / "gen")
    fill = {"{db}": url, "{dir}": str(HERE), "{gen}": str(gen)}
    steps = []
    for argv in case["steps"]:
        filled = [a for a in argv]
        for k, v in fill.items():
            filled = [a.replace(k, v) for a in filled]
        if filled[0] == "ingest":
            filled += _outputs(tmp_path)
        steps.append((filled, None))
    steps[-1] = (steps[-1][0], case.get("message"))
    return steps


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_attack_case(case, backend, tmp_path, capsys):
    if case.get("sqlite_only") and backend != "sqlite":
        pytest.skip("a SQLite URL case")
    url = store_url(backend, tmp_path)
    steps = _steps(case, url, tmp_path)
    for i, (argv, message) in enumerate(steps):
        code, output = _run(argv, capsys)
        assert "Traceback" not in output
        last = i == len(steps) - 1
        if last or "headers" in case:
            assert code == case["exit"], output
        else:
            assert code == 0, output
        if message:
            assert message.lower() in output.lower(), output
    if case.get("sqlite_only"):
        return
    held = _database_text(url)
    for bad in case.get("absent", []):
        assert bad.encode("utf-8") not in held, f"{bad!r} is in the database"
    if "rows" in case:
        assert _rows(url) == case["rows"]
