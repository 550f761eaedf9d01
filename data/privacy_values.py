"""The value half of the privacy gate (data.validation.privacy): which cell values look like something
that identifies a person, and hidden characters in labels.

Each rule is a regular expression run by pyarrow (RE2: no look-around, so a word boundary is
written as "start of text or a character that cannot continue the token"), over a column's
distinct values: a quick first pattern (``PREFILTER``) sets aside the values no rule can match
(most ids), one pass with every rule of the column at once finds the few candidates among the
rest, and only those are sorted by rule. A value gets the first rule it matches, in the order
below.

Which rules run depends on the column (``rules_for``):

* everywhere: email addresses; "DOB 14/03/1985", "born 1985-03-14", "né le …"; "patient Jane",
  "Patient: Smith", "Mr Smith", "Dr. Jones"; US social security numbers with separators;
  phone numbers with separators, a leading "+" or a national leading 0;
* everywhere but the date column: NHS numbers (10 digits, bare or 3-3-4, with a valid mod-11
  check digit) and any other run of 9 or more digits standing on its own (leading zeros not
  counted, except a single one before 8 digits, as in the SSN 078051120): a phone number or
  SSN without separators. Numeric ids of up to 8 digits pass, and so do zero-padded ones
  ("0000012345"); digits that run into letters (P0123456789, hashes, UUIDs) are not "on their
  own";
* in label and free-text columns (patient_id, protocol, site, clinician, route, phase and every
  column ReliefCheck does not map): street addresses and postcodes ("0 Baker Street London
  NW1 6XE", "123 Main St, Springfield, IL 62704", "Hauptstraße 5", "12 rue de la Paix",
  "Calle Mayor 5");
* in those columns, unless an unmapped column's header names a date or time ("Referral
  date"): full dates ("1985-03-01", "14/03/1985", "14 Mar 1985", "March 14, 1985", and an
  embedded "…_19850314");
* in patient_id and clinician: a value that is a person's name: two to four capitalised
  words ("Jane Smith", "Smith, Jane", "Jane M. Smith") or "SMITH, JANE".

Values are compared after NFKC normalisation with invisible format characters removed, so
full-width digits or a zero-width space inside an email address do not hide it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# -- the rules ------------------------------------------------------------------------------

EMAILS = "email addresses"
BIRTH = "dates of birth"
NHS = "NHS numbers"
SSN = "social security numbers"
PHONES = "phone numbers"
LONG_NUMBERS = "long numbers such as phone or social security numbers"
NAMES = "people's names"
ADDRESSES = "postal addresses or postcodes"
DATES = "dates"


#: The letter classes the patterns are written with, narrowed to Latin letters (which cover
#: English, German, French and Spanish; values are NFKC-normalised first, so an accented
#: letter is one character). Unicode's own classes make each pattern take milliseconds to
#: compile, and pyarrow compiles a pattern on every call.
_LATIN = {r"\pL": "A-Za-zÀ-ÖØ-öø-ɏ", r"\p{Lu}": "A-ZÀ-ÖØ-Þ", r"\p{Ll}": "a-zß-öø-ÿ"}


def _latin(pattern: str) -> str:
    """``pattern`` with \\pL, \\p{Lu} and \\p{Ll} replaced by Latin letter ranges."""
    out: list[str] = []
    in_class = escaped = False
    i = 0
    while i < len(pattern):
        token = next((t for t in _LATIN if pattern.startswith(t, i)), None)
        if token is not None and not escaped:
            out.append(_LATIN[token] if in_class else f"[{_LATIN[token]}]")
            i += len(token)
            continue
        ch = pattern[i]
        if not escaped and ch == "[" and not in_class:
            in_class = True
        elif not escaped and ch == "]" and in_class and out[-1] not in ("[", "^"):
            in_class = False
        escaped = not escaped and ch == "\\"
        out.append(ch)
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class Rule:
    """One kind of identifier: a pattern (RE2 syntax; letter classes narrowed by ``_latin``),
    and optionally a check of the values it matched."""

    kind: str
    pattern: str
    check: Callable[[pa.Array], np.ndarray] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", _latin(self.pattern))


_BEFORE = r"(?:^|[^0-9A-Za-z/.,+\-])"
_AFTER = r"(?:$|[^0-9/.:,\-])"
_MONTH = (
    r"(?:jan|feb|f[eé]v|m[aä]r|apr|avr|abr|may|mai|jun|jui|jul|aug|ao[uû]|ago|sep|set|o[ck]t"
    r"|nov|de[cz]|d[eé]c|dic|ene)\pL*\.?"
)
_DAY = r"(?:0?[1-9]|[12][0-9]|3[01])"
_MONTH_NO = r"(?:0?[1-9]|1[0-2])"
_YEAR = r"(?:19|20)[0-9]{2}"
_NHS_SHAPE = (
    r"(?:^|[^0-9A-Za-z+/.:,\-])(?P<a>[0-9]{3})[ \-]?(?P<b>[0-9]{3})[ \-]?(?P<c>[0-9]{4})"
    r"(?:$|[^0-9A-Za-z/:,\-])"
)
_US_STATES = (
    r"(?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|PA|RI"
    r"|S[CD]|T[NX]|UT|V[AT]|W[AIVY])"
)
_STREET_WORDS = (
    r"(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|boulevard|blvd|close|court|ct|place|pl"
    r"|terrace|crescent|highway|hwy|parkway|pkwy|square|sq|way)"
)
_CAPITALISED = r"\p{Lu}[\pL'’\-]*\p{Ll}"


def _nhs_check(values: pa.Array) -> np.ndarray:
    """True where the first 10-digit group of a value has a valid NHS mod-11 check digit."""
    groups = pc.extract_regex(values, _NHS_SHAPE)
    parts = [groups.field(i) for i in range(3)]
    digits = pc.binary_join_element_wise(*parts, pa.scalar("", parts[0].type))
    found = np.asarray(digits.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    valid = np.zeros(len(values), dtype=bool)
    if not found.any():
        return valid
    text = "".join(digits.filter(pa.array(found)).to_pylist()).encode("ascii")
    d = (np.frombuffer(text, dtype=np.uint8).reshape(-1, 10) - ord("0")).astype(np.int64)
    check = 11 - (d[:, :9] @ np.arange(10, 1, -1)) % 11
    check[check == 11] = 0
    valid[found] = (check != 10) & (check == d[:, 9])
    return valid


EMAIL = Rule(EMAILS, r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
BIRTH_RULE = Rule(
    BIRTH,
    r"(?i)(?:^|[^\pL])(?:dob|d\.\s?o\.\s?b|born|birth\s?date|birthday|date\s+of\s+birth"
    r"|geb(?:oren|urtsdatum)?|née?|date\s+de\s+naissance|fecha\s+de\s+nacimiento|nacid[oa]"
    r"|f\.\s?nac)\.?\s*[:=\-]?\s*(?:(?:le|am|el|on|in)\s+)?(?:[0-9]|" + _MONTH + ")",
)
NHS_RULE = Rule(NHS, _NHS_SHAPE, _nhs_check)
SSN_RULE = Rule(SSN, _BEFORE + r"[0-9]{3}(?:-[0-9]{2}-| [0-9]{2} )[0-9]{4}" + _AFTER)
PHONE_RULES = (
    Rule(PHONES, r"(?:^|[^0-9A-Za-z+])\+(?:[0-9][ ().\-]{0,2}){8,14}[0-9](?:$|[^0-9])"),
    Rule(PHONES, _BEFORE + r"\(?[0-9]{3}\)?[ .\-][0-9]{3}[ .\-][0-9]{4}" + _AFTER),
    Rule(PHONES, _BEFORE + r"\([0-9]{3}\) ?[0-9]{3}[ .\-]?[0-9]{4}" + _AFTER),
    Rule(PHONES, _BEFORE + r"0[1-9](?:[ .\-]?[0-9]){8,9}" + _AFTER),
)
#: 9 or more digits once leading zeros are set aside, or 9 digits with one leading zero (an
#: SSN such as 078-05-1120); "0000012345" and "00012345" are zero-padded ids and pass.
LONG_NUMBER = Rule(
    LONG_NUMBERS,
    r"(?:^|[^0-9A-Za-z.,/:\-])(?:0*[1-9][0-9]{8,}|0[1-9][0-9]{7})(?:$|[^0-9A-Za-z])",
)
NAMED = Rule(
    NAMES,
    r"(?:^|[^\pL])(?:(?:patient|client|paciente|patiente|klient|klientin|name|nom|nombre)"
    r"\s*:?\s+|(?i:patient|client|pt|paciente|patiente|klient|klientin|name|nom|nombre)\s*:\s*"
    r"|(?:Mr|Mrs|Ms|Miss|Mx|Dr|Herr|Frau|Sra|Srta|Mme|Mlle)\.?\s+)\p{Lu}\p{Ll}+",
)
ADDRESS_RULES = (
    Rule(  # UK postcode
        ADDRESSES,
        r"(?:^|[^0-9A-Za-z])[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][ABD-HJLNP-UW-Z]{2}(?:$|[^0-9A-Za-z])",
    ),
    Rule(ADDRESSES, r"(?:^|[^0-9A-Za-z])" + _US_STATES + r",? [0-9]{5}(?:-[0-9]{4})?(?:$|[^0-9])"),
    Rule(  # 12 Baker Street, 123 Main St.
        ADDRESSES,
        r"(?:^|[^0-9A-Za-z])[0-9]{1,5}[A-Za-z]?,? (?:\p{Lu}[\pL'’.\-]*\s+){1,4}(?i:"
        + _STREET_WORDS
        + r")\.?(?:$|[^\pL])",
    ),
    Rule(  # Hauptstraße 5, Bahnhofstr. 12, Lindenallee 3
        ADDRESSES, r"(?i)\pL{2,}(?:straße|strasse|str\.|gasse|allee|weg)\s*[0-9]{1,4}(?:$|[^0-9])"
    ),
    Rule(  # 12 rue de la Paix
        ADDRESSES,
        r"(?i)(?:^|[^0-9A-Za-z])[0-9]{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|bd|boulevard"
        r"|chemin|impasse|all[ée]e|quai)\s+\pL",
    ),
    Rule(  # Calle Mayor 5, Avda. de la Paz, 12
        ADDRESSES,
        r"(?i)(?:^|[^\pL])(?:calle|c/|avda\.?|avenida|plaza|paseo|carrera|carretera)\s*\pL"
        r"[\pL .]*,?\s*(?:n[º°o]\.?\s*)?[0-9]{1,4}(?:$|[^0-9])",
    ),
)
DATE_RULES = (
    Rule(  # 1985-03-14, 1985/3/14
        DATES,
        r"(?:^|[^0-9.,])" + _YEAR + r"[\-/.]" + _MONTH_NO + r"[\-/.]" + _DAY + r"(?:$|[^0-9])",
    ),
    Rule(  # 14/03/1985, 03-14-1985, 14.03.1985
        DATES, r"(?:^|[^0-9.,/:\-])" + _DAY + r"[\-/.]" + _DAY + r"[\-/.]" + _YEAR + r"(?:$|[^0-9])"
    ),
    Rule(  # 14/03/85, 14.03.85
        DATES,
        r"(?:^|[^0-9.,/:\-])(?:0[1-9]|[12][0-9]|3[01])[/.](?:0[1-9]|[12][0-9]|3[01])[/.][0-9]{2}"
        r"(?:$|[^0-9/.])",
    ),
    Rule(  # SMITH_J_19850314
        DATES,
        r"[_\s]" + _YEAR + r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])(?:$|[^0-9])",
    ),
    Rule(  # 14 Mar 1985, 14-mar-85, 14. März 1985, 14 de marzo de 1985
        DATES,
        r"(?i)(?:^|[^0-9A-Za-z])"
        + _DAY
        + r"(?:st|nd|rd|th|er|\.)?[ \-/]*(?:de\s+)?"
        + _MONTH
        + r"[ \-/,]*(?:de\s+)?(?:"
        + _YEAR
        + r"|[0-9]{2})(?:$|[^0-9])",
    ),
    Rule(  # March 14, 1985
        DATES,
        r"(?i)(?:^|[^\pL])"
        + _MONTH
        + r"\s+"
        + _DAY
        + r"(?:st|nd|rd|th)?,?\s+"
        + _YEAR
        + r"(?:$|[^0-9])",
    ),
)
PERSON_NAME = Rule(
    NAMES,
    r"^(?:(?:\p{Lu}\.\s*)+|"
    + _CAPITALISED
    + r",?\s+(?:\p{Lu}\.?\s+)?)"
    + _CAPITALISED
    + r"(?:\s+"
    + _CAPITALISED
    + r"){0,2}$|^\p{Lu}{2,},\s*\p{Lu}{2,}$",
)

#: The rule sets, in order of priority (a value is reported under the first rule it matches).
EVERYWHERE = (EMAIL, BIRTH_RULE, NAMED, SSN_RULE, *PHONE_RULES)
NUMBERS = (EMAIL, BIRTH_RULE, NAMED, NHS_RULE, SSN_RULE, *PHONE_RULES, LONG_NUMBER)
DATED_TEXT = (*NUMBERS, *ADDRESS_RULES)
TEXT = (*DATED_TEXT, *DATE_RULES)
PERSON = (*TEXT, PERSON_NAME)

#: Canonical columns whose values are people's labels (a name there is a person's name).
PERSON_COLUMNS = frozenset(["patient_id", "clinician"])
#: Canonical label columns, stored as written: free text as far as the gate is concerned.
LABEL_COLUMNS = frozenset(["patient_id", "protocol", "site", "clinician", "route", "phase"])
#: Canonical columns read as numbers, instrument names or yes/no words.
STRUCTURED_COLUMNS = frozenset(["session", "day", "score", "instrument", "treatment_resistant"])
#: Header words of an unmapped column that holds dates or times (dates are allowed there).
_DATE_HEADER_WORDS = frozenset(
    [
        "date",
        "dates",
        "datum",
        "daten",
        "fecha",
        "fechas",
        "time",
        "times",
        "timestamp",
        "datetime",
        "heure",
        "hora",
        "zeit",
        "uhrzeit",
        "completed",
        "administered",
        "created",
        "updated",
        "modified",
    ]
)


def rules_for(column: str, header_words: Sequence[str], *, item: bool = False) -> tuple[Rule, ...]:
    """The rules a column's values are checked with (see the module docstring)."""
    if column == "date":
        return EVERYWHERE
    if item or column in STRUCTURED_COLUMNS:
        return NUMBERS
    if column in PERSON_COLUMNS:
        return PERSON
    if column in LABEL_COLUMNS:
        return TEXT
    if not _DATE_HEADER_WORDS.isdisjoint(header_words):
        return DATED_TEXT
    return TEXT


