"""The review's tables (the definitions are in core/review.py's docstring): the log and
History as frames, every escalation once per (ID, to-level) with the triggers behind it,
and one table per section of the review.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np
import pandas as pd

from sheets_escalation.core import schema
from sheets_escalation.core.levels import level_numbers
from sheets_escalation.core.months import shift_month

TREND_MONTHS = 3  # earlier months shown in the trend, and averaged for the headline change
QUICK_HOURS = 1.0  # resolved this soon after escalation: likely handled at L1
QUICK_TYPE_HOURS = 2.0  # "resolved quickly at L2" for the issue-type rule
QUICK_TYPE_SHARE = 0.8
QUICK_TYPE_MIN_ROWS = 3

LOG_EDIT = "Level edited in the sheet"
MANUAL = "Manual (escalate command)"
NO_TRIGGER = "No trigger had fired"
NO_TRIGGER_REASON = "Raised by a person with no trigger fired"
MIN_BASE = 5  # below this many escalations a change is said in counts, not percent
# How an escalation happened, as History and the log tell it.
AUTOMATIC, COMMAND, BY_HAND = "automatic", "escalate command", "raised by hand"
HOW_COLUMNS = {AUTOMATIC: "Automatic", COMMAND: "Escalate command", BY_HAND: "Raised by hand"}
NOT_IN_LOG = "(no longer in the log)"
BLANK = "(blank)"


class TriggerReplay(Protocol):
    """The rows replayed from their timestamps (core/replay.py): which triggers had fired on
    a row when it moved up."""

    def fired_before(self, moves: pd.DataFrame) -> list[tuple[str, ...]]:
        """Given escalations (columns id, from_level, at, start), return for each the
        names of the triggers that had fired on its row by ``at``."""
        ...


def log_rows(log: pd.DataFrame, result: pd.DataFrame) -> pd.DataFrame:
    """The log with the evaluation's columns on top (level and Escalated at after
    automatic escalations, assigned IDs)."""
    rows = log.copy()
    for column in result.columns:
        rows[column] = result[column]
    for column, default in (
        ("id", ""), ("issue_type", ""), ("issue_key", ""), ("customer", ""),
        ("response_sla", ""), ("resolution_sla", ""),
    ):
        if column not in rows:
            rows[column] = default
        rows[column] = rows[column].fillna("").astype(str).str.strip()
    for column in ("opened", "escalated_at", "resolved_at"):
        if column not in rows:
            rows[column] = pd.NaT
        rows[column] = pd.to_datetime(rows[column], utc=True)
    for column in ("response_hours", "resolution_hours"):
        if column not in rows:
            rows[column] = np.nan
        rows[column] = pd.to_numeric(rows[column], errors="coerce")
    if "could_l1_resolve" not in rows:
        rows["could_l1_resolve"] = False
    rows["could_l1_resolve"] = rows["could_l1_resolve"].fillna(False).astype(bool)
    if "level" not in rows:
        rows["level"] = 1
    rows["level"] = pd.to_numeric(rows["level"], errors="coerce").fillna(1).astype(int)
    if "sheet_row" in rows:
        unnamed = rows["id"] == ""
        rows.loc[unnamed, "id"] = "(row " + rows.loc[unnamed, "sheet_row"].astype(str) + ")"
    return rows.reset_index(drop=True)


def history_frame(history: pd.DataFrame) -> pd.DataFrame:
    """History with every expected column, text stripped and At as UTC."""
    frame = history.reindex(columns=list(schema.HISTORY_KEYS))
    for column in schema.HISTORY_KEYS[1:]:
        frame[column] = frame[column].fillna("").astype(str).str.strip()
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    frame["event"] = frame["event"].str.casefold()
    return frame.reset_index(drop=True)


def every_escalation(rows: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Every escalation ever, once per (ID, to-level): columns id, level, at, trigger
    (a list of names as History gives them), how (automatic, escalate command or raised
    by hand) and from_level."""
    escalated = history[history["event"] == "escalated"]
    command = escalated["trigger"].str.casefold() == "manual"
    from_history = pd.DataFrame({
        "id": escalated["id"],
        "level": level_numbers(escalated["to_level"]),
        "at": escalated["at"],
        "trigger": [_trigger_names(text) for text in escalated["trigger"]],
        "how": np.where(command, COMMAND, AUTOMATIC),
        "from_level": level_numbers(escalated["from_level"]),
        "rank": 0,
    })
    above = rows[(rows["level"] >= 2) & rows["escalated_at"].notna()]
    from_log = pd.DataFrame({
        "id": above["id"], "level": above["level"], "at": above["escalated_at"],
        "trigger": [[LOG_EDIT]] * len(above), "how": BY_HAND, "from_level": np.nan, "rank": 1,
    })
    changed = history[history["event"] == "level changed"]
    upward = changed[level_numbers(changed["to_level"]) > level_numbers(changed["from_level"])]
    from_changes = pd.DataFrame({
        "id": upward["id"], "level": level_numbers(upward["to_level"]), "at": upward["at"],
        "trigger": [[LOG_EDIT]] * len(upward), "how": BY_HAND,
        "from_level": level_numbers(upward["from_level"]), "rank": 2,
    })
    frames = [f for f in (from_history, from_log, from_changes) if len(f)]
    if not frames:
        return pd.DataFrame({
            "id": pd.Series(dtype=str), "level": pd.Series(dtype=int),
            "at": pd.Series(dtype="datetime64[ns, UTC]"), "trigger": pd.Series(dtype=object),
            "how": pd.Series(dtype=str), "from_level": pd.Series(dtype=int),
        })
    every = pd.concat(frames, ignore_index=True)
    every = every[(every["id"] != "") & every["level"].notna() & every["at"].notna()]
    every = every.astype({"level": int}).sort_values(["rank", "at"], kind="stable")
    every = every.drop_duplicates(["id", "level"], keep="first")
    every = every.drop(columns="rank").sort_values(["at", "id"], kind="stable")
    # A move found only in the log came from the ID's previous level (L1 if none).
    before = every.groupby("id", sort=False)["level"].shift(1)
    known = every["from_level"].where(every["from_level"] < every["level"])
    every["from_level"] = known.fillna(before).fillna(1).astype(int)
    return every.reset_index(drop=True)


