"""The pure escalation engine: (log, policy, history, now) -> evaluation.

No I/O, no clock, no environment: ``now`` and everything read from the workbook are
arguments, so the same engine serves xlsx, Google Sheets, the what-if replay and tests.
Everything is vectorised over the log; the only Python loops run over trigger rules,
levels and the few rows that changed.

:func:`evaluate` runs in stages, in this order: IDs, the rows as typed, the edits people
made in the sheet, automatic escalation (passes of the trigger matrix, core/passes.py),
what is still pending, the SLA clocks (core/sla.py), problems and flags, `breached`
events, and the result frame. Reading the tab into the log is core/log.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sheets_escalation.core import cells, dates, schema
from sheets_escalation.core.events import TOOL, UTC_DTYPE, HistoryEvent
from sheets_escalation.core.levels import level_label
from sheets_escalation.core.passes import TriggerPass, run_triggers, trigger_context
from sheets_escalation.core.policy import Policy
from sheets_escalation.core.problems import Problem, row_problems
from sheets_escalation.core.sla import Clocks, sla_clocks
from sheets_escalation.core.text import local_minute, local_minutes


@dataclass
class Evaluation:
    """What one evaluation found: the owned columns of every row (``result``), the History
    events to record and the problems it adds."""

    result: pd.DataFrame
    events: list[HistoryEvent] = field(default_factory=list)  # History rows to record
    # The problems this evaluation adds to those read (log["problems"]), by column; with
    # them, the text of result["problems"].
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class _Ids:
    """The rows' IDs after this run numbers the blank ones."""

    ids: pd.Series  # blanks numbered
    keys: pd.Series  # casefolded, for matching
    repeated: np.ndarray  # the key appeared on an earlier row
    events: list[HistoryEvent]  # `id assigned`
    problems: pd.Series  # duplicate IDs


@dataclass(frozen=True)
class _Rows:
    """Each row as typed, before this run's escalations."""

    level: np.ndarray  # as typed (L1 where it could not be read)
    level_unreadable: np.ndarray
    escalated_at: pd.Series
    status: pd.Series  # as History records it (status_labels)
    resolved: np.ndarray
    pausing: np.ndarray  # open and waiting on the customer
    no_resolved_time: np.ndarray  # Status Resolved, Resolved at blank
    impossible: np.ndarray  # held at CHECK INPUT: times that cannot all be true, or in doubt
    problems: list[tuple[str, pd.Series]]  # found here, by the column they name


@dataclass(frozen=True)
class _Escalation:
    """The rows' levels after this run's automatic escalations."""

    level: np.ndarray
    escalated_at: pd.Series
    applied_trigger: np.ndarray  # the rule that raised each row this run ("" if none)
    events: list[HistoryEvent]  # `escalated`
    last_pass: TriggerPass  # the triggers fired at the settled levels


@dataclass(frozen=True)
class _Pending:
    """What the triggers still ask for at the settled levels."""

    triggers: pd.Series
    why: pd.Series
    target: np.ndarray  # the highest level asked for (0 if none)
    escalate_by: pd.Series
    pending: np.ndarray  # a target above the row's level


def evaluate(log: pd.DataFrame, policy: Policy, now: pd.Timestamp,
             history: pd.DataFrame | None = None) -> Evaluation:
    """Given the log as :func:`~sheets_escalation.core.log.read_log` parsed it (text
    trimmed), the policy, the History frame and ``now`` (tz-aware), return the owned
    columns of every row, the rows' levels after automatic escalations, and the History
    events this evaluation records."""
    now = pd.Timestamp(now).tz_convert("UTC")
    previous_run = _previous_run(policy)
    ids = _assign_ids(log, now)
    rows = _open_rows(log, policy, now)
    edits = _sheet_edits(ids, rows, history, previous_run, now)
    escalation = _escalate(log, ids, rows, policy, now)
    pending = _pending(escalation, policy)
    clocks = sla_clocks(log, escalation.level, escalation.escalated_at, ids.keys, history,
                        edits, rows.pausing, rows.no_resolved_time, policy, now)
    added = [("ID", ids.problems), *rows.problems, _escalated_at_blank(log, escalation)]
    problems = cells.combine_problems(log["problems"], *(texts for _, texts in added))
    flag = _flags(rows, pending, clocks, problems, now)
    breaches = _breach_events(ids, rows, escalation.level, clocks, history, previous_run,
                              policy, now)
    missing = _missing_info(log, policy, (escalation.level > 1) | pending.pending)
    result = _result(ids, rows, escalation, pending, clocks, flag, missing, problems)
    sheet_rows = (log["sheet_row"].tolist() if "sheet_row" in log
                  else list(range(2, len(log) + 2)))
    return Evaluation(result=result, events=[*ids.events, *edits, *escalation.events, *breaches],
                      problems=row_problems(schema.ESCALATIONS, added, sheet_rows))


