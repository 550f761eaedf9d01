"""Figure builders of the dashboard: tidy DataFrames in, plotly figures out (no Streamlit).

Every builder takes the columns its docstring lists, returns a ``go.Figure`` with a title, axis
titles with units, Okabe–Ito colours (one per protocol, ``chart_style.protocol_colours``) and
hover text that includes n, and returns an informative empty figure (``empty_figure``) instead
of raising when there is nothing to draw. Each trace carries ``meta = {"role": ..., "protocol":
...}`` so tests and exports can find the mean line, the CI band, the censor ticks and so on.
Percentages are on the 0–100 scale, as the analysis modules give them. The per-patient charts
(Jacobson plot, waterfall, one patient's scores) are in ``dashboard.charts_patients``, the rates
and funnel bars in ``dashboard.charts_counts``; both are re-exported here.

Labels from files (protocols, instruments, patient ids, band names) reach plotly text only
through ``safe_text.plot_text``: shown as written, never as a tag, link or hover field. A
``title`` passed in is plotly text already (the caller escapes any label in it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.chart_style import (
    NOTE_CHARS,
    REFERENCE,
    TITLE_CHARS,
    by_protocol,
    empty_figure,
    finite,
    n_table,
    rgba,
    score_axis_title,
    severity_bands,
    style,
    wrap,
)
from dashboard.charts_counts import OUTCOME_LABELS, funnel_chart, rates_chart
from dashboard.charts_patients import jacobson_chart, patient_chart, waterfall_chart
from dashboard.safe_text import plot_text, plot_texts
from data.instruments import Instrument

__all__ = [
    "OUTCOME_LABELS",
    "forest_chart",
    "funnel_chart",
    "item9_chart",
    "jacobson_chart",
    "km_chart",
    "patient_chart",
    "rates_chart",
    "trajectory_chart",
    "waterfall_chart",
]

SESSION_AXIS = "Session number (0 = baseline; k = after dosing session k)"
DAY_AXIS = "Days since baseline (days)"


def trajectory_chart(
    points: pd.DataFrame,
    *,
    instrument: Instrument | None = None,
    x: str = "session",
    individual: pd.DataFrame | None = None,
    title: str | None = None,
) -> go.Figure:
    """Mean score with its 95% CI band per protocol, n under the x axis for every point,
    severity bands behind (from ``instrument.bands``).

    ``points`` (``analysis.trajectories.by_session`` / ``by_day`` for one instrument): protocol,
    n, mean, ci_lo, ci_hi and, for x = "session", ``session``; for x = "day", ``bin`` (label),
    ``day_lo`` and ``day_hi``. Day bins are evenly spaced on the axis (early bins are days
    wide, later ones a month), each labelled with its days. ``individual`` (optional):
    patient_id, protocol, ``session`` or ``day``, score; thin lines behind the means.
    """
    key = plot_text(instrument.key) if instrument else "Score"
    title = title or f"{key}: mean score with 95% CI, by {'session' if x == 'session' else 'day'}"
    x_title = SESSION_AXIS if x == "session" else DAY_AXIS[:-1] + "; bins, not to scale)"
    y_title = score_axis_title(instrument, "mean score")
    if points is None or points.empty:
        return empty_figure(title, "No assessments under the current filters.", x_title, y_title)
    data = points.copy()
    bins = None
    if x == "session":
        data["_x"] = data["session"].astype(float)
    else:
        bins = data[["bin", "day_lo", "day_hi"]].drop_duplicates("bin").sort_values("day_lo")
        position = {b: k for k, b in enumerate(bins["bin"].astype(str))}
        data["_x"] = data["bin"].astype(str).map(position)
    fig = go.Figure()
    severity_bands(fig, instrument)
    if individual is not None and not individual.empty:
        people = individual.copy()
        people["_x"] = people["session"] if x == "session" else _bin_position(people["day"], bins)
        _individual_lines(fig, people)
    counts, means = [], []
    for name, rows, colour in by_protocol(data):
        shown = plot_text(name)
        rows = rows.sort_values("_x")
        xs = rows["_x"].to_numpy(dtype=float)
        lo, hi = rows["ci_lo"].to_numpy(dtype=float), rows["ci_hi"].to_numpy(dtype=float)
        ok = finite(lo) & finite(hi)
        fig.add_trace(
            go.Scatter(
                x=np.r_[xs[ok], xs[ok][::-1]],
                y=np.r_[hi[ok], lo[ok][::-1]],
                mode="lines",
                fill="toself",
                fillcolor=rgba(colour, 0.18),
                line={"width": 0, "color": colour},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
                name=f"{shown} 95% CI",
                meta={"role": "ci", "protocol": name},
            )
        )
        where = rows["bin"].astype(str) if x == "day" else rows["session"].map("{:g}".format)
        means.append(
            go.Scatter(
                x=xs,
                y=rows["mean"].to_numpy(dtype=float),
                mode="lines+markers",
                line={"color": colour, "width": 2.5},
                marker={"color": colour, "size": 7},
                customdata=np.c_[rows["n"], lo, hi, where],
                hovertemplate=(
                    f"<b>{shown}</b><br>{'session' if x == 'session' else 'days'} "
                    "%{customdata[3]}<br>mean %{y:.1f} (95% CI %{customdata[1]:.1f} to "
                    "%{customdata[2]:.1f})<br>n = %{customdata[0]}<extra></extra>"
                ),
                name=shown,
                legendgroup=name,
                meta={"role": "mean", "protocol": name},
            )
        )
        counts.append((name, colour, xs, rows["n"].to_numpy()))
    fig.add_traces(means)  # every mean line above every CI band, so no band hides a line
    style(fig, title, x_title, y_title, height=520)
    names = None if bins is None else dict(enumerate(bins["bin"].astype(str)))
    n_table(fig, counts, tick_text=names)
    return fig


def _bin_position(day: pd.Series, bins: pd.DataFrame) -> np.ndarray:
    """Where a day falls on the evenly spaced bin axis: bin k spans k − 0.5 to k + 0.5, the
    day placed in proportion to its place in the bin; NaN beyond the last bin."""
    d = day.to_numpy(dtype=float)
    lo, hi = bins["day_lo"].to_numpy(dtype=float), bins["day_hi"].to_numpy(dtype=float)
    k = np.searchsorted(hi, d, side="left")
    inside = k < len(hi)
    kk = np.minimum(k, len(hi) - 1)
    width = hi[kk] - lo[kk]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(width > 0, (d - lo[kk]) / width, 0.5)
    return np.where(inside, kk - 0.5 + np.clip(frac, 0, 1), np.nan)


def _individual_lines(fig: go.Figure, rows: pd.DataFrame, xcol: str = "_x") -> None:
    """One thin translucent line per patient, one trace per protocol (gaps between patients)."""
    for name, part, colour in by_protocol(rows):
        part = part.dropna(subset=[xcol, "score"]).sort_values(["patient_id", xcol])
        if part.empty:
            continue
        pid = part["patient_id"].astype(str).to_numpy()
        new = np.r_[True, pid[1:] != pid[:-1]]
        pos = np.arange(len(part)) + np.cumsum(new) - 1  # one empty slot between patients
        size = len(part) + int(new.sum()) - 1
        xs, ys, ids = np.full(size, np.nan), np.full(size, np.nan), np.full(size, "", dtype=object)
        xs[pos], ys[pos] = part[xcol].to_numpy(dtype=float), part["score"].to_numpy(dtype=float)
        ids[pos] = plot_texts(part["patient_id"]).to_numpy()
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                customdata=ids,
                mode="lines",
                line={"color": rgba(colour, 0.25), "width": 1},
                hovertemplate="patient %{customdata}<br>score %{y:g}<extra></extra>",
                name=f"{plot_text(name)}: individual patients",
                legendgroup=name,
                meta={"role": "individual", "protocol": name},
            )
        )


def km_chart(
    curves: pd.DataFrame,
    *,
    time_unit: str = "days",
    note: str | None = None,
    title: str | None = None,
) -> go.Figure:
    """Kaplan–Meier step curves of "not yet reliably improved", with 95% CI bands (steps) and
    a tick at each censoring time.

    ``curves``: ``analysis.survival.km_curves`` output: group (the protocol), time, survival,
    ci_lo, ci_hi (proportions 0–1, drawn as %), n_risk, n_censor. ``note`` (e.g. the log-rank
    result) is written under the title.
    """
    title = title or f"Time to reliable improvement ({time_unit})"
    x_title = DAY_AXIS if time_unit == "days" else "Session number (sessions since baseline)"
    y_title = "Not yet reliably improved (% of patients)"
    if curves is None or curves.empty:
        return empty_figure(
            title, "No paired patients under the current filters.", x_title, y_title
        )
    fig = go.Figure()
    ticks = _nice_ticks(float(curves["time"].max()))
    # n at risk at every whole time unit: the axis labels the ones that fit its width
    whole = np.arange(0, int(np.ceil(ticks[-1])) + 1, dtype=float)
    at_risk = []
    for name, rows, colour in by_protocol(curves, "group"):
        shown = plot_text(name)
        rows = rows.sort_values("time", kind="stable")
        t = rows["time"].to_numpy(dtype=float)
        at = np.searchsorted(t, whole, side="left")
        n_risk = np.append(rows["n_risk"].to_numpy(), 0)[at]
        at_risk.append((name, colour, whole, n_risk))
        for role, col, fill in (("ci_hi", "ci_hi", "none"), ("ci_lo", "ci_lo", "tonexty")):
            fig.add_trace(
                go.Scatter(
                    x=t,
                    y=100 * rows[col].to_numpy(dtype=float),
                    mode="lines",
                    line={"width": 0, "shape": "hv", "color": colour},
                    fill=fill,
                    fillcolor=rgba(colour, 0.18),
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=name,
                    meta={"role": role, "protocol": name},
                )
            )
        custom = np.c_[rows["n_risk"], 100 * rows["ci_lo"], 100 * rows["ci_hi"]]
        fig.add_trace(
            go.Scatter(
                x=t,
                y=100 * rows["survival"].to_numpy(dtype=float),
                mode="lines",
                line={"color": colour, "width": 2.5, "shape": "hv"},
                customdata=custom,
                hovertemplate=(
                    f"<b>{shown}</b><br>{time_unit} %{{x:g}}: %{{y:.1f}}% not yet improved "
                    "(95% CI %{customdata[1]:.1f} to %{customdata[2]:.1f})<br>"
                    "n at risk = %{customdata[0]}<extra></extra>"
                ),
                name=f"{shown} (n = {int(rows['n_risk'].iloc[0])})",
                legendgroup=name,
                meta={"role": "survival", "protocol": name},
            )
        )
        cens = rows.loc[rows["n_censor"].to_numpy() > 0]
        fig.add_trace(
            go.Scatter(
                x=cens["time"],
                y=100 * cens["survival"],
                mode="markers",
                marker={"symbol": "line-ns-open", "size": 10, "color": colour},
                customdata=np.c_[cens["n_censor"], cens["n_risk"]],
                hovertemplate=(
                    f"{shown}: %{{customdata[0]}} censored at {time_unit} %{{x:g}}<br>"
                    "n at risk = %{customdata[1]}<extra></extra>"
                ),
                showlegend=False,
                legendgroup=name,
                meta={"role": "censor", "protocol": name},
            )
        )
    style(fig, title, x_title, y_title)
    n_table(fig, at_risk, label="at risk")
    fig.add_hline(y=50, line={"color": REFERENCE, "dash": "dot", "width": 1})
    fig.update_yaxes(range=[0, 102])
    fig.update_xaxes(range=[-0.02 * ticks[-1], ticks[-1] * 1.02])
    if note:
        lines = wrap(note, NOTE_CHARS).replace("<br>", "</sup><br><sup>")
        fig.update_layout(title={"text": f"{wrap(title, TITLE_CHARS)}<br><sup>{lines}</sup>"})
    return fig


def _nice_ticks(top: float, target: int = 7) -> np.ndarray:
    """Round tick values from 0 covering ``top`` (steps of 1, 2 or 5 × a power of ten)."""
    if not np.isfinite(top) or top <= 0:
        return np.array([0.0, 1.0])
    raw = top / target
    power = 10 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    step = max(step, 1.0)
    return np.arange(0, top + step, step)


def forest_chart(
    rows: pd.DataFrame,
    *,
    measure: str = "Hedges' g_av",
    title: str | None = None,
    positive: str = "improvement",
) -> go.Figure:
    """Effect sizes with 95% CIs, one row per label, a line at zero.

    ``rows``: label (e.g. "PHQ-9 · intensive"), estimate, ci_lo, ci_hi, n, and optionally
    protocol (colour). Rows are drawn top to bottom in the given order. ``measure`` names the
    effect size in the axis title (e.g. "Hedges' g_av" or "Hedges' g, intensive − weekly"),
    ``positive`` says what a positive value means.
    """
    title = title or f"{measure} with 95% CI"
    x_title = f"{measure} (standard deviations; positive = {positive})"
    if rows is None or rows.empty:
        return empty_figure(title, "No effect sizes to show.", x_title, "Group")
    data = rows.reset_index(drop=True).copy()
    if "protocol" not in data:
        data["protocol"] = "all"
    data["label"] = plot_texts(data["label"]).to_numpy()  # tick labels and %{y} in the hover
    labels = data["label"].tolist()
    fig = go.Figure()
    for name, part, colour in by_protocol(data):
        est, lo, hi = (part[c].to_numpy(dtype=float) for c in ("estimate", "ci_lo", "ci_hi"))
        fig.add_trace(
            go.Scatter(
                x=est,
                y=part["label"].astype(str),
                mode="markers",
                marker={"color": colour, "size": 10, "symbol": "square"},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": np.where(finite(hi), hi - est, 0),
                    "arrayminus": np.where(finite(lo), est - lo, 0),
                    "color": colour,
                    "thickness": 2,
                },
                customdata=np.c_[part["n"], lo, hi],
                hovertemplate=(
                    "<b>%{y}</b><br>" + measure + " = %{x:.2f} (95% CI %{customdata[1]:.2f} "
                    "to %{customdata[2]:.2f})<br>n = %{customdata[0]}<extra></extra>"
                ),
                name=plot_text(name),
                meta={"role": "estimate", "protocol": name},
            )
        )
    style(fig, title, x_title, "", height=max(260, 90 + 42 * len(labels)))
    fig.update_yaxes(title_text="")  # the row labels say what each row is
    fig.add_vline(x=0, line={"color": REFERENCE, "width": 1.5})
    fig.update_yaxes(categoryorder="array", categoryarray=labels[::-1], automargin=True)
    return fig


def item9_chart(
    prevalence: pd.DataFrame, *, item_label: str = "PHQ-9 item 9", title: str | None = None
) -> go.Figure:
    """Share of patients answering the safety item 1 or more at each session, per protocol,
    with Wilson 95% CIs.

    ``prevalence`` (``analysis.safety`` prevalence plus CIs): protocol, session, n, of, pct,
    ci_lo, ci_hi (0–100).
    """
    item_label = plot_text(item_label)
    title = title or f"{item_label} (thoughts of death or self-harm) answered 1 or more"
    y_title = "Answered 1 or more (% of patients)"
    if prevalence is None or prevalence.empty:
        return empty_figure(
            title, f"No {item_label} answers under the current filters.", SESSION_AXIS, y_title
        )
    fig = go.Figure()
    n_prot = prevalence["protocol"].nunique()
    for k, (name, part, colour) in enumerate(by_protocol(prevalence)):
        part = part.sort_values("session")
        dodge = (k - (n_prot - 1) / 2) * 0.08  # keep the protocols' whiskers apart
        pct, lo, hi = (part[c].to_numpy(dtype=float) for c in ("pct", "ci_lo", "ci_hi"))
        fig.add_trace(
            go.Scatter(
                x=part["session"].astype(float) + dodge,
                y=pct,
                mode="lines+markers",
                line={"color": colour, "width": 2},
                marker={"color": colour, "size": 7},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": np.where(finite(hi), hi - pct, 0),
                    "arrayminus": np.where(finite(lo), pct - lo, 0),
                    "color": colour,
                },
                customdata=np.c_[part["n"], part["of"], lo, hi, part["session"]],
                hovertemplate=(
                    f"<b>{plot_text(name)}</b>, session %{{customdata[4]}}<br>%{{y:.1f}}% "
                    "(95% CI %{customdata[2]:.1f}"
                    " to %{customdata[3]:.1f})<br>n = %{customdata[0]} of %{customdata[1]}"
                    "<extra></extra>"
                ),
                name=plot_text(name),
                meta={"role": "prevalence", "protocol": name},
            )
        )
    style(fig, title, SESSION_AXIS, y_title)
    fig.update_xaxes(dtick=1)
    fig.update_yaxes(rangemode="tozero")
    return fig
