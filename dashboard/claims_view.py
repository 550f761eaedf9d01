"""The claims in words for the Claims page and the Overview scorecard (no Streamlit here).

Each ``analysis.claims.ClaimResult`` becomes a figure with its unit (a share in percent, or a
difference in points for the intensive-versus-weekly comparison), its 95% CI and n, and a few
lines from its ``details`` (both denominators, g_av, medians, the log-rank test …).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

import pandas as pd

from analysis.claims.evaluate import CLAIM_TEXT, ClaimResult
from analysis.numbers import finite_or_none
from dashboard.safe_text import md_escape

#: Short names of the claims, in the order ``evaluate_claims`` gives them.
SHORT_NAMES = {
    "rapid-onset": "Rapid onset",
    "intensive-faster": "Intensive faster than weekly",
    "large-improvement": "Large improvement",
    "lasting": "Gains last",
    "suicidal-ideation": "Suicidal thoughts drop",
    "treatment-resistant": "Helps the treatment-resistant",
    "initial-anxiety": "Anxiety rises at first",
}
#: Badge colour (Streamlit's named colours) and plain meaning of each verdict (SPEC section 6).
VERDICTS: dict[str, tuple[str, str]] = {
    "supported": ("green", "the whole 95% CI clears the claim's threshold"),
    "not supported": ("red", "even the top of the 95% CI falls short of the threshold"),
    "inconclusive": ("orange", "the 95% CI straddles the threshold, or too few patients"),
    "not testable": ("gray", "the data cannot test this claim"),
    "reported": ("blue", "reported without a verdict"),
}


def _pct(x: object) -> str:
    v = finite_or_none(x)
    return "–" if v is None else f"{v:.0f}%"


def is_points(result: ClaimResult) -> bool:
    """True when the estimate is a difference in points (intensive − weekly), not a share."""
    return result.id == "intensive-faster"


def estimate_text(result: ClaimResult, *, short: bool = False) -> str:
    """ "58% (95% CI 55–61%), n = 3,761" or "+1.2 points (95% CI −0.3 to 2.7), n = 240";
    "–" when the claim could not be tested. ``short``: "58% (55–61)"."""
    est = finite_or_none(result.estimate)
    if est is None:
        return "–"
    lo, hi = (finite_or_none(v) for v in result.ci)
    if is_points(result):
        figure = f"{est:+.1f} points"
        ci = "" if lo is None or hi is None else f"{lo:.1f} to {hi:.1f}"
    else:
        figure = f"{est:.0f}%"
        ci = "" if lo is None or hi is None else f"{lo:.0f}–{hi:.0f}"
    if short:
        return f"{figure} ({ci})" if ci else figure
    ci_part = f" (95% CI {ci}{'' if is_points(result) else '%'})" if ci else ""
    return f"{figure}{ci_part}, n = {result.n:,}"


def detail_lines(result: ClaimResult) -> list[str]:
    """A few lines from the result's details, in words (none for an untestable claim)."""
    d = result.details
    if result.verdict == "not testable":
        return []
    lines: list[str] = []
    k = d.get("k")
    if result.id == "rapid-onset" and k is not None:
        lines.append(
            f"{k} of {result.n} paired patients improved reliably by their first reassessment "
            f"({d.get('n_first_assessed_within_window', 0)} were reassessed within the window)."
        )
    elif result.id in ("large-improvement", "treatment-resistant") and k is not None:
        lines.append(f"{k} of {result.n} paired patients improved reliably.")
        if d.get("all_starters_of"):
            share = 100 * d["all_starters_n"] / d["all_starters_of"]
            lines.append(
                f"Among everyone who started: {d['all_starters_n']} of {d['all_starters_of']} "
                f"({share:.0f}%), counting those without an end-of-treatment score as not improved."
            )
        g = finite_or_none(d.get("g_av"))
        if g is not None:
            lo, hi = finite_or_none(d.get("g_av_ci_lo")), finite_or_none(d.get("g_av_ci_hi"))
            ci = f" (95% CI {lo:.2f} to {hi:.2f})" if lo is not None and hi is not None else ""
            lines.append(f"Effect size g_av = {g:.2f}{ci}.")
        if "others_n" in d:
            lines.append(
                f"Patients not recorded as treatment-resistant: {_pct(d.get('others_pct'))} of "
                f"{d['others_n']}."
            )
    elif result.id == "lasting" and k is not None:
        lines.append(
            f"{k} of {result.n} end-of-treatment responders assessed at follow-up still respond "
            f"({d.get('eot_responders', 0)} responders in all)."
        )
    elif result.id == "suicidal-ideation" and k is not None:
        lines.append(f"{k} of {result.n} reported none at session 1.")
        if d.get("eot_resolved_of"):
            lines.append(
                f"End of treatment: {d['eot_resolved_n']} of {d['eot_resolved_of']} reported none."
            )
        lines.append(
            f"New onset: {d.get('new_onset_n', 0)} of {d.get('new_onset_of', 0)} patients without "
            "such thoughts at baseline reported them later."
        )
    elif result.id == "intensive-faster":
        lines.extend(_faster_lines(d))
    elif result.id == "initial-anxiety" and k is not None:
        lines.append(f"{k} of {result.n} patients were reliably worse at session 1.")
    role_line = multiplicity_line(result)
    if role_line:
        lines.append(role_line)
    return lines