# A typed ID the tool would have assigned, casefolded, one per line; new IDs continue
# after the highest.
_OWN_ID = re.compile(r"^esc-([0-9]+)$", re.MULTILINE)


def _assign_ids(log: pd.DataFrame, now: pd.Timestamp) -> _Ids:
    """Given the log and ``now``, return its IDs with the blank ones numbered (and their
    `id assigned` events), casefolded for matching, and the rows repeating an earlier
    row's ID with their problem text."""
    # Plain list work: pandas' string methods cost several times more per cell here.
    values = log["id"].to_numpy(dtype=object, copy=True)
    blank = values == ""
    events: list[HistoryEvent] = []
    keys = np.array([text.casefold() for text in values.tolist()], dtype=object)
    if blank.any():
        # One scan of the keys joined by newlines, unless an ID holds a newline itself.
        joined = "\n".join(keys.tolist())
        numbers = (_OWN_ID.findall(joined) if joined.count("\n") == len(keys) - 1 else
                   [match[1] for key in keys.tolist() if (match := _OWN_ID.fullmatch(key))])
        next_number = max(map(int, numbers)) + 1 if numbers else 1
        new_ids = [f"ESC-{n:04d}" for n in range(next_number, next_number + int(blank.sum()))]
        values[blank] = new_ids
        keys[blank] = [new_id.casefold() for new_id in new_ids]
        events = [HistoryEvent(now, new_id, "id assigned", by=TOOL, detail=f"row {row}")
                  for new_id, row in zip(new_ids, log["sheet_row"].to_numpy()[blank].tolist(),
                                         strict=True)]
    key = pd.Series(keys, index=log.index, dtype=object)
    # IDs are usually all distinct: a set says so for half the cost of duplicated().
    repeated = (np.zeros(len(keys), dtype=bool) if len(set(keys.tolist())) == len(keys)
                else key.duplicated(keep="first").to_numpy())
    problems = pd.Series("", index=log.index, dtype=object)
    if repeated.any():
        first_row = log["sheet_row"].groupby(key).transform("first")
        problems[repeated] = "ID: duplicate of row " + first_row[repeated].astype(str)
    return _Ids(pd.Series(values, index=log.index, dtype=object), key, repeated, events,
                problems)


def _open_rows(log: pd.DataFrame, policy: Policy, now: pd.Timestamp) -> _Rows:
    """Given the log as read, the policy and ``now``, return each row's level and status
    as typed, which rows are resolved, waiting on the customer or held for impossible or
    doubtful times, and the problems found on the way."""
    level_unreadable = log["level_unreadable"].to_numpy(dtype=bool) \
        if "level_unreadable" in log else np.zeros(len(log), dtype=bool)
    labels = status_labels(log["status"])
    resolved_at = log["resolved_at"]
    resolved = (resolved_at.notna() | (labels == "Resolved")).to_numpy()
    pausing = (labels == schema.PENDING_CUSTOMER).to_numpy() & ~resolved
    no_resolved_time = resolved & resolved_at.isna().to_numpy()
    problems = [("Resolved at", _flagged(no_resolved_time,
                                         "Resolved at: blank although Status is Resolved"))]
    impossible, timeline_problems = _impossible_timelines(log, policy, now)
    # Rows held at CHECK INPUT: impossible times, or dates read in doubt (read_log).
    if "doubtful_dates" in log:
        impossible = impossible | log["doubtful_dates"].to_numpy(dtype=bool)
    return _Rows(level=log["level"].to_numpy(dtype=int).copy(),
                 level_unreadable=level_unreadable, escalated_at=log["escalated_at"].copy(),
                 status=labels, resolved=resolved, pausing=pausing,
                 no_resolved_time=no_resolved_time, impossible=impossible,
                 problems=problems + timeline_problems)


