"""The Help page's glossary (no Streamlit here): every figure the dashboard shows, in plain
words, with its references.

Each entry has an anchor (the Help page's heading id, also what ``components.how_computed``
links to). The words follow docs/definitions.md, docs/claims.md, docs/growth.md,
docs/adjustment.md, docs/benchmarks.md and docs/expected_recovery.md. Numbers are never typed
in: thresholds and cut-offs come from the instrument registry in use, the claim thresholds from
the claim settings in use, and the other constants from the modules that apply them.
"""

from __future__ import annotations

from collections.abc import Callable

from analysis.bootstrap import DEFAULT_N_BOOT
from analysis.expected_recovery import LEVEL, MIN_HISTORY
from analysis.outcomes import FOLLOW_UP_WINDOWS, RESPONSE_FRACTION
from analysis.provider_compare import LIMITS
from analysis.tables import DEFAULT_MIN_N
from dashboard.glossary_base import REFS, Entry
from dashboard.glossary_base import num as _num
from dashboard.glossary_base import pct as _pct
from dashboard.glossary_claims import CLAIM_ENTRIES
from dashboard.safe_text import md_escape
from data.instruments import RCI_Z, Registry

__all__ = ["ANCHORS", "ENTRIES", "REFS", "Entry", "entry"]


def _per_instrument(reg: Registry, what: Callable[[object], str]) -> str:
    """One Markdown bullet per instrument of the registry: "- **PHQ-9**: …"."""
    return "\n".join(f"- **{md_escape(ins.key)}**: {what(ins)}" for ins in reg)


def _rc_rule(ins) -> str:
    if ins.rci_method == "threshold":
        return f"a change of {_num(ins.reliable_change)} points or more (fixed threshold)"
    sd = (
        "the baseline SD of the group's paired patients"
        if ins.rci_sd == "sample"
        else (f"SD {_num(ins.rci_sd)}")
    )
    return f"Jacobson–Truax: {RCI_Z:g} × {sd} × √2 × √(1 − {_num(ins.reliability)})"


def _windows() -> str:
    return ", ".join(f"{w:g} (± {h:g})" for w, h in FOLLOW_UP_WINDOWS)


