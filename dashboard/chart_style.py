"""Shared look of every ReliefCheck chart: the colour-blind-safe palette, titles, empty figures
and severity bands. Pure plotly (no Streamlit), so the figures can be tested and exported.

Colours are the Okabe–Ito palette (Okabe & Ito 2008, "Color Universal Design"), distinguishable
under the common forms of colour blindness. Each protocol keeps its colour whatever the filters:
intensive is blue, weekly orange, any other label the next free colour in a fixed order.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.safe_text import plot_text
from data.instruments import Instrument

OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}
PALETTE: tuple[str, ...] = tuple(OKABE_ITO.values())
#: Fixed colours of the two built-in protocols; other labels take the rest in this order.
PROTOCOL_COLOURS = {"intensive": OKABE_ITO["blue"], "weekly": OKABE_ITO["orange"]}
_OTHER = ("bluish green", "reddish purple", "sky blue", "vermillion", "black", "yellow")
#: Colour of reference lines (no change, thresholds, zero).
REFERENCE = OKABE_ITO["black"]
#: Marks a safety flag (item 9 of 1 or more).
FLAG = OKABE_ITO["vermillion"]
#: Grey shades behind the severity bands, lightest for the mildest band.
_BAND_GREYS = (0.02, 0.06, 0.10, 0.14, 0.18, 0.22)
FONT = "Source Sans Pro, Arial, sans-serif"


def protocol_colours(labels: Iterable[object]) -> dict[str, str]:
    """A colour for each protocol label: fixed for intensive and weekly, the rest in sorted
    order from the remaining Okabe–Ito colours (cycling when there are more than six)."""
    out: dict[str, str] = {}
    others = sorted({str(x) for x in labels} - set(PROTOCOL_COLOURS))
    for name in {str(x) for x in labels} & set(PROTOCOL_COLOURS):
        out[name] = PROTOCOL_COLOURS[name]
    for i, name in enumerate(others):
        out[name] = OKABE_ITO[_OTHER[i % len(_OTHER)]]
    return out


def protocol_order(labels: Iterable[object]) -> list[str]:
    """Protocols in display order: intensive, weekly, then the others alphabetically."""
    names = {str(x) for x in labels}
    fixed = [p for p in PROTOCOL_COLOURS if p in names]
    return fixed + sorted(names - set(fixed))


def by_protocol(frame: pd.DataFrame, column: str = "protocol"):
    """Yield (protocol, its rows, its colour) in display order."""
    colours = protocol_colours(frame[column].dropna().unique())
    for name in protocol_order(colours):
        yield name, frame.loc[(frame[column].astype(str) == name).to_numpy()], colours[name]


def rgba(hex_colour: str, alpha: float) -> str:
    """``#RRGGBB`` as a CSS ``rgba(r, g, b, alpha)`` string (for translucent CI bands)."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha})"


def style(
    fig: go.Figure, title: str, x_title: str, y_title: str, *, height: int = 440
) -> go.Figure:
    """Title, axis titles (with units), font, white background and a legend above the plot.
    Margins already set (e.g. room for severity-band labels) are kept. ``title`` and the axis
    titles are plotly text: a label from a file goes in through ``safe_text.plot_text``."""
    m = fig.layout.margin
    margin = {"l": m.l or 70, "r": m.r or 30, "t": m.t or 80, "b": m.b or 60}
    fig.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 17}},
        font={"family": FONT, "size": 13},
        template="plotly_white",
        height=height,
        margin=margin,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        hoverlabel={"font": {"family": FONT}},
    )
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return fig


def empty_figure(title: str, message: str, x_title: str = "", y_title: str = "") -> go.Figure:
    """A figure without data that says why: the title and axis titles stay, and the plot area
    shows ``message`` (e.g. "No paired patients under the current filters")."""
    fig = go.Figure()
    style(fig, title, x_title, y_title, height=320)
    fig.add_annotation(
        text=message,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 15, "color": "#444444"},
    )
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_layout(meta={"empty": True, "message": message})
    return fig


def is_empty_figure(fig: go.Figure) -> bool:
    """True for a figure made by ``empty_figure``."""
    meta = fig.layout.meta
    return isinstance(meta, dict) and bool(meta.get("empty"))


