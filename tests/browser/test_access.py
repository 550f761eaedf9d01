"""Sign-in and roles in a real headless Chromium, against a real OpenID provider on loopback.

One ``streamlit run`` of the dashboard with an ``[auth]`` section in its secrets and a roles
file (``tests/browser/oidc.py``), one mock OpenID provider, and one browser context per role,
signed in once through the provider's form: owner (alice), clinician (bob), researcher (carol),
a signed-in user who is not in the roles file (mallory) and a signed-out visitor. Every page is
opened by its address in every role and checked against the page table of docs/access.md:

    page                         owner  clinician  researcher          unknown  signed out
    Overview, Claims,             yes    yes        yes (aggregates)    no       no
      Trajectories, Outcomes
    Safety                        yes    yes        counts, no patients no       no
    Patient                       yes    yes        no                  no       no
    Upload, Uploads history       yes    yes        no                  no       no
      (undo)                      (any)  (own)
    Downloads                     yes + tidy dataset  aggregates        no       no
    Settings                      yes    no         no                  no       no

"Nothing of the practice's data" is checked in what the page shows and in what reaches the
browser at all: every websocket frame the page receives is searched for a patient id.
Screenshots of every page in every role go to artifacts/screenshots/access_*.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.conftest import screenshot, wait_for_run
from tests.browser.oidc import run_provider, run_signed_in_app, sign_in, sign_out
from tests.browser.test_pages import _shot as _tall_shot

pytestmark = [
    pytest.mark.browser,
    # Authlib inside the mock provider warns about its own deprecated hooks on every token
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
]

#: url path -> (page key, title in the navigation, text only that page shows)
PAGES = {
    "": ("overview", "Overview", "Claims scorecard"),
    "claims": ("claims", "Claims", "Suicidal thoughts drop"),
    "trajectories": ("trajectories", "Trajectories", "Matched-day comparison"),
    "outcomes": ("outcomes", "Outcomes", "Inclusion funnel"),
    "safety": ("safety", "Safety", "Item 9 is not a risk assessment"),
    "compare": ("compare", "Sites & clinicians", "Case-mix-adjusted outcome"),
    "patient": ("patient", "Patient", "Pseudonymous patient id"),
    "upload": ("upload", "Upload", "Upload an outcomes export"),
    "uploads": ("uploads", "Uploads history", "Every export committed to the outcome store"),
    "downloads": ("downloads", "Downloads", "All tables (XLSX)"),
    "settings": ("settings", "Settings", "Practice instruments file"),
}
EVERYONE = {"overview", "claims", "trajectories", "outcomes", "safety", "compare", "downloads"}
ALLOWED = {
    "owner": set(key for key, _, _ in PAGES.values()),
    "clinician": EVERYONE | {"patient", "upload", "uploads"},
    "researcher": EVERYONE,
}
EMAIL = {
    "owner": "alice@example.org",
    "clinician": "bob@example.org",
    "researcher": "carol@example.org",
    "unknown": "mallory@example.net",
    "wildcard": "dave@clinic.example",  # a clinician through "*@clinic.example"
}
#: The Help page: every role sees it (its access is tested in tests/data and tests/app).
HELP_TITLE = "Help: what each figure means"
NO_ACCESS = "You have no access to this practice's data; ask its owner."
DEMO_BANNER = "Synthetic demo data"
#: The demo cohort's pseudonymous patient ids are D0001 … D0300; the uploads below use B…/A….
#: No word boundaries: in a table's Arrow buffer the ids follow one another ("D0001D0002…").
PATIENT_ID = re.compile(rb"D0\d{3}")
PATIENT_ID_TEXT = re.compile(r"\bD0\d{3}\b")
#: Streamlit draws a placeholder while an element's code loads, after the run has finished.
NO_PLACEHOLDER = "() => !document.querySelector('[data-testid=\"stSkeleton\"]')"
TIMEOUT = 60_000


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def provider():
    with run_provider() as p:
        yield p


@pytest.fixture(scope="session")
def auth_url(tmp_path_factory, provider):
    """The dashboard with sign-in through ``provider``, the roles file and a fresh store."""
    with run_signed_in_app(tmp_path_factory.mktemp("browser-access"), provider) as url:
        yield url


class Browsing:
    """A page in its own browser context, with every websocket frame it receives recorded."""

    def __init__(self, browser):
        self.context = browser.new_context(
            viewport={"width": 1400, "height": 1000}, accept_downloads=True
        )
        self.page = self.context.new_page()
        self.frames: list[bytes] = []
        self.page.on("websocket", self._watch)

    def _watch(self, ws) -> None:
        ws.on("framereceived", self._frame)

    def _frame(self, payload) -> None:
        self.frames.append(payload if isinstance(payload, bytes) else payload.encode("utf-8"))

    def open(self, url: str, path: str) -> None:
        """Go to ``url/path`` afresh (a new websocket session); forget the earlier frames."""
        self.frames.clear()
        self.page.goto(f"{url}/{path}")

    def patient_ids_received(self) -> set[str]:
        return {m.decode() for f in self.frames for m in PATIENT_ID.findall(f)}


@pytest.fixture(scope="session")
def as_role(browser, provider, auth_url):
    """``as_role("clinician")``: that role's browsing, signed in once for the whole session
    (``"signed_out"``: a visitor who never signs in)."""
    made: dict[str, Browsing] = {}

    def get(role: str) -> Browsing:
        if role not in made:
            b = Browsing(browser)
            if role != "signed_out":
                sign_in(b.page, auth_url, provider, EMAIL[role])
            made[role] = b
        return made[role]

    yield get
    for b in made.values():
        b.context.close()


# --------------------------------------------------------------------------- helpers


def _main(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def _sidebar(page) -> str:
    sidebar = page.locator('[data-testid="stSidebar"]')
    return sidebar.inner_text() if sidebar.count() else ""


def _nav_titles(page) -> list[str]:
    """The page titles in the sidebar navigation (the icons' ligature names left out)."""
    links = page.locator('[data-testid="stSidebarNav"] a')
    return [t.strip().split("\n")[-1].strip() for t in links.all_inner_texts()]


def _settle(page) -> None:
    """Wait for the end of the script run and for every element to be drawn."""
    wait_for_run(page, timeout=TIMEOUT)
    page.wait_for_function(NO_PLACEHOLDER, timeout=TIMEOUT)
    page.wait_for_timeout(500)  # late websocket frames of the run


def _shot(page, name: str) -> None:
    screenshot(page, f"access_{name}")


def _name(path: str) -> str:
    return PAGES[path][0]


def _assert_nothing_of_the_data(b: Browsing) -> None:
    """No figure, count, table, navigation or patient id: not shown, not even received."""
    page = b.page
    body = page.inner_text("body")
    assert DEMO_BANNER not in body
    assert not PATIENT_ID_TEXT.search(body)
    assert not b.patient_ids_received()
    assert _nav_titles(page) == []
    for testid in ("stPlotlyChart", "stDataFrame", "stMetric", "stTabs", "stMultiSelect"):
        assert page.locator(f'[data-testid="{testid}"]').count() == 0, testid
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in body


# --------------------------------------------------------------------------- signed out


@pytest.mark.parametrize("path", list(PAGES))
def test_signed_out_visitor_gets_only_the_sign_in_screen(as_role, auth_url, path):
    b = as_role("signed_out")
    b.open(auth_url, path)
    b.page.get_by_role("button", name="Sign in").wait_for(timeout=TIMEOUT)
    _settle(b.page)
    _shot(b.page, f"signed_out_{_name(path)}")
    assert b.page.get_by_role("button").filter(has_text="Sign in").count() == 1
    assert b.page.get_by_role("button", name="Sign out").count() == 0
    assert PAGES[path][2] not in b.page.inner_text("body")
    _assert_nothing_of_the_data(b)


# --------------------------------------------------------------------------- not in the roles


@pytest.mark.parametrize("path", list(PAGES))
def test_signed_in_user_not_in_the_roles_file_has_no_access(as_role, auth_url, path):
    b = as_role("unknown")
    b.open(auth_url, path)
    b.page.get_by_text(NO_ACCESS).wait_for(timeout=TIMEOUT)
    _settle(b.page)
    _shot(b.page, f"no_access_{_name(path)}")
    assert b.page.get_by_role("button", name="Sign out").count() == 1
    assert b.page.get_by_role("button", name="Sign in").count() == 0
    assert PAGES[path][2] not in b.page.inner_text("body")
    _assert_nothing_of_the_data(b)


# --------------------------------------------------------------------------- the page table

ROLE_PAGES = [(role, path) for role in ALLOWED for path in PAGES]


@pytest.mark.parametrize(
    ("role", "path"), ROLE_PAGES, ids=[f"{r}-{_name(p)}" for r, p in ROLE_PAGES]
)
def test_page_by_address(as_role, auth_url, role, path):
    """Each role opens each page by its address: it is drawn where the table says so and
    refused, with nothing of the page, where it does not."""
    b = as_role(role)
    key, title, marker = PAGES[path]
    b.open(auth_url, path)
    if key in ALLOWED[role]:
        b.page.get_by_text(marker).first.wait_for(timeout=TIMEOUT)
    else:
        b.page.get_by_text(f"cannot open the {title} page").wait_for(timeout=TIMEOUT)
    _settle(b.page)
    _shot(b.page, f"{role}_{key}")

    page = b.page
    main, side = _main(page), _sidebar(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in main
    # the sidebar: who is signed in, their role, Sign out
    assert EMAIL[role] in side and role in side.lower()
    assert page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign out").count()
    if key in ALLOWED[role]:
        assert marker in main
        assert "cannot open" not in main
    else:
        assert marker not in main
        assert DEMO_BANNER not in page.inner_text("body")  # the run stopped before the data
        assert not b.patient_ids_received()
        assert page.locator('[data-testid="stPlotlyChart"]').count() == 0
        assert page.locator('[data-testid="stDataFrame"]').count() == 0
    if role == "researcher":  # aggregates: no pseudonymous id reaches the browser, whether in
        assert not b.patient_ids_received()  # a table, a list or a chart's hover labels
        assert "Show individual patients" not in main


@pytest.mark.parametrize("role", list(ALLOWED))
def test_navigation_lists_the_role_pages_only(as_role, auth_url, role):
    b = as_role(role)
    b.open(auth_url, "")
    b.page.get_by_text("Claims scorecard").first.wait_for(timeout=TIMEOUT)
    _settle(b.page)
    titles = {title for _, (key, title, _) in PAGES.items() if key in ALLOWED[role]}
    assert set(_nav_titles(b.page)) == titles | {HELP_TITLE}  # Help is open to every role


def test_a_whole_domain_in_the_roles_file_makes_a_clinician(browser, provider, auth_url):
    b = Browsing(browser)
    try:
        sign_in(b.page, auth_url, provider, EMAIL["wildcard"])
        b.open(auth_url, "patient")
        b.page.get_by_text("Pseudonymous patient id").first.wait_for(timeout=TIMEOUT)
        _settle(b.page)
        assert "clinician" in _sidebar(b.page).lower()
        b.open(auth_url, "settings")
        b.page.get_by_text("cannot open the Settings page").wait_for(timeout=TIMEOUT)
        _settle(b.page)
        assert "Practice instruments file" not in _main(b.page)
    finally:
        b.context.close()


# --------------------------------------------------------------------------- inside the pages


@pytest.mark.parametrize("role", list(ALLOWED))
def test_safety_lists_patients_for_staff_and_counts_for_researchers(as_role, auth_url, role):
    b = as_role(role)
    b.open(auth_url, "safety")
    b.page.get_by_text("Item 9 is not a risk assessment").wait_for(timeout=TIMEOUT)
    b.page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=TIMEOUT)
    _settle(b.page)
    main = _main(b.page)
    if role == "researcher":
        _tall_shot(b.page, "access_researcher_safety_full")
        assert re.search(r"\d+ patients\. Owners and clinicians see who they are", main)
        assert "pseudonymous ids" not in main
        assert "pairs with reliable deterioration" not in main
        assert not b.patient_ids_received()
        assert "Reliable deterioration" in main  # the counts are there
    else:
        assert "(pseudonymous ids)" in main
        assert "pairs with reliable deterioration" in main
        assert b.patient_ids_received()  # the list reaches staff (and the search works)


@pytest.mark.parametrize("role", list(ALLOWED))
def test_downloads_tidy_dataset_for_the_owner_only(as_role, auth_url, role):
    b = as_role(role)
    b.open(auth_url, "downloads")
    b.page.get_by_role("button", name="All tables (XLSX)").wait_for(timeout=TIMEOUT)
    _settle(b.page)
    tidy = b.page.get_by_role("button", name="Assessments (CSV)").count()
    assert b.page.get_by_role("button", name="Report (HTML)").count() == 1
    assert tidy == (1 if role == "owner" else 0)
    if role != "owner":
        assert "de-identified tidy dataset" not in _main(b.page)


# --------------------------------------------------------------------------- sign out


@pytest.mark.parametrize("role", ["clinician", "unknown"])
def test_sign_out(browser, provider, auth_url, role):
    b = Browsing(browser)
    try:
        sign_in(b.page, auth_url, provider, EMAIL[role])
        sign_out(b.page, auth_url, provider)
        b.page.get_by_role("button", name="Sign in").wait_for(timeout=TIMEOUT)
        _settle(b.page)
        if role == "clinician":
            _shot(b.page, "signed_out_after_sign_out")
        b.open(auth_url, "patient")  # the cookie is gone: a page's address is refused too
        b.page.get_by_role("button", name="Sign in").wait_for(timeout=TIMEOUT)
        _settle(b.page)
        assert EMAIL[role] not in b.page.inner_text("body")
        _assert_nothing_of_the_data(b)
    finally:
        b.context.close()


# --------------------------------------------------------------------------- uploads and undo
# Last in the module: it changes the store (and leaves it empty again).

EXPORTS = {
    "bob_first.csv": ["B1001", "B1002"],
    "bob_second.csv": ["B2001", "B2002"],
    "alice_first.csv": ["A1001", "A1002"],
}


def _write_export(folder: Path, name: str) -> Path:
    lines = ["patient_id,protocol,instrument,session,day,score"]
    for pid in EXPORTS[name]:
        lines += [f"{pid},weekly,PHQ-9,0,0,19", f"{pid},weekly,PHQ-9,1,7,11"]
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _upload(b: Browsing, auth_url: str, export: Path, uploader: str) -> None:
    b.open(auth_url, "upload")
    b.page.get_by_text("Upload an outcomes export").wait_for(timeout=TIMEOUT)
    _settle(b.page)
    b.page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(export))
    commit = b.page.get_by_role("button", name=re.compile(r"^Commit \d+ assessments to the store"))
    commit.wait_for(timeout=TIMEOUT)
    _settle(b.page)
    assert f"Recorded in the upload history as {uploader}" in _main(b.page)
    commit.click()
    b.page.get_by_text(re.compile(rf"Stored \d+ new assessments from {export.name}")).wait_for(
        timeout=TIMEOUT
    )
    _settle(b.page)


