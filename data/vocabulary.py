"""The export vocabulary: header, protocol, phase and yes/no aliases (``vocabulary.toml``)."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from data.instruments import normalise_name

VOCABULARY_FILE = Path(__file__).with_name("vocabulary.toml")


@dataclass(frozen=True)
class Vocabulary:
    """Alias tables, each keyed by the normalised alias (see ``normalise_name``)."""

    columns: dict[str, str]
    protocols: dict[str, str]
    phases: dict[str, str]
    booleans: dict[str, bool]

    def column_for(self, header: object) -> str | None:
        """Canonical column for an export header, or None when it is not a known alias."""
        return self.columns.get(normalise_name(header))

    def map_values(self, values: pd.Series, table: dict) -> pd.Series:
        """Map text values through one alias table; values not in it come back unchanged."""
        s = pd.Series(values, dtype="string")
        uniques = s.dropna().unique()
        mapping = {u: table.get(normalise_name(u), u) for u in uniques}
        return s.map(mapping)


def _invert(section: dict[str, list[str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for canonical, aliases in section.items():
        for name in (canonical, *aliases):
            out.setdefault(normalise_name(name), canonical)
    return out


@functools.cache
def vocabulary() -> Vocabulary:
    """The vocabulary shipped with ReliefCheck (parsed once)."""
    doc = tomllib.loads(VOCABULARY_FILE.read_text(encoding="utf-8"))
    booleans = {normalise_name(v): (k == "true") for k, vs in doc["booleans"].items() for v in vs}
    return Vocabulary(
        columns=_invert(doc["columns"]),
        protocols=_invert(doc["protocols"]),
        phases=_invert(doc["phases"]),
        booleans=booleans,
    )
