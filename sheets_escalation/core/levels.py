"""Levels as people type them, read one way everywhere (docs/decisions.md, "Level text").

``L2``, ``l2``, ``2``, ``2.0``, ``Level 2``, ``Lvl 2``, ``Tier 2`` all name level 2, in
the Escalations Level column, the Levels and Triggers tabs, History, the command line and
the review. Only the Escalations Level cell may carry a note after the level
(``L2 - Specialist``): elsewhere a name such as ``L2 silent`` is a trigger, not a level.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

_LEVEL = re.compile(
    r"(?:(?:level|lvl|tier|l)\s*)?(?P<level>[123])(?:\.0+)?"
    r"(?P<note>(?:\s+|\s*[-–—:(/,|]).*)?",
    re.DOTALL,
)


def level_number(value: object, *, note: bool = False) -> int | None:
    """Given a cell such as "L2", "Tier 2", "2" or 2.0, return 2; None if it names no
    level (booleans and blanks name none). With ``note``, text after the level, separated
    by a space or a dash ("L2 - Specialist"), is allowed and ignored."""
    if value is None or isinstance(value, bool):
        return None
    match = _LEVEL.fullmatch(str(value).strip().casefold())
    if match is None or (match.group("note") and not note):
        return None
    return int(match.group("level"))


def level_numbers(texts: pd.Series) -> pd.Series:
    """Given level texts (History's From and To), return their numbers as floats, NaN
    where a text names no level."""
    codes, distinct = pd.factorize(texts.astype(str))
    numbers = np.array([np.nan if (n := level_number(text)) is None else float(n)
                        for text in distinct], dtype=float)
    values = np.where(codes >= 0, numbers[codes] if len(numbers) else np.nan, np.nan)
    return pd.Series(values, index=texts.index, dtype=float)


def level_label(level: int) -> str:
    """Given a level number, return its label (2 -> "L2")."""
    return f"L{level}"
