"""Reading what people type in cells (sheets_escalation.core.cells, .dates and .money)."""

from __future__ import annotations

import datetime as dt
import math
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sheets_escalation.core.cells import (
    ParsedColumn,
    combine_problems,
    format_value,
    parse_levels,
    parse_text,
    parse_yesno,
)
from sheets_escalation.core.dates import parse_datetime_scalar, parse_datetimes
from sheets_escalation.core.money import parse_money

NEW_YORK = "America/New_York"


def column(*values: object) -> pd.Series:
    return pd.Series(list(values), dtype=object)


def read_one_date(value: object, timezone: str = NEW_YORK, order: str = "MDY") -> ParsedColumn:
    return parse_datetimes(column(value), "Opened", timezone, order)


def local(parsed: ParsedColumn, timezone: str = NEW_YORK) -> str | None:
    """The single parsed value as local wall time with offset, or None for NaT."""
    value = parsed.values.iloc[0]
    if pd.isna(value):
        return None
    return value.tz_convert(timezone).isoformat()


# --------------------------------------------------------------------------------------
# Dates


@pytest.mark.parametrize(
    ("raw", "order", "expected"),
    [
        # ISO 8601, with and without time, seconds, fraction, offset
        ("2026-03-05", "MDY", "2026-03-05T00:00:00-05:00"),
        ("2026-03-05 14:30", "MDY", "2026-03-05T14:30:00-05:00"),
        ("2026-03-05T14:30:15", "DMY", "2026-03-05T14:30:15-05:00"),
        ("2026-03-05T14:30:00.250", "MDY", "2026-03-05T14:30:00.250000-05:00"),
        ("2026-03-05T14:30:00Z", "MDY", "2026-03-05T09:30:00-05:00"),
        ("2026-03-05T14:30:00+01:00", "MDY", "2026-03-05T08:30:00-05:00"),
        ("2026-03-05 14:30 -0800", "MDY", "2026-03-05T17:30:00-05:00"),
        ("  2026-03-05  ", "MDY", "2026-03-05T00:00:00-05:00"),
        ("2026/03/05", "DMY", "2026-03-05T00:00:00-05:00"),
        # numeric day/month: ambiguous follows the order, unambiguous reads either way
        ("3/5/2026 2:30 PM", "MDY", "2026-03-05T14:30:00-05:00"),
        ("3/5/2026 2:30 PM", "DMY", "2026-05-03T14:30:00-04:00"),
        ("05/03/2026", "MDY", "2026-05-03T00:00:00-04:00"),
        ("05/03/2026", "DMY", "2026-03-05T00:00:00-05:00"),
        ("31/12/2026", "MDY", "2026-12-31T00:00:00-05:00"),
        ("31/12/2026", "DMY", "2026-12-31T00:00:00-05:00"),
        ("12/31/2026", "DMY", "2026-12-31T00:00:00-05:00"),
        ("05.03.2026 09:15", "DMY", "2026-03-05T09:15:00-05:00"),
        ("3/5/2026 12:00 AM", "MDY", "2026-03-05T00:00:00-05:00"),
        ("3/5/2026 12:00 pm", "MDY", "2026-03-05T12:00:00-05:00"),
        ("3/5/2026 2pm", "MDY", "2026-03-05T14:00:00-05:00"),
        ("3/5/2026 14:30:59", "MDY", "2026-03-05T14:30:59-05:00"),
        # two-digit years
        ("3/5/26", "MDY", "2026-03-05T00:00:00-05:00"),
        ("3/5/26", "DMY", "2026-05-03T00:00:00-04:00"),
        ("1/2/99", "MDY", "1999-01-02T00:00:00-05:00"),
        # month names
        ("5 Mar 2026", "MDY", "2026-03-05T00:00:00-05:00"),
        ("5th March 2026", "MDY", "2026-03-05T00:00:00-05:00"),
        ("05-Mar-26", "MDY", "2026-03-05T00:00:00-05:00"),
        ("March 5, 2026 14:00", "DMY", "2026-03-05T14:00:00-05:00"),
        ("Mar 5 2026 2:30 pm", "MDY", "2026-03-05T14:30:00-05:00"),
        ("Sept. 1, 2026", "MDY", "2026-09-01T00:00:00-04:00"),
        ("Thu, 5 Mar 2026 14:00 GMT", "MDY", "2026-03-05T09:00:00-05:00"),
        ("March 5, 2026 at 2pm", "MDY", "2026-03-05T14:00:00-05:00"),
        # serial numbers typed as text
        ("46082.5", "MDY", "2026-03-01T12:00:00-05:00"),
        ("46082", "DMY", "2026-03-01T00:00:00-05:00"),
    ],
)
def test_date_text(raw: str, order: str, expected: str) -> None:
    parsed = read_one_date(raw, order=order)
    assert parsed.problems.iloc[0] == ""
    assert local(parsed) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (46082.5, "2026-03-01T12:00:00-05:00"),
        (46082, "2026-03-01T00:00:00-05:00"),
        # 14:30 is not exact in binary; it must not read as 14:29:59.999
        (46082 + (14 * 60 + 30) / 1440, "2026-03-01T14:30:00-05:00"),
        (np.float64(46082.75), "2026-03-01T18:00:00-05:00"),
        (np.int64(46082), "2026-03-01T00:00:00-05:00"),
        (1, "1899-12-31T00:00:00-05:00"),
        (dt.datetime(2026, 3, 1, 12, 0), "2026-03-01T12:00:00-05:00"),
        (dt.date(2026, 3, 1), "2026-03-01T00:00:00-05:00"),
        (pd.Timestamp("2026-03-01 12:00"), "2026-03-01T12:00:00-05:00"),
        (np.datetime64("2026-03-01T12:00"), "2026-03-01T12:00:00-05:00"),
        (dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC), "2026-03-01T07:00:00-05:00"),
        (
            dt.datetime(2026, 3, 1, 12, 0, tzinfo=ZoneInfo("Europe/Berlin")),
            "2026-03-01T06:00:00-05:00",
        ),
    ],
)
def test_date_values(raw: object, expected: str) -> None:
    parsed = read_one_date(raw)
    assert parsed.problems.iloc[0] == ""
    assert local(parsed) == expected


