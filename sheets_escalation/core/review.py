"""The monthly review (SPEC §5): pure tables computed from the frames the engine uses.

Nothing here reads a file, the clock or the environment; ``export.py`` renders a
:class:`Review` to the review tab and to stakeholder files.

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
  moved, as the replay (simulate.py) finds them, or "No trigger had fired". Without a
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
NO_TRIGGER = "No trigger had fired"
NO_TRIGGER_REASON = "Raised by a person with no trigger fired"
MIN_BASE = 5  # below this many escalations a change is said in counts, not percent
REPEAT_CUSTOMER = 2  # escalations of one customer in the month worth a call
ID_LIMIT = 8  # IDs named in one sentence; the tables list every one
# How an escalation happened, as History and the log tell it.
AUTOMATIC, COMMAND, BY_HAND = "automatic", "escalate command", "raised by hand"
HOW_COLUMNS = {AUTOMATIC: "Automatic", COMMAND: "Escalate command", BY_HAND: "Raised by hand"}
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
    # The procedure's five questions, each answered in one sentence, shown first.
    answers: list[tuple[str, str]] = field(default_factory=list)

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


class TriggerReplay(Protocol):
    """The rows replayed from their timestamps (simulate.py): which triggers had fired on
    a row when it moved up."""

    def fired_before(self, moves: pd.DataFrame) -> list[tuple[str, ...]]:
        """Given escalations (columns id, from_level, at, start), return for each the
        names of the triggers that had fired on its row by ``at``."""
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
    rows = _rows(log, result)
    history = _history(history)
    escalations = _escalations(rows, history)
    start, end = month_bounds(month, timezone)
    in_month = escalations[(escalations["at"] >= start) & (escalations["at"] < end)]
    in_month = _attribute(in_month.reset_index(drop=True), escalations, rows, triggers)
    trend = _trend(escalations, month, timezone)
    count = len(in_month)
    previous = int(trend["Escalations"].iloc[-2])
    earlier_mean = float(trend["Escalations"].iloc[:-1].mean())
    # A percentage over a handful of escalations ("up 2000%") says nothing; the answers
    # and the Trend give those changes in counts.
    change_previous = _change(count, previous) if previous >= MIN_BASE else None
    change_mean = _change(count, earlier_mean) if earlier_mean >= MIN_BASE else None
    progress = _progress(month, timezone, now)
    headline: list[tuple[str, object]] = [
        ("Escalations", count),
        ("Previous month", previous),
        ("Change vs previous month", change_previous),
        (f"Average of the {TREND_MONTHS} months before", round(earlier_mean, 2)),
        (f"Change vs the {TREND_MONTHS}-month average", change_mean),
        ("Trend", _direction(count, earlier_mean)),
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
        f"Month {month} and the {TREND_MONTHS} months before it; a change over fewer than "
        f"{MIN_BASE} escalations is left blank (said in counts in the answers).",
    )
    title = f"Escalation review {month} ({_month_name(month)}, times in {timezone})"
    if progress:
        title = f"Escalation review {month} ({_month_name(month)} so far: {progress}, " \
            f"times in {timezone})"
    volume = _volume_answer(count, previous, earlier_mean, month, progress)
    if count == 0:
        nothing = f"None: there were no escalations in {_month_name(month)}."
        return Review(
            month, title, headline, [trend_section],
            [f"There were no escalations in {_month_name(month)}, so there is nothing to change."],
            True, formats, answers=[
                (QUESTIONS[0], volume), (QUESTIONS[1], nothing), (QUESTIONS[2], nothing),
                (QUESTIONS[3], nothing), (QUESTIONS[4], nothing)],
        )

    events = in_month.merge(
        rows.drop_duplicates("id", keep="last"), on="id", how="left", suffixes=("", "_row")
    )
    events["could_l1_resolve"] = events["could_l1_resolve"].fillna(False).astype(bool)
    judged = rows[(rows["level"] >= 2) & (rows["escalated_at"] >= start) & (rows["escalated_at"] < end)]
    levels = sorted(n for n in policy_levels if n >= 2) or [2, 3]
    targets = _within_target(judged, levels, policy_levels)
    breaches = _breaches(history, judged, start, end)
    marked = events[events["could_l1_resolve"]]
    candidates = _candidates(events, rows, judged)
    types = _issue_types(events, marked, candidates)
    keys = _issue_keys(events, rows, start, end)
    by_trigger = _by_trigger(in_month)

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
            "Weeks run Monday to Sunday; only the month's own days are counted.",
        ),
        Section(
            "By level", _by_level(in_month, policy_levels, levels),
            {"Level": "text", "Name": "text", "Escalations": "int", "Share": "pct"},
            note="The level each escalation went to, most common first.",
        ),
        Section(
            "By trigger", by_trigger,
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
            "Marked Could L1 resolve?", _id_table(marked),
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
    prevention = _prevention(events, marked, candidates, keys, count)
    recommendations = [sentence for _, sentence in prevention]
    recommendations += _recommend(count, earlier_mean, by_trigger, events, targets, month)
    if replay is not None and len(marked):
        recommendations += threshold_suggestions(events, replay)
    if not recommendations:
        recommendations = [f"Nothing stands out in {_month_name(month)}; keep the current "
                           "procedure."]
    answers = [
        (QUESTIONS[0], volume),
        (QUESTIONS[1], _trigger_answer(by_trigger, count)),
        (QUESTIONS[2], _target_answer(targets, breaches)),
        (QUESTIONS[3], _prevention_answer([short for short, _ in prevention])),
        (QUESTIONS[4], _unnecessary_answer(marked, candidates, count)),
    ]
    return Review(month, title, headline, sections, recommendations, False, formats,
                  answers=answers)


QUESTIONS = (
    "How many, and which way",
    "Most common trigger",
    "Resolved within target",
    "Preventable by L1 training or documentation",
    "Unnecessary",
)


def _progress(month: str, timezone: str, now: pd.Timestamp | None) -> str:
    """"25 of 30 days" while ``now`` falls inside the month, else ""."""
    if now is None:
        return ""
    start, end = month_bounds(month, timezone)
    stamp = pd.Timestamp(now)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    if not start <= stamp < end:
        return ""
    days = pd.Timestamp(f"{month}-01").days_in_month
    return f"{stamp.tz_convert(timezone).day} of {days} days"


def _ids(frame: pd.DataFrame, column: str = "id", limit: int = ID_LIMIT) -> str:
    """The frame's IDs, each once, in natural order; an ID escalated twice names its
    levels; past ``limit`` the rest are counted (the tables list them all)."""
    levels: dict[str, list[str]] = {}
    steps = frame["level"] if "level" in frame else pd.Series("", index=frame.index)
    for ident, level in zip(frame[column].astype(str), steps, strict=True):
        levels.setdefault(ident, []).append(f"L{level}" if isinstance(level, int | np.integer)
                                            else str(level))
    named = [f"{ident} ({', '.join(sorted(set(found)))})" if len(set(found)) > 1 else ident
             for ident, found in sorted(levels.items(), key=lambda item: _natural(item[0]))]
    if len(named) > limit:
        return ", ".join(named[:limit]) + f" and {len(named) - limit} more"
    return ", ".join(named)


def _natural(text: str) -> list[object]:
    """ESC-9999 before ESC-10000."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _volume_answer(count: int, previous: int, mean: float, month: str, progress: str) -> str:
    name = _month_name(month)
    before = pd.Timestamp(f"{month}-01") - pd.DateOffset(months=1)
    when = f"in {name} so far ({progress})" if progress else f"in {name}"
    sentence = f"{_count(count, 'escalation')} {when}"
    if previous >= MIN_BASE:
        change = (count - previous) / previous
        sentence += f", {_signed(change)} on {before:%B} ({previous})"
    else:
        sentence += f", against {previous} in {before:%B}"
    if mean >= MIN_BASE:
        sentence += (f" and {_signed((count - mean) / mean)} on the {TREND_MONTHS}-month "
                     f"average ({mean:.1f})")
    else:
        sentence += f" and a {TREND_MONTHS}-month average of {mean:.1f}"
    if progress:
        sentence += "; the month is not over"
    return sentence + "."


