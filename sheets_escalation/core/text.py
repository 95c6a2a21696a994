"""Small text forms shared by the core: a cell as people typed it, and an instant (or a
column of them) as a local minute ("2026-10-05 14:30")."""

from __future__ import annotations

import math

import pandas as pd


def cell_text(value: object) -> str:
    """Given a cell's value, return it as text: "" for blank or NaN, whole floats without
    ".0", everything else stripped."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return str(value).strip()


def local_minute(instant: pd.Timestamp, timezone: str) -> str:
    """Given an aware instant and a timezone, return its local minute "YYYY-MM-DD HH:MM"."""
    return instant.tz_convert(timezone).strftime("%Y-%m-%d %H:%M")


def local_minutes(instants: pd.Series, timezone: str) -> pd.Series:
    """Given aware instants and a timezone, return each as its local minute
    "YYYY-MM-DD HH:MM" (NaN where an instant is missing)."""
    return instants.dt.tz_convert(timezone).dt.strftime("%Y-%m-%d %H:%M")
