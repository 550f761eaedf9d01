"""Published benchmarks shown beside the claims' verdicts (issue 11; docs/benchmarks.md).

The figures live in ``benchmarks.toml`` beside this file, each with its full citation, where in
the source the figure is and how it was checked. This module reads and checks that file
(``load_benchmarks``, ``default_benchmarks``); the records are in ``data.benchmark_model`` and
re-exported here. ``analysis.references`` puts the figures beside a practice's own numbers.

Ids other parts of ReliefCheck ask for by name are constants here (e.g.
``UNTREATED_PERCENT_CHANGE``), so a renamed entry fails loudly in one place.
"""

from __future__ import annotations

import functools
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from data.benchmark_model import (
    CLAIM_IDS,
    GROUPS,
    MEASURES,
    Benchmark,
    BenchmarkError,
    Benchmarks,
    Citation,
    format_value,
)

__all__ = [
    "BUILTIN_FILE",
    "CLAIM_IDS",
    "GROUPS",
    "MEASURES",
    "Benchmark",
    "BenchmarkError",
    "Benchmarks",
    "Citation",
    "default_benchmarks",
    "format_value",
    "load_benchmarks",
    "parse_benchmarks",
]

BUILTIN_FILE = Path(__file__).with_name("benchmarks.toml")

# Ids asked for by name elsewhere (expected recovery per patient, the regression caveat).
UNTREATED_PERCENT_CHANGE = "posternak2001_untreated_percent_change"
UNTREATED_PERCENT_CHANGE_SELF_REPORT = "posternak2001_untreated_bdi_percent_change"
UNTREATED_RESPONSE = "posternak2001_untreated_response"
WAITLIST_PREPOST_D = "rutherford2012_waitlist_d"
UNTREATED_REMISSION = "whiteford2013_untreated_remission"
ROUTINE_CARE_RELIABLE_IMPROVEMENT = "talkingtherapies_reliable_improvement"
ROUTINE_CARE_RECOVERY = "talkingtherapies_recovery"
ROUTINE_CARE_PREPOST_D = "wakefield2021_depression_d"
ROUTINE_CARE_PREPOST_D_ANXIETY = "wakefield2021_anxiety_d"
ESKETAMINE_PLACEBO_RESPONSE = "transform_placebo_response"
ESKETAMINE_PLACEBO_DAY2_RESPONSE = "transform_placebo_day2_response"
KETAMINE_RELAPSE_DAYS = "murrough2013_relapse_days"
KAP_PRACTICE_RESPONSE = "hull2022_kap_response"
KAP_PRACTICE_REMISSION = "hull2022_kap_remission"
KAP_PRACTICE_PREPOST_D = "hull2022_kap_d"


# -- loading ---------------------------------------------------------------------------------

_REQUIRED = (
    "id",
    "group",
    "measure",
    "value",
    "unit",
    "instrument",
    "condition",
    "population",
    "timeframe",
    "location",
    "checked",
    "check_note",
    "citation",
)
_CITATION_REQUIRED = ("authors", "year", "title", "journal")
_UNITS = ("%", "d", "days")


def _fail(where: str, message: str) -> BenchmarkError:
    return BenchmarkError(f"{where}: {message}")


