"""Pure computation on the validated tidy table (no file or database access here)."""

__version__ = "0.1.0"
"""ReliefCheck's version, as in pyproject.toml; stated on every exported Methods sheet."""
