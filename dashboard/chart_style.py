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
import plotly.io as pio

from dashboard.safe_text import plot_text
from data.instruments import Instrument

# Every figure starts on the white template, set as it is built: plotly applies the default
# template once without re-checking it, where setting it on each figure in ``style`` cost
# tens of milliseconds per chart.
pio.templates.default = "plotly_white"

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
#: Colour of reference lines (no change, thresholds, zero): a mid grey that reads on a light
#: and on a dark background alike (contrast about 4:1 on white and 5:1 on Streamlit's dark).
REFERENCE = "#808080"
#: One series that is not a protocol (one patient's scores, this practice beside published
#: figures): Okabe–Ito blue reads on a light and a dark background (black would vanish on dark).
INK = OKABE_ITO["blue"]
#: Marks a safety flag (item 9 of 1 or more), and the colour's name for the text that explains
#: it (Okabe–Ito vermillion, an orange-red: keep the two in step).
FLAG = OKABE_ITO["vermillion"]
FLAG_NAME = "orange-red"
#: Opacity of the mid-grey shades behind the severity bands, faintest for the mildest band:
#: grey over white darkens and over a dark background lightens, so both themes show the order.
_BAND_GREYS = (0.04, 0.09, 0.14, 0.19, 0.24, 0.29)
_BAND_GREY = "128, 128, 128"
FONT = "Source Sans Pro, Arial, sans-serif"
#: Characters per line of a chart title (at 17 px) and of an axis title (at 13 px) that still
#: fit a phone (390 px wide); longer ones are wrapped at spaces.
TITLE_CHARS, AXIS_CHARS = 38, 36
#: The same for a note under a title, in plotly's smaller ``<sup>`` text.
NOTE_CHARS = 52
#: Font size of tick labels and of the n rows under the x axis, and the rows' line height
#: (plotly sets lines of text 1.3 em apart).
_TICK_SIZE = 12
_LINE_PX = 1.3 * _TICK_SIZE


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


def wrap(text: str, width: int) -> str:
    """Plotly text broken into lines of at most ``width`` characters at spaces (``<br>``);
    lines already broken stay so, and a word longer than ``width`` is never split."""
    lines = []
    for part in text.split("<br>"):
        line = ""
        for word in part.split(" "):
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return "<br>".join(lines)


def style(
    fig: go.Figure, title: str, x_title: str, y_title: str, *, height: int = 440
) -> go.Figure:
    """Title, axis titles (with units), font, background and the legend, laid out to keep
    every label at any width from a phone (390 px) to a desktop, where plotly cannot know the
    width beforehand: titles wrap at ``TITLE_CHARS`` / ``AXIS_CHARS`` characters and push the
    plot down (``automargin``), the legend runs horizontally *below* the plot (where it can
    wrap onto more lines without covering the title), axis labels push the margins. Margins
    already set (e.g. for the n rows) are kept. The background is white for exports; on the
    dashboard Streamlit's theme (``components.chart``) swaps background, text and grid colours
    for the user's light or dark theme, and every colour set here reads on both.
    ``title`` and the axis titles are plotly text: a label from a file goes in through
    ``safe_text.plot_text``."""
    m = fig.layout.margin
    margin = {"l": m.l or 60, "r": m.r or 20, "t": m.t or 40, "b": m.b or 40, "pad": 0}
    fig.update_layout(
        title={
            "text": wrap(title, TITLE_CHARS),
            "x": 0.0,
            "xanchor": "left",
            "xref": "container",
            "y": 1.0,
            "yanchor": "bottom",
            "yref": "paper",
            "pad": {"b": 14, "l": 4},
            "automargin": True,
            "font": {"size": 17},
        },
        font={"family": FONT, "size": 13},
        height=height,
        margin=margin,
        legend={
            "orientation": "h",
            "xref": "container",
            "x": 0.0,
            "xanchor": "left",
            "yref": "container",
            "y": 0.0,
            "yanchor": "bottom",
        },
        hoverlabel={"font": {"family": FONT}},
    )
    fig.update_xaxes(title_text=wrap(x_title, AXIS_CHARS), automargin=True)
    fig.update_xaxes(tickfont={"size": _TICK_SIZE})
    fig.update_yaxes(title_text=wrap(y_title, AXIS_CHARS), automargin=True)
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
        font={"size": 15},  # the theme's text colour
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
    """Shade the instrument's severity bands behind the data (grey, more shading = more
    severe), each band's label inside the plot at the band's top right corner, so that it needs
    no margin and stays on a phone. Bands come from the registry (``Instrument.bands``): each
    runs from its lower bound to the next one (the last to max)."""
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
                fillcolor=f"rgba({_BAND_GREY}, {alpha})",
                line_width=0,
                layer="below",
            )
        )
        notes.append(
            go.layout.Annotation(
                x=1.0,
                xref="paper",
                xanchor="right",
                xshift=-4,
                y=highs[i],
                yref="y",
                yanchor="top",
                text=plot_text(instrument.bands[i][1]),
                showarrow=False,
                opacity=0.75,
                font={"size": 11},  # the theme's text colour
            )
        )
    fig.layout.shapes = (*fig.layout.shapes, *shapes)
    if label:
        fig.layout.annotations = (*fig.layout.annotations, *notes)
    fig.update_yaxes(range=[float(instrument.min), float(instrument.max)])


