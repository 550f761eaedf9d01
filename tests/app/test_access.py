"""Sign-in and roles in the dashboard, run headless with Streamlit's AppTest: every page in
every role and signed out, through the app frame and as page scripts on their own; the refusals
(not in the roles file, a bad roles file, incomplete sign-in settings, local mode from another
computer) and their log lines. What each role sees inside the pages: test_access_pages.py.

AppTest fakes the signed-in user the way Streamlit documents it: ``at.secrets`` holds the
``[auth]`` section (the dashboard reads it through ``st.secrets``, which AppTest swaps) and
``at.user`` is what the run reads as ``st.user``. Local mode has no client address in AppTest,
so a request from another computer is made by patching ``dashboard.access._client_address``."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import access, results, state
from dashboard.components import md_escape

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")
WIDE = ROOT / "data" / "samples" / "wide.csv"
AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "c" * 64,
        "client_id": "reliefcheck", "client_secret": "s" * 32,
        "server_metadata_url": "https://idp.example/.well-known/openid-configuration"}  # fmt: skip
ROLES = """owner = ["alice@example.org"]
clinician = ["bob@example.org", "*@clinic.example"]
researcher = ["carol@example.org"]
"""
USERS = {"owner": "alice@example.org", "clinician": "Dave@Clinic.Example",
         "researcher": "carol@example.org"}  # fmt: skip
ALL, STAFF = {"owner", "clinician", "researcher"}, {"owner", "clinician"}
#: page -> (the header it shows, its title in the navigation, who may open it): docs/access.md
PAGES = {"overview": ("Overview", "Overview", ALL), "claims": ("Claims", "Claims", ALL),
         "trajectories": ("Trajectories", "Trajectories", ALL),
         "outcomes": ("Outcomes", "Outcomes", ALL), "safety": ("Safety", "Safety", ALL),
         "compare": ("Sites & clinicians", "Sites & clinicians", ALL),
         "patient": ("Patient", "Patient", STAFF),
         "upload": ("Upload an outcomes export", "Upload", STAFF),
         "uploads": ("Uploads history", "Uploads history", STAFF),
         "downloads": ("Downloads", "Downloads", ALL),
         "settings": ("Settings", "Settings", {"owner"}),
         "help": ("Help: what each figure means", "Help: what each figure means", ALL)}  # fmt: skip
PATIENT_ID = re.compile(r"\bD\d{4}\b")  # the demo cohort's and wide.csv's pseudonymous ids


def store_and_roles(tmp_path: Path, monkeypatch) -> str:
    """A fresh store and the roles file above; returns the store URL."""
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("RELIEFCHECK_DB_URL", url)
    (tmp_path / "roles.toml").write_text(ROLES, encoding="utf-8")
    monkeypatch.setenv("RELIEFCHECK_ROLES", str(tmp_path / "roles.toml"))
    return url


@pytest.fixture(autouse=True)
def setting(tmp_path, monkeypatch) -> str:
    return store_and_roles(tmp_path, monkeypatch)


@pytest.fixture
def no_data(monkeypatch):
    """Make any read of the practice's data fail the run (and so the test)."""
    for name in ("data_ref", "full_tidy", "store", "sidebar_filters", "context", "options"):
        monkeypatch.setattr(state, name, _forbidden(name))
    for name in ("full_tidy", "attributes", "positions"):  # results' own references
        monkeypatch.setattr(results, name, _forbidden(name))


def _forbidden(name):
    def read(*args, **kwargs):
        raise AssertionError(f"{name} was called before access was granted")

    return read


def _app(user: dict | None, script: str = APP, auth: dict | None = AUTH) -> AppTest:
    at = AppTest.from_file(script, default_timeout=120)
    if auth is not None:
        at.secrets = {"auth": auth}
    at.user = user if user is not None else {"is_logged_in": False}
    return at


