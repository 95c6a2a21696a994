"""Calendar months as the review and the what-if replay use them: "YYYY-MM" read from
--month, a month's bounds in the Settings timezone, its name and how far ``now`` is into it.
"""

from __future__ import annotations

import re

import pandas as pd

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(text: str) -> str:
    """Given text such as "2026-10", return it normalised. Raise ValueError otherwise."""
    cleaned = text.strip()
    if not _MONTH.match(cleaned):
        raise ValueError(f'cannot read "{text}" as a month; write it as YYYY-MM, e.g. 2026-10')
    return cleaned


def default_month(now: pd.Timestamp, timezone: str) -> str:
    """Given the run's time (naive means UTC) and the Settings timezone, return the last
    full month there as "YYYY-MM"."""
    stamp = pd.Timestamp(now)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    local = stamp.tz_convert(timezone)
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def resolve_month(text: str, now: pd.Timestamp, timezone: str) -> str:
    """Given --month as typed ("YYYY-MM"; "previous" or "last" for the last full month;
    "current" for the month ``now`` falls in), the run's time (naive means UTC) and the
    Settings timezone, return the month as "YYYY-MM". Raise ValueError for other text."""
    word = text.strip().casefold()
    if word in ("previous", "last"):
        return default_month(now, timezone)
    if word == "current":
        stamp = pd.Timestamp(now)
        return (stamp if stamp.tzinfo else stamp.tz_localize("UTC")).tz_convert(timezone) \
            .strftime("%Y-%m")
    try:
        return parse_month(text)
    except ValueError:
        raise ValueError(f'cannot read "{text}" as a month; write YYYY-MM (e.g. 2026-10), '
                         "previous (or last) or current") from None


def month_bounds(month: str, timezone: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Given "YYYY-MM" and the Settings timezone, return the month's [start, end) in UTC."""
    first = pd.Timestamp(f"{month}-01")
    after = first + pd.DateOffset(months=1)
    return _local_midnight(first, timezone), _local_midnight(after, timezone)


def _local_midnight(day: pd.Timestamp, timezone: str) -> pd.Timestamp:
    # A few zones skip or repeat midnight at a DST change; take the earliest real instant.
    return day.tz_localize(timezone, nonexistent="shift_forward", ambiguous=True).tz_convert("UTC")


def shift_month(month: str, months: int) -> str:
    """Given "YYYY-MM" and a number of months, return the month that many later
    (earlier when negative)."""
    return (pd.Timestamp(f"{month}-01") + pd.DateOffset(months=months)).strftime("%Y-%m")


def month_name(month: str) -> str:
    """Given "YYYY-MM", return its name as people read it ("October 2026")."""
    return pd.Timestamp(f"{month}-01").strftime("%B %Y")


def month_progress(month: str, timezone: str, now: pd.Timestamp | None) -> str:
    """"25 of 30 days" while ``now`` falls inside the month, else ""."""
    if now is None:
        return ""
    start, end = month_bounds(month, timezone)
    stamp = pd.Timestamp(now)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    if not start <= stamp < end:
        return ""
    days = pd.Timestamp(f"{month}-01").days_in_month
    return f"{stamp.tz_convert(timezone).day} of {days} days"
