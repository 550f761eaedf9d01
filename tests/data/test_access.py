"""Roles and permissions (data/access.py): the roles file is parsed and every malformed file is
refused with a message that names the fix; addresses and whole domains match case-blind, the
highest role wins; the page and feature tables; the sign-in settings check; the local-mode
loopback rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from data import access
from data.access import (
    CLINICIAN,
    OWNER,
    PAGES,
    RESEARCHER,
    Roles,
    RolesFileError,
    allowed,
    auth_problems,
    auth_providers,
    is_local_request,
    is_loopback,
    load_roles,
    may,
    may_undo,
    parse_roles,
)
from data.errors import ReliefCheckError

EXAMPLE = """
owner = ["alice@example.org"]
clinician = ["bob@example.org", "*@clinic.example"]   # a whole domain
researcher = ["carol@example.org"]
"""


@pytest.fixture
def roles() -> Roles:
    return parse_roles(EXAMPLE)


# --------------------------------------------------------------------------- parsing, matching


def test_the_documented_example(roles):
    assert roles.role_of("alice@example.org") == OWNER
    assert roles.role_of("bob@example.org") == CLINICIAN
    assert roles.role_of("carol@example.org") == RESEARCHER
    assert roles.role_of("mallory@example.net") is None
    assert len(roles) == 4


def test_a_domain_pattern_matches_every_address_at_that_domain_only(roles):
    assert roles.role_of("dave@clinic.example") == CLINICIAN
    assert roles.role_of("x.y+tag@clinic.example") == CLINICIAN
    assert roles.role_of("dave@sub.clinic.example") is None  # not a subdomain
    assert roles.role_of("dave@evilclinic.example") is None
    assert roles.role_of("dave@clinic.example.evil") is None


def test_matching_is_case_insensitive_both_ways():
    roles = parse_roles('owner = ["Alice@Example.ORG"]\nclinician = ["*@CLINIC.example"]')
    assert roles.role_of("alice@example.org") == OWNER
    assert roles.role_of("ALICE@EXAMPLE.ORG") == OWNER
    assert roles.role_of("  Dave@Clinic.Example ") == CLINICIAN


@pytest.mark.parametrize(
    "text",
    [
        'researcher = ["alice@example.org"]\nowner = ["alice@example.org"]',
        'owner = ["alice@example.org"]\nclinician = ["alice@example.org"]',
        'owner = ["alice@example.org"]\nresearcher = ["*@example.org"]',
        'owner = ["*@example.org"]\nresearcher = ["alice@example.org"]',
        'clinician = ["*@example.org"]\nowner = ["ALICE@example.org"]',
    ],
)
def test_the_highest_role_wins(text):
    assert parse_roles(text).role_of("alice@example.org") == OWNER


def test_clinician_over_researcher_through_a_domain():
    roles = parse_roles('clinician = ["*@clinic.example"]\nresearcher = ["eve@clinic.example"]')
    assert roles.role_of("eve@clinic.example") == CLINICIAN


def test_missing_lists_and_an_empty_file_let_nobody_in():
    assert parse_roles('owner = ["alice@example.org"]').role_of("bob@example.org") is None
    empty = parse_roles("")
    assert len(empty) == 0 and empty.role_of("alice@example.org") is None


@pytest.mark.parametrize("email", [None, "", "   ", "not-an-address", "*@clinic.example", "a@"])
def test_no_address_or_a_pattern_is_nobody(roles, email):
    assert roles.role_of(email) is None


def test_load_roles_reads_a_file(tmp_path):
    path = tmp_path / "roles.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    roles = load_roles(path)
    assert roles.role_of("Bob@Example.org") == CLINICIAN
    assert roles.source == str(path)


# --------------------------------------------------------------------------- malformed files

MALFORMED = {
    "not TOML": ("owner = [alice@example.org]", "is not valid TOML"),
    "unclosed list": ('owner = ["alice@example.org"', "is not valid TOML"),
    "unknown key": ('owners = ["alice@example.org"]', "'owners', which is not a role"),
    "a table": ('[owner]\nemail = "alice@example.org"', "owner must be a list"),
    "a string, not a list": ('owner = "alice@example.org"', "owner must be a list"),
    "a number in the list": ('clinician = ["bob@example.org", 3]', "clinician must be a list"),
    "a nested list": ('researcher = [["carol@example.org"]]', "researcher must be a list"),
    "no @": ('owner = ["alice"]', "'alice' in owner is not an e-mail address"),
    "empty local part": ('owner = ["@example.org"]', "is not an e-mail address"),
    "empty domain": ('owner = ["alice@"]', "is not an e-mail address"),
    "star domain": ('clinician = ["*@*"]', "is not an e-mail address"),
    "bare star": ('clinician = ["*"]', "is not an e-mail address"),
    "star inside a name": ('clinician = ["a*@clinic.example"]', "is not an e-mail address"),
    "two @": ('owner = ["a@b@example.org"]', "is not an e-mail address"),
    "space inside": ('owner = ["alice smith@example.org"]', "is not an e-mail address"),
    "empty string": ('owner = [""]', "is not an e-mail address"),
    "domain with a space": ('owner = ["alice@exa mple.org"]', "is not an e-mail address"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_roles_file_is_refused_with_its_fix(case):
    text, says = MALFORMED[case]
    with pytest.raises(RolesFileError) as err:
        parse_roles(text, source="/srv/roles.toml")
    message = str(err.value)
    assert says in message
    assert "/srv/roles.toml" in message
    assert isinstance(err.value, ReliefCheckError)


def test_the_messages_say_how_to_write_it():
    with pytest.raises(RolesFileError, match=r"\*@example.org for everyone"):
        parse_roles('owner = ["alice"]')
    with pytest.raises(RolesFileError, match="exactly three lists: owner, clinician, researcher"):
        parse_roles('admin = ["alice@example.org"]')


def test_a_missing_file_says_where_it_was_looked_for(tmp_path):
    path = tmp_path / "nowhere" / "roles.toml"
    with pytest.raises(RolesFileError) as err:
        load_roles(path)
    assert str(path) in str(err.value) and "RELIEFCHECK_ROLES" in str(err.value)


def test_a_file_that_is_not_text_is_refused(tmp_path):
    path = tmp_path / "roles.toml"
    path.write_bytes(b"\xff\xfe\x00owner")
    with pytest.raises(RolesFileError, match="cannot be read"):
        load_roles(path)


def test_the_roles_path_comes_from_the_environment_or_the_data_folder(tmp_path, monkeypatch):
    from sqlalchemy.engine import make_url

    from data.store import default_db_url

    monkeypatch.delenv("RELIEFCHECK_DB_URL", raising=False)
    monkeypatch.delenv(access.ROLES_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    store_file = Path(make_url(default_db_url()).database)
    assert access.roles_path() == store_file.parent / "roles.toml"  # beside the default store
    monkeypatch.setenv("RELIEFCHECK_DB_URL", "postgresql://db.example/reliefcheck")
    assert access.roles_path() == store_file.parent / "roles.toml"  # whatever the store
    monkeypatch.setenv(access.ROLES_ENV, str(tmp_path / "elsewhere.toml"))
    assert access.roles_path() == tmp_path / "elsewhere.toml"


# --------------------------------------------------------------------------- permissions

TABLE = {  # page: (owner, clinician, researcher), as in docs/access.md
    "overview": (True, True, True),
    "claims": (True, True, True),
    "trajectories": (True, True, True),
    "outcomes": (True, True, True),
    "safety": (True, True, True),
    "compare": (True, True, True),
    "patient": (True, True, False),
    "upload": (True, True, False),
    "uploads": (True, True, False),
    "downloads": (True, True, True),
    "settings": (True, False, False),
    "help": (True, True, True),
}


def test_the_page_table():
    assert set(PAGES) == set(TABLE)
    for page, row in TABLE.items():
        assert tuple(allowed(r, page) for r in (OWNER, CLINICIAN, RESEARCHER)) == row, page
        assert not allowed(None, page)  # signed out, or not in the roles file
        assert not allowed("admin", page)


def test_every_page_script_has_a_row():
    pages = Path(__file__).resolve().parents[2] / "dashboard" / "app_pages"
    assert {p.stem for p in pages.glob("*.py")} == set(PAGES)


def test_an_unknown_page_or_feature_is_a_programming_error():
    with pytest.raises(KeyError):
        allowed(OWNER, "admin")
    with pytest.raises(KeyError):
        may(OWNER, "everything")


def test_details_inside_pages():
    assert [may(r, "patient_ids") for r in (OWNER, CLINICIAN, RESEARCHER, None)] == [
        True, True, False, False
    ]  # fmt: skip
    assert [may(r, "patient_level_download") for r in (OWNER, CLINICIAN, RESEARCHER)] == [
        True, False, False
    ]  # fmt: skip


def test_owners_undo_any_upload_clinicians_only_their_own():
    assert may_undo(OWNER, "alice@example.org", "bob@example.org")
    assert may_undo(OWNER, "local", "")
    assert may_undo(CLINICIAN, "bob@example.org", "Bob@Example.org ")
    assert not may_undo(CLINICIAN, "bob@example.org", "alice@example.org")
    assert not may_undo(CLINICIAN, "bob@example.org", "")
    assert not may_undo(CLINICIAN, "", "")
    assert not may_undo(RESEARCHER, "carol@example.org", "carol@example.org")
    assert not may_undo(None, "x@example.org", "x@example.org")


# --------------------------------------------------------------------------- sign-in settings

GOOD = {
    "redirect_uri": "https://rc.clinic.example/oauth2callback",
    "cookie_secret": "s" * 64,
    "client_id": "id",
    "client_secret": "secret",
    "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
}


def test_complete_auth_settings_have_no_problem():
    assert auth_problems(GOOD) == []
    assert auth_providers(GOOD) == [None]
    named = {
        "redirect_uri": GOOD["redirect_uri"],
        "cookie_secret": "x" * 32,
        "microsoft": {k: GOOD[k] for k in ("client_id", "client_secret", "server_metadata_url")},
    }
    assert auth_problems(named) == [] and auth_providers(named) == ["microsoft"]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"cookie_secret": ""}, "[auth] has no cookie_secret"),
        ({"redirect_uri": None}, "[auth] has no redirect_uri"),
        ({"client_secret": ""}, "[auth] has no client_secret"),
        ({"redirect_uri": "https://rc.example/callback"}, "must end with /oauth2callback"),
        ({"client_id": None, "google": {"client_id": "x"}}, "[auth.google] has no client_secret"),
        ({"client_id": None}, "names no provider"),
        ({"my_idp": dict.fromkeys(("client_id", "client_secret", "server_metadata_url"), "x")},
         "cannot contain '_'"),
    ],
)  # fmt: skip
def test_incomplete_auth_settings_are_named(change, says):
    section = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    assert any(says in p for p in auth_problems(section)), auth_problems(section)


# --------------------------------------------------------------------------- local mode


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"]
)
def test_loopback_addresses(address):
    assert is_loopback(address)


@pytest.mark.parametrize("address", [None, "", "0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "x"])
def test_other_addresses(address):
    assert not is_loopback(address)


def test_local_mode_serves_this_computer_only():
    # a known client address: loopback only, whatever the binding
    assert is_local_request("127.0.0.1", None, forwarded=False)
    assert not is_local_request("192.168.1.20", "127.0.0.1", forwarded=False)
    assert not is_local_request("2001:db8::7", "::1", forwarded=False)
    # no address (Streamlit reports loopback clients as None): only on a loopback binding
    assert is_local_request(None, "127.0.0.1", forwarded=False)
    assert is_local_request(None, "localhost", forwarded=False)
    assert not is_local_request(None, None, forwarded=False)  # all interfaces (the default)
    assert not is_local_request(None, "0.0.0.0", forwarded=False)
    assert is_local_request(None, None, forwarded=False, no_server=True)  # AppTest
    # through a proxy: never
    assert not is_local_request(None, "127.0.0.1", forwarded=True)
    assert not is_local_request("127.0.0.1", "127.0.0.1", forwarded=True, no_server=True)


def test_forwarding_headers_are_recognised():
    assert access.forwarded(["Host", "X-Forwarded-For"])
    assert access.forwarded(["forwarded"])
    assert access.forwarded(["X-Real-IP"])
    assert not access.forwarded(["Host", "User-Agent", "Cookie"])
