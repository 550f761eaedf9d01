"""Small building blocks shared by the pages: metric cards with n and CI, verdict cards, the
"how this is computed" expander and the chart call every page uses."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
import streamlit as st

from analysis.numbers import finite_or_none
from dashboard.chart_style import is_empty_figure
from dashboard.claims_view import VERDICTS, detail_lines, estimate_text
from dashboard.safe_text import md_escape  # pages call ui.md_escape on every label they show


def problem_list(problems, limit: int = 30) -> None:
    """Problems of an upload, one line each: where (row and column), what, and the fix; the
    first ``limit`` as text, all of them in a table underneath when there are more."""
    for p in list(problems)[:limit]:
        where = (
            ", ".join(
                x
                for x in (
                    f"row {p.row}" if p.row is not None else "",
                    f"column {md_escape(p.column)}" if p.column else "",
                )
                if x
            )
            or "the whole file"
        )
        badge = ":red-badge[error]" if p.severity == "error" else ":orange-badge[warning]"
        st.markdown(f"{badge} **{where}**: {md_escape(p.message)}  \n**Fix:** {md_escape(p.fix)}")
    if len(problems) > limit:
        st.caption(f"… and {len(problems) - limit} more: the full list is in the table below.")


def pct_text(pct: object, decimals: int = 0) -> str:
    """ "43%", or "–" when there is no denominator."""
    v = finite_or_none(pct)
    return "–" if v is None else f"{v:.{decimals}f}%"


def ci_text(lo: object, hi: object, unit: str = "%", decimals: int = 0) -> str:
    """ "95% CI 35–51%", or "no CI" when either end is missing."""
    a, b = finite_or_none(lo), finite_or_none(hi)
    if a is None or b is None:
        return "no CI"
    return f"95% CI {a:.{decimals}f}–{b:.{decimals}f}{unit}"


def ci_range(lo: object, hi: object, decimals: int = 0) -> str:
    """ "35–51" for a table column already headed "95% CI"; "–" when missing."""
    a, b = finite_or_none(lo), finite_or_none(hi)
    return "–" if a is None or b is None else f"{a:.{decimals}f}–{b:.{decimals}f}"


def p_text(p: object) -> str:
    """A p-value for display: "< 0.001" below one in a thousand, else three decimals."""
    v = finite_or_none(p)
    return "–" if v is None else ("< 0.001" if v < 0.001 else f"{v:.3f}")


def metric_card(
    label: str,
    value: str,
    *,
    n: int | None = None,
    of: int | None = None,
    ci: tuple[object, object] | None = None,
    note: str | None = None,
    help: str | None = None,
) -> None:
    """A bordered card: the figure, then "n of N" and its 95% CI underneath, then a note."""
    with st.container(border=True):
        st.markdown(f"**{label}**", help=help)  # wraps, where a metric label would be cut off
        st.metric(label, value, label_visibility="collapsed")
        parts = []
        if n is not None and of is not None:
            parts.append(f"{n} of {of}")
        elif n is not None:
            parts.append(f"n = {n}")
        if ci is not None:
            parts.append(ci_text(*ci))
        if parts:
            st.caption(" · ".join(parts))
        if note:
            st.caption(note)


def rate_card(
    label: str,
    row: Mapping[str, object] | None,
    *,
    note: str | None = None,
    help: str | None = None,
) -> None:
    """A metric card from one rates row (numerator, denominator, pct, ci_lo, ci_hi)."""
    if row is None or not row.get("denominator"):
        metric_card(label, "–", note=note or "no patients in the denominator", help=help)
        return
    metric_card(
        label,
        pct_text(row["pct"]),
        n=int(row["numerator"]),  # type: ignore[arg-type]
        of=int(row["denominator"]),  # type: ignore[arg-type]
        ci=(row["ci_lo"], row["ci_hi"]),
        note=note,
        help=help,
    )


def verdict_badge(verdict: str) -> None:
    colour, meaning = VERDICTS.get(verdict, ("gray", ""))
    st.badge(verdict.capitalize(), color=colour, help=meaning or None)  # type: ignore[arg-type]


def verdict_card(result, references: list[str] | None = None) -> None:
    """One claim tested on one instrument (an ``analysis.claims.ClaimResult``): the instrument
    and group, the verdict badge, the estimate with its 95% CI and n, a few lines of detail, the
    published references beside it (``references``: lines from
    ``references_view.reference_lines``), the test in plain words and the caveats (collapsed)."""
    with st.container(border=True):
        scope = " · ".join(
            str(x) for x in (result.instrument, result.group) if x and x != "all patients"
        )
        st.markdown(f"**{md_escape(scope) if scope else 'All instruments'}**")
        verdict_badge(result.verdict)
        if result.verdict == "not testable":
            why = result.caveats[0] if result.caveats else ""
            st.markdown(f"Not testable: {md_escape(why)}")
        else:
            st.markdown(estimate_text(result))
            for line in detail_lines(result):
                st.caption(md_escape(line))
            for line in references or ():
                st.caption(f":material/menu_book: {md_escape(line)}")
        if result.test:
            st.caption(f"**Test:** {md_escape(result.test)}")
        caveats = result.caveats[1:] if result.verdict == "not testable" else result.caveats
        if caveats:
            with st.expander(f"Caveats ({len(caveats)})"):
                for c in caveats:
                    st.markdown(f"- {md_escape(c)}")


def instrument_picker(labels, registry, *, key: str, container=st) -> str:
    """The page's one-instrument choice: the instruments present, in registry order, PHQ-9
    first chosen when present; returns the chosen registry key."""
    from dashboard.compute import instrument_order

    instruments = instrument_order(labels, registry)
    default = "PHQ-9" if "PHQ-9" in instruments else instruments[0]
    chosen = container.segmented_control(  # its options are Markdown: keys come from files
        "Instrument", instruments, default=default, key=key, required=True, format_func=md_escape
    )
    return chosen or default


def how_computed(
    text: str, title: str = "How this is computed", help_anchor: str | None = None
) -> None:
    """A collapsed expander explaining a figure in plain words; with ``help_anchor`` (an anchor
    of ``dashboard.glossary``), a link to that entry of the Help page, which shows it first."""
    with st.expander(title):
        st.markdown(text)
        if help_anchor:
            from dashboard import glossary

            entry = glossary.entry(help_anchor)  # KeyError for an anchor the Help page lacks
            st.page_link(
                "app_pages/help.py",
                label=f"More in Help: {entry.title}",
                icon=":material/help:",
                query_params={"topic": help_anchor},
            )


def chart(fig: go.Figure, key: str | None = None) -> None:
    """Draw a figure full width in the viewer's light or dark theme: Streamlit's theme sets
    the background, text and grid colours (and redraws when the viewer switches theme); the
    figure's own layout (``chart_style.style``: titles, legend, margins) and its Okabe–Ito
    colours, chosen to read on both backgrounds, stay as they are."""
    config = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
    if is_empty_figure(fig):
        config["staticPlot"] = True
    st.plotly_chart(fig, width="stretch", theme="streamlit", config=config, key=key)


def filters_caption(description: str, n_patients: int | None = None) -> None:
    """A one-line reminder of the filters in force under a page title (``description`` names
    protocols, sites and routes as the files spell them, so it is shown escaped)."""
    who = f"{n_patients} patients" if n_patients is not None else ""
    st.caption(" · ".join(x for x in (f"Filters: {md_escape(description)}", who) if x))


def settings_stamp(stamp) -> None:
    """The claim settings' stamp (an ``analysis.settings_stamp.SettingsStamp``) beside verdicts:
    a warning when the settings are not as frozen or differ from the defaults, else a caption.
    Its words come from the settings and the store, never from an upload, and are escaped all
    the same."""
    if stamp.warns:
        st.warning(md_escape(stamp.text()), icon=":material/edit_note:")
    else:
        st.caption(f":material/verified: {md_escape(stamp.text())}")