def score_axis_title(instrument: Instrument | None, what: str = "score") -> str:
    """E.g. "PHQ-9 score (points, 0–27)"; "; higher is better" is added for an instrument where
    it is (higher is worse on the built-ins, and the severity bands show it)."""
    if instrument is None:
        return f"{what.capitalize()} (points)"
    better = "" if instrument.higher_is_worse else "; higher is better"
    key = plot_text(instrument.key)
    return f"{key} {what} (points, {instrument.min:g}–{instrument.max:g}{better})"


def severity_bands(fig: go.Figure, instrument: Instrument | None, *, label: bool = True) -> None:
    """Shade the instrument's severity bands behind the data (grey, darker = more severe),
    each band's label just right of the plot. Bands come from the registry
    (``Instrument.bands``): each runs from its lower bound to the next one (the last to max)."""
    if instrument is None or not instrument.bands:
        return
    lows = [float(b[0]) for b in instrument.bands]
    highs = [*lows[1:], float(instrument.max)]
    n = len(lows)
    order = range(n) if instrument.higher_is_worse else range(n - 1, -1, -1)
    shapes, notes = [], []
    for rank, i in enumerate(order):
        alpha = _BAND_GREYS[min(rank, len(_BAND_GREYS) - 1)]
        shapes.append(
            go.layout.Shape(
                type="rect",
                xref="x domain",
                x0=0,
                x1=1,
                yref="y",
                y0=lows[i],
                y1=highs[i],
                fillcolor=f"rgba(0, 0, 0, {alpha})",
                line_width=0,
                layer="below",
            )
        )
        notes.append(
            go.layout.Annotation(
                x=1.0,
                xref="paper",
                xanchor="left",
                xshift=6,
                y=(lows[i] + highs[i]) / 2,
                yref="y",
                text=plot_text(instrument.bands[i][1]),
                showarrow=False,
                font={"size": 11, "color": "#555555"},
            )
        )
    fig.layout.shapes = (*fig.layout.shapes, *shapes)
    if label:
        fig.layout.annotations = (*fig.layout.annotations, *notes)
        fig.update_layout(margin={"r": 130})
    fig.update_yaxes(range=[float(instrument.min), float(instrument.max)])


#: Pixels below the plot area where the first row of an n table sits (under the axis title).
_N_TABLE_TOP = 72
_N_TABLE_ROW = 18


def n_table(
    fig: go.Figure, rows: list[tuple[str, str, np.ndarray, np.ndarray]], label: str = "n"
) -> None:
    """Write n under the x axis, one row per protocol, aligned with the x positions (like the
    numbers at risk under a survival curve). ``rows``: (protocol, colour, xs, ns)."""
    notes = []
    for i, (name, colour, xs, ns) in enumerate(rows):
        shift = -(_N_TABLE_TOP + _N_TABLE_ROW * i)
        font = {"size": 11, "color": colour}
        common = {
            "y": 0,
            "yref": "paper",
            "yanchor": "top",
            "yshift": shift,
            "showarrow": False,
            "font": font,
        }
        notes.append(
            go.layout.Annotation(
                x=0,
                xref="paper",
                xanchor="right",
                xshift=-8,
                text=f"{label} {plot_text(name)}",
                **common,
            )
        )
        notes += [
            go.layout.Annotation(x=float(x), xref="x", text=str(int(n)), **common)
            for x, n in zip(xs, ns, strict=True)
        ]
    fig.layout.annotations = (*fig.layout.annotations, *notes)
    bottom = _N_TABLE_TOP + _N_TABLE_ROW * len(rows) + 12
    height = (fig.layout.height or 440) + _N_TABLE_ROW * len(rows)
    fig.update_layout(margin={"b": bottom, "l": 110}, height=height)


def finite(values: Iterable[float]) -> np.ndarray:
    """Boolean mask of finite values (NaN, None and ±inf are False)."""
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    return np.isfinite(arr)


def fmt(x: object, decimals: int = 1) -> str:
    """A number for hover text; an en dash when missing."""
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "–"
    return "–" if not np.isfinite(v) else f"{v:.{decimals}f}"
