"""How much ReliefCheck reads: every size limit on an uploaded file, in one place.

Each limit is far above what a practice's export needs (the 10,000-patient demo cohort is
179,000 rows of 11 columns: 2 million cells, a 7 MB workbook, a 13 MB CSV) and low enough that
a damaged or hostile file is refused with a message before it can exhaust the memory of the
machine that reads it. docs/validation.md ("Limits") lists them for users.
"""

from __future__ import annotations

MIB = 1024 * 1024

#: Largest file read, in bytes (200 MB: about 4 million long rows of a typical CSV export).
MAX_FILE_BYTES = 200 * MIB

#: Most columns a sheet or CSV may have (a wide export of every ReliefCheck instrument with
#: item scores has under 300). A sheet's width counts to its last column holding a value.
MAX_COLUMNS = 2_000

#: Most characters in one cell: Excel's own limit, so a longer cell was not made in Excel.
MAX_CELL_CHARS = 32_767

#: Most cells in the rectangle from A1 to a sheet's last row and column holding a value
#: (10 million: five times the 10,000-patient demo, or 500,000 rows of 20 columns). The Excel
#: reader holds that whole rectangle in memory, empty cells included.
MAX_SHEET_CELLS = 10_000_000

#: Most text in one sheet, in bytes of the workbook's XML, once each cell that points to a
#: shared text is counted with that text (the reader holds it all in memory).
MAX_SHEET_TEXT_BYTES = 256 * MIB

#: Most parts (files inside the zip archive) of an .xlsx workbook; Excel writes a dozen or so,
#: plus a few per sheet, picture or chart.
MAX_XLSX_PARTS = 2_000

#: Most bytes of an .xlsx workbook once unzipped, all parts together (the 10,000-patient demo
#: unzips to 72 MB).
MAX_XLSX_UNZIPPED_BYTES = 1024 * MIB

#: Highest ratio of unzipped to zipped size for a part of an .xlsx workbook over
#: ``RATIO_FLOOR_BYTES`` unzipped. Spreadsheet XML shrinks 5 to 30 times; a zip bomb, a part
#: made to grow into gigabytes, 1,000 times.
MAX_XLSX_RATIO = 200
RATIO_FLOOR_BYTES = 1 * MIB

#: Longest row of a CSV file, in bytes (a row of a scores export is a few hundred bytes).
#: This is also the block size the CSV parser reads at a time.
MAX_CSV_ROW_BYTES = 4 * MIB

#: Largest number of days since baseline accepted in the day column (100 years). The store
#: holds day offsets as milliseconds below 2**50 (data/store/codec.py, about 35,000 years),
#: far above this, so every day that passes validation can be stored.
MAX_DAY = 36_525
