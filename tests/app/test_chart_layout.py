"""Chart layout that holds at any width and in either theme (``dashboard.chart_style``): titles
wrap, the legend sits below the plot, n rows ride on the x tick labels (thinned with them when
crowded), severity-band labels sit inside the plot, and every fixed colour reads on a white and
on a dark background."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard import chart_style, charts
from data.instruments import default_registry

WHITE, DARK = "#FFFFFF", "#0E1117"  # Streamlit's light and dark backgrounds


def _luminance(hex_colour: str) -> float:
    """Relative luminance (WCAG 2.1)."""
    rgb = np.array([int(hex_colour.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4)]) / 255
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return float(lin @ [0.2126, 0.7152, 0.0722])


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("colour", [chart_style.REFERENCE, chart_style.INK, chart_style.FLAG])
def test_single_series_and_reference_colours_read_on_light_and_dark(colour):
    # WCAG 2.1 asks 3:1 for graphics: black would fail on dark, yellow on white
    assert _contrast(colour, WHITE) >= 3.0
    assert _contrast(colour, DARK) >= 3.0


@pytest.mark.parametrize("colour", list(chart_style.PROTOCOL_COLOURS.values()))
def test_protocol_colours_stay_visible_on_light_and_dark(colour):
    # Okabe–Ito blue and orange, drawn as 2.5 px lines with markers: neither fades into
    # either background (orange on white is the weakest pair, about 2.2:1)
    assert _contrast(colour, WHITE) >= 2.0
    assert _contrast(colour, DARK) >= 3.0


def test_wrap_breaks_long_titles_at_spaces_only():
    text = "PHQ-9: mean score with 95% CI, by session"
    lines = chart_style.wrap(text, 20).split("<br>")
    assert all(len(line) <= 20 for line in lines) and " ".join(lines) == text
    assert chart_style.wrap("short", 20) == "short"
    assert chart_style.wrap("a<br>b", 20) == "a<br>b"


def test_style_puts_the_legend_below_and_lets_the_title_push_the_plot_down():
    fig = chart_style.style(go.Figure(), "A title long enough to need two lines here", "x", "y")
    assert fig.layout.legend.yref == "container" and fig.layout.legend.y == 0
    assert fig.layout.legend.yanchor == "bottom" and fig.layout.legend.orientation == "h"
    assert fig.layout.title.automargin and "<br>" in fig.layout.title.text
    assert fig.layout.xaxis.automargin and fig.layout.yaxis.automargin


def _points(sessions: int) -> pd.DataFrame:
    s = np.arange(sessions)
    one = pd.DataFrame({"session": s, "n": 100 - s, "mean": 15.0 - s, "ci_lo": 14.0 - s,
                        "ci_hi": 16.0 - s})  # fmt: skip
    return pd.concat([one.assign(protocol="intensive"), one.assign(protocol="weekly")])


def test_n_rows_ride_on_the_tick_labels_all_shown_when_few():
    reg = default_registry()
    fig = charts.trajectory_chart(_points(9), instrument=reg.get("PHQ-9"))
    alias = fig.layout.xaxis.labelalias
    assert alias["0"] == "0<br>100<br>100" and alias["8"] == "8<br>92<br>92"
    assert fig.layout.xaxis.tickmode == "array" and list(fig.layout.xaxis.tickvals) == list(
        range(9)
    )
    names = [a.text for a in fig.layout.annotations if a.yref == "paper" and a.y == 0]
    assert any("n intensive" in t for t in names) and any("n weekly" in t for t in names)


def test_n_rows_are_thinned_with_the_ticks_when_many():
    reg = default_registry()
    fig = charts.trajectory_chart(_points(16), instrument=reg.get("PHQ-9"))
    assert fig.layout.xaxis.tickmode == "auto"  # plotly labels every k-th session that fits
    assert len(fig.layout.xaxis.labelalias) == 16


def test_severity_band_labels_sit_inside_the_plot_in_grey_bands():
    fig = go.Figure()
    chart_style.severity_bands(fig, default_registry().get("PHQ-9"))
    assert all(a.xanchor == "right" and a.x == 1.0 for a in fig.layout.annotations)
    assert all(s.fillcolor.startswith("rgba(128, 128, 128") for s in fig.layout.shapes)
    assert not fig.layout.margin.r  # no room kept right of the plot