def _sheet_edits(ids: _Ids, rows: _Rows, history: pd.DataFrame | None,
                 previous_run: pd.Timestamp | None, now: pd.Timestamp) -> list[HistoryEvent]:
    """Given the rows' IDs and state as typed, History, the previous run and ``now``,
    return the edits people made in the sheet that History records: `status changed`,
    then `level changed`."""
    events = _status_events(ids.ids, ids.keys, ids.repeated, rows.status, rows.resolved,
                            history, now)
    # "level changed": a person moved the level since the tool last recorded it, or, for a
    # row History has never seen move, raised it (Escalated at later than the last run).
    index = ids.ids.index
    level = rows.level
    escalated_at = rows.escalated_at
    last_levels = _last_levels(history)
    known = ids.keys.map(last_levels).fillna("").astype(object) \
        if not last_levels.empty else pd.Series("", index=index, dtype=object)
    current = pd.Series(_level_labels(level), index=index, dtype=object)
    changed = np.zeros(len(index), dtype=bool)
    if not last_levels.empty:
        changed = ((known != "") & (known != current)).to_numpy().copy()
    if previous_run is not None:
        changed |= ((known == "").to_numpy() & (level > 1)
                    & (escalated_at > previous_run).to_numpy(dtype=bool, na_value=False)
                    & (escalated_at <= now).to_numpy(dtype=bool, na_value=False))
    # History knows an ID, not a row: rows sharing an ID (flagged as duplicates) would
    # record a change on every run, flipping between their levels. They wait until the
    # duplicate is fixed.
    if ids.repeated.any():
        changed &= ~ids.keys.duplicated(keep=False).to_numpy()
    for position in np.flatnonzero(changed).tolist():
        events.append(HistoryEvent(now, str(ids.ids.iat[position]), "level changed",
                                   str(known.iat[position]), str(current.iat[position]),
                                   by="sheet",
                                   detail="Level edited in the sheet"))
    return events


