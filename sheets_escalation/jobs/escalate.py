"""The escalate job: raise one row to a higher level by hand, record it in History, notify
the new level and bring the row's owned columns up to date, as a sync would."""

from __future__ import annotations

import pandas as pd

from sheets_escalation.adapters.notify.outbox import Outbox
from sheets_escalation.core.engine import evaluate
from sheets_escalation.core.events import HistoryEvent
from sheets_escalation.core.levels import level_label
from sheets_escalation.core.table import Backend
from sheets_escalation.jobs.handoff import check_escalation, find_row, missing_required
from sheets_escalation.jobs.sync import SyncReport, notify_and_write
from sheets_escalation.jobs.workbook import load


def run_escalate(backend: Backend, now: pd.Timestamp, identifier: str, to_level: int, *,
                 handler: str | None = None, note: str | None = None, force: bool = False,
                 by: str = "escalate command", outbox: Outbox | None = None,
                 dry_run: bool = False) -> SyncReport:
    """Given a row ID and a level above its own, raise it: set Level, Escalated at (now)
    and Handler, record an `escalated` History event, notify the new level, and bring the
    row's owned columns up to date. Raise RefusedError (never lowers; Required info
    missing unless ``force``) or UsageError (unknown ID); nothing is written then."""
    with backend.lock():
        workbook = load(backend, now)
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
        # The level set above is this command's, not an edit in the sheet.
        evaluation.events[:] = [e for e in evaluation.events
                                if not (e.event == "level changed" and e.id == row_id)]
        detail = note or ""
        if force and missing_required(log, position, workbook.policy):
            missing = ", ".join(missing_required(log, position, workbook.policy))
            detail = f"{detail} (forced; missing {missing})".strip()
        evaluation.events.insert(0, HistoryEvent(workbook.now, row_id, "escalated",
                                                 level_label(from_level), level_label(to_level),
                                                 "manual", by, detail))
        workbook.log_read.log = log
        workbook.evaluation = evaluation

        def hand_over() -> None:
            # The new handler takes over after the message naming the previous one.
            if handler:
                log.loc[log.index[position], "handler"] = handler

        return notify_and_write(backend, workbook, outbox, dry_run, hand_over)