def _signed(change: float) -> str:
    if change > 0:
        return f"up {change:.0%}"
    if change < 0:
        return f"down {-change:.0%}"
    return "level"


def _trigger_answer(by_trigger: pd.DataFrame, count: int) -> str:
    named = by_trigger[by_trigger["Trigger"] != NO_TRIGGER]
    none = by_trigger[by_trigger["Trigger"] == NO_TRIGGER]
    parts = []
    if len(named):
        top = int(named["Escalations"].iloc[0])
        tied = named[named["Escalations"] == top]
        names = " and ".join(f'"{name}"' for name in tied["Trigger"])
        each = " each" if len(tied) > 1 else ""
        parts.append(f"{names}, behind {top} of {count} escalations{each} "
                     f"({_how_text(tied.iloc[0])})" if len(tied) == 1 else
                     f"{names}, behind {top} of {count} escalations each")
    if len(none):
        unexplained = int(none["Escalations"].iloc[0])
        parts.append(f"{unexplained} had no trigger fired when "
                     f"{'it' if unexplained == 1 else 'they'} moved up")
    return "; ".join(parts) + "." if parts else "No trigger is recorded."


def _how_text(row: pd.Series) -> str:
    said = [f"{int(row[column])} {how}" for how, column in HOW_COLUMNS.items()
            if int(row[column])]
    return ", ".join(said)