def _escalate(log: pd.DataFrame, ids: _Ids, rows: _Rows, policy: Policy,
              now: pd.Timestamp) -> _Escalation:
    """Given the log, the rows' IDs and state as typed, the policy and ``now``, return the
    levels after running the triggers at the rows' levels and applying every automatic
    escalation that is due, pass after pass until no row moves."""
    index = log.index
    # Evidence (repeat-issue clusters) names rows by the IDs they have after this run.
    log_with_ids = log.assign(id=ids.ids)
    level = rows.level
    escalated_at = rows.escalated_at
    opened = log["opened"]
    rules = policy.active_triggers
    applied_trigger = np.full(len(index), "", dtype=object)
    events: list[HistoryEvent] = []
    memo: dict[str, Any] = {}
    # Triggers can only raise open rows below the top level (levels only go up below), so
    # years of resolved history are evaluated as reports, never as candidates.
    # A row whose times cannot all be true is not judged on them: no trigger runs on it
    # (so nothing is applied or asked for) until a person fixes the times.
    live = np.flatnonzero(~rows.resolved & ~rows.impossible & (level < max(policy.levels)))
    for _ in range(len(schema.LEVEL_NAMES)):
        level_start = opened.where(level == 1, escalated_at.fillna(opened))
        context = trigger_context(log_with_ids, policy, now, level, level_start,
                                  rows.resolved, live, memo)
        result_pass = run_triggers(context, rules, index)
        raise_to = np.zeros(len(index), dtype=int)
        raise_by = np.full(len(index), -1)  # position in ``rules`` of the rule applied
        for position, mask in result_pass.fired.items():
            rule = rules[position]
            if not rule.auto:
                continue
            # An automatic escalation happens once its Timeframe has run out (Automatic = 0).
            due = policy.calendar.add(result_pass.fired_at[position], rule.timeframe_seconds,
                                      rule.timeframe_business)
            mask = mask & (due <= now).to_numpy(dtype=bool, na_value=True)
            higher = mask & (rule.to_level > raise_to)
            raise_to[higher] = rule.to_level
            raise_by[higher] = position
        # A later row repeating an ID waits (ESCALATE, with the duplicate in Problems):
        # History, notices and their dedup keys know the ID, and would take its escalation
        # for the first row's. So does a row whose Level could not be read: raising it
        # would overwrite what someone typed there.
        moving = (raise_to > level) & ~ids.repeated & ~rows.level_unreadable
        if not moving.any():
            break
        at = np.flatnonzero(moving)
        names = np.empty(len(at), dtype=object)
        whys = np.empty(len(at), dtype=object)
        for position in np.unique(raise_by[at]).tolist():
            by_rule = raise_by[at] == position
            names[by_rule] = rules[position].name
            whys[by_rule] = result_pass.why[position].to_numpy(dtype=object)[at[by_rule]]
        events.extend(HistoryEvent(now, row_id, "escalated", before, after, name, TOOL, why)
                      for row_id, before, after, name, why in zip(
                          ids.ids.to_numpy()[at].tolist(), _level_labels(level[at]).tolist(),
                          _level_labels(raise_to[at]).tolist(), names.tolist(), whys.tolist(),
                          strict=True))
        applied_trigger[at] = names
        level = np.where(moving, raise_to, level)
        escalated_at = escalated_at.where(~moving, now)
    return _Escalation(level, escalated_at, applied_trigger, events, result_pass)


def _pending(escalation: _Escalation, policy: Policy) -> _Pending:
    """Given the levels after escalation (and the triggers fired at them) and the policy,
    return what is still pending: the triggers fired and why, the level they ask for and
    the time by which to escalate."""
    last_pass = escalation.last_pass
    index = escalation.escalated_at.index
    rules = policy.active_triggers
    triggers_text = pd.Series("", index=index, dtype=object)
    why_text = pd.Series("", index=index, dtype=object)
    target = np.zeros(len(index), dtype=int)
    escalate_by = pd.Series(pd.NaT, index=index, dtype=UTC_DTYPE)
    for position, mask in last_pass.fired.items():
        rule = rules[position]
        triggers_text = _append(triggers_text, mask, rule.name)
        why_text = _append(why_text, mask, rule.name + ": " + last_pass.why[position])
        target = np.where(mask, np.maximum(target, rule.to_level), target)
        by = policy.calendar.add(last_pass.fired_at[position], rule.timeframe_seconds,
                                 rule.timeframe_business)
        earlier = mask & ((by < escalate_by) | escalate_by.isna()).to_numpy(dtype=bool,
                                                                           na_value=True)
        escalate_by = escalate_by.where(~earlier, by)
    return _Pending(triggers_text, why_text, target, escalate_by, target > escalation.level)


def _escalated_at_blank(log: pd.DataFrame, escalation: _Escalation) -> tuple[str, pd.Series]:
    """Given the log and the levels after escalation, return the problem of rows above L1
    without an Escalated at (this run's escalations stamp it themselves)."""
    missing_start = (escalation.level > 1) & escalation.escalated_at.isna().to_numpy()
    return ("Escalated at", _flagged(missing_start & log["opened"].notna().to_numpy(),
                                     "Escalated at: blank above L1, timing from Opened"))


