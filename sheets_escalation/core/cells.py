"""Reading what people type in cells: the shared pieces, and yes/no, levels and text.

Every reader is total: any value a backend (or anything else) hands over either reads or
yields a problem message for that row; nothing raises. Readers work on whole columns: values
are grouped by type (:func:`classify`), numbers and datetime objects are converted with
numpy in one go, and strings are read once per distinct value (a column of 100,000 rows
typically holds a few hundred distinct strings). This module holds that machinery, the
quoting of values in problem messages and the small readers; dates and times are read by
:mod:`core.dates` and amounts of money by :mod:`core.money`, both built on the pieces here
(the names with a leading underscore are shared with them, not meant for use outside core).

Raw values are ``None`` (blank), ``str``, ``int``, ``float``, ``bool``, naive
``datetime.datetime`` / ``datetime.date`` (local time) or, from Google Sheets, serial numbers
(days since 1899-12-30, the fraction being the time of day).
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from collections.abc import Hashable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import numpy as np
import pandas as pd
from pandas._libs import lib

from sheets_escalation.core.levels import level_number

__all__ = [
    "ParsedColumn",
    "combine_problems",
    "format_value",
    "parse_levels",
    "parse_text",
    "parse_yesno",
]

# Cells longer than this cannot be a date, amount, yes/no or level; refusing them early keeps
# the readers' regexes cheap on pathological input (a 50,000-character paste).
MAX_TOKEN = 120
_QUOTE_LIMIT = 80

# Typed in place of a value to say "nothing here": read as blank, not as a problem.
_BLANK_MARKERS = frozenset({"-", "--", "—", "–", "n/a", "na", "none", "nil"})


@dataclass(frozen=True)
class ParsedColumn:
    """A parsed column: ``values`` and per-row ``problems`` ("" when the cell was fine)."""

    values: pd.Series
    problems: pd.Series


# --------------------------------------------------------------------------------------
# Classifying raw values


_BLANK, STR, NUMBER, BOOL, DATETIME, DATE, OTHER = range(7)

_KIND_BY_TYPE: dict[type, int] = {
    type(None): _BLANK,
    str: STR,
    int: NUMBER,
    float: NUMBER,
    bool: BOOL,
    dt.datetime: DATETIME,
    pd.Timestamp: DATETIME,
    dt.date: DATE,
}


def _canonical(value: object) -> object:
    """Given a value of an unusual type, return an equivalent of a usual one.

    numpy scalars, Decimals, ``pd.NA``/``NaT`` and the like become ``None``/``bool``/
    ``int``/``float``/``str``/``datetime``; values with no such equivalent come back as they
    are and are reported by the parser as unreadable.
    """
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return str(value)
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return None
        return _datetime64_to_python(value)
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real | Decimal):
        try:
            return float(value)
        except (OverflowError, ValueError):
            return value
    return value


def _datetime64_to_python(value: np.datetime64) -> object:
    # A nanosecond value converts to a bare int; going through microseconds keeps it a
    # datetime, and values beyond what datetime holds stay numpy (read as unreadable).
    converted = value.astype("datetime64[us]").item()
    return converted if isinstance(converted, dt.datetime) else value


def classify(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Given a raw column, return (values as an object array, kind code per value)."""
    values: np.ndarray = raw.to_numpy(dtype=object, copy=True)
    # NaN, NaT and pd.NA are pandas' spellings of a blank cell.
    values[pd.isna(values)] = None
    kinds = _kinds_of(values)
    unusual = np.flatnonzero(kinds == OTHER)
    if len(unusual):
        for position in unusual:
            values[position] = cast(Any, _canonical(values[position]))
        kinds[unusual] = _kinds_of(values[unusual])
    return values, kinds


def _kinds_of(values: np.ndarray) -> np.ndarray:
    # map(type, ...) runs in C; only the dictionary look-up per distinct type is Python.
    types = pd.Series(np.fromiter(map(type, values), dtype=object, count=len(values)))
    codes, uniques = pd.factorize(types)
    table = np.array([_KIND_BY_TYPE.get(t, OTHER) for t in uniques] + [OTHER], dtype=np.int8)
    return table[codes]


