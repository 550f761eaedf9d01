"""The header half of the privacy gate (data.validation.privacy): does a column's header announce that it
holds something that identifies a person?

A header is cut into words, case-, accent- and punctuation-blind ("Date of Birth",
"date_of_birth", "DateOfBirth" and "DATE-OF-BIRTH" are one header; "Prénom" is "prenom",
"Straße" is "strasse"; "#" reads as the word "number"). Then, in this order:

* a word that is an identifier by itself (``_ID_WORDS``: ssn, dob, born, email, phone, cell,
  contact, address, vorname, apellido, courriel …) or contains one (``_ID_STEMS``:
  "Telefonnummer", "Geburtsdatum", "E-Mail-Adresse", "Fecha de nacimiento" …);
* a word for "name" (name, nm, nom, nombre, and compounds ending in "name" such as
  "Patientenname" or "PTNAME"), unless a thing is named: the word before it is a thing
  ("Instrument name", "Site Nm", "Instrumentenname") or the words after it are
  ("Nom du site", "Nombre de la escala", and, for the French "nombre" = number, "Nombre de
  séances", "Nombre total");
* two or three consecutive words (``_ID_PHRASES``: "Soc Sec No", "Med Rec #", "D.O.B.",
  "NI number", "Medicaid ID", "code postal" …);
* a header made only of the words first, last, middle, given … ("First", "Last", "Last,
  First", "Middle initial"). "Last session" or "Days since last dose" are not names.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

NAMES = "people's names"
EMAILS = "email addresses"
PHONES = "phone numbers"
CONTACTS = "contact details"
ADDRESSES = "postal addresses"
POSTCODES = "postcodes or ZIP codes"
BIRTH = "dates of birth"
SSN = "social security or national insurance numbers"
RECORDS = "medical record numbers"
NHS = "NHS numbers"
INSURANCE = "insurance numbers"
ID_DOCUMENTS = "passport or identity card numbers"


def _words(kind: str, words: str) -> dict[str, str]:
    """{word: kind} for each word of the space-separated ``words``."""
    return dict.fromkeys(words.split(), kind)


#: Single words that make a header an identifier, with what the column would hold.
_ID_WORDS: dict[str, str] = {
    **_words(
        NAMES,
        "surname surnames forename forenames fname lname initials prenom prenoms apellido "
        "apellidos",
    ),
    **_words(EMAILS, "email emails courriel correo"),
    **_words(
        PHONES,
        "phone phones telephone tel telf tlf mobile mobil movil cell cellphone cellular celular "
        "handy portable fax",
    ),
    **_words(CONTACTS, "contact contacts kontakt kontakte contacto contactos"),
    **_words(ADDRESSES, "street strasse calle anschrift direccion domicilio wohnort"),
    **_words(POSTCODES, "zip plz"),
    **_words(BIRTH, "dob born bday geb geboren ddn naiss fnac"),
    **_words(SSN, "ssn nss nir svnr dni nif curp"),
    **_words(RECORDS, "mrn nhc"),
    **_words(NHS, "nhsnumber nhsno"),
    **_words(ID_DOCUMENTS, "passport passeport pasaporte reisepass"),
}

#: Parts of words that make any word containing them an identifier ("Telefonnummer").
_ID_STEMS: tuple[tuple[str, str], ...] = (
    ("email", EMAILS),
    ("courriel", EMAILS),
    ("phone", PHONES),
    ("telefon", PHONES),
    ("handynummer", PHONES),
    ("mobilnummer", PHONES),
    ("address", ADDRESSES),
    ("adress", ADDRESSES),
    ("postcode", POSTCODES),
    ("zipcode", POSTCODES),
    ("postleitzahl", POSTCODES),
    ("birth", BIRTH),
    ("geburt", BIRTH),
    ("naissance", BIRTH),
    ("nacimiento", BIRTH),
    ("socialsecurity", SSN),
    ("sozialversicherung", SSN),
    ("versicherungsnummer", INSURANCE),
    ("versichertennummer", INSURANCE),
    ("ausweis", ID_DOCUMENTS),
)

_NUMBER = ("number", "no", "nr", "num", "nbr", "nummer", "numero", "id")

#: Word sequences that make a header an identifier (matched as consecutive words).
_ID_PHRASES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("e", "mail"), EMAILS),
    (("d", "o", "b"), BIRTH),
    (("ne", "le"), BIRTH),
    (("nee", "le"), BIRTH),
    (("fecha", "nac"), BIRTH),
    (("f", "nac"), BIRTH),
    (("fec", "nac"), BIRTH),
    (("social", "security"), SSN),
    (("soc", "sec"), SSN),
    (("social", "insurance"), SSN),
    (("national", "insurance"), SSN),
    *((("ni", n), SSN) for n in _NUMBER),
    *((("sin", n), SSN) for n in _NUMBER),
    *((("ss", n), SSN) for n in _NUMBER),
    (("sv", "nummer"), SSN),
    (("sv", "nr"), SSN),
    (("securite", "sociale"), SSN),
    (("seguridad", "social"), SSN),
    (("seguro", "social"), SSN),
    (("national", "id"), ID_DOCUMENTS),
    (("id", "card"), ID_DOCUMENTS),
    *(
        ((*d, lic), ID_DOCUMENTS)
        for d in (("driver",), ("drivers",), ("driver", "s"), ("driving",))
        for lic in ("license", "licence")
    ),
    (("medical", "record"), RECORDS),
    (("med", "rec"), RECORDS),
    (("health", "record"), RECORDS),
    (("historia", "clinica"), RECORDS),
    (("dossier", "medical"), RECORDS),
    (("numero", "de", "dossier"), RECORDS),
    (("numero", "dossier"), RECORDS),
    (("n", "dossier"), RECORDS),
    (("no", "dossier"), RECORDS),
    *((("hospital", n), RECORDS) for n in _NUMBER[:-1]),
    *((("chart", n), RECORDS) for n in _NUMBER[:-1]),
    (("nhs", "number"), NHS),
    (("nhs", "no"), NHS),
    (("nhs", "id"), NHS),
    (("chi", "number"), "CHI numbers"),
    (("chi", "no"), "CHI numbers"),
    *((("insurance", n), INSURANCE) for n in _NUMBER),
    (("insurance", "card"), INSURANCE),
    *((("member", n), INSURANCE) for n in _NUMBER),
    *((("subscriber", n), INSURANCE) for n in _NUMBER),
    *((("policy", n), INSURANCE) for n in _NUMBER),
    *((("medicaid", n), INSURANCE) for n in _NUMBER),
    *((("medicare", n), INSURANCE) for n in _NUMBER),
    (("post", "code"), POSTCODES),
    (("postal", "code"), POSTCODES),
    (("zip", "code"), POSTCODES),
    (("code", "postal"), POSTCODES),
    (("codigo", "postal"), POSTCODES),
    (("next", "of", "kin"), CONTACTS),
    (("ph", "number"), PHONES),
    (("ph", "no"), PHONES),
)

_PHRASE_KIND: dict[tuple[str, ...], str] = {}
for _phrase, _kind in _ID_PHRASES:
    _PHRASE_KIND.setdefault(_phrase, _kind)
_PHRASE_LENGTHS = sorted({len(p) for p in _PHRASE_KIND})

#: Words for "name".
_NAME_WORDS = frozenset(["name", "names", "nm", "nom", "noms", "nombre", "nombres", "namen"])
#: Endings of compound words that are a kind of name ("Vorname", "Patientenname", "PTNAME").
_NAME_ENDINGS = ("names", "namen", "name")

#: Things that have names (a header naming one of them is not about a person), in English,
#: German, French and Spanish; compared after a plural "s"/"es"/"en"/"n" is taken off.
_THINGS = frozenset(
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
        "sample",
        "visit",
        "session",
        "instrumento",
        "escala",
        "echelle",
        "skala",
        "skalen",
        "protocole",
        "protocolo",
        "protokoll",
        "sitio",
        "centro",
        "clinique",
        "clinica",
        "klinik",
        "praxis",
        "programa",
        "programm",
        "fichier",
        "archivo",
        "datei",
        "hoja",
        "feuille",
        "blatt",
        "estudio",
        "etude",
        "studie",
        "grupo",
        "groupe",
        "gruppe",
        "equipo",
        "equipe",
        "tratamiento",
        "traitement",
        "behandlung",
        "medicamento",
        "medicament",
        "medikament",
        "cuestionario",
        "fragebogen",
        "formulario",
        "formulaire",
        "formular",
        "encuesta",
        "enquete",
        "umfrage",
        "variable",
        "campo",
        "champ",
        "feld",
        "columna",
        "colonne",
        "spalte",
        "standort",
        "lugar",
        "lieu",
        "sede",
        "ubicacion",
        "einrichtung",
        "etablissement",
        "establecimiento",
    ]
)
#: Words that may stand between "name" and the thing it names ("Nom du site").
_CONNECTIVES = frozenset(
    [
        "of",
        "the",
        "de",
        "du",
        "del",
        "des",
        "d",
        "la",
        "le",
        "l",
        "der",
        "die",
        "das",
        "dem",
        "el",
        "los",
        "las",
    ]
)
#: What the French "nombre" (number) counts: "Nombre de séances" is not a name.
_COUNTED = frozenset(
    [
        "seance",
        "session",
        "jour",
        "visite",
        "item",
        "question",
        "dose",
        "point",
        "patient",
        "reponse",
        "semaine",
        "mois",
        "essai",
        "evaluation",
        "questionnaire",
        "score",
    ]
)
#: Parts of a person's name; a header made only of these ("First", "Last, First") is a name.
_NAME_PARTS = frozenset(["first", "last", "middle", "given", "family", "maiden", "initial"])
_NAME_PART_LEADS = frozenset(["first", "last", "middle", "given"])


def header_words(header: object) -> list[str]:
    """The words of a header, lower-case, without accents: 'DateOfBirth' and 'date_of_birth' →
    date, of, birth; 'Prénom' → prenom; 'Med Rec #' → med, rec, number."""
    text = unicodedata.normalize("NFKD", str(header))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("#", " number ")
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    return re.findall(r"[^\W\d_]+|\d+", spaced.casefold())


def _singular(word: str) -> tuple[str, ...]:
    """A word and its forms without a plural ending (instruments → instrument)."""
    forms = [word]
    for ending in ("es", "en", "s", "n"):
        if word.endswith(ending) and len(word) > len(ending) + 2:
            forms.append(word[: -len(ending)])
    return tuple(forms)


def _is_thing(word: str) -> bool:
    return any(form in _THINGS for form in _singular(word))


def _after_connectives(words: list[str], i: int) -> str | None:
    """The first word after position ``i`` that is not a connective ("Nom du site" → site)."""
    for word in words[i + 1 :]:
        if word not in _CONNECTIVES:
            return word
    return None


def _names_a_thing(words: list[str], i: int) -> bool:
    """Whether the name word at ``i`` is the name of a thing (Site name, Nom du site, Nombre de
    séances)."""
    if i > 0 and _is_thing(words[i - 1]):
        return True
    following = _after_connectives(words, i)
    if following is None:
        return False
    if _is_thing(following):
        return True
    if words[i] == "nombre":  # French: "number of"
        counted = any(form in _COUNTED for form in _singular(following))
        return following == "total" or (counted and following.endswith(("s", "x")))
    return False


def _compound_name(word: str) -> bool:
    """A compound ending in "name" that names a person (Vorname, Patientenname, PTNAME), not a
    thing (Instrumentenname, Dateiname, filename)."""
    for ending in _NAME_ENDINGS:
        if word.endswith(ending) and len(word) > len(ending):
            stem = word[: -len(ending)]
            return not (_is_thing(stem) or _is_thing(stem.rstrip("s")))
    return False


def _word_kind(words: list[str], i: int) -> str | None:
    """What word ``i`` of a header announces on its own, or None."""
    word = words[i]
    kind = _ID_WORDS.get(word)
    if kind is not None:
        return kind
    if word == "mail":  # "Mail" or "E-Mail", not "mail merge"
        alone = len(words) == 1 or (i > 0 and words[i - 1] == "e")
        return EMAILS if alone or _after_connectives(words, i) in ("address", "adresse") else None
    if word in _NAME_WORDS:
        return None if _names_a_thing(words, i) else NAMES
    if _compound_name(word):
        return NAMES
    for stem, stem_kind in _ID_STEMS:
        if stem in word:
            return stem_kind
    return None


def identifier_kind(header: object) -> str | None:
    """What identifying content a header announces ('phone numbers', …), or None."""
    return _header_kind(str(header))


@lru_cache(maxsize=4096)
def _header_kind(header: str) -> str | None:
    words = header_words(header)
    if not words:
        return None
    for i in range(len(words)):
        kind = _word_kind(words, i)
        if kind is not None:
            return kind
    for k in _PHRASE_LENGTHS:
        for i in range(len(words) - k + 1):
            kind = _PHRASE_KIND.get(tuple(words[i : i + k]))
            if kind is not None:
                return kind
    if set(words) <= _NAME_PARTS and not _NAME_PART_LEADS.isdisjoint(words):
        return NAMES
    return None