def _open_history(b: Browsing, auth_url: str) -> None:
    b.open(auth_url, "uploads")
    b.page.get_by_text("Undo an upload").wait_for(timeout=TIMEOUT)
    _settle(b.page)


def _undo_choices(b: Browsing) -> list[str]:
    """The labels in the "Upload" choice of the undo section ([] when there is none)."""
    box = b.page.locator('[data-testid="stSelectbox"]').filter(
        has=b.page.get_by_text("Upload", exact=True)
    )
    if not box.count():
        return []
    box.click()
    options = b.page.get_by_role("option").all_inner_texts()
    b.page.keyboard.press("Escape")
    return options


def _undo(b: Browsing, filename: str) -> None:
    page = b.page
    box = page.locator('[data-testid="stSelectbox"]').filter(
        has=page.get_by_text("Upload", exact=True)
    )
    box.click()
    page.get_by_role("option").filter(has_text=filename).click()
    _settle(page)
    page.get_by_role("button", name=re.compile(r"^Undo upload #\d+")).click()
    confirm = page.get_by_role("button", name="Yes, undo it")
    confirm.wait_for(timeout=TIMEOUT)
    _settle(page)  # a click during a run can be lost; click once the run is over
    done = page.get_by_text(re.compile(rf"Undid upload \d+ \({re.escape(filename)}\)"))
    refused = page.locator('[data-testid="stAlert"]').filter(has_text="Nothing was changed")
    refused = refused.or_(page.locator('[data-testid="stException"]'))
    confirm.click()
    done.or_(refused).first.wait_for(timeout=TIMEOUT)
    _settle(page)
    if not done.count():
        _shot(page, f"undo_refused_{filename}")
        pytest.fail(f"undoing {filename} was refused: {refused.first.inner_text()}")