def test_serials_vectorised_match_scalar_reading() -> None:
    serials = column(46082.5, 46082, 46082 + 0.25, None, "46082.5")
    parsed = parse_datetimes(serials, "Opened", "UTC")
    assert [v.isoformat() if not pd.isna(v) else None for v in parsed.values] == [
        "2026-03-01T12:00:00+00:00",
        "2026-03-01T00:00:00+00:00",
        "2026-03-01T06:00:00+00:00",
        None,
        "2026-03-01T12:00:00+00:00",
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # spring forward: 02:00-03:00 does not exist; read as the first instant after the gap
        ("2026-03-08 02:30", "2026-03-08T03:00:00-04:00"),
        (dt.datetime(2026, 3, 8, 2, 30), "2026-03-08T03:00:00-04:00"),
        ("2026-03-08 03:30", "2026-03-08T03:30:00-04:00"),
        # fall back: 01:00-02:00 happens twice; read as the first (still daylight time)
        ("2026-11-01 01:30", "2026-11-01T01:30:00-04:00"),
        (dt.datetime(2026, 11, 1, 1, 30), "2026-11-01T01:30:00-04:00"),
        (46327 + 1.5 / 24, "2026-11-01T01:30:00-04:00"),
        ("2026-11-01 02:30", "2026-11-01T02:30:00-05:00"),
        # an explicit offset is never second-guessed
        ("2026-11-01T01:30:00-05:00", "2026-11-01T01:30:00-05:00"),
    ],
)
def test_daylight_saving_new_york(raw: object, expected: str) -> None:
    parsed = read_one_date(raw)
    assert parsed.problems.iloc[0] == ""
    assert local(parsed) == expected