def attribute_triggers(in_month: pd.DataFrame, every: pd.DataFrame, rows: pd.DataFrame,
               replay: TriggerReplay | None) -> pd.DataFrame:
    """The month's escalations with ``trigger`` (names) and ``label`` (as people read it):
    automatic ones keep History's trigger; those a person made (escalate command, Level
    raised by hand) get the triggers the replay says had fired on the row by then."""
    trigger = list(in_month["trigger"])
    # A row gone from the log cannot be replayed; it keeps the name of how it moved.
    people = np.flatnonzero(((in_month["how"] != AUTOMATIC)
                             & in_month["id"].isin(set(rows["id"]))).to_numpy())
    if replay is not None and len(people):
        moves = in_month.iloc[people]
        reached = every.set_index(["id", "level"])["at"]
        logged = rows.drop_duplicates("id", keep="last").set_index("id")["escalated_at"]
        starts = pd.Series([
            reached.get((ident, level), logged.get(ident, pd.NaT)) if level >= 2 else pd.NaT
            for ident, level in zip(moves["id"], moves["from_level"].astype(int), strict=True)
        ], index=moves.index, dtype=object)
        names = replay.fired_before(moves.assign(start=pd.to_datetime(starts, utc=True))[
            ["id", "from_level", "at", "start"]])
        for position, fired in zip(people.tolist(), names, strict=True):
            trigger[position] = list(fired) or [NO_TRIGGER]
    labels = []
    for names, how in zip(trigger, in_month["how"], strict=True):
        if names in ([LOG_EDIT], [MANUAL]):
            labels.append(names[0])
        elif names == [NO_TRIGGER]:
            labels.append(f"{'escalate command' if how == COMMAND else 'by hand'}, "
                          "no trigger had fired")
        else:
            labels.append(f"{'; '.join(names)} ({how})")
    return in_month.assign(trigger=trigger, label=labels)


def _trigger_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(";") if name.strip()]
    return [MANUAL if name.casefold() == "manual" else name for name in names] or ["(none recorded)"]


