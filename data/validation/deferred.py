"""Tables of a validation built on first use (``data.validation.validate.Validated``).

Validating an export decides every row's fate at once; building the tables that show it (the
accepted assessments as text columns, the rejected rows as read with their reasons) is work
that only some callers need: the command line's report counts rows and never reads them, the
dashboard reads them straight away. A field declared ``BuiltOnUse`` takes either the table or
a ``Deferred`` one, which is built the first time the field is read and then kept, so callers
read the field as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Deferred:
    """A table not built yet: ``build()`` makes it; it will have ``rows`` rows."""

    build: Callable[[], pd.DataFrame]
    rows: int


class BuiltOnUse:
    """A dataclass field (without a default) holding a table or a ``Deferred`` table, built
    on its first read and kept; ``rows_of`` tells its length without building it."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.slot = f"_{name}_table"

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:  # read on the class: tells dataclasses the field has no default
            raise AttributeError(self.name)
        value = obj.__dict__[self.slot]
        if isinstance(value, Deferred):
            value = value.build()
            obj.__dict__[self.slot] = value  # the builder, and what it held, are let go
        return value

    def __set__(self, obj: object, value: Any) -> None:
        obj.__dict__[self.slot] = value  # also in a frozen dataclass's __init__

    def rows_of(self, obj: object) -> int:
        """How many rows the table has (or will have), without building it."""
        value = obj.__dict__[self.slot]
        return value.rows if isinstance(value, Deferred) else len(value)