def test_same_text_different_zones() -> None:
    raw = column("2026-07-01 09:00")
    tokyo = parse_datetimes(raw, "Opened", "Asia/Tokyo").values.iloc[0]
    london = parse_datetimes(raw, "Opened", "Europe/London").values.iloc[0]
    assert tokyo.isoformat() == "2026-07-01T00:00:00+00:00"
    assert london.isoformat() == "2026-07-01T08:00:00+00:00"


@pytest.mark.parametrize(
    ("raw", "quoted"),
    [
        ("tomorrow", "tomorrow"),
        ("31/02/2026", "31/02/2026"),
        ("13/13/2026", "13/13/2026"),
        ("soon", "soon"),
        ("asap!!", "asap!!"),
        ("3/5", "3/5"),
        ("14:30", "14:30"),
        ("2026-03-05 25:00", "2026-03-05 25:00"),
        ("3/5/2026 14", "3/5/2026 14"),
        ("3/5/2026 13:00 PM", "3/5/2026 13:00 PM"),
        ("2026-02-29", "2026-02-29"),
        ("3/5-2026", "3/5-2026"),
        ("20260305", "20260305"),
        ("-5", "-5"),
        (0.5, "0.5"),
        (0, "0"),
        (-46082, "-46082"),
        (2958465, "2958465"),
        (math.inf, "inf"),
        (10**400, f"{'1' + '0' * 79}…"[:79] + "…"),
        (True, "TRUE"),
        (dt.time(14, 30), "14:30:00"),
        (dt.datetime(1, 1, 1), "0001-01-01 00:00"),
        (dt.date(9999, 12, 31), "9999-12-31"),
        ("  line one\nline two  ", "line one line two"),
    ],
)
def test_unreadable_dates_are_problems(raw: object, quoted: str) -> None:
    parsed = read_one_date(raw)
    assert pd.isna(parsed.values.iloc[0])
    assert parsed.problems.iloc[0] == f'Opened: cannot read "{quoted}" as a date'


def test_exact_problem_message_from_spec() -> None:
    parsed = parse_datetimes(column("31/02/2026"), "Opened", "UTC", "DMY")
    assert parsed.problems.tolist() == ['Opened: cannot read "31/02/2026" as a date']


@pytest.mark.parametrize("raw", [None, "", "   ", math.nan, pd.NaT, pd.NA, np.nan, "-", "n/a", "N/A"])
def test_blank_dates_are_nat_without_problem(raw: object) -> None:
    parsed = read_one_date(raw)
    assert pd.isna(parsed.values.iloc[0])
    assert parsed.problems.iloc[0] == ""


def test_dates_keep_index_and_types() -> None:
    raw = pd.Series(["2026-03-05", None, "junk"], index=[10, 20, 30], dtype=object)
    parsed = parse_datetimes(raw, "Resolved at", "UTC")
    assert str(parsed.values.dtype) == "datetime64[ns, UTC]"
    assert parsed.values.index.tolist() == [10, 20, 30]
    assert parsed.problems.index.tolist() == [10, 20, 30]
    assert parsed.problems.tolist() == ["", "", 'Resolved at: cannot read "junk" as a date']


def test_dates_from_typed_pandas_columns() -> None:
    naive = pd.Series([pd.Timestamp("2026-03-05 14:30"), pd.NaT])
    parsed = parse_datetimes(naive, "Opened", NEW_YORK)
    assert parsed.values.iloc[0].isoformat() == "2026-03-05T19:30:00+00:00"
    assert pd.isna(parsed.values.iloc[1])
    floats = pd.Series([46082.5, np.nan])
    assert parse_datetimes(floats, "Opened", "UTC").problems.tolist() == ["", ""]


def test_empty_column() -> None:
    parsed = parse_datetimes(pd.Series([], dtype=object), "Opened", "UTC")
    assert len(parsed.values) == 0
    assert str(parsed.values.dtype) == "datetime64[ns, UTC]"


def test_bad_settings_raise_value_error() -> None:
    with pytest.raises(ValueError, match="date order"):
        parse_datetimes(column("2026-03-05"), "Opened", "UTC", "YMD")
    with pytest.raises(ValueError, match="time zone"):
        parse_datetimes(column("2026-03-05"), "Opened", "Mars/Olympus_Mons")