def trend_table(escalations: pd.DataFrame, month: str, timezone: str) -> pd.DataFrame:
    """Escalations per local month for M and the TREND_MONTHS before, with the change
    against each month's predecessor (None where that had none)."""
    local = escalations["at"].dt.tz_convert(timezone).dt.strftime("%Y-%m")
    counts = local.value_counts()
    months = [shift_month(month, -k) for k in range(TREND_MONTHS, -1, -1)]
    before = int(counts.get(shift_month(month, -TREND_MONTHS - 1), 0))
    values = [int(counts.get(m, 0)) for m in months]
    changes = [relative_change(v, p) if p >= MIN_BASE else None
               for v, p in zip(values, [before, *values[:-1]], strict=True)]
    return pd.DataFrame({
        "Month": months, "Escalations": values,
        "Change vs previous month": pd.Series(changes, dtype=object),
    })


def relative_change(value: float, base: float) -> float | None:
    """Relative change from base to value; None when base is zero (no percentage exists)."""
    return None if base == 0 else (value - base) / base


def share_of(total: pd.Series, hits: pd.Series) -> float | None:
    """Given the judged counts and the hits among them, return hits / judged over all
    rows; None when nothing was judged."""
    denominator = int(total.sum())
    return None if denominator == 0 else int(hits.sum()) / denominator


