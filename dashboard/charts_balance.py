"""Love plot: covariate balance between two protocols before and after overlap weighting.

Pure plotly (no Streamlit), with the conventions of ``dashboard.charts``: a title, axis titles,
Okabe–Ito colours, hover text, ``meta = {"role": ...}`` on every trace, and an informative empty
figure instead of an error. Covariate labels (which name sites and routes from the files) reach
plotly escaped (``safe_text.plot_texts``) and only as data (the row labels and ``%{y}`` in the
hover), never inside a hover template string.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.chart_style import OKABE_ITO, REFERENCE, empty_figure, finite, style
from dashboard.safe_text import plot_texts

#: |SMD| at or above this counts as imbalance (the dashed line; analysis.balance.SMD_THRESHOLD).
THRESHOLD = 0.1
BEFORE = OKABE_ITO["vermillion"]
AFTER = OKABE_ITO["blue"]
X_TITLE = "Absolute SMD (pooled SD); dashed line = 0.1"
ROW_BASE, ROW_HEIGHT = 150, 44  # px: title, legend and axis; one covariate row


def love_plot(
    balance_table: pd.DataFrame,
    *,
    a: str = "intensive",
    b: str = "weekly",
    title: str | None = None,
) -> go.Figure:
    """|SMD| per covariate before weighting (hollow circles) and after (filled), a dashed line
    at 0.1, one row per covariate top to bottom in the table's order, its label above it.

    ``balance_table`` (``BalanceResult.balance``): covariate, smd_raw, smd_weighted (kind is
    shown in the hover when present). Height grows with the rows, so the chart stays readable
    from a 390 px phone to a desktop.
    """
    title = title or f"Baseline balance: {a} vs {b}"
    if balance_table is None or balance_table.empty:
        return empty_figure(title, "No covariates to compare.", X_TITLE, "")
    data = balance_table.reset_index(drop=True)
    labels = plot_texts(data["covariate"]).tolist()  # escaped once: y values and annotations
    raw = data["smd_raw"].to_numpy(dtype=float)
    weighted = data["smd_weighted"].to_numpy(dtype=float)
    kind = data["kind"].astype(str) if "kind" in data else pd.Series([""] * len(data))
    fig = go.Figure()
    # a thin grey segment from before to after, so the eye follows each covariate's shift
    both = finite(raw) & finite(weighted)
    xs = np.column_stack([np.abs(raw), np.abs(weighted), np.full(len(data), np.nan)])[both]
    ys = np.column_stack([labels, labels, np.full(len(data), None, dtype=object)])[both]
    fig.add_trace(
        go.Scatter(
            x=xs.ravel(),
            y=ys.ravel(),
            mode="lines",
            line={"color": "#BBBBBB", "width": 1.5},
            hoverinfo="skip",
            showlegend=False,
            meta={"role": "shift"},
        )
    )
    for role, name, values, symbol, colour in (
        ("before", "Before weighting", raw, "circle-open", BEFORE),
        ("after", "After overlap weighting", weighted, "circle", AFTER),
    ):
        ok = finite(values)
        fig.add_trace(
            go.Scatter(
                x=np.abs(values[ok]),
                y=np.asarray(labels, dtype=object)[ok],
                mode="markers",
                marker={
                    "symbol": symbol,
                    "size": 11,
                    "color": colour,
                    "line": {"width": 2, "color": colour},
                },
                customdata=np.c_[values[ok], kind.to_numpy(dtype=object)[ok]],
                hovertemplate=(
                    "%{y}<br>|SMD| %{x:.3f} (signed %{customdata[0]:+.3f}, "
                    "%{customdata[1]})<extra></extra>"
                ),
                cliponaxis=False,  # a marker at 0 is drawn whole
                name=name,
                meta={"role": role},
            )
        )
    # each label sits above its row, left-aligned: the plot keeps the full width on a phone
    notes = [
        go.layout.Annotation(
            text=label,
            x=0,
            xref="paper",
            xanchor="left",
            y=label,
            yref="y",
            yshift=14,
            showarrow=False,
            font={"size": 12},  # the theme's text colour, light or dark
            bgcolor="rgba(128, 128, 128, 0.12)",  # readable where the dashed line crosses
        )
        for label in labels
    ]
    style(fig, title, X_TITLE, "", height=ROW_BASE + ROW_HEIGHT * len(labels))
    fig.update_layout(margin={"l": 12, "r": 16}, font={"size": 12}, annotations=notes)
    top = np.nanmax(np.abs(np.r_[raw, weighted, THRESHOLD]))
    fig.update_xaxes(range=[0, max(0.15, 1.08 * float(top))], zeroline=True)
    fig.update_yaxes(
        title_text="",
        showticklabels=False,
        categoryorder="array",
        categoryarray=labels[::-1],
    )
    fig.add_vline(x=THRESHOLD, line={"color": REFERENCE, "dash": "dash", "width": 1.5})
    return fig
