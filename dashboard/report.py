"""The self-contained HTML report of the Downloads page (no Streamlit here).

One HTML file that opens offline in any browser and can be e-mailed or archived: the key
figures as interactive plotly charts (plotly.js embedded once, in the first chart), the claims
scorecard with every caveat, the researcher tables (small cells suppressed and formulas
neutralised by ``analysis.tables.prepare_for_export``, as in every other download) and the
Methods rows. Nothing is fetched from the internet.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from analysis.claims.evaluate import CLAIM_TEXT, NO_CONTROL, REGRESSION, ClaimResult
from analysis.methods import SOFTWARE, MethodsInfo
from analysis.tables import DEFAULT_MIN_N, ResearchTable, prepare_for_export, wide_for_display
from dashboard import charts, compute
from dashboard.claims_view import SHORT_NAMES, VERDICTS, detail_lines, estimate_text
from data.instruments import Registry

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em;
     margin-top: 2em; } h3 { margin-top: 1.5em; }
.meta { color: #555; } .note { color: #555; font-size: 0.9em; } .stamp { border-left: 3px solid #888; padding-left: 0.5em; }
.synthetic { background: #fff4ce; border: 2px solid #e0a800; padding: 0.8em 1em;
             border-radius: 6px; font-weight: 600; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
.verdict { display: inline-block; padding: 0.05em 0.5em; border-radius: 0.8em; color: #fff;
           font-weight: 600; white-space: nowrap; }
.green { background: #1b7f3b; } .red { background: #c0392b; } .orange { background: #c26a00; }
.gray { background: #777; } .blue { background: #1f5fa8; }
ul.caveats { margin: 0; padding-left: 1.1em; }
.figure { margin: 1em 0 2em 0; }
.print-only { display: none; }
dl.record { display: grid; grid-template-columns: 42% 58%; break-inside: avoid; margin: 0 0 0.6em;
            border: 1px solid #ccc; padding: 0.3em 0.5em; font-size: 7.5pt; }
dl.record dt { font-weight: 600; color: #444; } dl.record dd { margin: 0; overflow-wrap: anywhere; }
.records { columns: 2; column-gap: 1em; }
@page { margin: 16mm 12mm; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 9.5pt; line-height: 1.35; }
  h1 { font-size: 18pt; } h2 { font-size: 14pt; break-before: page; margin-top: 0; }
  h2:first-of-type { break-before: auto; margin-top: 1.2em; }
  h2, h3 { break-after: avoid; } h3 { font-size: 11pt; margin-top: 1em; }
  .print-only { display: block; } .screen-only { display: none; }
  table.claims th:nth-child(5), table.claims td:nth-child(5) { display: none; }
  table.claims th:nth-child(1) { width: 22%; } table.claims th:nth-child(2) { width: 14%; }
  table.claims th:nth-child(3) { width: 16%; }
  .figure { break-inside: avoid; margin: 0.4em 0 1em 0; zoom: 0.72; }
  .figure .plotly-graph-div { width: 100% !important; }
  .modebar-container { display: none !important; }
  table { width: 100%; font-size: 7.5pt; }
  th, td { overflow-wrap: anywhere; padding: 0.15em 0.3em; }
  thead { display: table-header-group; } tr { break-inside: avoid; }
  details > summary { font-weight: 600; list-style: none; }
  .verdict { white-space: normal; }
  .synthetic, .stamp, .note { break-inside: avoid; }
}
"""

#: Tables with more columns than this are printed as one box per row (they cannot fit a page).
WIDE_COLUMNS = 12

#: The report's title when no filter narrows the data.
TITLE = f"{SOFTWARE} outcomes report"


def report_title(filters: str | None = None) -> str:
    """The report's title: ``TITLE``, followed by the filters in words (``Filters.describe()``,
    which names the period when one is chosen) unless they are "all patients"."""
    if not filters or filters == "all patients":
        return TITLE
    return f"{TITLE}: {filters}"


def filter_words(filters: object) -> list[str]:
    """Each filter that narrows the data, in words, read generically from a ``Filters``
    dataclass: every field that differs from its default is described on its own (a
    ``Filters`` holding only that field, ``describe()``d), so filters added later are listed
    without a change here."""
    out = []
    for field in dataclasses.fields(filters):  # type: ignore[arg-type]
        value = getattr(filters, field.name)
        if value == field.default:
            continue
        alone = dataclasses.replace(type(filters)(), **{field.name: value})  # type: ignore[misc]
        out.append(alone.describe())
    return out