# -- scanning -------------------------------------------------------------------------------

#: Every rule above needs, somewhere in the value, a character other than an ASCII letter,
#: digit or "-"; or a run of 9 digits; or a digit, "-" and a digit or letter; or one of these
#: letter sequences (a birth keyword, a month, a street word). Values without any (most
#: pseudonymous ids: D0001, P-0012, 1000234) cannot match and are not scanned further.
#: tests/data/test_privacy_values.py checks this for every example the rules must catch.
PREFILTER = (
    r"[^A-Za-z0-9\-]|[0-9]{9}|[0-9]-[0-9A-Za-z]|(?i:dob|born|birth|geb|nac|str|gasse|allee|weg"
    r"|calle|av|pla|pas|car|jan|feb|fev|mar|apr|avr|abr|may|mai|jun|jui|jul|aug|ao|ago|sep|set"
    r"|oct|okt|nov|dec|dez|dic|ene)"
)
_FORMAT_CHARACTERS = r"[\p{Cf}]"


@lru_cache(maxsize=32)
def _combined(rules: tuple[Rule, ...]) -> str:
    """One pattern matching every value some rule matches."""
    return "|".join(f"(?:{rule.pattern})" for rule in rules)


def _matches(values: pa.Array, pattern: str) -> np.ndarray:
    hit = pc.match_substring_regex(values, pattern)
    return np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)


