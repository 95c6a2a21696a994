"""The sync job: read -> evaluate -> plan -> execute.

:func:`plan_sync` computes everything a run will do (the cell writes, the History rows,
the notifications owed, the reminders) without sending or writing anything.
:func:`execute_sync` sends the planned notifications, records what became of them
(History rows, refused targets in the rows' Problems) in the writes, then writes.
``--dry-run`` stops after planning: :func:`preview_sync` only asks the Outbox, itself in
its dry run, what it would send, so the output shows what a real run would do.
Knows backends only through their protocol.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from sheets_escalation.adapters.notify.outbox import Outbox
from sheets_escalation.core import cells, dates, schema
from sheets_escalation.core.events import HistoryEvent, history_rows, wall_time
from sheets_escalation.core.levels import level_label
from sheets_escalation.core.limits import fit_text
from sheets_escalation.core.notifications import (
    DeliveryReport,
    Notification,
    recorded_deliveries,
)
from sheets_escalation.core.plaintext import without_controls
from sheets_escalation.core.problems import Problem
from sheets_escalation.core.table import Backend, CellWrite, Table, WritePlan, header_index
from sheets_escalation.jobs.handoff import (
    REMINDER_NO_CHANNEL,
    plan_notifications,
    plan_reminders,
    templates_of,
)
from sheets_escalation.jobs.workbook import Workbook, load

EVENT_ORDER: tuple[str, ...] = ("escalated", "level changed", "notified", "breached",
                                "id assigned", "status changed")


@dataclass(frozen=True, slots=True)
class Change:
    """One planned cell change, for people (dry-run output and --json)."""

    sheet_row: int
    id: str
    header: str
    old: Any
    new: Any


@dataclass
class SyncReport:
    source: str
    now: pd.Timestamp
    workbook: Workbook
    plan: WritePlan
    changes: list[Change]
    dry_run: bool
    notes: list[str] = field(default_factory=list)
    delivery: DeliveryReport | None = None
    reminders: list[str] = field(default_factory=list)  # reminders without a channel

    @property
    def flag_counts(self) -> dict[str, int]:
        counts = Counter(self.workbook.result["flag"])
        return {flag: counts[flag] for flag in schema.FLAGS if counts[flag]}

    @property
    def event_counts(self) -> dict[str, int]:
        """How many History events of each kind this run records, in EVENT_ORDER."""
        counts = Counter(e.event for e in self.workbook.evaluation.events)
        order = {event: i for i, event in enumerate(EVENT_ORDER)}
        return {event: counts[event]
                for event in sorted(counts, key=lambda e: (order.get(e, len(order)), e))}

    @property
    def escalated(self) -> list[HistoryEvent]:
        return [e for e in self.workbook.evaluation.events if e.event == "escalated"]

    def as_json(self) -> dict[str, Any]:
        result = self.workbook.result
        appended = len(self.plan.appends.get(schema.HISTORY, [])) + max(
            len(self.plan.new_tabs.get(schema.HISTORY, [])) - 1, 0)
        flagged = result[~result["flag"].isin(["OK", "RESOLVED"])]
        return {
            "source": self.source,
            "now": self.now.isoformat(),
            "dry_run": self.dry_run,
            "rows": len(result),
            "flags": self.flag_counts,
            "escalated": [{"id": e.id, "from": e.from_level, "to": e.to_level,
                           "trigger": e.trigger}
                          for e in self.escalated],
            "events": len(self.workbook.evaluation.events),
            "cells_planned": len(self.plan.cells),
            "cells_written": 0 if self.dry_run else len(self.plan.cells),
            "history_planned": appended,
            "history_appended": 0 if self.dry_run else appended,
            "flagged": [
                {"id": row["id"], "flag": row["flag"], "level": level_label(int(row["level"])),
                 "triggers": row["triggers"], "problems": row["problems"]}
                for row in flagged[["id", "flag", "level", "triggers", "problems"]]
                .to_dict("records")
            ],
            "notifications": self.delivery.lines() if self.delivery else [],
            "reminders": self.reminders,
            "notes": self.notes,
            "history_events": [
                {"at": f"{at:%Y-%m-%d %H:%M}", "id": row_id, "event": event, "from": before,
                 "to": after, "trigger": trigger, "by": by, "detail": detail}
                for at, row_id, event, before, after, trigger, by, detail in history_rows(
                    self.workbook.evaluation.events, self.workbook.policy.timezone)],
        }


def local_naive(series: pd.Series, timezone: str) -> pd.Series:
    """Given UTC datetimes, return naive local datetimes rounded to the second."""
    return series.dt.tz_convert(timezone).dt.tz_localize(None).dt.round("s")


def to_cell(value: Any) -> Any:
    """Given a computed value, return what a backend writes (None for blank)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, str) and value == "":
        return None
    return value




