"""The funnel plot of the site and clinician comparison (``analysis.provider_compare``): each unit's
case-mix-adjusted figure against its number of patients, inside control limits at 95% and
99.8% around the overall figure (Spiegelhalter 2005). Pure plotly, no Streamlit.

Unit labels come from uploads: every one goes into the figure through ``plot_texts``.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from analysis.provider_compare import (
    ABOVE_INNER,
    ABOVE_OUTER,
    BELOW_INNER,
    BELOW_OUTER,
    INSIDE,
    UnitComparison,
)
from dashboard.chart_style import OKABE_ITO, REFERENCE, empty_figure, fmt, style
from dashboard.safe_text import plot_text, plot_texts

#: Marker colour and legend name per flag (outside the outer limits stands out most).
FLAG_STYLE = {
    INSIDE: (OKABE_ITO["blue"], "within the limits"),
    ABOVE_INNER: (OKABE_ITO["orange"], "outside 95% (about 2 SE)"),
    BELOW_INNER: (OKABE_ITO["orange"], "outside 95% (about 2 SE)"),
    ABOVE_OUTER: (OKABE_ITO["vermillion"], "outside 99.8% (about 3 SE)"),
    BELOW_OUTER: (OKABE_ITO["vermillion"], "outside 99.8% (about 3 SE)"),
}
OUTCOME_WORDS = {
    "reliable_improvement": "reliable improvement",
    "response": "response",
    "remission": "remission",
    "mean_change": "mean change",
}


def y_title(result: UnitComparison) -> str:
    """The y axis: an adjusted percentage, or an adjusted mean change in points."""
    what = OUTCOME_WORDS.get(result.outcome, result.outcome)
    if result.binary:
        return f"Case-mix-adjusted {what} (%)"
    return f"Case-mix-adjusted {what} (points, baseline − end)"


def funnel_plot(result: UnitComparison, *, title: str | None = None) -> go.Figure:
    """Funnel plot: x = patients per unit, y = the adjusted figure; the overall figure as a
    line, the 95% limits dashed and the 99.8% limits dotted; each unit a dot labelled with its
    name and coloured by where it falls."""
    unit_word = result.unit_column
    what = OUTCOME_WORDS.get(result.outcome, result.outcome)
    title = title or (
        f"{plot_text(result.instrument)}: {what} by {unit_word}, adjusted for case mix"
    )
    x_title = f"Paired patients per {unit_word}"
    units = result.units
    if units.empty:
        return empty_figure(
            title,
            f"No {unit_word} has {result.min_n} or more paired patients",
            x_title,
            y_title(result),
        )
    fig = go.Figure()
    curves = result.curves()
    n = curves["n"].to_numpy(dtype=float)
    unit = "%" if result.binary else " points"
    for level, dash, name in (("998", "dot", "99.8% limits"), ("95", "dash", "95% limits")):
        for side in ("lo", "hi"):
            fig.add_trace(
                go.Scatter(
                    x=n,
                    y=curves[f"limit{level}_{side}"],
                    mode="lines",
                    line={"color": REFERENCE, "dash": dash, "width": 1.5},
                    name=name,
                    legendgroup=name,
                    showlegend=side == "lo",
                    hoverinfo="skip",
                )
            )
    fig.add_trace(
        go.Scatter(
            x=[n.min(), n.max()],
            y=[result.overall, result.overall],
            mode="lines",
            line={"color": REFERENCE, "width": 2.2},
            name=f"overall {fmt(result.overall)}{unit}",
            hoverinfo="skip",
        )
    )
    labels = plot_texts(units["unit"].astype(str))
    hover = (
        labels
        + "<br>"
        + units["n_patients"].astype(str)
        + " patients · adjusted "
        + units["adjusted"].map(fmt)
        + unit
        + " (95% CI "
        + units["adjusted_ci_lo"].map(fmt)
        + "–"
        + units["adjusted_ci_hi"].map(fmt)
        + ")<br>raw "
        + units["raw"].map(fmt)
        + unit
        + " · shrunken "
        + units["shrunken"].map(fmt)
        + unit
    ).to_numpy()
    shown: set[str] = set()
    flags = units["flag"].to_numpy()
    for flag, (colour, name) in FLAG_STYLE.items():
        sel = flags == flag
        if not sel.any():
            continue
        fig.add_trace(
            go.Scatter(
                x=units.loc[sel, "n_patients"],
                y=units.loc[sel, "adjusted"],
                mode="markers+text",
                marker={"color": colour, "size": 11, "line": {"color": "white", "width": 1}},
                text=labels[sel],
                textposition="top center",
                textfont={"size": 11},
                name=name,
                legendgroup=name,
                showlegend=name not in shown,
                hovertext=hover[np.asarray(sel)],
                hoverinfo="text",
            )
        )
        shown.add(name)
    fig = style(fig, title, x_title, y_title(result), height=500)
    fig.update_xaxes(rangemode="tozero")
    if result.binary:
        top = max(100.0, float(np.nanmax(units["adjusted"])) + 5.0)
        fig.update_yaxes(range=[0, top])
    return fig
