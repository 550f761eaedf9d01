"""``python -m analysis calibrate`` (cli/calibrate.py): the JSON keys, the other
formats, the exit codes, and defaults that are ``analysis.calibration``'s."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.calibration import COLUMNS, DEFAULT_N_SIM, DEFAULT_SEED, SCHEMA
from cli import EXIT_OK, EXIT_UNUSABLE, build_parser, main
from data.demo.cohort import write_demo_csv
from tests.analysis.test_calibration import uniform_practice

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--n-sim", "3", "--claims", "large-improvement", "--quiet"]


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    return write_demo_csv(uniform_practice(20), tmp_path_factory.mktemp("cal") / "practice.csv")


def test_json_has_the_fixed_keys(export, tmp_path):
    out = tmp_path / "cal.json"
    assert main(["calibrate", str(export), *FAST, "--out", str(out)]) == EXIT_OK
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert list(doc) == ["schema", "n_sim", "seed", "claims_config", "rows"]
    assert doc["schema"] == SCHEMA and doc["n_sim"] == 3 and doc["seed"] == DEFAULT_SEED
    assert [r["scenario"] for r in doc["rows"]] == ["false", "true"]
    assert all(list(r) == list(COLUMNS) for r in doc["rows"])
    assert {r["claim"] for r in doc["rows"]} == {"large-improvement"}


def test_csv_and_markdown(export, tmp_path):
    csv_out, md_out = tmp_path / "cal.csv", tmp_path / "cal.md"
    assert main(["calibrate", str(export), *FAST, "--format", "csv", "--out", str(csv_out)]) == 0
    header = csv_out.read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.split(",") == list(COLUMNS)
    assert main(["calibrate", str(export), *FAST, "--format", "md", "--out", str(md_out)]) == 0
    text = md_out.read_text(encoding="utf-8")
    assert text.startswith("## How much can this data say?")
    assert "| large-improvement | PHQ-9 | false: at the threshold |" in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--n-sim", "0"], "simulated cohorts must be a whole number of 1 or more"),
        (["--claims", "initial-anxiety"], "nothing to calibrate"),
        (["--claims", " , "], "--claims names no claim"),
    ],
)
def test_bad_options_exit_2_with_a_message(export, capsys, extra, message):
    code = main(["calibrate", str(export), "--quiet", *extra])
    err = capsys.readouterr().err
    assert code == EXIT_UNUSABLE
    assert message in err and "Traceback" not in err


def test_no_file_and_no_store_exits_2(capsys):
    assert main(["calibrate", "--quiet"]) == EXIT_UNUSABLE
    assert "Give an export FILE" in capsys.readouterr().err


def test_help_states_the_analysis_defaults():
    sub = build_parser()._subparsers._group_actions[0].choices["calibrate"]
    helps = {a.dest: a.help for a in sub._actions}
    assert f"(default {DEFAULT_N_SIM})" in helps["n_sim"]
    assert f"(default {DEFAULT_SEED})" in helps["seed"]


def test_runs_as_a_module_with_progress_on_stderr(export):
    done = subprocess.run(
        [sys.executable, "-m", "analysis", "calibrate", str(export), "--n-sim", "2",
         "--claims", "suicidal-ideation"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"][0]["claim"] == "suicidal-ideation"
    assert "[100%] Done" in done.stderr
