"""The canonical tidy table (SPEC section 2): one row per accepted assessment.

Every reader ends here, every analysis starts here. Text columns are pyarrow-backed strings
(compact and fast to compare at millions of rows); numbers are float64 with NaN for missing,
except ``session`` and item columns, which are nullable integers.
"""

from __future__ import annotations

import re

import pandas as pd

from data.errors import ReliefCheckError

STRING = pd.StringDtype("pyarrow")

#: Required columns, in output order, and their dtypes.
CORE_DTYPES: dict[str, object] = {
    "patient_id": STRING,
    "protocol": STRING,
    "instrument": STRING,
    "session": pd.Int64Dtype(),
    "day": "float64",
    "phase": STRING,
    "score": "float64",
}

#: Optional descriptive columns; present in the tidy table only when the export had them.
OPTIONAL_DTYPES: dict[str, object] = {
    "site": STRING,
    "clinician": STRING,
    "route": STRING,
    "treatment_resistant": pd.BooleanDtype(),
}

PHASES = ("baseline", "treatment", "follow-up")
ITEM_DTYPE = pd.Int64Dtype()
_ITEM_RE = re.compile(r"^item_(\d+)$")


def item_column(k: int) -> str:
    """Name of the k-th item column (1-based): ``item_k``."""
    return f"item_{k}"


def item_columns(frame: pd.DataFrame) -> list[str]:
    """The item columns present in ``frame``, in item order."""
    found = [(int(m.group(1)), c) for c in frame.columns if (m := _ITEM_RE.match(str(c)))]
    return [c for _, c in sorted(found)]


def empty_tidy(n_items: int = 0) -> pd.DataFrame:
    """An empty tidy table with the core columns (and ``n_items`` item columns)."""
    cols = {c: pd.Series(dtype=t) for c, t in CORE_DTYPES.items()}
    cols.update({item_column(k): pd.Series(dtype=ITEM_DTYPE) for k in range(1, n_items + 1)})
    return pd.DataFrame(cols)


def conform(frame: pd.DataFrame, *, copy: bool = True) -> pd.DataFrame:
    """Return ``frame`` with canonical dtypes and column order.

    Core columns first, then optional descriptive columns, then item columns in item order;
    any other column is dropped. Raises ReliefCheckError when a core column is missing.
    The result holds its own copy of the data unless ``copy=False`` (for a frame built only
    to be conformed, whose columns may then be shared with the result).
    """
    missing = [c for c in CORE_DTYPES if c not in frame.columns]
    if missing:
        raise ReliefCheckError(
            f"The assessment table lacks the column(s) {', '.join(missing)}; "
            "every assessment needs patient_id, protocol, instrument, session, day, phase "
            "and score."
        )
    dtypes = {c: t for c, t in OPTIONAL_DTYPES.items() if c in frame.columns}
    dtypes = {**CORE_DTYPES, **dtypes, **dict.fromkeys(item_columns(frame), ITEM_DTYPE)}
    out = {c: frame[c].astype(t, copy=False) for c, t in dtypes.items()}
    return pd.DataFrame(out, index=frame.index, copy=copy)