def _flags(rows: _Rows, pending: _Pending, clocks: Clocks, problems: pd.Series,
           now: pd.Timestamp) -> pd.Series:
    """Given the rows as typed, what is pending, the SLA clocks, the rows' problems and
    ``now``, return each row's Flag; a later rule overrides an earlier one."""
    flag = pd.Series("OK", index=problems.index, dtype=object)
    sla_states = np.stack([clocks.response_sla.to_numpy(), clocks.resolution_sla.to_numpy()])
    overdue = (sla_states == "Overdue").any(axis=0)
    at_risk = (sla_states == "At risk").any(axis=0)
    has_problems = (problems != "").to_numpy()
    late_escalation = pending.pending & (pending.escalate_by < now).to_numpy(dtype=bool,
                                                                             na_value=False)
    flag[at_risk] = "AT RISK"
    flag[rows.resolved] = "RESOLVED"
    flag[has_problems] = "CHECK INPUT"
    flag[overdue & ~rows.resolved] = "OVERDUE"
    flag[pending.pending] = "ESCALATE"
    flag[late_escalation] = "ESCALATION OVERDUE"
    flag[rows.impossible] = "CHECK INPUT"
    return flag


def _breach_events(ids: _Ids, rows: _Rows, level: np.ndarray, clocks: Clocks,
                   history: pd.DataFrame | None, previous_run: pd.Timestamp | None,
                   policy: Policy, now: pd.Timestamp) -> list[HistoryEvent]:
    """Given the rows, their settled levels and SLA clocks, History, the previous run, the
    policy and ``now``, return the `breached` events: the first time a target is seen
    overdue at a level, or seen missed when it was met late since the previous run
    (between two runs). Targets missed before the tool first looked are left to the log's
    SLA columns, so a first sync on years of history does not flood History."""
    events: list[HistoryEvent] = []
    recorded = _recorded_breaches(history)
    labels = pd.Series(_level_labels(level), index=ids.ids.index, dtype=object)
    held = rows.impossible | rows.level_unreadable
    for name, states, due, met_at in (
            ("Response SLA", clocks.response_sla, clocks.response_due, clocks.response_met),
            ("Resolution SLA", clocks.resolution_sla, clocks.resolution_due,
             clocks.resolution_met)):
        # Not for a row whose Level cannot be read: its targets are judged at a guessed
        # level, and History, never rewritten, would keep that guess.
        seen = (states == "Overdue").to_numpy() & ~held
        if previous_run is not None:
            # Met late between the two runs: a time typed later than now waits until then.
            seen |= ((states == "Missed").to_numpy() & ~held
                     & (met_at > previous_run).to_numpy(dtype=bool, na_value=False)
                     & (met_at <= now).to_numpy(dtype=bool, na_value=False))
        if not seen.any():
            continue
        keys = ids.keys[seen] + "/" + labels[seen] + "/" + name
        new = seen.copy()
        new[seen] = (~keys.isin(recorded) & ~keys.duplicated()).to_numpy()
        if not new.any():
            continue
        due_text = local_minutes(due[new], policy.timezone)
        details = name + " " + states[new].str.lower() + " (due " + due_text + ")"
        events.extend(HistoryEvent(now, row_id, "breached", label, "", name, TOOL, detail)
                      for row_id, label, detail in zip(ids.ids[new], labels[new], details,
                                                       strict=True))
    return events


def _missing_info(log: pd.DataFrame, policy: Policy, needs_info: np.ndarray) -> pd.Series:
    """Given the log, the policy and the rows that must hold the required info (above L1
    or with a pending escalation), return the headers of the blank ones per row."""
    index = log.index
    asked = np.flatnonzero(needs_info)
    missing = pd.Series("", index=index, dtype=object)
    for header in policy.required_info:
        key = schema.KEY_BY_NORMALIZED[schema.normalize_header(header)]
        kind = schema.COLUMN_BY_KEY[key].kind
        if kind in ("yesno", "level"):
            continue  # a blank yes/no cell means "no", a blank Level L1: never missing
        values = log[key].iloc[asked]
        blank = np.zeros(len(index), dtype=bool)
        # read_log trims text
        blank[asked] = (values == "").to_numpy() if kind == "text" else values.isna().to_numpy()
        missing = _append(missing, blank, header)
    return missing


