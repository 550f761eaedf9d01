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
    faster_alpha: float = 0.05  # intensive-faster: log-rank significance level
    faster_min_per_protocol: int = 10  # ... paired patients needed in each protocol
    noninferiority_fraction: float = 0.50  # ... margin = this × the reliable-change threshold
    si_share: float = 0.50  # suicidal-ideation: share with item 9 back to 0 at session 1

    def to_dict(self) -> dict:
        """Plain dict for the Methods sheet and the JSON summary."""
        return asdict(self)
