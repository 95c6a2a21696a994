"""Plan before send: ``plan_sync`` sends nothing and changes nothing it is given; the plan
lists the notifications; ``execute_sync`` sends exactly those, then writes."""

from __future__ import annotations

import copy
import gc
import weakref
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
from pandas.testing import assert_frame_equal

from sheets_escalation.adapters.config import Config
from sheets_escalation.adapters.notify.outbox import Outbox
from sheets_escalation.adapters.notify.targets import Target
from sheets_escalation.core import schema
from sheets_escalation.core.notifications import Notification
from sheets_escalation.jobs.sync import SyncPlan, execute_sync, plan_sync
from sheets_escalation.jobs.workbook import Workbook, load
from tests.support.fixtures import GOLDEN_NOW, write_golden
from tests.support.memory_backend import MemoryBackend

# Every level hears of the golden rows: one allowed address, one outside the allowlist,
# one that is no address at all (the last two are refused, and shown in the rows).
TARGETS = ("ops@example.com", "boss@elsewhere.test", "not an address")
NOTIFY = ", ".join(TARGETS)


class Recording:
    """A Sender that keeps what it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Notification]] = []

    def send(self, target: Target, notification: Notification) -> None:
        self.sent.append((target.address, notification))


def golden_backend(tmp_path: Path) -> MemoryBackend:
    path = write_golden(tmp_path / "log.xlsx")
    book = openpyxl.load_workbook(path)
    levels = book[schema.LEVELS]
    for sheet_row in range(2, levels.max_row + 1):
        levels.cell(sheet_row, schema.LEVELS_HEADERS.index("Notify") + 1).value = NOTIFY
    return MemoryBackend({sheet.title: [list(r) for r in sheet.iter_rows(values_only=True)]
                          for sheet in book.worksheets}, timezone="UTC")


def make_outbox(tmp_path: Path, sender: Recording) -> Outbox:
    config = Config(path=tmp_path / "config.toml", state_dir=tmp_path / "state", loaded=True,
                    allow=("*@example.com",))
    return Outbox(config, config.journal_path("log.xlsx"), senders={"email": sender})


def snapshot(workbook: Workbook) -> dict[str, Any]:
    return {"tabs": {title: copy.deepcopy(table.rows) for title, table in workbook.tabs.items()},
            "events": list(workbook.evaluation.events),
            "problems": list(workbook.evaluation.problems),
            "result": workbook.result.copy(), "log": workbook.log.copy(),
            "raw": workbook.log_read.raw.copy(), "history": workbook.history.copy()}


def assert_unchanged(workbook: Workbook, before: dict[str, Any]) -> None:
    assert {title: table.rows for title, table in workbook.tabs.items()} == before["tabs"]
    assert workbook.evaluation.events == before["events"]
    assert workbook.evaluation.problems == before["problems"]
    for key in ("result", "log", "history"):
        assert_frame_equal(getattr(workbook, key), before[key])
    assert_frame_equal(workbook.log_read.raw, before["raw"])


def planned(tmp_path: Path) -> tuple[MemoryBackend, Workbook, SyncPlan, Recording, Outbox]:
    backend = golden_backend(tmp_path)
    workbook = load(backend, pd.Timestamp(GOLDEN_NOW))
    before = snapshot(workbook)
    plan = plan_sync(workbook)
    assert_unchanged(workbook, before)
    sender = Recording()
    return backend, workbook, plan, sender, make_outbox(tmp_path, sender)


def test_planning_sends_nothing_writes_nothing_and_changes_no_input(tmp_path: Path) -> None:
    backend, _, plan, sender, outbox = planned(tmp_path)

    assert sender.sent == []
    assert backend.writes == []
    assert not outbox.journal_path.exists()
    assert plan.writes.cells  # the plan is there all the same


def test_the_plan_lists_the_notifications_and_the_history_rows(tmp_path: Path) -> None:
    _, workbook, plan, _, _ = planned(tmp_path)

    keys = [n.dedup_key for n in plan.notifications]
    assert "ESC-0001/L2/escalated" in keys
    assert all(n.targets == TARGETS for n in plan.notifications)
    assert list(plan.history_events) == [*workbook.evaluation.events, *plan.reminders]
    appended = plan.writes.appends.get(schema.HISTORY) or plan.writes.new_tabs[schema.HISTORY]
    assert len(appended) >= len(plan.history_events)


def test_execute_sends_exactly_the_planned_notifications(tmp_path: Path) -> None:
    backend, _, plan, sender, outbox = planned(tmp_path)

    report = execute_sync(backend, plan, outbox)

    assert sender.sent == [("ops@example.com", n) for n in plan.notifications]
    assert len(backend.writes) == 1
    # Sends are recorded in History, refused targets in the rows' Problems.
    notified = [e for e in report.workbook.evaluation.events if e.event == "notified"]
    assert [e.trigger for e in notified] == [n.dedup_key for n in plan.notifications]
    problems = report.workbook.result.set_index("id")["problems"]
    assert "Notify L2 email boss@" in problems["ESC-0001"]
    assert "refused: not in allowlist" in problems["ESC-0001"]


def test_a_second_plan_owes_nothing_already_sent(tmp_path: Path) -> None:
    backend, _, plan, _, outbox = planned(tmp_path)
    execute_sync(backend, plan, outbox)

    again = plan_sync(load(backend, pd.Timestamp(GOLDEN_NOW)))
    sender = Recording()
    execute_sync(backend, again, make_outbox(tmp_path, sender))

    assert sender.sent == []


class Watching(MemoryBackend):
    """Says, when asked to write, whether the raw cells read are still held."""

    raw: weakref.ref[pd.DataFrame] | None = None
    raw_held: bool | None = None

    def write(self, plan: Any) -> None:
        gc.collect()
        assert self.raw is not None
        self.raw_held = self.raw() is not None
        super().write(plan)


def test_executing_lets_the_raw_cells_go_before_writing(tmp_path: Path) -> None:
    backend = Watching(golden_backend(tmp_path).tabs, timezone="UTC")

    def planned() -> SyncPlan:
        workbook = load(backend, pd.Timestamp(GOLDEN_NOW))
        backend.raw = weakref.ref(workbook.log_read.raw)
        return plan_sync(workbook, notify=False, describe=False)

    report = execute_sync(backend, planned(), None)

    assert backend.raw_held is False
    assert report.workbook.log_read.raw.empty
