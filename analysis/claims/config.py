"""Thresholds of the claims tests (SPEC section 6): the one place they are set.

The dashboard's claims page and the command line pass a ``ClaimsConfig``; every number a verdict
depends on is a field here, with the spec's default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: Verdict words (SPEC section 6). ``reported`` is for the initial-anxiety caveat, which the spec
#: reports without a verdict.
SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, NOT_TESTABLE, REPORTED = (
    "supported",
    "not supported",
    "inconclusive",
    "not testable",
    "reported",
)


def _lists(value: object) -> object:
    """Tuples (and tuples of tuples) as lists, so the dict survives a JSON round trip."""
    return [_lists(v) for v in value] if isinstance(value, tuple | list) else value


@dataclass(frozen=True)
class ClaimsConfig:
    """Every threshold of the claims tests; defaults are SPEC section 6's."""

    min_patients: int = 10  # fewer patients than this in a test: inconclusive
    ci_level: float = 0.95
    rapid_days: float = 7.0  # rapid-onset: first post-baseline assessment within this many days
    rapid_share: float = 0.50  # ... supported when the Wilson lower bound reaches this share
    large_share: float = 0.50  # large-improvement: share with reliable improvement at EOT
    lasting_window: int = 90  # lasting: follow-up window (days after EOT)
    lasting_share: float = 0.50  # ... share of EOT responders still responding
    # intensive-faster: the baseline-adjusted advantage at these days since baseline
    # (analysis.matched_time), each tested where both protocols have patients assessed within
    # ± faster_window days of it
    faster_days: tuple[float, ...] = (14.0, 28.0)
    faster_window: float = 3.0
    faster_shape: str = "spline"  # time shape of the common curve (analysis.timeshape)
    faster_min_per_protocol: int = 10  # ... patients needed in each protocol
    noninferiority_fraction: float = 0.50  # ... margin = this × the reliable-change threshold
    si_share: float = 0.50  # suicidal-ideation: share with item 9 back to 0 at session 1
    # multiplicity (analysis.claims.multiplicity): the one claim tested at alpha on its own; every other
    # tested claim is exploratory and Holm-adjusted
    primary_claim: str = "large-improvement"
    primary_instrument: str = "PHQ-9"

    def to_dict(self) -> dict:
        """Plain dict for the Methods sheet and the JSON summary (tuples as JSON lists)."""
        return {k: _lists(v) for k, v in asdict(self).items()}

    # -- completers (SPEC 6.1) -----------------------------------------------------------------
    # Planned last session per protocol, as (protocol, session) pairs (a tuple of tuples keeps
    # the frozen config hashable), e.g. (("intensive", 6), ("weekly", 8)). A completer reached
    # it; protocols not listed get the most common last session of their patients with a
    # baseline (``analysis.outcomes.patient_outcomes(planned_sessions=dict(...))``).
    planned_sessions: tuple[tuple[str, int], ...] = ()
    # -- end of completers block -----------------------------------------------------------------
