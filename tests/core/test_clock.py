"""Durations, Settings parsing and the business clock (SPEC §4)."""

from __future__ import annotations

import datetime as dt

import holidays
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sheets_escalation.core.clock import (
    BusinessCalendar,
    Duration,
    parse_duration,
    parse_work_days,
    parse_work_hours,
)

HOUR = 3600.0


def utc(*values: str | None, tz: str = "UTC") -> pd.Series:
    """Series of instants written as wall times in ``tz``, converted to UTC."""
    local = pd.to_datetime(pd.Series(list(values), dtype=object)).dt.tz_localize(tz)
    return local.dt.tz_convert("UTC")


def wall(series: pd.Series, tz: str = "UTC") -> list[str | None]:
    """The instants as wall-clock strings in ``tz`` (None for NaT)."""
    local = series.dt.tz_convert(tz)
    return [None if pd.isna(v) else v.strftime("%Y-%m-%d %H:%M") for v in local]


# --- parse_duration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30 minutes", Duration(30, "minute")),
        ("1 minute", Duration(1, "minute")),
        ("15m", Duration(15, "minute")),
        ("15 min", Duration(15, "minute")),
        ("1 hour", Duration(1, "hour")),
        ("24 hours", Duration(24, "hour")),
        ("2h", Duration(2, "hour")),
        ("1 day", Duration(1, "day")),
        ("3 days", Duration(3, "day")),
        ("3d", Duration(3, "day")),
        ("4 business hours", Duration(4, "business_hour")),
        ("1 business hour", Duration(1, "business_hour")),
        ("4 bh", Duration(4, "business_hour")),
        ("4BH", Duration(4, "business_hour")),
        ("2 business days", Duration(2, "business_day")),
        ("1 Business Day", Duration(1, "business_day")),
        ("2bd", Duration(2, "business_day")),
        ("  1.5   BUSINESS   days ", Duration(1.5, "business_day")),
        ("2 businessdays", Duration(2, "business_day")),
        ("0.25 h", Duration(0.25, "hour")),
        (".5 hours", Duration(0.5, "hour")),
        ("0 minutes", Duration(0, "minute")),
    ],
)
def test_parse_duration_reads_every_unit_spelling(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "hours", "4", "4 weeks", "four hours", "4 business", "1,5 h", "4 h h"]
)
def test_parse_duration_rejects_unreadable_text_naming_it_and_the_units(text: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_duration(text)
    message = str(error.value)
    assert f'"{text}"' in message
    assert "business hour(s)/bh" in message and "minute(s)/m" in message


def test_parse_duration_rejects_negative_amounts() -> None:
    with pytest.raises(ValueError, match=r'"-2 hours" is negative'):
        parse_duration("-2 hours")


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (Duration(4, "business_hour"), "4 business hours"),
        (Duration(1, "hour"), "1 hour"),
        (Duration(30, "minute"), "30 minutes"),
        (Duration(1, "business_day"), "1 business day"),
        (Duration(1.5, "day"), "1.5 days"),
    ],
)
def test_duration_prints_as_people_write_it(duration: Duration, text: str) -> None:
    assert str(duration) == text


@given(
    st.floats(min_value=0, max_value=3653, allow_nan=False).map(lambda x: round(x, 3)),
    st.sampled_from(["minute", "hour", "day", "business_hour", "business_day"]),
)
def test_duration_text_round_trips(amount: float, unit: str) -> None:
    duration = Duration(amount, unit)  # type: ignore[arg-type]
    assert parse_duration(str(duration)) == duration


def test_duration_knows_its_clock_and_refuses_nonsense() -> None:
    assert Duration(1, "business_day").is_business
    assert Duration(1, "business_hour").is_business
    assert not Duration(1, "day").is_business
    with pytest.raises(ValueError):
        Duration(-1, "hour")
    with pytest.raises(ValueError):
        Duration(1, "fortnight")  # type: ignore[arg-type]


# --- work days and hours ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {0, 1, 2, 3, 4}),
        ("Mon-Fri", {0, 1, 2, 3, 4}),
        ("Monday-Friday", {0, 1, 2, 3, 4}),
        ("mon - fri", {0, 1, 2, 3, 4}),
        ("Mon\u2013Fri", {0, 1, 2, 3, 4}),
        ("Mon to Fri", {0, 1, 2, 3, 4}),
        ("Mon,Tue,Thu", {0, 1, 3}),
        ("Mon, Tues, Thurs", {0, 1, 3}),
        ("Sun-Thu", {6, 0, 1, 2, 3}),
        ("Mon-Fri, Sat", {0, 1, 2, 3, 4, 5}),
        ("Sat", {5}),
        ("weekdays", {0, 1, 2, 3, 4}),
        ("every day", set(range(7))),
    ],
)
def test_parse_work_days(text: str, expected: set[int]) -> None:
    assert parse_work_days(text) == frozenset(expected)