def _text(raw: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> str:
    v = raw.get(name, "")
    if not isinstance(v, str):
        return_type = type(v).__name__
        raise _fail(where, f"'{name}' must be text in quotes, not a {return_type}.")
    if required and not v.strip():
        raise _fail(where, f"'{name}' is empty. Fill it in ({name} is required).")
    return v.strip()


def _number(raw: Mapping[str, Any], name: str, where: str) -> float:
    v = raw.get(name)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
        raise _fail(where, f"'{name}' must be a number, not {type(v).__name__}.")
    return float(v)


def _strings(raw: Mapping[str, Any], name: str, where: str) -> tuple[str, ...]:
    v = raw.get(name, [])
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise _fail(where, f"'{name}' must be a list of texts, e.g. {name} = [\"...\"].")
    return tuple(s.strip() for s in v)


def _pair(raw: Mapping[str, Any], name: str, where: str) -> tuple[float, float] | None:
    v = raw.get(name)
    if v is None:
        return None
    if (
        not isinstance(v, list)
        or len(v) != 2
        or any(isinstance(x, bool) or not isinstance(x, int | float) for x in v)
        or v[0] > v[1]
    ):
        raise _fail(where, f"'{name}' must be two numbers, lowest first, e.g. {name} = [2, 20].")
    return (float(v[0]), float(v[1]))


def _citation(raw: Any, where: str) -> Citation:
    where = f"{where}, citation"
    if not isinstance(raw, Mapping):
        raise _fail(
            where, "must be a table: [benchmark.citation] with authors, year, title, journal."
        )
    for req in _CITATION_REQUIRED:
        if req not in raw:
            raise _fail(where, f"has no '{req}'. Add {req} = ... (a full citation is required).")
    unknown = sorted(set(raw) - set(Citation.__dataclass_fields__))
    if unknown:
        raise _fail(where, f"has unknown field(s) {', '.join(unknown)}. Check the spelling.")
    year = raw["year"]
    if isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 2100:
        raise _fail(where, "'year' must be a four-digit whole number, e.g. year = 2013.")
    texts = {
        k: _text(raw, k, where, required=k in _CITATION_REQUIRED)
        for k in Citation.__dataclass_fields__
        if k not in ("year", "label")
    }
    texts["label"] = _text(raw, "label", where, required=False)
    if not (texts["doi"] or texts["pmid"] or texts["url"]):
        raise _fail(where, "needs a doi, pmid or url so a reader can find the source.")
    return Citation(year=int(year), **texts)


def _benchmark(raw: Any, index: int, source: str) -> Benchmark:
    if not isinstance(raw, Mapping):
        raise BenchmarkError(
            f"{source}: benchmark number {index} is not a table. Use [[benchmark]]."
        )
    bid = raw.get("id")
    where = (
        f"{source}: benchmark {bid!r}"
        if isinstance(bid, str) and bid
        else f"{source}: benchmark number {index}"
    )
    for req in _REQUIRED:
        if req not in raw:
            raise _fail(where, f"has no '{req}'. Add {req} = ... ({req} is required).")
    unknown = sorted(set(raw) - set(Benchmark.__dataclass_fields__))
    if unknown:
        raise _fail(where, f"has unknown field(s) {', '.join(unknown)}. Check the spelling.")
    group = _text(raw, "group", where)
    if group not in GROUPS:
        raise _fail(where, f"'group' must be one of {', '.join(GROUPS)}.")
    measure = _text(raw, "measure", where)
    if measure not in MEASURES:
        raise _fail(where, f"'measure' must be one of {', '.join(MEASURES)}.")
    unit = _text(raw, "unit", where)
    if unit not in _UNITS:
        raise _fail(where, f"'unit' must be one of {', '.join(_UNITS)}.")
    value = _number(raw, "value", where)
    if unit == "%" and measure != "percent change" and not 0 <= value <= 100:
        raise _fail(where, "'value' is a share and must lie between 0 and 100 (percent).")
    if not isinstance(raw["checked"], bool):
        raise _fail(where, "'checked' must be true or false (no quotes).")
    claims = _strings(raw, "claims", where)
    bad = sorted(set(claims) - set(CLAIM_IDS))
    if bad:
        raise _fail(
            where, f"'claims' names unknown claim(s) {', '.join(bad)}; use {', '.join(CLAIM_IDS)}."
        )
    n = raw.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise _fail(where, "'n' must be a whole number of people, at least 1.")
    return Benchmark(
        id=_text(raw, "id", where),
        group=group,
        measure=measure,
        value=value,
        unit=unit,
        instrument=_text(raw, "instrument", where),
        condition=_text(raw, "condition", where),
        population=_text(raw, "population", where),
        timeframe=_text(raw, "timeframe", where),
        citation=_citation(raw["citation"], where),
        location=_text(raw, "location", where),
        checked=raw["checked"],
        check_note=_text(raw, "check_note", where),
        claims=claims,
        applies_to=_strings(raw, "applies_to", where),
        comparability=_text(raw, "comparability", where, required=False),
        n=n,
        timeframe_weeks=_pair(raw, "timeframe_weeks", where),
        ci=_pair(raw, "ci", where),
        note=_text(raw, "note", where, required=False),
    )


def parse_benchmarks(text: str, source: str = "benchmarks file") -> Benchmarks:
    """Benchmarks from TOML text; BenchmarkError naming the entry and field when unusable."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BenchmarkError(f"{source} is not valid TOML ({exc}). Fix the line named.") from exc
    raw = doc.get("benchmark")
    if not isinstance(raw, list) or not raw:
        raise BenchmarkError(f"{source} has no [[benchmark]] entries. Add at least one.")
    entries = tuple(_benchmark(r, i, source) for i, r in enumerate(raw, start=1))
    seen: set[str] = set()
    for b in entries:
        if b.id in seen:
            raise BenchmarkError(f"{source}: benchmark id {b.id!r} is used twice. Make ids unique.")
        seen.add(b.id)
    return Benchmarks(entries=entries, source=source)


def load_benchmarks(path: str | Path | None = None) -> Benchmarks:
    """Read a benchmarks file (the built-in ``benchmarks.toml`` when ``path`` is None)."""
    p = Path(path) if path is not None else BUILTIN_FILE
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise BenchmarkError(f"Cannot read the benchmarks file {p.name} ({exc.strerror}).") from exc
    return parse_benchmarks(text, source=p.name)


@functools.cache
def default_benchmarks() -> Benchmarks:
    """The built-in benchmarks, read once."""
    return load_benchmarks()
