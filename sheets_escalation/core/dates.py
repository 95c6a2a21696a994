"""Reading dates and times people type, or a spreadsheet hands over, as UTC instants.

:func:`parse_datetimes` reads a whole column: datetime and date objects, spreadsheet serial
numbers (days since 1899-12-30, the fraction being the time of day) and typed text in the
usual layouts, in either day/month order. Like every reader in :mod:`core.cells` it is
total: a value either reads or yields a problem for its row. Text in the layouts people type
most goes through pandas in one pass (:func:`_common_layouts`); the rest is read once per
distinct text by a small grammar. :func:`date_order_evidence` says which typed dates
contradict the Settings date order, and :func:`parse_datetime_scalar` reads one cell.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter

import numpy as np
import pandas as pd

from sheets_escalation.core.cells import (
    BOOL,
    DATE,
    DATETIME,
    MAX_TOKEN,
    NUMBER,
    OTHER,
    STR,
    ParsedColumn,
    blank_floats,
    classify,
    distinct_values,
    format_value,
    is_blank_text,
    problem_series,
    to_floats,
)

__all__ = [
    "DATE_ORDERS",
    "DateOrderEvidence",
    "date_order_evidence",
    "parse_datetime_scalar",
    "parse_datetimes",
]

DATE_ORDERS: tuple[str, ...] = ("MDY", "DMY")

# Spreadsheet serial numbers count days from this local midnight.
_SERIAL_ORIGIN = np.datetime64("1899-12-30T00:00:00", "ns")
_NS_PER_DAY = 86_400 * 10**9
_NS_PER_MS = 10**6
# Readable local dates: serial 1 (1899-12-31) up to the end of 2261, which keeps every
# result (after any time zone shift) inside pandas' nanosecond range (ends 2262-04-11).
_EARLIEST = np.datetime64("1899-12-31T00:00:00", "ns")
_LATEST = np.datetime64("2262-01-01T00:00:00", "ns")
_EARLIEST_NS, _LATEST_NS = int(_EARLIEST.astype(np.int64)), int(_LATEST.astype(np.int64))
_ORIGIN_NS = int(_SERIAL_ORIGIN.astype(np.int64))
# Years a date may carry; a datetime in 1899 must also be on or after 1899-12-31.
_MIN_YEAR, _MAX_YEAR = 1899, 2261
_MIN_SERIAL = 1.0
# In days: the span in nanoseconds would overflow int64.
_MAX_SERIAL = float((_LATEST.astype("datetime64[D]") - _SERIAL_ORIGIN.astype("datetime64[D]")).astype(np.int64))
_ORDINAL_1970 = dt.date(1970, 1, 1).toordinal()
_NAT = np.iinfo(np.int64).min


_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
        ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
        ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
        ("dec", "december"),
    ),
    start=1,
):
    for _name in _names:
        _MONTHS[_name] = _number

_MONTH = r"(?P<month_name>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_WEEKDAY = (
    r"(?:(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)\.?"
    r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday),?\s+"
)
_ZONE = r"(?P<zone>z|utc|gmt|(?:utc|gmt)?(?P<sign>[+-])(?P<zh>\d{2}):?(?P<zm>\d{2})?)"
_CLOCK = (
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?)?"
    r"\s*(?P<ampm>[ap]\.?m\.?)?"
)
_TIME_TAIL = r"(?:(?:\s*,\s*|\s+(?:at\s+)?|t)" + _CLOCK + r"(?:\s*" + _ZONE + r")?)?"
_ISO_TIME_TAIL = (
    r"(?:[t\s]" + _CLOCK + r"(?:\s*" + _ZONE + r")?)?"
)

_DATE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "ymd",
        re.compile(
            r"(?P<year>\d{4})(?P<sep>[-/.])(?P<first>\d{1,2})(?P=sep)(?P<second_number>\d{1,2})"
            + _ISO_TIME_TAIL
        ),
    ),
    (
        "numeric",
        re.compile(
            r"(?P<first>\d{1,2})(?P<sep>[-/.])(?P<second_number>\d{1,2})(?P=sep)(?P<year>\d{4}|\d{2})"
            + _TIME_TAIL
        ),
    ),
    (
        "day_name",
        re.compile(
            r"(?:" + _WEEKDAY + r")?(?P<day>\d{1,2})(?:st|nd|rd|th)?[\s\-/.]*" + _MONTH
            + r",?[\s\-/.]+(?P<year>\d{4}|\d{2})" + _TIME_TAIL
        ),
    ),
    (
        "name_day",
        re.compile(
            r"(?:" + _WEEKDAY + r")?" + _MONTH + r"[\s\-/.]*(?P<day>\d{1,2})(?:st|nd|rd|th)?"
            r"(?:,\s*|[\s\-/.]+)(?P<year>\d{4}|\d{2})" + _TIME_TAIL
        ),
    ),
)
_NUMERIC_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def _full_year(text: str) -> int:
    # Two-digit years follow the POSIX strptime rule: 69-99 are 19xx, 00-68 are 20xx.
    year = int(text)
    if len(text) == 2:
        return 1900 + year if year >= 69 else 2000 + year
    return year


def _clock(match: re.Match[str]) -> tuple[int, int, int, int] | None:
    """Return (hour, minute, second, nanosecond) of a matched time, None if invalid."""
    if match.group("hour") is None:
        return 0, 0, 0, 0
    hour = int(match.group("hour"))
    minute_text, ampm = match.group("minute"), match.group("ampm")
    if minute_text is None and ampm is None:
        return None  # a bare number after a date is not a time ("3/5/2026 14")
    minute = int(minute_text or 0)
    second = int(match.group("second") or 0)
    fraction = match.group("fraction") or ""
    nanosecond = int(fraction.ljust(9, "0")) if fraction else 0
    if ampm is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm[0] == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour, minute, second, nanosecond


def _zone_offset_ns(match: re.Match[str]) -> int | None:
    """Return the matched UTC offset in ns (0 for Z/UTC/GMT), None if there is no zone."""
    if match.group("zone") is None:
        return None
    if match.group("sign") is None:
        return 0
    hours, minutes = int(match.group("zh")), int(match.group("zm") or 0)
    if hours > 23 or minutes > 59:
        return None
    offset = (hours * 3600 + minutes * 60) * 10**9
    return -offset if match.group("sign") == "-" else offset


def _day_month(kind: str, match: re.Match[str], day_first: bool) -> tuple[int, int] | None:
    """Return (month, day) of a matched date, resolving numeric order; None if impossible."""
    if kind == "ymd":
        return int(match.group("first")), int(match.group("second_number"))
    if kind == "numeric":
        first, second = int(match.group("first")), int(match.group("second_number"))
        month, day = (second, first) if day_first else (first, second)
        if month > 12 and day <= 12:
            # Unambiguous whatever the order: 31/12/2026 is 31 December in MDY sheets too.
            month, day = day, month
        return month, day
    return _MONTHS[match.group("month_name")], int(match.group("day"))


def _date_text(text: str, day_first: bool) -> tuple[int, bool] | None:
    """Given trimmed text, return (ns since 1970, is_utc) or None if blank or unreadable.

    ``is_utc`` False means the ns are a naive local wall time still to be localised.
    """
    if text == "" or len(text) > MAX_TOKEN:
        return None
    return _parse_date_text(text, day_first)


@lru_cache(maxsize=65_536)
def _parse_date_text(text: str, day_first: bool) -> tuple[int, bool] | None:
    lowered = text.casefold()
    if _NUMERIC_TEXT.fullmatch(lowered):
        serial = float(lowered)
        if _serial_in_range(serial):
            return _serial_to_ns(serial), False
        return None
    for kind, pattern in _DATE_PATTERNS:
        match = pattern.fullmatch(lowered)
        if match is None:
            continue
        month_day = _day_month(kind, match, day_first)
        clock = _clock(match)
        if month_day is None or clock is None:
            return None
        year = _full_year(match.group("year"))
        month, day = month_day
        if not _MIN_YEAR <= year <= _MAX_YEAR:
            return None
        try:
            ordinal = dt.date(year, month, day).toordinal()
        except ValueError:
            return None
        hour, minute, second, nanosecond = clock
        ns = ((ordinal - _ORDINAL_1970) * 86_400 + hour * 3600 + minute * 60 + second) * 10**9
        ns += nanosecond
        offset = _zone_offset_ns(match)
        if match.group("zone") is not None and offset is None:
            return None
        if not _EARLIEST_NS <= ns < _LATEST_NS:
            return None
        if offset is None:
            return ns, False
        return ns - offset, True
    return None


def _serial_in_range(serial: float) -> bool:
    return math.isfinite(serial) and _MIN_SERIAL <= serial < _MAX_SERIAL


def _serial_to_ns(serial: float) -> int:
    # Rounded to the millisecond: sheets store times as binary fractions of a day, so
    # 14:30 arrives as 0.60416666...; the raw product would read 14:29:59.999999.
    return _ORIGIN_NS + round(serial * 86_400_000) * _NS_PER_MS


def _check_settings(timezone: str, date_order: str) -> None:
    if date_order not in DATE_ORDERS:
        raise ValueError(f"date order must be MDY or DMY, not {date_order!r}")
    if not isinstance(timezone, str) or not timezone:
        raise ValueError(f"time zone must be an IANA name, not {timezone!r}")


def parse_datetimes(
    raw: pd.Series, header: str, timezone: str, date_order: str = "MDY"
) -> ParsedColumn:
    """Given raw cells of a datetime column, return them as ``datetime64[ns, UTC]``.

    Reads datetime/date objects (naive ones, and dates at midnight, are wall times in
    ``timezone``; aware ones are converted), spreadsheet serial numbers (int/float or typed
    as text, 1 = 1899-12-31, fraction = time of day, read as wall times in ``timezone``) and
    typed text: ISO 8601 with or without time, seconds, fraction and offset/``Z``;
    ``3/5/2026``, ``3/5/26``, ``05.03.2026`` with an optional time such as ``14:30`` or
    ``2:30 PM`` (ambiguous day/month follow ``date_order``; a first number over 12 is a day
    whatever the order); ``5 Mar 2026``, ``05-Mar-26``, ``March 5, 2026 14:00``, with an
    optional weekday. Text may end in ``Z``, ``UTC``, ``GMT`` or an offset such as ``+01:00``.
    Two-digit years 00-68 are 20xx and 69-99 are 19xx. Readable dates run from 1899-12-31 to
    2261-12-31.

    Wall times that do not exist (the hour skipped when clocks go forward) move forward to
    the first existing instant (02:30 reads as 03:00); wall times that happen twice (when
    clocks go back) read as the first of the two.

    Blank cells (None, NaN, empty or whitespace text, ``-``, ``n/a``, ``none``) are NaT with
    no problem; anything else unreadable is NaT with the problem
    ``{header}: cannot read "{value}" as a date``. Raise ValueError only if ``date_order`` is
    not MDY/DMY or ``timezone`` is not a time zone name pandas knows.
    """
    _check_settings(timezone, date_order)
    if isinstance(raw.dtype, np.dtype) and raw.dtype.kind == "M":
        return _naive_datetime64(raw, header, timezone)
    day_first = date_order == "DMY"
    index = raw.index
    values, kinds = classify(raw)
    kinds = blank_floats(values, kinds)
    count = len(values)
    local_ns = np.full(count, _NAT, dtype=np.int64)
    utc_ns = np.full(count, _NAT, dtype=np.int64)
    bad = np.isin(kinds, (BOOL, OTHER))

    numbers_at = np.flatnonzero(kinds == NUMBER)
    if len(numbers_at):
        serials, fits = to_floats(values[numbers_at])
        with np.errstate(invalid="ignore"):
            ok = fits & np.isfinite(serials) & (serials >= _MIN_SERIAL) & (serials < _MAX_SERIAL)
        good = numbers_at[ok]
        milliseconds = np.round(serials[ok] * 86_400_000).astype(np.int64)
        local_ns[good] = _ORIGIN_NS + milliseconds * _NS_PER_MS
        bad[numbers_at[~ok]] = True

    datetimes_at = np.flatnonzero(kinds == DATETIME)
    if len(datetimes_at):
        _read_datetime_objects(values[datetimes_at], datetimes_at, local_ns, utc_ns, bad)

    dates_at = np.flatnonzero(kinds == DATE)
    if len(dates_at):
        dates = values[dates_at]
        years = np.fromiter(map(attrgetter("year"), dates), dtype=np.int64, count=len(dates))
        ok = (years >= _MIN_YEAR) & (years <= _MAX_YEAR)
        as_days = np.array(list(dates[ok]), dtype="datetime64[D]")
        midnights = as_days.astype("datetime64[ns]").astype(np.int64)
        too_early = midnights < _EARLIEST_NS
        local_ns[dates_at[ok][~too_early]] = midnights[~too_early]
        bad[dates_at[ok][too_early]] = True
        bad[dates_at[~ok]] = True

    strings_at = np.flatnonzero(kinds == STR)
    if len(strings_at):
        codes, distinct = distinct_values(values[strings_at])
        distinct_ns = _common_layouts(distinct, day_first)
        distinct_utc = np.zeros(len(distinct), dtype=bool)
        distinct_bad = np.zeros(len(distinct), dtype=bool)
        for position in np.flatnonzero(distinct_ns == _NAT).tolist():
            text = distinct[position]
            result = _date_text(text, day_first)
            if result is None:
                distinct_bad[position] = not is_blank_text(text)
            else:
                distinct_ns[position], distinct_utc[position] = result
        is_utc = distinct_utc[codes]
        utc_ns[strings_at[is_utc]] = distinct_ns[codes][is_utc]
        local_ns[strings_at[~is_utc]] = distinct_ns[codes][~is_utc]
        bad[strings_at] = distinct_bad[codes]

    utc = _localize(local_ns, timezone)
    combined = np.where(utc_ns != _NAT, utc_ns, utc)
    parsed = pd.Series(
        pd.DatetimeIndex(combined.view("datetime64[ns]")).tz_localize("UTC").array, index=index
    )
    problems = problem_series(index, header, "a date", values, bad)
    return ParsedColumn(parsed, problems)


def _naive_datetime64(raw: pd.Series, header: str, timezone: str) -> ParsedColumn:
    """Given a column of naive datetimes only (``datetime64``: pandas infers it from cells
    that all hold datetimes or nothing), return what :func:`parse_datetimes` returns for the
    same values as objects, without making an object of each."""
    index = raw.index
    count = len(raw)
    stamps = raw.to_numpy()
    local_ns = np.full(count, _NAT, dtype=np.int64)
    bad = np.zeros(count, dtype=bool)
    positions = np.flatnonzero(~np.isnat(stamps))
    if len(positions):
        _read_datetime_objects(stamps[positions], positions, local_ns,
                               np.full(count, _NAT, dtype=np.int64), bad)
    parsed = pd.Series(
        pd.DatetimeIndex(_localize(local_ns, timezone).view("datetime64[ns]"))
        .tz_localize("UTC").array, index=index)
    # Only the cells out of range are quoted, as the objects they would have been.
    values = raw.to_numpy(dtype=object) if bad.any() else np.empty(count, dtype=object)
    problems = problem_series(index, header, "a date", values, bad)
    return ParsedColumn(parsed, problems)


def _common_layouts(texts: list[str], day_first: bool) -> np.ndarray:
    """Given trimmed texts, return local wall times (ns) for those in the layouts people
    type most (``2026-03-05 14:30``, ``2026-03-05``, ``3/5/2026 14:30``, ``3/5/2026`` in
    the date order), NaT for the rest. Each value read here reads the same through
    :func:`_date_text`; pandas parses a whole column of one layout in C, where
    :func:`_date_text` runs a few regexes per text."""
    result = np.full(len(texts), _NAT, dtype=np.int64)
    if not texts:
        return result
    slash = "%d/%m/%Y" if day_first else "%m/%d/%Y"
    series = pd.Series(texts, dtype=object)
    left = np.ones(len(texts), dtype=bool)
    for layout in ("%Y-%m-%d %H:%M", "%Y-%m-%d", f"{slash} %H:%M", slash):
        if not left.any():
            break
        parsed = pd.to_datetime(series[left], format=layout, errors="coerce").to_numpy(
            dtype="datetime64[ns]").view(np.int64)
        ok = (parsed != _NAT) & (parsed >= _EARLIEST_NS) & (parsed < _LATEST_NS)
        at = np.flatnonzero(left)[ok]
        result[at] = parsed[ok]
        left[at] = False
    return result


def _read_datetime_objects(
    objects: np.ndarray,
    positions: np.ndarray,
    local_ns: np.ndarray,
    utc_ns: np.ndarray,
    bad: np.ndarray,
) -> None:
    """Fill local/UTC nanoseconds (or ``bad``) at ``positions`` from datetime objects."""
    try:
        # All naive, as every backend hands them over: pandas converts them in one C pass.
        naive_index = pd.DatetimeIndex(objects)
    except (ValueError, TypeError, OverflowError):
        naive_index = None
    if naive_index is not None and naive_index.tz is None:
        years = np.asarray(naive_index.year)
        fits = (years >= _MIN_YEAR) & (years <= _MAX_YEAR)
        wall = naive_index[fits].as_unit("ns").asi8
        inside = (wall >= _EARLIEST_NS) & (wall < _LATEST_NS)
        local_ns[positions[fits][inside]] = wall[inside]
        bad[positions[fits][~inside]] = True
        bad[positions[~fits]] = True
        return
    count = len(objects)
    years = np.fromiter(map(attrgetter("year"), objects), dtype=np.int64, count=count)
    tzinfos = np.fromiter(map(attrgetter("tzinfo"), objects), dtype=object, count=count)
    # Aware values are compared by their UTC instant, whose year may differ by one.
    in_range = (years >= _MIN_YEAR) & (years <= _MAX_YEAR)
    naive = pd.isna(tzinfos)
    naive_ok = in_range & naive
    if naive_ok.any():
        local = pd.DatetimeIndex(list(objects[naive_ok])).as_unit("ns").asi8
        local_ns[positions[naive_ok]] = local
    aware_ok = np.flatnonzero(in_range & ~naive)
    for offset in aware_ok:
        # Aware datetimes are rare (nothing a backend reads is aware), so one at a time.
        try:
            instant = pd.Timestamp(objects[offset]).tz_convert("UTC").as_unit("ns")
        except (ValueError, OverflowError, TypeError, ArithmeticError):
            bad[positions[offset]] = True
            continue
        if _EARLIEST <= instant.tz_localize(None).to_datetime64() < _LATEST:
            utc_ns[positions[offset]] = instant.value
        else:
            bad[positions[offset]] = True
    local_in_bounds = (local_ns[positions] == _NAT) | (
        (local_ns[positions] >= _EARLIEST_NS) & (local_ns[positions] < _LATEST_NS)
    )
    out_of_bounds = positions[~local_in_bounds]
    local_ns[out_of_bounds] = _NAT
    bad[out_of_bounds] = True
    bad[positions[~in_range]] = True


def _localize(local_ns: np.ndarray, timezone: str) -> np.ndarray:
    """Given naive local wall times (ns, NaT allowed), return their UTC instants (ns).

    Nonexistent wall times shift forward to the first existing instant; ambiguous ones take
    the earlier instant (the first time the clock shows them).
    """
    wall = pd.DatetimeIndex(local_ns.view("datetime64[ns]"))
    try:
        summer = wall.tz_localize(
            timezone, ambiguous=np.ones(len(wall), dtype=bool), nonexistent="shift_forward"
        )
        winter = wall.tz_localize(
            timezone, ambiguous=np.zeros(len(wall), dtype=bool), nonexistent="shift_forward"
        )
    except (KeyError, ValueError) as error:
        raise ValueError(f"unknown time zone {timezone!r}") from error
    first = np.minimum(summer.asi8, winter.asi8)
    # np.minimum keeps NaT (the smallest int64) wherever either side is NaT, as wanted.
    return first


@dataclass(frozen=True)
class DateOrderEvidence:
    """What a datetime column's typed text says about the day/month order people use.

    ``against``: the text reads only the other way round from ``date_order`` (``24/11/2026``
    under MDY); ``problems`` names those cells. ``ambiguous``: the text reads both ways
    (``03/12/2026``) and was read in ``date_order``.
    """

    problems: pd.Series
    against: pd.Series
    ambiguous: pd.Series


# A typed numeric date's leading day/month/year; parse_datetimes decides whether the whole
# text is a date.
_LEADING_NUMBERS = r"^(\d{1,2})([-/.])(\d{1,2})\2(\d{4}|\d{2})(?!\d)"


def date_order_evidence(raw: pd.Series, header: str, date_order: str,
                        parsed: pd.Series | None = None) -> DateOrderEvidence:
    """Given raw cells of a datetime column, its header, the Settings date order and the
    column as :func:`parse_datetimes` read it (parsed here when None), return which cells
    contradict the order and which read either way. Only typed text counts: a real date
    value was already read by the spreadsheet program. Raise ValueError for an unknown
    ``date_order``."""
    if date_order not in DATE_ORDERS:
        raise ValueError(f"date order must be MDY or DMY, not {date_order!r}")
    if parsed is None:
        parsed = parse_datetimes(raw, header, "UTC", date_order).values
    day_first = date_order == "DMY"
    size = len(raw)
    problems = np.full(size, "", dtype=object)
    against = np.zeros(size, dtype=bool)
    ambiguous = np.zeros(size, dtype=bool)
    values, kinds = classify(raw)
    strings_at = np.flatnonzero((kinds == STR) & parsed.notna().to_numpy())
    if len(strings_at):
        codes, distinct = distinct_values(values[strings_at])
        numbers = pd.Series(distinct, dtype=object).str.extract(_LEADING_NUMBERS)
        found = numbers[0].notna().to_numpy()
        first = pd.to_numeric(numbers[0]).fillna(0).to_numpy(dtype=int)
        second = pd.to_numeric(numbers[2]).fillna(0).to_numpy(dtype=int)
        month_slot, day_slot = (second, first) if day_first else (first, second)
        distinct_against = found & (month_slot > 12) & (day_slot <= 12)
        distinct_ambiguous = found & (first != second) & (first <= 12) & (second <= 12)
        texts = np.full(len(distinct), "", dtype=object)
        other = "month-first" if day_first else "day-first"
        for position in np.flatnonzero(distinct_against).tolist():
            read = dt.date(_full_year(str(numbers.iat[position, 3])), int(day_slot[position]),
                           int(month_slot[position]))
            texts[position] = (f'{header}: "{format_value(distinct[position])}" reads only '
                               f"{other} ({read.day} {read:%b %Y}), but Settings Date order "
                               f"is {date_order}")
        problems[strings_at] = texts[codes]
        against[strings_at] = distinct_against[codes]
        ambiguous[strings_at] = distinct_ambiguous[codes]
    index = raw.index
    return DateOrderEvidence(pd.Series(problems, index=index, dtype=object),
                             pd.Series(against, index=index), pd.Series(ambiguous, index=index))


def parse_datetime_scalar(
    value: object, timezone: str, date_order: str = "MDY"
) -> pd.Timestamp | None:
    """Given one raw cell, return it as a UTC Timestamp, or None if blank or unreadable.

    Reads exactly what :func:`parse_datetimes` reads (for the Settings, Holidays and History
    tabs). Convert with ``.tz_convert(timezone)`` for the local date. Raise ValueError only
    for an unknown ``date_order`` or ``timezone``.
    """
    parsed = parse_datetimes(pd.Series([value], dtype=object), "", timezone, date_order)
    result = parsed.values.iloc[0]
    if pd.isna(result):
        return None
    return pd.Timestamp(result)