def _changed(column: schema.Column, old: pd.Series, new: pd.Series, timezone: str) -> np.ndarray:
    """Given the cells as read and the values to write, return where they differ."""
    if column.kind == "datetime":
        # Compared as local wall-clock times, as written: an instant in the repeated hour
        # of a DST change reads back as its first occurrence, and must not look changed.
        old_time = local_naive(dates.parse_datetimes(old, column.header, timezone).values,
                               timezone)
        new_time = new if new.dt.tz is None else local_naive(new, timezone)
        both_blank = old_time.isna().to_numpy() & new.isna().to_numpy()
        delta = (old_time - new_time).abs()
        same = (delta <= pd.Timedelta(seconds=1)).to_numpy(dtype=bool, na_value=False)
        return ~(both_blank | same)
    if column.kind == "number":
        kinds = np.fromiter(map(type, old.to_numpy(dtype=object)), dtype=object, count=len(old))
        not_bool = kinds != bool  # noqa: E721 - compares an array of types, element by element
        old_number = pd.to_numeric(old.where(not_bool), errors="coerce")
        both_blank = old_number.isna().to_numpy() & new.isna().to_numpy()
        if both_blank.any():  # blank only if its text is: read the text of those cells alone
            both_blank[both_blank] = (cells.parse_text(old[both_blank]) == "").to_numpy()
        same = ((old_number - new).abs() < 0.005).to_numpy(dtype=bool, na_value=False)
        return ~(both_blank | same)
    return (cells.parse_text(old) != new.fillna("").astype(str)).to_numpy()


def _raw_column(raw: pd.Series) -> pd.Series:
    """Given a column of raw cells, return it as objects, but a column of datetimes only
    as it is: compared as datetimes, it needs no object per cell (the values listed from
    either are the same Timestamps)."""
    if isinstance(raw.dtype, np.dtype) and raw.dtype.kind == "M":
        return raw
    return raw.astype(object)


def _fitted(texts: pd.Series, limit: int) -> pd.Series:
    """Texts as a backend holding ``limit`` characters per cell writes them (fit_text), so
    a shortened cell reads back equal and is not rewritten every run."""
    values = texts.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=False) == "string":  # text only, as usual
        long = np.fromiter(map(len, values), dtype=np.int64, count=len(values)) > limit
    else:
        long = np.fromiter((isinstance(v, str) and len(v) > limit for v in values),
                           dtype=bool, count=len(values))
    if not long.any():
        return texts
    values = values.copy()
    values[long] = [fit_text(v, limit) for v in values[long]]
    return pd.Series(values, index=texts.index, dtype=object)


def _without_controls(values: pd.Series) -> pd.Series:
    """Given a text column to write, return it without control characters (a Problem may
    quote a cell holding them): written as they are, a workbook drops them, the next run
    reads something else and would write the cell again on every run."""
    texts = [v for v in values.tolist() if isinstance(v, str)]
    joined = "".join(texts)
    if without_controls(joined) == joined:  # the usual case: one scan, no copy
        return values
    return values.map(lambda v: without_controls(v) if isinstance(v, str) else v)


