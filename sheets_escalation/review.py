"""The monthly review (SPEC §5): pure tables computed from the frames the engine uses.

Nothing here reads a file, the clock or the environment; ``export.py`` renders a
:class:`Review` to the review tab and to stakeholder files.

Definitions (also in the README, "Monthly review"):

* **Month M** runs from midnight on the 1st to midnight on the 1st of the next month in
  the Settings timezone.
* **An escalation** is one move of one issue (ID) up to one level (to-level), counted
  once: an ``escalated`` History event (automatic or manual); else a log row above L1
  without such an event (a person raised Level in the sheet), dated by its Escalated
  at; else an upward ``level changed`` History event. When several sources name the
  same (ID, to-level), the first in that order wins. An escalation is *in M* when its
  date falls in M; this is the count every table starts from, so rows closed and
  removed from the log since still count through History.
* **Triggers**: the History event's Trigger (several names separated by ``;`` count
  once each; ``manual`` reads "Manual (escalate command)"); escalations found only in
  the log or as ``level changed`` events count as "Level edited in the sheet".
* **Within target per level** looks at the log rows currently at that level (L2, L3)
  whose Escalated at falls in M, using the evaluation's Response SLA and Resolution SLA
  at that level: within target = Met / (Met + Missed + Overdue). Open rows that are
  On track or At risk are not judged yet and stay out of the denominator; rows no
  longer in the log cannot be judged and are left out.
* **Hours**: median and 90th percentile (linear interpolation) of Response hours and
  Resolution hours over the same rows; Resolution hours run from Opened (SPEC §3).
* **Breaches**: ``breached`` History events dated in M, plus Missed or Overdue targets
  of the rows above, once per (ID, level, target).
* **Unnecessary escalations**: escalations in M whose row is marked Could L1 resolve?;
  and, among the unmarked, likely candidates: resolved within 1 hour of Escalated at
  (no further level or action needed), or escalated to L2 with an issue type that is
  nearly always resolved quickly at L2 (at least 3 resolved L2 rows in the whole log,
  at least 80% of them resolved within 2 hours of escalation).
* **Root-cause candidates**: escalations in M by issue type; issue keys (compared
  without case) with at least 2 escalations or at least 2 reports (rows opened in M),
  listing the IDs of both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import pandas as pd

Format = Literal["int", "pct", "hours", "text"]
ChartKind = Literal["bar", "line"]

TREND_MONTHS = 3  # earlier months shown in the trend, and averaged for the headline change
QUICK_HOURS = 1.0  # resolved this soon after escalation: likely handled at L1
QUICK_TYPE_HOURS = 2.0  # "resolved quickly at L2" for the issue-type rule
QUICK_TYPE_SHARE = 0.8
QUICK_TYPE_MIN_ROWS = 3
EMPOWER_MIN_ESCALATIONS = 2
EMPOWER_SHARE = 0.5  # unnecessary share of an issue type that calls for empowering L1
KB_MIN_REPORTS = 3  # a key this common deserves a knowledge-base article
DOMINANT_SHARE = 0.3  # one key causing this share of escalations points at the product
DOMINANT_MIN_ESCALATIONS = 3
TARGET_SHARE = 0.8  # a level below this share within target gets a recommendation
TREND_ALERT = 0.2  # rise against the earlier months' average worth a recommendation
THRESHOLD_SHARE = 0.5  # marked share of a trigger's escalations that calls for a new threshold

LOG_EDIT = "Level edited in the sheet"
MANUAL = "Manual (escalate command)"
NOT_IN_LOG = "(no longer in the log)"
BLANK = "(blank)"
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_LEVEL = re.compile(r"^\s*[Ll]?\s*([1-9])\s*$")
_HISTORY_KEYS = ("at", "id", "event", "from_level", "to_level", "trigger", "by", "detail")


@dataclass(frozen=True)
class Chart:
    """A backend-neutral chart of one section's table: categories down ``category``,
    one series per column of ``values``; ``value_format`` is "int" or "pct"."""

    kind: ChartKind
    category: str
    values: tuple[str, ...]
    title: str
    value_format: Format = "int"


@dataclass(frozen=True, eq=False)
class Section:
    """One titled table of the review; ``formats`` maps column → "int"/"pct"/"hours"/"text"
    (missing columns are text); ``note`` says how to read it or why it is empty."""

    title: str
    table: pd.DataFrame
    formats: Mapping[str, Format]
    chart: Chart | None = None
    note: str = ""


@dataclass(frozen=True, eq=False)
class Review:
    """Everything the renderers need, already computed.

    ``headline`` holds (label, value) pairs, values int, float, str or None (not
    applicable); ``headline_formats`` gives each label's format ("pct" values are
    fractions). ``tab`` is the review tab's title, ``Review YYYY-MM``.
    """

    month: str
    title: str
    headline: list[tuple[str, object]]
    sections: list[Section]
    recommendations: list[str]
    empty: bool
    headline_formats: Mapping[str, Format] = field(default_factory=dict)
    tab_title: str = ""  # another tab than "Review YYYY-MM" (the what-if replay's)

    @property
    def tab(self) -> str:
        return self.tab_title or review_tab(self.month)


@dataclass(frozen=True)
class ThresholdOption:
    """One threshold tried for a trigger: ``change`` as people read it ("Financial loss
    over 500 → 800") and the IDs (casefolded) the replay still escalates with it."""

    change: str
    escalated: frozenset[str]


class ThresholdReplay(Protocol):
    """The month replayed from its rows' timestamps (simulate.py), as the review asks it."""

    def attribution(self) -> Mapping[str, tuple[str, ...]]:
        """Return casefolded ID -> names of the numeric-threshold triggers that escalate
        that row in the replay under today's policy."""
        ...

    def options(self, trigger: str) -> Sequence[ThresholdOption]:
        """Return the thresholds tried for ``trigger``, smallest change first."""
        ...


def review_tab(month: str) -> str:
    """Given a month "YYYY-MM", return the title of its review tab."""
    return f"Review {month}"


def parse_month(text: str) -> str:
    """Given text such as "2026-10", return it normalised. Raise ValueError otherwise."""
    cleaned = text.strip()
    if not _MONTH.match(cleaned):
        raise ValueError(f'cannot read "{text}" as a month; write it as YYYY-MM, e.g. 2026-10')
    return cleaned


def default_month(now: pd.Timestamp, timezone: str) -> str:
    """Given the run's time (naive means UTC) and the Settings timezone, return the last
    full month there as "YYYY-MM"."""
    stamp = pd.Timestamp(now)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    local = stamp.tz_convert(timezone)
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def resolve_month(text: str, now: pd.Timestamp, timezone: str) -> str:
    """Given --month as typed ("YYYY-MM"; "previous" or "last" for the last full month;
    "current" for the month ``now`` falls in), the run's time (naive means UTC) and the
    Settings timezone, return the month as "YYYY-MM". Raise ValueError for other text."""
    word = text.strip().casefold()
    if word in ("previous", "last"):
        return default_month(now, timezone)
    if word == "current":
        stamp = pd.Timestamp(now)
        return (stamp if stamp.tzinfo else stamp.tz_localize("UTC")).tz_convert(timezone) \
            .strftime("%Y-%m")
    try:
        return parse_month(text)
    except ValueError:
        raise ValueError(f'cannot read "{text}" as a month; write YYYY-MM (e.g. 2026-10), '
                         "previous (or last) or current") from None


def build_review(
    log: pd.DataFrame,
    result: pd.DataFrame,
    history: pd.DataFrame,
    policy_levels: Mapping[int, str],
    month: str,
    timezone: str,
    replay: ThresholdReplay | None = None,
) -> Review:
    """Given the parsed log, its evaluation, the History frame, level names by number,
    a month "YYYY-MM" and the Settings timezone, return the month's review. With
    ``replay``, a trigger whose escalations this month are mostly marked Could L1
    resolve? gets a threshold suggestion (:func:`threshold_suggestions`).

    Raise ValueError if the month is not YYYY-MM. A month without escalations gives a
    short review (``empty``) with the trend only.
    """
    month = parse_month(month)
    rows = _rows(log, result)
    history = _history(history)
    escalations = _escalations(rows, history)
    start, end = month_bounds(month, timezone)
    in_month = escalations[(escalations["at"] >= start) & (escalations["at"] < end)]
    trend = _trend(escalations, month, timezone)
    count = len(in_month)
    previous = int(trend["Escalations"].iloc[-2])
    earlier_mean = float(trend["Escalations"].iloc[:-1].mean())
    change_previous = _change(count, previous)
    change_mean = _change(count, earlier_mean)
    headline: list[tuple[str, object]] = [
        ("Escalations", count),
        ("Previous month", previous),
        ("Change vs previous month", change_previous),
        (f"Average of the {TREND_MONTHS} months before", round(earlier_mean, 2)),
        (f"Change vs the {TREND_MONTHS}-month average", change_mean),
        ("Trend", _direction(change_mean)),
    ]
    formats: dict[str, Format] = {
        "Change vs previous month": "pct",
        f"Change vs the {TREND_MONTHS}-month average": "pct",
        f"Average of the {TREND_MONTHS} months before": "hours",
        "Trend": "text",
    }
    trend_section = Section(
        "Escalations per month",
        trend,
        {"Month": "text", "Escalations": "int", "Change vs previous month": "pct"},
        Chart("line", "Month", ("Escalations",), "Escalations per month"),
        f"Month {month} and the {TREND_MONTHS} months before it.",
    )
    title = f"Escalation review {month} ({_month_name(month)}, times in {timezone})"
    if count == 0:
        return Review(
            month, title, headline, [trend_section],
            [f"There were no escalations in {_month_name(month)}, so there is nothing to change."],
            True, formats,
        )

    events = in_month.merge(
        rows.drop_duplicates("id", keep="last"), on="id", how="left", suffixes=("", "_row")
    )
    judged = rows[(rows["level"] >= 2) & (rows["escalated_at"] >= start) & (rows["escalated_at"] < end)]
    levels = sorted(n for n in policy_levels if n >= 2) or [2, 3]
    targets = _within_target(judged, levels, policy_levels)
    breaches = _breaches(history, judged, start, end)
    marked = events[events["could_l1_resolve"].fillna(False).astype(bool)]
    candidates = _candidates(events, rows, judged)
    types = _issue_types(events, marked, candidates)
    keys = _issue_keys(events, rows, start, end)
    triggers = _by_trigger(in_month)

    response_share = _share(targets["Response judged"], targets["Response within target"])
    resolution_share = _share(targets["Resolution judged"], targets["Resolution within target"])
    headline += [
        ("Response within target", response_share),
        ("Resolution within target", resolution_share),
        ("SLA breaches", len(breaches)),
        ("Marked Could L1 resolve?", len(marked)),
        ("Likely unnecessary (not marked)", len(candidates)),
    ]
    formats |= {"Response within target": "pct", "Resolution within target": "pct"}

    sections = [
        trend_section,
        Section(
            "Escalations per week", _per_week(in_month, month, timezone),
            {"Week": "text", "Escalations": "int"},
            Chart("bar", "Week", ("Escalations",), "Escalations per week"),
            "Weeks run Monday to Sunday, cut at the month's edges.",
        ),
        Section(
            "By level", _by_level(in_month, policy_levels, levels),
            {"Level": "text", "Name": "text", "Escalations": "int", "Share": "pct"},
            note="The level each escalation went to, most common first.",
        ),
        Section(
            "By trigger", triggers,
            {"Trigger": "text", "Escalations": "int", "Share": "pct"},
            Chart("bar", "Trigger", ("Escalations",), "Escalations by trigger"),
            "Most common first; an escalation naming two triggers counts under each.",
        ),
        Section(
            "Within target by level", targets[[
                "Level", "Escalated rows", "Response judged", "Response within target share",
                "Resolution judged", "Resolution within target share",
            ]].rename(columns={
                "Response within target share": "Response within target",
                "Resolution within target share": "Resolution within target",
            }),
            {"Level": "text", "Escalated rows": "int", "Response judged": "int",
             "Response within target": "pct", "Resolution judged": "int",
             "Resolution within target": "pct"},
            Chart("bar", "Level", ("Response within target", "Resolution within target"),
                  "Share within target by level", "pct"),
            "Rows now at the level and escalated this month. Within target = Met / "
            "(Met + Missed + Overdue); open rows still On track or At risk are not judged yet.",
        ),
        Section(
            "Hours by level", targets[[
                "Level", "Median response hours", "P90 response hours",
                "Median resolution hours", "P90 resolution hours",
            ]],
            {"Level": "text", "Median response hours": "hours", "P90 response hours": "hours",
             "Median resolution hours": "hours", "P90 resolution hours": "hours"},
            note="Response: from level start to first response. Resolution: from Opened "
            "to Resolved at. P90 = 90th percentile.",
        ),
        Section(
            "SLA breaches", breaches,
            {"ID": "text", "Level": "text", "Target": "text", "State": "text"},
            note="" if len(breaches) else "No breaches this month.",
        ),
        Section(
            "Marked Could L1 resolve?", _id_table(marked),
            {"ID": "text", "Issue type": "text", "Level": "text", "Trigger": "text"},
            note="" if len(marked) else "No escalation this month is marked.",
        ),
        Section(
            "Likely unnecessary (not marked)", candidates,
            {"ID": "text", "Issue type": "text", "Level": "text", "Reason": "text"},
            note="Worth a look at the review meeting." if len(candidates)
            else "No likely candidates this month.",
        ),
        Section(
            "Issue types", types,
            {"Issue type": "text", "Escalations": "int", "Share": "pct",
             "Marked Could L1 resolve?": "int", "Likely unnecessary": "int"},
            note="Root-cause candidates: the issue types escalated most often.",
        ),
        Section(
            "Repeat issues (issue keys)", keys,
            {"Issue key": "text", "Escalations": "int", "Reports": "int",
             "Customers": "int", "IDs": "text"},
            note="Keys with at least 2 escalations or 2 reports (rows opened this month)."
            if len(keys) else "No issue key came up more than once this month.",
        ),
    ]
    recommendations = _recommend(count, change_mean, triggers, types, keys, targets, month)
    if replay is not None and len(marked):
        suggestions = threshold_suggestions(events, replay)
        generic = f"Nothing stands out in {_month_name(month)}; keep the current procedure."
        recommendations = [s for s in recommendations if s != generic] + suggestions \
            if suggestions else recommendations
    return Review(month, title, headline, sections, recommendations, False, formats)


def threshold_suggestions(events: pd.DataFrame, replay: ThresholdReplay) -> list[str]:
    """Given the month's escalations (columns id, could_l1_resolve) and the replay, return
    one sentence per trigger whose escalations (the IDs the replay says it escalates) are
    mostly (more than half) marked Could L1 resolve? and for which a threshold tried
    avoids more marked escalations than it loses unmarked ones: the best such threshold
    (most avoided net of lost, then fewest lost, then the smallest change)."""
    attribution = replay.attribution()
    keys = events["id"].astype(str).str.casefold()
    marked_by_id = dict(zip(keys, events["could_l1_resolve"].fillna(False).astype(bool),
                            strict=True))
    names = sorted({name for key in marked_by_id for name in attribution.get(key, ())})
    sentences = []
    for name in names:
        ids = {key for key in marked_by_id if name in attribution.get(key, ())}
        marked = {key for key in ids if marked_by_id[key]}
        if len(marked) <= THRESHOLD_SHARE * len(ids):
            continue
        needed = ids - marked
        best: tuple[int, int, int] | None = None
        chosen: ThresholdOption | None = None
        for order, option in enumerate(replay.options(name)):
            avoided = len(marked - option.escalated)
            lost = len(needed - option.escalated)
            score = (avoided - lost, -lost, -order)
            if avoided > lost and (best is None or score > best):
                best, chosen = score, option
        if chosen is None:
            continue
        avoided = len(marked - chosen.escalated)
        lost = len(needed - chosen.escalated)
        sentence = (f"{chosen.change} would have avoided {avoided} of {len(marked)} "
                    "unnecessary escalations")
        sentence += (f", but also {lost} of {len(needed)} needed ones." if lost
                     else " and kept every needed one." if needed else ".")
        sentences.append(sentence)
    return sentences


def _rows(log: pd.DataFrame, result: pd.DataFrame) -> pd.DataFrame:
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


def _history(history: pd.DataFrame) -> pd.DataFrame:
    """History with every expected column, text stripped and At as UTC."""
    frame = history.reindex(columns=list(_HISTORY_KEYS))
    for column in _HISTORY_KEYS[1:]:
        frame[column] = frame[column].fillna("").astype(str).str.strip()
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    frame["event"] = frame["event"].str.casefold()
    return frame.reset_index(drop=True)


def _level_number(text: pd.Series) -> pd.Series:
    return pd.to_numeric(text.astype(str).str.extract(_LEVEL, expand=False), errors="coerce")


def _escalations(rows: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Every escalation ever, once per (ID, to-level): columns id, level, at, trigger
    (a list of names)."""
    escalated = history[history["event"] == "escalated"]
    from_history = pd.DataFrame({
        "id": escalated["id"],
        "level": _level_number(escalated["to_level"]),
        "at": escalated["at"],
        "trigger": [_trigger_names(text) for text in escalated["trigger"]],
        "rank": 0,
    })
    above = rows[(rows["level"] >= 2) & rows["escalated_at"].notna()]
    from_log = pd.DataFrame({
        "id": above["id"], "level": above["level"], "at": above["escalated_at"],
        "trigger": [[LOG_EDIT]] * len(above), "rank": 1,
    })
    changed = history[history["event"] == "level changed"]
    upward = changed[_level_number(changed["to_level"]) > _level_number(changed["from_level"])]
    from_changes = pd.DataFrame({
        "id": upward["id"], "level": _level_number(upward["to_level"]), "at": upward["at"],
        "trigger": [[LOG_EDIT]] * len(upward), "rank": 2,
    })
    frames = [f for f in (from_history, from_log, from_changes) if len(f)]
    if not frames:
        return pd.DataFrame({
            "id": pd.Series(dtype=str), "level": pd.Series(dtype=int),
            "at": pd.Series(dtype="datetime64[ns, UTC]"), "trigger": pd.Series(dtype=object),
        })
    every = pd.concat(frames, ignore_index=True)
    every = every[(every["id"] != "") & every["level"].notna() & every["at"].notna()]
    every = every.astype({"level": int}).sort_values(["rank", "at"], kind="stable")
    every = every.drop_duplicates(["id", "level"], keep="first")
    return every.drop(columns="rank").sort_values(["at", "id"], kind="stable").reset_index(drop=True)


def _trigger_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(";") if name.strip()]
    return [MANUAL if name.casefold() == "manual" else name for name in names] or ["(none recorded)"]


def month_bounds(month: str, timezone: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Given "YYYY-MM" and the Settings timezone, return the month's [start, end) in UTC."""
    first = pd.Timestamp(f"{month}-01")
    after = first + pd.DateOffset(months=1)
    return _local_midnight(first, timezone), _local_midnight(after, timezone)


def _local_midnight(day: pd.Timestamp, timezone: str) -> pd.Timestamp:
    # A few zones skip or repeat midnight at a DST change; take the earliest real instant.
    return day.tz_localize(timezone, nonexistent="shift_forward", ambiguous=True).tz_convert("UTC")


def _shift(month: str, months: int) -> str:
    return (pd.Timestamp(f"{month}-01") + pd.DateOffset(months=months)).strftime("%Y-%m")


def _month_name(month: str) -> str:
    return pd.Timestamp(f"{month}-01").strftime("%B %Y")


def _trend(escalations: pd.DataFrame, month: str, timezone: str) -> pd.DataFrame:
    """Escalations per local month for M and the TREND_MONTHS before, with the change
    against each month's predecessor (None where that had none)."""
    local = escalations["at"].dt.tz_convert(timezone).dt.strftime("%Y-%m")
    counts = local.value_counts()
    months = [_shift(month, -k) for k in range(TREND_MONTHS, -1, -1)]
    before = int(counts.get(_shift(month, -TREND_MONTHS - 1), 0))
    values = [int(counts.get(m, 0)) for m in months]
    changes = [_change(v, p) for v, p in zip(values, [before, *values[:-1]], strict=True)]
    return pd.DataFrame({
        "Month": months, "Escalations": values,
        "Change vs previous month": pd.Series(changes, dtype=object),
    })


def _change(value: float, base: float) -> float | None:
    """Relative change from base to value; None when base is zero (no percentage exists)."""
    return None if base == 0 else (value - base) / base


def _direction(change: float | None) -> str:
    if change is None:
        return "new (no escalations before)"
    if change > 0:
        return f"up {change:.0%}"
    if change < 0:
        return f"down {-change:.0%}"
    return "flat"


def _share(total: pd.Series, hits: pd.Series) -> float | None:
    denominator = int(total.sum())
    return None if denominator == 0 else int(hits.sum()) / denominator


def _per_week(in_month: pd.DataFrame, month: str, timezone: str) -> pd.DataFrame:
    first = pd.Timestamp(f"{month}-01")
    last = first + pd.DateOffset(months=1) - pd.Timedelta(days=1)
    monday = first - pd.Timedelta(days=first.weekday())
    days = in_month["at"].dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()
    week_index = ((days - monday).dt.days // 7).value_counts()
    labels, counts = [], []
    index = 0
    while monday + pd.Timedelta(days=7 * index) <= last:
        start = max(monday + pd.Timedelta(days=7 * index), first)
        end = min(monday + pd.Timedelta(days=7 * index + 6), last)
        labels.append(f"{start:%b} {start.day}–{end.day}")
        counts.append(int(week_index.get(index, 0)))
        index += 1
    return pd.DataFrame({"Week": labels, "Escalations": counts})


def _by_level(
    in_month: pd.DataFrame, policy_levels: Mapping[int, str], levels: list[int]
) -> pd.DataFrame:
    counts = in_month["level"].value_counts()
    every = sorted(set(levels) | {int(n) for n in counts.index})
    table = pd.DataFrame({
        "Level": [f"L{n}" for n in every],
        "Name": [policy_levels.get(n, "") for n in every],
        "Escalations": [int(counts.get(n, 0)) for n in every],
    })
    table["Share"] = table["Escalations"] / len(in_month)
    return _most_common(table, "Level")


def _by_trigger(in_month: pd.DataFrame) -> pd.DataFrame:
    names = in_month["trigger"].explode()
    counts = names.value_counts()
    table = pd.DataFrame({"Trigger": counts.index.astype(str), "Escalations": counts.to_numpy()})
    table["Share"] = table["Escalations"] / len(in_month)
    return _most_common(table, "Trigger")


def _most_common(table: pd.DataFrame, name: str) -> pd.DataFrame:
    ordered = table.sort_values(["Escalations", name], ascending=[False, True], kind="stable")
    return ordered.astype({"Escalations": int}).reset_index(drop=True)


def _within_target(
    judged: pd.DataFrame, levels: list[int], policy_levels: Mapping[int, str]
) -> pd.DataFrame:
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


def _breaches(
    history: pd.DataFrame, judged: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
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
        number = _level_number(pd.Series([event["from_level"]])).iloc[0]
        level = f"L{int(number)}" if pd.notna(number) else event["from_level"]
        target = event["trigger"].removesuffix(" SLA").strip() or "(unknown)"
        records.setdefault((event["id"], level, target), "Recorded in History")
    table = pd.DataFrame(
        [[*key, state] for key, state in records.items()],
        columns=["ID", "Level", "Target", "State"],
    )
    return table.sort_values(["ID", "Level", "Target"], kind="stable").reset_index(drop=True)


def _id_table(events: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "ID": events["id"],
        "Issue type": events["issue_type"].map(_label),
        "Level": "L" + events["level"].astype(str),
        "Trigger": events["trigger"].map("; ".join),
    }).sort_values("ID", kind="stable").reset_index(drop=True)


def _label(value: object) -> str:
    if not isinstance(value, str):
        return NOT_IN_LOG
    return value or BLANK


def _candidates(events: pd.DataFrame, rows: pd.DataFrame, judged: pd.DataFrame) -> pd.DataFrame:
    """Unmarked escalations in M that look unnecessary, with the reason."""
    reasons: dict[tuple[str, int], tuple[str, str]] = {}
    timed = judged.assign(waited=_hours(judged["resolved_at"] - judged["escalated_at"]))
    quick = timed[
        (timed["waited"] >= 0) & (timed["waited"] <= QUICK_HOURS) & ~timed["could_l1_resolve"]
    ]
    for _, row in quick.iterrows():
        reasons[(row["id"], int(row["level"]))] = (
            row["issue_type"],
            f"Resolved {row['waited']:.1f} h after escalation to L{row['level']}",
        )
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
        [[key[0], _label(kind), f"L{key[1]}", reason] for key, (kind, reason) in reasons.items()],
        columns=["ID", "Issue type", "Level", "Reason"],
    )
    return table.sort_values("ID", kind="stable").reset_index(drop=True)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _hours(spans: pd.Series) -> pd.Series:
    return spans.dt.total_seconds() / 3600


def _issue_types(
    events: pd.DataFrame, marked: pd.DataFrame, candidates: pd.DataFrame
) -> pd.DataFrame:
    labels = events["issue_type"].map(_label)
    table = labels.value_counts().rename_axis("Issue type").reset_index(name="Escalations")
    table["Share"] = table["Escalations"] / len(events)
    table["Marked Could L1 resolve?"] = [
        int((marked["issue_type"].map(_label) == name).sum()) for name in table["Issue type"]
    ]
    table["Likely unnecessary"] = [
        int((candidates["Issue type"] == name).sum()) for name in table["Issue type"]
    ]
    return _most_common(table, "Issue type")


def _issue_keys(
    events: pd.DataFrame, rows: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
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


def _recommend(
    count: int,
    change_mean: float | None,
    triggers: pd.DataFrame,
    types: pd.DataFrame,
    keys: pd.DataFrame,
    targets: pd.DataFrame,
    month: str,
) -> list[str]:
    """Plain sentences following the procedure's "reducing escalations" questions."""
    sentences = []
    for _, row in types.iterrows():
        name, total = row["Issue type"], int(row["Escalations"])
        unnecessary = int(row["Marked Could L1 resolve?"]) + int(row["Likely unnecessary"])
        if name in (BLANK, NOT_IN_LOG) or total < EMPOWER_MIN_ESCALATIONS:
            continue
        if unnecessary / total >= EMPOWER_SHARE:
            sentences.append(
                f"Empower L1 on {name}: {unnecessary} of {total} {name} escalations were "
                "marked or look unnecessary; give L1 the access, authority or runbook to "
                "resolve them at first contact."
            )
    for _, row in keys.iterrows():
        name, escalated = row["Issue key"], int(row["Escalations"])
        if escalated >= DOMINANT_MIN_ESCALATIONS and escalated / count >= DOMINANT_SHARE:
            sentences.append(
                f'Fix the product behind "{name}": it caused {escalated} of {count} '
                f"escalations ({escalated / count:.0%}) from {int(row['Customers'])} customers."
            )
        elif int(row["Reports"]) >= KB_MIN_REPORTS or escalated >= 2:
            sentences.append(
                f'Write a knowledge-base article for "{name}" so L1 can answer it directly: '
                f"{_count(escalated, 'escalation')} and {_count(int(row['Reports']), 'report')} "
                "opened this month."
            )
    for _, row in targets.iterrows():
        for target in ("Response", "Resolution"):
            share = row[f"{target} within target share"]
            if pd.notna(share) and share < TARGET_SHARE:
                sentences.append(
                    f"{row['Level']} met its {target.lower()} target on only {share:.0%} of "
                    f"judged escalations ({row[f'{target} within target']} of {row[f'{target} judged']}); "
                    f"review staffing or the {target.lower()} target for that level."
                )
    if change_mean is not None and change_mean >= TREND_ALERT:
        top = triggers.iloc[0]
        sentences.append(
            f"Escalations rose {change_mean:.0%} against the average of the "
            f"{TREND_MONTHS} months before; start with the most common trigger, "
            f'"{top["Trigger"]}" ({int(top["Escalations"])} this month).'
        )
    return sentences or [
        f"Nothing stands out in {_month_name(month)}; keep the current procedure."
    ]
