"""The what-if comparison: the proposed policy built from today's tabs (another workbook's
policy tabs, `--set` edits), the cells it changes, and the month replayed under both
policies (core/replay.py) laid out as a `What-if YYYY-MM` review.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sheets_escalation.core import schema
from sheets_escalation.core.errors import ConfigError, UsageError
from sheets_escalation.core.levels import level_label, level_number
from sheets_escalation.core.months import month_name, parse_month
from sheets_escalation.core.policy import Policy
from sheets_escalation.core.problems import Problem
from sheets_escalation.core.replay import Replayer, month_rows
from sheets_escalation.core.review import Chart, Format, Review, Section
from sheets_escalation.core.table import Table, header_index
from sheets_escalation.core.text import cell_text, local_minute

POLICY_TABS: tuple[str, ...] = (schema.LEVELS, schema.TRIGGERS, schema.SETTINGS,
                                schema.HOLIDAYS, schema.VIP)
BREACHED = ("Missed", "Overdue")


def what_if_tab(month: str) -> str:
    """Given "YYYY-MM", return the title of its what-if tab."""
    return f"What-if {month}"

# -- the proposed policy ----------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyChange:
    """One cell of the policy tabs that differs in the proposal."""

    what: str  # "Triggers: Financial loss · Parameter"
    today: str
    proposed: str


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
        cell = cell_text(row[column]) if column < len(row) else ""
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
    headers = [cell_text(h) for h in table.header]
    rows: dict[str, dict[str, str]] = {}
    for row in table.body:
        cells = {h: cell_text(row[i]) if i < len(row) else "" for i, h in enumerate(headers) if h}
        key = next((v for h, v in cells.items()
                    if schema.normalize_header(h) == schema.normalize_header(key_header)), "")
        if key:
            if key_header == "Level" and level_number(key) is not None:
                key = level_label(int(level_number(key) or 1))
            rows.setdefault(key, cells)
    return rows


def relocate(error: ConfigError, where: str, sets: Sequence[str]) -> ConfigError:
    """Given the proposal's policy errors, where the proposal came from and its --set
    texts, return the errors saying where they came from."""
    suffix = f" (with --set {', '.join(repr(s) for s in sets)})" if sets else ""
    return ConfigError([Problem(f"{where}{p.tab}" if p.tab else where.strip(), p.cell,
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
    return local_minute(value, timezone)


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
    title = f"What-if {month} ({month_name(month)}): today's policy vs {label}"
    policy_section = Section(
        "Policy changes",
        pd.DataFrame([[c.what, c.today, c.proposed] for c in changes],
                     columns=["What", "Today", "Proposed"]),
        {"What": "text", "Today": "text", "Proposed": "text"},
        note="" if changes else "The proposal changes no cell of Levels, Triggers or Settings.")
    if not inside.any():
        return Review(month, title, [("Rows opened in the month", 0), ("Proposed", label)],
                      [policy_section],
                      [f"No rows were opened in {month_name(month)}: there is nothing to "
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
    summary = (f"In {month_name(month)} the proposed policy gives "
               + _difference(counts_before["Escalations"],
                             counts_after["Escalations"], "escalations", "more", "fewer")
               + " and "
               + _difference(breaches_before, breaches_after, "SLA breaches",
                             "more", "fewer")
               + f"; {len(changed)} of {int(inside.sum())} rows change outcome.")
    return Review(month, title, headline, sections, [summary], False, formats,
                  what_if_tab(month))
