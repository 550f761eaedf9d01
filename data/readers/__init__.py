"""Reading an export: bytes or a path to a ``RawTable`` of text (``export.read_export``).

``csv`` and ``xlsx`` turn a file into a grid of text cells (``xlsx_archive``, ``xlsx_scan``,
``xlsx_shared`` and ``xlsx_slow`` read a workbook safely without a spreadsheet library);
``headers`` maps a header to a column of the tidy table; ``export`` puts them together: the
mapping, the long shape and the reading facts.
"""
