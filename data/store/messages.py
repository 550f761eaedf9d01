"""What the store tells the clinician after a commit or an undo, in plain sentences."""

from __future__ import annotations


def _n(count: int, one: str, many: str | None = None) -> str:
    """ "1 row", "7,527 rows": the count with a thousands separator, the noun in its number."""
    from data.plurals import count_of

    return count_of(count, one, many)


def _when(iso: str | None) -> str:
    return f"{iso[:10]} {iso[11:16]} UTC" if iso and len(iso) >= 16 else "earlier"


def commit_message(
    status: str,
    base: dict,
    counts: dict[str, int],
    upload_id: int | None,
    duplicate_of: int | None,
    when: str | None,
    notes: tuple[str, ...],
) -> str:
    """One paragraph: what was stored, what was already there, what was set aside and why."""
    name = base["filename"]
    if status == "duplicate-content":
        return (
            f"{name} has exactly the content of upload {duplicate_of} (stored {_when(when)}). "
            "Nothing was changed."
        )
    parts: list[str] = []
    if status == "committed":
        parts.append(
            f"Stored {_n(counts['n_added'], 'new assessment')} from {name} as upload {upload_id}."
            if counts["n_added"]
            else f"Stored {name} as upload {upload_id} (no new assessments)."
        )
    elif base["n_rows"] == 0:
        parts.append(f"{name} has no accepted assessments to store. Nothing was changed.")
    else:
        parts.append(f"Nothing new to store from {name}; nothing was changed.")
    if counts["n_already_stored"]:
        were = "was" if counts["n_already_stored"] == 1 else "were"
        parts.append(f"{_n(counts['n_already_stored'], 'assessment')} {were} already stored.")
    if counts["n_replaced"]:
        parts.append(
            f"{_n(counts['n_replaced'], 'stored assessment')} with a different score "
            f"{'was' if counts['n_replaced'] == 1 else 'were'} replaced by this file's values "
            f"(undo upload {upload_id} to restore them)."
        )
    elif counts["n_conflicts"]:
        parts.append(
            f"{_n(counts['n_conflicts'], 'row')} {'differs' if counts['n_conflicts'] == 1 else 'differ'}"
            " from the stored assessment with the same patient, instrument, session and day and "
            f"{'was' if counts['n_conflicts'] == 1 else 'were'} left alone; upload again with "
            "replace to use this file's values."
        )
    if counts["n_unaligned"]:
        parts.append(
            f"{_n(counts['n_unaligned'], 'row')} could not be lined up with the patient's stored "
            f"days and {'was' if counts['n_unaligned'] == 1 else 'were'} set aside (see the "
            "reasons listed)."
        )
    if counts["n_file_clashes"]:
        parts.append(
            f"{_n(counts['n_file_clashes'], 'row')} of the file "
            + (
                "gives another score than a second row for the same assessment and was set aside."
                if counts["n_file_clashes"] == 1
                else "give different scores for the same assessment and were set aside."
            )
        )
    if counts["n_duplicates_in_file"]:
        parts.append(
            f"{_n(counts['n_duplicates_in_file'], 'row')} repeated another row of the file "
            f"exactly and {'was' if counts['n_duplicates_in_file'] == 1 else 'were'} counted once."
        )
    if base["n_rejected"]:
        parts.append(f"{_n(base['n_rejected'], 'row')} had been rejected by validation.")
    return " ".join(parts + list(notes))


def undo_message(
    upload_id: int, filename: str, n_removed: int, n_restored: int, n_kept: int = 0
) -> str:
    """What an undo did: what left the store, what came back, and what stayed because another
    upload still in the store brought it too."""
    text = f"Undid upload {upload_id} ({filename}): removed {_n(n_removed, 'assessment')}"
    if n_restored:
        text += (
            f" and restored {_n(n_restored, 'assessment')} that it had replaced or kept out "
            "(another upload's values)"
        )
    text += "."
    if n_kept:
        stay = "stays" if n_kept == 1 else "stay"
        text += (
            f" {_n(n_kept, 'assessment')} it brought {stay} stored, because other uploads still "
            "in the store brought them too."
        )
    return text
