"""Sign-in and roles in the dashboard: who is asking, and the guard every page calls first.

With an ``[auth]`` section in Streamlit's secrets, people sign in through OpenID Connect
(``st.login``) and get the role the roles file gives their e-mail (``data.access``). Without
one, the dashboard is in local mode: a one-person tool on one computer, whose user is the
owner, and a request from anywhere but this computer is refused. See docs/access.md.

Public API::

    identity() -> Identity               # who is asking (email, role, local; .actor)
    require_page("patient") -> Identity  # first statement of every page: stops unless allowed
    require_sign_in() -> Identity        # the same without a page (the app frame)
    sidebar(who)                         # who is signed in, their role, Sign out
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

import streamlit as st
from streamlit import config
from streamlit.errors import StreamlitSecretNotFoundError

from dashboard.components import md_escape
from data import access as rules
from data.access import OWNER, AccessError, Roles, load_roles, roles_path

LOG = logging.getLogger("reliefcheck.access")
if not logging.getLogger("reliefcheck").handlers:  # make the access log visible in the server log
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("reliefcheck").addHandler(_handler)
    logging.getLogger("reliefcheck").setLevel(logging.INFO)
_TITLES = {"uploads": "Uploads history"}  # page key -> title, where it is not the key itself
_SIGNED_IN_KEY = "_reliefcheck_signed_in"  # the e-mail whose sign-in this session logged
_DOCS = "docs/access.md"


@dataclass(frozen=True)
class Identity:
    """Who is asking: their e-mail (None in local mode or signed out), their role (None: no
    access) and whether the dashboard is in local mode."""

    email: str | None
    role: str | None
    local: bool

    @property
    def actor(self) -> str:
        """The name recorded for what this person does: "local" in local mode, else the
        e-mail."""
        return "local" if self.local else (self.email or "")


@dataclass(frozen=True)
class _Decision:
    who: Identity
    refusal: str | None = None  # None: let in; else why not (see _refuse)
    detail: str = ""


# --------------------------------------------------------------------------- who is asking


def _auth_section() -> Mapping[str, Any] | None:
    """The ``[auth]`` secrets, or None (local mode). A secrets file that exists but cannot be
    read is an error, never local mode."""
    try:
        section = st.secrets.get("auth") if "auth" in st.secrets else None
    except StreamlitSecretNotFoundError as err:
        present = [p for p in config.get_option("secrets.files") if Path(p).exists()]
        if present:
            raise AccessError(f"Streamlit's secrets cannot be read: {err}") from None
        return None
    if section is not None and not isinstance(section, Mapping):
        raise AccessError("[auth] in Streamlit's secrets must be a table of settings.")
    return section


def _client_address() -> str | None:
    """The client's IP address (None for loopback; AppTest gives no real one)."""
    ip = st.context.ip_address
    return ip if isinstance(ip, str) else None


def _local_request() -> bool:
    headers = st.context.headers
    return rules.is_local_request(
        _client_address(),
        config.get_option("server.address"),
        forwarded=rules.forwarded(headers.keys() if headers else ()),
        no_server=bool(config.get_option("global.appTest")),
    )


@lru_cache(maxsize=4)
def _roles_at(path: str, mtime_ns: int, size: int) -> Roles:
    return load_roles(path)


def _roles() -> Roles:
    """The roles file, read again whenever it changes (so a removal takes effect at once)."""
    path = roles_path()
    try:
        stat = path.stat()
    except OSError:
        return load_roles(path)  # raises the missing-file message
    return _roles_at(str(path), stat.st_mtime_ns, stat.st_size)


def _decide() -> _Decision:
    nobody = Identity(None, None, local=False)
    try:
        section = _auth_section()
    except AccessError as err:
        return _Decision(nobody, "config", str(err))
    if section is None:
        if _local_request():
            return _Decision(Identity(None, OWNER, local=True))
        return _Decision(Identity(None, None, local=True), "remote", _client_address() or "")
    problems = rules.auth_problems(section)
    if problems:
        return _Decision(nobody, "config", "; ".join(problems) + ".")
    if not st.user.get("is_logged_in"):
        return _Decision(nobody, "signed-out")
    email = str(st.user.get("email") or "").strip().lower() or None  # one actor per person
    if email is None or st.user.get("email_verified") is False:
        return _Decision(Identity(email, None, local=False), "no-email")
    try:
        role = _roles().role_of(email)
    except AccessError as err:
        return _Decision(Identity(email, None, local=False), "roles", str(err))
    if role is None:
        return _Decision(Identity(email, None, local=False), "no-access")
    return _Decision(Identity(email, role, local=False))