def _names(choices: list[str]) -> set[str]:
    return {name for name in EXPORTS for choice in choices if name in choice}


def test_uploads_clinicians_undo_their_own_and_the_owner_any(as_role, auth_url, tmp_path):
    bob, alice = as_role("clinician"), as_role("owner")
    try:
        _uploads_and_undo(bob, alice, auth_url, tmp_path)
    except Exception:  # what each of them saw, for the report
        _shot(bob.page, "failed_clinician_uploads")
        _shot(alice.page, "failed_owner_uploads")
        raise


def _uploads_and_undo(bob: Browsing, alice: Browsing, auth_url: str, tmp_path: Path) -> None:
    for who, name in [(bob, "bob_first.csv"), (bob, "bob_second.csv"), (alice, "alice_first.csv")]:
        email = EMAIL["clinician" if who is bob else "owner"]
        _upload(who, auth_url, _write_export(tmp_path, name), email)

    _open_history(bob, auth_url)  # a clinician: his own uploads only
    assert _names(_undo_choices(bob)) == {"bob_first.csv", "bob_second.csv"}
    _undo(bob, "bob_second.csv")
    assert _names(_undo_choices(bob)) == {"bob_first.csv"}
    _shot(bob.page, "clinician_uploads_history")

    _open_history(alice, auth_url)  # the owner: anyone's
    assert _names(_undo_choices(alice)) == {"bob_first.csv", "alice_first.csv"}
    _shot(alice.page, "owner_uploads_history")
    _undo(alice, "bob_first.csv")
    _undo(alice, "alice_first.csv")
    assert _undo_choices(alice) == []
    assert "Every upload has been undone." in _main(alice.page)

    _open_history(bob, auth_url)
    assert _undo_choices(bob) == []
