"""Sign-in for the browser tests: a real OpenID Connect provider on loopback.

The provider is ``oidc-provider-mock`` (a Flask app built on Authlib) served by werkzeug on
a background thread on ``127.0.0.1`` and a free port. It accepts any client id and secret and
shows an authorization form where a person types the user's ``sub``; the users below are
registered with their claims (``email``, ``email_verified``, ``name``), so typing the e-mail
signs that user in. Streamlit's own ``st.login`` talks to it through the ``[auth]`` section of
a secrets file passed with ``streamlit run --secrets.files``; the roles come from a TOML file
named by ``RELIEFCHECK_ROLES``.
"""

from __future__ import annotations

import os
import secrets
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.browser.conftest import _free_port, serve_dashboard, wait_for_run

#: e-mail → display name of the test users the provider knows
USERS = {
    "alice@example.org": "Alice Owner",
    "bob@example.org": "Bob Clinician",
    "dave@clinic.example": "Dave Wildcard",
    "carol@example.org": "Carol Researcher",
    "mallory@example.net": "Mallory Unknown",
}

ROLES_TOML = """\
owner = ["alice@example.org"]
clinician = ["bob@example.org", "*@clinic.example"]
researcher = ["carol@example.org"]
"""

CLIENT_ID = "reliefcheck-browser-tests"


@dataclass
class Provider:
    """A running mock OpenID provider."""

    url: str  # issuer, e.g. http://127.0.0.1:PORT

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"


@contextmanager
def run_provider() -> Iterator[Provider]:
    """Serve ``oidc-provider-mock`` on 127.0.0.1 on a free port from a background thread."""
    import werkzeug.serving

    # Authlib's notices about its own deprecated modules (it forces them on: record, drop)
    with warnings.catch_warnings(record=True):
        import oidc_provider_mock

    class QuietHandler(werkzeug.serving.WSGIRequestHandler):
        def log(self, type: str, message: str, *args) -> None:
            if type == "error":
                super().log(type, message, *args)

    users = [
        oidc_provider_mock.User(
            sub=email, claims={"email": email, "email_verified": True, "name": name}
        )
        for email, name in USERS.items()
    ]
    app = oidc_provider_mock.app(user_claims=users)
    server = werkzeug.serving.make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield Provider(url=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def secrets_toml(app_port: int, provider: Provider) -> str:
    """Streamlit secrets with the ``[auth]`` section that points ``st.login`` at the provider."""
    return (
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        f'client_id = "{CLIENT_ID}"\n'
        f'client_secret = "{secrets.token_hex(16)}"\n'
        f'server_metadata_url = "{provider.metadata_url}"\n'
    )


@contextmanager
def run_signed_in_app(folder: Path, provider: Provider, roles: str = ROLES_TOML) -> Iterator[str]:
    """``streamlit run`` of the dashboard with sign-in through ``provider``, the roles file
    ``roles`` and a fresh SQLite store, all in ``folder``. Yields the app's URL."""
    port = _free_port()
    secrets_file = folder / "secrets.toml"
    secrets_file.write_text(secrets_toml(port, provider), encoding="utf-8")
    roles_file = folder / "roles.toml"
    roles_file.write_text(roles, encoding="utf-8")
    env = dict(os.environ)
    env["RELIEFCHECK_DB_URL"] = f"sqlite:///{folder / 'store.sqlite'}"
    env["RELIEFCHECK_ROLES"] = str(roles_file)
    env.pop("STREAMLIT_SECRETS_FILES", None)
    extra = ("--secrets.files", str(secrets_file))
    with serve_dashboard(folder, env, port=port, extra=extra) as url:
        yield url


def _back_at(app_url: str):
    """A URL test: the app itself, past the sign-in callback."""
    return lambda url: url.startswith(app_url) and "/oauth2callback" not in url


def sign_in(page, app_url: str, provider: Provider, email: str, timeout: float = 60_000) -> None:
    """Open the app signed out, click **Sign in**, type ``email`` into the provider's
    authorization form, authorize, and wait until the app has finished its first run signed in."""
    page.goto(app_url)
    page.get_by_role("button", name="Sign in").click(timeout=timeout)
    page.wait_for_url(f"{provider.url}/oauth2/authorize**", timeout=timeout)
    page.get_by_placeholder("sub").fill(email)
    page.get_by_role("button", name="Authorize", exact=True).click()
    page.wait_for_url(_back_at(app_url), timeout=timeout)
    page.get_by_text(email).first.wait_for(timeout=timeout)  # the app shows who is signed in
    wait_for_run(page, timeout=timeout)


def sign_out(page, app_url: str, provider: Provider, timeout: float = 60_000) -> None:
    """Click **Sign out**: Streamlit clears its cookie and sends the browser to the provider's
    end-session page, which is confirmed; the browser comes back to the app, signed out."""
    page.get_by_role("button", name="Sign out").first.click()
    page.wait_for_url(f"{provider.url}/oauth2/end_session**", timeout=timeout)
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(_back_at(app_url), timeout=timeout)
    wait_for_run(page, timeout=timeout)