def identity() -> Identity:
    """Who is asking: the local owner, a signed-in user with their role (None when the roles
    file gives them none), or nobody (signed out)."""
    return _decide().who


# --------------------------------------------------------------------------- the guard


def require_sign_in() -> Identity:
    """Let through a signed-in user with a role (or the local owner); otherwise show the
    sign-in screen or why not, and stop the run before anything reads data."""
    decision = _decide()
    if decision.refusal is None:
        _log_sign_in(decision.who)
        return decision.who
    _refuse(decision)


def require_page(page: str) -> Identity:
    """The first statement of every page script: stop the run unless this person may open
    ``page`` (a key of ``data.access.PAGES``); return who they are."""
    who = require_sign_in()
    if not rules.allowed(who.role, page):
        LOG.warning("refused: %s (%s) may not open the %s page", who.actor, who.role, page)
        st.warning(
            f"Your role ({who.role}) cannot open the {_TITLES.get(page, page.capitalize())} "
            "page. Ask the practice's owner if you need it.",
            icon=":material/block:",
        )
        st.stop()
    return who


def _log_sign_in(who: Identity) -> None:
    if who.local or st.session_state.get(_SIGNED_IN_KEY) == who.email:
        return
    st.session_state[_SIGNED_IN_KEY] = who.email
    LOG.info("signed in: %s as %s", who.email, who.role)


def _refuse(decision: _Decision) -> NoReturn:
    """Show the screen for ``decision.refusal``, log it, stop."""
    who, kind, detail = decision.who, decision.refusal, decision.detail
    st.title("ReliefCheck", anchor=False)
    if kind == "signed-out":
        st.markdown("Sign in with your practice account to open this practice's outcome data.")
        _sign_in_buttons()
    elif kind == "remote":
        LOG.warning("refused: local mode, request from %s", detail or "an unknown address")
        st.error(
            "**This dashboard is in local mode**: it opens only in a browser on the computer "
            "it runs on, so this request was refused. To open it from other computers, its "
            "owner sets up sign-in through the practice's identity provider (Microsoft Entra "
            f"ID, Google Workspace, Okta, Keycloak …) and a roles file: see {_DOCS}.",
            icon=":material/lock:",
        )
    elif kind == "config":
        LOG.error("sign-in is misconfigured: %s", detail)
        st.error(
            f"**Sign-in is not set up correctly**, so nobody can be let in. {detail} "
            f"The dashboard's owner fixes Streamlit's secrets ([auth]); see {_DOCS}.",
            icon=":material/error:",
        )
    elif kind == "roles":
        LOG.error("refused %s: the roles file is unusable: %s", who.email, detail)
        st.error(
            f"**The roles file cannot be used**, so nobody can be let in. {detail}",
            icon=":material/error:",
        )
        _sign_out_button()
    elif kind == "no-email":
        LOG.warning("refused: the identity provider gave no verified e-mail (%s)", who.email)
        st.warning(
            "Your identity provider did not give ReliefCheck a verified e-mail address, so "
            "your role cannot be looked up. Ask the practice's administrator to include the "
            "email claim.",
            icon=":material/block:",
        )
        _sign_out_button()
    else:  # no-access
        LOG.warning("refused: %s is not in the roles file", who.email)
        st.warning(
            f"You are signed in as {md_escape(who.email)}. You have no access to this "
            "practice's data; ask its owner.",
            icon=":material/block:",
        )
        _sign_out_button()
    st.stop()
    raise AssertionError("st.stop() returned")  # pragma: no cover - st.stop raises


def _sign_in_buttons() -> None:
    """One **Sign in** button (one button per provider when several are configured)."""
    providers = rules.auth_providers(_auth_section() or {})
    for name in providers:
        label = "Sign in" if len(providers) == 1 else f"Sign in with {name or 'the default'}"
        if st.button(label, type="primary", key=f"access_sign_in_{name or ''}"):
            LOG.info("sign-in started (%s)", name or "default provider")
            st.login(name)


def _sign_out_button(container: Any = st) -> None:
    if container.button("Sign out", key="access_sign_out", icon=":material/logout:"):
        LOG.info("signed out: %s", st.user.get("email"))
        st.session_state.pop(_SIGNED_IN_KEY, None)
        st.logout()


def sidebar(who: Identity) -> None:
    """Who is signed in, their role and **Sign out**; the local-mode banner."""
    with st.sidebar:
        if who.local:
            st.info(
                "**Local mode**: this computer only; you are the owner.", icon=":material/computer:"
            )
            return
        st.markdown(f"Signed in as **{md_escape(who.email)}**  \nRole: **{who.role}**")
        _sign_out_button(st.sidebar)
