"""Count charts: outcome rates with Wilson CIs under both denominators, and the inclusion funnel.

Pure plotly (no Streamlit), with the conventions of ``dashboard.charts``, which re-exports them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.chart_style import (
    by_protocol,
    empty_figure,
    finite,
    fmt,
    style,
)
from dashboard.safe_text import plot_text, plot_texts

OUTCOME_LABELS = {
    "reliable_improvement": "Reliable improvement",
    "reliable_deterioration": "Reliable deterioration",
    "response": "Response (≥ 50% drop)",
    "remission": "Remission",
    "recovery": "Recovery",
    "reliable_recovery": "Reliable recovery",
}


def rates_chart(
    rates: pd.DataFrame, *, instrument_label: str = "", title: str | None = None
) -> go.Figure:
    """Outcome rates with Wilson 95% CIs per protocol, completers and everyone who started side
    by side: a dot at the percentage, a whisker for the CI and "n of N" beside it.

    ``rates`` (``analysis.result_tables.outcome_rates_table(...).frame`` for one instrument):
    protocol, outcome, denominator_basis ("completers" / "all starters"), numerator, denominator,
    pct, ci_lo, ci_hi (0–100).
    """
    title = title or f"{plot_text(instrument_label)} outcome rates with 95% CI".strip()
    x_title = "Patients (% of the denominator)"
    if rates is None or rates.empty:
        return empty_figure(
            title,
            "No patients with a baseline under the current filters.",
            x_title,
            "Outcome at end of treatment",
        )
    panels = (
        ("completers", "Last observation: baseline and a later score"),
        ("all starters", "Everyone who started (no end of treatment = not improved)"),
    )
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.03,
        subplot_titles=[p[1] for p in panels],
    )
    order = [o for o in OUTCOME_LABELS if o in set(rates["outcome"])]
    order += [o for o in pd.unique(rates["outcome"]) if o not in order]
    position = {o: i for i, o in enumerate(order)}
    n_prot = rates["protocol"].nunique()
    for col, (basis, _) in enumerate(panels, start=1):
        part_b = rates.loc[(rates["denominator_basis"] == basis).to_numpy()]
        for k, (name, part, colour) in enumerate(by_protocol(part_b)):
            part = part.loc[part["denominator"].to_numpy(dtype=float) > 0]
            y = part["outcome"].map(position).to_numpy(dtype=float)
            y = y + (k - (n_prot - 1) / 2) * 0.28  # protocols side by side within an outcome
            pct, lo, hi = (part[c].to_numpy(dtype=float) for c in ("pct", "ci_lo", "ci_hi"))
            counts = [
                f"{int(a)} of {int(b)}"
                for a, b in zip(part["numerator"], part["denominator"], strict=True)
            ]
            fig.add_trace(
                go.Scatter(
                    x=pct,
                    y=y,
                    mode="markers",
                    marker={"color": colour, "size": 9},
                    error_x={
                        "type": "data",
                        "symmetric": False,
                        "color": colour,
                        "thickness": 2,
                        "array": np.where(finite(hi), hi - pct, 0),
                        "arrayminus": np.where(finite(lo), pct - lo, 0),
                    },
                    customdata=np.c_[
                        part["outcome"].map(OUTCOME_LABELS).fillna(part["outcome"]), counts, lo, hi
                    ],
                    hovertemplate=(
                        f"<b>{plot_text(name)}</b> · {basis}<br>%{{customdata[0]}}: "
                        "%{x:.1f}% (95% CI %{customdata[2]:.1f} to %{customdata[3]:.1f})<br>"
                        "n = %{customdata[1]}"
                        "<extra></extra>"
                    ),
                    name=plot_text(name),
                    legendgroup=name,
                    showlegend=col == 1,
                    meta={"role": "rate", "protocol": name, "basis": basis},
                ),
                row=1,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=np.where(finite(hi), hi, pct) + 1.5,
                    y=y,
                    mode="text",
                    text=counts,
                    textposition="middle right",
                    textfont={"size": 10, "color": colour},
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=name,
                    meta={"role": "rate_label", "protocol": name, "basis": basis},
                ),
                row=1,
                col=col,
            )
    style(fig, title, x_title, "Outcome at end of treatment", height=150 + 55 * len(order))
    fig.update_xaxes(range=[0, 118], tickvals=[0, 20, 40, 60, 80, 100], title_text=x_title)
    fig.update_yaxes(
        tickvals=list(range(len(order))),
        ticktext=[OUTCOME_LABELS.get(o, o) for o in order],
        range=[len(order) - 0.5, -0.5],
        row=1,
        col=1,
    )
    fig.update_layout(margin={"t": 110})
    fig.update_annotations(font={"size": 13})
    return fig


def funnel_chart(funnel: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """The inclusion funnel: patients reaching each step, per protocol.

    ``funnel`` (``analysis.funnel.inclusion_funnel`` for one instrument): protocol, step, label,
    n, pct_of_assessed. Steps are drawn top to bottom in the order given.
    """
    title = title or "Which patients each figure counts"
    x_title = "Patients (n)"
    if funnel is None or funnel.empty:
        return empty_figure(title, "No assessments under the current filters.", x_title, "Step")
    funnel = funnel.assign(label=plot_texts(funnel["label"]).to_numpy())  # ticks and %{y}
    labels = list(pd.unique(funnel["label"]))
    fig = go.Figure()
    for name, part, colour in by_protocol(funnel):
        pct = part["pct_of_assessed"].to_numpy(dtype=float)
        fig.add_trace(
            go.Bar(
                x=part["n"],
                y=part["label"].astype(str),
                orientation="h",
                marker_color=colour,
                text=[f"{int(n)} ({fmt(p, 0)}%)" for n, p in zip(part["n"], pct, strict=True)],
                textposition="outside",
                cliponaxis=False,
                customdata=pct,
                hovertemplate=(
                    f"<b>{plot_text(name)}</b><br>%{{y}}: n = %{{x}} (%{{customdata:.0f}}% of "
                    "those assessed)<extra></extra>"
                ),
                name=plot_text(name),
                meta={"role": "step", "protocol": name},
            )
        )
    style(fig, title, x_title, "Step", height=max(300, 120 + 40 * len(labels)))
    fig.update_layout(barmode="group")
    fig.update_xaxes(range=[0, float(funnel["n"].max()) * 1.2 + 1])
    fig.update_yaxes(categoryorder="array", categoryarray=labels[::-1], automargin=True)
    return fig
