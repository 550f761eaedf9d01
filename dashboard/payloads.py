"""The CSV files the dashboard hands out, built in one place so every download is formula-safe.

Each function returns the bytes a ``st.download_button`` serves (pass it as a callable so the
file is made on click). All go through ``analysis.export.safe_csv_bytes``: text cells and
column names that a spreadsheet would run as a formula get a leading apostrophe, UTF-8 with a
byte-order mark, CRLF. The researcher tables and the XLSX workbook come from
``analysis.export.to_csv_bytes`` and ``to_xlsx_bytes`` (the Downloads page), which apply the
same rule. The pages call these functions; ``tests/analysis/test_outputs_safe.py`` calls them
too, with hostile labels, and checks every cell.
"""

from __future__ import annotations

import pandas as pd

from analysis.export import safe_csv_bytes


def rejects_csv(validated) -> bytes:
    """The rows validation set aside (``Validated.rejects``: the file's own columns, ``row`` and
    ``reason``), as shown on the Upload page."""
    return safe_csv_bytes(validated.rejects)


def findings_csv(findings: pd.DataFrame) -> bytes:
    """Every finding of the Upload page's validation report (``data.validation.report_groups``), one line
    per flagged row and rule: row, column, severity, problem, fix."""
    from data.validation.report_groups import download_table

    return safe_csv_bytes(download_table(findings))


def set_aside_csv(result) -> bytes:
    """The rows the store set aside at commit (``CommitResult.set_aside``)."""
    return safe_csv_bytes(result.set_aside)


def rows_csv(rows: pd.DataFrame) -> bytes:
    """Some of the rows a commit or its preview lists (``CommitPreview.set_aside``, a part of
    ``CommitResult.set_aside``): conflicts with the stored and the new score, rows set aside."""
    return safe_csv_bytes(rows)


def audit_log_csv(store) -> bytes:
    """The store's change log (``Store.audit_log()``), newest first, as on the Uploads page."""
    return safe_csv_bytes(store.audit_log().iloc[::-1])


def audit_events_csv(store) -> bytes:
    """Who did what (``Store.list_audit()``, every event) as the Settings page shows it."""
    from dashboard.audit import events_table

    return safe_csv_bytes(events_table(store.list_audit()))


def assessments_csv(tidy: pd.DataFrame) -> bytes:
    """The de-identified tidy dataset of the Downloads page."""
    return safe_csv_bytes(tidy)
