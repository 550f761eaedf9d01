"""Expected recovery on the Patient page (issue 11): on the demo cohort the chart shades the
expected band behind the scores, the page says where the band comes from, flags "not on track"
at the first session outside it in plain words, and gives the flags' hit rate; a patient inside
the band is told they are on track. The chart builder is checked on its own as well."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis.expected_recovery import expected_bands, on_track
from dashboard import charts
from dashboard.state import DEMO_PATIENTS_ENV
from data.demo.cohort import DEFAULT_N_PATIENTS, DEFAULT_SEED, generate_demo
from data.instruments import default_registry

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
REG = default_registry()


@pytest.fixture(autouse=True)
def empty_store(tmp_path, monkeypatch):
    monkeypatch.setenv("RELIEFCHECK_DB_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")


@pytest.fixture(scope="module")
def demo_track() -> pd.DataFrame:
    """The demo cohort's PHQ-9 rows beside their bands, as the page computes them."""
    n = int(os.environ.get(DEMO_PATIENTS_ENV, DEFAULT_N_PATIENTS))
    tidy = generate_demo(n, DEFAULT_SEED)
    track = on_track(tidy, expected_bands(tidy, REG))
    return track.loc[track["instrument"] == "PHQ-9"]


def _patient_page(pid: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/patient.py").run()
    at.selectbox(key="patient_id").set_value(pid).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _roles(spec: str) -> set[str]:
    return {t.get("meta", {}).get("role") for t in json.loads(spec)["data"]}


def test_patient_off_track_sees_the_band_the_flag_and_the_hit_rate(demo_track):
    first = demo_track.loc[demo_track["first_flag"]].iloc[0]
    at = _patient_page(str(first["patient_id"]))
    phq = at.get("plotly_chart")[0].proto.spec
    assert {"expected_band", "expected", "off_track", "scores"} <= _roles(phq)
    assert f"not on track from S{int(first['session'])}" in phq
    flags = [w.value for w in at.warning if "Not on track" in w.value]
    assert flags[0].startswith(f"**Not on track from session {int(first['session'])}**")
    assert "a prompt to review" in flags[0] and "not a judgement" in flags[0]
    captions = [c.value for c in at.caption]
    assert any("Expected band from this practice's own history (n = " in c for c in captions)
    hit = [c for c in captions if c.startswith("How often the flag comes true")]
    assert hit and "cross-fitted" in hit[0] and "95% CI" in hit[0]


def test_patient_inside_the_band_is_on_track(demo_track):
    flags = demo_track.groupby("patient_id")["not_on_track"].agg(lambda s: s.fillna(False).any())
    counts = demo_track.groupby("patient_id")["session"].size()
    calm = flags.index[~flags.to_numpy(dtype=bool) & (counts >= 5).to_numpy()][0]
    at = _patient_page(str(calm))
    assert "expected_band" in _roles(at.get("plotly_chart")[0].proto.spec)
    assert not any("Not on track" in w.value and "PHQ-9" in w.value for w in at.warning)
    assert any(c.value.startswith("**On track**") for c in at.caption)


ROWS = pd.DataFrame(
    {
        "session": [0, 1, 2, 3],
        "day": [0.0, 7.0, 14.0, 21.0],
        "phase": ["baseline", "treatment", "treatment", "treatment"],
        "score": [18.0, 15.0, 20.0, 21.0],
    }  # fmt: skip
)
EXPECTED = ROWS.assign(
    expected=[18.0, 15.0, 13.0, 11.0],
    lower=[None, 11.0, 9.0, 7.0],
    upper=[None, 19.0, 17.0, 15.0],
    not_on_track=pd.array([None, False, True, True], dtype="boolean"),
    first_flag=[False, False, True, False],
)


def test_chart_shades_the_band_and_marks_the_first_session_outside_it():
    fig = charts.patient_chart(
        ROWS, instrument=REG.get("PHQ-9"), x="session", expected=EXPECTED, expected_name="band"
    )
    roles = [t.meta.get("role") for t in fig.data]
    assert roles.index("expected_band") < roles.index("scores")  # the band is behind
    (band,) = [t for t in fig.data if t.meta.get("role") == "expected_band"]
    assert band.fill == "tonexty" and list(band.y) == [19.0, 17.0, 15.0]
    (off,) = [t for t in fig.data if t.meta.get("role") == "off_track"]
    assert list(off.x) == [2.0, 3.0]
    assert [a.text for a in fig.layout.annotations if "on track" in a.text] == [
        "not on track from S2"
    ]


def test_chart_without_a_band_draws_none():
    fig = charts.patient_chart(ROWS, instrument=REG.get("PHQ-9"), x="session")
    roles = {t.meta.get("role") for t in fig.data}
    assert not roles & {"expected_band", "expected", "off_track"}