def _p(x: float | None) -> str:
    v = finite_or_none(x)
    return "–" if v is None else ("< 0.0001" if v < 0.0001 else f"{v:.4f}".rstrip("0").rstrip("."))


def multiplicity_line(result: ClaimResult) -> str | None:
    """How the claim sits in the scorecard's multiplicity control, in words (None: no test)."""
    role = getattr(result, "role", None)
    if role == "primary":
        return f"Primary claim: tested on its own at one-sided 2.5% (p = {_p(result.p_value)})."
    if role == "exploratory":
        return (
            f"Exploratory: judged with the other claims by Holm's method (adjusted p = "
            f"{_p(result.p_adjusted)}; on its own p = {_p(result.p_value)})."
        )
    return None


def _faster_lines(d: dict) -> list[str]:
    """The figures behind the intensive-faster verdict, in plain words."""
    lines = []
    day = finite_or_none(d.get("shown_day"))
    if day is not None:
        lines.append(
            f"Estimate: how many more points intensive patients had improved than weekly "
            f"patients {day:g} days after baseline, at the same baseline score "
            f"({d.get('shown_adjustment', 'baseline as measured')}; the lower of two "
            "adjustments)."
        )
    margin = finite_or_none(d.get("noninferiority_margin"))
    eot = finite_or_none(d.get("eot_difference"))
    if margin is not None and eot is not None:
        lo, hi = finite_or_none(d.get("eot_ci_lo")), finite_or_none(d.get("eot_ci_hi"))
        lines.append(
            f"End of treatment ({d.get('eot_population', 'completer')}s, "
            f"{d.get('eot_n_intensive', 0)} intensive, {d.get('eot_n_weekly', 0)} weekly): "
            f"intensive {eot:+.1f} points (95% CI {lo:.1f} to {hi:.1f}); it may not fall short "
            f"by more than {margin:g} points."
        )
    window = finite_or_none(d.get("confirmed_window_days"))
    if window is not None:
        med = [finite_or_none(d.get(f"confirmed_median_days_{p}")) for p in ("intensive", "weekly")]
        words = ["not reached" if m is None else f"{m:g} days" for m in med]
        lines.append(
            f"Description only: median days to a reliable improvement confirmed at the next "
            f"assessment, within the first {window:g} days: intensive {words[0]}, weekly "
            f"{words[1]}."
        )
    return lines


def verdict_counts(results: Iterable[ClaimResult]) -> dict[str, int]:
    """How many results got each verdict, in the order of ``VERDICTS`` (zeros left out)."""
    seen = pd.Series([r.verdict for r in results], dtype=object).value_counts()
    return {v: int(seen[v]) for v in VERDICTS if v in seen.index}


def badge(verdict: str) -> str:
    """A Streamlit Markdown badge for a verdict, e.g. ``:green-badge[supported]``."""
    return f":{VERDICTS.get(verdict, ('gray', ''))[0]}-badge[{verdict}]"


def scorecard_markdown(results: Sequence[ClaimResult], instruments: Sequence[str]) -> str:
    """The scorecard as one Markdown table: a row per claim, a column per instrument, each cell
    a verdict badge and the estimate with its CI; "·" where a claim does not apply. Instrument
    names come from files and are escaped (``safe_text.md_escape``)."""
    cells: dict[tuple[str, str], str] = {}
    for r in results:
        est = estimate_text(r, short=True)
        primary = " **(primary)**" if getattr(r, "role", None) == "primary" else ""
        cells[(r.id, r.instrument or "all")] = (
            badge(r.verdict) + ("" if est == "–" else f" {est}") + primary
        )
    cols = [i for i in instruments if any(c == i for _, c in cells)]
    cols += sorted({c for _, c in cells} - set(cols))
    header = "| Claim | " + " | ".join(md_escape(c) for c in cols) + " |"
    rule = "|---|" + "|".join("---" for _ in cols) + "|"
    rows = []
    for claim in dict.fromkeys(r.id for r in results):
        name = SHORT_NAMES.get(claim, claim)
        rows.append(
            f"| **{name}** | " + " | ".join(cells.get((claim, c), "·") for c in cols) + " |"
        )
    return "\n".join([header, rule, *rows])


def for_instruments(
    results: Iterable[ClaimResult], instruments: Collection[str]
) -> list[ClaimResult]:
    """The results on the chosen ``instruments`` (the sidebar's instrument filter), and those
    tested on no single instrument; all of them when none is chosen. Under a GAD-7 filter the
    scorecard then has a GAD-7 column only, not an empty PHQ-9 one beside it."""
    chosen = set(instruments)
    return [r for r in results if not chosen or not r.instrument or r.instrument in chosen]


def untestable_reasons(results: Iterable[ClaimResult]) -> list[str]:
    """Why claims could not be tested, one line per claim and reason (instruments named)."""
    reasons: dict[tuple[str, str], list[str]] = {}
    for r in results:
        if r.verdict == "not testable" and r.caveats:
            reasons.setdefault((r.id, r.caveats[0]), []).append(r.instrument or "")
    return [
        f"{SHORT_NAMES.get(claim, claim)} ({', '.join(i for i in ins if i)}): {why}"
        if any(ins)
        else f"{SHORT_NAMES.get(claim, claim)}: {why}"
        for (claim, why), ins in reasons.items()
    ]


def claim_text(claim_id: str) -> str:
    """The claim as clinics word it."""
    return CLAIM_TEXT.get(claim_id, claim_id)
