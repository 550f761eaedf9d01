"""The instrument and label codes of stored assessments (the ``instruments`` and ``labels``
lookup tables of tables.py).

A store holds a handful of distinct instruments and label combinations (protocol, phase, site,
clinician, route, treatment_resistant) repeated over many rows; each row keeps two small integer
codes instead of the text. Codes are added under the store's write lock and never changed, so a
code read inside one transaction means the same thing for as long as the store exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, insert, select

from data.store.engine import StoreError
from data.store.tables import LABEL_COLUMNS, TEXT_COLUMNS, instruments, labels


@dataclass(frozen=True)
class Lookups:
    """Every code of a store: instrument keys and label rows as pyarrow arrays, and for each
    code its position in them (-1 for a code never issued)."""

    instrument: pa.Array
    instrument_pos: np.ndarray
    labels: dict[str, pa.Array]
    label_pos: np.ndarray

    def instruments_of(self, codes: np.ndarray) -> pa.Array:
        """The instrument keys of an array of instrument codes."""
        return self.instrument.take(_positions(self.instrument_pos, codes))

    def labels_of(self, codes: np.ndarray) -> dict[str, pa.Array]:
        """The label columns (LABEL_COLUMNS) of an array of label codes."""
        pos = _positions(self.label_pos, codes)
        return {
            name: values.take(pos)
            if values.null_count < len(values)
            else pa.nulls(len(pos), values.type)
            for name, values in self.labels.items()
        }


def _positions(pos: np.ndarray, codes: np.ndarray) -> pa.Array:
    """Positions in a lookup of each code; refuses a code with no entry (a damaged store)."""
    codes = np.asarray(codes, dtype=np.int64)
    if len(codes) and (codes.min() < 0 or codes.max() >= len(pos)):
        raise _damaged()
    out = pos[codes]
    if len(out) and out.min() < 0:
        raise _damaged()
    return pa.array(out)


def _damaged() -> StoreError:
    return StoreError(
        "The outcome store is damaged: some assessments refer to an instrument or a label that "
        "is not in the store. Restore the store from a backup."
    )


def _index(ids: np.ndarray) -> np.ndarray:
    pos = np.full(int(ids.max()) + 1 if len(ids) else 0, -1, dtype=np.int64)
    pos[ids] = np.arange(len(ids))
    return pos


def read_lookups(conn: Connection) -> Lookups:
    """Every instrument and label code of the store (a few rows each)."""
    ins = conn.execute(select(instruments.c.id, instruments.c.key)).all()
    lab = conn.execute(select(labels.c.id, *(labels.c[c] for c in LABEL_COLUMNS))).all()
    ins_ids = np.array([r[0] for r in ins], dtype=np.int64)
    lab_ids = np.array([r[0] for r in lab], dtype=np.int64)
    columns = {
        name: pa.array(
            [r[k + 1] for r in lab],
            type=pa.bool_() if name not in TEXT_COLUMNS else pa.large_string(),
        )
        for k, name in enumerate(LABEL_COLUMNS)
    }
    return Lookups(
        instrument=pa.array([r[1] for r in ins], type=pa.large_string()),
        instrument_pos=_index(ins_ids),
        labels=columns,
        label_pos=_index(lab_ids),
    )


def _plain(value: object) -> object:
    """A label value as the database takes it (None for missing)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def encode(conn: Connection, stored: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(instrument code, label code) of each row of a stored-form frame, adding the codes the
    store does not have yet. Call inside the commit's write transaction."""
    ins_codes, ins_values = pd.factorize(stored["instrument"])
    have_ins = dict(conn.execute(select(instruments.c.key, instruments.c.id)).all())
    ins_ids = []
    for key in map(str, ins_values):
        if key not in have_ins:
            have_ins[key] = conn.execute(
                insert(instruments).values(key=key).returning(instruments.c.id)
            ).scalar_one()
        ins_ids.append(have_ins[key])
    # One combined code per distinct combination of labels (a missing label is a value too).
    combined = np.zeros(len(stored), dtype=np.int64)
    for name in LABEL_COLUMNS:
        col_codes, col_values = pd.factorize(stored[name], use_na_sentinel=False)
        combined = pd.factorize(combined * (len(col_values) + 1) + col_codes)[0]  # stays < n
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    rows = stored.iloc[first][list(LABEL_COLUMNS)]
    combos = [tuple(_plain(v) for v in r) for r in rows.itertuples(index=False, name=None)]
    existing = conn.execute(select(*(labels.c[c] for c in LABEL_COLUMNS), labels.c.id)).all()
    have_lab = {tuple(r[:-1]): r[-1] for r in existing}
    lab_ids = []
    for combo in combos:
        if combo not in have_lab:
            have_lab[combo] = conn.execute(
                insert(labels)
                .values(dict(zip(LABEL_COLUMNS, combo, strict=True)))
                .returning(labels.c.id)
            ).scalar_one()
        lab_ids.append(have_lab[combo])
    return (
        np.asarray(ins_ids, dtype=np.int64)[ins_codes],
        np.asarray(lab_ids, dtype=np.int64)[inverse.ravel()],
    )