def plan_writes(workbook: Workbook, *, describe: bool = True
                ) -> tuple[WritePlan, list[Change]]:
    """Given an evaluated workbook, return the writes that bring the sheet up to date and,
    with ``describe``, the same changes described for people (a first sync of a long log
    plans hundreds of thousands of cells: only a dry run needs them twice)."""
    plan = WritePlan()
    changes: list[Change] = []
    policy = workbook.policy
    log_read = workbook.log_read
    log = log_read.log
    result = workbook.result
    now = workbook.now
    columns = dict(log_read.columns)
    header_cells: list[CellWrite] = []
    # New owned columns go right of everything in use: people keep notes under blank
    # headers too. Trailing columns blank in every row (header included) are reused.
    table_rows = workbook.tabs[schema.ESCALATIONS].rows
    next_column = max(len(r) for r in table_rows)
    while next_column > 0 and all(
            len(r) < next_column or r[next_column - 1] is None
            or str(r[next_column - 1]).strip() == "" for r in table_rows):
        next_column -= 1
    for column in schema.OWNED_COLUMNS:
        if column.key not in columns:
            columns[column.key] = next_column
            header_cells.append(CellWrite(schema.ESCALATIONS, 0, next_column, column.header))
            next_column += 1
    plan.cells.extend(header_cells)

    read_ids = log["id"]
    read_id_list: list[str] = read_ids.tolist()
    result_ids: list[str] = result["id"].tolist()
    sheet_rows = log["sheet_row"].to_numpy()
    raw = log_read.raw
    blank_column = pd.Series([None] * len(log), index=log.index, dtype=object)

    def emit(column: schema.Column, mask: np.ndarray, values: pd.Series,
             raw_values: pd.Series) -> None:
        positions = np.flatnonzero(mask).tolist()
        if not positions:
            return
        new_values: list[Any] = values.tolist()
        old_values: list[Any] = raw_values.tolist()
        for position in positions:
            value = to_cell(new_values[position])
            row = int(sheet_rows[position])
            plan.cells.append(CellWrite(schema.ESCALATIONS, row - 1, columns[column.key], value,
                                        read_id_list[position]))
            if describe:
                changes.append(Change(row, result_ids[position], column.header,
                                      to_cell(old_values[position]), value))

    for column in schema.OWNED_COLUMNS:
        position = columns[column.key]
        raw_values = (_raw_column(raw[position]) if position in raw.columns
                      and column.key in log_read.columns else blank_column)
        new = result[column.key]
        if column.kind == "datetime":
            new = local_naive(new, policy.timezone)
        elif column.kind == "text":
            new = _fitted(_without_controls(new), workbook.cell_limit)
        emit(column, _changed(column, raw_values, new if column.kind != "datetime"
                              else result[column.key], policy.timezone), new, raw_values)

    # Input columns the tool sets (ID where blank, Level and Escalated at when it escalates,
    # Handler on a manual escalation): written only where they differ from the sheet, so
    # a cell people typed and the tool could not read is never overwritten by a default.
    for key, values in (
        ("id", result["id"]),
        ("level", pd.Series(np.char.add("L", result["level"].to_numpy(dtype=int).astype(str)),
                            index=log.index)),
        ("escalated_at", result["escalated_at"]),
        ("handler", log["handler"]),
    ):
        column = schema.COLUMN_BY_KEY[key]
        if key not in log_read.columns or columns[key] not in raw.columns:
            continue
        raw_values = _raw_column(raw[columns[key]])
        if key == "level":
            sheet_level = cells.parse_levels(raw_values, column.header).values
            differs = (sheet_level.to_numpy() != result["level"].to_numpy())
        elif key == "escalated_at":
            differs = _changed(column, raw_values, values, policy.timezone)
            values = local_naive(values, policy.timezone)
        else:
            differs = _changed(column, raw_values, values, policy.timezone)
        emit(column, differs, values, raw_values)

    timezone = policy.timezone
    events = workbook.evaluation.events
    if events:
        plan_history(workbook, plan, history_rows(events, timezone))
    _plan_last_run(workbook, plan, wall_time(now, timezone))
    return plan, changes


