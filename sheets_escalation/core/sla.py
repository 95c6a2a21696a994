"""SLA clocks: each row's response and resolution targets at its level, the seconds it
waited on the customer (which move the resolution due out), and the state of a target
as of ``now`` (Met, Missed, Overdue, At risk, On track, Paused) with the share used."""

from __future__ import annotations

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