def _target_answer(targets: pd.DataFrame, breaches: pd.DataFrame) -> str:
    said = []
    for target in ("Response", "Resolution"):
        judged = int(targets[f"{target} judged"].sum())
        met = int(targets[f"{target} within target"].sum())
        said.append(f"{target.lower()} on {met} of {judged} judged ({met / judged:.0%})"
                    if judged else f"{target.lower()} not judged yet")
    sentence = ", ".join(said)
    sentence = sentence[0].upper() + sentence[1:]
    if len(breaches):
        issues = breaches["ID"].nunique()
        on = f" on {issues} issues" if issues != len(breaches) else ""
        sentence += (f"; {len(breaches)} SLA "
                     f"{'breach' if len(breaches) == 1 else 'breaches'}{on} "
                     f"({_ids(breaches, 'ID')})")
    else:
        sentence += "; no SLA breaches"
    return sentence + "."


def _prevention_answer(shorts: list[str]) -> str:
    if not shorts:
        return ("Nothing this month: no issue type or key reached L2 repeatedly only to be "
                "resolved quickly or marked Could L1 resolve?.")
    return "; ".join(shorts) + "."


def _unnecessary_answer(marked: pd.DataFrame, candidates: pd.DataFrame, count: int) -> str:
    parts = []
    if len(marked):
        parts.append(f"{len(marked)} of {count} marked Could L1 resolve? ({_ids(marked)})")
    else:
        parts.append("none marked Could L1 resolve?")
    if len(candidates):
        hand = candidates[candidates["Reason"] == NO_TRIGGER_REASON]
        verb = "looks" if len(candidates) == 1 else "look"
        sentence = f"{len(candidates)} more {verb} unnecessary"
        if len(hand) == len(candidates):
            sentence += (f", raised by a person with no trigger fired "
                         f"({_ids(candidates, 'ID')})")
        elif len(hand):
            sentence += (f" ({_ids(candidates, 'ID')}), first {_ids(hand, 'ID')}: raised by "
                         "a person with no trigger fired")
        else:
            sentence += f" ({_ids(candidates, 'ID')})"
        parts.append(sentence)
    else:
        parts.append("no others look unnecessary")
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


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
    (a list of names as History gives them), how (automatic, escalate command or raised
    by hand) and from_level."""
    escalated = history[history["event"] == "escalated"]
    command = escalated["trigger"].str.casefold() == "manual"
    from_history = pd.DataFrame({
        "id": escalated["id"],
        "level": _level_number(escalated["to_level"]),
        "at": escalated["at"],
        "trigger": [_trigger_names(text) for text in escalated["trigger"]],
        "how": np.where(command, COMMAND, AUTOMATIC),
        "from_level": _level_number(escalated["from_level"]),
        "rank": 0,
    })
    above = rows[(rows["level"] >= 2) & rows["escalated_at"].notna()]
    from_log = pd.DataFrame({
        "id": above["id"], "level": above["level"], "at": above["escalated_at"],
        "trigger": [[LOG_EDIT]] * len(above), "how": BY_HAND, "from_level": np.nan, "rank": 1,
    })
    changed = history[history["event"] == "level changed"]
    upward = changed[_level_number(changed["to_level"]) > _level_number(changed["from_level"])]
    from_changes = pd.DataFrame({
        "id": upward["id"], "level": _level_number(upward["to_level"]), "at": upward["at"],
        "trigger": [[LOG_EDIT]] * len(upward), "how": BY_HAND,
        "from_level": _level_number(upward["from_level"]), "rank": 2,
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


def _attribute(in_month: pd.DataFrame, every: pd.DataFrame, rows: pd.DataFrame,
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
    changes = [_change(v, p) if p >= MIN_BASE else None
               for v, p in zip(values, [before, *values[:-1]], strict=True)]
    return pd.DataFrame({
        "Month": months, "Escalations": values,
        "Change vs previous month": pd.Series(changes, dtype=object),
    })


def _change(value: float, base: float) -> float | None:
    """Relative change from base to value; None when base is zero (no percentage exists)."""
    return None if base == 0 else (value - base) / base


def _direction(count: int, base: float) -> str:
    """The trend against the earlier months' average, in counts when that is tiny."""
    if base == 0:
        return "new (no escalations before)"
    if base < MIN_BASE:
        word = "up" if count > base else "down" if count < base else "level"
        return f"{count}, {word} from a {TREND_MONTHS}-month average of {base:.1f}"
    change = (count - base) / base
    return "flat" if change == 0 else _signed(change)