def comparable(values: pa.Array) -> pa.Array:
    """Values as the rules see them: NFKC-normalised (full-width digits become digits), with
    invisible format characters (zero-width spaces, bidi controls) removed."""
    if len(values) == 0 or pc.all(pc.fill_null(pc.string_is_ascii(values), True)).as_py():
        return values
    stripped = pc.replace_substring_regex(values, _FORMAT_CHARACTERS, "")
    return pc.utf8_normalize(stripped, "NFKC")


def _narrow(values: pa.Array, positions: np.ndarray, keep: np.ndarray) -> tuple:
    return values.filter(pa.array(keep)), positions[keep]


def classify(values: pa.Array | pa.ChunkedArray, rules: tuple[Rule, ...]) -> np.ndarray:
    """For each value, the position in ``rules`` of the first rule it matches, or -1."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    found = np.full(len(values), -1, dtype=np.int16)
    if len(values) == 0 or not rules:
        return found
    values = comparable(values)
    positions = np.arange(len(values))
    values, positions = _narrow(values, positions, _matches(values, PREFILTER))
    if len(values):
        values, positions = _narrow(values, positions, _matches(values, _combined(rules)))
    left = np.ones(len(values), dtype=bool)
    for index, rule in enumerate(rules):
        if not left.any():
            break
        match = left & _matches(values, rule.pattern)
        if rule.check is not None and match.any():
            match[match] = rule.check(values.filter(pa.array(match)))
        found[positions[match]] = index
        left &= ~match
    return found


# -- hidden characters ----------------------------------------------------------------------

#: Control and invisible format characters (bidi overrides and isolates U+202A–U+202E and
#: U+2066–U+2069, zero-width U+200B–U+200D, U+2060, U+FEFF, soft hyphen …), and the Unicode
#: line and paragraph separators: none belongs in an id or a label.
HIDDEN_CHARACTERS = r"[\p{Cc}\p{Cf}\x{2028}\x{2029}]"


def _printable_ascii(values: pa.Array) -> bool:
    """Whether every byte of every value is printable ASCII (a quick look at the bytes)."""
    if values.null_count == len(values) or values.buffers()[2] is None:
        return True
    kind = np.int64 if pa.types.is_large_string(values.type) else np.int32
    offsets = np.frombuffer(values.buffers()[1], dtype=kind)[
        values.offset : values.offset + len(values) + 1
    ]
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return not data.size or (int(data.min()) >= 0x20 and int(data.max()) < 0x7F)


def hidden_characters(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """True for each value holding a control or invisible formatting character."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if len(values) == 0 or _printable_ascii(values):
        return np.zeros(len(values), dtype=bool)
    return _matches(values, HIDDEN_CHARACTERS)


def identifying_texts(texts: Sequence[str | None]) -> np.ndarray:
    """True for each text (a header, a title) that holds an identifier by the rules for text
    outside the data (emails, phone and long numbers, "DOB …", "patient Jane", addresses), so
    that a message can leave it out. None counts as not identifying."""
    values = pa.array([t if isinstance(t, str) else None for t in texts], pa.string())
    return classify(values, DATED_TEXT) >= 0
