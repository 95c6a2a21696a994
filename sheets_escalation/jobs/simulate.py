"""What-if replay: the month's rows replayed from their timestamps under today's policy and
under a proposed one, compared in a `What-if YYYY-MM` tab (and an export).

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
from pathlib import Path

import numpy as np
import pandas as pd

from sheets_escalation.core import schema
from sheets_escalation.core.clock import Duration
from sheets_escalation.core.engine import evaluate
from sheets_escalation.core.errors import ConfigError, Located, UsageError
from sheets_escalation.core.policy import (
    Policy,
    TriggerRule,
    level_label,
    level_number,
    load_policy,
)
from sheets_escalation.core.review import (
    Chart,
    Format,
    Review,
    Section,
    ThresholdOption,
    default_month,
    month_bounds,
    parse_month,
)
from sheets_escalation.core.table import Backend, Table, WritePlan, header_index

CONTEXT = pd.Timedelta(days=31)  # rows replayed beyond the month, for repeat clusters
POLICY_TABS: tuple[str, ...] = (schema.LEVELS, schema.TRIGGERS, schema.SETTINGS,
                                schema.HOLIDAYS, schema.VIP)
THRESHOLD_KINDS: tuple[str, ...] = ("financial_loss_over", "unresolved_for", "repeat_issue")
DURATION_FACTORS: tuple[float, ...] = (1.5, 2.0, 3.0)
MAX_AMOUNTS = 6  # amount thresholds tried per trigger
BREACHED = ("Missed", "Overdue")
UTC = "UTC"


def what_if_tab(month: str) -> str:
    """Given "YYYY-MM", return the title of its what-if tab."""
    return f"What-if {month}"


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
    """The review's :class:`~sheets_escalation.core.review.ThresholdReplay`: the month's rows
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


# -- the proposed policy ----------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyChange:
    """One cell of the policy tabs that differs in the proposal."""

    what: str  # "Triggers: Financial loss · Parameter"
    today: str
    proposed: str


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _defaults(tab: str) -> Table:
    """The template's rows of a policy tab, for a workbook that lacks it."""
    if tab == schema.LEVELS:
        rows = [list(schema.LEVELS_HEADERS), *map(list, schema.DEFAULT_LEVELS)]
    elif tab == schema.TRIGGERS:
        rows = [list(schema.TRIGGERS_HEADERS), *map(list, schema.DEFAULT_TRIGGERS)]
    else:
        # A blank Timezone keeps the spreadsheet's own zone, as a missing tab would.
        rows = [list(schema.SETTINGS_HEADERS),
                *([k, "" if k == "Timezone" else v] for k, v in schema.DEFAULT_SETTINGS)]
    return Table(tab, [list(r) for r in rows])


def policy_tables(tabs: Mapping[str, Table]) -> dict[str, Table]:
    """Given the tabs read, return copies of the policy tabs (Levels, Triggers and
    Settings from the template where missing) that may be edited."""
    tables = {tab: Table(tab, [list(r) for r in tabs[tab].rows])
              for tab in POLICY_TABS if tab in tabs and tabs[tab].rows}
    for tab in (schema.LEVELS, schema.TRIGGERS, schema.SETTINGS):
        tables.setdefault(tab, _defaults(tab))
    return tables


def _key_column(tab: str) -> str:
    return {schema.LEVELS: "Level", schema.TRIGGERS: "Trigger", schema.SETTINGS: "Key"}[tab]


def _find_row(table: Table, header: str, wanted: str) -> int | None:
    """The 0-based row of ``table`` whose ``header`` cell names ``wanted``."""
    column = header_index(table.header).get(schema.normalize_header(header))
    if column is None:
        return None
    for offset, row in enumerate(table.body, start=1):
        cell = _text(row[column]) if column < len(row) else ""
        if header == "Level":
            if cell and level_number(cell) == level_number(wanted):
                return offset
        elif schema.normalize_header(cell) == schema.normalize_header(wanted):
            return offset
    return None


