"""The escalate job: raise one row to a higher level by hand, record it in History, notify
the new level and bring the row's owned columns up to date, as a sync would."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from sheets_escalation.adapters.notify.outbox import Outbox
from sheets_escalation.core.engine import evaluate
from sheets_escalation.core.events import HistoryEvent
from sheets_escalation.core.levels import level_label
from sheets_escalation.core.table import Backend
from sheets_escalation.jobs.handoff import check_escalation, find_row, missing_required
from sheets_escalation.jobs.sync import SyncReport, plan_and_run
from sheets_escalation.jobs.workbook import Workbook, load


def escalated(workbook: Workbook, identifier: str, to_level: int, *, handler: str | None,
              note: str | None, force: bool, by: str) -> tuple[Workbook, Workbook | None]:
    """Given the evaluated workbook, a row ID and a level above the row's own, return the
    workbook evaluated with the row raised (Level, Escalated at = now, an `escalated`
    History event first), as the announcement tells it, and, with ``handler``, the same
    handed over to the new handler, as written (None without one). Raise RefusedError
    (never lowers; Required info missing unless ``force``) or UsageError (unknown ID)."""
    position = find_row(workbook.result, identifier)
    check_escalation(workbook.log, workbook.result, position, to_level, workbook.policy,
                     force)
    log = workbook.log.copy()
    levels: list[int] = workbook.result["level"].tolist()
    from_level = levels[position]
    log.loc[log.index[position], "level"] = to_level
    log.loc[log.index[position], "escalated_at"] = workbook.now
    ids: list[str] = workbook.result["id"].tolist()
    log.loc[log.index[position], "id"] = ids[position]
    evaluation = evaluate(log, workbook.policy, workbook.now, workbook.history)
    row_id = str(evaluation.result["id"].iat[position])
    detail = note or ""
    if force and missing_required(log, position, workbook.policy):
        missing = ", ".join(missing_required(log, position, workbook.policy))
        detail = f"{detail} (forced; missing {missing})".strip()
    # The level set above is this command's, not an edit in the sheet.
    events = [HistoryEvent(workbook.now, row_id, "escalated", level_label(from_level),
                           level_label(to_level), "manual", by, detail),
              *(e for e in evaluation.events
                if not (e.event == "level changed" and e.id == row_id))]
    announced = replace(workbook, log_read=replace(workbook.log_read, log=log),
                        evaluation=replace(evaluation, events=events))
    if not handler:
        return announced, None
    # The new handler takes over after the message naming the previous one.
    handed_over = log.copy()
    handed_over.loc[handed_over.index[position], "handler"] = handler
    return announced, replace(announced, log_read=replace(announced.log_read,
                                                          log=handed_over))


def run_escalate(backend: Backend, now: pd.Timestamp, identifier: str, to_level: int, *,
                 handler: str | None = None, note: str | None = None, force: bool = False,
                 by: str = "escalate command", outbox: Outbox | None = None,
                 dry_run: bool = False) -> SyncReport:
    """Given a row ID and a level above its own, raise it: set Level, Escalated at (now)
    and Handler, record an `escalated` History event, notify the new level, and bring the
    row's owned columns up to date. Raise RefusedError (never lowers; Required info
    missing unless ``force``) or UsageError (unknown ID); nothing is written then."""
    with backend.lock():
        return plan_and_run(backend, lambda: escalated(
            load(backend, now), identifier, to_level, handler=handler, note=note, force=force,
            by=by), outbox, dry_run)
