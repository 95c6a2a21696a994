"""Reliability against what an owner may type into the policy tabs: durations too long for
any clock, hostile templates, malformed notification addresses and allowlist tricks. Each
case comes from an adversarial pass over the tool and ran wrong before it was fixed; the
fuzz tests for the same families live in tests/test_reliability_fuzz.py."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sheets_escalation import schema
from sheets_escalation.clock import BusinessCalendar, Duration, parse_duration
from tests.both_backends import INPUT_HEADER, good_row, make_book, template_tabs

OPENED_AN_HOUR_AGO = {"Opened": "2026-11-24 14:00", "First response at": None}


def _tab(name: str, row: int, header: str, value: Any) -> list[list[Any]]:
    rows = copy.deepcopy(template_tabs()[name])
    rows[row - 1][rows[0].index(header)] = value
    return rows


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(("tab", "row", "header", "text", "cell"), [
    # auto-escalated a row opened an hour earlier ("limit 1000000000 days")
    (schema.TRIGGERS, 2, "Parameter", "1000000000 days", "C2"),
    # wrote Resolution due 1716-02-20 and Overdue
    (schema.LEVELS, 2, "Resolution target", "100000 days", "F2"),
    # "internal error: ValueError"
    (schema.LEVELS, 3, "Resolution target", "1000000 business days", "F3"),
    (schema.TRIGGERS, 2, "Parameter", "1000000 business days", "C2"),
    (schema.LEVELS, 2, "Response time", "99999999999 minutes", "E2"),
    (schema.TRIGGERS, 7, "Parameter", "3 customers in 1000000 hours", "C7"),
    (schema.TRIGGERS, 7, "Timeframe", "1000000000 hours", "F7"),
])
def test_a_duration_longer_than_ten_years_is_a_located_policy_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tab: str, row: int, header: str,
        text: str, cell: str) -> None:
    rows = [INPUT_HEADER, good_row(ID="ESC-0001", **OPENED_AN_HOUR_AGO)]
    book = make_book("xlsx", tmp_path, rows, monkeypatch, **{tab: _tab(tab, row, header, text)})
    before = book.path.read_bytes()

    for command in ("sync", "check"):
        run = book.sync() if command == "sync" else book.cli("check")
        assert run.code == 2, (command, run)
        problems = [line for line in run.err.splitlines() if line.startswith("  ")]
        assert len(problems) == 1 and problems[0].startswith(f"  {tab}!{cell}: "), problems
        assert "longer than 10 years" in problems[0]
    assert book.path.read_bytes() == before


def test_business_time_that_takes_over_ten_years_on_this_calendar_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 3,000 business days fit ten years of every-day work, not of one work day a week.
    levels = _tab(schema.LEVELS, 2, "Resolution target", "3000 business days")
    settings = copy.deepcopy(template_tabs()[schema.SETTINGS])
    for values in settings:
        if values[0] == "Work days":
            values[1] = "Mon"
    rows = [INPUT_HEADER, good_row(ID="ESC-0001")]
    book = make_book("xlsx", tmp_path, rows, monkeypatch, Levels=levels, Settings=settings)

    run = book.sync()

    assert run.code == 2
    assert "  Levels!F2: Resolution target: 3000 business days take about 57 years" in run.err


def test_ten_years_is_still_a_duration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    triggers = _tab(schema.TRIGGERS, 2, "Parameter", "3650 days")
    levels = _tab(schema.LEVELS, 2, "Resolution target", "2000 business days")
    rows = [INPUT_HEADER, good_row(ID="ESC-0001", **OPENED_AN_HOUR_AGO)]
    book = make_book("xlsx", tmp_path, rows, monkeypatch, Triggers=triggers, Levels=levels)

    run = book.sync("--quiet")

    assert (run.code, run.err) == (0, "")
    record = book.by_id()["ESC-0001"]
    assert record["Triggers"] is None and record["Resolution SLA"] == "On track"
    assert record["Resolution due"].year == 2034


@pytest.mark.parametrize("business", [False, True])
def test_a_due_time_past_the_end_of_the_clock_is_missing_not_wrapped(business: bool) -> None:
    calendar = BusinessCalendar()
    start = pd.Series(pd.to_datetime(["2261-12-31 09:00", "2026-11-24 09:00"], utc=True))
    ten_years = calendar.seconds(Duration(3653, "business_day" if business else "day"))

    due = calendar.add(start, ten_years, business)

    assert due.isna().tolist() == [True, False]
    assert due.iat[1] > start.iat[1]


@pytest.mark.parametrize("text", ["3654 days", "87673 hours", "5260321 minutes",
                                  "3654 business days", "87673 business hours", "1e400 days"])
def test_parse_duration_refuses_more_than_ten_years(text: str) -> None:
    with pytest.raises(ValueError, match="longer than 10 years|cannot read"):
        parse_duration(text)
