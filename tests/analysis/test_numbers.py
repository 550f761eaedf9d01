"""The shared helpers of analysis/numbers.py: figures as JSON (NaN is not valid JSON, so the
summary writes None) and the confidence-level check."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from analysis.numbers import check_ci_level, finite_interval, finite_or_none, json_value
from data.errors import AnalysisError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.5, 1.5),
        (np.float32(0.25), 0.25),
        (3, 3.0),
        ("2.5", 2.5),
        (math.nan, None),
        (math.inf, None),
        (-math.inf, None),
        (None, None),
        (pd.NA, None),
        ("not a number", None),
    ],
)
def test_finite_or_none(value, expected):
    assert finite_or_none(value) == expected


def test_finite_interval_keeps_each_end_or_none():
    assert finite_interval((0.1, math.nan)) == [0.1, None]
    assert finite_interval((None, None)) == [None, None]


def test_json_value_gives_plain_json_that_json_dumps_accepts_without_nan():
    value = {
        "ci": (np.float64(0.2), np.nan),
        "n": np.int64(40),
        "flag": np.bool_(True),
        "missing": pd.NA,
        "nested": [np.float64(np.inf), (np.int32(2), 1.0)],
        "text": "kept",
    }
    out = {k: json_value(v) for k, v in value.items()}
    assert out == {
        "ci": [0.2, None],
        "n": 40,
        "flag": True,
        "missing": None,
        "nested": [None, [2, 1.0]],
        "text": "kept",
    }
    assert type(out["n"]) is int and type(out["flag"]) is bool
    json.dumps(out, allow_nan=False)  # raises on NaN, numpy scalars or NA


@pytest.mark.parametrize("level", [0.0, 1.0, 95, -0.5])
def test_a_confidence_level_outside_0_and_1_is_refused(level):
    with pytest.raises(AnalysisError, match="between 0 and 1"):
        check_ci_level(level)


def test_a_confidence_level_inside_is_returned():
    assert check_ci_level(0.9) == 0.9
