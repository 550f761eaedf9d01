"""The instrument registry (SPEC section 3) and instrument scoring.

Built-ins live in ``instruments.toml`` beside this file; a practice's own file has the same shape
and replaces a built-in with the same key. Everything else in ReliefCheck asks an ``Instrument``
for ranges, cut-offs and thresholds instead of hard-coding them.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data.errors import RegistryError
from data.schema import item_column

BUILTIN_FILE = Path(__file__).with_name("instruments.toml")
RCI_METHODS = ("threshold", "jacobson-truax")
#: z for a two-sided 95% reliable change index (Jacobson & Truax 1991).
RCI_Z = 1.96

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def normalise_name(name: object) -> str:
    """Case- and punctuation-blind form of a name: 'PHQ-9' and 'phq_9' both give 'phq9'."""
    return _NON_ALNUM.sub("", str(name).lower())


@dataclass(frozen=True)
class ItemScore:
    """Totals computed from item columns, one value per row."""

    score: pd.Series  # prorated total, NaN where too many items are missing
    n_missing: pd.Series  # how many items were missing
    prorated: pd.Series  # True where at least one item was missing but the total was prorated


@dataclass(frozen=True)
class Instrument:
    """One instrument's definition; all fields as in SPEC section 3."""

    key: str
    min: float
    max: float
    label: str = ""
    aliases: tuple[str, ...] = ()
    items: int | None = None
    item_min: int | None = None
    item_max: int | None = None
    higher_is_worse: bool = True
    recall_days: float | None = None
    caseness: float | None = None
    remission: float | None = None
    reliable_change: float | None = None
    rci_method: str = "threshold"
    reliability: float | None = None
    rci_sd: float | str | None = None
    max_missing_items: int = 0
    never_impute_items: tuple[int, ...] = ()
    safety_item: int | None = None
    bands: tuple[tuple[float, str], ...] = ()
    clusters: tuple[tuple[str, tuple[int, ...]], ...] = ()

    # -- names -------------------------------------------------------------------------------
    @property
    def display(self) -> str:
        """The label for charts and tables (the key when no label is set)."""
        return self.label or self.key

    def item_columns(self) -> list[str]:
        """Item column names ``item_1 … item_k`` for this instrument (empty without items)."""
        return [item_column(k) for k in range(1, (self.items or 0) + 1)]

    # -- direction and cut-offs --------------------------------------------------------------
    def improvement(self, before: Any, after: Any) -> Any:
        """Change in the 'better' direction: before − after when higher is worse, else after − before."""
        return before - after if self.higher_is_worse else after - before

    def is_case(self, scores: pd.Series) -> pd.Series:
        """In the clinical range: score ≥ caseness (score < caseness when lower is worse).

        Missing scores and instruments without a caseness cut-off give <NA>.
        """
        s = pd.Series(scores, dtype="float64")
        if self.caseness is None:
            return pd.Series(pd.NA, index=s.index, dtype="boolean")
        out = s >= self.caseness if self.higher_is_worse else s < self.caseness
        return out.astype("boolean").mask(s.isna())

    def is_remitted(self, scores: pd.Series) -> pd.Series:
        """Remission: score < remission cut-off (score > cut-off when lower is worse)."""
        s = pd.Series(scores, dtype="float64")
        if self.remission is None:
            return pd.Series(pd.NA, index=s.index, dtype="boolean")
        out = s < self.remission if self.higher_is_worse else s > self.remission
        return out.astype("boolean").mask(s.isna())

    def severity(self, scores: pd.Series) -> pd.Series:
        """Severity band label of each score (bands are lower bounds, SPEC section 3)."""
        s = pd.Series(scores, dtype="float64")
        if not self.bands:
            return pd.Series(pd.NA, index=s.index, dtype="string")
        lows = np.array([b[0] for b in self.bands], dtype=float)
        labels = np.array([b[1] for b in self.bands] + [None], dtype=object)
        idx = np.searchsorted(lows, s.to_numpy(), side="right") - 1
        idx = np.where(np.isnan(s.to_numpy()) | (idx < 0), len(self.bands), idx)
        return pd.Series(labels[idx], index=s.index, dtype="string")

    def reliable_change_threshold(self, baseline_sd: float | None = None) -> float:
        """Points of change that count as reliable.

        ``threshold``: the fixed number of points. ``jacobson-truax`` (Jacobson & Truax 1991):
        1.96 · S_diff with S_diff = SD · √2 · √(1 − r), SD the instrument's norm ``rci_sd`` or,
        when ``rci_sd = "sample"``, ``baseline_sd`` (the baseline SD of the paired patients in the
        group being analysed).
        """
        if self.rci_method == "threshold":
            if self.reliable_change is None:
                raise RegistryError(
                    f"{self.key} has no reliable_change threshold. Add reliable_change = <points> "
                    'to its definition, or use rci_method = "jacobson-truax".'
                )
            return float(self.reliable_change)
        sd = baseline_sd if self.rci_sd == "sample" else self.rci_sd
        if sd is None or not math.isfinite(float(sd)) or float(sd) <= 0:
            raise RegistryError(
                f"{self.key} uses the Jacobson-Truax rule with the sample SD, but no usable "
                "baseline SD was given (at least two paired patients with different baseline "
                "scores are needed). Set rci_sd to a published norm SD instead."
            )
        return RCI_Z * float(sd) * math.sqrt(2.0) * math.sqrt(1.0 - float(self.reliability))

    # -- scoring -----------------------------------------------------------------------------
    def score_items(self, items: pd.DataFrame) -> ItemScore:
        """Totals from item columns, prorated: mean of answered items × number of items, when at
        most ``max_missing_items`` are missing; otherwise NaN (SPEC section 3). Items listed in
        ``never_impute_items`` keep their missing value: only the total is prorated.
        """
        cols = self.item_columns()
        block = items.reindex(columns=cols).apply(pd.to_numeric, errors="coerce").astype(float)
        values = block.to_numpy(dtype=float)
        n_missing = np.isnan(values).sum(axis=1)
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(np.where(n_missing[:, None] == len(cols), 0.0, values), axis=1)
        ok = n_missing <= self.max_missing_items
        score = np.where(ok, mean * len(cols), np.nan)
        idx = items.index
        return ItemScore(
            score=pd.Series(score, index=idx, dtype="float64"),
            n_missing=pd.Series(n_missing, index=idx, dtype="int64"),
            prorated=pd.Series(ok & (n_missing > 0), index=idx, dtype="bool"),
        )