def test_datetime_scalar() -> None:
    assert parse_datetime_scalar("2026-12-25", "Europe/London") == pd.Timestamp(
        "2026-12-25T00:00:00", tz="UTC"
    )
    assert parse_datetime_scalar("05/03/2026", "UTC", "DMY") == pd.Timestamp(
        "2026-03-05", tz="UTC"
    )
    assert parse_datetime_scalar(46082.5, NEW_YORK) == pd.Timestamp("2026-03-01T17:00", tz="UTC")
    assert parse_datetime_scalar("soon", "UTC") is None
    assert parse_datetime_scalar(None, "UTC") is None
    assert parse_datetime_scalar(["not", "a", "cell"], "UTC") is None


# --------------------------------------------------------------------------------------
# Money


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1200", 1200.0),
        (1200, 1200.0),
        ("$1,200.50", 1200.5),
        ("USD 1200", 1200.0),
        ("usd1200", 1200.0),
        ("1200 EUR", 1200.0),
        ("£300", 300.0),
        ("€ 99.99", 99.99),
        ("US$ 1,200", 1200.0),
        ("1.200,50 €", 1200.5),
        ("1,200,000.50", 1_200_000.5),
        ("1.200.000", 1_200_000.0),
        ("1 200", 1200.0),
        ("1'200.50", 1200.5),
        ("1,200", 1200.0),
        ("12,5", 12.5),
        ("1.200", 1.2),
        (".5", 0.5),
        ("2k", 2000.0),
        ("1.5M", 1_500_000.0),
        ("-50", -50.0),
        ("−50", -50.0),
        ("-$50", -50.0),
        ("$-50", -50.0),
        ("(50)", -50.0),
        ("($1,200.50)", -1200.5),
        ("+50", 50.0),
        (12.5, 12.5),
        (-3, -3.0),
        (Decimal("12.50"), 12.5),
        (np.int64(7), 7.0),
    ],
)
def test_money(raw: object, expected: float) -> None:
    parsed = parse_money(column(raw), "Financial impact")
    assert parsed.problems.iloc[0] == ""
    assert parsed.values.iloc[0] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("raw", "quoted"),
    [
        ("about 500", "about 500"),
        ("abc 100", "abc 100"),
        ("lots", "lots"),
        ("5%", "5%"),
        ("1,2.5", "1,2.5"),
        ("1.2.3", "1.2.3"),
        ("12 34", "12 34"),
        ("(50", "(50"),
        ("$", "$"),
        (",500", ",500"),
        ("USD 100 EUR", "USD 100 EUR"),
        (True, "TRUE"),
        (math.inf, "inf"),
        (10**400, "1" + "0" * 78 + "…"),
        (dt.date(2026, 3, 5), "2026-03-05"),
    ],
)
def test_unreadable_money_is_a_problem(raw: object, quoted: str) -> None:
    parsed = parse_money(column(raw), "Financial impact")
    assert math.isnan(parsed.values.iloc[0])
    assert parsed.problems.iloc[0] == f'Financial impact: cannot read "{quoted}" as an amount'


@pytest.mark.parametrize("raw", [None, "", "  ", math.nan, "-", "n/a", "none"])
def test_blank_money(raw: object) -> None:
    parsed = parse_money(column(raw), "Financial impact")
    assert math.isnan(parsed.values.iloc[0])
    assert parsed.problems.iloc[0] == ""
    assert parsed.values.dtype == np.float64


# --------------------------------------------------------------------------------------
# Yes/no


@pytest.mark.parametrize(
    "raw",
    ["yes", "YES", " Yes ", "y", "Y", "true", "TRUE", "1", "x", "X", "✓", "✔", "☑", "✅",
     True, 1, 1.0, np.bool_(True)],
)
def test_yes(raw: object) -> None:
    parsed = parse_yesno(column(raw), "Manager requested")
    assert parsed.values.tolist() == [True]
    assert parsed.problems.tolist() == [""]


