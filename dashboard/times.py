"""Times as the viewer reads them: in the browser's time zone, with the zone named.

The store keeps every time in UTC. The Uploads history, the undo choices and the audit logs show
them in the viewer's time zone (``st.context.timezone``, the IANA name the browser reports, e.g.
"Europe/Berlin"), with the zone's name in the column heading; in UTC when the browser does not
say or names a zone this computer does not know. Downloads keep UTC (a file outlives the
viewer's zone). Only ``viewer_zone`` touches Streamlit.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

UTC = "UTC"
#: How a time is written on screen: to the second, no zone (the heading names it).
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def zone_or_utc(name: object) -> str:
    """``name`` when it is a time zone this computer knows (IANA name), else "UTC"."""
    if not isinstance(name, str) or not name.strip():
        return UTC
    try:
        ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return UTC
    return name.strip()


def viewer_zone() -> str:
    """The browser's time zone (``st.context.timezone``), or "UTC" when unknown."""
    import streamlit as st

    try:
        return zone_or_utc(st.context.timezone)
    except (AttributeError, RuntimeError):  # outside a browser session: UTC
        return UTC


def local_times(at: pd.Series, zone: str = UTC) -> pd.Series:
    """UTC times (aware, or naive meaning UTC) as text in ``zone``, to the second; a missing
    time is blank, never "None" or "NaT"."""
    stamps = pd.to_datetime(at, utc=True).dt.tz_convert(zone_or_utc(zone)).dt.floor("s")
    return stamps.dt.strftime(TIME_FORMAT).fillna("").astype("string")


def local_time(at: object, zone: str = UTC) -> str:
    """One UTC time as "2025-03-01 14:05 Europe/Berlin" (to the minute, zone named); "" when
    missing."""
    stamp = pd.Timestamp(at) if at is not None else pd.NaT
    if pd.isna(stamp):
        return ""
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp
    zone = zone_or_utc(zone)
    return f"{stamp.tz_convert(zone):%Y-%m-%d %H:%M} {zone}"


def heading(what: str, zone: str = UTC) -> str:
    """A time column's heading, naming the zone: "committed (Europe/Berlin)"."""
    return f"{what} ({zone_or_utc(zone)})"
