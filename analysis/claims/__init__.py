"""The seven claims a practice advertises, each tested on its own data (SPEC section 6).

``evaluate`` holds the claims and ``evaluate_claims``; ``faster`` the intensive-versus-weekly
claim, the one that compares protocols; ``verdicts`` the verdict rules and caveats every claim
shares; ``multiplicity`` the primary claim and Holm's control over the others; ``config`` the
thresholds a practice can set, and the verdict words.
"""
