"""The records of the published benchmarks (``data.benchmarks`` reads them from the file):
``Citation``, ``Benchmark`` and the ``Benchmarks`` collection, with the allowed groups,
measures and claims."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from data.errors import BenchmarkError

#: Who the reference figure describes.
GROUPS = ("no treatment", "placebo", "routine care", "ketamine trial", "KAP practice")
#: What the figure measures; shares and percentages are stored as percent (0–100).
MEASURES = (
    "response share",
    "reliable improvement share",
    "remission share",
    "recovery share",
    "pre-post d",
    "percent change",
    "median days to relapse",
)
#: Claim ids a benchmark may sit beside (analysis.claims.verdicts.CLAIM_TEXT).
CLAIM_IDS = (
    "rapid-onset",
    "intensive-faster",
    "large-improvement",
    "lasting",
    "suicidal-ideation",
    "treatment-resistant",
    "initial-anxiety",
)


@dataclass(frozen=True)
class Citation:
    """Full reference of the source of a figure."""

    authors: str
    year: int
    title: str
    journal: str
    volume: str = ""
    issue: str = ""
    pages: str = ""
    doi: str = ""
    pmid: str = ""
    url: str = ""
    label: str = ""  # short label for reports without personal authors

    @property
    def short(self) -> str:
        """'Posternak & Miller 2001'-style label (first author et al. for three or more)."""
        if self.label:
            return self.label
        names = [a.strip() for a in self.authors.split(";") if a.strip()]
        # "Posternak MA" -> "Posternak"; "aan het Rot M" -> "aan het Rot"
        surnames = [n.rsplit(" ", 1)[0] if " " in n else n for n in names] or [self.authors]
        if len(surnames) == 1:
            who = surnames[0]
        elif len(surnames) == 2:
            who = f"{surnames[0]} & {surnames[1]}"
        else:
            who = f"{surnames[0]} et al."
        return f"{who} {self.year}"

    @property
    def full(self) -> str:
        """Vancouver-like full citation: authors. Title. Journal. Year;vol(issue):pages. doi."""
        authors = ", ".join(a.strip() for a in self.authors.split(";") if a.strip())
        where = f"{self.year}"
        if self.volume:
            where += f";{self.volume}"
            if self.issue:
                where += f"({self.issue})"
        if self.pages:
            where += f":{self.pages}"
        text = f"{authors}. {self.title.rstrip('.')}. {self.journal}. {where}."
        if self.doi:
            text += f" doi:{self.doi}."
        if self.pmid:
            text += f" PMID {self.pmid}."
        if self.url and not self.doi:
            text += f" {self.url}"
        return text


@dataclass(frozen=True)
class Benchmark:
    """One published reference figure.

    ``value`` is in ``unit``: "%" for shares and percent change (e.g. 19.7 for 19.7%; a percent
    change is negative when scores fall), "d" for standardised pre-post effect sizes, "days" for
    time to relapse. ``instrument`` is the scale the source used; ``applies_to`` lists the
    ReliefCheck instruments it is shown beside (empty: shown for no instrument).
    """

    id: str
    group: str
    measure: str
    value: float
    unit: str
    instrument: str
    condition: str
    population: str
    timeframe: str
    citation: Citation
    location: str  # where in the source the figure is ("abstract", "table 2", ...)
    checked: bool  # the figure was confirmed against the source
    check_note: str  # how it was checked (e.g. "abstract, PMID ...")
    claims: tuple[str, ...] = ()
    applies_to: tuple[str, ...] = ()
    comparability: str = ""  # how far the figure is comparable to a practice's own
    n: int | None = None  # people behind the figure, where the source gives it
    timeframe_weeks: tuple[float, float] | None = None  # (shortest, longest) follow-up, weeks
    ci: tuple[float, float] | None = None  # the source's own interval, where given
    note: str = ""  # anything else, e.g. how the figure differs from an earlier quotation

    @property
    def short_citation(self) -> str:
        return self.citation.short

    @property
    def label(self) -> str:
        """Compact label for charts: '19.7% (Posternak & Miller 2001)'."""
        return f"{format_value(self.value, self.unit)} ({self.citation.short})"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (citation as a nested dict plus its full text)."""
        c = self.citation
        return {
            "id": self.id,
            "group": self.group,
            "measure": self.measure,
            "value": self.value,
            "unit": self.unit,
            "instrument": self.instrument,
            "condition": self.condition,
            "population": self.population,
            "timeframe": self.timeframe,
            "timeframe_weeks": list(self.timeframe_weeks) if self.timeframe_weeks else None,
            "n": self.n,
            "ci": list(self.ci) if self.ci else None,
            "claims": list(self.claims),
            "applies_to": list(self.applies_to),
            "comparability": self.comparability,
            "location": self.location,
            "checked": self.checked,
            "check_note": self.check_note,
            "note": self.note,
            "citation": {
                "authors": c.authors,
                "year": c.year,
                "title": c.title,
                "journal": c.journal,
                "volume": c.volume,
                "issue": c.issue,
                "pages": c.pages,
                "doi": c.doi,
                "pmid": c.pmid,
                "url": c.url,
                "label": c.label,
                "short": c.short,
                "full": c.full,
            },
        }


def format_value(value: float, unit: str) -> str:
    """'19.7%', 'd = 0.87', '18 days'."""
    if unit == "%":
        return f"{value:g}%"
    if unit == "d":
        return f"d = {value:g}"
    return f"{value:g} {unit}"


@dataclass(frozen=True)
class Benchmarks:
    """All benchmarks of one file, in file order."""

    entries: tuple[Benchmark, ...]
    source: str = "benchmarks.toml"

    def __iter__(self) -> Iterator[Benchmark]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, benchmark_id: object) -> bool:
        return any(b.id == benchmark_id for b in self.entries)

    def ids(self) -> tuple[str, ...]:
        return tuple(b.id for b in self.entries)

    def get(self, benchmark_id: str) -> Benchmark:
        """The benchmark with this id; BenchmarkError naming the known ids when there is none."""
        for b in self.entries:
            if b.id == benchmark_id:
                return b
        raise BenchmarkError(
            f"No benchmark with id {benchmark_id!r} in {self.source}. "
            f"Known ids: {', '.join(self.ids())}."
        )

    def for_claim(self, claim_id: str) -> tuple[Benchmark, ...]:
        """Benchmarks that sit beside this claim, in file order (empty when none applies)."""
        return tuple(b for b in self.entries if claim_id in b.claims)

    def for_instrument(self, instrument: str) -> tuple[Benchmark, ...]:
        """Benchmarks shown beside this ReliefCheck instrument (exact key, e.g. 'PHQ-9')."""
        return tuple(b for b in self.entries if instrument in b.applies_to)

    def find(
        self,
        *,
        group: str | None = None,
        measure: str | None = None,
        instrument: str | None = None,
        claim: str | None = None,
    ) -> tuple[Benchmark, ...]:
        """Benchmarks matching every filter given (``instrument`` matches ``applies_to``)."""
        return tuple(
            b
            for b in self.entries
            if (group is None or b.group == group)
            and (measure is None or b.measure == measure)
            and (instrument is None or instrument in b.applies_to)
            and (claim is None or claim in b.claims)
        )
