"""What every page shares: the dataset, the instrument registry, the sidebar filters.

The dataset is loaded through one cached function keyed on its content: the store's
``content_version()`` when there is a store with data, else the demo cohort's parameters. Until
something has been uploaded the dashboard shows the synthetic demo cohort under a banner that
cannot be missed. The registry is the built-in one, or a practice's instruments file picked on
the Settings page (kept in session state, as text). Filters live in the sidebar, are rendered
by the app frame on every run and reach the pages through ``context()``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from analysis.claims.config import ClaimsConfig
from analysis.settings_stamp import Frozen, SettingsStamp, config_from_json
from analysis.settings_stamp import settings_stamp as make_stamp
from dashboard.compute import (
    TR_CHOICES,
    Filters,
    filter_options,
    patient_attributes,
    patient_positions,
    period_unknown,
    with_baseline_months,
)
from dashboard.safe_text import md_escape
from data.errors import ReliefCheckError
from data.instruments import Registry, load_registry
from data.periods import UNITS
from data.store import Store, default_db_url, open_store

#: Number of demo patients (``RELIEFCHECK_DEMO_PATIENTS`` overrides it, e.g. for speed checks).
DEMO_PATIENTS_ENV = "RELIEFCHECK_DEMO_PATIENTS"
INSTRUMENTS_KEY = "instruments_text"
INSTRUMENTS_NAME_KEY = "instruments_name"
#: The claims thresholds chosen on the Claims page (a ``ClaimsConfig``) for this session.
CLAIMS_CONFIG_KEY = "claims_config"
_CONTEXT_KEY = "_reliefcheck_context"
#: {"ms": milliseconds the last run took on the server, "cpu_ms": its CPU time}.
RUN_MS_KEY = "_reliefcheck_run_ms"
_FILTER_KEYS = {
    "instruments": "filter_instruments",
    "protocols": "filter_protocols",
    "sites": "filter_sites",
    "routes": "filter_routes",
}
#: The baseline-period filter's widgets: its granularity, then one range per granularity.
PERIOD_UNIT_KEY = "filter_period_unit"
_PERIOD_RANGE_KEYS = {unit: f"filter_period_{unit}" for unit in UNITS}
_PERIOD_CHOICES = {"all": "All", "quarter": "Quarter", "month": "Month"}


@dataclass(frozen=True)
class DataRef:
    """Which dataset is shown, identified by its content: the store's content version, or the
    demo cohort's size, seed and generator version."""

    source: str  # "store" or "demo"
    version: str
    url: str = ""
    n_patients: int = 0
    seed: int = 0
    note: str = ""  # why the demo is shown (no store yet, store empty, store unreachable)

    @property
    def is_demo(self) -> bool:
        return self.source == "demo"


@dataclass(frozen=True)
class Context:
    """What a page needs: the dataset, the registry (and its text), the filters."""

    ref: DataRef
    registry_text: str | None
    filters: Filters

    @property
    def registry(self) -> Registry:
        return registry_from_text(self.registry_text)


# --------------------------------------------------------------------------- data


def _store_url() -> str:
    return default_db_url()


def _secret_keys() -> dict[str, str]:
    """The practice's keys from Streamlit secrets (``[reliefcheck] id_key``, ``anchor_key``),
    when the deployment gives them there; else the store looks in the environment and its key
    file (docs/store.md)."""
    try:
        section = st.secrets.get("reliefcheck", {})
    except Exception:  # no secrets file (the usual case) or an unreadable one
        return {}
    return {k: str(section[k]) for k in ("id_key", "anchor_key") if section.get(k)}


@st.cache_resource(show_spinner=False)
def _open_store(url: str) -> Store:
    """The outcome store at ``url``, opened (and created or upgraded) once per process."""
    return open_store(url, **_secret_keys())


def store() -> Store:
    """The outcome store this dashboard reads and commits to (``$RELIEFCHECK_DB_URL``, else the
    default file). Raises ``StoreError`` (a ``ReliefCheckError``) when it cannot be opened."""
    return _open_store(_store_url())


@st.cache_data(show_spinner=False, max_entries=8)
def _store_is_empty(url: str, version: str) -> bool:
    """Whether the store holds no assessment at one content version (asked once per version)."""
    return _open_store(url).is_empty()


@st.cache_resource(show_spinner="Reading the outcome store…", max_entries=2)
def _store_tidy(url: str, version: str) -> pd.DataFrame:
    """The store's tidy table at one content version (read once per version)."""
    return _open_store(url).read_tidy()