def chart_count(figures: Sequence[tuple[str, go.Figure]]) -> int:
    """How many charts the report draws (the PDF waits for each)."""
    return len(figures)


#: The researcher tables a practice's summary report keeps (by ``ResearchTable.name``): who was
#: treated, the outcome rates, the effect sizes and the comparison of protocols.
SUMMARY_TABLES = ("table1_baseline", "outcomes", "effect_sizes", "protocol_comparisons")


def _e(text: object) -> str:
    return html.escape("" if text is None else str(text))


def report_figures(
    trajectories: pd.DataFrame,
    rates: pd.DataFrame,
    effects: pd.DataFrame,
    registry: Registry,
) -> list[tuple[str, go.Figure]]:
    """The report's figures: per instrument the mean score by session and the outcome rates,
    then the within-protocol effect sizes (g_av with its bootstrap CI when ``effects`` has one,
    else d_z with its noncentral-t CI). Inputs as the dashboard's results give them:
    ``by_session`` points, the rates frame of ``compute.outcome_rates`` and
    ``paired_effects_by_group`` rows by instrument × protocol."""
    out: list[tuple[str, go.Figure]] = []
    keys = compute.instrument_order(
        pd.unique(trajectories["instrument"].astype(str)) if len(trajectories) else [], registry
    )
    for key in keys:
        ins = registry.get(key) if key in registry.keys else None
        points = trajectories.loc[(trajectories["instrument"] == key).to_numpy()]
        out.append(
            (f"{key}: mean score by session", charts.trajectory_chart(points, instrument=ins))
        )
        if len(rates):
            mine = rates.loc[(rates["instrument"] == key).to_numpy()]
            out.append((f"{key}: outcome rates", charts.rates_chart(mine, instrument_label=key)))
    if len(effects):
        boot = effects["g_av_ci_lo"].notna().any()
        measure = "g_av" if boot else "d_z"
        rows = compute.forest_rows(compute.in_display_order(effects, registry), measure)
        label = "Hedges' g_av (BCa bootstrap CI)" if boot else "d_z (noncentral-t CI)"
        out.append(
            (
                "Within-protocol effect sizes",
                charts.forest_chart(rows, measure=label, title=f"Within-protocol change: {label}"),
            )
        )
    return out


def _figure_html(figs: Sequence[tuple[str, go.Figure]]) -> list[str]:
    parts = []
    for i, (title, fig) in enumerate(figs):
        body = fig.to_html(
            full_html=False,
            include_plotlyjs=i == 0,  # plotly.js once, inline, in the first chart
            config={"displaylogo": False, "responsive": True},
            default_width="100%",
        )
        parts.append(f'<div class="figure" title="{_e(title)}">{body}</div>')  # titled inside
    return parts


def _claims_html(claims: Sequence[ClaimResult]) -> str:
    """The scorecard: a row per claim and instrument with its verdict, figure and details; the
    test and the caveats folded in each row (the caveats every claim shares are listed once)."""
    shared = {NO_CONTROL, REGRESSION}
    rows = []
    for r in claims:
        colour = VERDICTS.get(r.verdict, ("gray", ""))[0]
        own = [c for c in r.caveats if c not in shared]
        caveats = "".join(f"<li>{_e(c)}</li>" for c in own)
        details = "".join(f"<br><span class='note'>{_e(x)}</span>" for x in detail_lines(r))
        group = "" if r.group == "all patients" else f"<br><span class='note'>{_e(r.group)}</span>"
        rows.append(
            "<tr>"
            f"<td><b>{_e(SHORT_NAMES.get(r.id, r.id))}</b></td>"
            f"<td>{_e(r.instrument or '')}{group}</td>"
            f"<td><span class='verdict {colour}'>{_e(r.verdict)}</span></td>"
            f"<td>{_e(estimate_text(r))}{details}</td>"
            f"<td><details><summary>test and caveats ({len(own)})</summary>"
            f"<p>{_e(r.test)}</p><ul class='caveats'>{caveats}</ul></details></td>"
            "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("Claim", "Instrument", "Verdict", "Estimate (95% CI), n", "How it is tested")
    )
    claims_text = "".join(
        f"<li><b>{_e(SHORT_NAMES.get(c, c))}</b>: “{_e(CLAIM_TEXT.get(c, c))}”</li>"
        for c in dict.fromkeys(r.id for r in claims)
    )
    printed = "".join(
        f"<h4>{_e(SHORT_NAMES.get(r.id, r.id))} · {_e(r.instrument or '')}"
        f"{'' if r.group == 'all patients' else ' · ' + _e(r.group)}</h4><p>{_e(r.test)}</p>"
        "<ul class='caveats'>"
        + "".join(f"<li>{_e(c)}</li>" for c in r.caveats if c not in shared)
        + "</ul>"
        for r in claims
    )
    return (
        f"<ul>{claims_text}</ul>"
        f"<p class='note'>Every verdict also carries these caveats: {_e(NO_CONTROL)} "
        f"{_e(REGRESSION)}</p>"
        f"<table class='claims'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
        "</table>"
        f"<div class='print-only'><h3>How each claim is tested, and its caveats</h3>{printed}</div>"
    )