@pytest.mark.parametrize(
    "raw", [None, "", " ", "no", "No", "n", "false", "FALSE", "0", "☐", "✗", "-", "n/a",
            False, 0, 0.0, math.nan],
)
def test_no(raw: object) -> None:
    parsed = parse_yesno(column(raw), "Manager requested")
    assert parsed.values.tolist() == [False]
    assert parsed.problems.tolist() == [""]


@pytest.mark.parametrize(
    ("raw", "quoted"),
    [("maybe", "maybe"), ("yes please", "yes please"), (2, "2"), (0.5, "0.5"),
     (dt.datetime(2026, 3, 5, 9, 0), "2026-03-05 09:00")],
)
def test_unreadable_yesno(raw: object, quoted: str) -> None:
    parsed = parse_yesno(column(raw), "Public mention")
    assert parsed.values.tolist() == [False]
    assert parsed.problems.tolist() == [f'Public mention: cannot read "{quoted}" as yes/no']


# --------------------------------------------------------------------------------------
# Levels


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, 1), ("", 1), (math.nan, 1), ("L1", 1), ("L2", 2), ("l2", 2), ("2", 2), (2, 2),
        (2.0, 2), ("2.0", 2), ("Level 2", 2), ("level2", 2), ("L 3", 3), ("L2 - Specialist", 2),
        ("L3 (Executive)", 3), ("Tier 3", 3), (" L3 ", 3), (np.int64(3), 3),
    ],
)
def test_levels(raw: object, expected: int) -> None:
    parsed = parse_levels(column(raw), "Level")
    assert parsed.values.tolist() == [expected]
    assert parsed.problems.tolist() == [""]


@pytest.mark.parametrize(
    ("raw", "quoted"),
    [("L4", "L4"), ("0", "0"), (4, "4"), (2.5, "2.5"), ("L23", "L23"), ("Specialist", "Specialist"),
     ("L2.5", "L2.5"), (True, "TRUE"), (-1, "-1")],
)
def test_unreadable_levels(raw: object, quoted: str) -> None:
    parsed = parse_levels(column(raw), "Level")
    assert parsed.values.tolist() == [1]
    assert parsed.problems.tolist() == [
        f'Level: cannot read "{quoted}" as a level (L1, L2 or L3)'
    ]


# --------------------------------------------------------------------------------------
# Text, quoting and combining


def test_text() -> None:
    raw = column(
        " ESC-0001 ", 12, 12.0, 12.5, 0.1 + 0.2, None, math.nan, True, False,
        dt.datetime(2026, 3, 5, 14, 30), dt.datetime(2026, 3, 5, 14, 30, 15), dt.date(2026, 3, 5),
        "", "שלום", np.int64(7),
    )
    texts = parse_text(raw)
    assert texts.tolist() == [
        "ESC-0001", "12", "12", "12.5", "0.3", "", "", "TRUE", "FALSE",
        "2026-03-05 14:30", "2026-03-05 14:30:15", "2026-03-05", "", "שלום", "7",
    ]
    assert texts.index.equals(raw.index)


def test_format_value() -> None:
    assert format_value("  31/02/2026 ") == "31/02/2026"
    assert format_value(1200.0) == "1200"
    assert format_value(None) == ""
    assert format_value("a\n\tb") == "a b"
    long = "x" * 50_000
    assert format_value(long) == "x" * 79 + "…"
    assert len(format_value(long)) == 80
    assert format_value("y" * 80) == "y" * 80

    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert format_value(Hostile()) == "<Hostile>"


def test_combine_problems() -> None:
    index = pd.Index([5, 6, 7, 8])
    first = pd.Series(["Opened: a", "", "Level: b", ""], index=index)
    second = pd.Series(["", "Money: c", "Money: d", ""], index=index)
    third = pd.Series([None, "", "Yes: e", ""], index=index, dtype=object)
    combined = combine_problems(first, second, third)
    assert combined.tolist() == ["Opened: a", "Money: c", "Level: b; Money: d; Yes: e", ""]
    assert combined.index.equals(index)
    assert combine_problems().tolist() == []


