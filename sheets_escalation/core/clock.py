"""Durations and the business clock (SPEC §4): pure, vectorised, DST-correct.

Calendar units (minute, hour, day) measure elapsed time: a day is 24 hours even
across a daylight-saving change. Business units count only work hours on work days
that are not holidays, in the Settings timezone.

The business clock is a table of working intervals ``[open, close)`` in UTC, one per
working local date, with the business time accumulated before each interval. Every
row-wise question (business time at an instant, the instant a business time is
reached) is then one ``np.searchsorted`` over that table, so no per-row Python runs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import numpy as np
import numpy.typing as npt
import pandas as pd

Unit = Literal["minute", "hour", "day", "business_hour", "business_day"]

_NS = 1_000_000_000
_DAY_NS = 86_400 * _NS
_CALENDAR_SECONDS: dict[str, float] = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}
_UNIT_NAMES: dict[str, tuple[str, str]] = {
    "minute": ("minute", "minutes"),
    "hour": ("hour", "hours"),
    "day": ("day", "days"),
    "business_hour": ("business hour", "business hours"),
    "business_day": ("business day", "business days"),
}
# Spellings are matched with every space removed, so "business  hours" and "businesshours" agree.
_UNIT_SPELLINGS: dict[str, Unit] = {
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "minute"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "hour"),
    **dict.fromkeys(("d", "day", "days"), "day"),
    **dict.fromkeys(
        ("bh", "businesshour", "businesshours", "businesshr", "businesshrs"), "business_hour"
    ),
    **dict.fromkeys(("bd", "businessday", "businessdays"), "business_day"),
}
_ACCEPTED_UNITS = "minute(s)/m/min, hour(s)/h, day(s)/d, business hour(s)/bh, business day(s)/bd"
_DURATION_RE = re.compile(r"^(?P<sign>[-+]?)\s*(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>.*)$")

_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS = frozenset(range(5))
_TIME_RE = re.compile(r"^(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<ampm>am|pm)?$")
# 1970-01-01, day 0 of datetime64[D], was a Thursday.
_EPOCH = dt.date(1970, 1, 1)
_EPOCH_WEEKDAY = 3
# Guards the forward search in `add` against a calendar that never opens again.
_MAX_SEARCH_DAYS = 366 * 50
# The longest duration a policy may hold: ten years, leap days included. Longer ones are
# typos (extra zeros) in practice, and a bound keeps every due time of a readable date
# inside the nanosecond range pandas counts in, instead of wrapping past 2262.
MAX_DURATION_DAYS = 3653
MAX_DURATION_TEXT = "10 years"
_NAT = np.iinfo(np.int64).min
# The business clock's table stops short of pandas' last instant (2262-04-11 23:47 UTC), so
# placing an opening or closing on its last local date can never overflow.
_LAST_DAY = int(np.datetime64("2262-04-01", "D").astype(np.int64))
_LAST_NS = int(np.datetime64("2262-04-11T00:00:00", "ns").astype(np.int64))


@dataclass(frozen=True)
class Duration:
    """A non-negative amount of calendar or business time (SPEC §4)."""

    amount: float
    unit: Unit

    def __post_init__(self) -> None:
        if self.unit not in _UNIT_NAMES:
            raise ValueError(f"unknown duration unit {self.unit!r}")
        amount = float(self.amount)
        if not np.isfinite(amount) or amount < 0:
            raise ValueError(f"a duration must be a finite, non-negative number, not {amount}")
        object.__setattr__(self, "amount", amount)
        if self.least_days > MAX_DURATION_DAYS:
            raise ValueError(
                f'"{self}" is longer than {MAX_DURATION_TEXT} ({MAX_DURATION_DAYS} days), the '
                "longest duration a policy may hold: check for extra zeros"
            )

    @property
    def least_days(self) -> float:
        """Return the fewest calendar days this duration can take to pass.

        Calendar units take exactly their length; a business hour takes at least an hour
        and a business day at least a day, whatever the work hours.
        """
        if self.unit == "business_hour":
            return self.amount / 24
        if self.unit == "business_day":
            return self.amount
        return self.amount * _CALENDAR_SECONDS[self.unit] / 86400

    @property
    def is_business(self) -> bool:
        """Return True if this duration counts business time only."""
        return self.unit in ("business_hour", "business_day")

    def __str__(self) -> str:
        singular, plural = _UNIT_NAMES[self.unit]
        number = str(int(self.amount)) if self.amount.is_integer() else repr(self.amount)
        return f"{number} {singular if self.amount == 1 else plural}"


def parse_duration(text: str) -> Duration:
    """Given ``'<number> <unit>'``, return the Duration.

    Units: minute(s)/m/min, hour(s)/h, day(s)/d, business hour(s)/bh, business day(s)/bd;
    case and spaces do not matter and the number may be decimal (``1.5 bd``).
    Raise ValueError, quoting the text and listing the units, if it cannot be read or is negative.
    """
    cleaned = " ".join(str(text).lower().split())
    match = _DURATION_RE.match(cleaned)
    unit = _UNIT_SPELLINGS.get(match.group("unit").replace(" ", "")) if match else None
    if match is None or unit is None:
        raise ValueError(
            f'cannot read "{text}" as a duration: write <number> <unit>, e.g. "4 business hours"; '
            f"units are {_ACCEPTED_UNITS}"
        )
    if match.group("sign") == "-" and float(match.group("number")) != 0:
        raise ValueError(f'duration "{text}" is negative; durations count forward from a start')
    return Duration(float(match.group("number")), unit)


def _parse_day(token: str, text: str) -> int:
    # Any prefix of two letters or more names one day unambiguously ("tu", "thurs", "sat").
    matches = [i for i, name in enumerate(_DAY_NAMES) if len(token) >= 2 and name.startswith(token)]
    if len(matches) != 1:
        raise ValueError(
            f'cannot read "{text}" as work days: "{token}" is not a day name; '
            'write e.g. "Mon-Fri", "Mon,Tue,Thu" or "Sun-Thu"'
        )
    return matches[0]


def parse_work_days(text: str) -> frozenset[int]:
    """Given a Settings ``Work days`` value, return the work days (0 = Monday .. 6 = Sunday).

    Accepts day names or abbreviations, comma-separated, and ranges that may wrap past
    Sunday (``Sun-Thu``); ``weekdays`` means Mon-Fri, ``every day``/``daily`` all seven;
    blank means Mon-Fri. Raise ValueError if a part is not a day name.
    """
    cleaned = " ".join(str(text).lower().split())
    if not cleaned:
        return _WEEKDAYS
    if cleaned == "weekdays":
        return _WEEKDAYS
    if cleaned in ("every day", "everyday", "daily", "all"):
        return frozenset(range(7))
    # Spreadsheets autocorrect "-" to an en dash, and people write "Mon to Fri".
    cleaned = re.sub(r"\s*(?:[-\u2013\u2014]|\bto\b|\bthrough\b|\bthru\b)\s*", "-", cleaned)
    days: set[int] = set()
    for part in re.split(r"[,;/\s]+", cleaned):
        if not part:
            continue
        ends = part.split("-")
        if len(ends) == 1:
            days.add(_parse_day(ends[0], text))
        elif len(ends) == 2:
            first, last = _parse_day(ends[0], text), _parse_day(ends[1], text)
            days.update((first + k) % 7 for k in range((last - first) % 7 + 1))
        else:
            raise ValueError(f'cannot read "{text}" as work days: "{part}" is not a day range')
    return frozenset(days)


def _parse_clock_time(part: str, text: str) -> dt.time:
    match = _TIME_RE.match(part.strip())
    hour = int(match.group("hour")) if match else -1
    minute = int(match.group("minute") or 0) if match else -1
    if match and match.group("ampm"):
        if not 1 <= hour <= 12:
            hour = -1
        else:
            hour = hour % 12 + (12 if match.group("ampm") == "pm" else 0)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(
            f'cannot read "{text}" as work hours: "{part.strip()}" is not a time of day; '
            'write e.g. "09:00-17:00" or "9-17"'
        )
    return dt.time(hour, minute)


def parse_work_hours(text: str) -> tuple[dt.time, dt.time]:
    """Given a Settings ``Work hours`` value, return (opening, closing) local times.

    Accepts ``09:00-17:00``, ``9-17``, ``9:30 - 18:00`` and ``9am-5pm``; blank means
    09:00-17:00. Raise ValueError if it cannot be read or opening is not before closing
    (work hours never run past midnight).
    """
    cleaned = " ".join(str(text).lower().split())
    if not cleaned:
        return dt.time(9), dt.time(17)
    parts = re.split(r"\s*(?:[-\u2013\u2014]|\bto\b)\s*", cleaned)
    if len(parts) != 2:
        raise ValueError(
            f'cannot read "{text}" as work hours: write opening-closing, e.g. "09:00-17:00"'
        )
    opening, closing = (_parse_clock_time(part, text) for part in parts)
    if opening >= closing:
        raise ValueError(
            f'work hours "{text}": opening {opening:%H:%M} must be before closing {closing:%H:%M}'
        )
    return opening, closing


def _broadcast(
    value: float | bool | npt.ArrayLike | pd.Series, length: int, dtype: type, name: str
) -> npt.NDArray[np.generic]:
    array = value.to_numpy(dtype=dtype) if isinstance(value, pd.Series) else np.asarray(value)
    array = array.astype(dtype)
    if array.ndim == 0:
        array = np.full(length, array)
    if array.shape != (length,):
        raise ValueError(f"{name} has {array.shape[0]} values for {length} rows")
    return array


def _utc_ns(values: pd.Series, name: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Given a tz-aware datetime Series, return (UTC epoch nanoseconds, NaT mask)."""
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        raise TypeError(f"{name} must be a timezone-aware datetime Series, not {values.dtype}")
    ns = values.dt.tz_convert("UTC").dt.as_unit("ns").array.asi8
    return np.asarray(ns, dtype=np.int64), values.isna().to_numpy()


