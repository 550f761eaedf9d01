"""Pseudonymous patient ids: whatever a clinic uses as an id, the store holds only a keyed hash.

``P-`` followed by 12 characters of the base-32 HMAC-SHA256 of the id under the practice's id
key (60 bits: two of a million patients share one with odds below 1 in a million), then two
check characters, a keyed hash of the twelve. The check lets the store recognise its own
pseudonyms: a table the practice downloaded and uploads again keeps its ids instead of having
them hashed a second time. Without the key nobody can tell which id a pseudonym stands for, nor
make a pseudonym that passes the check.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import hmac

import numpy as np
import pandas as pd

PREFIX = "P-"
_BODY, _CHECK = 12, 2


def _b32(digest: bytes, n: int) -> str:
    return base64.b32encode(digest).decode("ascii")[:n]


def _check(body: str, key: bytes) -> str:
    return _b32(hmac.new(key, b"check:" + body.encode("ascii"), hashlib.sha256).digest(), _CHECK)


def pseudonym(raw: str, key: bytes) -> str:
    """The pseudonym of one clinic id (its text with surrounding spaces removed)."""
    text = str(raw).strip()
    if is_pseudonym(text, key):
        return text
    body = _b32(hmac.new(key, b"id:" + text.encode("utf-8"), hashlib.sha256).digest(), _BODY)
    return PREFIX + body + _check(body, key)


def is_pseudonym(text: str, key: bytes) -> bool:
    """Whether ``text`` is a pseudonym made with ``key``."""
    if len(text) != len(PREFIX) + _BODY + _CHECK or not text.startswith(PREFIX):
        return False
    body = text[len(PREFIX) : len(PREFIX) + _BODY]
    return hmac.compare_digest(text[len(PREFIX) + _BODY :], _check(body, key))


def pseudonymise(ids: pd.Series, key: bytes) -> pd.Series:
    """``ids`` with each value replaced by its pseudonym (one HMAC per distinct id)."""
    codes, uniques = pd.factorize(ids.astype(str), sort=False)
    mapped = np.array([pseudonym(u, key) for u in uniques], dtype=object)
    out = mapped[codes] if len(uniques) else np.array([], dtype=object)
    return pd.Series(out, index=ids.index, name=ids.name, dtype=ids.dtype if len(ids) else object)


def _with_index(series: object, mapping: dict[str, str]) -> object:
    if not isinstance(series, pd.Series) or not len(series):
        return series
    out = series.copy()
    out.index = pd.Index(
        [mapping.get(str(p), str(p)) for p in series.index], name=series.index.name
    )
    return out


def pseudonymise_upload(validated: object, key: bytes) -> tuple[object, dict[str, str]]:
    """A copy of a validated upload whose patient ids (in ``tidy``, ``anchors`` and
    ``anchor_from_baseline``) are pseudonyms, and the map from each pseudonym back to the
    file's id (kept in memory only, to give the uploader back rows in their own ids)."""
    tidy = validated.tidy
    ids = tidy["patient_id"].astype(str)
    hashed = pseudonymise(ids, key)
    back = dict(zip(hashed.to_numpy(), ids.to_numpy(), strict=True))
    forward = {raw: p for p, raw in back.items()}
    new_tidy = tidy.copy()
    new_tidy["patient_id"] = hashed.astype(tidy["patient_id"].dtype)
    changes: dict[str, object] = {"tidy": new_tidy}
    for name in ("anchors", "anchor_from_baseline"):
        if hasattr(validated, name):
            changes[name] = _with_index(getattr(validated, name), forward)
    if dataclasses.is_dataclass(validated):
        return dataclasses.replace(validated, **changes), back
    clone = copy.copy(validated)
    for name, value in changes.items():
        setattr(clone, name, value)
    return clone, back


def for_uploader(result: object, back: dict[str, str], filename: str, label: str) -> object:
    """``result`` (a CommitResult) as the uploader sees it, in memory only: set-aside rows
    with the file's own ids, and the file called by its own name rather than the stored label."""
    changes: dict[str, object] = {}
    aside = getattr(result, "set_aside", None)
    if aside is not None and len(aside) and "patient_id" in aside.columns:
        aside = aside.copy()
        ids = aside["patient_id"].astype(str)
        aside["patient_id"] = ids.map(back).fillna(ids).astype(aside["patient_id"].dtype)
        changes["set_aside"] = aside
    if filename and label != filename:
        changes["filename"] = filename
        changes["message"] = str(result.message).replace(label, filename, 1)
    return dataclasses.replace(result, **changes) if changes else result
