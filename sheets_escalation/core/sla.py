"""SLA clocks: each row's response and resolution targets at its level, the seconds it
waited on the customer (which move the resolution due out), and the state of a target
as of ``now`` (Met, Missed, Overdue, At risk, On track, Paused) with the share used."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sheets_escalation.core import schema
from sheets_escalation.core.events import HistoryEvent
from sheets_escalation.core.policy import Policy


def level_targets(policy: Policy, level: np.ndarray, which: str) -> tuple[np.ndarray, np.ndarray]:
    """Given the policy, each row's level and which target ("response" or "resolution"),
    return each row's target in seconds and whether it runs in business time."""
    seconds = np.zeros(len(level), dtype=float)
    business = np.zeros(len(level), dtype=bool)
    for number, level_policy in policy.levels.items():
        duration = level_policy.response if which == "response" else level_policy.resolution
        mask = level == number
        seconds[mask] = policy.calendar.seconds(duration)
        business[mask] = duration.is_business
    return seconds, business


def sla_state(start: pd.Series, due: pd.Series, met_at: pd.Series, now: pd.Timestamp,
               seconds: np.ndarray, business: np.ndarray, policy: Policy,
               paused: np.ndarray | None = None,
               pausing: np.ndarray | None = None) -> tuple[pd.Series, np.ndarray]:
    """Given a target's clock (start, due, when met) as of ``now``, return each row's SLA
    state and the share of the target used so far (paused seconds not counted). Rows
    ``pausing`` (waiting on the customer) and still unmet are ``Paused``."""
    state = pd.Series("", index=start.index, dtype=object)
    has_due = due.notna().to_numpy()
    met = met_at.notna().to_numpy() & has_due
    on_time = (met_at <= due).to_numpy(dtype=bool, na_value=False)
    state[met & on_time] = "Met"
    state[met & ~on_time] = "Missed"
    unmet = has_due & ~met
    overdue = unmet & (due < now).to_numpy(dtype=bool, na_value=False)
    elapsed = policy.calendar.elapsed(start, pd.Series(now, index=start.index), business)
    if paused is not None:
        elapsed = np.clip(elapsed - paused, 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(seconds > 0, elapsed / seconds, 0.0)
    at_risk = unmet & ~overdue & (share >= policy.at_risk)
    state[overdue] = "Overdue"
    state[at_risk] = "At risk"
    state[unmet & ~overdue & ~at_risk] = "On track"
    if pausing is not None:
        state[unmet & pausing] = "Paused"
    return state, np.where(unmet, share, np.nan)


def paused_seconds(keys: pd.Series, history: pd.DataFrame | None,
                    events: list[HistoryEvent],
                    level_start: pd.Series, until: pd.Series, business: np.ndarray,
                    policy: Policy) -> np.ndarray:
    """Given the rows' IDs (casefolded), the History frame with this run's events, each
    row's level start, the end of its clock (now, or Resolved at) and whether its resolution target
    is in business time, return the seconds each row waited on the customer at its
    current level: every interval from a `status changed` event into Pending customer to
    the ID's next such event (or ``until``), cut to [level start, until], summed."""
    frames = []
    if history is not None and not history.empty:
        recorded = history[(history["event"] == "status changed") & (history["id"] != "")]
        frames.append(pd.DataFrame({"key": recorded["id"].str.casefold(),
                                    "at": recorded["at"], "to": recorded["to_level"]}))
    new = [e for e in events if e.event == "status changed"]
    if new:
        frames.append(pd.DataFrame({"key": [str(e.id).casefold() for e in new],
                                    "at": pd.to_datetime([e.at for e in new], utc=True),
                                    "to": [e.to_level for e in new]}))
    paused = np.zeros(len(keys), dtype=float)
    if not frames:
        return paused
    changes = pd.concat(frames, ignore_index=True).dropna(subset=["at"])
    changes = changes.sort_values(["key", "at"], kind="stable")
    changes["next"] = changes.groupby("key")["at"].shift(-1)
    pending = changes[changes["to"].str.strip().str.casefold()
                      == schema.PENDING_CUSTOMER.casefold()]
    # Few IDs ever waited on the customer: pick their rows before joining.
    waited = keys.isin(pending["key"]).to_numpy()
    rows = pd.DataFrame({"key": keys.to_numpy()[waited], "position": np.flatnonzero(waited)})
    spans = pending.merge(rows, on="key")
    if spans.empty:
        return paused
    position = spans["position"].to_numpy()
    start = level_start.iloc[position].reset_index(drop=True)
    stop = until.iloc[position].reset_index(drop=True)
    begin = pd.to_datetime(spans["at"], utc=True).reset_index(drop=True)
    begin = begin.where(begin >= start, start)
    end = pd.to_datetime(spans["next"], utc=True).reset_index(drop=True)
    end = end.where(end.notna() & (end <= stop), stop)
    seconds = np.nan_to_num(policy.calendar.elapsed(begin, end, business[position]))
    return np.bincount(position, weights=seconds, minlength=len(keys))


@dataclass(frozen=True)
class Clocks:
    """Both targets' clocks at each row's settled level, as of ``now``."""

    level_start: pd.Series
    response_due: pd.Series
    resolution_due: pd.Series  # moved out by the time paused
    response_met: pd.Series  # when the response target was met (resolving answers it)
    resolution_met: pd.Series  # Resolved at
    response_sla: pd.Series
    resolution_sla: pd.Series
    response_used: np.ndarray  # share of each unmet target used so far
    resolution_used: np.ndarray
    response_hours: np.ndarray
    resolution_hours: np.ndarray
    paused: np.ndarray  # seconds waited on the customer at this level


def sla_clocks(log: pd.DataFrame, level: np.ndarray, escalated_at: pd.Series,
               keys: pd.Series, history: pd.DataFrame | None, events: list[HistoryEvent],
               pausing: np.ndarray, no_resolved_time: np.ndarray, policy: Policy,
               now: pd.Timestamp) -> Clocks:
    """Given the log, each row's settled level and Escalated at, the rows' IDs
    (casefolded), the History frame with this run's events, where rows wait on the
    customer or are resolved without a Resolved at, the policy and ``now``, return both
    targets' clocks at the current level."""
    opened = log["opened"]
    resolved_at = log["resolved_at"]
    level_start = opened.where(level == 1, escalated_at.fillna(opened))
    response_seconds, response_business = level_targets(policy, level, "response")
    resolution_seconds, resolution_business = level_targets(policy, level, "resolution")
    response_due = policy.calendar.add(level_start, response_seconds, response_business)
    # The resolution clock stops while the row waits on the customer: its due moves out
    # by the paused time, measured on the same clock.
    clock_end = resolved_at.where(resolved_at < now, now).fillna(now)
    paused = paused_seconds(keys, history, events, level_start, clock_end,
                            resolution_business, policy)
    resolution_due = policy.calendar.add(level_start, resolution_seconds + paused,
                                         resolution_business)
    first = log["first_response_at"]
    first_here = first.where(first >= level_start)
    # Resolving a row answers it: a resolved row without a recorded response met its
    # response target when it was resolved.
    responded = first_here.fillna(resolved_at.where(resolved_at >= level_start))
    response_sla, response_used = sla_state(level_start, response_due, responded, now,
                                            response_seconds, response_business, policy)
    resolution_sla, resolution_used = sla_state(level_start, resolution_due, resolved_at, now,
                                                resolution_seconds, resolution_business,
                                                policy, paused, pausing)
    resolution_sla[no_resolved_time] = ""
    response_hours = policy.calendar.elapsed(level_start, first_here, response_business) / 3600
    resolution_hours = policy.calendar.elapsed(opened, resolved_at, resolution_business) / 3600
    return Clocks(level_start, response_due, resolution_due, responded, resolved_at,
                  response_sla,
                  resolution_sla, response_used, resolution_used, response_hours,
                  resolution_hours, paused)