def _demo_ref(note: str) -> DataRef:
    from data.demo.cohort import DEFAULT_N_PATIENTS, DEFAULT_SEED, GENERATOR_VERSION

    n = int(os.environ.get(DEMO_PATIENTS_ENV, DEFAULT_N_PATIENTS))
    return DataRef(
        source="demo",
        version=f"demo-{GENERATOR_VERSION}-{n}-{DEFAULT_SEED}",
        url="",
        n_patients=n,
        seed=DEFAULT_SEED,
        note=note,
    )


def data_ref() -> DataRef:
    """The dataset to show now. Asks the store for its content version on every run (one small
    query), so an upload or undo from another session shows up at once; the demo cohort when
    the store is empty or cannot be opened."""
    url = _store_url()
    try:
        version = str(_open_store(url).content_version())
        if _store_is_empty(url, version):
            return _demo_ref("Nothing has been uploaded yet.")
    except ReliefCheckError as err:
        return _demo_ref(f"The outcome store could not be read: {err}")
    return DataRef(source="store", version=version, url=url)


@st.cache_resource(show_spinner="Loading the assessments…", max_entries=4)
def full_tidy(ref: DataRef) -> pd.DataFrame:
    """The whole tidy table of ``ref`` (shared, read-only: callers must not modify it)."""
    if ref.is_demo:
        from data.demo.cohort import generate_demo

        return generate_demo(n_patients=ref.n_patients, seed=ref.seed)
    return _store_tidy(ref.url, ref.version)


@st.cache_resource(show_spinner=False, max_entries=2)
def _store_months(url: str, version: str) -> pd.Series | None:
    """The store's baseline months at one content version (None: the anchor key is missing or
    not this store's, so no period is known)."""
    try:
        return _open_store(url).read_baseline_months()
    except ReliefCheckError:
        return None


def baseline_months(ref: DataRef) -> pd.Series | None:
    """Each patient's baseline month code (data/periods.py; index patient_id), for the period
    filter: the store's (kept masked, read with the anchor key), or the demo cohort's."""
    if ref.is_demo:
        from data.demo.cohort import demo_baseline_months

        return demo_baseline_months(full_tidy(ref), ref.seed)
    return _store_months(ref.url, ref.version)


@st.cache_resource(show_spinner=False, max_entries=4)
def attributes(ref: DataRef) -> pd.DataFrame:
    """One row per patient: protocol, site, route, treatment_resistant …, and
    ``baseline_month_day`` (the baseline month's code, <NA> when unknown) (read-only)."""
    return with_baseline_months(patient_attributes(full_tidy(ref)), baseline_months(ref))


@st.cache_resource(show_spinner=False, max_entries=4)
def positions(ref: DataRef) -> np.ndarray:
    """Each assessment's patient as a row of ``attributes(ref)`` (read-only)."""
    return patient_positions(full_tidy(ref), attributes(ref))


@st.cache_data(show_spinner=False, max_entries=4)
def options(ref: DataRef) -> dict[str, list[str]]:
    """The values each sidebar filter offers for this dataset."""
    return filter_options(full_tidy(ref), attributes(ref))


# --------------------------------------------------------------------------- registry


@st.cache_resource(show_spinner=False, max_entries=8)
def registry_from_text(text: str | None) -> Registry:
    """The built-in registry, extended or overridden by a practice's instruments file text."""
    return load_registry(practice_text=text) if text else load_registry()


def registry_text() -> str | None:
    """The practice instruments file picked on Settings (None: built-in instruments only)."""
    return st.session_state.get(INSTRUMENTS_KEY)


def registry_label() -> str:
    name = st.session_state.get(INSTRUMENTS_NAME_KEY)
    return f"built-in + {name}" if name else "built-in instruments"


def text_key(text: str | None) -> str:
    """Short content hash of a text (for cache keys and labels)."""
    return hashlib.sha256((text or "").encode()).hexdigest()[:12]


@st.cache_data(show_spinner=False, ttl=5, max_entries=4)
def _frozen_records(url: str) -> Frozen | None:
    """The freeze in force in the store at ``url`` (asked again after at most 5 seconds, so a
    freeze made in another session shows up at once on its next run)."""
    return Frozen.from_records(_open_store(url).frozen_settings())


def frozen() -> Frozen | None:
    """The claim settings the practice froze (the latest freeze), or None: never frozen, or no
    store to ask. Asked of the store even while the demo cohort is shown, since settings are
    frozen before any data arrive."""
    try:
        return _frozen_records(_store_url())
    except ReliefCheckError:
        return None


def forget_frozen() -> None:
    """Drop the cached freeze (after this session froze the settings)."""
    _frozen_records.clear()


def claims_config() -> ClaimsConfig:
    """The claims settings of this session: the practice's frozen settings (when they verify),
    else SPEC section 6's defaults, until changed on the Claims page."""
    chosen = st.session_state.get(CLAIMS_CONFIG_KEY)
    return chosen if chosen is not None else claims_config_start()