def _share(total: pd.Series, hits: pd.Series) -> float | None:
    denominator = int(total.sum())
    return None if denominator == 0 else int(hits.sum()) / denominator


def _per_week(in_month: pd.DataFrame, month: str, timezone: str) -> pd.DataFrame:
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
        "Trigger": events["label"],
    }).sort_values("ID", kind="stable").reset_index(drop=True)


def _label(value: object) -> str:
    if not isinstance(value, str):
        return NOT_IN_LOG
    return value or BLANK


def _candidates(events: pd.DataFrame, rows: pd.DataFrame, judged: pd.DataFrame) -> pd.DataFrame:
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
        [[key[0], _label(kind), f"L{key[1]}", reason] for key, (kind, reason) in reasons.items()],
        columns=["ID", "Issue type", "Level", "Reason"],
    )
    first = (table["Reason"] != NO_TRIGGER_REASON).astype(int)
    return table.assign(first=first).sort_values(["first", "ID"], kind="stable").drop(
        columns="first").reset_index(drop=True)


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


def _prevention(events: pd.DataFrame, marked: pd.DataFrame, candidates: pd.DataFrame,
                keys: pd.DataFrame, count: int) -> list[tuple[str, str]]:
    """What better L1 training or documentation could prevent, from what reached L2/L3:
    (short answer, recommendation) per issue type whose escalations mostly needed little
    there (marked Could L1 resolve?, resolved quickly at L2, or likely unnecessary), and
    per issue key escalated at least twice. Each names its rows; none fires on zero."""
    found = []
    little = set(marked["id"]) | set(candidates["ID"])
    quick = _quick_at_l2(events)
    little |= set(quick["id"])
    labels = events["issue_type"].map(_label)
    for name in labels.value_counts().index:
        if name in (BLANK, NOT_IN_LOG):
            continue
        of_type = events[labels == name]
        needed_little = of_type[of_type["id"].isin(little)]
        total = len(of_type)
        # Two moves of one issue are one case for training, not a pattern.
        if (needed_little["id"].nunique() < EMPOWER_MIN_ESCALATIONS
                or len(needed_little) < EMPOWER_SHARE * total):
            continue
        evidence = []
        fast = needed_little[needed_little["id"].isin(set(quick["id"]))]
        if len(fast):
            evidence.append(f"resolved within {QUICK_TYPE_HOURS:g} h at L2: {_ids(fast)}")
        flagged = needed_little[needed_little["could_l1_resolve"]]
        if len(flagged):
            evidence.append(f"marked Could L1 resolve?: {_ids(flagged)}")
        rest = needed_little[~needed_little["id"].isin(set(fast["id"]) | set(flagged["id"]))]
        if len(rest):
            evidence.append(f"likely unnecessary: {_ids(rest)}")
        found.append((
            f"{name}, {len(needed_little)} of {total} escalations needed little once "
            "escalated "
            f"({_ids(needed_little)})",
            f"Train L1 on {name} (a runbook, and the access to act): {len(needed_little)} of "
            f"{total} {name} escalations needed little once escalated — "
            + "; ".join(evidence) + ".",
        ))
    for _, row in keys.iterrows():
        name, escalated = row["Issue key"], int(row["Escalations"])
        if escalated < 2:
            continue
        ids = _ids(events[events["issue_key"].fillna("").astype(str).str.casefold()
                          == name.casefold()])
        if escalated >= DOMINANT_MIN_ESCALATIONS and escalated / count >= DOMINANT_SHARE:
            found.append((
                f'the product fault behind "{name}" ({escalated} escalations: {ids})',
                f'Fix the product behind "{name}": it caused {escalated} of {count} '
                f"escalations ({escalated / count:.0%}) from {int(row['Customers'])} customers "
                f"({ids}).",
            ))
        else:
            found.append((
                f'a knowledge-base article for "{name}" ({escalated} escalations: {ids})',
                f'Write a knowledge-base article for "{name}" so L1 can answer it directly: '
                f"{escalated} escalations ({ids}) and "
                f"{_count(int(row['Reports']), 'report')} opened this month.",
            ))
    return found


