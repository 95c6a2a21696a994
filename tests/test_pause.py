"""Pausing the resolution clock while a row waits on the customer: `status changed` events
in History, Paused hours, Resolution due pushed out, the Paused SLA state, and reruns
that never count a pause twice.

The week is Mon 2026-06-01 .. Sun 2026-06-07 (UTC, work hours 09:00-17:00); L1's
resolution target is 1 business day (8 business hours).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from sheets_escalation.cli import cli
from sheets_escalation.core import schema
from sheets_escalation.core.engine import Evaluation
from tests.fixtures import (
    TRIGGERS_HEADER,
    at,
    basic,
    evaluate_rows,
    history_of,
    policy_of,
    row,
    utc,
    write_golden,
)

PENDING = "Pending customer"
# No triggers: the clocks alone decide (Unresolved too long would move rows to L2).
QUIET = policy_of(Triggers=[TRIGGERS_HEADER])


class Log:
    """Runs the engine again and again over one row, carrying History between runs."""

    def __init__(self) -> None:
        self.history: pd.DataFrame | None = None

    def run(self, now: pd.Timestamp, **values: Any) -> Evaluation:
        evaluation = evaluate_rows([basic(id="ESC-0001", opened=at(1, 9), **values)], now, QUIET,
                         self.history)
        new = history_of(evaluation)
        self.history = new if self.history is None else pd.concat(
            [self.history, new], ignore_index=True)
        return evaluation


def owned(evaluation: Evaluation, key: str) -> Any:
    return evaluation.result[key].tolist()[0]


def status_events(evaluation: Evaluation) -> list[tuple[Any, ...]]:
    return [(e.at, e.from_level, e.to_level) for e in evaluation.events
            if e.event == "status changed"]


def test_pauses_accumulate_across_runs_and_push_resolution_due() -> None:
    log = Log()

    first = log.run(utc(1, 10), status=PENDING)
    assert status_events(first) == [(utc(1, 10), "", PENDING)]
    assert owned(first, "paused_hours") == 0.0
    assert owned(first, "resolution_sla") == "Paused"
    assert owned(first, "resolution_due") == utc(1, 17)

    waiting = log.run(utc(1, 13), status=PENDING)
    assert status_events(waiting) == []
    assert owned(waiting, "paused_hours") == 3.0
    assert owned(waiting, "resolution_due") == utc(2, 12)  # 8 + 3 business hours

    back = log.run(utc(1, 15), status="open")
    assert status_events(back) == [(utc(1, 15), PENDING, "Open")]
    assert owned(back, "paused_hours") == 5.0
    assert owned(back, "resolution_due") == utc(2, 14)
    assert owned(back, "resolution_sla") == "On track"  # 1 of 8 hours used, not 6

    again = log.run(utc(2, 10), status=PENDING)
    assert status_events(again) == [(utc(2, 10), "Open", PENDING)]
    assert owned(again, "paused_hours") == 5.0

    later = log.run(utc(2, 12), status=PENDING)
    assert owned(later, "paused_hours") == 7.0
    assert owned(later, "resolution_due") == utc(2, 16)

    rerun = log.run(utc(2, 12), status=PENDING)
    assert rerun.events == []
    pd.testing.assert_frame_equal(rerun.result, later.result)

    resolved = log.run(utc(2, 13), status="Resolved", resolved_at=at(2, 12, 30),
                       first_response_at=at(1, 9, 30))
    assert status_events(resolved) == [(utc(2, 13), PENDING, "Resolved")]
    assert owned(resolved, "paused_hours") == 7.5  # the pause ends at Resolved at
    assert owned(resolved, "resolution_due") == utc(2, 16, 30)
    assert owned(resolved, "resolution_sla") == "Met"
    assert owned(resolved, "flag") == "RESOLVED"


def test_a_paused_row_is_not_overdue_or_at_risk_on_resolution() -> None:
    evaluation = evaluate_rows([basic(opened=at(1, 9), first_response_at=at(1, 9, 30),
                            status="pending  CUSTOMER")], utc(2, 15), QUIET)
    assert owned(evaluation, "resolution_sla") == "Paused"
    assert owned(evaluation, "response_sla") == "Met"
    assert owned(evaluation, "flag") == "OK"
    assert status_events(evaluation) == [(utc(2, 15), "", PENDING)]


def test_the_response_clock_does_not_pause() -> None:
    evaluation = evaluate_rows([basic(opened=at(1, 9), status=PENDING)], utc(1, 14), QUIET)
    assert owned(evaluation, "response_sla") == "Overdue"
    assert owned(evaluation, "flag") == "OVERDUE"


def test_first_sight_records_only_rows_waiting_on_the_customer() -> None:
    rows = [basic(id=f"ESC-000{n}", opened=at(1, 9), status=status)
            for n, status in enumerate(["", "Open", "Resolved", "Escalated to vendor", PENDING])]
    evaluation = evaluate_rows(rows, utc(1, 10), QUIET)
    assert [(e.id, e.to_level) for e in evaluation.events if e.event == "status changed"] == [
        ("ESC-0004", PENDING)]
    assert [math.isnan(v) for v in evaluation.result["paused_hours"]] == [
        True, True, True, True, False]


def test_a_status_typed_as_something_else_is_recorded_as_typed() -> None:
    log = Log()
    log.run(utc(1, 10), status=PENDING)
    evaluation = log.run(utc(1, 11), status="Waiting on vendor")
    assert status_events(evaluation) == [(utc(1, 11), PENDING, "Waiting on vendor")]
    assert owned(evaluation, "paused_hours") == 1.0
    assert owned(evaluation, "resolution_sla") == "On track"


def test_pause_is_measured_in_business_time_for_a_business_target() -> None:
    log = Log()
    log.run(utc(5, 16), status=PENDING)  # Friday 16:00
    evaluation = log.run(utc(8, 10), status=PENDING)  # Monday 10:00
    assert owned(evaluation, "paused_hours") == 2.0


def test_only_time_after_the_level_start_counts() -> None:
    log = Log()
    log.run(utc(1, 10), status=PENDING)
    evaluation = log.run(utc(2, 11), status=PENDING, level="L2", escalated_at=at(2, 9))
    assert owned(evaluation, "paused_hours") == 2.0
    # L2: 2 business days = 16 business hours from Tue 09:00, plus the 2 paused.
    assert owned(evaluation, "resolution_due") == utc(4, 11)


# --- end to end through the CLI -----------------------------------------------------------


def cli_run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def sheet(path: Path, tab: str) -> list[list[Any]]:
    return [list(r) for r in openpyxl.load_workbook(path)[tab].iter_rows(values_only=True)]


def column(path: Path, header: str) -> list[Any]:
    rows = sheet(path, schema.ESCALATIONS)
    position = rows[0].index(header)
    return [r[position] for r in rows[1:]]


def set_status(path: Path, value: str) -> None:
    workbook = openpyxl.load_workbook(path)
    tab = workbook[schema.ESCALATIONS]
    tab.cell(2, [c.value for c in tab[1]].index("Status") + 1).value = value
    workbook.save(path)


def pending_workbook(tmp_path: Path) -> Path:
    return write_golden(tmp_path / "log.xlsx", rows=[row(
        id="ESC-0001", opened=dt.datetime(2026, 6, 1, 9), customer="Acme", contact="a@b.test",
        description="Export fails", steps_tried="Retried", sentiment="Calm", urgency="Low",
        first_response_at=dt.datetime(2026, 6, 1, 9, 15), status=PENDING)], triggers=[])


def test_sync_writes_paused_hours_and_reruns_never_double_count(tmp_path: Path) -> None:
    path = pending_workbook(tmp_path)
    assert cli_run("sync", str(path), "--now", "2026-06-01T10:00", "--quiet")[0] == 0
    assert column(path, "Paused hours") == [0]
    assert column(path, "Resolution SLA") == ["Paused"]
    history = sheet(path, schema.HISTORY)[1:]
    assert [r[1:5] for r in history] == [["ESC-0001", "status changed", None, PENDING]]
    assert history[0][0] == dt.datetime(2026, 6, 1, 10)

    before = {tab: sheet(path, tab) for tab in (schema.ESCALATIONS, schema.HISTORY)}
    assert cli_run("sync", str(path), "--now", "2026-06-01T10:00", "--quiet")[0] == 0
    assert {tab: sheet(path, tab) for tab in before} == before

    code, out, _ = cli_run("sync", str(path), "--now", "2026-06-01T12:00", "--dry-run")
    assert code == 0
    assert [line for line in out.splitlines() if line.startswith("  row")] == [
        "  row 2 ESC-0001: Resolution due: 2026-06-01 17:00 -> 2026-06-02 11:00",
        "  row 2 ESC-0001: Paused hours: 0 -> 2.0",
    ]
    assert "planned: 3 cells, 0 History rows" in out  # the two above and Last run

    set_status(path, "Open")
    assert cli_run("sync", str(path), "--now", "2026-06-01T13:00", "--quiet")[0] == 0
    set_status(path, PENDING)
    assert cli_run("sync", str(path), "--now", "2026-06-01T14:00", "--quiet")[0] == 0
    assert cli_run("sync", str(path), "--now", "2026-06-01T15:00", "--quiet")[0] == 0
    assert cli_run("sync", str(path), "--now", "2026-06-01T15:00", "--quiet")[0] == 0
    assert [r[3:5] for r in sheet(path, schema.HISTORY)[1:]] == [
        [None, PENDING], [PENDING, "Open"], ["Open", PENDING]]
    assert column(path, "Paused hours") == [4.0]  # 10-13 and 14-15
    assert column(path, "Resolution due") == [dt.datetime(2026, 6, 2, 13)]


def test_escalate_records_the_status_change_it_sees_at_its_own_time(tmp_path: Path) -> None:
    path = pending_workbook(tmp_path)
    code, _, err = cli_run("escalate", str(path), "ESC-0001", "--to", "L2",
                           "--now", "2026-06-01T10:30")
    assert (code, err) == (0, "")
    events = [(r[0], r[2]) for r in sheet(path, schema.HISTORY)[1:]]
    assert (dt.datetime(2026, 6, 1, 10, 30), "status changed") in events
    assert (dt.datetime(2026, 6, 1, 10, 30), "escalated") in events


@pytest.mark.parametrize("status", ["Open", ""])
def test_a_row_never_paused_leaves_paused_hours_blank(tmp_path: Path, status: str) -> None:
    path = pending_workbook(tmp_path)
    set_status(path, status)
    assert cli_run("sync", str(path), "--now", "2026-06-01T10:00", "--quiet")[0] == 0
    assert column(path, "Paused hours") == [None]
    assert sheet(path, schema.HISTORY)[1:] == []
