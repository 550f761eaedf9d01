"""The Help page's entries on the claims scorecard (no Streamlit here): the verdicts, each
claim's test, primary and exploratory claims, the settings stamp, regression to the mean and the
published references. Words from docs/claims.md and docs/benchmarks.md; thresholds from the
claim settings in use, never typed in."""

from __future__ import annotations

from analysis.claims.verdicts import CLAIM_TEXT, NO_CONTROL, REGRESSION
from dashboard.glossary_base import Entry
from dashboard.glossary_base import pct as _pct
from dashboard.safe_text import md_escape

CLAIM_ENTRIES: tuple[Entry, ...] = (
    Entry(
        "verdicts",
        "Claims and verdicts",
        lambda reg, cfg: (
            "Each claim is tested on the practice's own data. **Supported**: the lower end of the "
            "95% CI reaches the threshold (and, for an exploratory claim, its Holm-adjusted p is "
            "small enough). **Not supported**: the upper end falls short. **Inconclusive**: the CI "
            f"straddles the threshold, or fewer than {cfg.min_patients} patients were tested. "
            "**Not testable**: the data cannot answer it. **Reported**: shown without a verdict."
        ),
        ("docs_claims", "wilson"),
    ),
    Entry(
        "claim-rapid-onset",
        "Claim: " + CLAIM_TEXT["rapid-onset"],
        lambda reg, cfg: (
            "Share of paired patients whose first assessment after baseline came within "
            f"{cfg.rapid_days:g} days and already showed reliable improvement; supported when the "
            f"lower end of the 95% CI is at least {_pct(cfg.rapid_share)}."
        ),
        ("docs_claims",),
    ),
    Entry(
        "claim-intensive-faster",
        "Claim: " + CLAIM_TEXT["intensive-faster"],
        lambda reg, cfg: (
            "Intensive and weekly patients with the same baseline are compared at the same days "
            f"since baseline ({', '.join(f'{d:g}' for d in cfg.faster_days)}) with a mixed model: "
            "intensive must be ahead, and not worse by more than "
            f"{_pct(cfg.noninferiority_fraction)} of the reliable-change threshold."
        ),
        ("docs_claims", "lme4"),
    ),
    Entry(
        "claim-large-improvement",
        "Claim: " + CLAIM_TEXT["large-improvement"],
        lambda reg, cfg: (
            "Per instrument, the share of paired patients with reliable improvement at the end of "
            f"treatment; supported when the lower end of the 95% CI is at least "
            f"{_pct(cfg.large_share)}. g_av is shown beside it."
        ),
        ("docs_claims",),
    ),
    Entry(
        "claim-lasting",
        "Claim: " + CLAIM_TEXT["lasting"],
        lambda reg, cfg: (
            "Among patients responding at the end of treatment and seen about "
            f"{cfg.lasting_window} days later, the share still responding; supported when the "
            f"lower end of the 95% CI is at least {_pct(cfg.lasting_share)}."
        ),
        ("docs_claims",),
    ),
    Entry(
        "claim-suicidal-ideation",
        "Claim: " + CLAIM_TEXT["suicidal-ideation"],
        lambda reg, cfg: (
            "Among patients whose baseline safety item (PHQ-9 item 9) is 1 or more, the share "
            "answering 0 at session 1; supported when the lower end of the 95% CI is at least "
            f"{_pct(cfg.si_share)}. New onset is shown beside it."
        ),
        ("docs_claims",),
    ),
    Entry(
        "claim-treatment-resistant",
        "Claim: " + CLAIM_TEXT["treatment-resistant"],
        lambda reg, cfg: (
            "The large-improvement test within patients recorded as treatment-resistant, beside "
            "the same figure for the others."
        ),
        ("docs_claims",),
    ),
    Entry(
        "claim-initial-anxiety",
        "Claim: " + CLAIM_TEXT["initial-anxiety"],
        lambda reg, cfg: (
            "The share of patients whose GAD-7 score at session 1 is reliably worse than at "
            "baseline. Reported without a verdict: it is the articles' own caveat."
        ),
        ("docs_claims",),
    ),
    Entry(
        "primary-and-holm",
        "Primary and exploratory claims (Holm)",
        lambda reg, cfg: (
            f"One **primary** claim ({md_escape(cfg.primary_claim)} on "
            f"{md_escape(cfg.primary_instrument)}) is tested on its own. Every other claim is "
            "**exploratory**: their p-values are adjusted together by Holm's step-down method, so "
            'the whole scorecard says "supported" wrongly about 5% of the time at most.'
        ),
        ("holm", "docs_claims"),
    ),
    Entry(
        "settings-stamp",
        "Settings stamp",
        lambda reg, cfg: (
            "Every view that shows a verdict names the claim settings it used: a fingerprint "
            "(SHA-256) of the settings and whether they are the defaults, the ones the practice "
            "**froze** before its data arrived (pre-registration), or changed since."
        ),
        ("docs_claims",),
    ),
    Entry(
        "regression-to-the-mean",
        "Regression to the mean",
        lambda reg, cfg: (
            f"{REGRESSION} {NO_CONTROL} Where a published figure for untreated people applies, "
            "the caveat gives the change it predicts at the practice's mean baseline."
        ),
        ("posternak", "docs_claims"),
    ),
    Entry(
        "references",
        "Published references (benchmarks)",
        lambda reg, cfg: (
            "Beside each claim, published figures on the same measure where one exists: untreated "
            "or wait-listed people, placebo or comparator arms, routine care and other ketamine "
            "care, with the difference from the practice's figure. They are context, not a control "
            "group: populations and timeframes differ."
        ),
        ("docs_bench",),
    ),
)