def plan_history(workbook: Workbook, plan: WritePlan, rows: list[list[Any]]) -> None:
    """Add History rows (HISTORY_HEADERS order) to ``plan``: appended in the tab's own
    column order, or a new History tab when the workbook has none."""
    table = workbook.tabs.get(schema.HISTORY)
    if table is not None and table.rows:
        plan.appends[schema.HISTORY] = history_rows_for(table, rows)
    else:
        plan.new_tabs[schema.HISTORY] = [list(schema.HISTORY_HEADERS), *rows]


def history_rows_for(table: Table, rows: list[list[Any]]) -> list[list[Any]]:
    """Given the History tab and rows in HISTORY_HEADERS order, return them laid out in the
    tab's own column order (people may have reordered its columns)."""
    index = header_index(table.header)
    positions = [index.get(schema.normalize_header(h)) for h in schema.HISTORY_HEADERS]
    if positions == list(range(len(schema.HISTORY_HEADERS))):
        return rows
    width = max([len(table.header)] + [p + 1 for p in positions if p is not None])
    laid_out = []
    for row in rows:
        cells_out: list[Any] = [None] * width
        extra = []
        for value, place in zip(row, positions, strict=True):
            if place is None:
                extra.append(value)
            else:
                cells_out[place] = value
        laid_out.append(cells_out + extra)
    return laid_out


def _plan_last_run(workbook: Workbook, plan: WritePlan, stamp: dt.datetime) -> None:
    table = workbook.tabs.get(schema.SETTINGS)
    if table is None or not table.rows:
        rows: list[list[Any]] = [list(schema.SETTINGS_HEADERS)]
        rows += [[k, stamp if k == "Last run" else v] for k, v in schema.DEFAULT_SETTINGS]
        plan.new_tabs[schema.SETTINGS] = rows
        return
    index = header_index(table.header)
    key_col = index.get(schema.normalize_header("Key"), 0)
    value_col = index.get(schema.normalize_header("Value"), 1)
    wanted = schema.normalize_header("Last run")
    for offset, row in enumerate(table.body):
        if key_col < len(row) and schema.normalize_header(row[key_col]) == wanted:
            plan.cells.append(CellWrite(schema.SETTINGS, offset + 1, value_col, stamp))
            return
    row_out: list[Any] = [None] * (max(key_col, value_col) + 1)
    row_out[key_col] = "Last run"
    row_out[value_col] = stamp
    plan.appends.setdefault(schema.SETTINGS, []).append(row_out)


@dataclass(frozen=True)
class SyncPlan:
    """What a sync will do, computed without sending or writing anything.

    ``workbook`` is the evaluated workbook the writes bring the sheet to. ``writes`` and
    ``changes`` (described only with ``describe``) are planned before any notification
    goes out; executing records the deliveries into them. ``notifications`` are what the
    run owes when it ``notify``s (the Outbox drops the pairs in ``recorded``, the (dedup
    key, detail) pairs History already has); ``reminders`` are the reminders of levels
    without Notify targets, recorded as History events, said in ``reminder_lines``.
    """

    workbook: Workbook
    writes: WritePlan
    changes: tuple[Change, ...]
    notify: bool
    notifications: tuple[Notification, ...]
    recorded: frozenset[tuple[str, str]]
    reminders: tuple[HistoryEvent, ...]
    reminder_lines: tuple[str, ...]
    describe: bool

    @property
    def history_events(self) -> tuple[HistoryEvent, ...]:
        """The History events planned before any send: the evaluation's, then the
        reminders'. Executing puts the sends' `notified` events between the two."""
        return (*self.workbook.evaluation.events, *self.reminders)


