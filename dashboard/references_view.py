"""Published references beside the claims (issue 11): a chart, a table and the lines shown under
a verdict, from ``analysis.references.practice_references`` rows.

The builders are pure (plotly and pandas, no Streamlit) so they can be tested; only
``render_references`` writes to the page. Text from the benchmark file and from uploads (the
instrument) reaches plotly through ``safe_text.plot_text`` and Markdown through ``md_escape``;
``st.dataframe`` cells are plain text.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.numbers import finite_or_none
from dashboard.chart_style import INK, OKABE_ITO, empty_figure, finite, style, wrap
from dashboard.claims_view import SHORT_NAMES
from dashboard.safe_text import md_escape, plot_text, plot_texts

__all__ = [
    "GROUP_COLOURS",
    "reference_lines",
    "references_chart",
    "references_display",
    "render_references",
]

#: One Okabe–Ito colour per kind of reference; the practice's own figure is black.
GROUP_COLOURS = {
    "no treatment": OKABE_ITO["vermillion"],
    "placebo": OKABE_ITO["reddish purple"],
    "routine care": OKABE_ITO["bluish green"],
    "ketamine trial": OKABE_ITO["sky blue"],
    "KAP practice": OKABE_ITO["orange"],
}
PRACTICE_COLOUR = INK  # Okabe–Ito blue: reads on a light and a dark theme, unlike black
#: Characters per line of a row label (wrapped, so the rows keep their words on a phone).
ROW_CHARS = 24
MEASURE_LABELS = {
    "response share": "Response (score fell 50% or more)",
    "reliable improvement share": "Reliable improvement",
    "remission share": "Remission",
    "recovery share": "Recovery (left the clinical range)",
    "percent change": "Change of the mean score",
    "pre-post d": "Pre-post effect size",
    "median days to relapse": "Median days to relapse",
}
CLAIM_LABELS = {
    "rapid-onset": "rapid onset",
    "intensive-faster": "intensive faster",
    "large-improvement": "all paired patients",
    "lasting": "gains last",
    "suicidal-ideation": "suicidal thoughts",
    "treatment-resistant": "treatment-resistant patients",
    "initial-anxiety": "anxiety at first",
}
FIXED_NOTE = (
    "The published figure is treated as a fixed number: the interval of the difference is this "
    "practice's interval shifted by it. Differences are given only on the same measure."
)


def _group(group: object) -> str:
    """'No treatment', 'Routine care', 'KAP practice' (first letter up, the rest as written)."""
    g = str(group)
    return g[:1].upper() + g[1:]


def _value(v: object, unit: object) -> str:
    """A published figure as published: '19.7%', '0.505', '18 days'."""
    x = finite_or_none(v)
    if x is None:
        return "–"
    if unit == "d":
        return f"{x:g}"
    if unit == "days":
        return f"{x:g} days"
    return f"{x:g}%"


def _with_ci(v: object, lo: object, hi: object, unit: object, *, signed: bool = False) -> str:
    x = finite_or_none(v)
    if x is None:
        return "–"
    d = 2 if unit == "d" else 0
    text = f"{x:+.{d}f}" if signed else f"{x:.{d}f}"
    a, b = finite_or_none(lo), finite_or_none(hi)
    suffix = "" if unit == "d" else (" points" if signed else "%")
    ci = "" if a is None or b is None else f" ({a:.{d}f} to {b:.{d}f})"
    return f"{text}{suffix}{ci}"


def _rows(refs: pd.DataFrame, instrument: str | None, claims: Iterable[str] | None) -> pd.DataFrame:
    if refs is None or refs.empty:
        return pd.DataFrame(columns=refs.columns if refs is not None else [])
    keep = pd.Series(True, index=refs.index)
    if instrument is not None:
        keep &= refs["instrument"].astype(object).eq(instrument) | refs["instrument"].isna()
    if claims is not None:
        keep &= refs["claim"].isin(list(claims))
    return refs[keep]


def _label_positions(slot: pd.Series, x: pd.Series, middle: float) -> list[str]:
    """Where each reference's label sits: above or below its tick by turns (``slot``), and
    running away from the nearer edge (rightwards left of ``middle``), so that on a narrow
    screen a label neither runs off the plot nor over the row names."""
    vertical = np.where(slot.to_numpy() % 2 == 0, "top", "bottom")
    side = np.where(x.to_numpy(dtype=float) < middle, "right", "left")
    return [f"{v} {h}" for v, h in zip(vertical, side, strict=True)]


def references_chart(
    refs: pd.DataFrame,
    instrument: str,
    *,
    unit: str = "%",
    claims: Iterable[str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """The practice's figures (black points with their CI) and the published references (ticks
    coloured by kind: no treatment, placebo, routine care, ketamine trial, KAP practice, each
    labelled with its source) for one instrument, one row per claim and measure.

    ``unit="%"`` draws the shares (response, reliable improvement, remission, recovery);
    ``unit="d"`` the practice's g_av beside published pre-post d. Each trace has ``meta``
    ``{"role": "practice" | "reference", ...}``; reference traces carry the benchmark ids.
    """
    key = plot_text(instrument)
    what = "Share of patients (%)" if unit == "%" else "Standardised pre-post change (d / g_av)"
    title = title or f"{key}: this practice beside published references"
    rows = _rows(refs, instrument, claims)
    rows = rows[rows["reference_id"].notna() & rows["unit"].eq(unit)]
    if unit == "%":
        rows = rows[rows["measure"].astype(str).str.endswith("share")]
    if rows.empty:
        return empty_figure(title, f"No published reference on this scale for {key}.", what, "")
    rows = rows.assign(
        row_label=[
            f"{MEASURE_LABELS.get(m, m)} · {CLAIM_LABELS.get(c, c)}"
            for m, c in zip(rows["measure"], rows["claim"], strict=True)
        ]
    )
    labels = list(dict.fromkeys(rows["row_label"]))
    pos = {label: len(labels) - 1 - i for i, label in enumerate(labels)}
    fig = go.Figure()
    first = rows.drop_duplicates("row_label")
    y = first["row_label"].map(pos).to_numpy(dtype=float)
    est, lo, hi = (
        first[c].to_numpy(dtype=float)
        for c in ("practice_value", "practice_ci_lo", "practice_ci_hi")
    )
    fig.add_trace(
        go.Scatter(
            x=est,
            y=y,
            mode="markers",
            name="This practice",
            marker={"color": PRACTICE_COLOUR, "size": 11, "symbol": "diamond"},
            error_x={
                "type": "data",
                "symmetric": False,
                "color": PRACTICE_COLOUR,
                "thickness": 2,
                "array": np.where(finite(hi), hi - est, 0),
                "arrayminus": np.where(finite(lo), est - lo, 0),
            },
            customdata=np.c_[
                first["practice_n"].astype(float), first["practice_of"].astype(float), lo, hi
            ],
            text=plot_texts(first["row_label"]),
            hovertemplate="<b>%{text}</b><br>This practice %{x:.2f} (CI %{customdata[2]:.2f} to "
            "%{customdata[3]:.2f})<br>n = %{customdata[0]} of %{customdata[1]}<extra></extra>",
            meta={"role": "practice", "instrument": instrument},
        )
    )
    # two references on one row take turns above and below it, so their labels do not collide
    rows = rows.assign(_slot=rows.sort_values("reference_value").groupby("row_label").cumcount())
    values = rows["reference_value"].to_numpy(dtype=float)
    middle = 50.0 if unit == "%" else float(np.nanmin(values) + np.nanmax(values)) / 2
    for group, part in rows.groupby("reference_group", sort=False):
        colour = GROUP_COLOURS.get(str(group), OKABE_ITO["black"])
        labels_text = plot_texts(part["reference_label"])
        fig.add_trace(
            go.Scatter(
                x=part["reference_value"].to_numpy(dtype=float),
                y=part["row_label"].map(pos).to_numpy(dtype=float),
                mode="markers+text",
                name=plot_text(_group(group)),
                marker={
                    "color": colour,
                    "size": 26,
                    "symbol": "line-ns",
                    "line": {"width": 3, "color": colour},
                },
                text=labels_text,
                textfont={"size": 10, "color": colour},
                textposition=_label_positions(part["_slot"], part["reference_value"], middle),
                cliponaxis=False,
                customdata=np.c_[labels_text, plot_texts(part["comparable"])],
                hovertemplate="<b>%{customdata[0]}</b>: %{x}<br>%{customdata[1]}<extra>"
                + plot_text(str(group))
                + "</extra>",
                meta={
                    "role": "reference",
                    "group": str(group),
                    "ids": part["reference_id"].tolist(),
                },
            )
        )
    style(fig, title, what, "", height=max(280, 120 + 70 * len(labels)))
    fig.update_yaxes(
        tickvals=list(pos.values()),
        ticktext=[wrap(plot_text(x), ROW_CHARS) for x in pos],
        range=[-0.6, len(labels) - 0.3],
        automargin=True,
        title_text="",
    )
    if unit == "%":
        fig.update_xaxes(range=[0, 100])
    return fig


def references_display(
    refs: pd.DataFrame, *, instrument: str | None = None, claims: Iterable[str] | None = None
) -> pd.DataFrame:
    """A compact text table of the references: claim, instrument, measure, this practice (with
    CI and n), the reference and its kind, the difference with its CI, how comparable, the
    short source and the full citation. Claims no reference applies to say so."""
    rows = _rows(refs, instrument, claims)
    cols = [
        "Claim",
        "Instrument",
        "Measure",
        "This practice",
        "Reference",
        "Kind",
        "Practice − reference",
        "Comparable",
        "Source",
        "Citation",
    ]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    has = rows["reference_id"].notna()
    context = rows["comparable"].astype(str).str.startswith("context").to_numpy()
    practice = [
        _with_ci(v, lo, hi, u)
        + (f" {what}" if other else "")
        + (f", n = {int(k)} of {int(n)}" if finite_or_none(n) else "")
        if ok
        else ""
        for v, lo, hi, u, k, n, what, other, ok in zip(
            rows["practice_value"],
            rows["practice_ci_lo"],
            rows["practice_ci_hi"],
            rows["practice_unit"],
            rows["practice_n"],
            rows["practice_of"],
            rows["practice_measure"],
            context,
            has,
            strict=True,
        )
    ]
    out = pd.DataFrame(
        {
            "Claim": [SHORT_NAMES.get(c, c) for c in rows["claim"].astype(str)],
            "Instrument": rows["instrument"]
            .astype(object)
            .where(rows["instrument"].notna(), "")
            .to_numpy(),
            "Measure": [
                MEASURE_LABELS.get(m, "") if isinstance(m, str) else "" for m in rows["measure"]
            ],
            "This practice": practice,
            "Reference": [
                _value(v, u) if ok else ""
                for v, u, ok in zip(rows["reference_value"], rows["unit"], has, strict=True)
            ],
            "Kind": rows["reference_group"].fillna("").astype(str).to_numpy(),
            "Practice − reference": [
                _with_ci(d, lo, hi, u, signed=True) if finite_or_none(d) is not None else ""
                for d, lo, hi, u in zip(
                    rows["difference"],
                    rows["difference_ci_lo"],
                    rows["difference_ci_hi"],
                    rows["unit"],
                    strict=True,
                )
            ],
            "Comparable": [
                c if ok else str(why)
                for c, why, ok in zip(rows["comparable"], rows["comparability"], has, strict=True)
            ],
            "Source": rows["reference_label"].fillna("").astype(str).to_numpy(),
            "Citation": rows["reference_citation"].fillna("").astype(str).to_numpy(),
        }
    )
    return out[cols]


def reference_lines(refs: pd.DataFrame, claim: str, instrument: str | None) -> list[str]:
    """Plain lines to show under one verdict (escape with ``md_escape`` for Markdown), e.g.
    "Routine care (NHS Talking Therapies 2022-23): 67% reliable improvement; this practice
    51% (45 to 57%); difference -16 points (-22 to -10)"."""
    rows = _rows(refs, instrument, [claim])
    lines = []
    for r in rows.to_dict("records"):  # a few reference rows, not patients
        if r.get("reference_id") is None or (isinstance(r["reference_id"], float)):
            lines.append(str(r.get("comparability") or ""))
            continue
        head = f"{_group(r['reference_group'])} ({r['reference_label']}): "
        head += f"{_value(r['reference_value'], r['unit'])} {MEASURE_LABELS.get(r['measure'], '').lower()}"
        mine = _with_ci(
            r["practice_value"], r["practice_ci_lo"], r["practice_ci_hi"], r["practice_unit"]
        )
        diff = r.get("difference")
        tail = (
            f"; difference {_with_ci(diff, r['difference_ci_lo'], r['difference_ci_hi'], r['unit'], signed=True)}"
            if finite_or_none(diff) is not None
            else f" ({r['comparable']})"
        )
        lines.append(f"{head}; this practice {mine}{tail}")
    return lines


def render_references(
    claim_results: Iterable[object] | None,
    refs_frame: pd.DataFrame,
    *,
    instrument: str | None = None,
    key: str | None = None,
) -> None:
    """Write the references beside ``claim_results`` (``ClaimResult`` objects; None = every
    claim in ``refs_frame``): a compact table with sources, the fixed-reference note and the
    full citations (collapsed). ``instrument`` limits the table to one instrument."""
    import streamlit as st

    claims = None
    if claim_results is not None:
        claims = {getattr(c, "id", None) for c in claim_results} - {None}
    table = references_display(refs_frame, instrument=instrument, claims=claims)
    if table.empty:
        st.caption("No published references to show for these claims.")
        return
    st.dataframe(table.drop(columns="Citation"), hide_index=True, key=key)
    st.caption(md_escape(FIXED_NOTE))
    cites = [c for c in dict.fromkeys(table["Citation"]) if c]
    if cites:
        with st.expander(f"Sources ({len(cites)})"):
            for c in cites:
                st.markdown(f"- {md_escape(c)}")