def _result(ids: _Ids, rows: _Rows, escalation: _Escalation, pending: _Pending,
            clocks: Clocks, flag: pd.Series, missing: pd.Series,
            problems: pd.Series) -> pd.DataFrame:
    """Given what the stages found, return the evaluation's frame: the owned columns of
    every row, and the columns the jobs read beside them."""
    level = escalation.level
    paused = clocks.paused
    return pd.DataFrame({
        "id": ids.ids,
        "level": level,
        "escalated_at": escalation.escalated_at,
        "flag": flag,
        "triggers": pending.triggers,
        "why": pending.why,
        "target_level": np.where(pending.pending, _level_labels(pending.target), ""),
        "escalate_by": pending.escalate_by.where(pending.pending),
        "response_due": clocks.response_due,
        "resolution_due": clocks.resolution_due,
        "response_sla": clocks.response_sla,
        "resolution_sla": clocks.resolution_sla,
        "response_hours": np.round(clocks.response_hours, 2),
        "resolution_hours": np.round(clocks.resolution_hours, 2),
        "paused_hours": np.where((paused > 0) | rows.pausing, np.round(paused / 3600, 2),
                                 np.nan),
        "missing_info": missing,
        "problems": problems,
        "applied_trigger": escalation.applied_trigger,
        "level_raised": level != rows.level,
        # Share of each unmet target used so far (paused time not counted), for reminders.
        "response_used": clocks.response_used,
        "resolution_used": clocks.resolution_used,
    }, index=ids.ids.index)


def status_labels(status: pd.Series) -> pd.Series:
    """Given Status as read, return each row's status as History records it: the
    vocabulary's spelling for a known status (any case or spacing), ``Open`` for a blank
    cell, anything else as typed."""
    # A log has a handful of distinct statuses: label those, then spread by code.
    codes, uniques = pd.factorize(status.fillna(""))
    known = {s.casefold(): s for s in schema.STATUSES}
    spelled = []
    for text in uniques.tolist():
        normalized = " ".join(str(text).split()).casefold()
        spelled.append("Open" if not normalized else known.get(normalized, str(text).strip()))
    return pd.Series(np.asarray(spelled, dtype=object)[codes], index=status.index, dtype=object)


def _status_events(ids: pd.Series, keys: pd.Series, repeated: np.ndarray, labels: pd.Series,
                   resolved: np.ndarray, history: pd.DataFrame | None,
                   now: pd.Timestamp) -> list[HistoryEvent]:
    """Given the rows' IDs, their statuses and which are resolved, History and ``now``,
    return the `status changed` events this run observes: a Status that differs from the To
    of the ID's last such event; for an ID without one, only a row now waiting on the
    customer (so the first sync of a log does not record every row's status). ``keys``
    are the IDs casefolded; a ``repeated`` ID's later rows record nothing."""
    known = pd.Series(np.nan, index=ids.index, dtype=object)
    if history is not None and not history.empty:
        changes = history[(history["event"] == "status changed") & (history["id"] != "")]
        if not changes.empty:
            last = changes.groupby(changes["id"].str.casefold())["to_level"].last()
            known = keys.map(last)
    seen = known.notna().to_numpy()
    differs = np.zeros(len(seen), dtype=bool)
    if seen.any():
        differs[seen] = (known[seen].astype(str).str.casefold()
                         != labels[seen].str.casefold()).to_numpy()
    first = ~seen & (labels == schema.PENDING_CUSTOMER).to_numpy() & ~resolved
    record = ((seen & differs) | first) & ~repeated
    return [HistoryEvent(now, row_id, "status changed", before, after, by="sheet",
                         detail="Status edited in the sheet")
            for row_id, before, after in zip(ids[record], known[record].fillna(""),
                                             labels[record], strict=True)]


def _last_levels(history: pd.DataFrame | None) -> pd.Series:
    """Given History, return the level each ID (casefolded) was last recorded moving to."""
    if history is None or history.empty:
        return pd.Series(dtype=object)
    moves = history[history["event"].isin(["escalated", "level changed"])
                    & (history["id"] != "")]
    if moves.empty:
        return pd.Series(dtype=object)
    return moves.groupby(moves["id"].str.casefold())["to_level"].last()


