"""Per-patient figures: the Jacobson plot, the waterfall of change and one patient's scores.

Pure plotly (no Streamlit); the same conventions as ``dashboard.charts`` (which re-exports
these builders): title, axis titles with units, Okabe–Ito colours per protocol, n in the hover
text, ``meta["role"]`` on every trace, an informative empty figure when there is nothing to draw.
Change is always "positive = better" (``Instrument.improvement``), as in the outcomes table.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.chart_style import (
    FLAG,
    INK,
    OKABE_ITO,
    REFERENCE,
    by_protocol,
    empty_figure,
    protocol_colours,
    rgba,
    score_axis_title,
    severity_bands,
    style,
    wrap,
)
from dashboard.safe_text import plot_text, plot_texts
from data.instruments import Instrument

#: Characters per line of a long legend entry (it stays within a phone's width).
LEGEND_CHARS = 40
#: Above this many points, scatter plots switch to WebGL so the browser stays responsive.
WEBGL_FROM = 2000
#: The expected-recovery band and the "not on track" marks (analysis.expected_recovery).
EXPECTED = OKABE_ITO["bluish green"]
OFF_TRACK = OKABE_ITO["reddish purple"]
_PHASE_SYMBOL = {"baseline": "square", "treatment": "circle", "follow-up": "diamond"}


def _one_threshold(threshold: float | Mapping[str, float] | None) -> float | None:
    """A single reliable-change threshold, or None when protocols have different ones."""
    if threshold is None or isinstance(threshold, int | float):
        return None if threshold is None or not np.isfinite(threshold) else float(threshold)
    values = {round(float(v), 9) for v in threshold.values() if np.isfinite(v)}
    return values.pop() if len(values) == 1 else None


def jacobson_chart(
    paired: pd.DataFrame,
    *,
    instrument: Instrument,
    threshold: float | Mapping[str, float] | None,
    title: str | None = None,
) -> go.Figure:
    """Baseline against end-of-treatment score per patient (Jacobson & Truax 1991): the diagonal
    of no change, the reliable-change band around it and the caseness lines.

    ``paired``: patient_id, protocol, baseline, eot (paired patients of one instrument).
    ``threshold``: points of reliable change (one number, or one per protocol: then each
    protocol's band edges are drawn as dotted lines in its colour).
    """
    key = plot_text(instrument.key)
    title = title or f"{key}: baseline against end of treatment"
    x_title = score_axis_title(instrument, "score at baseline")
    y_title = score_axis_title(instrument, "score at end of treatment")
    if paired is None or paired.empty:
        return empty_figure(
            title, "No paired patients under the current filters.", x_title, y_title
        )
    lo, hi = float(instrument.min), float(instrument.max)
    fig = go.Figure()
    one = _one_threshold(threshold)
    edges = np.array([lo, hi])
    if one is not None:
        fig.add_trace(
            go.Scatter(
                x=np.r_[edges, edges[::-1]],
                y=np.r_[edges + one, edges[::-1] - one],
                mode="lines",
                fill="toself",
                fillcolor="rgba(128, 128, 128, 0.16)",  # grey on a light or dark theme
                line={"width": 0, "color": REFERENCE},
                hoverinfo="skip",
                name=f"within ± {one:g} points: no reliable change",
                meta={"role": "band"},
            )
        )
    elif isinstance(threshold, Mapping):
        colours = protocol_colours(threshold)
        for name, t in threshold.items():
            if not np.isfinite(t):
                continue
            for sign in (1, -1):
                fig.add_trace(
                    go.Scatter(
                        x=edges,
                        y=edges + sign * t,
                        mode="lines",
                        line={"color": colours[str(name)], "dash": "dot", "width": 1},
                        hoverinfo="skip",
                        showlegend=sign == 1,
                        name=f"{plot_text(name)}: ± {t:.1f} points (reliable change)",
                        meta={"role": "band_edge", "protocol": str(name)},
                    )
                )
    fig.add_trace(
        go.Scatter(
            x=edges,
            y=edges,
            mode="lines",
            line={"color": REFERENCE, "width": 1},
            hoverinfo="skip",
            name="no change",
            meta={"role": "diagonal"},
        )
    )
    big = len(paired) > WEBGL_FROM
    kind = go.Scattergl if big else go.Scatter
    for name, part, colour in by_protocol(paired):
        change = instrument.improvement(
            part["baseline"].to_numpy(float), part["eot"].to_numpy(float)
        )
        fig.add_trace(
            kind(
                x=part["baseline"],
                y=part["eot"],
                mode="markers",
                marker={"color": colour, "size": 7, "opacity": 0.6},
                customdata=np.c_[plot_texts(part["patient_id"]), change],
                hovertemplate=(
                    f"<b>%{{customdata[0]}}</b> ({plot_text(name)}, one of n = {len(part)})<br>"
                    "baseline %{x:g}, end of treatment %{y:g}<br>change %{customdata[1]:+.1f} "
                    "points<extra></extra>"
                ),
                name=f"{plot_text(name)} (n = {len(part)})",
                meta={"role": "patients", "protocol": name},
            )
        )
    style(fig, title, x_title, y_title, height=600)
    if instrument.caseness is not None:
        line = {"color": REFERENCE, "dash": "dash", "width": 1}
        fig.add_vline(x=instrument.caseness, line=line)
        fig.add_hline(y=instrument.caseness, line=line)
        fig.add_annotation(
            x=instrument.caseness,
            y=hi,
            yanchor="top",
            xanchor="left",
            text=f" caseness ({instrument.caseness:g})",
            showarrow=False,
            font={"size": 11},
        )
    better = "below" if instrument.higher_is_worse else "above"
    fig.add_annotation(
        x=hi,
        y=lo,
        xanchor="right",
        yanchor="bottom",
        text=f"{better} the diagonal = improved",
        showarrow=False,
        font={"size": 11},  # the theme's text colour
    )
    fig.update_layout(margin={"r": 20})  # the legend runs below the plot (chart_style.style)
    pad = (hi - lo) * 0.02
    fig.update_xaxes(range=[lo - pad, hi + pad], constrain="domain")
    fig.update_yaxes(range=[lo - pad, hi + pad], scaleanchor="x", scaleratio=1)
    return fig


def waterfall_chart(
    changes: pd.DataFrame,
    *,
    instrument: Instrument,
    threshold: float | Mapping[str, float] | None,
    title: str | None = None,
) -> go.Figure:
    """Per-patient change from baseline to end of treatment, sorted from most improved to most
    worsened, with the reliable-change lines at ± threshold.

    ``changes``: patient_id, protocol, change (points, positive = better).
    """
    key = plot_text(instrument.key)
    title = title or f"{key}: change from baseline to end of treatment, per patient"
    x_title = "Patients, sorted from most improved to most worsened (rank)"
    y_title = f"{key} change (points; + = better)"
    if changes is None or changes.empty:
        return empty_figure(
            title, "No paired patients under the current filters.", x_title, y_title
        )
    data = changes.dropna(subset=["change"]).sort_values("change", ascending=False, kind="stable")
    data = data.assign(rank=np.arange(1, len(data) + 1))
    fig = go.Figure()
    for name, part, colour in by_protocol(data):
        fig.add_trace(
            go.Bar(
                x=part["rank"],
                y=part["change"],
                marker={"color": colour, "line": {"width": 0}},
                customdata=plot_texts(part["patient_id"]).to_numpy(),
                hovertemplate=(
                    f"<b>%{{customdata}}</b> ({plot_text(name)})<br>change %{{y:+.1f}} points<br>"
                    f"rank %{{x}} of {len(data)}<extra></extra>"
                ),
                name=f"{plot_text(name)} (n = {len(part)})",
                meta={"role": "change", "protocol": name},
            )
        )
    style(fig, title, x_title, y_title)
    fig.update_layout(bargap=0, barmode="overlay")
    one = _one_threshold(threshold)
    lines = {"all": one} if one is not None else dict(threshold or {})
    colours = protocol_colours(k for k in lines if k != "all")
    for name, t in lines.items():
        if t is None or not np.isfinite(t):
            continue
        colour = REFERENCE if name == "all" else colours[name]
        who = "" if name == "all" else f"{plot_text(name)}: "
        fig.add_hline(
            y=t,
            line={"color": colour, "dash": "dash", "width": 1},
            annotation_text=f"{who}reliable improvement (≥ {t:.3g})",
            annotation_position="top right",
        )
        fig.add_hline(
            y=-t,
            line={"color": colour, "dash": "dash", "width": 1},
            annotation_text=f"{who}reliable deterioration (≤ −{t:.3g})",
            annotation_position="bottom right",
        )
    fig.add_hline(y=0, line={"color": REFERENCE, "width": 1})
    return fig


def _expected_traces(fig: go.Figure, expected: pd.DataFrame, xcol: str, name: str) -> None:
    """The expected band (shaded), the expected score (dashed, from the baseline) and the
    assessments outside the band's worse edge, with "not on track" at the first of them.

    ``expected``: rows of ``analysis.expected_recovery.on_track`` for one patient × instrument.
    """
    data = expected.dropna(subset=[xcol, "expected"]).sort_values([xcol, "session"])
    band = data.dropna(subset=["lower", "upper"])
    if band.empty:
        return
    xs = band[xcol].to_numpy(dtype=float)
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=band["lower"],
            mode="lines",
            line={"color": EXPECTED, "width": 0},
            hoverinfo="skip",
            showlegend=False,
            meta={"role": "expected_lower"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=band["upper"],
            mode="lines",
            line={"color": EXPECTED, "width": 0},
            fill="tonexty",
            fillcolor=rgba(EXPECTED, 0.22),
            customdata=np.c_[band["lower"], band["expected"]],
            hovertemplate=(
                "expected %{customdata[1]:.1f}<br>band %{customdata[0]:.1f} to %{y:.1f}"
                "<extra></extra>"
            ),
            name=wrap(name, LEGEND_CHARS),  # a long entry keeps to a phone's width
            meta={"role": "expected_band"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=data[xcol].to_numpy(dtype=float),
            y=data["expected"],
            mode="lines",
            line={"color": EXPECTED, "dash": "dash", "width": 2},
            hoverinfo="skip",
            name="expected score",
            meta={"role": "expected"},
        )
    )


def _off_track_marks(fig: go.Figure, expected: pd.DataFrame, xcol: str, xs: np.ndarray) -> None:
    """Open squares on scores outside the band's worse edge; "not on track" at the first, its
    label on the side with more room (``xs``: every x drawn) so the axis need not stretch."""
    off = expected.loc[expected["not_on_track"].fillna(False).to_numpy(dtype=bool)]
    off = off.dropna(subset=[xcol])
    if off.empty:
        return
    fig.add_trace(
        go.Scatter(
            x=off[xcol].to_numpy(dtype=float),
            y=off["score"],
            mode="markers",
            marker={"color": OFF_TRACK, "size": 16, "symbol": "square-open", "line": {"width": 3}},
            hoverinfo="skip",
            name="worse than the expected band",
            meta={"role": "off_track"},
        )
    )
    first = off.loc[off["first_flag"].to_numpy(dtype=bool)]
    if len(first):
        r = first.iloc[0]
        right = float(r[xcol]) <= (np.nanmin(xs) + np.nanmax(xs)) / 2
        fig.add_annotation(
            x=float(r[xcol]),
            y=float(r["score"]),
            text=f"not on track from S{int(r['session'])}",
            showarrow=True,
            arrowhead=2,
            arrowcolor=OFF_TRACK,
            ax=46 if right else -46,
            ay=-34,
            xanchor="left" if right else "right",
            font={"size": 12, "color": OFF_TRACK},
            bgcolor="rgba(255, 255, 255, 0.85)",
        )


def patient_chart(
    rows: pd.DataFrame,
    *,
    instrument: Instrument,
    x: str = "day",
    title: str | None = None,
    expected: pd.DataFrame | None = None,
    expected_name: str = "expected band",
) -> go.Figure:
    """One patient's scores on one instrument over time, severity bands behind, each assessment
    after a dosing session marked with a dotted line and "S1", "S2" …; a ring marks a safety
    flag (item 9 of 1 or more) when ``rows`` has a ``flag`` column.

    ``rows``: session, day, phase, score (and optionally flag). ``x``: "day" (days since
    baseline) or "session"; follow-up assessments have no session and appear on "day" only.
    ``expected``: the patient's rows of ``analysis.expected_recovery.on_track`` on this
    instrument: the expected band is shaded behind the scores (legend ``expected_name``) and
    scores worse than it are marked, "not on track" at the first.
    """
    key = plot_text(instrument.key)
    title = title or f"{key} scores"
    x_title = "Days since baseline (days)" if x == "day" else "Session number (0 = baseline)"
    y_title = score_axis_title(instrument)
    xcol = "day" if x == "day" else "session"
    usable = rows is not None and {"score", "session", xcol} <= set(rows.columns)
    data = rows.dropna(subset=["score", xcol]) if usable else None
    if data is None or data.empty:
        why = "no assessment with a day" if x == "day" else "no assessment with a session"
        return empty_figure(title, f"This patient has {why} on {key}.", x_title, y_title)
    data = data.sort_values([xcol, "session"], na_position="last", kind="stable")
    xs = data[xcol].to_numpy(dtype=float)
    session = data["session"]
    labels = np.where(session.isna(), "FU", "S" + session.astype("string").fillna(""))
    labels = np.where(session.fillna(-1).to_numpy() == 0, "B", labels)
    fig = go.Figure()
    severity_bands(fig, instrument)
    dotted = {"color": "#999999", "dash": "dot", "width": 1}
    session_lines = [
        {
            "type": "line",
            "x0": sx,
            "x1": sx,
            "xref": "x",
            "y0": 0,
            "y1": 1,
            "yref": "y domain",
            "line": dotted,
        }
        for sx, lab in zip(xs, labels, strict=True)
        if lab.startswith("S")
    ]
    # one assignment of built shapes: cheaper than add_vline per session or update_layout
    fig.layout.shapes = (*fig.layout.shapes, *(go.layout.Shape(**line) for line in session_lines))
    has_band = expected is not None and len(expected) > 0
    if has_band:
        _expected_traces(fig, expected, xcol, expected_name)
    phases = data["phase"].astype(str).map(_PHASE_SYMBOL).fillna("circle")
    band = plot_texts(instrument.severity(data["score"]).fillna(""))
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=data["score"],
            mode="lines+markers+text",
            line={"color": INK, "width": 2},
            marker={"color": INK, "size": 9, "symbol": phases.tolist()},
            text=labels,
            textposition="top center",
            customdata=np.c_[labels, data["phase"].astype(str), band, data["day"]],
            hovertemplate=(
                "%{customdata[0]} (%{customdata[1]}), day %{customdata[3]}<br>score %{y:g}: "
                "%{customdata[2]}<extra></extra>"
            ),
            name=f"{key} score (n = {len(data)} assessments)",
            meta={"role": "scores"},
        )
    )
    if "flag" in data:
        flagged = data["flag"].fillna(False).to_numpy(dtype=bool)
        if flagged.any():
            fig.add_trace(
                go.Scatter(
                    x=xs[flagged],
                    y=data["score"].to_numpy(dtype=float)[flagged],
                    mode="markers",
                    marker={
                        "color": FLAG,
                        "size": 18,
                        "symbol": "circle-open",
                        "line": {"width": 3},
                    },
                    hoverinfo="skip",
                    name=wrap(
                        "item 9 (thoughts of death or self-harm) answered 1 or more", LEGEND_CHARS
                    ),
                    meta={"role": "flag"},
                )
            )
    if has_band:
        _off_track_marks(fig, expected, xcol, xs)
    style(fig, title, x_title, y_title, height=400)
    fig.update_layout(legend={"traceorder": "normal"})
    if x == "session":
        fig.update_xaxes(dtick=1)
    return fig
