"""The replay: a month's rows re-run through the engine from their timestamps under one
policy, as the what-if comparison (core/whatif.py) and the review's threshold suggestions
use it.

The replay reuses the engine unchanged; only the log it is given and ``now`` differ:

* Every row starts at L1 with no Escalated at. Triggers fire only on open rows, so each
  trigger is evaluated on the rows as if still open (Resolved at and Status cleared), on
  its own, with every trigger set to ``flag``; its Escalate by is when the escalation
  falls due. A trigger *escalates* a row when that time is not after ``now`` and comes
  before the row was resolved. The row goes to the highest level such triggers ask for,
  at the earliest such time (the policy followed to the letter).
* Rows that reach L2 are evaluated once more at L2 (from that time) for the triggers that
  lead on to L3 (L2 silent, Beyond L2 authority), in the same way.
* Finally the rows, with the levels and times the replay gave them and their real
  Resolved at, are evaluated once more (with History, so customer pauses count) for
  their Response SLA and Resolution SLA at that level.

Rows opened in the month are reported; rows opened up to 31 days either side are
replayed with them, so a repeat-issue cluster across the month's edge still counts.
Both policies get the same replay, so the comparison is like for like (it can differ
from what History records, where people escalated by hand or late).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from sheets_escalation.core.clock import Duration
from sheets_escalation.core.engine import evaluate
from sheets_escalation.core.months import month_bounds
from sheets_escalation.core.policy import Policy, TriggerRule
from sheets_escalation.core.review_answers import ThresholdOption

CONTEXT = pd.Timedelta(days=31)  # rows replayed beyond the month, for repeat clusters
THRESHOLD_KINDS: tuple[str, ...] = ("financial_loss_over", "unresolved_for", "repeat_issue")
DURATION_FACTORS: tuple[float, ...] = (1.5, 2.0, 3.0)
MAX_AMOUNTS = 6  # amount thresholds tried per trigger
UTC = "UTC"


# -- the replay ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Escalation:
    due: pd.Series  # when the trigger escalates each row (NaT where it does not)
    to_level: int


def _empty_times(index: pd.Index) -> pd.Series:
    return pd.Series(pd.NaT, index=index, dtype="datetime64[ns, UTC]")


class Replayer:
    """Replays one set of rows under one policy (its calendar, levels and VIPs) as of
    ``now``; the triggers may be swapped (:meth:`escalations`), which is how thresholds
    are tried. Single-trigger results at L1 are cached, so trying a threshold costs one
    engine run."""

    def __init__(self, log: pd.DataFrame, policy: Policy, now: pd.Timestamp,
                 history: pd.DataFrame | None = None) -> None:
        self.log = log.reset_index(drop=True)
        self.policy = policy
        self.now = pd.Timestamp(now).tz_convert(UTC)
        self.history = history
        self.resolved_at = self.log["resolved_at"]
        self.probe = self.log.assign(level=1, escalated_at=_empty_times(self.log.index),
                                     resolved_at=_empty_times(self.log.index), status="")
        self._first: dict[TriggerRule, _Escalation] = {}

    def _escalation(self, rule: TriggerRule, probe: pd.DataFrame) -> _Escalation:
        alone = replace(self.policy, triggers=(replace(rule, auto=False, enabled=True),))
        result = evaluate(probe, alone, self.now).result
        due = result["escalate_by"]
        before_resolved = (self.resolved_at.isna() | (due < self.resolved_at)).to_numpy()
        happens = (due.notna() & (due <= self.now)).to_numpy() & before_resolved
        return _Escalation(due.where(happens), rule.to_level)

    def fired_at(self, rule: TriggerRule, probe: pd.DataFrame) -> pd.Series:
        """When ``rule`` fired on each row of ``probe`` (rows as if still open, at the level
        and level start the probe gives them); NaT where it has not fired by ``now``."""
        # With no timeframe, the time an escalation falls due is the time it fired.
        alone = replace(self.policy, triggers=(replace(
            rule, auto=False, enabled=True, timeframe_seconds=0.0, timeframe_business=False),))
        due = evaluate(probe, alone, self.now).result["escalate_by"]
        return due.where(due <= self.now)

    def _step(self, rules: Sequence[TriggerRule], probe: pd.DataFrame, level: int,
              cache: dict[TriggerRule, _Escalation] | None
              ) -> tuple[np.ndarray, pd.Series, pd.Series]:
        """Escalate the rows at ``level``: return their new level, when, and by what."""
        index = probe.index
        target = probe["level"].to_numpy(dtype=int).copy()
        when = _empty_times(index)
        names = pd.Series("", index=index, dtype=object)
        at_level = (probe["level"] == level).to_numpy()
        for rule in rules:
            if not rule.enabled or rule.to_level <= level or rule.from_level not in (None, level):
                continue
            found = cache.get(rule) if cache is not None else None
            if found is None:
                found = self._escalation(rule, probe)
                if cache is not None:
                    cache[rule] = found
            hit = found.due.notna().to_numpy() & at_level
            if not hit.any():
                continue
            target = np.where(hit, np.maximum(target, found.to_level), target)
            earlier = hit & (when.isna() | (found.due < when)).to_numpy(dtype=bool)
            when = when.where(~earlier, found.due)
            names[hit] = np.where(names[hit] != "", names[hit] + "; ", "") + rule.name
        return target, when, names

    def escalations(self, rules: Sequence[TriggerRule]) -> pd.DataFrame:
        """Given the triggers, return per row: level (after L1 and L2 escalations),
        escalated_at, by (trigger names, "; "-separated, ` → ` between the steps)."""
        level1, when1, by1 = self._step(rules, self.probe, 1, self._first)
        probe = self.probe.assign(level=level1, escalated_at=when1)
        level2, when2, by2 = self._step(rules, probe, 2, None)
        moved = level2 > level1
        by = by1.where(~moved, np.where(by1 != "", by1 + " → ", "") + by2)
        return pd.DataFrame({
            "level": np.where(moved, level2, level1),
            "escalated_at": when1.where(~moved, when2),
            "by": by,
            "first_by": by1,
        }, index=self.log.index)

    def outcome(self) -> pd.DataFrame:
        """Return per row: id, level, escalated_at, by, and the response and resolution
        SLA (state and due) at the level the replay reached."""
        escalated = self.escalations(self.policy.triggers)
        final = self.log.assign(level=escalated["level"], escalated_at=escalated["escalated_at"])
        flags = replace(self.policy, triggers=tuple(replace(r, auto=False)
                                                    for r in self.policy.triggers))
        result = evaluate(final, flags, self.now, self.history).result
        return pd.DataFrame({
            "id": result["id"], "level": escalated["level"],
            "escalated_at": escalated["escalated_at"], "by": escalated["by"],
            "response_sla": result["response_sla"], "resolution_sla": result["resolution_sla"],
            "response_due": result["response_due"], "resolution_due": result["resolution_due"],
        }, index=self.log.index)


def month_rows(log: pd.DataFrame, month: str, timezone: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Given the log and a month, return the rows replayed (opened within 31 days of the
    month) and which of them were opened in the month."""
    start, end = month_bounds(month, timezone)
    opened = log["opened"]
    context = ((opened >= start - CONTEXT) & (opened < end + CONTEXT)).to_numpy(
        dtype=bool, na_value=False)
    rows = log[context].reset_index(drop=True)
    inside = ((rows["opened"] >= start) & (rows["opened"] < end)).to_numpy(dtype=bool)
    return rows, inside