def apply_set(tables: dict[str, Table], text: str) -> None:
    """Apply one ``--set`` to the policy tables: ``L1.Response time=2 business hours``
    (a Levels cell), ``Financial loss.Parameter=800`` (a Triggers cell),
    ``Settings.At risk at=80%`` or ``At risk at=80%`` (a setting). Raise UsageError,
    quoting the --set, if it names no level, trigger, header or setting."""
    def fail(why: str) -> UsageError:
        return UsageError(f'--set "{text}": {why}')

    left, equals, value = text.partition("=")
    if not equals or not left.strip():
        raise fail('write it as WHAT=VALUE, e.g. "L1.Response time=2 business hours"')
    left, value = left.strip(), value.strip()
    name, dot, header = left.rpartition(".")
    settings = tables[schema.SETTINGS]
    known_settings = {schema.normalize_header(k) for k, _ in schema.DEFAULT_SETTINGS}
    if not dot or name.strip().casefold() == "settings":
        key = header.strip()
        row = _find_row(settings, "Key", key)
        if row is None and schema.normalize_header(key) not in known_settings:
            raise fail(f'no level, trigger or setting called "{left}" (e.g. '
                       '"L2.Resolution target", "Financial loss.Parameter", "At risk at")')
        _put(settings, "Key", key, "Value", value, row)
        return
    name, header = name.strip(), header.strip()
    if level_number(name) is not None:
        tab, key_header, headers = schema.LEVELS, "Level", schema.LEVELS_HEADERS
    else:
        tab, key_header, headers = schema.TRIGGERS, "Trigger", schema.TRIGGERS_HEADERS
    wanted = next((h for h in headers if schema.normalize_header(h)
                   == schema.normalize_header(header)), None)
    if wanted is None or wanted == key_header:
        raise fail(f'{tab} has no column "{header}" to change; use one of '
                   + ", ".join(h for h in headers if h != key_header))
    table = tables[tab]
    row = _find_row(table, key_header, name)
    if row is None:
        raise fail(f'no {"level" if tab == schema.LEVELS else "trigger"} called "{name}" '
                   f"in {tab}")
    _put(table, key_header, name, wanted, value, row)


def _put(table: Table, key_header: str, key: str, header: str, value: str,
         row: int | None) -> None:
    index = header_index(table.header)
    if schema.normalize_header(header) not in index:
        table.rows[0] = [*table.rows[0], header]
        index = header_index(table.header)
    column = index[schema.normalize_header(header)]
    if row is None:
        table.rows.append([None] * (max(index.values()) + 1))
        row = len(table.rows) - 1
        table.rows[row][index[schema.normalize_header(key_header)]] = key
    cells = table.rows[row]
    cells.extend([None] * (column + 1 - len(cells)))
    cells[column] = value


def policy_changes(today: Mapping[str, Table], proposed: Mapping[str, Table]
                   ) -> list[PolicyChange]:
    """Given two sets of policy tables, return the cells of Levels, Triggers and Settings
    that differ (by row key and header), Last run left out."""
    changes = []
    for tab in (schema.LEVELS, schema.TRIGGERS, schema.SETTINGS):
        key_header = _key_column(tab)
        before, after = _keyed(today[tab], key_header), _keyed(proposed[tab], key_header)
        for key in [*before, *(k for k in after if k not in before)]:
            if tab == schema.SETTINGS and schema.normalize_header(key) == "lastrun":
                continue
            old, new = before.get(key), after.get(key)
            if old is None or new is None:
                changes.append(PolicyChange(f"{tab}: {key}", "(none)" if old is None else
                                            "row present", "(none)" if new is None
                                            else "row added"))
                continue
            for header in dict.fromkeys([*old, *new]):
                if header == key_header or old.get(header, "") == new.get(header, ""):
                    continue
                what = f"{tab}: {key}" if tab == schema.SETTINGS else f"{tab}: {key} · {header}"
                changes.append(PolicyChange(what, old.get(header, ""), new.get(header, "")))
    return changes


