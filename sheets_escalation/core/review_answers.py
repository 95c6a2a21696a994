"""The review's sentences: the answers to the procedure's five questions, the
recommendations (each naming its evidence) and the threshold suggestions the replay
supports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from sheets_escalation.core.months import month_name
from sheets_escalation.core.review_tables import (
    BLANK,
    HOW_COLUMNS,
    LOG_EDIT,
    MANUAL,
    MIN_BASE,
    NO_TRIGGER,
    NO_TRIGGER_REASON,
    NOT_IN_LOG,
    QUICK_TYPE_HOURS,
    TREND_MONTHS,
    issue_label,
    quick_at_l2,
)

EMPOWER_MIN_ESCALATIONS = 2
EMPOWER_SHARE = 0.5  # unnecessary share of an issue type that calls for empowering L1
DOMINANT_SHARE = 0.3  # one key causing this share of escalations points at the product
DOMINANT_MIN_ESCALATIONS = 3
TARGET_SHARE = 0.8  # a level below this share within target gets a recommendation
TREND_ALERT = 0.2  # rise against the earlier months' average worth a recommendation
THRESHOLD_SHARE = 0.5  # marked share of a trigger's escalations that calls for a new threshold
REPEAT_CUSTOMER = 2  # escalations of one customer in the month worth a call
ID_LIMIT = 8  # IDs named in one sentence; the tables list every one

QUESTIONS = (
    "How many, and which way",
    "Most common trigger",
    "Resolved within target",
    "Preventable by L1 training or documentation",
    "Unnecessary",
)


@dataclass(frozen=True)
class ThresholdOption:
    """One threshold tried for a trigger: ``change`` as people read it ("Financial loss
    over 500 → 800") and the IDs (casefolded) the replay still escalates with it."""

    change: str
    escalated: frozenset[str]


class ThresholdReplay(Protocol):
    """The month replayed from its rows' timestamps (core/replay.py), as the review asks it."""

    def attribution(self) -> Mapping[str, tuple[str, ...]]:
        """Return casefolded ID -> names of the numeric-threshold triggers that escalate
        that row in the replay under today's policy."""
        ...

    def options(self, trigger: str) -> Sequence[ThresholdOption]:
        """Return the thresholds tried for ``trigger``, smallest change first."""
        ...


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


def volume_answer(count: int, previous: int, mean: float, month: str, progress: str) -> str:
    """Given the month's count, the previous month's, the earlier months' average,
    the month and how far it is ("" when over), return the answer to "how many"."""
    name = month_name(month)
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


def direction(count: int, base: float) -> str:
    """The trend against the earlier months' average, in counts when that is tiny."""
    if base == 0:
        return "new (no escalations before)"
    if base < MIN_BASE:
        word = "up" if count > base else "down" if count < base else "level"
        return f"{count}, {word} from a {TREND_MONTHS}-month average of {base:.1f}"
    change = (count - base) / base
    return "flat" if change == 0 else _signed(change)


def trigger_answer(by_trigger: pd.DataFrame, count: int) -> str:
    """Given the trigger table and the month's count, return the answer naming the
    most common trigger(s)."""
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


def target_answer(targets: pd.DataFrame, breaches: pd.DataFrame) -> str:
    """Given the within-target table and the breaches, return the answer on targets
    met and breached."""
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


def prevention_answer(shorts: list[str]) -> str:
    """Given the short prevention findings, return the answer on what L1 training
    or documentation could prevent."""
    if not shorts:
        return ("Nothing this month: no issue type or key reached L2 repeatedly only to be "
                "resolved quickly or marked Could L1 resolve?.")
    return "; ".join(shorts) + "."


def unnecessary_answer(marked: pd.DataFrame, candidates: pd.DataFrame, count: int) -> str:
    """Given the marked escalations, the likely candidates and the month's count,
    return the answer on unnecessary escalations."""
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


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def prevention(events: pd.DataFrame, marked: pd.DataFrame, candidates: pd.DataFrame,
                keys: pd.DataFrame, count: int) -> list[tuple[str, str]]:
    """What better L1 training or documentation could prevent, from what reached L2/L3:
    (short answer, recommendation) per issue type whose escalations mostly needed little
    there (marked Could L1 resolve?, resolved quickly at L2, or likely unnecessary), and
    per issue key escalated at least twice. Each names its rows; none fires on zero."""
    found = []
    little = set(marked["id"]) | set(candidates["ID"])
    quick = quick_at_l2(events)
    little |= set(quick["id"])
    labels = events["issue_type"].map(issue_label)
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


def recommend(
    count: int,
    earlier_mean: float,
    by_trigger: pd.DataFrame,
    events: pd.DataFrame,
    targets: pd.DataFrame,
    month: str,
) -> list[str]:
    """Plain sentences following the procedure's "reducing escalations" questions, each
    naming its evidence; the prevention ones come from :func:`prevention`."""
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