#: Up to this many x positions (with n of at most 3 digits) every one is labelled, which fits
#: a phone; beyond, plotly labels every k-th one,
#: k chosen from the plot's width (about one label per 80 px), so the rows never run together.
_ALL_TICKS = 10
#: Longest protocol name written beside its n row (longer ones are cut with an ellipsis).
_ROW_LABEL_CHARS = 12


def n_table(
    fig: go.Figure,
    rows: list[tuple[str, str, np.ndarray, np.ndarray]],
    label: str = "n",
    *,
    tick_text: dict[float, str] | None = None,
) -> None:
    """Write n under the x axis, one row per protocol in its colour, aligned with the x
    positions (like the numbers at risk under a survival curve). ``rows``: (protocol, colour,
    xs, ns); ``tick_text``: the x label of a position when not the number itself (day bins).

    The numbers are part of the x tick labels (plotly ``labelalias``: "4<br>125<br>103"), so
    they sit exactly under their positions, push the margin as the ticks do, and are thinned
    with the ticks on a narrow screen: up to ``_ALL_TICKS`` positions all are labelled, beyond
    that plotly labels every k-th one that fits. Each row's name is written left of it."""
    tick_text = tick_text or {}
    positions = sorted({float(x) for _, _, xs, _ in rows for x in xs} | set(tick_text))
    lookup = [dict(zip((float(x) for x in xs), ns, strict=True)) for _, _, xs, ns in rows]
    alias: dict[str, str] = {}
    for x in positions:
        cells = [tick_text.get(x, f"{x:g}")]
        for by_x in lookup:
            n = by_x.get(x)
            shown = "–" if n is None or not np.isfinite(float(n)) else f"{int(n):,}"
            cells.append(shown)
        alias[f"{x:g}"] = "<br>".join(cells)
    notes = []
    for i, (name, colour, _, _) in enumerate(rows):
        short = name if len(name) <= _ROW_LABEL_CHARS else name[: _ROW_LABEL_CHARS - 1] + "…"
        notes.append(
            go.layout.Annotation(
                x=0,
                xref="paper",
                xanchor="right",
                xshift=-6,
                y=0,
                yref="paper",
                yanchor="top",
                yshift=-(_TICK_TOP + _LINE_PX * (i + 1)),
                text=f'<span style="color:{colour}">●</span> {label} {plot_text(short)}',
                showarrow=False,
                font={"size": _TICK_SIZE - 1},  # the theme's text colour
            )
        )
    fig.layout.annotations = (*fig.layout.annotations, *notes)
    axis: dict[str, object] = {"labelalias": alias, "tickfont": {"size": _TICK_SIZE}}
    widest_cell = max(
        (len(c) for text in alias.values() for c in text.split("<br>")[1:]), default=0
    )
    if 0 < len(positions) <= _ALL_TICKS and widest_cell <= 3:
        axis |= {"tickmode": "array", "tickvals": positions}
    else:
        axis |= {"tickmode": "auto", "tick0": positions[0] if positions else 0, "dtick": None}
    fig.update_xaxes(**axis)
    widest = max((len(f"● {label} {n[:_ROW_LABEL_CHARS]}") for n, *_ in rows), default=0)
    left = max(fig.layout.margin.l or 0, int(6.5 * widest) + 12)
    fig.update_layout(margin={"l": left}, height=(fig.layout.height or 440) + _LINE_PX * len(rows))


#: Pixels from the bottom of the plot area to the top of the x tick labels' first line.
_TICK_TOP = 3


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