# --------------------------------------------------------------------------------------
# Totality: nothing raises, every problem is well formed


DATE_LIKE = st.from_regex(
    r"\A\s?\d{1,4}[/.\- ]\d{1,2}[/.\- ](\d{1,4}|[A-Za-z]{3,9})( \d{1,2}(:\d{2}){0,2}( ?[apAP][mM])?)?( ?(Z|[+-]\d{2}:?\d{2}))?\s?\Z"
)
MONEY_LIKE = st.from_regex(r"\A\(?[-+]?[$€£]?\s?\d{0,4}([.,' ]\d{1,3}){0,3}\s?(k|M|USD|€)?\)?\Z")
RAW_VALUES = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.text(min_size=200, max_size=2000),
    st.sampled_from(["yes", "✓", "L2", "Level 3", "$1,200.50", "31/02/2026", "46082.5", "n/a",
                     "March 5, 2026 14:00", "\u202eRTL\u202c", "\x00", "\ud800"]),
    DATE_LIKE,
    MONEY_LIKE,
    st.integers(),
    st.integers(min_value=-(10**500), max_value=10**500),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-10, max_value=3_000_000),
    st.booleans(),
    st.datetimes(),
    st.datetimes(timezones=st.timezones()),
    st.dates(),
)
COLUMNS = st.lists(RAW_VALUES, max_size=40)
PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def assert_problems_well_formed(
    parsed: ParsedColumn, raw: pd.Series, header: str, noun: str
) -> None:
    assert parsed.problems.index.equals(raw.index)
    assert parsed.values.index.equals(raw.index)
    for problem, value in zip(parsed.problems, raw, strict=True):
        assert isinstance(problem, str)
        if problem:
            assert problem == f'{header}: cannot read "{format_value(value)}" as {noun}'


@PROPERTY_SETTINGS
@given(COLUMNS, st.sampled_from(["UTC", NEW_YORK, "Asia/Kolkata", "Pacific/Chatham"]),
       st.sampled_from(["MDY", "DMY"]))
def test_parse_datetimes_is_total(values: list[object], timezone: str, order: str) -> None:
    raw = pd.Series(values, dtype=object)
    parsed = parse_datetimes(raw, "Opened", timezone, order)
    assert str(parsed.values.dtype) == "datetime64[ns, UTC]"
    assert_problems_well_formed(parsed, raw, "Opened", "a date")
    for value, problem in zip(parsed.values, parsed.problems, strict=True):
        if problem:
            assert pd.isna(value)
    for value, problem in zip(values, parsed.problems, strict=True):
        if value is None or (isinstance(value, str) and not value.strip()):
            assert problem == ""
    for value in values:
        assert parse_datetime_scalar(value, timezone, order) == _only(
            parse_datetimes(pd.Series([value], dtype=object), "x", timezone, order).values
        )


def _only(values: pd.Series) -> pd.Timestamp | None:
    value = values.iloc[0]
    return None if pd.isna(value) else value


@PROPERTY_SETTINGS
@given(COLUMNS)
def test_parse_money_is_total(values: list[object]) -> None:
    raw = pd.Series(values, dtype=object)
    parsed = parse_money(raw, "Financial impact")
    assert parsed.values.dtype == np.float64
    assert_problems_well_formed(parsed, raw, "Financial impact", "an amount")
    for amount, problem in zip(parsed.values, parsed.problems, strict=True):
        assert math.isnan(amount) or math.isfinite(amount)
        if problem:
            assert math.isnan(amount)


@PROPERTY_SETTINGS
@given(COLUMNS)
def test_parse_yesno_is_total(values: list[object]) -> None:
    raw = pd.Series(values, dtype=object)
    parsed = parse_yesno(raw, "Beyond L2")
    assert parsed.values.dtype == bool
    assert_problems_well_formed(parsed, raw, "Beyond L2", "yes/no")
    for answer, problem in zip(parsed.values, parsed.problems, strict=True):
        if problem:
            assert not answer