def silent_reminders(workbook: Workbook) -> tuple[list[HistoryEvent], list[str]]:
    """Given an evaluated workbook, return the reminders owed to handlers at levels without
    Notify targets as History `notified` events (Trigger = the dedup key, Detail =
    "reminder (no channel)") and one line per reminder for the run's output. Reminders of
    levels with targets go out with the other notifications."""
    events, lines = [], []
    for reminder in plan_reminders(workbook.log, workbook.result, workbook.policy,
                                   workbook.history):
        if reminder.targets:
            continue
        events.append(HistoryEvent(
            workbook.now, reminder.row_id, "notified", "", reminder.level, reminder.dedup_key,
            "sheets-escalation", REMINDER_NO_CHANNEL))
        # The subject without its "[L1] ESC-0012 " prefix, which the key already says.
        what = reminder.subject.split(" ", 2)[-1]
        lines.append(f"{reminder.dedup_key}: {what}; no Notify target at {reminder.level}, "
                     "recorded in History")
    return events, lines


def _with_events(workbook: Workbook, events: list[HistoryEvent],
                 result: pd.DataFrame | None = None,
                 problems: Sequence[Problem] = ()) -> Workbook:
    evaluation = workbook.evaluation
    return replace(workbook, evaluation=replace(
        evaluation, events=events, result=evaluation.result if result is None else result,
        problems=[*evaluation.problems, *problems]))


def plan_sync(workbook: Workbook, *, notify: bool = True, describe: bool = True,
              written: Workbook | None = None) -> SyncPlan:
    """Given an evaluated workbook, return what a sync will do: with ``notify``, the
    notifications it owes; the reminders without a channel; the History rows and cell
    writes, with ``describe`` described for people too. ``written`` is the workbook the
    writes bring the sheet to when it is not the one the messages are about (a hand-over
    that follows the announcement). Sends, writes and changes nothing. Raise ConfigError
    if ``notify`` and the Templates tab cannot be read."""
    notifications: tuple[Notification, ...] = ()
    recorded: frozenset[tuple[str, str]] = frozenset()
    if notify:
        notifications = tuple(plan_notifications(
            workbook.log, workbook.result, workbook.evaluation.events, workbook.policy,
            templates_of(workbook.tabs), workbook.history))
        recorded = frozenset(recorded_deliveries(
            [{str(k): v for k, v in record.items()}
             for record in workbook.history.to_dict("records")]))
    reminders, lines = silent_reminders(workbook)
    target = workbook if written is None else written
    writes, changes = plan_writes(
        _with_events(target, [*target.evaluation.events, *reminders]), describe=describe)
    return SyncPlan(target, writes, tuple(changes), notify, notifications, recorded,
                    tuple(reminders), tuple(lines), describe)


def delivery_problems(plan: SyncPlan, delivery: DeliveryReport) -> list[Problem]:
    """Given a plan and what became of its notifications, return the problems to show in
    the rows concerned, row by row: a template that failed (the built-in message went
    instead), then each refused or failed target."""
    by_id = delivery.problems_by_row()
    for notification in plan.notifications:
        if notification.problem:
            by_id.setdefault(notification.row_id, []).insert(0, notification.problem)
    if not by_id:
        return []
    ids: list[Any] = plan.workbook.result["id"].tolist()
    sheet_rows: list[int] = plan.workbook.log["sheet_row"].tolist()
    return [Problem(schema.ESCALATIONS, "", message, row=int(sheet_row))
            for identifier, sheet_row in zip(ids, sheet_rows, strict=True)
            for message in by_id.get(identifier, [])]


def _with_problems(workbook: Workbook, problems: Sequence[Problem]) -> pd.DataFrame:
    """The evaluation's result with ``problems`` added to its rows' Problems text. They are
    no problem with a row's own input: the rows' Flag stays as it is."""
    by_row: dict[int | None, list[str]] = {}
    for problem in problems:
        by_row.setdefault(problem.row, []).append(problem.message)
    result = workbook.result.copy()
    extra = pd.Series(["; ".join(by_row.get(int(r), [])) for r in workbook.log["sheet_row"]],
                      index=result.index, dtype=object)
    has = (extra != "").to_numpy()
    current = result["problems"]
    result.loc[has, "problems"] = np.where(current[has] != "", current[has] + "; ", "") \
        + extra[has]
    return result