@pytest.mark.parametrize("text", ["Mon-Funday", "M-F", "T", "Mon-Wed-Fri", "1-5"])
def test_parse_work_days_rejects_what_is_not_a_day(text: str) -> None:
    with pytest.raises(ValueError, match="work days"):
        parse_work_days(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00-17:00", (dt.time(9), dt.time(17))),
        ("9-17", (dt.time(9), dt.time(17))),
        ("9:30 - 18:00", (dt.time(9, 30), dt.time(18))),
        ("8:15\u201316:45", (dt.time(8, 15), dt.time(16, 45))),
        ("9am-5pm", (dt.time(9), dt.time(17))),
        ("12pm - 11pm", (dt.time(12), dt.time(23))),
        ("", (dt.time(9), dt.time(17))),
    ],
)
def test_parse_work_hours(text: str, expected: tuple[dt.time, dt.time]) -> None:
    assert parse_work_hours(text) == expected


@pytest.mark.parametrize(
    "text", ["17-9", "9-9", "9", "25-26", "9:75-17", "nine to five", "13pm-2pm"]
)
def test_parse_work_hours_rejects_unreadable_or_backwards_hours(text: str) -> None:
    with pytest.raises(ValueError, match="work hours"):
        parse_work_hours(text)


# --- calendar construction and units ------------------------------------------------------