@PROPERTY_SETTINGS
@given(COLUMNS)
def test_parse_levels_is_total(values: list[object]) -> None:
    raw = pd.Series(values, dtype=object)
    parsed = parse_levels(raw, "Level")
    assert parsed.values.dtype == np.int64
    assert set(parsed.values.tolist()) <= {1, 2, 3}
    assert_problems_well_formed(parsed, raw, "Level", "a level (L1, L2 or L3)")
    for level, problem in zip(parsed.values, parsed.problems, strict=True):
        if problem:
            assert level == 1


@PROPERTY_SETTINGS
@given(COLUMNS)
def test_parse_text_and_format_value_are_total(values: list[object]) -> None:
    raw = pd.Series(values, dtype=object)
    texts = parse_text(raw)
    assert texts.index.equals(raw.index)
    for text in texts:
        assert isinstance(text, str)
        assert text == text.strip()
    for value in values:
        quoted = format_value(value)
        assert len(quoted) <= 80
        assert "\n" not in quoted


@PROPERTY_SETTINGS
@given(st.lists(st.lists(st.sampled_from(["", "a", "b: c", None]), min_size=3, max_size=3),
                max_size=4))
def test_combine_problems_joins_non_empty(columns: list[list[str | None]]) -> None:
    series = [pd.Series(c, dtype=object) for c in columns]
    combined = combine_problems(*series)
    for row, text in enumerate(combined):
        parts = [c[row] for c in columns if c[row]]
        assert text == "; ".join(p for p in parts if p is not None)


# Round trips: what a backend hands over must come back as the same instant.

IN_RANGE = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2261, 12, 31))


@PROPERTY_SETTINGS
@given(IN_RANGE)
def test_naive_datetime_objects_round_trip(moment: dt.datetime) -> None:
    parsed = parse_datetimes(column(moment), "Opened", "UTC")
    assert parsed.problems.iloc[0] == ""
    assert parsed.values.iloc[0].tz_localize(None).to_pydatetime() == moment


@PROPERTY_SETTINGS
@given(IN_RANGE, st.booleans())
def test_iso_text_round_trips(moment: dt.datetime, with_zone: bool) -> None:
    text = moment.replace(tzinfo=dt.UTC).isoformat() if with_zone else moment.isoformat()
    parsed = parse_datetimes(column(text), "Opened", "UTC")
    assert parsed.problems.iloc[0] == ""
    assert parsed.values.iloc[0].tz_localize(None).to_pydatetime() == moment


