"""One call from an export file to validated assessments: read, then validate (SPEC section 2)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from data.instruments import Registry, default_registry
from data.readers.export import read_export
from data.validation.validate import Validated, validate


def load_export(
    source: bytes | str | Path,
    *,
    filename: str | None = None,
    registry: Registry | None = None,
    mapping: Mapping[str, str | None] | None = None,
    sheet: str | int | None = None,
    default_protocol: str | None = None,
) -> Validated:
    """``read_export`` then ``validate``: the tidy table, its rejects and every problem.

    ``registry`` defaults to the built-in instruments. Raises UnusableFileError when the file
    as a whole cannot be used (nothing from it should then be stored).
    """
    registry = registry if registry is not None else default_registry()
    raw = read_export(source, filename=filename, registry=registry, mapping=mapping, sheet=sheet)
    return validate(raw, registry, default_protocol=default_protocol)
