"""Handoff (SPEC §6): document, notify, hand off, track.

Builds the notifications a run owes (escalations into a level, escalations that are due,
SLA targets turning At risk or Overdue), renders messages from the Templates tab, and
applies a manual escalation. Sending is the Outbox's job (notify.py); this module only
decides what is owed, so a dry run can show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from sheets_escalation.adapters.notify.messages import (
    Template,
    TemplateError,
    get_template,
    message_context,
    render,
    templates_from_rows,
)
from sheets_escalation.core import schema
from sheets_escalation.core.errors import RefusedError, UsageError
from sheets_escalation.core.events import HistoryEvent, frame_events
from sheets_escalation.core.levels import level_label, level_number
from sheets_escalation.core.notifications import Notification
from sheets_escalation.core.policy import Policy
from sheets_escalation.core.text import local_minute

BUILT_IN_TEMPLATES: dict[str, Template] = templates_from_rows([])
# SLA states a level is told about once each, per target.
ALERT_STATES: tuple[tuple[str, str], ...] = (("At risk", "at-risk"), ("Overdue", "overdue"))
# History Detail of a reminder recorded for a level without Notify targets.
REMINDER_NO_CHANNEL = "reminder (no channel)"
# SLA states in which a target's clock runs toward its due (reminders stop once Overdue).
RUNNING_STATES: tuple[str, ...] = ("On track", "At risk")


def _stamp(value: Any, timezone: str) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return ""
    return local_minute(pd.Timestamp(value), timezone)


def templates_of(tabs: Mapping[str, Any]) -> dict[str, Template]:
    """Given the tabs read, return the message templates (Templates tab over the defaults)."""
    table = tabs.get(schema.TEMPLATES)
    return templates_from_rows(table.rows if table is not None else [])


@dataclass(frozen=True)
class RowView:
    """One row of the log with its evaluation, as messages see it."""

    row: dict[str, Any]
    result: dict[str, Any]


def row_view(log: pd.DataFrame, result: pd.DataFrame, position: int) -> RowView:
    """Given the log, its evaluation and a row position, return that row as messages see it."""
    row = {str(key): value for key, value in log.iloc[position].to_dict().items()}
    evaluated = {str(key): value for key, value in result.iloc[position].to_dict().items()}
    row["id"] = evaluated["id"]
    return RowView(row, evaluated)


def escalation_message(view: RowView, policy: Policy, level: int,
                       templates: Mapping[str, Template], name: str = "internal",
                       now: pd.Timestamp | None = None,
                       reason: tuple[str, str] | None = None) -> tuple[str, str]:
    """Given a row, the level it is (or would be, as of ``now``) escalated to and the
    templates, return (subject, body) of template ``name``. The deadline is the response
    due at that level. ``reason`` (triggers, why) names what escalated the row; without
    it the triggers firing now are shown. Raise TemplateError for an unknown template or
    placeholder."""
    level_policy = policy.levels[level]
    due = view.result.get("response_due")
    if now is not None and int(view.result["level"]) < level:
        due = policy.calendar.add(pd.Series([now]), policy.calendar.seconds(
            level_policy.response), level_policy.response.is_business).iat[0]
    deadline = _stamp(due, policy.timezone)
    action = f"our {level_policy.name} team ({level_label(level)}) will review it and respond"
    if deadline:
        action += f" by {deadline}"
    triggers, why = reason if reason is not None else (
        str(view.result.get("triggers") or ""), str(view.result.get("why") or ""))
    context = message_context(view.row, level_policy.name, level_label(level), deadline,
                              action, triggers, why, timezone=policy.timezone)
    subject, body = get_template(templates, name)
    return render(subject, body, context, name)


def _alert(view: RowView, policy: Policy, level: int, what: str, due: Any) -> tuple[str, str]:
    row = view.row
    identifier = view.result["id"]
    due_text = _stamp(due, policy.timezone)
    subject = f"[{level_label(level)}] {identifier} {what}" + (f" (due {due_text})" if due_text else "")
    lines = [
        subject,
        f"Customer: {row.get('customer', '')} ({row.get('contact', '')})",
        f"Issue: {row.get('description', '')}",
        f"Urgency: {row.get('urgency', '')}  Sentiment: {row.get('sentiment', '')}",
        f"Handler: {row.get('handler', '')}",
    ]
    if view.result.get("why"):
        lines.append(f"Why: {view.result['why']}")
    return subject, "\n".join(lines)


def _moves(events: list[HistoryEvent]) -> list[HistoryEvent]:
    """Return the events that moved a row up a level."""
    moves = []
    for event in events:
        if event.event not in ("escalated", "level changed"):
            continue
        to_level = level_number(event.to_level)
        if to_level is not None and to_level > (level_number(event.from_level) or 1):
            moves.append(event)
    return moves


def _unannounced_moves(result: pd.DataFrame, history: pd.DataFrame,
                       moved_now: set[str]) -> list[HistoryEvent]:
    """Given the evaluation, the History frame and the IDs this run moves, return the
    History event that brought each other open row to its current level, while that
    level has not responded yet: its announcement is owed until it is sent (a failed or
    refused send is retried; the Outbox drops what History already records)."""
    recorded = history[history["event"].isin(["escalated", "level changed"])
                       & (history["id"] != "")]
    if recorded.empty:
        return []
    last = {str(event.id).casefold(): event for event in frame_events(recorded)}
    waiting = (result["flag"] != "RESOLVED") & ~result["response_sla"].isin(["Met", "Missed"])
    moves = []
    for identifier, level in zip(result["id"][waiting], result["level"][waiting], strict=True):
        event = last.get(str(identifier).casefold())
        if event is None or identifier.casefold() in moved_now:
            continue
        if level_number(event.to_level) == int(level) and _moves([event]):
            moves.append(replace(event, id=identifier))
    return moves


def latest_move_reason(identifier: str, events: list[HistoryEvent],
                       history: pd.DataFrame) -> tuple[str, str] | None:
    """Given a row's ID, this evaluation's events and the History frame, return (triggers,
    why) of the latest event that raised the ID's level, or None if it never moved."""
    key = str(identifier).casefold()
    moves = [e for e in _moves(events) if str(e.id).casefold() == key]
    if not moves and not history.empty:
        moves = _moves(frame_events(history[history["id"].str.casefold() == key]))
    return _reason(moves[-1]) if moves else None