def _signed_in(email: str) -> dict:
    return {"is_logged_in": True, "email": email, "email_verified": True, "name": "Test"}


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def _text(at: AppTest) -> str:
    """Everything the run sent: text, tables (as bytes) and chart specs."""
    out: list[str] = []

    def walk(node) -> None:
        if getattr(node, "type", "") == "dataframe":
            out.append(node.value.to_csv())  # the proto holds the table compressed
        elif getattr(node, "proto", None) is not None:
            out.append(str(node.proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(out)


def _no_practice_data(at: AppTest) -> None:
    _ok(at)
    assert not at.metric and not at.dataframe and not at.get("plotly_chart")
    assert not at.multiselect and not at.header  # no filters, no page
    assert not PATIENT_ID.search(_text(at))


def _nav_spy(monkeypatch) -> list[list[str]]:
    """The titles each run lists in the navigation (hidden pages left out)."""
    seen: list[list[str]] = []
    real = st.navigation

    def spy(pages, **kwargs):
        seen.append([p.title for ps in pages.values() for p in ps if p.visibility == "visible"])
        return real(pages, **kwargs)

    monkeypatch.setattr(st, "navigation", spy)
    return seen


# --------------------------------------------------------------------------- signed out


@pytest.mark.parametrize("page", list(PAGES))
def test_signed_out_every_address_gives_the_sign_in_screen_only(page, no_data, monkeypatch):
    seen = _nav_spy(monkeypatch)
    at = _app(None)
    at.run()
    if page != "overview":
        at.switch_page(f"app_pages/{page}.py").run()
    _no_practice_data(at)
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.sidebar.children and seen == []  # no navigation at all


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_script_guards_itself(page, no_data):
    """Run without the app frame, each page refuses on its own: a signed-out visitor, and a
    role the page does not allow."""
    script = str(ROOT / "dashboard" / "app_pages" / f"{page}.py")
    at = _app(None, script=script)
    at.run()
    _no_practice_data(at)
    assert [b.label for b in at.button] == ["Sign in"]
    if page in ("patient", "upload", "uploads", "settings"):
        at = _app(_signed_in(USERS["researcher"]), script=script)
        at.run()
        _no_practice_data(at)
        assert any("Your role (researcher) cannot open" in w.value for w in at.warning)


# --------------------------------------------------------------------------- every role


@pytest.mark.parametrize("role", sorted(ALL))
def test_every_page_in_every_role(role, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="reliefcheck")
    seen = _nav_spy(monkeypatch)
    at = _app(_signed_in(USERS[role]))
    at.run()
    _ok(at)
    assert seen[-1] == [title for _, title, who in PAGES.values() if role in who]
    assert f"Signed in as **{md_escape(USERS[role].lower())}**  \nRole: **{role}**" in [
        m.value for m in at.sidebar.markdown
    ]
    assert "Sign out" in [b.label for b in at.sidebar.button]
    for page, (header, title, who) in PAGES.items():
        at.switch_page(f"app_pages/{page}.py").run()
        _ok(at)
        headers = [h.value for h in at.header]
        refused = [w.value for w in at.warning if "cannot open" in w.value]
        if role in who:
            assert header in headers and not refused, page
        else:
            assert not headers and not at.dataframe and not at.multiselect, page
            assert refused == [
                f"Your role ({role}) cannot open the {title} page. Ask the "
                "practice's owner if you need it."
            ]
    logged = [r.getMessage() for r in caplog.records if r.name == "reliefcheck.access"]
    assert logged.count(f"signed in: {USERS[role].lower()} as {role}") == 1  # once a session
    assert len(logged) == 1 + sum(role not in w for *_, w in PAGES.values())  # + refusals
    assert not PATIENT_ID.search(caplog.text)


def test_signed_in_but_not_in_the_roles_file(no_data, caplog):
    caplog.set_level(logging.INFO, logger="reliefcheck")
    at = _app(_signed_in("mallory@example.net"))
    at.run()
    _no_practice_data(at)
    assert any("You have no access to this practice's data; ask its owner." in w.value
               for w in at.warning)  # fmt: skip
    assert [b.label for b in at.button] == ["Sign out"]
    assert "refused: mallory@example.net is not in the roles file" in caplog.text
    at.button(key="access_sign_out").click().run()
    assert at.user == {"is_logged_in": False}
    assert "signed out: mallory@example.net" in caplog.text
    at.run()
    _no_practice_data(at)
    assert [b.label for b in at.button] == ["Sign in"]


@pytest.mark.parametrize("claims", [{"email_verified": False}, {"email": ""}])
def test_no_verified_email_no_role(claims, no_data):
    at = _app(_signed_in(USERS["owner"]) | claims)
    at.run()
    _no_practice_data(at)
    assert any("verified e-mail address" in w.value for w in at.warning)


@pytest.mark.parametrize(
    ("roles", "says"),
    [(None, "There is no roles file at"), ('owner = "alice@example.org"', "owner must be a list"),
     ('owners = ["alice@example.org"]', "not a role"), ("owner = [", "not valid TOML"),
     ('clinician = ["*@*"]', "is not an e-mail address")],
)  # fmt: skip
def test_a_bad_roles_file_lets_nobody_in(roles, says, tmp_path, no_data, caplog):
    path = tmp_path / "roles.toml"
    path.unlink()
    if roles is not None:
        path.write_text(roles, encoding="utf-8")
    at = _app(_signed_in(USERS["owner"]))
    at.run()
    _no_practice_data(at)
    assert any("The roles file cannot be used" in e.value and says in e.value for e in at.error)
    assert "the roles file is unusable" in caplog.text and says in caplog.text


def test_incomplete_sign_in_settings_are_an_error_not_local_mode(no_data, caplog):
    at = _app(_signed_in(USERS["owner"]), auth={k: v for k, v in AUTH.items() if k != "client_id"})
    at.run()
    _no_practice_data(at)
    assert any("Sign-in is not set up correctly" in e.value for e in at.error)
    assert "[auth] names no provider" in caplog.text


# --------------------------------------------------------------------------- local mode


def test_local_mode_is_the_owner_under_a_banner():
    at = _app({"email": "test@example.com"}, auth=None)  # AppTest's default user, no [auth]
    at.run()
    _ok(at)
    assert any(i.value.startswith("**Local mode**") for i in at.sidebar.info)
    assert "Sign out" not in [b.label for b in at.button]
    at.switch_page("app_pages/settings.py").run()
    _ok(at)
    assert "Settings" in [h.value for h in at.header]


def test_local_mode_refuses_another_computer(monkeypatch, no_data, caplog):
    monkeypatch.setattr(access, "_client_address", lambda: "192.0.2.7")
    at = _app({"email": "test@example.com"}, auth=None)
    at.run()
    _no_practice_data(at)
    (refusal,) = [e.value for e in at.error]
    assert "local mode" in refusal and "docs/access.md" in refusal
    assert not at.button
    assert "refused: local mode, request from 192.0.2.7" in caplog.text


def test_an_unreadable_secrets_file_is_an_error_not_local_mode(tmp_path, no_data):
    from streamlit.testing.v1.util import patch_config_options

    broken = tmp_path / "secrets.toml"
    broken.write_text("[auth\nclient_id = 'x'\n", encoding="utf-8")
    at = _app(None, auth=None)
    with patch_config_options({"secrets.files": [str(broken)]}):
        at.run()
    _no_practice_data(at)
    assert any("Streamlit's secrets cannot be read" in e.value for e in at.error)
