"""Who may see what (no streamlit here): the roles file, role matching, the page-permission
table, the sign-in settings check and the local-mode loopback rule. See docs/access.md.

Public API::

    roles = load_roles(path)             # -> Roles; RolesFileError with a fix in the message
    roles.role_of("Bob@Clinic.example")  # -> "clinician" | None (highest role wins)
    allowed(role, "patient")             # the page table PAGES
    may(role, "patient_ids"); may_undo(role, actor, uploader)   # per-role details in pages
    auth_problems(section); auth_providers(section)             # Streamlit's [auth] secrets
    is_local_request(ip, bind_address, forwarded=..., no_server=...)
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data.errors import ReliefCheckError

#: Environment variable naming the roles file.
ROLES_ENV = "RELIEFCHECK_ROLES"
OWNER, CLINICIAN, RESEARCHER = "owner", "clinician", "researcher"
#: The roles, highest first: an address in several lists gets the first one.
ROLES: tuple[str, ...] = (OWNER, CLINICIAN, RESEARCHER)
_EVERYONE = frozenset(ROLES)
_STAFF = frozenset({OWNER, CLINICIAN})

#: Page (the script's file stem in dashboard/app_pages/) -> the roles that may open it.
PAGES: dict[str, frozenset[str]] = {
    "overview": _EVERYONE,
    "claims": _EVERYONE,
    "trajectories": _EVERYONE,
    "outcomes": _EVERYONE,
    "safety": _EVERYONE,
    "compare": _EVERYONE,  # aggregates only; researchers get the same table in the downloads
    "patient": _STAFF,
    "upload": _STAFF,
    "uploads": _STAFF,
    "downloads": _EVERYONE,
    "settings": frozenset({OWNER}),
    "help": _EVERYONE,  # the glossary: definitions and references, no data
}
#: Details inside pages -> the roles that get them.
FEATURES: dict[str, frozenset[str]] = {
    "patient_ids": _STAFF,  # lists of patients and per-patient ids (Safety, charts' hover)
    "undo_own_upload": _STAFF,
    "undo_any_upload": frozenset({OWNER}),
    "patient_level_download": frozenset({OWNER}),  # the tidy dataset on Downloads
    "freeze_settings": frozenset({OWNER}),  # pre-register the claim settings (Claims page)
}

_LOCAL = r"[^\s@*]+"
_DOMAIN = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
_ADDRESS = re.compile(rf"(?P<local>{_LOCAL}|\*)@(?P<domain>{_DOMAIN})", re.IGNORECASE)
_EXAMPLE = (
    'owner = ["alice@example.org"]\nclinician = ["bob@example.org", "*@clinic.example"]\n'
    'researcher = ["carol@example.org"]'
)


class AccessError(ReliefCheckError):
    """Sign-in or access cannot be set up as configured; the message says what to change."""


class RolesFileError(AccessError):
    """The roles file is missing or malformed."""


@dataclass(frozen=True)
class Roles:
    """Who holds which role: exact addresses and whole domains (``*@domain``), lower-cased."""

    addresses: Mapping[str, str] = field(default_factory=dict)
    domains: Mapping[str, str] = field(default_factory=dict)
    source: str = ""

    def role_of(self, email: str | None) -> str | None:
        """The highest role that ``email`` matches (case-insensitive), or None."""
        if not email:
            return None
        email = email.strip().lower()
        if not _ADDRESS.fullmatch(email) or email.startswith("*@"):
            return None
        found = {self.addresses.get(email), self.domains.get(email.rsplit("@", 1)[1])}
        return next((role for role in ROLES if role in found), None)

    def __len__(self) -> int:
        return len(self.addresses) + len(self.domains)


def default_roles_path() -> Path:
    """``roles.toml`` in ReliefCheck's data folder, beside the default store file: the folder
    ``data.store.default_db_url`` uses when ``RELIEFCHECK_DB_URL`` is unset
    (``$XDG_DATA_HOME/reliefcheck``, by default ``~/.local/share/reliefcheck``)."""
    base = os.environ.get("XDG_DATA_HOME", "").strip() or str(Path.home() / ".local" / "share")
    return Path(base) / "reliefcheck" / "roles.toml"


def roles_path() -> Path:
    """The roles file in use: ``$RELIEFCHECK_ROLES``, else ``default_roles_path()``."""
    given = os.environ.get(ROLES_ENV, "").strip()
    return Path(given).expanduser() if given else default_roles_path()


def load_roles(path: str | Path) -> Roles:
    """Read and check a roles file; raise ``RolesFileError`` saying what to fix."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RolesFileError(
            f"There is no roles file at {path}, so nobody can be let in. Create it with the "
            f"e-mail addresses of each role, e.g.\n{_EXAMPLE}\n(or point {ROLES_ENV} at it)."
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise RolesFileError(f"The roles file {path} cannot be read: {err}.") from None
    return parse_roles(text, source=str(path))


