"""The monthly review (SPEC §5): pure tables computed from the frames the engine uses.

Nothing here reads a file, the clock or the environment; core/review_layout.py lays a
:class:`Review` out as plain rows and adapters/export/ renders it to stakeholder files.
The tables are computed in core/review_tables.py, the sentences in
core/review_answers.py, months in core/months.py.

Definitions (also in docs/review.md, with the five answers and the recommendation rules):

* **Month M** runs from midnight on the 1st to midnight on the 1st of the next month in
  the Settings timezone.
* **An escalation** is one move of one issue (ID) up to one level (to-level), counted
  once: an ``escalated`` History event (automatic or manual); else a log row above L1
  without such an event (a person raised Level in the sheet), dated by its Escalated
  at; else an upward ``level changed`` History event. When several sources name the
  same (ID, to-level), the first in that order wins. An escalation is *in M* when its
  date falls in M; this is the count every table starts from, so rows closed and
  removed from the log since still count through History.
* **Triggers**: an automatic escalation counts under the History event's Trigger
  (several names separated by ``;`` count once each). One a person made (the escalate
  command, Trigger ``manual``; or Level raised by hand, found only in the log or as a
  ``level changed`` event) counts under the triggers that had fired on its row when it
  moved, as the replay (core/replay.py) finds them, or "No trigger had fired". Without a
  replay, or for a row gone from the log, those read "Manual (escalate command)" and
  "Level edited in the sheet".
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
  and, among the unmarked, likely candidates: first those a person made while no trigger
  had fired; then those resolved within 1 hour of Escalated at
  (no further level or action needed), or escalated to L2 with an issue type that is
  nearly always resolved quickly at L2 (at least 3 resolved L2 rows in the whole log,
  at least 80% of them resolved within 2 hours of escalation).
* **Root-cause candidates**: escalations in M by issue type; issue keys (compared
  without case) with at least 2 escalations or at least 2 reports (rows opened in M),
  listing the IDs of both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from sheets_escalation.core.months import month_bounds, month_name, month_progress, parse_month
from sheets_escalation.core.review_answers import (
    QUESTIONS,
    ThresholdReplay,
    direction,
    prevention,
    prevention_answer,
    recommend,
    target_answer,
    threshold_suggestions,
    trigger_answer,
    unnecessary_answer,
    volume_answer,
)
from sheets_escalation.core.review_tables import (
    HOW_COLUMNS,
    MIN_BASE,
    TREND_MONTHS,
    TriggerReplay,
    attribute_triggers,
    breach_table,
    candidate_table,
    every_escalation,
    history_frame,
    id_table,
    issue_key_table,
    issue_type_table,
    level_table,
    log_rows,
    relative_change,
    share_of,
    target_table,
    trend_table,
    trigger_table,
    week_table,
)

Format = Literal["int", "pct", "hours", "text"]
ChartKind = Literal["bar", "line"]


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
    # The procedure's five questions, each answered in one sentence, shown first.
    answers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def tab(self) -> str:
        return self.tab_title or review_tab(self.month)


def review_tab(month: str) -> str:
    """Given a month "YYYY-MM", return the title of its review tab."""
    return f"Review {month}"


def build_review(
    log: pd.DataFrame,
    result: pd.DataFrame,
    history: pd.DataFrame,
    policy_levels: Mapping[int, str],
    month: str,
    timezone: str,
    replay: ThresholdReplay | None = None,
    now: pd.Timestamp | None = None,
    triggers: TriggerReplay | None = None,
) -> Review:
    """Given the parsed log, its evaluation, the History frame, level names by number,
    a month "YYYY-MM" and the Settings timezone, return the month's review. With
    ``replay``, a trigger whose escalations this month are mostly marked Could L1
    resolve? gets a threshold suggestion (:func:`threshold_suggestions`). With
    ``triggers``, escalations by hand or by the escalate command are attributed to the
    triggers that had fired on their row when they moved. With ``now`` inside the month,
    the review says the month is still in progress.

    Raise ValueError if the month is not YYYY-MM. A month without escalations gives a
    short review (``empty``) with the trend only.
    """
    month = parse_month(month)
    found = _Month.read(log, result, history, month, timezone, triggers)
    progress = month_progress(month, timezone, now)
    headline, formats = _volume_headline(found)
    trend = _trend_section(found.trend, month)
    title = _title(month, timezone, progress)
    volume = volume_answer(found.count, found.previous, found.earlier_mean, month, progress)
    if found.count == 0:
        nothing = f"None: there were no escalations in {month_name(month)}."
        return Review(
            month, title, headline, [trend],
            [f"There were no escalations in {month_name(month)}, so there is nothing to change."],
            True, formats, answers=[
                (QUESTIONS[0], volume), (QUESTIONS[1], nothing), (QUESTIONS[2], nothing),
                (QUESTIONS[3], nothing), (QUESTIONS[4], nothing)],
        )
    judged = _Judged.of(found, policy_levels)
    headline += _judged_headline(judged)
    formats |= {"Response within target": "pct", "Resolution within target": "pct"}
    sections = [trend, *_sections(found, judged, policy_levels, timezone)]
    found_prevention = prevention(judged.events, judged.marked, judged.candidates,
                                  judged.keys, found.count)
    recommendations = [sentence for _, sentence in found_prevention]
    recommendations += recommend(found.count, found.earlier_mean, judged.by_trigger,
                                 judged.events, judged.targets, month)
    if replay is not None and len(judged.marked):
        recommendations += threshold_suggestions(judged.events, replay)
    if not recommendations:
        recommendations = [f"Nothing stands out in {month_name(month)}; keep the current "
                           "procedure."]
    answers = [
        (QUESTIONS[0], volume),
        (QUESTIONS[1], trigger_answer(judged.by_trigger, found.count)),
        (QUESTIONS[2], target_answer(judged.targets, judged.breaches)),
        (QUESTIONS[3], prevention_answer([short for short, _ in found_prevention])),
        (QUESTIONS[4], unnecessary_answer(judged.marked, judged.candidates, found.count)),
    ]
    return Review(month, title, headline, sections, recommendations, False, formats,
                  answers=answers)


@dataclass(frozen=True, eq=False)
class _Month:
    """The month's escalations and the trend around them: the first stage of the review."""

    month: str
    start: pd.Timestamp
    end: pd.Timestamp
    rows: pd.DataFrame  # the log with the evaluation on top
    history: pd.DataFrame
    in_month: pd.DataFrame  # the month's escalations, triggers attributed
    trend: pd.DataFrame
    count: int
    previous: int
    earlier_mean: float

    @classmethod
    def read(cls, log: pd.DataFrame, result: pd.DataFrame, history: pd.DataFrame,
             month: str, timezone: str, triggers: TriggerReplay | None) -> _Month:
        rows = log_rows(log, result)
        history = history_frame(history)
        escalations = every_escalation(rows, history)
        start, end = month_bounds(month, timezone)
        in_month = escalations[(escalations["at"] >= start) & (escalations["at"] < end)]
        in_month = attribute_triggers(in_month.reset_index(drop=True), escalations, rows,
                                      triggers)
        trend = trend_table(escalations, month, timezone)
        return cls(month, start, end, rows, history, in_month, trend, len(in_month),
                   int(trend["Escalations"].iloc[-2]),
                   float(trend["Escalations"].iloc[:-1].mean()))