@PROPERTY_SETTINGS
@given(IN_RANGE.map(lambda m: m.replace(microsecond=m.microsecond // 1000 * 1000)))
def test_serials_round_trip_to_the_millisecond(moment: dt.datetime) -> None:
    serial = (moment - dt.datetime(1899, 12, 30)) / dt.timedelta(days=1)
    parsed = parse_datetimes(column(serial), "Opened", "UTC")
    if serial < 1:
        assert parsed.problems.iloc[0] != ""
        return
    assert parsed.values.iloc[0].tz_localize(None).to_pydatetime() == moment


@PROPERTY_SETTINGS
@given(IN_RANGE, st.sampled_from(["MDY", "DMY"]))
def test_numeric_dates_follow_the_order(moment: dt.datetime, order: str) -> None:
    day_month = f"{moment.day}/{moment.month}" if order == "DMY" else f"{moment.month}/{moment.day}"
    text = f"{day_month}/{moment.year} {moment:%H:%M}"
    parsed = parse_datetimes(column(text), "Opened", "UTC", order)
    assert parsed.values.iloc[0].tz_localize(None).to_pydatetime() == moment.replace(
        second=0, microsecond=0
    )


# --------------------------------------------------------------------------------------
# Speed: the engine is held to 100,000 rows


def test_hundred_thousand_rows_parse_quickly() -> None:
    rng = np.random.default_rng(7)
    base = dt.datetime(2025, 1, 1)
    distinct = [
        f"{rng.integers(1, 13)}/{rng.integers(1, 29)}/2026 {rng.integers(1, 13)}:"
        f"{rng.integers(0, 60):02d} PM"
        for _ in range(300)
    ] + ["junk", "soon", ""]
    minutes = rng.integers(0, 500_000, size=100_000)
    is_object = rng.random(100_000) < 0.8
    picks = rng.integers(0, len(distinct), size=100_000)
    values = [
        base + dt.timedelta(minutes=int(m)) if obj else distinct[p]
        for m, obj, p in zip(minutes, is_object, picks, strict=True)
    ]
    raw = pd.Series(values, dtype=object)
    started = time.perf_counter()
    parsed = parse_datetimes(raw, "Opened", NEW_YORK)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.5, f"100,000 rows took {elapsed:.2f}s"
    assert (parsed.problems != "").sum() == sum(
        1 for v in values if v in ("junk", "soon")
    )


_LAYOUTS = ("%Y-%m-%d %H:%M", "%Y-%m-%d", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%d/%m/%Y %H:%M",
            "%d/%m/%Y", "%-m/%-d/%Y %-H:%M", "%Y-%m-%d %-H:%M")


@settings(max_examples=300, deadline=None)
@given(moments=st.lists(st.datetimes(min_value=dt.datetime(1899, 12, 31),
                                     max_value=dt.datetime(2261, 12, 31, 23, 59)),
                        min_size=1, max_size=20),
       layout=st.sampled_from(_LAYOUTS), day_first=st.booleans(),
       noise=st.lists(st.sampled_from(["", "13/13/2026", "2026-02-30", "24:00", "3/5/26",
                                       "2026-03-05T14:30", "5 Mar 2026", "2026-3-5 14:30 PM"]),
                      max_size=3))
def test_the_common_layout_shortcut_reads_what_the_full_reader_reads(
        moments: list[dt.datetime], layout: str, day_first: bool, noise: list[str]) -> None:
    from sheets_escalation.core import dates

    texts = [m.strftime(layout) for m in moments] + noise
    fast = dates._common_layouts(texts, day_first)
    for text, value in zip(texts, fast.tolist(), strict=True):
        if value == dates._NAT:
            continue  # left to the full reader
        full = dates._date_text(text, day_first)
        assert full is not None and full == (value, False), text


def test_the_common_layout_shortcut_reads_the_layouts_it_names() -> None:
    from sheets_escalation.core import dates

    texts = ["2026-03-05 14:30", "2026-03-05", "3/5/2026 14:30", "3/5/2026", "5 Mar 2026"]
    read = dates._common_layouts(texts, day_first=False)
    assert (read[:4] != dates._NAT).all() and read[4] == dates._NAT
    assert read.view("datetime64[ns]")[2] == np.datetime64("2026-03-05T14:30")
    assert dates._common_layouts(["3/5/2026"], day_first=True).view(
        "datetime64[ns]")[0] == np.datetime64("2026-05-03")


def test_a_column_of_datetimes_only_reads_as_the_same_values_as_objects() -> None:
    # pandas infers datetime64 for a column holding only datetimes and blanks; read in C,
    # it must give what the same cells as objects give: wall times in the gap and the
    # repeated hour of a DST change, seconds, out-of-range years, blanks.
    stamps = np.array(["2026-03-08T02:30", "2026-11-01T01:30", "2026-05-01T12:00:01.5",
                       "1800-01-01T00:00", "2300-06-01T00:00", "NaT", "1899-12-31T00:00",
                       "2261-12-31T23:59"], dtype="datetime64[us]")
    column = pd.Series(stamps, index=pd.RangeIndex(3, 3 + len(stamps)))
    assert column.dtype.kind == "M"
    fast = parse_datetimes(column, "Opened", "America/New_York")
    objects = parse_datetimes(column.astype(object), "Opened", "America/New_York")
    assert fast.values.equals(objects.values)
    assert fast.problems.tolist() == objects.problems.tolist()
    assert fast.problems.index.equals(objects.problems.index)
    assert sum(bool(p) for p in fast.problems) == 2  # the years 1800 and 2300