def parse_roles(text: str, source: str = "the roles file") -> Roles:
    """Parse the text of a roles file (three lists: owner, clinician, researcher)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise RolesFileError(
            f"{source} is not valid TOML ({err}). It must look like:\n{_EXAMPLE}"
        ) from None
    unknown = [key for key in data if key not in ROLES]
    if unknown:
        raise RolesFileError(
            f"{source} has {', '.join(repr(k) for k in unknown)}, which is not a role. The "
            f"file holds exactly three lists: {', '.join(ROLES)}."
        )
    addresses: dict[str, str] = {}
    domains: dict[str, str] = {}
    for role in reversed(ROLES):  # lowest first, so a higher role overwrites it
        for entry in _entries(data.get(role, []), role, source):
            match = _ADDRESS.fullmatch(entry)
            if match is None:
                raise RolesFileError(
                    f"{source}: {entry!r} in {role} is not an e-mail address or a whole "
                    "domain. Write name@example.org for one person or *@example.org for "
                    "everyone with an address at that domain."
                )
            if match["local"] == "*":
                domains[match["domain"].lower()] = role
            else:
                addresses[entry.lower()] = role
    return Roles(addresses, domains, source)


def _entries(value: Any, role: str, source: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RolesFileError(
            f"{source}: {role} must be a list of e-mail addresses in quotes, e.g. "
            f'{role} = ["name@example.org", "*@example.org"].'
        )
    return [v.strip() for v in value]


# --------------------------------------------------------------------------- permissions


def allowed(role: str | None, page: str) -> bool:
    """Whether ``role`` may open ``page`` (a key of ``PAGES``; None: nobody may)."""
    if page not in PAGES:
        raise KeyError(f"unknown page {page!r}; pages: {', '.join(PAGES)}")
    return role in PAGES[page]


def may(role: str | None, feature: str) -> bool:
    """Whether ``role`` gets a detail inside a page (a key of ``FEATURES``)."""
    if feature not in FEATURES:
        raise KeyError(f"unknown feature {feature!r}; features: {', '.join(FEATURES)}")
    return role in FEATURES[feature]


def may_undo(role: str | None, actor: str, uploader: str) -> bool:
    """Owners undo any upload; clinicians only those recorded under their own e-mail."""
    if may(role, "undo_any_upload"):
        return True
    mine = bool(actor.strip()) and actor.strip().lower() == str(uploader).strip().lower()
    return may(role, "undo_own_upload") and mine


# --------------------------------------------------------------------------- sign-in settings

_SHARED = ("redirect_uri", "cookie_secret")
_PROVIDER = ("client_id", "client_secret", "server_metadata_url")


def auth_providers(section: Mapping[str, Any]) -> list[str | None]:
    """The providers of an ``[auth]`` section: None for settings directly in ``[auth]``, then
    the name of every ``[auth.NAME]`` table."""
    named = [k for k, v in section.items() if isinstance(v, Mapping)]
    return ([None] if "client_id" in section else []) + named


def auth_problems(section: Mapping[str, Any]) -> list[str]:
    """What is missing or wrong in Streamlit's ``[auth]`` secrets (empty: usable)."""
    problems = [f"[auth] has no {key}" for key in _SHARED if not section.get(key)]
    providers = auth_providers(section)
    if not providers:
        problems.append(
            "[auth] names no provider: give client_id, client_secret and server_metadata_url"
        )
    for name in providers:
        table = section if name is None else section[name]
        where = "[auth]" if name is None else f"[auth.{name}]"
        problems += [f"{where} has no {key}" for key in _PROVIDER if not table.get(key)]
        if name is not None and "_" in name:
            problems.append(f"{where}: a provider name cannot contain '_'")
    redirect = str(section.get("redirect_uri") or "")
    if redirect and not redirect.endswith("/oauth2callback"):
        problems.append("redirect_uri must end with /oauth2callback")
    return problems


# --------------------------------------------------------------------------- local mode

_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def is_loopback(address: str | None) -> bool:
    """Whether ``address`` (an IP or ``localhost``) is this computer's loopback."""
    if not address:
        return False
    address = address.strip().strip("[]")
    if address.lower() == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def forwarded(headers: Iterable[str]) -> bool:
    """Whether a request came through a proxy (it carries a forwarding header)."""
    return any(h.lower() in _FORWARDING_HEADERS for h in headers)


def is_local_request(
    ip: str | None, bind_address: str | None, *, forwarded: bool, no_server: bool = False
) -> bool:
    """Whether local mode may serve a request. A proxied request never. A known address only
    when it is loopback. No address (Streamlit reports loopback clients as None) only when
    the server listens on loopback alone, where every client is on this computer, or when
    there is no server at all (Streamlit's AppTest): on any other binding, None cannot be
    told from an unknown client, so the request is refused."""
    if forwarded:
        return False
    if ip is not None:
        return is_loopback(ip)
    return no_server or is_loopback(bind_address)