def week_table(in_month: pd.DataFrame, month: str, timezone: str) -> pd.DataFrame:
    """Escalations per Monday-to-Sunday week touching the month, each labelled with its
    real first and last day ("Oct 26 – Nov 1")."""
    first = pd.Timestamp(f"{month}-01")
    last = first + pd.DateOffset(months=1) - pd.Timedelta(days=1)
    monday = first - pd.Timedelta(days=first.weekday())
    days = in_month["at"].dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()
    week_index = ((days - monday).dt.days // 7).value_counts()
    labels, counts = [], []
    index = 0
    while monday + pd.Timedelta(days=7 * index) <= last:
        start = monday + pd.Timedelta(days=7 * index)
        end = start + pd.Timedelta(days=6)
        tail = f"{end.day}" if end.month == start.month else f"{end:%b} {end.day}"
        labels.append(f"{start:%b} {start.day} – {tail}")
        counts.append(int(week_index.get(index, 0)))
        index += 1
    return pd.DataFrame({"Week": labels, "Escalations": counts})


def level_table(
    in_month: pd.DataFrame, policy_levels: Mapping[int, str], levels: list[int]
) -> pd.DataFrame:
    """Given the month's escalations, level names and the levels above L1, return
    escalations per level (every level shown), most common first."""
    counts = in_month["level"].value_counts()
    every = sorted(set(levels) | {int(n) for n in counts.index})
    table = pd.DataFrame({
        "Level": [f"L{n}" for n in every],
        "Name": [policy_levels.get(n, "") for n in every],
        "Escalations": [int(counts.get(n, 0)) for n in every],
    })
    table["Share"] = table["Escalations"] / len(in_month)
    return _most_common(table, "Level")


def trigger_table(in_month: pd.DataFrame) -> pd.DataFrame:
    """Escalations per trigger name, with how many each way (automatic, escalate command,
    raised by hand); the escalations no trigger explains last."""
    named = in_month[["trigger", "how"]].explode("trigger")
    counts = pd.crosstab(named["trigger"], named["how"])
    table = pd.DataFrame({"Trigger": counts.index.astype(str),
                          "Escalations": counts.sum(axis=1).to_numpy()})
    table["Share"] = table["Escalations"] / len(in_month)
    for how, column in HOW_COLUMNS.items():
        table[column] = counts[how].to_numpy() if how in counts else 0
    table = _most_common(table, "Trigger")
    last = table["Trigger"] == NO_TRIGGER
    return pd.concat([table[~last], table[last]], ignore_index=True)


def _most_common(table: pd.DataFrame, name: str) -> pd.DataFrame:
    ordered = table.sort_values(["Escalations", name], ascending=[False, True], kind="stable")
    return ordered.astype({"Escalations": int}).reset_index(drop=True)


def target_table(
    judged: pd.DataFrame, levels: list[int], policy_levels: Mapping[int, str]
) -> pd.DataFrame:
    """Given the rows judged (at L2+ and escalated in the month), the levels and
    their names, return per level the share within target and the hours (median, P90)."""
    records = []
    for level in levels:
        at_level = judged[judged["level"] == level]
        record: dict[str, object] = {
            "Level": f"L{level} {policy_levels.get(level, '')}".strip(),
            "Escalated rows": len(at_level),
        }
        for target in ("Response", "Resolution"):
            states = at_level[f"{target.lower()}_sla"]
            met = int((states == "Met").sum())
            decided = met + int(states.isin(["Missed", "Overdue"]).sum())
            hours = at_level[f"{target.lower()}_hours"].dropna()
            record |= {
                f"{target} judged": decided,
                f"{target} within target": met,
                f"{target} within target share": None if decided == 0 else met / decided,
                f"Median {target.lower()} hours": float(hours.median()) if len(hours) else None,
                f"P90 {target.lower()} hours": float(hours.quantile(0.9)) if len(hours) else None,
            }
        records.append(record)
    return pd.DataFrame.from_records(records)


def breach_table(
    history: pd.DataFrame, judged: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Given History, the rows judged and the month's bounds, return the SLA
    breaches once per (ID, level, target): Missed or Overdue rows, then History's."""
    records: dict[tuple[str, str, str], str] = {}
    for _, row in judged.iterrows():
        for target in ("Response", "Resolution"):
            state = row[f"{target.lower()}_sla"]
            if state in ("Missed", "Overdue"):
                records[(row["id"], f"L{row['level']}", target)] = state
    events = history[
        (history["event"] == "breached") & (history["at"] >= start) & (history["at"] < end)
    ]
    for _, event in events.iterrows():
        number = level_numbers(pd.Series([event["from_level"]])).iloc[0]
        level = f"L{int(number)}" if pd.notna(number) else event["from_level"]
        target = event["trigger"].removesuffix(" SLA").strip() or "(unknown)"
        records.setdefault((event["id"], level, target), "Recorded in History")
    table = pd.DataFrame(
        [[*key, state] for key, state in records.items()],
        columns=["ID", "Level", "Target", "State"],
    )
    return table.sort_values(["ID", "Level", "Target"], kind="stable").reset_index(drop=True)


def id_table(events: pd.DataFrame) -> pd.DataFrame:
    """Given escalations, return the table listing them by ID (issue type, level,
    trigger)."""
    return pd.DataFrame({
        "ID": events["id"],
        "Issue type": events["issue_type"].map(issue_label),
        "Level": "L" + events["level"].astype(str),
        "Trigger": events["label"],
    }).sort_values("ID", kind="stable").reset_index(drop=True)


def issue_label(value: object) -> str:
    """Given an issue type cell of a joined escalation, return it as the tables show
    it: "(no longer in the log)" for a row gone, "(blank)" for an empty one."""
    if not isinstance(value, str):
        return NOT_IN_LOG
    return value or BLANK


def candidate_table(events: pd.DataFrame, rows: pd.DataFrame, judged: pd.DataFrame) -> pd.DataFrame:
    """Unmarked escalations in M that look unnecessary, with the reason."""
    reasons: dict[tuple[str, int], tuple[str, str]] = {}
    # First candidates: raised by a person while no trigger had fired on the row.
    unexplained = events[(events["trigger"].map(lambda names: names == [NO_TRIGGER]))
                         & ~events["could_l1_resolve"]]
    for _, event in unexplained.iterrows():
        reasons[(event["id"], int(event["level"]))] = (event["issue_type"], NO_TRIGGER_REASON)
    timed = judged.assign(waited=_hours(judged["resolved_at"] - judged["escalated_at"]))
    quick = timed[
        (timed["waited"] >= 0) & (timed["waited"] <= QUICK_HOURS) & ~timed["could_l1_resolve"]
    ]
    for _, row in quick.iterrows():
        reasons.setdefault((row["id"], int(row["level"])), (
            row["issue_type"],
            f"Resolved {row['waited']:.1f} h after escalation to L{row['level']}",
        ))
    resolved_l2 = rows[(rows["level"] == 2) & rows["resolved_at"].notna() & rows["escalated_at"].notna()]
    l2_hours = _hours(resolved_l2["resolved_at"] - resolved_l2["escalated_at"])
    fast = (l2_hours <= QUICK_TYPE_HOURS).groupby(resolved_l2["issue_type"]).agg(["sum", "count"])
    fast = fast[(fast["count"] >= QUICK_TYPE_MIN_ROWS) & (fast["sum"] >= QUICK_TYPE_SHARE * fast["count"])]
    fast = fast.drop(index="", errors="ignore")
    typed = events[
        (events["level"] == 2) & (events["level_row"] == 2)
        & events["issue_type"].isin(fast.index) & ~events["could_l1_resolve"].fillna(False).astype(bool)
    ]
    for _, event in typed.iterrows():
        totals = fast.loc[event["issue_type"]]
        reasons.setdefault((event["id"], 2), (
            event["issue_type"],
            f"{event['issue_type']}: {int(totals['sum'])} of {int(totals['count'])} L2 "
            f"escalations resolved within {QUICK_TYPE_HOURS:g} h",
        ))
    table = pd.DataFrame(
        [[key[0], issue_label(kind), f"L{key[1]}", reason] for key, (kind, reason) in reasons.items()],
        columns=["ID", "Issue type", "Level", "Reason"],
    )
    first = (table["Reason"] != NO_TRIGGER_REASON).astype(int)
    return table.assign(first=first).sort_values(["first", "ID"], kind="stable").drop(
        columns="first").reset_index(drop=True)


def _hours(spans: pd.Series) -> pd.Series:
    return spans.dt.total_seconds() / 3600


def issue_type_table(
    events: pd.DataFrame, marked: pd.DataFrame, candidates: pd.DataFrame
) -> pd.DataFrame:
    """Given the month's escalations, the marked ones and the likely candidates,
    return escalations per issue type with how many were marked or likely unnecessary."""
    labels = events["issue_type"].map(issue_label)
    table = labels.value_counts().rename_axis("Issue type").reset_index(name="Escalations")
    table["Share"] = table["Escalations"] / len(events)
    table["Marked Could L1 resolve?"] = [
        int((marked["issue_type"].map(issue_label) == name).sum()) for name in table["Issue type"]
    ]
    table["Likely unnecessary"] = [
        int((candidates["Issue type"] == name).sum()) for name in table["Issue type"]
    ]
    return _most_common(table, "Issue type")


def issue_key_table(
    events: pd.DataFrame, rows: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Given the month's escalations, the rows and the month's bounds, return the
    issue keys with at least 2 escalations or 2 reports, with their customers and IDs."""
    keyed = events[events["issue_key"].fillna("").astype(str) != ""]
    reports = rows[(rows["issue_key"] != "") & (rows["opened"] >= start) & (rows["opened"] < end)]
    names: dict[str, str] = {}
    for key in [*keyed["issue_key"], *reports["issue_key"]]:
        names.setdefault(key.casefold(), key)
    records = []
    for folded, name in names.items():
        escalated = keyed[keyed["issue_key"].str.casefold() == folded]
        reported = reports[reports["issue_key"].str.casefold() == folded]
        if len(escalated) < 2 and len(reported) < 2:
            continue
        customers = {c.casefold() for c in [*escalated["customer"], *reported["customer"]] if c}
        records.append({
            "Issue key": name, "Escalations": len(escalated), "Reports": len(reported),
            "Customers": len(customers),
            "IDs": ", ".join(sorted({*escalated["id"], *reported["id"]})),
        })
    table = pd.DataFrame(records, columns=["Issue key", "Escalations", "Reports", "Customers", "IDs"])
    return table.sort_values(
        ["Escalations", "Reports", "Issue key"], ascending=[False, False, True], kind="stable"
    ).reset_index(drop=True)


def quick_at_l2(events: pd.DataFrame) -> pd.DataFrame:
    """The month's escalations to L2 whose row, still at L2, was resolved within
    QUICK_TYPE_HOURS of its Escalated at: a sign L1 could have done it."""
    at_l2 = events[(events["level"] == 2) & (events["level_row"] == 2)
                   & events["resolved_at"].notna() & events["escalated_at"].notna()]
    waited = _hours(at_l2["resolved_at"] - at_l2["escalated_at"])
    return at_l2[(waited >= 0) & (waited <= QUICK_TYPE_HOURS)]