def _reason(event: HistoryEvent) -> tuple[str, str]:
    """Given an escalation event, return (triggers, why) for its announcement."""
    trigger, by, detail = str(event.trigger or ""), str(event.by or ""), str(event.detail or "")
    if event.event == "level changed":
        return "Level edited in the sheet", detail
    if trigger == "manual":
        return f"manual escalation by {by}" if by else "manual escalation", detail
    return trigger, detail


def plan_notifications(log: pd.DataFrame, result: pd.DataFrame, events: list[HistoryEvent],
                       policy: Policy, templates: Mapping[str, Template],
                       history: pd.DataFrame | None = None) -> list[Notification]:
    """Given an evaluation, its History frame, return every notification it owes (the
    Outbox drops the ones already sent): escalations into a level (this run's `escalated`
    events and upward `level changed` edits, and, from ``history``, earlier ones into an
    open row's current level that has not responded yet), escalations that are due, and
    SLA targets At risk or Overdue, each to the Notify targets of the level concerned."""
    notifications: list[Notification] = []
    positions = {identifier: position for position, identifier in enumerate(result["id"])}

    def targets(level: int) -> tuple[str, ...]:
        return policy.levels[level].notify if level in policy.levels else ()

    moves = _moves(events)
    if history is not None:
        moved_now = {str(event.id).casefold() for event in moves}
        moves += _unannounced_moves(result, history, moved_now)
    for event in moves:
        to_level = int(level_number(event.to_level) or 0)
        position = positions.get(event.id)
        if position is None or not targets(to_level):
            continue
        view = row_view(log, result, position)
        problem = ""
        try:
            subject, body = escalation_message(view, policy, to_level, templates,
                                               reason=_reason(event))
        except TemplateError as error:
            # The level must still hear of the escalation: in the built-in words, with the
            # template's fault shown in the row until someone fixes it.
            subject, body = escalation_message(view, policy, to_level, BUILT_IN_TEMPLATES,
                                               reason=_reason(event))
            problem = ("; ".join(str(p) for p in error.problems)
                       + "; sent the built-in internal message instead")
        notifications.append(Notification(event.id, level_label(to_level), "escalated",
                                          targets(to_level), subject, body, problem))

    levels = result["level"].to_numpy(dtype=int)
    open_rows = (~result["flag"].isin(["RESOLVED"]).to_numpy()
                 & (result["resolution_sla"] != "Met").to_numpy())
    # (rows, dedup event, what the alert says, which due time it names): to the current level.
    alerts: list[tuple[np.ndarray, str, str, str]] = [(
        result["flag"].isin(["ESCALATE", "ESCALATION OVERDUE"]).to_numpy(), "escalate-due",
        "must be escalated to {target_level}", "escalate_by")]
    for state, word in ALERT_STATES:
        for target_name in ("response", "resolution"):
            alerts.append((open_rows & (result[f"{target_name}_sla"] == state).to_numpy(),
                           f"{word}:{target_name}", f"{target_name} target {state.lower()}",
                           f"{target_name}_due"))
    for hit, alert, what, due_key in alerts:
        for position in np.flatnonzero(hit).tolist():
            level = int(levels[position])
            if not targets(level):
                continue
            view = row_view(log, result, position)
            subject, body = _alert(view, policy, level, what.format(**view.result),
                                   view.result[due_key])
            notifications.append(Notification(view.result["id"], level_label(level), alert,
                                              targets(level), subject, body))
    notifications += [r for r in plan_reminders(log, result, policy, history) if r.targets]
    return notifications