@dataclass(frozen=True, eq=False)
class _Judged:
    """What the month's escalations came to: the second stage, for a month with any."""

    events: pd.DataFrame  # the month's escalations joined with their rows
    levels: list[int]
    targets: pd.DataFrame
    breaches: pd.DataFrame
    marked: pd.DataFrame
    candidates: pd.DataFrame
    types: pd.DataFrame
    keys: pd.DataFrame
    by_trigger: pd.DataFrame

    @classmethod
    def of(cls, found: _Month, policy_levels: Mapping[int, str]) -> _Judged:
        rows, start, end = found.rows, found.start, found.end
        events = found.in_month.merge(
            rows.drop_duplicates("id", keep="last"), on="id", how="left", suffixes=("", "_row")
        )
        events["could_l1_resolve"] = events["could_l1_resolve"].fillna(False).astype(bool)
        judged = rows[(rows["level"] >= 2) & (rows["escalated_at"] >= start)
                      & (rows["escalated_at"] < end)]
        levels = sorted(n for n in policy_levels if n >= 2) or [2, 3]
        marked = events[events["could_l1_resolve"]]
        candidates = candidate_table(events, rows, judged)
        return cls(events, levels, target_table(judged, levels, policy_levels),
                   breach_table(found.history, judged, start, end), marked, candidates,
                   issue_type_table(events, marked, candidates),
                   issue_key_table(events, rows, start, end), trigger_table(found.in_month))


