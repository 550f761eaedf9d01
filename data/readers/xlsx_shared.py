"""The workbook's shared texts (``xl/sharedStrings.xml``) scanned before the workbook is opened:
the parser loads them all at once, and copies one into every cell that shows it, so their
number, their size and each one's length are checked first (docs/validation.md, "Limits").
``shared_sizes`` gives each text's size, which ``data.readers.xlsx_scan`` counts once per cell.
"""

from __future__ import annotations

import numpy as np

from data.limits import MAX_SHEET_CELLS, MAX_SHEET_TEXT_BYTES
from data.readers.xlsx_archive import FIX_SMALLER, Archive, cell_showing, part_chunks, unusable
from data.readers.xlsx_scan import (
    NAME_END,
    PAD,
    Unusual,
    first_after,
    in_pieces,
    long_run,
    no_doctype,
    prefixed,
    too_long,
)

SHARED_PART = "xl/sharedStrings.xml"


def shared_sizes(archive: Archive) -> np.ndarray:
    """The XML size of each of the workbook's shared texts, in order.

    A workbook's shared texts are loaded whole when it is opened, so they are scanned first:
    more than MAX_SHEET_TEXT_BYTES of them, more of them than MAX_SHEET_CELLS, or one over
    MAX_CELL_CHARS characters is refused (naming a cell that shows it).
    """
    info = archive.info(SHARED_PART)
    if info is None:
        return np.zeros(0, dtype=np.int64)
    if info.file_size > MAX_SHEET_TEXT_BYTES:
        raise unusable(
            f"This workbook holds more than {MAX_SHEET_TEXT_BYTES // 2**20:,} MB of text, more "
            "than ReliefCheck reads.",
            FIX_SMALLER,
        )
    sizes: list[np.ndarray] = []

    def feed(buf: bytes, final: bool) -> int:
        a = np.frombuffer(buf, dtype=np.uint8)
        pad = np.concatenate((a, np.zeros(PAD, dtype=np.uint8)))
        lt = np.flatnonzero(a == 60)
        b1, b2, b3 = pad[lt + 1], pad[lt + 2], pad[lt + 3]
        opens = lt[(b1 == ord("s")) & (b2 == ord("i")) & np.isin(b3, NAME_END)]
        closes = lt[(b1 == ord("/")) & (b2 == ord("s")) & (b3 == ord("i"))]
        done = sum(len(s) for s in sizes)
        bad = long_run(a, lt)
        if bad is not None:
            k = int(np.searchsorted(opens, bad, side="right")) - 1
            raise too_long(*(cell_showing(archive, done + k) if k >= 0 else (None, None)))
        if prefixed(buf, a, pad):
            raise Unusual
        if b"<!DOCTYPE" in buf:
            raise no_doctype()
        used = len(buf) if final or not len(lt) else int(lt[-1])
        if len(opens) and not final and not (len(closes) and closes[-1] > opens[-1]):
            used = int(opens[-1])
        opens = opens[opens < used]
        sizes.append(first_after(closes, opens, len(a)) - opens)
        if done + len(opens) > MAX_SHEET_CELLS:
            raise unusable(
                f"This workbook holds more than {MAX_SHEET_CELLS:,} different texts, more than "
                "ReliefCheck reads.",
                FIX_SMALLER,
            )
        return used

    try:
        in_pieces(part_chunks(archive.data, info), feed)
    except Unusual:
        from data.readers.xlsx_slow import slow_shared

        return slow_shared(archive, info)
    return np.concatenate(sizes) if sizes else np.zeros(0, dtype=np.int64)