def _keyed(table: Table, key_header: str) -> dict[str, dict[str, str]]:
    headers = [_text(h) for h in table.header]
    rows: dict[str, dict[str, str]] = {}
    for row in table.body:
        cells = {h: _text(row[i]) if i < len(row) else "" for i, h in enumerate(headers) if h}
        key = next((v for h, v in cells.items()
                    if schema.normalize_header(h) == schema.normalize_header(key_header)), "")
        if key:
            if key_header == "Level" and level_number(key) is not None:
                key = level_label(int(level_number(key) or 1))
            rows.setdefault(key, cells)
    return rows


def _relocate(error: ConfigError, where: str, sets: Sequence[str]) -> ConfigError:
    """The proposal's policy errors, saying where the proposal came from."""
    suffix = f" (with --set {', '.join(repr(s) for s in sets)})" if sets else ""
    return ConfigError([Located(f"{where}{p.tab}" if p.tab else where.strip(), p.cell,
                                p.message + suffix) for p in error.problems])


# -- the comparison ---------------------------------------------------------------------------


def _outcome_text(row: pd.Series) -> str:
    level = int(row["level"])
    text = level_label(level)
    if level > 1:
        text += f" by {row['by']}" if row["by"] else ""
    return f"{text}; response {row['response_sla'] or 'n/a'}; resolution " \
        f"{row['resolution_sla'] or 'n/a'}"


def _stamp(value: object, timezone: str) -> str:
    if value is None or value is pd.NaT or not isinstance(value, pd.Timestamp):
        return "none"
    return value.tz_convert(timezone).strftime("%Y-%m-%d %H:%M")


def _why(today: pd.Series, proposed: pd.Series, row: pd.Series, timezone: str) -> str:
    reasons = []
    if today["level"] != proposed["level"] or today["by"] != proposed["by"]:
        def said(outcome: pd.Series) -> str:
            if int(outcome["level"]) == 1:
                return "it stays at L1 (no trigger escalates it before it is resolved)"
            return (f"{outcome['by']} escalates it to {level_label(int(outcome['level']))} "
                    f"at {_stamp(outcome['escalated_at'], timezone)}")
        reasons.append(f"today {said(today)}; proposed: {said(proposed)}")
    for target, met_at in (("response", row["first_response_at"]),
                           ("resolution", row["resolved_at"])):
        if today[f"{target}_sla"] != proposed[f"{target}_sla"]:
            verb = "answered" if target == "response" else "resolved"
            done = (f"{verb} {_stamp(met_at, timezone)}" if isinstance(met_at, pd.Timestamp)
                    else f"not {verb} yet")
            reasons.append(
                f"{target} {today[f'{target}_sla'] or 'n/a'} → "
                f"{proposed[f'{target}_sla'] or 'n/a'}: due "
                f"{_stamp(today[f'{target}_due'], timezone)} → "
                f"{_stamp(proposed[f'{target}_due'], timezone)}, {done}")
    return "; ".join(reasons)


def _counts(outcome: pd.DataFrame) -> dict[str, int]:
    return {
        "Escalations": int((outcome["level"] > 1).sum()),
        "Escalations to L3": int((outcome["level"] == 3).sum()),
        "Response breaches": int(outcome["response_sla"].isin(BREACHED).sum()),
        "Resolution breaches": int(outcome["resolution_sla"].isin(BREACHED).sum()),
    }


def _within(outcome: pd.DataFrame, target: str) -> float | None:
    states = outcome[f"{target}_sla"]
    met = int((states == "Met").sum())
    judged = met + int(states.isin(BREACHED).sum())
    return None if judged == 0 else met / judged


def _month_name(month: str) -> str:
    return pd.Timestamp(f"{month}-01").strftime("%B %Y")


def _difference(today: int, proposed: int, noun: str, more: str, fewer: str) -> str:
    change = proposed - today
    if change == 0:
        return f"the same {noun} ({today})"
    word = more if change > 0 else fewer
    return f"{abs(change)} {word} {noun} ({today} → {proposed})"