def blank_floats(values: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Mark NaN floats (pandas' blank) as blank kinds in place; return the kinds."""
    numbers_at = np.flatnonzero(kinds == NUMBER)
    if len(numbers_at):
        as_float, fits = to_floats(values[numbers_at])
        kinds[numbers_at[np.isnan(as_float) & fits]] = _BLANK
    return kinds


def to_floats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Given ints/floats as objects, return (float64 array, mask of values that fit).

    Integers too large for a float come back as NaN with the mask False.
    """
    try:
        return values.astype(np.float64), np.ones(len(values), dtype=bool)
    except OverflowError:
        floats = np.empty(len(values), dtype=np.float64)
        fits = np.ones(len(values), dtype=bool)
        for position, value in enumerate(values):
            try:
                floats[position] = float(value)
            except OverflowError:
                floats[position] = math.nan
                fits[position] = False
        return floats, fits


def distinct_values(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Given strings, return (codes, distinct trimmed strings): value i trims to
    ``distinct[codes[i]]``. Callers parse each distinct string once and gather by code."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object))
    return codes, [text.strip() for text in uniques]


def _trimmed(texts: np.ndarray) -> np.ndarray:
    """Given strings, return them trimmed. Each distinct text is stripped once: most columns
    repeat a few values (Status, Channel, Customer), and hashing runs in C while str.strip
    is a Python call per value."""
    codes, distinct = distinct_values(texts)
    return np.array(distinct, dtype=object)[codes]


def problem_series(
    index: pd.Index, header: str, noun: str, raw_values: np.ndarray, bad: np.ndarray
) -> pd.Series:
    """Return per-row problem texts: '{header}: cannot read "{value}" as {noun}' where bad."""
    problems = np.full(len(index), "", dtype=object)
    bad_at = np.flatnonzero(bad)
    if len(bad_at):
        # Quote each distinct bad value once: a column may repeat the same mistake.
        quoted: dict[Hashable, str] = {}
        for position in bad_at:
            value = raw_values[position]
            key: Hashable = (type(value), value) if _hashable(value) else id(value)
            if key not in quoted:
                quoted[key] = f'{header}: cannot read "{format_value(value)}" as {noun}'
            problems[position] = quoted[key]
    return pd.Series(problems, index=index, dtype="str")


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def is_blank_text(text: str) -> bool:
    return text == "" or text.casefold() in _BLANK_MARKERS


# --------------------------------------------------------------------------------------
# Quoting values in problem messages


def format_value(value: object) -> str:
    """Given a raw cell value, return how it is quoted inside a problem message.

    Strings are trimmed with runs of whitespace (line breaks included) shown as one space;
    whole floats lose their ``.0``; booleans read ``TRUE``/``FALSE`` as a spreadsheet shows
    them. Anything longer than 80 characters is cut to its first 79 and ``…``. Never raises.
    """
    text = _render(value)
    text = " ".join(text.split())
    if len(text) > _QUOTE_LIMIT:
        text = text[: _QUOTE_LIMIT - 1] + "…"
    return text


def _render(value: object) -> str:
    value = _canonical(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return _render_int(value)
    if isinstance(value, float):
        return _render_float(value)
    if isinstance(value, dt.datetime | dt.date):
        return _render_datetime(value)
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - an arbitrary object's __str__ may fail any way it likes
        return f"<{type(value).__name__}>"


def _render_int(value: int) -> str:
    # Python refuses to print integers of more than 4,300 digits; such a cell is junk anyway.
    if value.bit_length() > 4000:
        return f"<integer of about {int(value.bit_length() * math.log10(2))} digits>"
    return str(value)


def _render_float(value: float) -> str:
    if math.isnan(value):
        return ""
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    # Fifteen significant digits is what a spreadsheet shows: 0.1 + 0.2 reads 0.3.
    return format(value, ".15g")


def _render_datetime(value: dt.date) -> str:
    if not isinstance(value, dt.datetime):
        return value.isoformat()
    whole_minute = value.second == 0 and value.microsecond == 0
    return value.isoformat(sep=" ", timespec="minutes" if whole_minute else "auto")


# --------------------------------------------------------------------------------------
# Yes/no and levels


_YES = frozenset({"yes", "y", "true", "1", "x", "✓", "✔", "☑", "✅", "✔️", "☑️"})
_NO = frozenset({"", "no", "n", "false", "0", "☐", "✗", "✘", "❌"}) | _BLANK_MARKERS


def parse_yesno(raw: pd.Series, header: str) -> ParsedColumn:
    """Given raw cells of a yes/no column, return booleans.

    ``yes``, ``y``, ``true``, ``1``, ``x``, ``✓``, ``✔``, ``☑``, ``✅`` (any case, trimmed),
    ``True`` and the number 1 are yes. Blank, ``no``, ``n``, ``false``, ``0``, ``☐``, ``✗``,
    ``-``, ``n/a``, ``False`` and the number 0 are no. Anything else is no, with the problem
    ``{header}: cannot read "{value}" as yes/no``.
    """
    index = raw.index
    values, kinds = classify(raw)
    kinds = blank_floats(values, kinds)
    answers = np.zeros(len(values), dtype=bool)
    bad = np.isin(kinds, (DATETIME, DATE, OTHER))

    bools_at = np.flatnonzero(kinds == BOOL)
    answers[bools_at] = values[bools_at].astype(bool)

    numbers_at = np.flatnonzero(kinds == NUMBER)
    if len(numbers_at):
        floats, _ = to_floats(values[numbers_at])
        answers[numbers_at] = floats == 1
        bad[numbers_at] = (floats != 1) & (floats != 0)

    strings_at = np.flatnonzero(kinds == STR)
    if len(strings_at):
        codes, distinct = distinct_values(values[strings_at])
        readings = [_yesno_text(text) for text in distinct]
        distinct_yes = np.array([reading is True for reading in readings], dtype=bool)
        distinct_bad = np.array([reading is None for reading in readings], dtype=bool)
        answers[strings_at] = distinct_yes[codes]
        bad[strings_at] = distinct_bad[codes]

    problems = problem_series(index, header, "yes/no", values, bad)
    return ParsedColumn(pd.Series(answers, index=index, dtype=bool), problems)


def _yesno_text(text: str) -> bool | None:
    if len(text) > MAX_TOKEN:
        return None
    folded = text.casefold()
    if folded in _YES:
        return True
    if folded in _NO:
        return False
    return None


def _level_text(text: str) -> int | None:
    """Given trimmed text, return the level it names (1 when blank), None if unreadable."""
    if len(text) > MAX_TOKEN:
        return None
    if is_blank_text(text):
        return 1
    return level_number(text, note=True)


def parse_levels(raw: pd.Series, header: str) -> ParsedColumn:
    """Given raw cells of the Level column, return levels as int64 1, 2 or 3.

    Reads ``L2``, ``l2``, ``2``, ``2.0``, the numbers 2 and 2.0, ``Level 2``, ``Tier 2`` and
    ``L2 - Specialist`` (anything after the level, separated by a space or dash, is ignored)
    as 2. Blank (and ``-``, ``n/a``) is 1 with no problem. Anything else is 1, with the
    problem ``{header}: cannot read "{value}" as a level (L1, L2 or L3)``.
    """
    index = raw.index
    values, kinds = classify(raw)
    kinds = blank_floats(values, kinds)
    levels = np.ones(len(values), dtype=np.int64)
    bad = np.isin(kinds, (BOOL, DATETIME, DATE, OTHER))

    numbers_at = np.flatnonzero(kinds == NUMBER)
    if len(numbers_at):
        floats, _ = to_floats(values[numbers_at])
        ok = np.isin(floats, (1.0, 2.0, 3.0))
        levels[numbers_at[ok]] = floats[ok].astype(np.int64)
        bad[numbers_at[~ok]] = True

    strings_at = np.flatnonzero(kinds == STR)
    if len(strings_at):
        codes, distinct = distinct_values(values[strings_at])
        readings = [_level_text(text) for text in distinct]
        distinct_levels = np.array([reading or 1 for reading in readings], dtype=np.int64)
        distinct_bad = np.array([reading is None for reading in readings], dtype=bool)
        levels[strings_at] = distinct_levels[codes]
        bad[strings_at] = distinct_bad[codes]

    problems = problem_series(index, header, "a level (L1, L2 or L3)", values, bad)
    return ParsedColumn(pd.Series(levels, index=index, dtype=np.int64), problems)


# --------------------------------------------------------------------------------------
# Text and problems


def parse_text(raw: pd.Series) -> pd.Series:
    """Given raw cells of a text column, return trimmed strings ("" for blank).

    Numbers read as typed: whole numbers lose the ``.0`` a spreadsheet adds (an ID typed as
    12 stays ``12``); booleans read ``TRUE``/``FALSE``; dates and datetimes read in ISO form
    (``2026-03-05``, ``2026-03-05 14:30``). Never raises.
    """
    plain = raw.to_numpy(dtype=object)
    if len(plain) and lib.is_string_array(plain):  # type: ignore[attr-defined]  # text only, as usual
        return pd.Series(_trimmed(plain), index=raw.index, dtype="str")
    values, kinds = classify(raw)
    texts = np.full(len(values), "", dtype=object)
    strings_at = np.flatnonzero(kinds == STR)
    if len(strings_at):
        texts[strings_at] = _trimmed(values[strings_at])
    others_at = np.flatnonzero((kinds != STR) & (kinds != _BLANK))
    for position in others_at:
        texts[position] = _render(values[position]).strip()
    return pd.Series(texts, index=raw.index, dtype="str")


def combine_problems(*problems: pd.Series) -> pd.Series:
    """Given per-row problem columns of equal length (rows matched by position, the result
    carrying the first column's index), return them joined with ``"; "`` per row, leaving
    out empty ones ("" where a row has none). Missing values count as empty."""
    if not problems:
        return pd.Series([], dtype="str")
    index = problems[0].index
    combined = np.full(len(index), "", dtype=object)
    for column in problems:
        texts = column.to_numpy(dtype=object, na_value="")
        if not lib.is_string_array(texts):  # type: ignore[attr-defined]  # not only text
            texts = np.array([str(t) for t in texts], dtype=object)
        present = texts != ""
        joined = combined != ""
        combined = np.where(
            present & joined, combined + "; " + texts, np.where(present, texts, combined)
        )
    return pd.Series(combined, index=index, dtype="str")