def _previous_run(policy: Policy) -> pd.Timestamp | None:
    """Given the policy, return the Settings `Last run` written by the previous run, or None
    if it is blank or unreadable."""
    return dates.parse_datetime_scalar(policy.settings.get("Last run") or None,
                                       policy.timezone, policy.date_order)


def _recorded_breaches(history: pd.DataFrame | None) -> set[str]:
    """Given History, return the breaches it records as "id/level/target" keys (ID
    casefolded)."""
    if history is None or history.empty:
        return set()
    breached = history[history["event"] == "breached"]
    return set((breached["id"].str.casefold() + "/" + breached["from_level"] + "/"
                + breached["trigger"]).tolist())


# Opened may run this far ahead of the run's clock (a typing machine's clock a little
# fast, a row typed just before a sync) before it counts as impossible.
FUTURE_GRACE = pd.Timedelta(minutes=15)


def _impossible_timelines(log: pd.DataFrame, policy: Policy,
                          now: pd.Timestamp) -> tuple[np.ndarray, list[tuple[str, pd.Series]]]:
    """Given the log, the policy and ``now``, return where the typed times cannot all be
    true (First response, Escalated or Resolved at before Opened; Escalated at after
    Resolved at; Opened later than now beyond FUTURE_GRACE) and the problem texts per row,
    by the column they name."""
    def shown(series: pd.Series, mask: np.ndarray) -> list[str]:
        # Formatted for the wrong rows only: strftime over a whole long log costs seconds.
        return local_minutes(series[mask], policy.timezone).tolist()

    opened = log["opened"]
    now_text = local_minute(pd.Timestamp(now), policy.timezone)
    checks = [
        (log["first_response_at"], "First response at", opened, "before Opened"),
        (log["escalated_at"], "Escalated at", opened, "before Opened"),
        (log["resolved_at"], "Resolved at", opened, "before Opened"),
        (log["escalated_at"], "Escalated at", log["resolved_at"], "after Resolved at"),
    ]
    impossible = np.zeros(len(log), dtype=bool)
    problems: list[tuple[str, pd.Series]] = []
    for value, header, other, words in checks:
        wrong = (value > other) if words.startswith("after") else (value < other)
        mask = wrong.to_numpy(dtype=bool, na_value=False)
        if mask.any():
            impossible |= mask
            texts = np.full(len(log), "", dtype=object)
            texts[mask] = [f"{header}: {mine} is {words} ({theirs})" for mine, theirs in
                           zip(shown(value, mask), shown(other, mask), strict=True)]
            problems.append((header, pd.Series(texts, index=log.index, dtype=object)))
    future = (opened > now + FUTURE_GRACE).to_numpy(dtype=bool, na_value=False)
    if future.any():
        impossible |= future
        texts = np.full(len(log), "", dtype=object)
        texts[future] = [f"Opened: {mine} is later than now ({now_text})"
                         for mine in shown(opened, future)]
        problems.append(("Opened", pd.Series(texts, index=log.index, dtype=object)))
    return impossible, problems


def _append(text: pd.Series, mask: np.ndarray, addition: str | pd.Series) -> pd.Series:
    """Given per-row texts, where to add and what, return the texts with ``addition``
    appended ("; "-separated) where ``mask`` holds."""
    if not mask.any():
        return text
    values = text.to_numpy(dtype=object, copy=True)
    add = addition if isinstance(addition, str) else addition.to_numpy(dtype=object)[mask]
    current = values[mask]
    # Object arrays add element-wise in C; Series.__setitem__ with a mask costs far more.
    values[mask] = np.where(current != "", current + "; ", current) + add
    return pd.Series(values, index=text.index, dtype=object)


def _flagged(mask: np.ndarray, text: str) -> pd.Series:
    """Given where a problem holds and its text, return the per-row problem texts."""
    return pd.Series(np.where(mask, text, ""), dtype=object)


def _level_labels(levels: np.ndarray) -> np.ndarray:
    """Given level numbers (0 and up), return their labels (L1, L2…) as an object array."""
    names = np.array([level_label(n) for n in range(int(levels.max(initial=0)) + 1)],
                     dtype=object)
    return names[levels]