# -- threshold suggestions for the monthly review ---------------------------------------------


def _nice_ceiling(value: float) -> float:
    """Round up to two significant figures (617 -> 620, 7_349 -> 7_400)."""
    if value <= 0:
        return value
    step = 10 ** max(math.floor(math.log10(value)) - 1, 0)
    return float(math.ceil(value / step) * step)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


class MonthReplay:
    """The review's :class:`~sheets_escalation.core.review_answers.ThresholdReplay`: the month's rows
    replayed under today's policy, and with one trigger's threshold changed."""

    def __init__(self, log: pd.DataFrame, policy: Policy, now: pd.Timestamp,
                 month: str) -> None:
        """Given the log (with the IDs the evaluation assigned), today's policy, ``now``
        and the month; nothing is replayed until asked."""
        rows, inside = month_rows(log, month, policy.timezone)
        self.log = log.reset_index(drop=True)
        self.rows = rows
        self.inside = inside
        self.policy = policy
        self.replayer = Replayer(rows, policy, now)
        self.ids = rows["id"].str.casefold()

    def _rules(self) -> list[TriggerRule]:
        return [r for r in self.policy.triggers if r.enabled and r.kind in THRESHOLD_KINDS
                and r.from_level in (None, 1)]

    def _escalated(self, rules: Sequence[TriggerRule]) -> pd.DataFrame:
        escalated = self.replayer.escalations(rules)
        return escalated[self.inside].assign(id=self.ids[self.inside])

    def attribution(self) -> Mapping[str, tuple[str, ...]]:
        """Return casefolded ID -> the numeric-threshold triggers escalating it from L1."""
        escalated = self._escalated(self._rules())
        return {key: tuple(by.split("; ")) for key, by in
                zip(escalated["id"], escalated["first_by"], strict=True) if by}

    def fired_before(self, moves: pd.DataFrame) -> list[tuple[str, ...]]:
        """Given escalations (columns id, from_level, at, and start: when the row reached
        from_level, NaT at L1), return for each the triggers that had fired on its row by
        the moment it moved, in the policy's order; () for a row no longer in the log."""
        names: list[tuple[str, ...]] = [()] * len(moves)
        if moves.empty:
            return names
        keys = self.log["id"].astype(str).str.casefold()
        last = pd.Series(np.arange(len(self.log)), index=keys)
        last = last[~last.index.duplicated(keep="last")]
        wanted = moves["id"].astype(str).str.casefold()
        known = wanted.isin(last.index).to_numpy()
        # Rows opened near the moved ones, for repeat-issue clusters (as the month's replay).
        opened = self.log["opened"]
        moved = self.log.iloc[last[wanted[known]].to_numpy()]
        low, high = moved["opened"].min() - CONTEXT, moved["opened"].max() + CONTEXT
        near = ((opened >= low) & (opened <= high)).to_numpy(dtype=bool, na_value=False)
        for from_level in sorted(set(moves["from_level"][known].astype(int))):
            chosen = np.flatnonzero(known & (moves["from_level"] == from_level).to_numpy())
            positions = last[wanted.iloc[chosen]].to_numpy()
            context = np.flatnonzero(near & ~np.isin(np.arange(len(self.log)), positions))
            rows = self.log.iloc[np.concatenate([positions, context])].reset_index(drop=True)
            replayer = Replayer(rows, self.policy, self.replayer.now)
            starts = pd.Series(_empty_times(rows.index))
            starts.iloc[:len(chosen)] = pd.to_datetime(
                moves["start"].iloc[chosen], utc=True).to_numpy()
            level = np.where(np.arange(len(rows)) < len(chosen), from_level, 1)
            probe = replayer.probe.assign(level=level,
                                          escalated_at=starts.where(level > 1))
            at = pd.to_datetime(moves["at"].iloc[chosen], utc=True).reset_index(drop=True)
            found: list[list[str]] = [[] for _ in chosen]
            for rule in self.policy.triggers:
                if (not rule.enabled or rule.to_level <= from_level
                        or rule.from_level not in (None, from_level)):
                    continue
                fired = replayer.fired_at(rule, probe).iloc[:len(chosen)].reset_index(drop=True)
                for offset in np.flatnonzero((fired <= at).to_numpy(dtype=bool,
                                                                     na_value=False)).tolist():
                    found[offset].append(rule.name)
            for offset, position in enumerate(chosen.tolist()):
                names[position] = tuple(found[offset])
        return names

    def options(self, trigger: str) -> Sequence[ThresholdOption]:
        """Return the thresholds tried for ``trigger`` (higher than today's, smallest
        first) with the IDs the replay still escalates under each."""
        rule = next((r for r in self._rules() if r.name == trigger), None)
        if rule is None:
            return []
        options = []
        for candidate, change in self._candidates(rule):
            rules = [candidate if r is rule else r for r in self.policy.triggers]
            escalated = self._escalated(rules)
            ids = frozenset(escalated["id"][escalated["level"] > 1])
            options.append(ThresholdOption(change, ids))
        return options

    def _candidates(self, rule: TriggerRule) -> list[tuple[TriggerRule, str]]:
        if rule.kind == "financial_loss_over" and rule.amount is not None:
            amounts = self.rows["financial_impact"][self.inside]
            above = sorted({_nice_ceiling(float(a)) for a in amounts if a > rule.amount})
            return [(replace(rule, amount=a, parameter=_number(a)),
                     f"{rule.name} over {_number(rule.amount)} → {_number(a)}")
                    for a in above[:MAX_AMOUNTS]]
        if rule.kind == "unresolved_for" and rule.duration is not None:
            longer = [Duration(rule.duration.amount * f, rule.duration.unit)
                      for f in DURATION_FACTORS]
            return [(replace(rule, duration=d, parameter=str(d)),
                     f"{rule.name} after {rule.duration} → {d}") for d in longer]
        if rule.kind == "repeat_issue" and rule.repeat_count is not None:
            window = rule.repeat_window
            return [(replace(rule, repeat_count=n, parameter=f"{n} customers in {window}"),
                     f"{rule.name} at {rule.repeat_count} → {n} customers in {window}")
                    for n in (rule.repeat_count + 1, rule.repeat_count + 2)]
        return []
