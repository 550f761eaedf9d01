"""The header half of the privacy gate (data.validation.privacy_headers): headers that announce an
identifier are refused, in English, German, French and Spanish, abbreviated or not; every
header the readers map, the sample files' headers and look-alikes such as "last session" pass.
"""

import tomllib
from pathlib import Path

import pandas as pd
import pytest

from data.demo.samples import SAMPLE_FILES, SAMPLES_DIR
from data.instruments import default_registry
from data.validation.privacy import find_identifiers, header_words, identifier_kind
from tests.data.test_privacy import table

VOCABULARY = Path(__file__).resolve().parents[2] / "data" / "vocabulary.toml"

#: Issue 10's probe: headers the gate used to miss.
ISSUE_10_HEADERS = [
    "Pt_Nm", "Med Rec #", "Soc Sec No", "D.O.B.", "Born", "Birth", "Geburtsdatum",
    "Nom du patient", "Nombre", "Vorname", "First", "Last", "First Name", "Contact", "Cell",
    "Emergency contact", "Medicaid ID", "NI number",
]  # fmt: skip

#: German, French and Spanish words for name, birth date, phone, address, email.
OTHER_LANGUAGE_HEADERS = [
    "Nachname", "Familienname", "Patientenname", "Name, Vorname", "Geburtstag", "Geb.-Datum",
    "Telefon", "Telefonnummer", "Handy", "Handynummer", "Adresse", "Anschrift", "Straße", "PLZ",
    "Postleitzahl", "E-Mail-Adresse", "Sozialversicherungsnummer", "Versichertennummer",
    "Prénom", "Nom", "Nom de famille", "Date de naissance", "Né le", "Téléphone", "Portable",
    "Courriel", "Adresse e-mail", "Code postal", "Numéro de sécurité sociale", "N° dossier",
    "Nombre del paciente", "Nombre completo", "Apellido", "Apellidos", "Telefono", "Teléfono",
    "Móvil", "Celular", "Fecha de nacimiento", "F. nac.", "Dirección", "Domicilio", "Correo",
    "Correo electrónico", "Código postal", "Número de seguridad social", "DNI",
    "Historia clínica",
]  # fmt: skip

#: Abbreviations and punctuation variants of English headers.
ABBREVIATED_HEADERS = [
    "PtName", "PTNAME", "Pt. Name", "Last_Nm", "FName", "lname", "Last, First", "First/Last",
    "Middle initial", "DOB", "d_o_b", "Date-of-Birth", "BirthDate", "Bday", "SSN", "SS#",
    "Soc. Sec. #", "MRN", "Med. Rec. No.", "Chart #", "Hospital No", "NHS No.", "NHSNumber",
    "NI No", "SIN number", "Medicare #", "Medicaid No", "Subscriber ID", "Ph #", "Tel.",
    "Cell phone", "Mobile #", "Next of kin", "Emergency Contact Phone", "Zip", "Postcode",
    "Street address", "E-mail", "Mail", "Passport no", "Driver's license",
]  # fmt: skip

REFUSED_HEADERS = ISSUE_10_HEADERS + OTHER_LANGUAGE_HEADERS + ABBREVIATED_HEADERS

#: Headers that name a thing, a time or a pseudonymous label, not a person.
LOOKALIKE_HEADERS = [
    "Instrument name", "Site name", "Protocol name", "Measure Name", "Program name",
    "File name", "Sheet name", "Site Nm", "clinician", "site", "session", "day",
    "last session", "Last Session", "last_session", "days since last dose", "First visit",
    "first_session_day", "Last assessment date", "Nom du site", "Nom de l'instrument",
    "Nombre de séances", "Nombre total", "Nombre de la escala", "Name des Instruments",
    "Instrumentenname", "Dateiname", "Session #", "Visit #", "Record ID", "Case ID",
    "Client ID", "Patient ID", "Study ID", "Subject", "Pseudonym", "Notes", "Location",
    "Office", "Treatment resistant", "Route", "Dose (mg/kg)", "Mailing list opt-in?",
]  # fmt: skip


def _vocabulary_headers() -> list[str]:
    """Every header the export vocabulary maps, and every instrument name and alias."""
    doc = tomllib.loads(VOCABULARY.read_text(encoding="utf-8"))
    out = [alias for aliases in doc["columns"].values() for alias in aliases]
    out += list(doc["columns"])
    for instrument in default_registry():
        out += [instrument.key, *instrument.aliases]
        out += [f"{name} total" for name in (instrument.key, *instrument.aliases)]
        out += [f"{instrument.key}_{k}" for k in range(1, (instrument.items or 0) + 1)]
    return sorted(set(out))


def _sample_headers() -> list[str]:
    """The headers of every sample export shipped in data/samples/."""
    out: set[str] = set()
    for name in SAMPLE_FILES:
        path = Path(SAMPLES_DIR) / name
        if name.endswith(".csv"):
            sep = ";" if name == "semicolon.csv" else ","
            out.update(pd.read_csv(path, sep=sep, nrows=1).columns)
        else:
            out.update(pd.read_excel(path, sheet_name="Scores", nrows=1).columns)
    return sorted(out)


@pytest.mark.parametrize("header", REFUSED_HEADERS)
def test_identifying_header_is_refused(header):
    assert identifier_kind(header) is not None


@pytest.mark.parametrize("header", LOOKALIKE_HEADERS)
def test_thing_time_or_label_header_is_allowed(header):
    assert identifier_kind(header) is None


@pytest.mark.parametrize("header", _vocabulary_headers())
def test_every_header_the_readers_map_is_allowed(header):
    assert identifier_kind(header) is None


@pytest.mark.parametrize("header", _sample_headers())
def test_every_sample_file_header_is_allowed(header):
    assert identifier_kind(header) is None


def test_a_vocabulary_file_was_found():
    # the two lists above must not be silently empty
    assert len(_vocabulary_headers()) > 50 and len(_sample_headers()) > 20


def test_header_words_fold_case_accents_and_punctuation():
    assert header_words("Prénom") == ["prenom"]
    assert header_words("Straße") == ["strasse"]
    assert header_words("Med Rec #") == ["med", "rec", "number"]
    assert header_words("PtName") == ["pt", "name"]


@pytest.mark.parametrize(
    ("header", "kind"),
    [("D.O.B.", "dates of birth"), ("Cell", "phone numbers"), ("Pt_Nm", "people's names"),
     ("Med Rec #", "medical record numbers"), ("Emergency contact", "contact details")],
)  # fmt: skip
def test_refused_header_names_what_it_holds(header, kind):
    assert identifier_kind(header) == kind


def test_refused_header_problem_names_the_column_and_not_its_values():
    raw = table({"patient_id": ["P-1"], "x": ["Quincy"]}, origin={"x": "Nom du patient"})
    (problem,) = find_identifiers(raw)
    assert problem.column == "Nom du patient"
    assert "people's names" in problem.message
    assert "Quincy" not in problem.message + problem.fix