def _instrument_from_dict(raw: Mapping[str, Any], source: str) -> Instrument:
    """Build and check one Instrument from a TOML table; errors name the file and field."""
    key = raw.get("key")
    where = f"{source}: instrument {key!r}" if key else f"{source}: an [[instrument]] entry"
    for req in ("key", "min", "max"):
        if req not in raw:
            raise RegistryError(
                f"{where} has no '{req}'. Add {req} = ... (key, min and max are required)."
            )
    known = set(Instrument.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise RegistryError(
            f"{where} has unknown field(s) {', '.join(unknown)}. Check the spelling against SPEC section 3."
        )

    def num(name: str, *, integer: bool = False) -> Any:
        v = raw.get(name)
        if v is None:
            return None
        if (
            isinstance(v, bool)
            or not isinstance(v, int | float)
            or (integer and not float(v).is_integer())
        ):
            kind = "a whole number" if integer else "a number"
            raise RegistryError(f"{where}: '{name}' must be {kind}, not {v!r}.")
        return int(v) if integer else float(v)

    lo, hi = num("min"), num("max")
    if lo >= hi:
        raise RegistryError(f"{where}: min ({lo:g}) must be below max ({hi:g}).")
    for name in ("caseness", "remission", "reliable_change", "recall_days"):
        num(name)
    for name in ("caseness", "remission"):
        v = num(name)
        if v is not None and not lo <= v <= hi:
            raise RegistryError(
                f"{where}: {name} = {v:g} lies outside the score range {lo:g}–{hi:g}."
            )
    items = num("items", integer=True)
    if items is not None and items < 1:
        raise RegistryError(f"{where}: items must be at least 1.")
    if items is not None and (raw.get("item_min") is None or raw.get("item_max") is None):
        raise RegistryError(f"{where}: with items = {items}, item_min and item_max are needed too.")
    method = raw.get("rci_method", "threshold")
    if method not in RCI_METHODS:
        raise RegistryError(
            f'{where}: rci_method must be "threshold" or "jacobson-truax", not {method!r}.'
        )
    reliability = num("reliability")
    rci_sd = raw.get("rci_sd")
    if method == "jacobson-truax":
        if reliability is None or not 0 < reliability < 1:
            raise RegistryError(
                f"{where}: the Jacobson-Truax rule needs reliability between 0 and 1 (e.g. 0.84)."
            )
        if rci_sd is None:
            raise RegistryError(
                f'{where}: the Jacobson-Truax rule needs rci_sd: a norm SD or "sample".'
            )
    elif raw.get("reliable_change") is None:
        raise RegistryError(
            f'{where}: give reliable_change = <points>, or rci_method = "jacobson-truax" with reliability and rci_sd.'
        )
    if rci_sd is not None and rci_sd != "sample":
        if isinstance(rci_sd, bool) or not isinstance(rci_sd, int | float) or rci_sd <= 0:
            raise RegistryError(
                f'{where}: rci_sd must be a positive number or "sample", not {rci_sd!r}.'
            )
        rci_sd = float(rci_sd)
    bands_raw = raw.get("bands", [])
    try:
        bands = tuple((float(b[0]), str(b[1])) for b in bands_raw)
    except (TypeError, ValueError, IndexError):
        raise RegistryError(
            f"{where}: bands must be a list of [lower bound, label] pairs."
        ) from None
    if [b[0] for b in bands] != sorted(b[0] for b in bands):
        raise RegistryError(f"{where}: bands must be listed from the lowest lower bound up.")
    n_items = items or 0
    for name in ("never_impute_items",):
        bad = [i for i in raw.get(name, []) if not 1 <= int(i) <= n_items]
        if bad:
            raise RegistryError(f"{where}: {name} names item(s) {bad} outside 1–{n_items}.")
    safety = num("safety_item", integer=True)
    if safety is not None and not 1 <= safety <= n_items:
        raise RegistryError(f"{where}: safety_item {safety} is outside 1–{n_items}.")
    clusters = tuple(
        (str(k), tuple(int(i) for i in v)) for k, v in dict(raw.get("clusters", {})).items()
    )
    return Instrument(
        key=str(raw["key"]),
        label=str(raw.get("label", "")),
        aliases=tuple(str(a) for a in raw.get("aliases", [])),
        min=lo,
        max=hi,
        items=items,
        item_min=num("item_min", integer=True),
        item_max=num("item_max", integer=True),
        higher_is_worse=bool(raw.get("higher_is_worse", True)),
        recall_days=num("recall_days"),
        caseness=num("caseness"),
        remission=num("remission"),
        reliable_change=num("reliable_change"),
        rci_method=method,
        reliability=reliability,
        rci_sd=rci_sd,
        max_missing_items=num("max_missing_items", integer=True) or 0,
        never_impute_items=tuple(int(i) for i in raw.get("never_impute_items", [])),
        safety_item=safety,
        bands=bands,
        clusters=clusters,
    )


def parse_instruments(text: str, source: str = "instruments file") -> tuple[Instrument, ...]:
    """Instruments defined in TOML text (``[[instrument]]`` tables)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(
            f"{source} is not valid TOML ({exc}). Check the line it names."
        ) from None
    entries = doc.get("instrument", [])
    if not isinstance(entries, list) or not entries:
        raise RegistryError(
            f"{source} defines no instrument. Each one starts with a line [[instrument]]."
        )
    return tuple(_instrument_from_dict(e, source) for e in entries)


@dataclass(frozen=True)
class Registry:
    """The instruments in force: built-ins, replaced or extended by a practice's file."""

    instruments: tuple[Instrument, ...]
    _lookup: dict[str, str] = field(default_factory=dict, compare=False, repr=False, hash=False)

    def __post_init__(self) -> None:
        lookup: dict[str, str] = {}
        for ins in self.instruments:
            for name in (ins.key, *ins.aliases):
                lookup.setdefault(normalise_name(name), ins.key)
        for ins in self.instruments:  # a key always wins over another instrument's alias
            lookup[normalise_name(ins.key)] = ins.key
        object.__setattr__(self, "_lookup", lookup)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self.instruments)

    def __contains__(self, name: object) -> bool:
        return self.resolve(name) is not None

    @property
    def keys(self) -> list[str]:
        """Registry keys in definition order."""
        return [i.key for i in self.instruments]

    @property
    def max_items(self) -> int:
        """The largest item count of any instrument (0 when none has items)."""
        return max((i.items or 0 for i in self.instruments), default=0)

    def resolve(self, name: object) -> str | None:
        """Registry key for a key or alias (case- and punctuation-blind), or None."""
        if name is None or (isinstance(name, float) and math.isnan(name)):
            return None
        return self._lookup.get(normalise_name(name))

    def resolve_series(self, names: pd.Series) -> pd.Series:
        """Vectorised ``resolve``: registry keys, <NA> where a name is unknown."""
        s = pd.Series(names, dtype="string")
        uniques = s.dropna().unique()
        mapping = {u: self.resolve(u) for u in uniques}
        return s.map(mapping).astype("string")

    def get(self, name: object) -> Instrument:
        """The instrument for a key or alias; RegistryError naming the known ones otherwise."""
        key = self.resolve(name)
        if key is None:
            raise RegistryError(
                f"Unknown instrument {name!r}. Known instruments: {', '.join(self.keys)}. "
                "Use one of these names, or define the instrument in your practice's "
                "instruments file."
            )
        return next(i for i in self.instruments if i.key == key)


def load_registry(
    practice_file: str | Path | None = None, *, practice_text: str | None = None
) -> Registry:
    """The registry: built-ins from ``instruments.toml``, then a practice's own definitions.

    A practice instrument whose key matches a built-in (case- and punctuation-blind) replaces it.
    """
    builtins = parse_instruments(BUILTIN_FILE.read_text(encoding="utf-8"), BUILTIN_FILE.name)
    extra: tuple[Instrument, ...] = ()
    if practice_file is not None:
        path = Path(practice_file)
        try:
            practice_text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RegistryError(
                f"Cannot read the instruments file {path} ({exc.strerror}). Check the path."
            ) from None
        extra = parse_instruments(practice_text, path.name)
    elif practice_text is not None:
        extra = parse_instruments(practice_text, "the instruments file")
    seen = {normalise_name(i.key) for i in extra}
    if len(seen) != len(extra):
        raise RegistryError(
            "The instruments file defines the same key twice. Give each instrument its own key."
        )
    kept = tuple(i for i in builtins if normalise_name(i.key) not in seen)
    return Registry(kept + extra)


@functools.cache
def default_registry() -> Registry:
    """The built-in registry (parsed once; instruments are immutable)."""
    return load_registry()