def build_what_if(log: pd.DataFrame, history: pd.DataFrame | None, today: Policy,
                  proposed: Policy, month: str, now: pd.Timestamp, label: str,
                  changes: Sequence[PolicyChange] = ()) -> Review:
    """Given the parsed log, History, today's and the proposed policy, a month, ``now``
    and how the proposal was given, return the what-if comparison as a Review whose tab
    is `What-if YYYY-MM` (rendered and exported like the monthly review)."""
    month = parse_month(month)
    timezone = today.timezone
    rows, inside = month_rows(log, month, timezone)
    title = f"What-if {month} ({_month_name(month)}): today's policy vs {label}"
    policy_section = Section(
        "Policy changes",
        pd.DataFrame([[c.what, c.today, c.proposed] for c in changes],
                     columns=["What", "Today", "Proposed"]),
        {"What": "text", "Today": "text", "Proposed": "text"},
        note="" if changes else "The proposal changes no cell of Levels, Triggers or Settings.")
    if not inside.any():
        return Review(month, title, [("Rows opened in the month", 0), ("Proposed", label)],
                      [policy_section],
                      [f"No rows were opened in {_month_name(month)}: there is nothing to "
                       "replay."], True, {"Proposed": "text"}, what_if_tab(month))
    before = Replayer(rows, today, now, history).outcome()[inside].reset_index(drop=True)
    after = Replayer(rows, proposed, now, history).outcome()[inside].reset_index(drop=True)
    month_log = rows[inside].reset_index(drop=True)

    counts_before, counts_after = _counts(before), _counts(after)
    counts = pd.DataFrame({
        "Measure": list(counts_before),
        "Today": list(counts_before.values()),
        "Proposed": list(counts_after.values()),
    })
    counts["Change"] = counts["Proposed"] - counts["Today"]
    within = pd.DataFrame({
        "Target": ["Response", "Resolution"],
        "Today": pd.Series([_within(before, "response"), _within(before, "resolution")],
                           dtype=object),
        "Proposed": pd.Series([_within(after, "response"), _within(after, "resolution")],
                              dtype=object),
    })
    keys = ["level", "response_sla", "resolution_sla", "by"]
    positions = np.flatnonzero((before[keys] != after[keys]).any(axis=1).to_numpy()).tolist()
    changed = pd.DataFrame(
        [[before["id"].iat[p], month_log["customer"].iat[p], month_log["issue_type"].iat[p],
          _outcome_text(before.iloc[p]), _outcome_text(after.iloc[p]),
          _why(before.iloc[p], after.iloc[p], month_log.iloc[p], timezone)]
         for p in positions],
        columns=["ID", "Customer", "Issue type", "Today", "Proposed", "Why"])

    headline: list[tuple[str, object]] = [
        ("Rows opened in the month", int(inside.sum())),
        ("Proposed", label),
        ("Escalations today", counts_before["Escalations"]),
        ("Escalations proposed", counts_after["Escalations"]),
        ("SLA breaches today", counts_before["Response breaches"]
         + counts_before["Resolution breaches"]),
        ("SLA breaches proposed", counts_after["Response breaches"]
         + counts_after["Resolution breaches"]),
        ("Resolution within target today", within["Today"].iat[1]),
        ("Resolution within target proposed", within["Proposed"].iat[1]),
        ("Rows whose outcome changes", len(changed)),
    ]
    formats: dict[str, Format] = {"Proposed": "text", "Resolution within target today": "pct",
                                  "Resolution within target proposed": "pct"}
    sections = [
        Section("Today vs proposed", counts,
                {"Measure": "text", "Today": "int", "Proposed": "int", "Change": "int"},
                Chart("bar", "Measure", ("Today", "Proposed"), "Escalations and breaches"),
                "The month's rows replayed from their timestamps under each policy."),
        Section("Within target", within, {"Target": "text", "Today": "pct", "Proposed": "pct"},
                Chart("bar", "Target", ("Today", "Proposed"), "Share within target", "pct"),
                "Met / (Met + Missed + Overdue); targets still running are not judged."),
        policy_section,
        Section("Rows whose outcome changes", changed.reset_index(drop=True),
                {c: "text" for c in changed.columns},
                note="" if len(changed) else "No row's outcome changes."),
    ]
    breaches_before = counts_before["Response breaches"] + counts_before["Resolution breaches"]
    breaches_after = counts_after["Response breaches"] + counts_after["Resolution breaches"]
    summary = (f"In {_month_name(month)} the proposed policy gives "
               + _difference(counts_before["Escalations"],
                             counts_after["Escalations"], "escalations", "more", "fewer")
               + " and "
               + _difference(breaches_before, breaches_after, "SLA breaches",
                             "more", "fewer")
               + f"; {len(changed)} of {int(inside.sum())} rows change outcome.")
    return Review(month, title, headline, sections, [summary], False, formats,
                  what_if_tab(month))