ENTRIES: tuple[Entry, ...] = (
    Entry(
        "reliable-change",
        "Reliable change: fixed threshold or Jacobson–Truax",
        lambda reg, cfg: (
            "A change in score large enough that it is unlikely to be measurement error alone. "
            "Change is baseline − end of treatment, so a positive change is better. A patient "
            "**reliably improved** when the change reaches the instrument's threshold. Two rules "
            "exist: a **fixed threshold** in points (as NHS Talking Therapies publishes them), or "
            f"the **Jacobson–Truax** value {RCI_Z:g} × SD × √2 × √(1 − r), with r the instrument's "
            "reliability. The thresholds in use:\n\n"
            + _per_instrument(reg, _rc_rule)
            + "\n\nOn the Outcomes page, the grey band of the baseline-versus-end plot and the dashed "
            "lines of the waterfall mark these thresholds."
        ),
        ("jt", "nhs", "docs_def"),
    ),
    Entry(
        "deterioration",
        "Reliable deterioration",
        lambda reg, cfg: (
            "The score got worse from baseline to the end of treatment by at least the same "
            "reliable-change threshold (among paired patients). Rates among everyone who started "
            "count patients without an end-of-treatment score as *not* deteriorated, which flatters "
            "them: read deterioration on paired patients."
        ),
        ("jt", "docs_def"),
    ),
    Entry(
        "response",
        "Response",
        lambda reg, cfg: (
            f"The score fell by at least {_pct(RESPONSE_FRACTION)} of the baseline score (change ÷ "
            "baseline ≥ that share), among paired patients with a baseline above 0."
        ),
        ("docs_def",),
    ),
    Entry(
        "remission",
        "Remission",
        lambda reg, cfg: (
            "The end-of-treatment score is below the instrument's remission cut-off:\n\n"
            + _per_instrument(
                reg,
                lambda i: (
                    f"below {_num(i.remission)}"
                    if i.remission is not None
                    else "no remission cut-off"
                ),
            )
        ),
        ("docs_def",),
    ),
    Entry(
        "caseness",
        "Caseness and recovery",
        lambda reg, cfg: (
            "A score at or above the instrument's caseness cut-off is in the **clinical range**. "
            "**Recovery**: in the clinical range at baseline and not at the end of treatment (only "
            "patients who started in the clinical range count). **Reliable recovery**: recovery and "
            "reliable improvement. With PHQ-9 and GAD-7 both present, the NHS joint rules also "
            "apply (a case on either at baseline, on neither at the end). Cut-offs in use:\n\n"
            + _per_instrument(
                reg,
                lambda i: (
                    f"{_num(i.caseness)} or more"
                    if i.caseness is not None
                    else "no caseness cut-off"
                ),
            )
        ),
        ("nhs", "docs_def"),
    ),
    Entry(
        "paired-data",
        "Patients assessed and paired data",
        lambda reg, cfg: (
            "**Patients assessed**: patients with at least one accepted score on the instrument. "
            "**Paired**: a baseline (session 0) score and an end-of-treatment score, which is the "
            "**last** score after a dosing session, whenever the patient stopped (last observation "
            "carried forward, LOCF). The **paired-data rate** is paired patients ÷ patients with a "
            "baseline: a low rate means the figures rest on fewer patients, and those who stayed "
            "may differ from those who left."
        ),
        ("docs_def",),
    ),
    Entry(
        "denominators",
        "Completers versus everyone who started",
        lambda reg, cfg: (
            "Rates are given over more than one **denominator**. **Paired (last observation)**: "
            "patients with a baseline and a later score. **Completers**: patients who reached the "
            "planned last session of their protocol with at least two treatment scores. **Everyone "
            "who started**: every patient with a baseline; those without a later score count as not "
            "improved. The share among everyone who started is the most cautious."
        ),
        ("docs_def",),
    ),
    Entry(
        "inclusion-funnel",
        "Inclusion funnel",
        lambda reg, cfg: (
            "Each step counts the patients who also passed every step above it: assessed, with a "
            "baseline, in the clinical range at baseline, paired, and with an assessment in a "
            f"follow-up window (days after the end of treatment: {_windows()}). Percentages are of "
            "those assessed."
        ),
        ("docs_def",),
    ),
    Entry(
        "g-av",
        "Hedges' g_av (the headline effect size)",
        lambda reg, cfg: (
            "Mean change ÷ the mean of the baseline and end-of-treatment SDs, times the small-sample "
            "correction J = 1 − 3 / (4(n − 1) − 1), on paired patients. Its 95% CI is a BCa "
            f"bootstrap ({DEFAULT_N_BOOT:,} resamples, fixed seed). Positive means improvement."
        ),
        ("lakens", "efron"),
    ),
    Entry(
        "d-z",
        "Cohen's d_z",
        lambda reg, cfg: (
            "Mean change ÷ the SD of the change, on paired patients; CI from the noncentral t "
            "distribution. It grows when patients change alike, so it is larger than g_av when "
            "baseline and end scores are correlated."
        ),
        ("lakens",),
    ),
    Entry(
        "d-av",
        "Cohen's d_av",
        lambda reg, cfg: (
            "Mean change ÷ the mean of the baseline and end-of-treatment SDs: g_av without the "
            "small-sample correction."
        ),
        ("lakens",),
    ),
    Entry(
        "d-rm",
        "Cohen's d_rm",
        lambda reg, cfg: (
            "d_z × √(2(1 − r)), r the baseline–end correlation: a repeated-measures effect size on "
            "the scale of the scores' own spread. Between protocols, Hedges' g on change scores "
            "uses the pooled SD."
        ),
        ("lakens",),
    ),
    Entry(
        "wilson-ci",
        "Wilson 95% confidence interval",
        lambda reg, cfg: (
            "The interval around a share (k of n patients) that stays sensible for small n and for "
            "shares near 0% or 100%, the same as R `prop.test(k, n, correct = FALSE)`. Every rate "
            "shows its numerator, denominator and this interval."
        ),
        ("wilson",),
    ),
    Entry(
        "bca-bootstrap",
        "BCa bootstrap",
        lambda reg, cfg: (
            "The patients are resampled with replacement many times and the effect size recomputed "
            "each time; the bias-corrected and accelerated (BCa) interval then corrects the spread "
            "of those values for bias and skew. A fixed seed makes it reproducible."
        ),
        ("efron",),
    ),
    Entry(
        "kaplan-meier",
        "Kaplan–Meier time to reliable improvement",
        lambda reg, cfg: (
            "The share of patients not yet reliably improved, by session or day. A patient who "
            "never improved reliably counts until their last treatment score (censored). The median "
            "is the first time the curve reaches 50%; the CI uses Greenwood's variance on the log "
            "scale, and the log-rank test compares protocols."
        ),
        ("km", "docs_def"),
    ),
    Entry(
        "trajectory-means",
        "Mean scores by session or day",
        lambda reg, cfg: (
            "Each point is the mean score of the patients assessed then, with a 95% CI from the t "
            "distribution; n is the number of patients. Later points rest on fewer patients, who "
            "may be the ones doing better."
        ),
        ("docs_def",),
    ),
    Entry(
        "matched-days",
        "Change at matched days",
        lambda reg, cfg: (
            "For each patient, the change from baseline at the assessment nearest a given day since "
            f"baseline (days {', '.join(f'{d:g}' for d in cfg.faster_days)}, ± "
            f"{cfg.faster_window:g}). The difference between protocols has a Welch 95% CI."
        ),
        ("docs_def",),
    ),
    Entry(
        "growth-model",
        "Growth model",
        lambda reg, cfg: (
            "A mixed-effects model of the scores over sessions (and over days): each patient has "
            "their own starting level and slope around the protocol's average line, fitted by "
            "REML as R's lme4 does. The session model's protocol term should not be read as "
            '"one protocol works faster": protocols are assessed at different intervals.'
        ),
        ("lme4", "docs_growth"),
    ),
    Entry(
        "adjusted-comparison",
        "Comparing protocols fairly",
        lambda reg, cfg: (
            "Patients are not randomised to a protocol. A logistic model predicts each patient's "
            "chance of the intensive protocol from baseline and other recorded traits; overlap "
            "weights make the groups alike on them before the difference is computed. The E-value "
            "says how strong an unmeasured difference would have to be to explain the result away."
        ),
        ("evalue", "docs_adj"),
    ),
    Entry(
        "funnel-plot",
        "Sites and clinicians: funnel plots",
        lambda reg, cfg: (
            "Each site or clinician is compared with what the practice as a whole would expect for "
            "patients like theirs (case mix: baseline severity, protocol, treatment resistance). "
            "**O/E** is observed over expected; the funnel's control limits "
            f"({' and '.join(_pct(x) for x in LIMITS)}) widen for units with fewer patients, so a "
            "dot outside them is unlikely to be chance alone. **Shrunken** estimates pull small "
            "units toward the mean (empirical Bayes), the fairer figure to rank by. Units with "
            f"fewer than {DEFAULT_MIN_N} patients are not shown."
        ),
        ("spiegelhalter", "dersimonian"),
    ),
    Entry(
        "safety-item",
        "Safety item (PHQ-9 item 9)",
        lambda reg, cfg: (
            "The share of patients who answered the registry's safety item with 1 or more at each "
            "session, among those who answered it, with a Wilson 95% CI. It is a prompt for "
            "clinical follow-up, not a risk assessment."
        ),
        ("docs_def",),
    ),
    Entry(
        "expected-recovery",
        "Expected recovery (on track / not on track)",
        lambda reg, cfg: (
            "Behind each patient's scores, the band their score is expected to be in at each "
            "session given their baseline: from the practice's own history once "
            f"{MIN_HISTORY} patients have a baseline and a treatment score, the "
            f"{_pct(LEVEL)} prediction interval; until then from a published routine-care "
            "reference, a rough prior (named under each chart). **Not on track** marks the first "
            "session where a score is worse than the band."
        ),
        ("docs_er",),
    ),
) + CLAIM_ENTRIES


ANCHORS = frozenset(e.anchor for e in ENTRIES)


def entry(anchor: str) -> Entry:
    """The entry with ``anchor``; KeyError naming the known anchors otherwise."""
    for e in ENTRIES:
        if e.anchor == anchor:
            return e
    raise KeyError(f"no glossary entry {anchor!r}; entries: {', '.join(sorted(ANCHORS))}")