def claims_config_start() -> ClaimsConfig:
    """The settings a session starts from: the frozen ones when they verify, else the
    defaults."""
    fz = frozen()
    if fz is not None and fz.verified:
        try:
            return config_from_json(fz.settings)
        except ReliefCheckError:
            pass
    return ClaimsConfig()


def settings_stamp(config: ClaimsConfig | None = None) -> SettingsStamp:
    """The stamp of ``config`` (default: this session's claims settings) against the freeze."""
    return make_stamp(config or claims_config(), frozen())


# --------------------------------------------------------------------------- sidebar


def _clean(key: str, allowed: list[str]) -> None:
    """Drop selections that the current dataset no longer offers (e.g. after an upload)."""
    chosen = st.session_state.get(key)
    if chosen:
        st.session_state[key] = [v for v in chosen if v in allowed]


def sidebar_filters(ref: DataRef) -> Filters:
    """Render the sidebar filters and return them. Empty selections mean "all"."""
    opts = options(ref)
    with st.sidebar:
        st.markdown("### Filters")
        st.caption("Apply to every page. Leave a box empty to include everyone.")
        chosen: dict[str, tuple[str, ...]] = {}
        labels = {
            "instruments": "Instrument",
            "protocols": "Protocol",
            "sites": "Site",
            "routes": "Route",
        }
        for name, label in labels.items():
            key = _FILTER_KEYS[name]
            if not opts[name]:
                chosen[name] = ()
                continue
            _clean(key, opts[name])
            values = st.multiselect(
                label, opts[name], key=key, placeholder=f"All ({label.lower()}s)"
            )
            chosen[name] = tuple(values)
        tr = "all"
        if opts["treatment_resistant"]:
            tr = st.radio(
                "Treatment-resistant",
                list(TR_CHOICES),
                format_func=TR_CHOICES.get,
                key="filter_tr",
                help="Prior failure of at least two adequate treatments, as the practice records it.",
            )
        period = _period_filter(ref, opts)
    return Filters(
        instruments=chosen["instruments"],
        protocols=chosen["protocols"],
        sites=chosen["sites"],
        routes=chosen["routes"],
        treatment_resistant=tr,
        baseline_period=period,
    )


def _period_filter(ref: DataRef, opts: dict[str, list[str]]) -> tuple[str, ...]:
    """The baseline-period filter (inside the sidebar): all, or a range of quarters or months.
    Returns (from, to) period labels, or () for all patients."""
    if not opts["period_month"]:
        st.caption("Baseline period: no baseline dates in this data (uploads with dates give one).")
        return ()
    unit = st.radio(
        "Baseline period",
        list(_PERIOD_CHOICES),
        format_func=_PERIOD_CHOICES.get,
        key=PERIOD_UNIT_KEY,
        horizontal=True,
        help="Patients whose baseline assessment falls in the chosen months or quarters. Only "
        "the baseline's month is kept, never its day.",
    )
    if unit == "all":
        return ()
    choices = opts[f"period_{unit}"]
    key = _PERIOD_RANGE_KEYS[unit]
    chosen = st.session_state.get(key)
    if chosen is not None and not set(chosen) <= set(choices):
        st.session_state.pop(key)  # the data changed and no longer spans that range
    lo, hi = st.select_slider(
        f"From – to ({unit}s)",
        options=choices,
        value=(choices[0], choices[-1]),
        key=key,
    )
    unknown = period_unknown(attributes(ref))
    if unknown:
        st.caption(
            f"{unknown:,} patient{'s' if unknown != 1 else ''} with no known baseline month "
            f"{'are' if unknown != 1 else 'is'} left out."
        )
    return (lo, hi)


def reset_filters() -> None:
    """Clear every filter (e.g. after switching datasets)."""
    for key in [*_FILTER_KEYS.values(), "filter_tr", PERIOD_UNIT_KEY, *_PERIOD_RANGE_KEYS.values()]:
        st.session_state.pop(key, None)


def banner(ref: DataRef) -> None:
    """The synthetic-data banner on every page while the demo cohort is shown."""
    if ref.is_demo:
        st.warning(
            f"**Synthetic demo data**: {ref.n_patients} made-up patients, not real outcomes. "
            f"{md_escape(ref.note)} Upload your practice's export on the Upload page to see "
            "your own data.",
            icon=":material/science:",
        )


# --------------------------------------------------------------------------- context


def set_context(ctx: Context) -> None:
    st.session_state[_CONTEXT_KEY] = ctx


def context() -> Context:
    """The current run's dataset, registry and filters (set by the app frame)."""
    ctx = st.session_state.get(_CONTEXT_KEY)
    if ctx is None:  # a page run on its own, without the frame
        ctx = Context(data_ref(), registry_text(), Filters())
    return ctx
