"""One pass of the trigger matrix: every active rule run on the rows a trigger could still
raise, at the levels they have in this pass, and what fired spread back over the whole
log. The engine runs passes until no automatic escalation moves a row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sheets_escalation.core.policy import Policy, TriggerRule
from sheets_escalation.core.sla import level_targets
from sheets_escalation.core.triggers import KINDS, Context, can_fire


@dataclass(frozen=True)
class TriggerPass:
    """One evaluation of the trigger matrix at the rows' current levels: per rule (by
    position in the rules run) that fired anywhere, where, when and why."""

    fired: dict[int, np.ndarray]
    fired_at: dict[int, pd.Series]
    why: dict[int, pd.Series]


def run_triggers(context: Context, rules: Sequence[TriggerRule],
                 full_index: pd.Index) -> TriggerPass:
    """Given a pass's context, the rules and the index of the whole log, return what fired,
    spread over every row of the log (rows outside the context never fire)."""
    fired: dict[int, np.ndarray] = {}
    fired_at: dict[int, pd.Series] = {}
    why: dict[int, pd.Series] = {}
    size = len(full_index)
    for position, rule in enumerate(rules):
        applicable = can_fire(context, rule)
        if not applicable.any():
            continue
        firing = KINDS[rule.kind](context, rule)
        mask = firing.fired & applicable
        if mask.any():
            fired[position] = np.zeros(size, dtype=bool)
            fired[position][context.rows] = mask
            # Spread as datetime64 values: a tz-aware Series.to_numpy() would box every
            # instant as a Timestamp object.
            instants = np.full(size, np.datetime64("NaT", "ns"))
            instants[context.rows] = firing.fired_at.dt.tz_convert("UTC").dt.tz_localize(
                None).to_numpy(dtype="datetime64[ns]")
            fired_at[position] = pd.Series(instants, index=full_index).dt.tz_localize("UTC")
            spread = np.full(size, "", dtype=object)
            spread[context.rows] = firing.why.to_numpy(dtype=object)
            why[position] = pd.Series(spread, index=full_index, dtype=object)
    return TriggerPass(fired, fired_at, why)


def trigger_context(log: pd.DataFrame, policy: Policy, now: pd.Timestamp, level: np.ndarray,
                    level_start: pd.Series, resolved: np.ndarray, live: np.ndarray,
                    memo: dict[str, Any]) -> Context:
    """Given the log, the policy, ``now``, every row's level and level start, which rows
    are resolved, the ``live`` rows (positions) and the memo shared by the passes, return
    the trigger context for the live rows at their levels."""
    rows = log.iloc[live]
    level_here = level[live]
    start = level_start.iloc[live]
    seconds, business = level_targets(policy, level_here, "response")
    response_due = policy.calendar.add(start, seconds, business)
    first = rows["first_response_at"]
    first_here = first.where(first >= start)
    return Context(log=rows, level=level_here, level_start=start, response_due=response_due,
                   first_response=first_here, now=now, policy=policy, reports=log, rows=live,
                   reports_open=~resolved, memo=memo)