def test_calendar_rejects_unknown_timezone_and_country() -> None:
    with pytest.raises(ValueError, match="unknown timezone"):
        BusinessCalendar(timezone="Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="unknown holiday country"):
        BusinessCalendar(holiday_country="XX")
    with pytest.raises(ValueError):
        BusinessCalendar(work_days=frozenset())
    with pytest.raises(ValueError):
        BusinessCalendar(opening=dt.time(17), closing=dt.time(9))


def test_seconds_per_unit() -> None:
    calendar = BusinessCalendar(opening=dt.time(8, 30), closing=dt.time(17))
    assert calendar.day_seconds == 8.5 * HOUR
    assert calendar.seconds(Duration(30, "minute")) == 1800
    assert calendar.seconds(Duration(2, "hour")) == 2 * HOUR
    assert calendar.seconds(Duration(1, "day")) == 24 * HOUR
    assert calendar.seconds(Duration(4, "business_hour")) == 4 * HOUR
    assert calendar.seconds(Duration(2, "business_day")) == 17 * HOUR
    assert BusinessCalendar().day_seconds == 28800


# --- add and elapsed: unit cases ----------------------------------------------------------


def test_friday_afternoon_plus_two_business_hours_is_monday_morning() -> None:
    calendar = BusinessCalendar()
    start = utc("2026-01-02 16:00")  # a Friday
    due = calendar.add(start, 2 * HOUR, True)
    assert wall(due) == ["2026-01-05 10:00"]
    assert calendar.elapsed(start, due, True).tolist() == [2 * HOUR]


def test_start_outside_hours_counts_from_the_next_opening() -> None:
    calendar = BusinessCalendar()
    start = utc(
        "2026-01-03 11:00", "2026-01-05 07:00", "2026-01-05 18:00"
    )  # Sat, Mon early, Mon late
    assert wall(calendar.add(start, 1.0, True)) == [
        "2026-01-05 09:00",
        "2026-01-05 09:00",
        "2026-01-06 09:00",
    ]
    assert wall(calendar.add(start, HOUR, True)) == [
        "2026-01-05 10:00",
        "2026-01-05 10:00",
        "2026-01-06 10:00",
    ]


def test_due_exactly_at_closing_stays_at_closing() -> None:
    calendar = BusinessCalendar()
    start = utc("2026-01-05 13:00", "2026-01-05 09:00", "2026-01-03 12:00")
    assert wall(calendar.add(start, np.array([4 * HOUR, 8 * HOUR, 8 * HOUR]), True)) == [
        "2026-01-05 17:00",
        "2026-01-05 17:00",
        "2026-01-05 17:00",
    ]


def test_zero_business_seconds_returns_start_unchanged() -> None:
    calendar = BusinessCalendar()
    start = utc("2026-01-03 11:00", "2026-01-05 10:00")
    pd.testing.assert_series_equal(calendar.add(start, 0.0, True), start.dt.as_unit("ns"))


def test_a_business_day_is_one_working_day_of_business_hours() -> None:
    calendar = BusinessCalendar()
    start = utc("2026-01-05 11:00", "2026-01-09 11:00")
    one_day = calendar.seconds(parse_duration("1 business day"))
    assert one_day == calendar.seconds(parse_duration("8 bh"))
    assert wall(calendar.add(start, one_day, True)) == ["2026-01-06 11:00", "2026-01-12 11:00"]
    assert wall(calendar.add(start, 2.5 * one_day, True)) == [
        "2026-01-07 15:00",
        "2026-01-13 15:00",
    ]


def test_holiday_dates_are_closed() -> None:
    calendar = BusinessCalendar(holiday_dates=[dt.date(2026, 1, 5)])
    start = utc("2026-01-02 16:00")
    assert wall(calendar.add(start, 2 * HOUR, True)) == ["2026-01-06 10:00"]
    assert calendar.elapsed(start, utc("2026-01-06 17:00"), True).tolist() == [9 * HOUR]


def test_country_holidays_are_closed() -> None:
    calendar = BusinessCalendar(timezone="America/New_York", holiday_country="US")
    start = utc("2026-11-25 16:00", tz="America/New_York")  # the day before Thanksgiving
    due = calendar.add(start, 2 * HOUR, True)
    assert wall(due, "America/New_York") == ["2026-11-27 10:00"]
    assert not calendar.is_business_time(utc("2026-11-26 12:00", tz="America/New_York"))[0]
    state = BusinessCalendar(holiday_country="US-CA")
    assert not state.is_business_time(utc("2026-03-31 12:00"))[0]  # Cesar Chavez Day


@pytest.mark.parametrize(
    ("tz", "spring", "autumn"),
    [
        ("Europe/London", "2026-03-27", "2026-10-23"),
        ("America/New_York", "2026-03-06", "2026-10-30"),
    ],
)
def test_business_hours_follow_local_wall_clock_across_dst(
    tz: str, spring: str, autumn: str
) -> None:
    calendar = BusinessCalendar(timezone=tz)
    start = utc(f"{spring} 16:00", f"{autumn} 16:00", tz=tz)  # Fridays before each change
    due = calendar.add(start, 2 * HOUR, True)
    assert wall(due, tz) == [
        f"{pd.Timestamp(spring).date() + dt.timedelta(days=3)} 10:00",
        f"{pd.Timestamp(autumn).date() + dt.timedelta(days=3)} 10:00",
    ]
    assert calendar.elapsed(start, due, True).tolist() == [2 * HOUR, 2 * HOUR]
    assert calendar.is_business_time(utc(f"{spring} 09:00", f"{autumn} 16:59", tz=tz)).all()
    assert not calendar.is_business_time(utc(f"{spring} 08:59", f"{autumn} 17:00", tz=tz)).any()


@pytest.mark.parametrize(
    ("tz", "before", "after"),
    [
        ("Europe/London", "2026-03-28 12:00", "2026-03-29 13:00"),
        ("Europe/London", "2026-10-24 12:00", "2026-10-25 11:00"),
        ("America/New_York", "2026-03-07 12:00", "2026-03-08 13:00"),
        ("America/New_York", "2026-10-31 12:00", "2026-11-01 11:00"),
    ],
)
def test_a_calendar_day_is_24_elapsed_hours_across_dst(tz: str, before: str, after: str) -> None:
    calendar = BusinessCalendar(timezone=tz)
    start = utc(before, tz=tz)
    due = calendar.add(start, calendar.seconds(parse_duration("1 day")), False)
    assert (due - start).iloc[0] == pd.Timedelta(hours=24)
    # ...which the wall clock shows one hour off noon.
    assert wall(due, tz) == [after]
    assert calendar.elapsed(start, due, False).tolist() == [24 * HOUR]


def test_opening_in_the_skipped_hour_moves_to_the_clock_change() -> None:
    calendar = BusinessCalendar(
        timezone="America/New_York",
        work_days=frozenset(range(7)),
        opening=dt.time(2, 30),
        closing=dt.time(6),
    )
    spring_day = utc("2026-03-08 03:00", tz="America/New_York")
    assert calendar.is_business_time(spring_day)[0]
    assert wall(
        calendar.add(utc("2026-03-08 00:00", tz="America/New_York"), HOUR, True), "America/New_York"
    ) == ["2026-03-08 04:00"]
    autumn = calendar.elapsed(
        utc("2026-11-01 00:00", tz="America/New_York"),
        utc("2026-11-01 12:00", tz="America/New_York"),
        True,
    )
    assert autumn.tolist() == [3.5 * HOUR]


def test_evening_hours_west_of_utc_fall_on_the_next_utc_date() -> None:
    calendar = BusinessCalendar(
        timezone="America/Los_Angeles", opening=dt.time(18), closing=dt.time(23, 30)
    )
    start = utc("2026-01-05 23:00", tz="America/Los_Angeles")  # 07:00 UTC on the 6th
    due = calendar.add(start, 15 * 60.0, True)
    assert wall(due, "America/Los_Angeles") == ["2026-01-05 23:15"]


def test_missing_start_or_seconds_gives_missing_due_and_elapsed() -> None:
    calendar = BusinessCalendar()
    start = utc("2026-01-05 10:00", None, "2026-01-05 10:00")
    due = calendar.add(start, np.array([HOUR, HOUR, np.nan]), True)
    assert wall(due) == ["2026-01-05 11:00", None, None]
    assert str(due.dtype) == "datetime64[ns, UTC]"
    elapsed = calendar.elapsed(start, utc("2026-01-05 12:00", "2026-01-05 12:00", None), True)
    assert elapsed[0] == 2 * HOUR and np.isnan(elapsed[1:]).all()
    assert calendar.is_business_time(start).tolist() == [True, False, True]


def test_mixed_business_and_calendar_rows_in_one_vector() -> None:
    calendar = BusinessCalendar(timezone="Europe/London")
    start = utc(
        "2026-01-02 16:00",
        "2026-01-02 16:00",
        "2026-01-03 10:00",
        "2026-01-05 12:00",
        tz="Europe/London",
    )
    start.index = pd.Index([10, 20, 30, 40])
    seconds = pd.Series([2 * HOUR, 2 * HOUR, 24 * HOUR, 8 * HOUR], index=start.index)
    business = pd.Series([True, False, False, True], index=start.index)
    due = calendar.add(start, seconds, business)
    assert due.index.tolist() == [10, 20, 30, 40]
    assert wall(due, "Europe/London") == [
        "2026-01-05 10:00",
        "2026-01-02 18:00",
        "2026-01-04 10:00",
        "2026-01-06 12:00",
    ]
    assert calendar.elapsed(start, due, business).tolist() == [
        2 * HOUR,
        2 * HOUR,
        24 * HOUR,
        8 * HOUR,
    ]


def test_elapsed_is_never_negative() -> None:
    calendar = BusinessCalendar()
    start = utc("2026-01-06 12:00", "2026-01-06 12:00")
    end = utc("2026-01-05 12:00", "2026-01-05 12:00")
    assert calendar.elapsed(start, end, np.array([True, False])).tolist() == [0.0, 0.0]


def test_long_horizons_extend_the_table() -> None:
    calendar = BusinessCalendar(holiday_country="US")
    start = utc("2026-01-05 09:00", "2031-06-02 09:00")
    due = calendar.add(start, 60 * calendar.day_seconds, True)
    assert calendar.elapsed(start, due, True).tolist() == [60 * calendar.day_seconds] * 2
    # Day 60 counting the start day, per numpy's own business-day arithmetic.
    closed = [d for year in (2026, 2031) for d in holidays.country_holidays("US", years=year)]
    last_days = np.busday_offset(
        np.array(["2026-01-05", "2031-06-02"], dtype="datetime64[D]"), 59, holidays=closed
    )
    assert wall(due) == [f"{day} 17:00" for day in last_days]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(TypeError, match="timezone-aware"):
        BusinessCalendar().add(pd.Series(pd.to_datetime(["2026-01-05 10:00"])), HOUR, True)


def test_empty_input() -> None:
    calendar = BusinessCalendar()
    empty = pd.Series([], dtype="datetime64[ns, UTC]")
    assert calendar.add(empty, HOUR, True).empty
    assert calendar.elapsed(empty, empty, True).size == 0


def test_100k_rows_are_quick() -> None:
    rng = np.random.default_rng(7)
    minutes = rng.integers(0, 3 * 365 * 24 * 60, size=100_000)
    start = pd.Series(pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(minutes, unit="min"))
    calendar = BusinessCalendar(timezone="America/New_York", holiday_country="US")
    seconds = rng.integers(0, 5 * 8 * 60, size=100_000) * 60.0
    business = rng.random(100_000) < 0.7
    due = calendar.add(start, seconds, business)
    assert np.allclose(calendar.elapsed(start, due, business)[seconds > 0], seconds[seconds > 0])


# --- property: agrees with a minute-stepping oracle ---------------------------------------

TIMEZONES = ["UTC", "Europe/London", "America/New_York"]
# Openings and closings around 01:00-03:00 cross the DST changes; none is a wall time that
# occurs twice, where the oracle's "wall time within hours" is not one span per day.
HOURS = [
    (dt.time(9), dt.time(17)),
    (dt.time(8, 30), dt.time(18, 15)),
    (dt.time(0, 30), dt.time(2, 30)),
    (dt.time(2, 30), dt.time(11)),
    (dt.time(15), dt.time(23, 30)),
]


def oracle_add(
    start: pd.Timestamp,
    minutes: int,
    tz: str,
    work_days: frozenset[int],
    hours: tuple[dt.time, dt.time],
    closed: set[dt.date],
) -> pd.Timestamp:
    """Step minute by minute in UTC and count those whose local wall time is in work hours."""
    if minutes == 0:
        return start
    opening = hours[0].hour * 60 + hours[0].minute
    closing = hours[1].hour * 60 + hours[1].minute
    horizon = 14
    while True:
        steps = pd.date_range(start, periods=horizon * 1440, freq="min")
        local = steps.tz_convert(tz)
        minute_of_day = local.hour * 60 + local.minute
        dates = local.date
        working = (
            np.isin(local.day_of_week, sorted(work_days))
            & (minute_of_day >= opening)
            & (minute_of_day < closing)
            & ~np.isin(dates, sorted(closed))
        )
        counted = np.cumsum(working)
        if counted[-1] >= minutes:
            return steps[int(np.searchsorted(counted, minutes))] + pd.Timedelta(minutes=1)
        horizon *= 2


@settings(max_examples=200, deadline=None)
@given(
    start_minute=st.integers(0, 365 * 24 * 60 - 1),
    minutes=st.integers(0, 5 * 8 * 60),
    tz=st.sampled_from(TIMEZONES),
    hours=st.sampled_from(HOURS),
    work_days=st.frozensets(st.integers(0, 6), min_size=1),
    holiday_offsets=st.lists(st.integers(-2, 20), max_size=4),
)
def test_add_agrees_with_a_minute_stepping_oracle(
    start_minute: int,
    minutes: int,
    tz: str,
    hours: tuple[dt.time, dt.time],
    work_days: frozenset[int],
    holiday_offsets: list[int],
) -> None:
    start = pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(minutes=start_minute)
    first_day = start.tz_convert(tz).date()
    closed = {first_day + dt.timedelta(days=offset) for offset in holiday_offsets}
    calendar = BusinessCalendar(
        timezone=tz, work_days=work_days, opening=hours[0], closing=hours[1], holiday_dates=closed
    )
    # Business days scale with this calendar's day so the horizon stays ~5 working days.
    seconds = minutes * 60.0 * calendar.day_seconds / (8 * HOUR)
    seconds = float(round(seconds / 60) * 60)
    starts = pd.Series([start])
    due = calendar.add(starts, seconds, True)
    expected = oracle_add(start, int(seconds // 60), tz, work_days, hours, closed)
    assert due.iloc[0] == expected
    assert calendar.elapsed(starts, due, True).tolist() == [seconds]


def test_a_stretch_without_any_work_day_counts_no_business_time() -> None:
    # Tuesday is the only work day and both Tuesdays around New Year are holidays: the
    # calendar's table of opening hours near these instants is empty.
    calendar = BusinessCalendar(
        timezone="UTC", work_days=frozenset({1}), opening=dt.time(9), closing=dt.time(17),
        holiday_dates=frozenset({dt.date(2025, 12, 30), dt.date(2026, 1, 6)}))
    moment = pd.Series([pd.Timestamp("2026-01-01", tz="UTC")])
    assert calendar.elapsed(moment, moment, True).tolist() == [0.0]
    later = calendar.add(moment, [3600.0], True)
    assert later.tolist() == [pd.Timestamp("2026-01-13 10:00", tz="UTC")]