def record_deliveries(plan: SyncPlan, delivery: DeliveryReport | None
                      ) -> tuple[Workbook, WritePlan, list[Change]]:
    """Given a plan and what became of its notifications (None: none were sent), return
    the workbook with the deliveries recorded (the sends as History `notified` events
    between the evaluation's and the reminders', refused or failed targets as problems of
    their rows) and the writes and changes that bring the sheet to it."""
    workbook = plan.workbook
    sent = [] if delivery is None else [replace(event, at=pd.Timestamp(event.at))
                                        for event in delivery.history_events()]
    problems = [] if delivery is None else delivery_problems(plan, delivery)
    recorded = _with_events(workbook, [*workbook.evaluation.events, *sent, *plan.reminders],
                            _with_problems(workbook, problems) if problems else None, problems)
    if not sent and not problems:
        return recorded, plan.writes, list(plan.changes)
    writes, changes = plan_writes(recorded, describe=plan.describe)
    return recorded, writes, changes


def _deliver(plan: SyncPlan, outbox: Outbox | None) -> DeliveryReport | None:
    if outbox is None or not plan.notify:
        return None
    return outbox.deliver(plan.notifications, plan.recorded, plan.workbook.now.to_pydatetime())


def execute_sync(backend: Backend, plan: SyncPlan, outbox: Outbox | None) -> SyncReport:
    """Given a backend, a plan and the Outbox, send the plan's notifications, record what
    became of them into the writes and write. Raise JournalError or LockHeldError (another
    run sending) before anything is written, SourceError or ConcurrentEditError (exit 1)."""
    delivery = _deliver(plan, outbox)
    recorded, writes, changes = record_deliveries(plan, delivery)
    reminders = list(plan.reminder_lines)
    # The raw cells are not needed past planning; let them go before the backend loads
    # the whole workbook (openpyxl), which is the run's memory peak: the caller hands the
    # plan on without keeping it, so these are the last references to them.
    workbook = recorded.release_raw()
    del plan, recorded
    backend.write(writes)
    return SyncReport(backend.name, workbook.now, workbook, writes, changes, False,
                      notes=workbook.notes, delivery=delivery, reminders=reminders)


def preview_sync(source: str, plan: SyncPlan, outbox: Outbox | None) -> SyncReport:
    """Given the source's name, a plan and a dry-run Outbox, return the report a run would
    give, sending and writing nothing: the Outbox says what it would send, refuse or
    record from its journal, and the writes shown include that."""
    delivery = _deliver(plan, outbox)
    workbook, writes, changes = record_deliveries(plan, delivery)
    return SyncReport(source, workbook.now, workbook, writes, changes, True,
                      notes=workbook.notes, delivery=delivery,
                      reminders=list(plan.reminder_lines))


def plan_and_run(backend: Backend, read: Callable[[], tuple[Workbook, Workbook | None]],
                 outbox: Outbox | None, dry_run: bool) -> SyncReport:
    """Given a backend and what reads the evaluated workbook (the one the messages are
    about and, when a hand-over follows them, the one written), plan the sync, then
    preview it (``dry_run``) or execute it."""
    def planned() -> SyncPlan:
        workbook, written = read()
        if not dry_run:
            # Nothing is announced that could not then be written (an .xlsx open in Excel).
            backend.check_writable()
        return plan_sync(workbook, notify=outbox is not None, describe=dry_run,
                         written=written)

    if dry_run:
        return preview_sync(backend.name, planned(), outbox)
    # The plan is handed on, not kept here, so executing it can let its raw cells go.
    return execute_sync(backend, planned(), outbox)


def run_sync(backend: Backend, now: pd.Timestamp, *, dry_run: bool = False,
             outbox: Outbox | None = None) -> SyncReport:
    """Given a backend and ``now``, evaluate, notify and write back. With ``dry_run``
    nothing is written or sent. Raise ConfigError (exit 2, nothing written), LockHeldError,
    SourceError or ConcurrentEditError (exit 1)."""
    with backend.lock():
        return plan_and_run(backend, lambda: (load(backend, now), None), outbox, dry_run)