def _table_html(table: ResearchTable, min_n: int) -> str:
    t = prepare_for_export(table, min_n)
    view = wide_for_display(t).astype(object).fillna("")
    notes = "".join(f"<p class='note'>{_e(n)}</p>" for n in t.notes)
    table_html = view.to_html(index=False, escape=True, border=0)
    if view.shape[1] > WIDE_COLUMNS:  # on paper: a box per row, the column names beside values
        table_html = (
            f"<div class='screen-only'>{table_html}</div>"
            f"<div class='print-only records'>{_records_html(view)}</div>"
        )
    return f"<h3>{_e(t.title)}</h3>{table_html}{notes}"


def _records_html(view: pd.DataFrame) -> str:
    """Each row of a wide table as a box of "column: value" lines (empty values left out)."""
    names = [_e(c) for c in view.columns]
    boxes = []
    for values in view.itertuples(index=False):  # a report's tens of rows, not a hot path
        cells = "".join(
            f"<dt>{n}</dt><dd>{_e(v)}</dd>" for n, v in zip(names, values, strict=True) if v != ""
        )
        boxes.append(f"<dl class='record'>{cells}</dl>")
    return "".join(boxes)


def _methods_html(methods: MethodsInfo) -> str:
    rows = "".join(
        f"<tr><td>{_e(s)}</td><td>{_e(i)}</td><td>{_e(v)}</td></tr>"
        for s, i, v in [*methods.header_rows(), *methods.rows]
    )
    return (
        "<table><thead><tr><th>Section</th><th>Item</th><th>Value</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def html_report(
    *,
    figures: Sequence[tuple[str, go.Figure]],
    tables: Sequence[ResearchTable],
    claims: Sequence[ClaimResult],
    methods: MethodsInfo,
    filters: str,
    dataset: str,
    synthetic_note: str | None = None,
    min_n: int = DEFAULT_MIN_N,
    settings_stamp: str | None = None,
    title: str = TITLE,
) -> str:
    """The whole report as one HTML document (text). ``dataset`` and ``filters`` describe what
    the figures are of; ``synthetic_note``, when given, is shown first in a box that cannot be
    missed; ``settings_stamp`` (``SettingsStamp.text()``) is shown above the claims; ``title``
    (``report_title``) heads it. Print styles break pages before each section."""
    when = methods.generated_on.isoformat()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)} {when}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p class='meta'>{_e(SOFTWARE)} {_e(methods.software_version)} · generated {when} · "
        f"{_e(dataset)} · filters: {_e(filters)}</p>",
    ]
    if synthetic_note:
        parts.append(f"<p class='synthetic'>{_e(synthetic_note)}</p>")
    parts.append(
        "<p class='note'>Every figure is of treated patients without a control group: it shows "
        "change over time, not that treatment caused it. Percentages carry Wilson 95% confidence "
        f"intervals; counts from 1 to {min_n - 1} are shown as &lt;{min_n} in the tables.</p>"
    )
    parts.append("<h2>Claims</h2>")
    if settings_stamp:
        parts.append(f"<p class='stamp'>{_e(settings_stamp)}</p>")
    parts.append(_claims_html(claims))
    parts.append("<h2>Figures</h2>")
    parts.extend(_figure_html(figures))
    parts.append("<h2>Tables</h2>")
    parts.extend(_table_html(t, min_n) for t in tables)
    parts.append("<h2>Methods</h2>")
    parts.append(_methods_html(methods))
    parts.append("</body></html>")
    return "\n".join(parts)
