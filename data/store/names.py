"""What the store keeps of an upload's file name and of who made it: never a person's details.

* **File names** are reduced to a label: letters, digits, ``.``, ``-`` and ``_`` only (everything
  else becomes ``_``), runs of 7 or more digits (phone, NHS, social security numbers, compact
  birth dates) and e-mail addresses are cut out, and a name that the upload gate would still
  call identifying (a person's name, a date of birth) is replaced by ``export.<ext>``. At most
  60 characters, the extension kept.
* **Uploaders and actors** are the signed-in e-mail (a member of staff, from the sign-in
  provider) or ``local``; anything else (free text typed on a command line) is recorded as
  ``local``.
"""

from __future__ import annotations

import re

MAX_LABEL = 60
_EMAIL = re.compile(r"[^\s@/\\]+@[^\s@/\\]+\.[A-Za-z]{2,}")
_LONG_DIGITS = re.compile(r"\d(?:[\s_.\-]?\d){6,}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_EXT = re.compile(r"\.(csv|tsv|txt|xlsx|xlsm)$", re.IGNORECASE)
_SIGNED_IN = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}$")


def _identifying(text: str) -> bool:
    """Whether the upload gate's value check calls ``text`` identifying."""
    import pandas as pd

    from data.validation import privacy

    values = pd.Series([text, text.replace("_", " ")], dtype=privacy.TEXT)
    return any(bool(m.any()) for m in privacy.looks_identifying(values).values())


def safe_file_label(filename: str | None) -> str:
    """The label stored for an uploaded file's name (see the module docstring)."""
    name = str(filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    m = _EXT.search(name)
    ext = m.group(1).lower() if m else ""
    stem = name[: m.start()] if m else name
    stem = _EMAIL.sub("", stem)
    stem = _LONG_DIGITS.sub("", stem)
    stem = _UNSAFE.sub("_", stem).strip("._-")
    stem = re.sub(r"_{2,}", "_", stem)[: MAX_LABEL - 5].strip("._-")
    if not stem or _identifying(stem):
        stem = "export"
    return f"{stem}.{ext}" if ext else stem


def safe_actor(actor: str | None) -> str:
    """A signed-in e-mail as given (lower-cased), else ``local``."""
    text = str(actor or "").strip()
    return text.lower() if _SIGNED_IN.match(text) else "local"