def _quick_at_l2(events: pd.DataFrame) -> pd.DataFrame:
    """The month's escalations to L2 whose row, still at L2, was resolved within
    QUICK_TYPE_HOURS of its Escalated at: a sign L1 could have done it."""
    at_l2 = events[(events["level"] == 2) & (events["level_row"] == 2)
                   & events["resolved_at"].notna() & events["escalated_at"].notna()]
    waited = _hours(at_l2["resolved_at"] - at_l2["escalated_at"])
    return at_l2[(waited >= 0) & (waited <= QUICK_TYPE_HOURS)]


def _recommend(
    count: int,
    earlier_mean: float,
    by_trigger: pd.DataFrame,
    events: pd.DataFrame,
    targets: pd.DataFrame,
    month: str,
) -> list[str]:
    """Plain sentences following the procedure's "reducing escalations" questions, each
    naming its evidence; the prevention ones come from :func:`_prevention`."""
    sentences = []
    customers = events["customer"].fillna("").astype(str)
    folded = customers.str.casefold()
    issues = events.assign(folded=folded)[folded != ""].drop_duplicates("id")
    for key, count_of in issues["folded"].value_counts().items():
        if count_of < REPEAT_CUSTOMER:
            break
        theirs = events[folded == key]
        sentences.append(
            f"Call {theirs['customer'].iloc[0]} about their account: "
            f"{count_of} of their issues were escalated this month ({_ids(theirs)}); one "
            "owner for the "
            "account can catch the shared cause."
        )
    names = events[["id", "trigger", "could_l1_resolve"]].explode("trigger")
    for name, group in names.groupby("trigger", sort=True):
        if name in (NO_TRIGGER, LOG_EDIT, MANUAL):
            continue
        flagged = group[group["could_l1_resolve"].astype(bool)]
        if len(flagged) >= 2 and len(flagged) > THRESHOLD_SHARE * len(group):
            sentences.append(
                f'Review the "{name}" trigger: {len(flagged)} of {len(group)} escalations it '
                f"was behind were marked Could L1 resolve? ({_ids(flagged)}); raise its "
                "threshold or let L1 handle those cases first."
            )
    unexplained = events[events["trigger"].map(lambda names: names == [NO_TRIGGER])]
    if len(unexplained):
        sentences.append(
            f"Ask about {_ids(unexplained)}: raised by a person while no trigger had fired. "
            f"Either L1 could have kept {'it' if len(unexplained) == 1 else 'them'}, or the "
            "Triggers tab lacks a rule people already follow."
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
    named = by_trigger[by_trigger["Trigger"] != NO_TRIGGER]
    rise = count - earlier_mean
    risen = (earlier_mean >= MIN_BASE and rise / earlier_mean >= TREND_ALERT) or (
        0 < earlier_mean < MIN_BASE and rise >= MIN_BASE)
    if risen and len(named):
        top = named.iloc[0]
        said = (f"rose {rise / earlier_mean:.0%} against" if earlier_mean >= MIN_BASE
                else f"rose to {count} from")
        sentences.append(
            f"Escalations {said} the average of the {TREND_MONTHS} months before"
            f"{'' if earlier_mean >= MIN_BASE else f' ({earlier_mean:.1f})'}; start with the "
            f'most common trigger, "{top["Trigger"]}" ({int(top["Escalations"])} this month).'
        )
    return sentences
