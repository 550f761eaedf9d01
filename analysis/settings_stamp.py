"""Which claim settings a result used: their fingerprint, how they differ from the defaults, and
whether they are the settings the practice froze before its data arrived.

Every view and export that shows a verdict carries this stamp, so a reader can tell a verdict
reached on pre-registered settings from one reached after the thresholds were moved. The
fingerprint is the SHA-256 of the settings' canonical JSON (keys sorted, no spaces, ASCII), so
anyone can recompute it from the ``claims_config`` object of the summary JSON:
``hashlib.sha256(json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()).hexdigest()``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields

from analysis.claims.config import ClaimsConfig
from data.errors import AnalysisError

DEFAULTS, CHANGED, FROZEN, CHANGED_AFTER_FREEZE, NOT_VERIFIED = (
    "defaults",
    "changed from the defaults",
    "frozen",
    "changed after freezing",
    "frozen settings do not verify",
)
#: Fields shown as percentages in the stamp's words.
_SHARES = {"rapid_share", "large_share", "lasting_share", "si_share", "noninferiority_fraction"}


def canonical_json(cfg: ClaimsConfig) -> str:
    """The settings as canonical JSON: keys sorted, no spaces, ASCII only."""
    return json.dumps(cfg.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def settings_hash(cfg: ClaimsConfig) -> str:
    """SHA-256 (hex) of ``canonical_json(cfg)``."""
    return hashlib.sha256(canonical_json(cfg).encode("ascii")).hexdigest()


def _tuples(value: object) -> object:
    return tuple(_tuples(v) for v in value) if isinstance(value, list | tuple) else value


def config_from_json(text: str) -> ClaimsConfig:
    """The ``ClaimsConfig`` a settings JSON object describes (lists back to tuples); a field the
    object lacks (added to ReliefCheck after it was frozen) keeps its default. An unknown or
    ill-typed field raises ``AnalysisError``."""
    try:
        values = json.loads(text)
    except ValueError as err:
        raise AnalysisError(f"The claim settings are not valid JSON ({err}).") from None
    if not isinstance(values, dict):
        raise AnalysisError("The claim settings must be a JSON object of named settings.")
    known = {f.name for f in fields(ClaimsConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise AnalysisError(
            f"Unknown claim settings: {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
        )
    try:
        return ClaimsConfig(**{k: _tuples(v) for k, v in values.items()})
    except TypeError as err:
        raise AnalysisError(f"The claim settings cannot be used: {err}.") from None


@dataclass(frozen=True)
class Frozen:
    """The freeze in force (the latest), as the store keeps it (data.store.frozen)."""

    settings: str  # the JSON text as frozen
    sha256: str  # as stored
    frozen_at: str  # ISO 8601, UTC
    actor: str
    n_scores: int  # scores stored when it was frozen
    verified: bool  # the stored hash matches the stored text
    n_earlier: int = 0  # earlier freezes, replaced by this one

    @classmethod
    def from_records(cls, records: list) -> Frozen | None:
        """The latest of the store's ``FrozenRecord`` list (None when never frozen)."""
        if not records:
            return None
        r = records[-1]
        return cls(
            r.settings, r.sha256, r.frozen_at, r.actor, r.n_scores, r.verified, len(records) - 1
        )

    def to_dict(self) -> dict:
        return {
            "sha256": self.sha256,
            "frozen_at": self.frozen_at,
            "by": self.actor,
            "n_scores_at_freeze": self.n_scores,
            "verified": self.verified,
            "earlier_freezes": self.n_earlier,
        }


def _show(name: str, value: object) -> str:
    if name in _SHARES and isinstance(value, int | float):
        return f"{100 * value:g}%"
    if isinstance(value, tuple):
        return ", ".join(_show("", v) for v in value) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _differences(cfg: ClaimsConfig, other: ClaimsConfig) -> tuple[tuple[str, str, str], ...]:
    return tuple(
        (f.name, _show(f.name, getattr(cfg, f.name)), _show(f.name, getattr(other, f.name)))
        for f in fields(ClaimsConfig)
        if getattr(cfg, f.name) != getattr(other, f.name)
    )


@dataclass(frozen=True)
class SettingsStamp:
    """The stamp every view and export carries beside its verdicts."""

    sha256: str  # of the settings these results used
    status: str  # DEFAULTS, CHANGED, FROZEN, CHANGED_AFTER_FREEZE or NOT_VERIFIED
    changed_from_default: tuple[tuple[str, str, str], ...]  # (setting, used, default)
    changed_from_frozen: tuple[tuple[str, str, str], ...]  # (setting, used, frozen)
    frozen: Frozen | None = None

    @property
    def warns(self) -> bool:
        """True when a reader should be warned: settings not frozen or not as frozen."""
        return self.status in (CHANGED, CHANGED_AFTER_FREEZE, NOT_VERIFIED)

    def text(self) -> str:
        """The stamp in one or two sentences (plain text; nothing in it comes from an upload)."""
        short = self.sha256[:12]
        if self.frozen is not None:
            when = self.frozen.frozen_at[:16].replace("T", " ") + " UTC"
            data = (
                "before any scores were stored"
                if self.frozen.n_scores == 0
                else f"after {self.frozen.n_scores:,} scores were stored"
            )
            made = (
                f"frozen {when} by {self.frozen.actor}, {data} (SHA-256 {self.frozen.sha256[:12]})"
            )
        if self.status == NOT_VERIFIED:
            return (
                f"Claim settings: the frozen settings do not match their stored fingerprint, so "
                f"they may have been changed in the database; {made}. These results use settings "
                f"{short}."
            )
        if self.status == FROZEN:
            return f"Claim settings as pre-registered: {made}."
        if self.status == CHANGED_AFTER_FREEZE:
            diff = "; ".join(f"{n} {u} (frozen {f})" for n, u, f in self.changed_from_frozen)
            return f"Claim settings changed after freezing: {diff}. Settings {short}; {made}."
        if self.status == CHANGED:
            diff = "; ".join(f"{n} {u} (default {d})" for n, u, d in self.changed_from_default)
            return f"Claim settings differ from the defaults: {diff}. Settings {short}, not frozen."
        return f"Claim settings: the defaults (SHA-256 {short}), not frozen."

    def to_dict(self) -> dict:
        """The ``settings`` object of the summary JSON."""
        pairs = lambda rows, other: [  # noqa: E731
            {"setting": n, "used": u, other: o} for n, u, o in rows
        ]
        return {
            "sha256": self.sha256,
            "status": self.status,
            "text": self.text(),
            "changed_from_default": pairs(self.changed_from_default, "default"),
            "changed_from_frozen": pairs(self.changed_from_frozen, "frozen"),
            "frozen": None if self.frozen is None else self.frozen.to_dict(),
        }


def settings_stamp(cfg: ClaimsConfig, frozen: Frozen | None = None) -> SettingsStamp:
    """The stamp for results computed with ``cfg``, given the freeze in force (if any)."""
    sha = settings_hash(cfg)
    from_default = _differences(cfg, ClaimsConfig())
    if frozen is None:
        return SettingsStamp(sha, CHANGED if from_default else DEFAULTS, from_default, ())
    if not frozen.verified:
        return SettingsStamp(sha, NOT_VERIFIED, from_default, (), frozen)
    try:
        as_frozen = config_from_json(frozen.settings)
    except AnalysisError:
        return SettingsStamp(sha, NOT_VERIFIED, from_default, (), frozen)
    from_frozen = _differences(cfg, as_frozen)
    status = CHANGED_AFTER_FREEZE if from_frozen else FROZEN
    return SettingsStamp(sha, status, from_default, from_frozen, frozen)
