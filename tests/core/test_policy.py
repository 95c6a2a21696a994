"""The policy tabs (SPEC §3, §7): every mistake in Triggers, Levels, Settings, Holidays is a
ConfigError located at its tab and A1 cell, all reported at once; missing tabs fall back to
the defaults with a note."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sheets_escalation.core import schema
from sheets_escalation.core.clock import Duration
from sheets_escalation.core.errors import ConfigError
from sheets_escalation.core.policy import Policy, load_policy
from sheets_escalation.core.problems import Problem
from sheets_escalation.core.table import Table

TRIGGERS_HEADER = list(schema.TRIGGERS_HEADERS)
LEVELS_HEADER = list(schema.LEVELS_HEADERS)
A1 = re.compile(r"^[A-Z]+[1-9]\d*$")


def load(**tabs: list[list[Any]]) -> Policy:
    return load_policy({name: Table(name, rows) for name, rows in tabs.items()})


def problems(**tabs: list[list[Any]]) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load(**tabs)
    return caught.value.problems


def where(found: list[Problem]) -> list[tuple[str, str]]:
    return [(p.tab, p.cell) for p in found]


def trigger_row(**changes: Any) -> list[Any]:
    """A valid Triggers row (Manager requested), with cells replaced by header."""
    cells: list[Any] = ["Custom", "manager_requested", "", "L1", "L2", "Immediate", "flag",
                        "Yes"]
    for header, value in changes.items():
        cells[TRIGGERS_HEADER.index(header)] = value
    return cells


def one_trigger(**changes: Any) -> list[Problem]:
    return problems(Triggers=[TRIGGERS_HEADER, trigger_row(**changes)])


def settings_of(*pairs: tuple[str, Any]) -> list[list[Any]]:
    return [["Key", "Value"], *[list(p) for p in pairs]]


# ---------------------------------------------------------------------------------------
# Defaults


def test_missing_tabs_give_the_defaults_with_a_note() -> None:
    policy = load()
    assert [t.name for t in policy.triggers] == [r[0] for r in schema.DEFAULT_TRIGGERS]
    assert policy.levels[1].response == Duration(4, "business_hour")
    assert policy.levels[2].resolution == Duration(2, "business_day")
    assert policy.levels[3].response == Duration(1, "hour")
    assert policy.timezone == "UTC"
    assert policy.at_risk == 0.75
    assert policy.date_order == "MDY"
    assert policy.required_info == schema.DEFAULT_REQUIRED_INFO
    assert policy.vip == frozenset()
    assert len(policy.notes) == 3
    assert any("Triggers" in note for note in policy.notes)


def test_default_triggers_parse_as_the_spec_says() -> None:
    rules = {t.name: t for t in load().triggers}
    unresolved = rules["Unresolved too long"]
    assert (unresolved.from_level, unresolved.to_level, unresolved.auto) == (1, 2, True)
    assert unresolved.duration == Duration(1, "business_day")
    assert unresolved.timeframe_seconds == 0
    assert rules["Financial loss"].amount == 500
    assert "legal action" in rules["Legal threat"].keywords
    assert rules["Legal threat"].from_level is None and rules["Legal threat"].to_level == 3
    repeat = rules["Repeat issue"]
    assert (repeat.repeat_count, repeat.repeat_window) == (3, Duration(24, "hour"))
    assert (repeat.timeframe_seconds, repeat.timeframe_business) == (3600, False)
    assert rules["Beyond L2 authority"].from_level == 2
    assert rules["L2 silent"].auto and rules["L2 silent"].kind == "no_response"
    assert [r.row for r in load(Triggers=[TRIGGERS_HEADER, *map(list, schema.DEFAULT_TRIGGERS)])
            .triggers] == list(range(2, 12))


def test_present_tabs_are_read_any_case_and_order() -> None:
    header = ["enabled", " APPLY", "timeframe", "to", "from", "parameter", "kind", "Trigger"]
    row = ["no", "Auto", "2 business hours", "l3", "2", "900", "Financial_Loss_Over", "Big"]
    [rule] = load(Triggers=[header, row]).triggers
    assert (rule.name, rule.kind, rule.amount) == ("Big", "financial_loss_over", 900)
    assert (rule.from_level, rule.to_level, rule.auto, rule.enabled) == (2, 3, True, False)
    assert (rule.timeframe_seconds, rule.timeframe_business) == (7200, True)


def test_enabled_column_may_be_left_out() -> None:
    [rule] = load(Triggers=[TRIGGERS_HEADER[:-1], trigger_row()[:-1]]).triggers
    assert rule.enabled


def test_settings_are_read() -> None:
    policy = load(Settings=settings_of(
        ("timezone", "europe/london"), ("Work days", "Sun-Thu"), ("Work Hours", "8am-4pm"),
        ("At risk at", 0.5), ("Date order", "dmy"), ("Required info", "customer, Issue type"),
        ("Remind at", "90%, 60%")))
    assert policy.timezone == "Europe/London"
    assert policy.calendar.work_days == frozenset({6, 0, 1, 2, 3})
    assert (policy.calendar.opening, policy.calendar.closing) == (dt.time(8), dt.time(16))
    assert policy.at_risk == 0.5
    assert policy.date_order == "DMY"
    assert policy.required_info == ("Customer", "Issue type")
    assert policy.remind_at == (0.6, 0.9)
    assert policy.settings["Remind at"] == "90%, 60%"


@pytest.mark.parametrize(("value", "share"), [("80%", 0.8), ("80", 0.8), (0.9, 0.9),
                                              ("0.6", 0.6), ("100%", 1.0)])
def test_at_risk_at_spellings(value: Any, share: float) -> None:
    assert load(Settings=settings_of(("At risk at", value))).at_risk == pytest.approx(share)


def test_vip_tab_is_casefolded() -> None:
    policy = load(VIP=[["Note", "customer"], ["big one", "  ACME Corp "], [None, None]])
    assert policy.vip == frozenset({"acme corp"})


def test_holidays_tab_closes_those_dates() -> None:
    policy = load(Holidays=[["Date", "Name"], [dt.date(2026, 6, 1), "Closed"],
                            ["2026-06-02", "Also closed"]])
    assert {dt.date(2026, 6, 1), dt.date(2026, 6, 2)} <= policy.calendar.holiday_dates


def test_levels_tab_overrides_only_the_rows_it_has() -> None:
    policy = load(Levels=[LEVELS_HEADER, ["L2", "Experts", "", "", "3 bh", "3 bd",
                                          "ops@example.com, webhook:https://x.test/h"]])
    assert policy.levels[2].name == "Experts"
    assert policy.levels[2].response == Duration(3, "business_hour")
    assert policy.levels[2].notify == ("ops@example.com", "webhook:https://x.test/h")
    assert policy.levels[1].response == Duration(4, "business_hour")


# ---------------------------------------------------------------------------------------
# Triggers: every kind of mistake, located


@pytest.mark.parametrize(("changes", "cell", "words"), [
    ({"Kind": "shouting"}, "B2", "unknown kind"),
    ({"Kind": ""}, "B2", "unknown kind"),
    ({"Kind": "unresolved_for", "Parameter": "soon"}, "C2", "duration"),
    ({"Kind": "unresolved_for", "Parameter": ""}, "C2", "duration"),
    ({"Kind": "unresolved_for", "Parameter": "-2 hours"}, "C2", "negative"),
    ({"Kind": "financial_loss_over", "Parameter": "lots"}, "C2", "amount"),
    ({"Kind": "financial_loss_over", "Parameter": ""}, "C2", "amount"),
    ({"Kind": "financial_loss_over", "Parameter": -5}, "C2", "amount"),
    ({"Kind": "mentions", "Parameter": ""}, "C2", "keywords"),
    ({"Kind": "mentions", "Parameter": " , ,"}, "C2", "keywords"),
    ({"Kind": "repeat_issue", "Parameter": "3 customers"}, "C2", "N customers in"),
    ({"Kind": "repeat_issue", "Parameter": "1 customer in 24 hours"}, "C2", "at least 2"),
    ({"Kind": "repeat_issue", "Parameter": "3 customers in a while"}, "C2", "duration"),
    ({"Kind": "repeat_issue", "Parameter": ""}, "C2", "N customers in"),
    ({"From": "L9"}, "D2", "level"),
    ({"From": "boss"}, "D2", "level"),
    ({"To": "L1"}, "E2", "target level"),
    ({"To": ""}, "E2", "target level"),
    ({"To": "L4"}, "E2", "target level"),
    ({"From": "L2", "To": "L2"}, "E2", "above"),
    ({"From": "L3", "To": "L2"}, "E2", "above"),
    ({"Timeframe": "soonish"}, "F2", "Timeframe"),
    ({"Timeframe": "-1 hour"}, "F2", "Timeframe"),
    ({"Apply": "maybe"}, "G2", "Apply"),
    ({"Enabled": "perhaps"}, "H2", "yes/no"),
    ({"Trigger": ""}, "A2", "name"),
])
def test_trigger_mistakes_are_located(changes: dict[str, Any], cell: str, words: str) -> None:
    [problem] = one_trigger(**changes)
    assert (problem.tab, problem.cell) == (schema.TRIGGERS, cell)
    assert words in problem.message


def test_trigger_unknown_kind_names_the_kinds() -> None:
    [problem] = one_trigger(Kind="shouting")
    assert '"shouting"' in problem.message and "repeat_issue" in problem.message


def test_trigger_duplicate_names_any_case() -> None:
    found = problems(Triggers=[TRIGGERS_HEADER, trigger_row(), trigger_row(Trigger=" custom ")])
    assert where(found) == [(schema.TRIGGERS, "A3")]
    assert "twice" in found[0].message and "row 2" in found[0].message


@pytest.mark.parametrize("missing", [h for h in schema.TRIGGERS_HEADERS if h != "Enabled"])
def test_trigger_missing_header(missing: str) -> None:
    position = TRIGGERS_HEADER.index(missing)
    header = [h for h in TRIGGERS_HEADER if h != missing]
    row = [v for i, v in enumerate(trigger_row()) if i != position]
    [problem] = problems(Triggers=[header, row])
    assert problem.tab == schema.TRIGGERS and problem.cell == "1:1"
    assert f'"{missing}"' in problem.message


def test_trigger_blank_rows_are_skipped_and_rows_counted_in_the_sheet() -> None:
    found = problems(Triggers=[TRIGGERS_HEADER, trigger_row(), [None] * 8, [],
                               trigger_row(Trigger="Two", Kind="nope")])
    assert where(found) == [(schema.TRIGGERS, "B5")]


def test_trigger_with_several_mistakes_reports_each() -> None:
    found = one_trigger(Kind="financial_loss_over", Parameter="lots", From="L7", Apply="x",
                        Enabled="?")
    assert sorted(p.cell for p in found) == ["C2", "D2", "G2", "H2"]


# ---------------------------------------------------------------------------------------
# Levels, Settings, Holidays


@pytest.mark.parametrize(("row", "cell", "words"), [
    (["L4", "", "", "", "1 hour", "2 hours", ""], "A2", "level"),
    (["", "Nameless", "", "", "1 hour", "2 hours", ""], "A2", "level"),
    (["L2", "", "", "", "quickly", "2 hours", ""], "E2", "Response time"),
    (["L2", "", "", "", "1 hour", "", ""], "F2", "Resolution target"),
    (["L2", "", "", "", "0 hours", "2 hours", ""], "E2", "longer than zero"),
])
def test_level_mistakes_are_located(row: list[Any], cell: str, words: str) -> None:
    [problem] = problems(Levels=[LEVELS_HEADER, row])
    assert (problem.tab, problem.cell) == (schema.LEVELS, cell)
    assert words in problem.message


def test_level_defined_twice() -> None:
    row = ["L2", "", "", "", "1 hour", "2 hours", ""]
    found = problems(Levels=[LEVELS_HEADER, row, list(row)])
    assert where(found) == [(schema.LEVELS, "A3")]


def test_levels_missing_header() -> None:
    [problem] = problems(Levels=[["Level", "Name", "Response time"], ["L1", "x", "1 hour"]])
    assert problem.tab == schema.LEVELS and '"Resolution target"' in problem.message


@pytest.mark.parametrize(("key", "value", "words"), [
    ("Timezone", "Mars/Olympus_Mons", "timezone"),
    ("Timezone", "GMT+25", "timezone"),
    ("Work days", "Funday", "work days"),
    ("Work hours", "9-late", "work hours"),
    ("Work hours", "17:00-09:00", "before closing"),
    ("At risk at", "lots", "percentage"),
    ("At risk at", "0%", "percentage"),
    ("At risk at", "150%", "percentage"),
    ("Date order", "YMD", "MDY or DMY"),
    ("Required info", "Customer, Shoe size", "Shoe size"),
    ("Required info", "Flag", "Flag"),
    ("Holiday country", "Atlantis", "country"),
])
def test_setting_mistakes_are_located_on_the_value(key: str, value: str, words: str) -> None:
    found = problems(Settings=settings_of(("Last run", None), ("Note", "x"), (key, value)))
    assert where(found) == [(schema.SETTINGS, "B4")]
    assert words.casefold() in found[0].message.casefold()


def test_settings_missing_header() -> None:
    [problem] = problems(Settings=[["Key", "Setting"], ["Timezone", "UTC"]])
    assert problem.tab == schema.SETTINGS and '"Value"' in problem.message


def test_bad_holiday_date_is_located() -> None:
    found = problems(Holidays=[["Name", "Date"], ["Founders day", dt.date(2026, 6, 1)],
                               ["Oops", "31/02/2026"]])
    assert where(found) == [(schema.HOLIDAYS, "B3")]


def test_all_problems_are_reported_at_once() -> None:
    found = problems(
        Triggers=[TRIGGERS_HEADER, trigger_row(Kind="nope"), trigger_row(Trigger="B", To="L1")],
        Levels=[LEVELS_HEADER, ["L2", "", "", "", "soon", "2 hours", ""]],
        Settings=settings_of(("Timezone", "Nowhere/Special"), ("At risk at", "most")),
        Holidays=[["Date"], ["someday"]],
        VIP=[["Name"], ["x"]],
    )
    assert sorted(where(found)) == sorted([
        (schema.TRIGGERS, "B2"), (schema.TRIGGERS, "E3"), (schema.LEVELS, "E2"),
        (schema.SETTINGS, "B2"), (schema.SETTINGS, "B3"), (schema.HOLIDAYS, "A2"),
        (schema.VIP, "1:1")])
    message = str(ConfigError(found))
    assert "Triggers!B2" in message and "Settings!B2" in message


# ---------------------------------------------------------------------------------------
# Any Triggers tab either loads or is a located ConfigError


CELLS = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.sampled_from(["L1", "L2", "L3", "Any", "l2", "auto", "flag", "Yes", "No", "Immediate",
                     "1 hour", "2 business days", "3 customers in 24 hours", "500",
                     "lawyer, sue", *schema.TRIGGER_KINDS, *schema.TRIGGERS_HEADERS]),
    st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
    st.dates(),
)
PLAUSIBLE = (
    st.text(min_size=1, max_size=12),
    st.sampled_from(schema.TRIGGER_KINDS),
    st.sampled_from(["", "1 business day", "500", "$1,000", "lawyer, data breach",
                     "3 customers in 24 hours", "2 customers within 3 bd"]),
    st.sampled_from(["L1", "L2", "Any", "", 1.0]),
    st.sampled_from(["L2", "L3", 3]),
    st.sampled_from(["Immediate", "Automatic", "1 hour", "2 bh", ""]),
    st.sampled_from(["auto", "flag", ""]),
    st.sampled_from(["Yes", "No", "", True, False]),
)


def _mostly(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.integers(0, 9).flatmap(lambda n: CELLS if n == 0 else plausible)


# Rows mostly plausible cell by cell, so that loads succeed as well as fail.
ROWS = st.lists(st.one_of(
    st.tuples(*[_mostly(p) for p in PLAUSIBLE]).map(list),
    st.lists(CELLS, max_size=10),
), max_size=6)
HEADERS = st.one_of(
    st.just(TRIGGERS_HEADER),
    st.just(TRIGGERS_HEADER),
    st.permutations(TRIGGERS_HEADER),
    st.lists(st.one_of(st.sampled_from(TRIGGERS_HEADER), CELLS), max_size=10),
)


@settings(max_examples=300, deadline=None)
@given(header=HEADERS, body=ROWS)
def test_any_triggers_tab_loads_or_raises_located_config_error(
        header: list[Any], body: list[list[Any]]) -> None:
    try:
        policy = load(Triggers=[list(header), *body])
    except ConfigError as error:
        assert error.problems
        for problem in error.problems:
            assert problem.tab == schema.TRIGGERS
            assert A1.match(problem.cell) or re.fullmatch(r"\d+:\d+", problem.cell), problem
            assert problem.message
        return
    for rule in policy.triggers:
        assert rule.kind in schema.TRIGGER_KINDS
        assert rule.to_level in (2, 3)
        assert rule.from_level is None or rule.from_level < rule.to_level
        assert rule.name
