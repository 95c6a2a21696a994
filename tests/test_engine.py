"""The engine (SPEC §3/§4): reading the log, automatic escalation, flags, SLA clocks, IDs,
History events; and the sync job's idempotence against the in-memory backend.

Every table here is hand-built with ``row(...)`` from schema.INPUT_COLUMNS. The week used
is Mon 2026-06-01 .. Sun 2026-06-07 (no holidays, UTC, work hours 09:00-17:00).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest

from sheets_escalation.core import schema
from sheets_escalation.core.engine import evaluate, read_log
from sheets_escalation.core.errors import ConfigError
from sheets_escalation.core.events import HistoryEvent
from sheets_escalation.core.policy import Policy
from sheets_escalation.core.table import Table
from sheets_escalation.jobs.sync import run_sync
from tests.fixtures import (
    HEADERS,
    at,
    basic,
    default_trigger,
    evaluate_rows,
    events,
    fired,
    history_of,
    policy_of,
    sync_tabs,
    text,
    triggers_tab,
    utc,
)
from tests.memory_backend import MemoryBackend

# ---------------------------------------------------------------------------------------
# read_log


def test_read_log_missing_required_header_names_it() -> None:
    for key in schema.REQUIRED_INPUT_KEYS:
        header = schema.COLUMN_BY_KEY[key].header
        headers = [h for h in HEADERS if h != header]
        with pytest.raises(ConfigError) as caught:
            read_log(Table(schema.ESCALATIONS, [headers, ["x"] * len(headers)]), policy_of())
        [problem] = caught.value.problems
        assert problem.tab == schema.ESCALATIONS
        assert f'"{header}"' in problem.message


def test_read_log_reports_every_missing_header_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        read_log(Table(schema.ESCALATIONS, [["Notes", "Mine"]]), policy_of())
    assert len(caught.value.problems) == len(schema.REQUIRED_INPUT_KEYS)


def test_read_log_missing_tab_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=schema.ESCALATIONS):
        read_log(None, policy_of())


def test_read_log_duplicated_header_is_located() -> None:
    headers = [*HEADERS, " customer "]
    with pytest.raises(ConfigError) as caught:
        read_log(Table(schema.ESCALATIONS, [headers]), policy_of())
    [problem] = caught.value.problems
    assert problem.cell == schema.a1(0, len(HEADERS))
    assert "twice" in problem.message and "C1" in problem.message


def test_read_log_matches_headers_any_case_spacing_and_order() -> None:
    headers = ["  RESOLVED AT", "My own column", "customer", "Opened ", "i d", "LEVEL",
               "FinancialImpact", "manager  requested", "Issue Type"]
    body = [[None, "ignored", "Acme", at(1, 9), "ESC-0009", "l2", "$700", "yes", "Billing"]]
    log = read_log(Table(schema.ESCALATIONS, [headers, body[0]]), policy_of()).log
    assert log["customer"].iat[0] == "Acme"
    assert log["opened"].iat[0] == utc(1, 9)
    assert log["id"].iat[0] == "ESC-0009"
    assert log["level"].iat[0] == 2
    assert log["financial_impact"].iat[0] == 700.0
    assert bool(log["manager_requested"].iat[0]) is True
    assert log["issue_type"].iat[0] == "Billing"
    assert log["description"].iat[0] == ""  # absent optional column reads as blank
    assert "ignored" not in log.to_numpy().tolist()[0]


def test_read_log_skips_blank_rows_and_keeps_sheet_rows() -> None:
    rows = [[HEADERS], [basic(opened=at(1, 9))], [[None] * len(HEADERS)], [["", "  "]], [[]],
            [basic(opened=at(1, 10))]]
    table = Table(schema.ESCALATIONS, [r for group in rows for r in group])
    log = read_log(table, policy_of()).log
    assert list(log["sheet_row"]) == [2, 6]
    assert list(log["opened"]) == [utc(1, 9), utc(1, 10)]


def test_read_log_row_with_only_a_users_own_column_is_blank() -> None:
    headers = [*HEADERS, "My notes"]
    table = Table(schema.ESCALATIONS, [headers, [None] * len(HEADERS) + ["just a note"]])
    assert read_log(table, policy_of()).log.empty


def test_read_log_ragged_rows() -> None:
    opened = HEADERS.index("Opened")
    short = ["ESC-0001", at(1, 9), "Acme"]
    long = [*basic(id="ESC-0002", opened=at(1, 9)), "extra", "cells", 3]
    log = read_log(Table(schema.ESCALATIONS, [HEADERS, short, long]), policy_of()).log
    assert opened == 1
    assert list(log["id"]) == ["ESC-0001", "ESC-0002"]
    assert log["notes"].iat[0] == "" and log["level"].iat[0] == 1
    assert list(log["problems"]) == ["", ""]


def test_read_log_cell_problems_are_reported_per_row() -> None:
    rows = [basic(opened="31/02/2026"), basic(opened=at(1, 9), financial_impact="lots"),
            basic(opened=None), basic(opened=at(1, 9), level="L7")]
    log = read_log(Table(schema.ESCALATIONS, [HEADERS, *rows]), policy_of()).log
    problems = list(log["problems"])
    assert problems[0] == 'Opened: cannot read "31/02/2026" as a date'
    assert "Financial impact" in problems[1] and "lots" in problems[1]
    assert problems[2] == "Opened: blank"
    assert "Level" in problems[3]


# ---------------------------------------------------------------------------------------
# Automatic escalation


def test_auto_escalation_raises_level_and_stamps_escalated_at() -> None:
    evaluation = evaluate_rows([basic(id="ESC-0001", opened=at(1, 10))], utc(2, 11))
    result = evaluation.result
    assert result["level"].iat[0] == 2
    assert result["escalated_at"].iat[0] == utc(2, 11)
    assert bool(result["level_raised"].iat[0]) is True
    [event] = events(evaluation, "escalated")
    assert [event.at, event.id, event.event, event.from_level, event.to_level, event.trigger,
            event.by] == [utc(2, 11), "ESC-0001", "escalated", "L1", "L2",
                         "Unresolved too long", "sheets-escalation"]
    # The new level's clocks start at the run: 2 business hours for L2.
    assert result["response_due"].iat[0] == utc(2, 13)
    assert result["response_sla"].iat[0] == "On track"


def test_after_raising_triggers_show_what_fires_at_the_new_level() -> None:
    evaluation = evaluate_rows([basic(opened=at(1, 10), description="our lawyer will call")], utc(2, 11))
    result = evaluation.result
    assert result["level"].iat[0] == 2
    assert fired(evaluation) == ["Legal threat"]
    assert result["target_level"].iat[0] == "L3"
    assert result["escalate_by"].iat[0] == utc(2, 11)  # level start at L2 = the run
    assert result["flag"].iat[0] == "ESCALATE"


def test_auto_escalation_can_chain_through_two_levels() -> None:
    policy = policy_of(Triggers=triggers_tab(
        default_trigger("Unresolved too long"),
        ("Any to L3", "manager_requested", "", "L2", "L3", "Automatic", "auto", "Yes")))
    evaluation = evaluate_rows([basic(opened=at(1, 10), manager_requested="yes")], utc(2, 11), policy)
    assert evaluation.result["level"].iat[0] == 3
    assert [[e.from_level, e.to_level, e.trigger] for e in events(evaluation, "escalated")] == [
        ["L1", "L2", "Unresolved too long"], ["L2", "L3", "Any to L3"]]


def test_auto_escalation_never_lowers_a_level() -> None:
    policy = policy_of(Triggers=triggers_tab(
        ("Big money", "financial_loss_over", "100", "Any", "L2", "Automatic", "auto", "Yes")))
    rows = [basic(opened=at(1, 9), financial_impact=900, level="L3", escalated_at=at(1, 10))]
    evaluation = evaluate_rows(rows, utc(1, 11), policy)
    assert evaluation.result["level"].iat[0] == 3
    assert events(evaluation, "escalated") == []


def test_flag_triggers_never_change_the_level() -> None:
    rows = [basic(opened=at(1, 9), manager_requested="yes", financial_impact=900,
                  description="lawyer", channel="Social", beyond_l2="yes")]
    evaluation = evaluate_rows(rows, utc(1, 12))
    assert evaluation.result["level"].iat[0] == 1
    assert evaluation.result["escalated_at"].isna().all()
    assert events(evaluation, "escalated") == []
    assert evaluation.result["target_level"].iat[0] == "L3"




def test_sync_twice_with_the_same_now_changes_only_last_run() -> None:
    rows = [
        basic(opened=at(1, 10)),  # auto L1 -> L2 at the run
        basic(id="ESC-0007", opened=at(1, 9), level="L2", escalated_at=at(1, 10)),  # L2 silent
        basic(opened=at(2, 9), manager_requested="yes", description="a lawyer"),  # flags only
        basic(opened=at(2, 9, 30), resolved_at=at(2, 10), first_response_at=at(2, 9, 45)),
        basic(opened="31/02/2026"),
    ]
    backend = MemoryBackend(sync_tabs(rows))
    now = utc(2, 12)
    first = run_sync(backend, now)
    escalations = {(c.row, c.col): c.value for c in first.plan.cells
                   if c.tab == schema.ESCALATIONS}
    level_col, escalated_col = HEADERS.index("Level"), HEADERS.index("Escalated at")
    assert escalations[(1, level_col)] == "L2"
    assert escalations[(1, escalated_col)] == at(2, 12)
    assert escalations[(2, level_col)] == "L3"
    assert (3, level_col) not in escalations  # a flag trigger is not applied
    history = first.plan.new_tabs[schema.HISTORY]
    assert [r[2] for r in history[1:]].count("escalated") == 2

    second = run_sync(backend, now)
    assert [(c.tab, c.row, c.col) for c in second.plan.cells] == [
        (schema.SETTINGS, [k for k, _ in schema.DEFAULT_SETTINGS].index("Last run") + 1, 1)]
    assert second.plan.appends == {} and second.plan.new_tabs == {}
    assert second.workbook.evaluation.events == []
    pd.testing.assert_frame_equal(
        first.workbook.result.drop(columns=["applied_trigger", "level_raised"]),
        second.workbook.result.drop(columns=["applied_trigger", "level_raised"]))


def test_a_response_time_typed_later_than_now_is_recorded_as_breached_once_it_has_passed(
) -> None:
    # Response due 12:00; the response is typed as 14:00 while it is 10:00 (a typo, or
    # another timezone). Runs before 14:00 record nothing; the first run after it records
    # the late response, once.
    backend = MemoryBackend(sync_tabs([basic(id="ESC-0001", opened=at(1, 9),
                                              first_response_at=at(1, 14))]))

    def breaches(now: pd.Timestamp) -> list[HistoryEvent]:
        return events(run_sync(backend, now).workbook.evaluation, "breached")

    assert breaches(utc(1, 10)) == breaches(utc(1, 10)) == breaches(utc(1, 13, 30)) == []
    [breach] = breaches(utc(1, 15))
    assert [breach.from_level, breach.to_level, breach.trigger] == ["L1", "", "Response SLA"]
    assert breaches(utc(1, 16)) == []


def test_sync_in_another_timezone_is_still_idempotent() -> None:
    tabs = sync_tabs([basic(opened=at(1, 10), description="we were hacked"),
                       basic(opened=at(2, 9), channel="Social")])
    tabs[schema.SETTINGS] = [["Key", "Value"], ["Timezone", "America/New_York"],
                             ["Last run", None]]
    backend = MemoryBackend(tabs)
    now = pd.Timestamp("2026-06-02 16:07:31.5", tz="UTC")
    first = run_sync(backend, now)
    assert len(first.escalated) == 1
    second = run_sync(backend, now)
    assert [c.tab for c in second.plan.cells] == [schema.SETTINGS]
    assert second.workbook.evaluation.events == []


# ---------------------------------------------------------------------------------------
# Flag precedence


NOW = utc(3, 12)  # Wednesday noon
PRECEDENCE_POLICY = [
    ("Loss now", "financial_loss_over", "500", "L1", "L2", "Immediate", "flag", "Yes"),
    ("Manager soon", "manager_requested", "", "L1", "L2", "30 days", "flag", "Yes"),
]
FEATURES: dict[str, dict[str, Any]] = {
    "ESCALATION OVERDUE": {"financial_impact": 900},
    "ESCALATE": {"manager_requested": "yes"},
    "OVERDUE": {"opened": at(2, 12)},  # response due Tue 16:00
    "CHECK INPUT": {"escalated_at": "yesterday-ish"},
    "AT RISK": {"opened": at(3, 9)},  # 3 of 4 business hours = 75%
    "RESOLVED": {"resolved_at": at(3, 11, 45), "first_response_at": at(3, 11, 40)},
}


def _flag(*features: str) -> str:
    values: dict[str, Any] = {"opened": at(3, 11, 30)}
    for feature in features:
        values.update(FEATURES[feature])
    policy = policy_of(Triggers=triggers_tab(*PRECEDENCE_POLICY))
    return str(evaluate_rows([basic(**values)], NOW, policy).result["flag"].iat[0])


@pytest.mark.parametrize("flag", list(FEATURES))
def test_each_flag_alone(flag: str) -> None:
    assert _flag(flag) == flag


def test_ok_alone() -> None:
    assert _flag() == "OK"


@pytest.mark.parametrize(("higher", "lower"), [
    ("ESCALATION OVERDUE", "ESCALATE"),
    ("ESCALATION OVERDUE", "OVERDUE"),
    ("ESCALATION OVERDUE", "CHECK INPUT"),
    ("ESCALATION OVERDUE", "AT RISK"),
    ("ESCALATE", "OVERDUE"),
    ("ESCALATE", "CHECK INPUT"),
    ("ESCALATE", "AT RISK"),
    ("OVERDUE", "CHECK INPUT"),
    ("CHECK INPUT", "AT RISK"),
    ("CHECK INPUT", "RESOLVED"),
])
def test_flag_precedence(higher: str, lower: str) -> None:
    assert _flag(higher, lower) == higher


def test_overdue_beats_at_risk() -> None:
    # Opened Tuesday noon: response overdue since Tue 16:00, resolution due exactly now.
    row_result = evaluate_rows([basic(opened=at(2, 12))], NOW,
                     policy_of(Triggers=triggers_tab())).result.iloc[0]
    assert (row_result["response_sla"], row_result["resolution_sla"]) == ("Overdue", "At risk")
    assert row_result["flag"] == "OVERDUE"


def test_all_features_at_once_show_the_most_serious() -> None:
    assert _flag("CHECK INPUT", "AT RISK", "ESCALATE", "ESCALATION OVERDUE") == \
        "ESCALATION OVERDUE"


def test_resolved_rows_are_never_escalate_or_overdue_or_at_risk() -> None:
    assert _flag("ESCALATION OVERDUE", "RESOLVED") == "RESOLVED"
    assert _flag("ESCALATE", "OVERDUE", "RESOLVED") == "RESOLVED"
    assert _flag("AT RISK", "RESOLVED") == "RESOLVED"


def test_escalation_overdue_needs_now_past_escalate_by() -> None:
    rows = [basic(opened=at(3, 11), financial_impact=900)]
    policy = policy_of(Triggers=triggers_tab(*PRECEDENCE_POLICY))
    assert evaluate_rows(rows, utc(3, 11), policy).result["flag"].iat[0] == "ESCALATE"
    assert evaluate_rows(rows, utc(3, 11, 1), policy).result["flag"].iat[0] == "ESCALATION OVERDUE"


# ---------------------------------------------------------------------------------------
# SLA clocks and hours


def _sla(now: pd.Timestamp, policy: Policy | None = None, **values: Any) -> pd.Series:
    policy = policy or policy_of(Triggers=triggers_tab())
    return evaluate_rows([basic(**values)], now, policy).result.iloc[0]


@pytest.mark.parametrize(("now", "state"), [
    (utc(1, 9), "On track"),
    (utc(1, 11, 59), "On track"),
    (utc(1, 12), "At risk"),  # 3 of 4 business hours
    (utc(1, 13), "At risk"),  # exactly due: not yet overdue
    (utc(1, 13, 1), "Overdue"),
])
def test_response_sla_states(now: pd.Timestamp, state: str) -> None:
    row_result = _sla(now, opened=at(1, 9))
    assert row_result["response_due"] == utc(1, 13)
    assert row_result["response_sla"] == state


def test_at_risk_share_is_measured_in_business_time() -> None:
    # Opened Friday 16:00: due Monday 12:00; at Monday 10:00 2 of 4 business hours passed.
    assert _sla(utc(8, 10), opened=at(5, 16))["response_sla"] == "On track"
    assert _sla(utc(8, 11), opened=at(5, 16))["response_sla"] == "At risk"


def test_custom_at_risk_at() -> None:
    policy = policy_of(Triggers=triggers_tab(),
                       Settings=[["Key", "Value"], ["At risk at", "50%"]])
    assert _sla(utc(1, 10, 59), policy, opened=at(1, 9))["response_sla"] == "On track"
    assert _sla(utc(1, 11), policy, opened=at(1, 9))["response_sla"] == "At risk"


def test_met_and_missed() -> None:
    met = _sla(utc(3, 9), opened=at(1, 9), first_response_at=at(1, 13),
               resolved_at=at(1, 17))
    assert (met["response_sla"], met["resolution_sla"]) == ("Met", "Met")
    missed = _sla(utc(3, 9), opened=at(1, 9), first_response_at=at(1, 13, 1),
                  resolved_at=at(2, 9, 1))
    assert (missed["response_sla"], missed["resolution_sla"]) == ("Missed", "Missed")
    assert missed["flag"] == "RESOLVED"


def test_due_at_closing_is_closing_not_next_opening() -> None:
    row_result = _sla(utc(1, 14), opened=at(1, 13))
    assert row_result["response_due"] == utc(1, 17)
    assert row_result["resolution_due"] == utc(2, 13)


def test_clock_started_outside_hours_starts_at_next_opening() -> None:
    row_result = _sla(utc(6, 12), opened=at(6, 10))  # Saturday
    assert row_result["response_due"] == utc(8, 13)
    assert row_result["response_sla"] == "On track"


def test_l3_targets_are_calendar_time() -> None:
    row_result = _sla(utc(6, 12), opened=at(5, 9), level="L3", escalated_at=at(5, 16, 30))
    assert row_result["response_due"] == utc(5, 17, 30)
    assert row_result["resolution_due"] == utc(6, 16, 30)
    assert row_result["response_sla"] == "Overdue"
    assert row_result["resolution_sla"] == "At risk"


def test_response_before_level_start_does_not_count_for_the_level() -> None:
    row_result = _sla(utc(1, 12, 30), opened=at(1, 9), level="L2", escalated_at=at(1, 10),
                      first_response_at=at(1, 9, 30))
    assert row_result["response_sla"] == "Overdue"
    assert pd.isna(row_result["response_hours"])


def test_response_and_resolution_hours() -> None:
    row_result = _sla(utc(3, 9), opened=at(1, 16), first_response_at=at(2, 9, 30),
                      resolved_at=at(2, 12))
    assert row_result["response_hours"] == 1.5  # business hours: 16-17 + 9-9:30
    assert row_result["resolution_hours"] == 4.0
    open_row = _sla(utc(3, 9), opened=at(1, 16))
    assert pd.isna(open_row["response_hours"]) and pd.isna(open_row["resolution_hours"])


def test_resolved_without_response_met_its_response_on_resolution() -> None:
    row_result = _sla(utc(3, 9), opened=at(1, 9), resolved_at=at(1, 10))
    assert row_result["response_sla"] == "Met"


# ---------------------------------------------------------------------------------------
# Missing info, Problems


def test_missing_info_only_above_l1_or_pending() -> None:
    bare = {"customer": "Acme", "contact": "", "steps_tried": "", "urgency": ""}
    rows = [
        basic(opened=at(1, 9), **bare),
        basic(opened=at(1, 9), level="L2", escalated_at=at(1, 10), **bare),
        basic(opened=at(1, 9), manager_requested="yes", **bare),
        basic(opened=at(1, 9), manager_requested="yes"),
    ]
    result = evaluate_rows(rows, utc(1, 11)).result
    assert list(result["missing_info"]) == [
        "", "Contact; Steps tried; Urgency", "Contact; Steps tried; Urgency", ""]


def test_missing_info_follows_required_info_setting() -> None:
    policy = policy_of(Settings=[["Key", "Value"], ["Required info", "Handler, Issue type"]])
    rows = [basic(opened=at(1, 9), level="L2", escalated_at=at(1, 10), contact="")]
    assert evaluate_rows(rows, utc(1, 11), policy).result["missing_info"].iat[0] == "Handler; Issue type"


def test_problems_make_check_input_and_other_rows_carry_on() -> None:
    rows = [basic(opened="31/02/2026"), basic(opened=at(1, 9), financial_impact="ten bucks"),
            basic(opened=at(1, 9))]
    evaluation = evaluate_rows(rows, utc(1, 9, 30))
    assert text(evaluation, "problems", 0) == 'Opened: cannot read "31/02/2026" as a date'
    assert 'Financial impact: cannot read "ten bucks"' in text(evaluation, "problems", 1)
    assert list(evaluation.result["flag"]) == ["CHECK INPUT", "CHECK INPUT", "OK"]


def test_resolved_status_without_resolved_at_is_a_problem() -> None:
    evaluation = evaluate_rows([basic(opened=at(1, 9), status="Resolved")], utc(1, 10))
    assert "Resolved at" in text(evaluation, "problems")
    assert text(evaluation, "flag") == "CHECK INPUT"


# ---------------------------------------------------------------------------------------
# IDs


def test_blank_ids_get_the_next_free_number() -> None:
    rows = [basic(id="ESC-0041", opened=at(1, 9)), basic(opened=at(1, 9)),
            basic(id="esc-0007", opened=at(1, 9)), basic(opened=at(1, 9))]
    evaluation = evaluate_rows(rows, utc(1, 10))
    assert list(evaluation.result["id"]) == ["ESC-0041", "ESC-0042", "esc-0007", "ESC-0043"]
    assigned = events(evaluation, "id assigned")
    assert [(e.id, e.detail) for e in assigned] == [("ESC-0042", "row 3"), ("ESC-0043", "row 5")]


def test_next_free_number_reads_only_ids_the_tool_could_have_assigned() -> None:
    # Other schemes, a prefix inside a longer ID and a newline inside a cell are not
    # numbers in use; a number past 64 bits still is.
    rows = [basic(id="TICKET-9000", opened=at(1, 9)), basic(id="xESC-5000", opened=at(1, 9)),
            basic(id="ESC-12a", opened=at(1, 9)), basic(id="ESC-0030", opened=at(1, 9)),
            basic(id="ESC-77\nlater", opened=at(1, 9)), basic(opened=at(1, 9))]
    assert evaluate_rows(rows, utc(1, 10)).result["id"].iat[-1] == "ESC-0031"
    huge = [basic(id="ESC-99999999999999999999", opened=at(1, 9)), basic(opened=at(1, 9))]
    assert evaluate_rows(huge, utc(1, 10)).result["id"].iat[-1] == "ESC-100000000000000000000"


def test_first_id_is_esc_0001_and_blank_rows_are_not_assigned() -> None:
    table = Table(schema.ESCALATIONS, [HEADERS, basic(opened=at(1, 9)), [None] * len(HEADERS),
                                       ["", " "], basic(opened=at(1, 10))])
    policy = policy_of()
    log = read_log(table, policy).log
    evaluation = evaluate(log, policy, utc(1, 11))
    assert list(evaluation.result["id"]) == ["ESC-0001", "ESC-0002"]
    assert [e.detail for e in events(evaluation, "id assigned")] == ["row 2", "row 5"]


def test_duplicate_ids_are_reported() -> None:
    rows = [basic(id="ESC-0001", opened=at(1, 9)), basic(id="esc-0001 ", opened=at(1, 9)),
            basic(id="ESC-0002", opened=at(1, 9))]
    result = evaluate_rows(rows, utc(1, 10)).result
    assert list(result["problems"]) == ["", "ID: duplicate of row 2", ""]
    assert list(result["flag"]) == ["OK", "CHECK INPUT", "OK"]


# ---------------------------------------------------------------------------------------
# History events: breached once, level changed


def test_breached_is_recorded_once() -> None:
    rows = [basic(id="ESC-0001", opened=at(1, 9))]
    policy = policy_of(Triggers=triggers_tab())
    first = evaluate_rows(rows, utc(2, 10), policy)
    breaches = events(first, "breached")
    assert [(e.id, e.from_level, e.trigger) for e in breaches] == [
        ("ESC-0001", "L1", "Response SLA"), ("ESC-0001", "L1", "Resolution SLA")]
    assert "due 2026-06-01 13:00" in breaches[0].detail
    second = evaluate_rows(rows, utc(2, 11), policy, history=history_of(first))
    assert events(second, "breached") == []


def test_breach_at_a_new_level_is_recorded_again() -> None:
    policy = policy_of(Triggers=triggers_tab())
    first = evaluate_rows([basic(id="ESC-0001", opened=at(1, 9))], utc(1, 14), policy)
    assert len(events(first, "breached")) == 1
    moved = [basic(id="ESC-0001", opened=at(1, 9), level="L2", escalated_at=at(1, 14))]
    second = evaluate_rows(moved, utc(1, 17), policy, history=history_of(first))
    assert [(e.from_level, e.trigger) for e in events(second, "breached")] == [("L2", "Response SLA")]


def test_level_changed_when_a_person_edits_level() -> None:
    policy = policy_of(Triggers=triggers_tab())
    first = evaluate_rows([basic(id="ESC-0001", opened=at(1, 10))], utc(2, 11))
    assert events(first, "escalated")
    edited = [basic(id="ESC-0001", opened=at(1, 10), level="L3", escalated_at=at(2, 12))]
    second = evaluate_rows(edited, utc(2, 13), policy, history=history_of(first))
    [event] = events(second, "level changed")
    assert [event.id, event.event, event.from_level, event.to_level] == [
        "ESC-0001", "level changed", "L2", "L3"]
    unchanged = [basic(id="ESC-0001", opened=at(1, 10), level="L2", escalated_at=at(2, 11))]
    assert events(evaluate_rows(unchanged, utc(2, 13), policy, history=history_of(first)),
                  "level changed") == []
    history = pd.concat([history_of(first), history_of(second)], ignore_index=True)
    assert events(evaluate_rows(edited, utc(2, 14), policy, history=history), "level changed") == []


def test_rows_sharing_an_id_record_each_event_once() -> None:
    # The first row with the ID escalates; the later one (flagged as a duplicate) would
    # too, but waits until its ID is fixed: History, notices and their dedup keys know the
    # ID, not the row. History then says L2 for the ID while the later row is at L1; no run
    # records a "level changed" for that (each would flip the ID's level every hour).
    rows = [basic(id="ESC-0001", opened=at(1, 10)), basic(id="ESC-0001", opened=at(1, 11))]
    first = evaluate_rows(rows, utc(2, 17))
    assert [[e.from_level, e.to_level] for e in events(first, "escalated")] == [["L1", "L2"]]
    assert list(first.result["level"]) == [2, 1]
    assert first.result["flag"].iat[1] == "ESCALATION OVERDUE"
    assert first.result["problems"].iat[1] == "ID: duplicate of row 2"
    written = [basic(id="ESC-0001", opened=at(1, 10), level="L2", escalated_at=at(2, 17)),
               basic(id="ESC-0001", opened=at(1, 11))]
    assert evaluate_rows(written, utc(2, 17), history=history_of(first)).events == []


def test_evaluate_handles_an_empty_log() -> None:
    evaluation = evaluate_rows([], utc(1, 9))
    assert evaluation.result.empty and evaluation.events == []


def test_unreadable_opened_does_not_hide_a_fired_trigger() -> None:
    rows = [basic(opened="31/02/2026", description="our lawyer is copied"),
            basic(opened="31/02/2026")]
    evaluation = evaluate_rows(rows, utc(1, 10))
    assert fired(evaluation) == ["Legal threat"]
    assert text(evaluation, "target_level") == "L3"
    assert evaluation.result["escalate_by"].isna().all()  # no level start to count from
    assert list(evaluation.result["flag"]) == ["ESCALATE", "CHECK INPUT"]
    assert text(evaluation, "problems") == 'Opened: cannot read "31/02/2026" as a date'


def _settings_with_last_run(last_run: dt.datetime) -> list[list[Any]]:
    rows: list[list[Any]] = [list(schema.SETTINGS_HEADERS)]
    rows += [[k, last_run if k == "Last run" else v] for k, v in schema.DEFAULT_SETTINGS]
    return rows


def test_first_level_edit_by_a_person_is_recorded_after_the_last_run() -> None:
    policy = policy_of(Triggers=triggers_tab(), Settings=_settings_with_last_run(at(2, 12)))
    raised = [basic(id="ESC-0001", opened=at(1, 10), level="L2", escalated_at=at(2, 12, 30))]
    [event] = events(evaluate_rows(raised, utc(2, 13), policy), "level changed")
    assert [event.id, event.event, event.from_level, event.to_level] == [
        "ESC-0001", "level changed", "", "L2"]
    # Raised before the last run: the tool already saw it, so nothing new is recorded.
    older = [basic(id="ESC-0001", opened=at(1, 10), level="L2", escalated_at=at(2, 11))]
    assert events(evaluate_rows(older, utc(2, 13), policy), "level changed") == []
    # No Last run yet (a first sync): old edits cannot be told from new ones.
    assert events(evaluate_rows(raised, utc(2, 13), policy_of(Triggers=triggers_tab())),
                  "level changed") == []


def test_an_automatic_trigger_waits_for_its_timeframe() -> None:
    slow = default_trigger("Unresolved too long", Timeframe="2 business hours")
    policy = policy_of(Triggers=triggers_tab(slow))
    rows = [basic(id="ESC-0001", opened=at(1, 10))]
    # Fired Tue 10:00 (1 business day after Opened); applied only from Tue 12:00.
    waiting = evaluate_rows(rows, utc(2, 11), policy)
    assert waiting.result["level"].iat[0] == 1
    assert text(waiting, "flag") == "ESCALATE"
    assert text(waiting, "escalate_by").startswith("2026-06-02 12:00")
    applied = evaluate_rows(rows, utc(2, 12), policy)
    assert applied.result["level"].iat[0] == 2
    assert [e.trigger for e in events(applied, "escalated")] == ["Unresolved too long"]


def test_a_target_missed_before_the_tool_looked_is_not_a_new_breach() -> None:
    # Answered at 14:00, four business hours after a 09:00 opening: response Missed.
    late = [basic(id="ESC-0001", opened=at(1, 9), first_response_at=at(1, 14),
                  resolved_at=at(1, 15))]
    no_triggers = triggers_tab()
    first_sync = evaluate_rows(late, utc(2, 10), policy_of(Triggers=no_triggers))
    assert text(first_sync, "response_sla") == "Missed"
    assert events(first_sync, "breached") == []
    # The previous run was before the late answer: the miss happened between two runs.
    between = policy_of(Triggers=no_triggers, Settings=_settings_with_last_run(at(1, 12)))
    [breach] = events(evaluate_rows(late, utc(1, 16), between), "breached")
    assert [breach.id, breach.event, breach.from_level, breach.to_level, breach.trigger] == [
        "ESC-0001", "breached", "L1", "", "Response SLA"]
    assert "missed" in breach.detail


def test_a_due_time_in_the_repeated_dst_hour_is_not_rewritten_on_rerun() -> None:
    # L3 resolves in 24 elapsed hours: escalated 2025-11-01 02:58 EDT, due 2025-11-02
    # 01:58 EST, the second 01:58 of the night clocks go back. The sheet holds wall-clock
    # times, which read back as the first 01:58; that must not count as a change.
    settings = [["Key", "Value"], *[[k, "America/New_York" if k == "Timezone" else v]
                                    for k, v in schema.DEFAULT_SETTINGS]]
    row_ = basic(id="ESC-0001", opened=dt.datetime(2025, 11, 1, 2, 0), level="L3",
                 escalated_at=dt.datetime(2025, 11, 1, 2, 58),
                 first_response_at=dt.datetime(2025, 11, 1, 3, 0))
    backend = MemoryBackend({schema.ESCALATIONS: [HEADERS, row_], schema.SETTINGS: settings,
                             schema.TRIGGERS: triggers_tab()})
    now = pd.Timestamp("2025-11-01 12:00", tz="America/New_York")
    first = run_sync(backend, now)
    due = len(HEADERS) + [c.key for c in schema.OWNED_COLUMNS].index("resolution_due")
    assert {(c.row, c.col): c.value for c in first.plan.cells}[(1, due)] == \
        dt.datetime(2025, 11, 2, 1, 58)
    second = run_sync(backend, now)
    assert [c.tab for c in second.plan.cells] == [schema.SETTINGS]


def test_a_row_raised_from_a_blank_escalated_at_is_settled_in_one_run() -> None:
    # L2 with a blank Escalated at (timed from Opened) goes L2 -> L3 (L2 silent); the run
    # stamps Escalated at itself, so the problem must not be reported for the new level.
    rows = [basic(id="ESC-0001", opened=at(1, 9), level="L2")]
    backend = MemoryBackend(sync_tabs(rows))
    first = run_sync(backend, utc(3, 12))
    assert first.workbook.result["level"].iat[0] == 3
    assert first.workbook.result["problems"].iat[0] == ""
    second = run_sync(backend, utc(3, 12))
    assert [c.tab for c in second.plan.cells] == [schema.SETTINGS]