class BusinessCalendar:
    """Work hours on work days, minus holidays, in one IANA timezone.

    Local opening and closing are placed on each date with these DST rules: a wall time
    that does not exist (skipped when clocks spring forward) moves forward to the moment
    the clocks change (02:30 on a 02:00->03:00 night becomes 03:00); a wall time that
    occurs twice (clocks fall back) means its first occurrence. So the business day is
    the span between the first moment the wall clock reads the opening and the first
    moment it reads the closing, which may be an hour longer or shorter than usual.
    ``N business days`` is nevertheless N x `day_seconds`, the usual length.
    """

    def __init__(
        self,
        timezone: str = "UTC",
        work_days: frozenset[int] = _WEEKDAYS,
        opening: dt.time = dt.time(9),
        closing: dt.time = dt.time(17),
        holiday_dates: Iterable[dt.date] = (),
        holiday_country: str | None = None,
    ) -> None:
        """Given the Settings values, build the calendar.

        ``holiday_country`` is an ISO code for the ``holidays`` package, optionally with a
        subdivision (``US-CA``, ``GB-SCT``); its holidays are computed lazily per year.
        Raise ValueError for an unknown timezone or country, no work days, or opening not
        before closing.
        """
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
            raise ValueError(
                f'unknown timezone "{timezone}": use an IANA name such as "Europe/London"'
            ) from error
        if not work_days or not set(work_days) <= set(range(7)):
            raise ValueError(f"work days must be a non-empty set of 0..6, not {sorted(work_days)}")
        if opening >= closing:
            raise ValueError(f"opening {opening:%H:%M} must be before closing {closing:%H:%M}")
        self.timezone = timezone
        self.work_days = frozenset(work_days)
        self.opening = opening
        self.closing = closing
        self.holiday_dates = frozenset(holiday_dates)
        self.holiday_country = holiday_country
        self._country = self._split_country(holiday_country)
        self._country_years: dict[int, frozenset[dt.date]] = {}
        self._work_mask = np.array([day in self.work_days for day in range(7)])
        self._opening_ns = _time_ns(opening)
        self._closing_ns = _time_ns(closing)
        # The interval table covers local dates [_first_day, _last_day], in days since 1970-01-01.
        self._first_day = 0
        self._last_day = -1
        self._open = np.empty(0, dtype=np.int64)
        self._close = np.empty(0, dtype=np.int64)
        self._cum_start = np.empty(0, dtype=np.int64)
        self._cum_end = np.empty(0, dtype=np.int64)

    @staticmethod
    def _split_country(country: str | None) -> tuple[str, str | None] | None:
        if country is None or not country.strip():
            return None
        code, _, subdivision = country.strip().upper().replace("/", "-").partition("-")
        try:
            holidays.country_holidays(code, subdiv=subdivision or None)
        except NotImplementedError as error:
            raise ValueError(
                f'unknown holiday country "{country}": use an ISO code such as "US" or "GB-SCT"'
            ) from error
        return code, subdivision or None

    @property
    def day_seconds(self) -> float:
        """Return the business seconds in one working day (09:00-17:00 -> 28800)."""
        return (self._closing_ns - self._opening_ns) / _NS

    def seconds(self, duration: Duration) -> float:
        """Given a Duration, return its length in seconds on its own clock.

        Calendar units give elapsed seconds; business hours amount x 3600 business
        seconds; business days amount x `day_seconds`.
        """
        if duration.unit == "business_hour":
            return duration.amount * 3600.0
        if duration.unit == "business_day":
            return duration.amount * self.day_seconds
        return duration.amount * _CALENDAR_SECONDS[duration.unit]

    def span_days(self, duration: Duration) -> float:
        """Given a Duration, return about how many calendar days it takes to pass here.

        Business time passes only on work days within work hours, so ``10 business days``
        on a Mon-Fri calendar take 14 days; holidays are not counted.
        """
        if not duration.is_business:
            return duration.least_days
        working_days = self.seconds(duration) / self.day_seconds
        return working_days * 7 / len(self.work_days)

    def add(
        self,
        start: pd.Series,
        seconds: float | npt.NDArray[np.floating] | pd.Series,
        business: bool | npt.NDArray[np.bool_] | pd.Series,
    ) -> pd.Series:
        """Given start instants, seconds to add and which rows count business time, return due instants.

        ``start`` is a tz-aware datetime Series (NaT allowed); ``seconds`` and ``business``
        are scalars or arrays matched to rows by position. Calendar rows get start + seconds
        of elapsed time. Business rows get the instant at which ``seconds`` of business time
        have passed since start: a start outside work hours counts from the next opening, a
        due time at exactly closing is that closing, and 0 seconds returns start unchanged.
        Return a datetime64[ns, UTC] Series on start's index, NaT where start or seconds is
        missing and where the due time would fall after 2262-04-11, where pandas' nanosecond
        clock ends (a date typed in the 2250s plus a long target), never a wrapped date.
        Raise ValueError if a business row has negative seconds.
        """
        start_ns, missing = _utc_ns(start, "start")
        amount = _broadcast(seconds, len(start), float, "seconds").astype(np.float64)
        is_business = _broadcast(business, len(start), bool, "business").astype(np.bool_)
        missing = missing | np.isnan(amount)
        amount = np.where(missing, 0.0, amount)
        # Compared in float before any int64 arithmetic, which would wrap without a sound.
        room = (_LAST_NS - start_ns.astype(np.float64)) / _NS
        beyond = ~missing & (amount > room)
        amount_ns = np.round(np.where(beyond, 0.0, amount) * _NS).astype(np.int64)
        if np.any(is_business & ~missing & (amount_ns < 0)):
            raise ValueError("business time can only be added forward (negative seconds)")
        due = start_ns + amount_ns
        counted = is_business & ~missing & ~beyond & (amount_ns > 0)
        if counted.any():
            due[counted] = self._add_business(start_ns[counted], amount_ns[counted])
        due[missing | beyond] = _NAT
        values = pd.DatetimeIndex(due.view("datetime64[ns]")).tz_localize("UTC")
        return pd.Series(values, index=start.index, name=start.name)

    def elapsed(
        self,
        start: pd.Series,
        end: pd.Series,
        business: bool | npt.NDArray[np.bool_] | pd.Series,
    ) -> npt.NDArray[np.float64]:
        """Given start and end instants and which rows count business time, return seconds between.

        Rows pair up by position. Business rows count only business time. Return float
        seconds, 0 where end is not after start, NaN where either is NaT.
        """
        start_ns, start_missing = _utc_ns(start, "start")
        end_ns, end_missing = _utc_ns(end, "end")
        if len(end_ns) != len(start_ns):
            raise ValueError(f"end has {len(end_ns)} values for {len(start_ns)} rows")
        is_business = _broadcast(business, len(start), bool, "business").astype(np.bool_)
        missing = start_missing | end_missing
        result = (end_ns - start_ns).astype(np.float64)
        counted = is_business & ~missing
        if counted.any():
            first, last = start_ns[counted], end_ns[counted]
            self._cover(min(first.min(), last.min()), max(first.max(), last.max()))
            result[counted] = (self._business_at(last) - self._business_at(first)).astype(
                np.float64
            )
        result = np.clip(result, 0.0, None) / _NS
        result[missing] = np.nan
        return cast(npt.NDArray[np.float64], result)

    def is_business_time(self, when: pd.Series) -> npt.NDArray[np.bool_]:
        """Given instants, return True where each falls within work hours (False for NaT)."""
        when_ns, missing = _utc_ns(when, "when")
        result = np.zeros(len(when_ns), dtype=np.bool_)
        present = when_ns[~missing]
        if len(present):
            self._cover(present.min(), present.max())
            index = np.searchsorted(self._open, present, side="right") - 1
            inside = index >= 0
            inside[inside] = present[inside] < self._close[index[inside]]
            result[~missing] = inside
        return result

    def _business_at(self, when_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Return business nanoseconds from the table start to each covered instant."""
        if not len(self._open):
            # Every covered day is closed (say the only work day falls on holidays).
            return np.zeros(len(when_ns), dtype=np.int64)
        index = np.searchsorted(self._open, when_ns, side="right") - 1
        safe = np.maximum(index, 0)
        length = self._close[safe] - self._open[safe]
        within = np.clip(when_ns - self._open[safe], 0, length)
        return np.where(index >= 0, self._cum_start[safe] + within, 0)

    def _add_business(
        self, start_ns: npt.NDArray[np.int64], amount_ns: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Return the instants ``amount_ns`` of business time after each start; NaT where
        that lies past the table's last possible date."""
        self._cover(start_ns.min(), start_ns.max())
        target = self._business_at(start_ns) + amount_ns
        highest = int(target.max())
        # Measured from the latest start, not the table's first day: rows typed a century
        # apart ("1926" for "2026") make a wide table without any search.
        search_from = self._last_day
        while highest > (self._cum_end[-1] if len(self._cum_end) else 0):
            if self._last_day >= _LAST_DAY:
                break
            covered = int(self._cum_end[-1]) if len(self._cum_end) else 0
            weekly_ns = (self._closing_ns - self._opening_ns) * len(self.work_days)
            # Overshoot the estimate so holidays rarely force a second round.
            extra_days = int(np.ceil((highest - covered) / weekly_ns * 7 * 1.25)) + 14
            if self._last_day - search_from > _MAX_SEARCH_DAYS:
                raise ValueError("the business calendar has no work hours left to count")
            self._build(self._first_day, min(self._last_day + extra_days, _LAST_DAY))
        # side="left": a target equal to an interval's end resolves to that closing.
        index = np.searchsorted(self._cum_end, target, side="left")
        due = np.full(len(target), _NAT, dtype=np.int64)
        within = index < len(self._cum_end)
        found = index[within]
        due[within] = self._open[found] + (target[within] - self._cum_start[found])
        return due

    def _cover(self, first_ns: int | np.int64, last_ns: int | np.int64) -> None:
        """Make the interval table span local dates around the given UTC instants."""
        # A UTC instant's local date is within a day of its UTC date; a week of margin
        # below keeps the next opening after a start, and at its edges, inside the table.
        first_day = int(first_ns) // _DAY_NS - 8
        last_day = min(int(last_ns) // _DAY_NS + 8, _LAST_DAY)
        if self._first_day <= first_day and last_day <= self._last_day:
            return
        if self._first_day <= self._last_day:
            first_day = min(first_day, self._first_day)
            last_day = max(last_day, self._last_day)
        self._build(first_day, last_day)

    def _build(self, first_day: int, last_day: int) -> None:
        day_numbers = np.arange(first_day, last_day + 1, dtype=np.int64)
        days = day_numbers.astype("datetime64[D]")
        weekday = (day_numbers + _EPOCH_WEEKDAY) % 7
        working = self._work_mask[weekday] & ~np.isin(days, self._holidays(first_day, last_day))
        days = days[working]
        self._open = self._localize(days, self._opening_ns)
        self._close = self._localize(days, self._closing_ns)
        # DST can make an odd day's span empty (opening inside the skipped hour); drop it
        # so every interval holds business time.
        keep = self._close > self._open
        self._open, self._close = self._open[keep], self._close[keep]
        lengths = self._close - self._open
        self._cum_end = np.cumsum(lengths)
        self._cum_start = self._cum_end - lengths
        self._first_day, self._last_day = first_day, last_day

    def _localize(self, days: npt.NDArray[np.datetime64], offset_ns: int) -> npt.NDArray[np.int64]:
        wall = pd.DatetimeIndex(days.astype("datetime64[ns]") + np.timedelta64(offset_ns, "ns"))
        local = wall.tz_localize(
            self.zone, ambiguous=np.ones(len(wall), dtype=bool), nonexistent="shift_forward"
        )
        return np.asarray(local.tz_convert("UTC").asi8, dtype=np.int64)

    def _holidays(self, first_day: int, last_day: int) -> npt.NDArray[np.datetime64]:
        closed = set(self.holiday_dates)
        if self._country is not None:
            code, subdivision = self._country
            first_year = _EPOCH.fromordinal(_EPOCH.toordinal() + first_day).year
            last_year = _EPOCH.fromordinal(_EPOCH.toordinal() + last_day).year
            for year in range(first_year, last_year + 1):
                if year not in self._country_years:
                    calendar = holidays.country_holidays(code, subdiv=subdivision, years=year)
                    self._country_years[year] = frozenset(calendar.keys())
                closed.update(self._country_years[year])
        return np.array(sorted(closed), dtype="datetime64[D]")


def _time_ns(value: dt.time) -> int:
    return ((value.hour * 60 + value.minute) * 60 + value.second) * _NS + value.microsecond * 1000