def _volume_headline(found: _Month) -> tuple[list[tuple[str, object]], dict[str, Format]]:
    """The headline's counts against the earlier months, with their formats."""
    count, previous, earlier_mean = found.count, found.previous, found.earlier_mean
    # A percentage over a handful of escalations ("up 2000%") says nothing; the answers
    # and the Trend give those changes in counts.
    change_previous = relative_change(count, previous) if previous >= MIN_BASE else None
    change_mean = relative_change(count, earlier_mean) if earlier_mean >= MIN_BASE else None
    headline: list[tuple[str, object]] = [
        ("Escalations", count),
        ("Previous month", previous),
        ("Change vs previous month", change_previous),
        (f"Average of the {TREND_MONTHS} months before", round(earlier_mean, 2)),
        (f"Change vs the {TREND_MONTHS}-month average", change_mean),
        ("Trend", direction(count, earlier_mean)),
    ]
    formats: dict[str, Format] = {
        "Change vs previous month": "pct",
        f"Change vs the {TREND_MONTHS}-month average": "pct",
        f"Average of the {TREND_MONTHS} months before": "hours",
        "Trend": "text",
    }
    return headline, formats


def _judged_headline(judged: _Judged) -> list[tuple[str, object]]:
    targets = judged.targets
    return [
        ("Response within target",
         share_of(targets["Response judged"], targets["Response within target"])),
        ("Resolution within target",
         share_of(targets["Resolution judged"], targets["Resolution within target"])),
        ("SLA breaches", len(judged.breaches)),
        ("Marked Could L1 resolve?", len(judged.marked)),
        ("Likely unnecessary (not marked)", len(judged.candidates)),
    ]


def _title(month: str, timezone: str, progress: str) -> str:
    if progress:
        return f"Escalation review {month} ({month_name(month)} so far: {progress}, " \
            f"times in {timezone})"
    return f"Escalation review {month} ({month_name(month)}, times in {timezone})"


def _trend_section(trend: pd.DataFrame, month: str) -> Section:
    return Section(
        "Escalations per month",
        trend,
        {"Month": "text", "Escalations": "int", "Change vs previous month": "pct"},
        Chart("line", "Month", ("Escalations",), "Escalations per month"),
        f"Month {month} and the {TREND_MONTHS} months before it; a change over fewer than "
        f"{MIN_BASE} escalations is left blank (said in counts in the answers).",
    )


def _sections(found: _Month, judged: _Judged, policy_levels: Mapping[int, str],
              timezone: str) -> list[Section]:
    """The review's sections after the trend, for a month with escalations."""
    in_month, targets = found.in_month, judged.targets
    breaches, marked, candidates, keys = (judged.breaches, judged.marked, judged.candidates,
                                          judged.keys)
    return [
        Section(
            "Escalations per week", week_table(in_month, found.month, timezone),
            {"Week": "text", "Escalations": "int"},
            Chart("bar", "Week", ("Escalations",), "Escalations per week"),
            "Weeks run Monday to Sunday; only the month's own days are counted.",
        ),
        Section(
            "By level", level_table(in_month, policy_levels, judged.levels),
            {"Level": "text", "Name": "text", "Escalations": "int", "Share": "pct"},
            note="The level each escalation went to, most common first.",
        ),
        Section(
            "By trigger", judged.by_trigger,
            {"Trigger": "text", "Escalations": "int", "Share": "pct",
             **{column: "int" for column in HOW_COLUMNS.values()}},
            Chart("bar", "Trigger", ("Escalations",), "Escalations by trigger"),
            "The triggers that had fired on the row when it moved up, most common first; "
            "an escalation with two counts under each. Automatic: the tool escalated it; "
            "escalate command and raised by hand: a person did.",
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
            "Marked Could L1 resolve?", id_table(marked),
            {"ID": "text", "Issue type": "text", "Level": "text", "Trigger": "text"},
            note="" if len(marked) else "No escalation this month is marked.",
        ),
        Section(
            "Likely unnecessary (not marked)", candidates,
            {"ID": "text", "Issue type": "text", "Level": "text", "Reason": "text"},
            note="Worth a look at the review meeting; raised by hand with no trigger fired "
            "first." if len(candidates) else "No likely candidates this month.",
        ),
        Section(
            "Issue types", judged.types,
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
