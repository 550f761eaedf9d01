"""What the glossary's modules share (no Streamlit here): the entry type, the references
cited (full citations, by key) and small number formats. See ``dashboard/glossary.py``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from analysis.claims.config import ClaimsConfig
from data.instruments import Registry

# -- references (full citations, cited by key in the entries) -----------------------------------
REFS = {
    "jt": "Jacobson NS, Truax P. Clinical significance: a statistical approach to defining "
    "meaningful change in psychotherapy research. J Consult Clin Psychol. 1991;59(1):12-19.",
    "lakens": "Lakens D. Calculating and reporting effect sizes to facilitate cumulative science: "
    "a practical primer for t-tests and ANOVAs. Front Psychol. 2013;4:863.",
    "wilson": "Wilson EB. Probable inference, the law of succession, and statistical inference. "
    "J Am Stat Assoc. 1927;22(158):209-212.",
    "efron": "Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall; 1993 "
    "(ch. 14.3).",
    "km": "Kaplan EL, Meier P. Nonparametric estimation from incomplete observations. J Am Stat "
    "Assoc. 1958;53(282):457-481.",
    "holm": "Holm S. A simple sequentially rejective multiple test procedure. Scand J Stat. "
    "1979;6(2):65-70.",
    "lme4": "Bates D, Mächler M, Bolker B, Walker S. Fitting linear mixed-effects models using "
    "lme4. J Stat Softw. 2015;67(1):1-48.",
    "posternak": "Posternak MA, Miller I. Untreated short-term course of major depression: a "
    "meta-analysis of outcomes from studies using wait-list control groups. J Affect Disord. "
    "2001;66:139-146.",
    "evalue": "VanderWeele TJ, Ding P. Sensitivity analysis in observational research: "
    "introducing the E-value. Ann Intern Med. 2017;167:268-274.",
    "nhs": "NHS Talking Therapies for anxiety and depression: the published measures of "
    "caseness, recovery and reliable change (the manual's outcome definitions).",
    "spiegelhalter": "Spiegelhalter DJ. Funnel plots for comparing institutional performance. "
    "Stat Med. 2005;24(8):1185-1202.",
    "dersimonian": "DerSimonian R, Laird N. Meta-analysis in clinical trials. Control Clin "
    "Trials. 1986;7(3):177-188.",
    "docs_def": "ReliefCheck docs/definitions.md (every per-patient rule as computed).",
    "docs_claims": "ReliefCheck docs/claims.md (each claim's test, threshold and caveats).",
    "docs_growth": "ReliefCheck docs/growth.md (the growth models over sessions and days).",
    "docs_adj": "ReliefCheck docs/adjustment.md (balance, overlap weights, E-value).",
    "docs_bench": "ReliefCheck docs/benchmarks.md and data/benchmarks.toml (every published "
    "figure with its citation).",
    "docs_er": "ReliefCheck docs/expected_recovery.md (after Lambert's expected-recovery "
    "curves, as the OQ-Analyst feedback system uses them).",
}


@dataclass(frozen=True)
class Entry:
    """One glossary entry: its anchor (heading id), title, body (Markdown from the registry and
    the claim settings in use) and references (keys of ``REFS``)."""

    anchor: str
    title: str
    body: Callable[[Registry, ClaimsConfig], str]
    refs: tuple[str, ...] = ()


def pct(x: float) -> str:
    return f"{100 * x:g}%"


def num(x: object) -> str:
    return "–" if x is None else f"{float(x):g}"  # type: ignore[arg-type]
