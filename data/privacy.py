"""Privacy gate (SPEC section 8): an export that names people or holds direct identifiers is
refused as a whole, before anything from it is checked or stored.

Two checks, both on the file as read:

* **headers**: a column whose header names a person or a direct identifier (name, email,
  phone, address, postcode, date of birth, SSN, MRN, insurance or NHS number …). Headers are
  compared word by word, case- and punctuation-blind ("Date of Birth", "date_of_birth" and
  "DateOfBirth" are one header). "name" is an identifier unless the word before it names a
  thing rather than a person ("Instrument name", "Site name", "Protocol name" are allowed;
  "Name", "Patient name" and "Clinician name" are not). "clinician", "site" and the like are
  pseudonymous labels and are allowed.
* **values**: any cell that looks like an email address, a phone number or a US social
  security number. Phone numbers are recognised by their shape: a leading "+" and 9–15
  digits, a North American 3-3-4 group with separators, or a national number starting with 0
  then a non-zero digit and 10–11 digits in all (07700 900123, 020 7946 0958). A bare run of
  digits not starting with 0 is not taken for a phone number, so numeric patient ids, scores,
  day counts and dates (2024-03-05, 05/03/2024 14:30) pass.

Each column is scanned once per distinct value, with regular expressions run by pyarrow.
Problems name the column and one example row, never the identifying value itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data.errors import Problem
from data.readers import RawTable

TEXT = pd.StringDtype("pyarrow")

# -- headers --------------------------------------------------------------------------------

#: Single words that make a header an identifier, with what the column would hold.
_ID_WORDS: dict[str, str] = {
    **dict.fromkeys(
        [
            "name",
            "names",
            "surname",
            "surnames",
            "forename",
            "forenames",
            "firstname",
            "lastname",
            "fullname",
            "givenname",
            "familyname",
            "middlename",
            "maidenname",
            "patientname",
            "clientname",
            "username",
            "initials",
        ],
        "people's names",
    ),
    **dict.fromkeys(["email", "emails", "emailaddress", "mail"], "email addresses"),
    **dict.fromkeys(
        ["phone", "phones", "telephone", "tel", "mobile", "cellphone", "phonenumber", "fax"],
        "phone numbers",
    ),
    **dict.fromkeys(["address", "addresses", "street", "homeaddress"], "postal addresses"),
    **dict.fromkeys(["postcode", "postcodes", "zip", "zipcode"], "postcodes or ZIP codes"),
    **dict.fromkeys(["dob", "birthdate", "birthday", "dateofbirth"], "dates of birth"),
    **dict.fromkeys(["ssn", "socialsecuritynumber"], "social security numbers"),
    **dict.fromkeys(["mrn"], "medical record numbers"),
    **dict.fromkeys(["nhsnumber", "nhsno"], "NHS numbers"),
    **dict.fromkeys(["passport"], "passport numbers"),
}

#: Word sequences that make a header an identifier (matched as consecutive words).
_ID_PHRASES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("date", "of", "birth"), "dates of birth"),
    (("birth", "date"), "dates of birth"),
    (("social", "security"), "social security numbers"),
    (("social", "insurance"), "social insurance numbers"),
    (("national", "insurance"), "national insurance numbers"),
    (("medical", "record"), "medical record numbers"),
    (("health", "record"), "medical record numbers"),
    (("hospital", "number"), "hospital numbers"),
    (("chart", "number"), "medical record numbers"),
    (("nhs", "number"), "NHS numbers"),
    (("nhs", "no"), "NHS numbers"),
    (("nhs", "id"), "NHS numbers"),
    (("chi", "number"), "CHI numbers"),
    (("insurance", "id"), "insurance numbers"),
    (("insurance", "number"), "insurance numbers"),
    (("insurance", "no"), "insurance numbers"),
    (("insurance", "card"), "insurance numbers"),
    (("member", "id"), "insurance member ids"),
    (("member", "number"), "insurance member ids"),
    (("policy", "number"), "insurance policy numbers"),
    (("post", "code"), "postcodes or ZIP codes"),
    (("postal", "code"), "postcodes or ZIP codes"),
    (("zip", "code"), "postcodes or ZIP codes"),
    (("cell", "number"), "phone numbers"),
    (("contact", "number"), "phone numbers"),
)

#: Words before "name" that make it the name of a thing, not of a person.
_THING_WORDS = frozenset(
    [
        "instrument",
        "measure",
        "scale",
        "questionnaire",
        "form",
        "survey",
        "assessment",
        "test",
        "site",
        "clinic",
        "location",
        "office",
        "protocol",
        "program",
        "programme",
        "track",
        "arm",
        "pathway",
        "route",
        "drug",
        "medication",
        "file",
        "sheet",
        "study",
        "practice",
        "organisation",
        "organization",
        "org",
        "group",
        "cohort",
        "item",
        "variable",
        "field",
        "column",
        "facility",
        "center",
        "centre",
        "product",
        "treatment",
        "device",
        "team",
    ]
)


def header_words(header: object) -> list[str]:
    """The words of a header, lower-case: 'DateOfBirth' and 'date_of_birth' → date, of, birth."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(header))
    return re.findall(r"[a-z]+|\d+", spaced.lower())