# -- the job ----------------------------------------------------------------------------------


@dataclass
class SimulateResult:
    review: Review
    plan: WritePlan
    month: str


def run_simulate(backend: Backend, now: pd.Timestamp, month: str | None, *,
                 sets: Sequence[str] = (), other: Backend | None = None,
                 export_path: Path | None = None, write_tab: bool = True) -> SimulateResult:
    """Replay ``month`` (None: the last full month) under the policy of ``other`` (its
    Levels, Triggers, Settings, Holidays and VIP tabs; tabs it lacks are today's) with
    ``sets`` applied on top, against today's policy; write only the `What-if YYYY-MM`
    tab (unless not ``write_tab``) and export it if asked. Raise UsageError (no proposal,
    a bad --set, month or export suffix) or ConfigError (the proposal's policy is
    broken); nothing is written then."""
    # Imported here: the replay itself (and the review's threshold search) needs neither
    # the workbook job nor the renderers.
    from sheets_escalation.adapters.export.formats import SUFFIXES, export
    from sheets_escalation.jobs.review import write_review_tab
    from sheets_escalation.jobs.sync import load

    if not sets and other is None:
        raise UsageError("give the proposed policy: --policy OTHER.xlsx and/or --set "
                         '"L1.Response time=2 business hours"')
    if export_path is not None and export_path.suffix.lower() not in SUFFIXES:
        raise UsageError(f"cannot export to {export_path.name}: use "
                         + ", ".join(SUFFIXES))
    with backend.lock():
        workbook = load(backend, now)
        try:
            chosen = parse_month(month) if month else default_month(workbook.now,
                                                                    workbook.policy.timezone)
        except ValueError as error:
            raise UsageError(str(error)) from error
        today_tables = policy_tables(workbook.tabs)
        proposed_tabs = dict(workbook.tabs)
        where = ""
        labels = []
        if other is not None:
            read = other.read(POLICY_TABS)
            proposed_tabs.update({t: read[t] for t in POLICY_TABS if t in read})
            where = f"[{other.name}]"
            labels.append(f"the policy in {other.name}")
        proposed_tables = policy_tables(proposed_tabs)
        for text in sets:
            apply_set(proposed_tables, text)
        if sets:
            labels.append("; ".join(sets))
        proposed_tabs.update(proposed_tables)
        try:
            proposed = load_policy(proposed_tabs,
                                   spreadsheet_timezone=backend.spreadsheet_timezone())
        except ConfigError as error:
            raise _relocate(error, where, sets) from error
        review = build_what_if(workbook.log, workbook.history, workbook.policy, proposed,
                               chosen, workbook.now, " with ".join(labels),
                               policy_changes(today_tables, proposed_tables))
        plan = write_review_tab(backend, review) if write_tab else WritePlan()
    if export_path is not None:
        export(review, export_path)
    return SimulateResult(review, plan, chosen)