def percent_label(share: float) -> str:
    """Given a share (0.5), return it as a percentage without trailing zeros ("50%")."""
    return f"{share * 100:g}%"


def plan_reminders(log: pd.DataFrame, result: pd.DataFrame, policy: Policy,
                   history: pd.DataFrame | None = None) -> list[Notification]:
    """Given an evaluation, return the reminders it owes the handlers: for each open row
    and target (response, resolution) still running (On track or At risk), the highest
    `Remind at` share of the target already used, as a notification to the Notify
    targets of the row's current level (``targets`` empty when the level has none). The
    dedup key (``ESC-0012/L2/remind-75:resolution``) makes each one once per threshold,
    target and level; a key History already records without a channel is left out, and
    so is a threshold equal to `At risk at` for a level with targets (its At risk alert
    says the same at the same moment)."""
    thresholds = np.asarray(policy.remind_at, dtype=float)
    if not len(thresholds):
        return []
    recorded: set[str] = set()
    if history is not None and not history.empty:
        done = history[(history["event"] == "notified")
                       & (history["detail"] == REMINDER_NO_CHANNEL)]
        recorded = set(done["trigger"].tolist())
    levels = result["level"].to_numpy(dtype=int)
    open_rows = (result["flag"] != "RESOLVED").to_numpy()
    reminders: list[Notification] = []
    for target_name in ("response", "resolution"):
        used = result[f"{target_name}_used"].to_numpy(dtype=float)
        running = open_rows & result[f"{target_name}_sla"].isin(RUNNING_STATES).to_numpy()
        reached = np.searchsorted(thresholds, np.nan_to_num(used, nan=-1.0), side="right") - 1
        for position in np.flatnonzero(running & (reached >= 0)).tolist():
            level = int(levels[position])
            share = float(thresholds[reached[position]])
            view = row_view(log, result, position)
            event = f"remind-{share * 100:g}:{target_name}"
            key = f"{view.result['id']}/{level_label(level)}/{event}"
            if key in recorded:
                continue
            handler = str(view.row.get("handler") or "") or "the handler"
            what = (f"reminder for {handler}: {percent_label(share)} of the "
                    f"{target_name} time used")
            subject, body = _alert(view, policy, level, what, view.result[f"{target_name}_due"])
            notify = policy.levels[level].notify if level in policy.levels else ()
            if notify and abs(share - policy.at_risk) < 1e-9:
                continue  # the level's At risk alert goes out at this very share
            reminders.append(Notification(view.result["id"], level_label(level), event,
                                          notify, subject, body))
            recorded.add(key)  # rows sharing an ID (a duplicate) owe one reminder
    return reminders


def find_row(result: pd.DataFrame, identifier: str) -> int:
    """Given the evaluation and an ID, return the row's position. Raise UsageError if no
    row or several rows carry it."""
    matches = np.flatnonzero((result["id"].str.casefold() == identifier.strip().casefold())
                             .to_numpy())
    if len(matches) == 0:
        raise UsageError(f'no row with ID "{identifier}" in {schema.ESCALATIONS}')
    if len(matches) > 1:
        raise UsageError(f'ID "{identifier}" is on {len(matches)} rows; make IDs unique first')
    return int(matches[0])


def missing_required(log: pd.DataFrame, position: int, policy: Policy) -> list[str]:
    """Return the Required info headers blank in the row at ``position``."""
    missing = []
    for header in policy.required_info:
        key = schema.KEY_BY_NORMALIZED[schema.normalize_header(header)]
        column = schema.COLUMN_BY_KEY[key]
        if column.kind == "yesno":
            continue
        value = log[key].iat[position]
        if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)) \
                or (isinstance(value, str) and not value.strip()):
            missing.append(header)
    return missing


def check_escalation(log: pd.DataFrame, result: pd.DataFrame, position: int, to_level: int,
                     policy: Policy, force: bool) -> None:
    """Raise RefusedError unless the row at ``position`` may go up to ``to_level``: open,
    never lower or sideways, and the Required info filled (unless ``force``)."""
    current = int(result["level"].to_numpy(dtype=int)[position])
    identifier = result["id"].iat[position]
    if result["flag"].tolist()[position] == "RESOLVED":
        raise RefusedError(f"{identifier} is resolved; reopen it (clear Resolved at and "
                           "Status) before escalating")
    if to_level <= current:
        raise RefusedError(f"{identifier} is already at {level_label(current)}; "
                           "escalate never lowers a level")
    missing = missing_required(log, position, policy)
    if missing and not force:
        raise RefusedError(f"{identifier} cannot go to {level_label(to_level)}: fill "
                           + ", ".join(missing) + " first (or pass --force)")