def identifier_kind(header: object) -> str | None:
    """What identifying content a header announces ('phone numbers', …), or None."""
    words = header_words(header)
    for i, word in enumerate(words):
        kind = _ID_WORDS.get(word)
        if kind is None:
            continue
        if word == "name" and i > 0 and words[i - 1] in _THING_WORDS:
            continue
        if word == "mail" and i > 0 and words[i - 1] not in ("e",):
            continue
        return kind
    for phrase, kind in _ID_PHRASES:
        k = len(phrase)
        if any(tuple(words[i : i + k]) == phrase for i in range(len(words) - k + 1)):
            return kind
    return None


# -- values ---------------------------------------------------------------------------------

# The patterns run in pyarrow (RE2: no look-around), so a word boundary is written as "start
# of text or a character that cannot continue a number".
_BEFORE = r"(?:^|[^0-9/.:,+\-])"
_AFTER = r"(?:$|[^0-9/.:,\-])"
_VALUE_PATTERNS: tuple[tuple[str, str], ...] = (
    ("email addresses", r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"),
    ("social security numbers", _BEFORE + r"\d{3}(?:-\d{2}-| \d{2} )\d{4}" + _AFTER),
    ("phone numbers", r"(?:^|[^0-9A-Za-z+])\+(?:\d[ ().\-]{0,2}){8,14}\d" + r"(?:$|[^0-9])"),
    ("phone numbers", _BEFORE + r"\(?\d{3}\)?[ .\-]\d{3}[ .\-]\d{4}" + _AFTER),
    ("phone numbers", _BEFORE + r"\(\d{3}\) ?\d{3}[ .\-]?\d{4}" + _AFTER),
    ("phone numbers", _BEFORE + r"0[1-9](?:[ .\-]?\d){8,9}" + _AFTER),
)

_ANY_PATTERN = "|".join(f"(?:{pattern})" for _, pattern in _VALUE_PATTERNS)

#: Of the patterns above, the only one a plain decimal number (digits, at most one decimal
#: point, a leading minus) can match is the national phone number, and only from its first
#: character: a 0 then at least nine more digits (SSNs and North American numbers need two
#: separators, the others "@", "+" or "(").
_PLAIN_NUMBER_SUSPECT_PREFIX, _PLAIN_NUMBER_SUSPECT_LENGTH = "0", 10

_FIX_COLUMN = (
    "Delete this column from the export (ReliefCheck needs only pseudonymous ids such as "
    "P-0012), then upload the file again."
)
_FIX_VALUES = (
    "Delete this column, or replace these values with pseudonymous ids (such as P-0012), "
    "then upload the file again."
)


def _looks_identifying(values: pd.Series) -> dict[str, np.ndarray]:
    """For each kind of identifier, a mask over ``values`` of the values that look like one.

    One pass with all patterns at once finds the few candidates; only those are sorted by kind.
    """
    anything = values.str.contains(_ANY_PATTERN, regex=True).fillna(False).to_numpy(dtype=bool)
    found: dict[str, np.ndarray] = {}
    candidates = values[anything]
    for kind, pattern in _VALUE_PATTERNS:
        hit = np.zeros(len(values), dtype=bool)
        if anything.any():
            hit[anything] = (
                candidates.str.contains(pattern, regex=True).fillna(False).to_numpy(dtype=bool)
            )
        found[kind] = found[kind] | hit if kind in found else hit
    return found


def plain_number_suspects(text: pa.ChunkedArray) -> pd.Series:
    """The distinct values of a column of plain decimal numbers that could look like an
    identifier (see above); only these need scanning. Passed to ``find_identifiers`` as the
    column's distinct values, it gives the same problems as all of the column's values."""
    long = pc.greater_equal(pc.binary_length(text), _PLAIN_NUMBER_SUSPECT_LENGTH)
    if not pc.any(long).as_py():
        return pd.Series([], dtype=TEXT)
    suspect = pc.and_(long, pc.starts_with(text, _PLAIN_NUMBER_SUSPECT_PREFIX))
    return pd.Series(pc.unique(text.filter(suspect)).to_pandas(), dtype=TEXT)


def _first_row(column: pd.Series, bad_values: pd.Series, source_row: pd.Series) -> int | None:
    """Spreadsheet row of the first cell whose (trimmed) value is among ``bad_values``."""
    text = column.astype(TEXT).str.strip()
    hits = text.isin(bad_values).to_numpy(dtype=bool, na_value=False)
    if not hits.any():
        return None
    return int(source_row.iloc[int(np.argmax(hits))])


def find_identifiers(
    raw: RawTable, distinct: Mapping[str, pd.Series] | None = None
) -> list[Problem]:
    """Every column of ``raw`` that names a person or holds identifier-like values.

    One Problem per column and kind, naming the column as the file spells it and, for values,
    the first row where one occurs (the value itself is not repeated). An empty list means the
    file passed. ``distinct`` may give the distinct values of some columns when the caller
    already has them (they are then not computed again).
    """
    frame = raw.frame
    distinct = distinct or {}
    if "source_row" in frame:
        source_row = frame["source_row"]
    else:
        source_row = pd.Series(np.arange(2, len(frame) + 2), index=frame.index)
    problems: list[Problem] = []
    for col in frame.columns:
        if col == "source_row":
            continue
        header = raw.origin.get(str(col), str(col))
        kind = identifier_kind(header) or identifier_kind(col)
        if kind is not None:
            problems.append(
                Problem(
                    message=(
                        f"This column's name says it holds {kind}, which identify a person; "
                        "ReliefCheck accepts anonymised data only, so nothing from this file "
                        "was stored."
                    ),
                    fix=_FIX_COLUMN,
                    column=header,
                )
            )
            continue
        if col in distinct:
            uniques = pd.Series(distinct[col], dtype=TEXT).dropna()
        else:
            uniques = pd.Series(pd.factorize(frame[col])[1], dtype=TEXT).str.strip()
        if uniques.empty:
            continue
        for kind, mask in _looks_identifying(uniques).items():
            if not mask.any():
                continue
            row = _first_row(frame[col], uniques[mask], source_row)
            where = f" (the first is in row {row})" if row is not None else ""
            problems.append(
                Problem(
                    message=(
                        f"This column holds values that look like {kind}{where}, which "
                        "identify a person; ReliefCheck accepts anonymised data only, so "
                        "nothing from this file was stored."
                    ),
                    fix=_FIX_VALUES,
                    row=row,
                    column=header,
                )
            )
    return problems
