"""One vectorised function per trigger kind (SPEC §3, the trigger matrix).

Each function takes the evaluation :class:`Context` and one :class:`TriggerRule` and
returns a :class:`Firing`: which rows the condition holds for (before the level filter),
when it fired, and the evidence shown in the ``Why`` column. The engine passes only open
rows and applies the level filter (:func:`can_fire`) once; kinds with costly work use it
to skip rows that cannot fire.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process, utils

from sheets_escalation.core.policy import Policy, TriggerRule
from sheets_escalation.core.text import local_minutes

# token_set_ratio >= this counts as "the same issue" for descriptions without an Issue key.
FUZZY_THRESHOLD = 85.0
# (open text, nearby row) pairs listed at a time while finding the distinct text pairs.
_PAIRS_PER_CHUNK = 1_000_000
MENTION_FIELDS: tuple[tuple[str, str], ...] = (
    ("description", "Description"),
    ("steps_tried", "Steps tried"),
    ("notes", "Notes"),
)
PUBLIC_CHANNELS = ("social", "review")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Context:
    """What every trigger may look at, for one pass of the engine.

    ``log`` and the arrays beside it hold the rows being evaluated (the engine passes only
    rows a trigger could still raise: open and below the top level). ``reports`` is the
    whole log, for kinds that count other rows (repeat issues count resolved reports too);
    ``rows`` gives the position in ``reports`` of each ``log`` row.
    """

    log: pd.DataFrame
    level: np.ndarray
    level_start: pd.Series
    response_due: pd.Series
    first_response: pd.Series  # first response counted at the current level (NaT otherwise)
    now: pd.Timestamp
    policy: Policy
    reports: pd.DataFrame
    rows: np.ndarray
    reports_open: np.ndarray  # per ``reports`` row: not resolved (whatever its level)
    # Shared by the passes of one evaluation: results that do not depend on the levels.
    memo: dict[str, Any] = field(default_factory=dict)


def can_fire(context: Context, rule: TriggerRule) -> np.ndarray:
    """Given a pass's context, return where ``rule`` may raise a row at its current level:
    from its From level (any level for Any), below its To level."""
    allowed = context.level < rule.to_level
    if rule.from_level is not None:
        allowed &= context.level == rule.from_level
    return allowed


@dataclass(frozen=True)
class Firing:
    fired: np.ndarray
    fired_at: pd.Series
    why: pd.Series


def _evidence(mask: np.ndarray, index: pd.Index, text: str | pd.Series) -> pd.Series:
    base = np.full(len(index), "", dtype=object)
    base[mask] = text if isinstance(text, str) else text.to_numpy(dtype=object)[mask]
    return pd.Series(base, index=index, dtype=object)


def _at_level_start(context: Context, mask: np.ndarray, text: str | pd.Series) -> Firing:
    mask = np.asarray(mask, dtype=bool)
    return Firing(mask, context.level_start, _evidence(mask, context.log.index, text))


def _hours_text(seconds: np.ndarray, business: bool) -> pd.Series:
    hours = pd.Series(np.round(seconds / 3600.0, 1))
    unit = " business hours" if business else " hours"
    return hours.map("{:g}".format).astype(object) + unit


def unresolved_for(context: Context, rule: TriggerRule) -> Firing:
    assert rule.duration is not None
    calendar = context.policy.calendar
    seconds = calendar.seconds(rule.duration)
    opened = context.log["opened"]
    fired_at = calendar.add(opened, seconds, rule.duration.is_business)
    fired = (fired_at <= context.now).to_numpy(dtype=bool, na_value=False)
    elapsed = calendar.elapsed(opened, pd.Series(context.now, index=opened.index),
                               rule.duration.is_business)
    why = "open " + _hours_text(elapsed, rule.duration.is_business) + f" (limit {rule.duration})"
    why.index = opened.index
    return Firing(fired, fired_at, _evidence(fired, opened.index, why))


def manager_requested(context: Context, rule: TriggerRule) -> Firing:
    return _at_level_start(context, context.log["manager_requested"].to_numpy(dtype=bool),
                           "customer asked for a manager")


def financial_loss_over(context: Context, rule: TriggerRule) -> Firing:
    assert rule.amount is not None
    amount = context.log["financial_impact"]
    fired = (amount > rule.amount).to_numpy(dtype=bool, na_value=False)
    why = pd.Series("", index=amount.index, dtype=object)
    if fired.any():
        why[fired] = amount[fired].map(lambda a: f"financial impact {a:,.2f} > {rule.amount:,.2f}")
    return _at_level_start(context, fired, why)


def _keyword_pattern(keywords: tuple[str, ...]) -> str:
    # Longest first, so "data breach" is reported rather than "breach"; whole words only.
    ordered = sorted({k.strip() for k in keywords if k.strip()}, key=len, reverse=True)
    alternatives = "|".join(r"\s+".join(map(re.escape, k.split())) for k in ordered)
    return rf"(?i)(?<!\w)({alternatives})(?!\w)"


def mentions(context: Context, rule: TriggerRule) -> Firing:
    pattern = re.compile(_keyword_pattern(rule.keywords))
    index = context.log.index
    fired = np.zeros(len(index), dtype=bool)
    # Text search is the costly part: look only where the rule could fire (open rows at
    # its From level, below its To level), usually a small share of a long log.
    candidates = can_fire(context, rule)
    evidence = np.full(len(index), "", dtype=object)
    for key, header in MENTION_FIELDS:
        looked = np.flatnonzero(candidates & ~fired)
        if not len(looked):
            break
        # re on a plain list: pandas' string methods cost several times more per cell.
        found = [pattern.search(text)
                 for text in context.log[key].to_numpy(dtype=object)[looked].tolist()]
        hit = np.array([match is not None for match in found], dtype=bool)
        if hit.any():
            # Quote the keyword as written in the policy, not the cell's spacing.
            evidence[looked[hit]] = [f'"{_SPACES.sub(" ", match[1].lower())}" in {header}'
                                     for match in found if match is not None]
            fired[looked[hit]] = True
    why = pd.Series(evidence, index=index, dtype=object)
    return _at_level_start(context, fired, why)


def public_mention(context: Context, rule: TriggerRule) -> Firing:
    flagged = context.log["public_mention"].to_numpy(dtype=bool)
    channel = context.log["channel"].str.strip().str.casefold()
    public_channel = channel.isin(PUBLIC_CHANNELS).to_numpy()
    why = pd.Series("", index=context.log.index, dtype=object)
    why[public_channel] = "public post on " + context.log["channel"][public_channel].str.strip()
    why[flagged] = "negative public mention"
    return _at_level_start(context, flagged | public_channel, why)


def beyond_authority(context: Context, rule: TriggerRule) -> Firing:
    return _at_level_start(context, context.log["beyond_l2"].to_numpy(dtype=bool),
                           "beyond L2 authority or expertise")


def vip(context: Context, rule: TriggerRule) -> Firing:
    names = context.log["customer"].str.strip().str.casefold()
    fired = names.isin(context.policy.vip).to_numpy() & (names != "").to_numpy()
    return _at_level_start(context, fired, "VIP customer")


def no_response(context: Context, rule: TriggerRule) -> Firing:
    due = context.response_due
    answered_in_time = (context.first_response <= due).to_numpy(dtype=bool, na_value=False)
    fired = (due <= context.now).to_numpy(dtype=bool, na_value=False) & ~answered_in_time
    why = pd.Series("", index=context.log.index, dtype=object)
    if fired.any():
        why[fired] = "no first response by " + local_minutes(due[fired],
                                                             context.policy.timezone)
    return Firing(fired, due, why)


def _same_issue_groups(context: Context, rule: TriggerRule) -> pd.Series:
    """Return a group number per row (-1 for none): one per Issue key, one per fuzzy
    description cluster.

    Rows without an Issue key are compared (rapidfuzz token_set_ratio) only with open rows
    of the same Issue type opened within about the repeat window of them, which keeps the
    comparison to the rows that could still fire. The grouping does not depend on the
    rows' levels, so one evaluation computes it once for all its passes.
    """
    memo_key = f"repeat-groups:{rule.name}"
    if memo_key in context.memo:
        cached: pd.Series = context.memo[memo_key]
        return cached
    labels = _compute_issue_groups(context, rule)
    context.memo[memo_key] = labels
    return labels


def _compute_issue_groups(context: Context, rule: TriggerRule) -> pd.Series:
    log = context.reports
    labels = np.full(len(log), -1, dtype=np.int64)
    keys = log["issue_key"]  # trimmed by read_log
    has_key = (keys != "").to_numpy()
    key_codes, distinct_keys = pd.factorize(keys[has_key].str.casefold())
    labels[has_key] = key_codes
    next_label = len(distinct_keys)

    assert rule.repeat_window is not None
    calendar = context.policy.calendar
    window = calendar.seconds(rule.repeat_window)
    opened = log["opened"]
    # Open rows at any level anchor the comparison, so the clusters (and the evidence that
    # lists them) stay the same when a row moves up a level.
    open_rows = context.reports_open & opened.notna().to_numpy()
    candidates = ~has_key & opened.notna().to_numpy() & (log["description"] != "").to_numpy()
    if not open_rows.any() or not candidates.any():
        return pd.Series(labels, index=log.index)
    # Distance (seconds) from each row to the nearest open row's Opened.
    open_times = np.sort(opened[open_rows].astype("int64").to_numpy() / 1e9)
    times = opened.astype("int64").to_numpy() / 1e9
    if rule.repeat_window.is_business:
        # A pre-filter only (the exact span is checked later): business time can stretch
        # over weekends and closures, so allow a generous calendar span.
        working_days = window / max(calendar.day_seconds, 1.0)
        window = (working_days * 7 / 5 + 14) * 86400.0
    position = np.searchsorted(open_times, times)
    before = np.abs(times - open_times[np.clip(position - 1, 0, len(open_times) - 1)])
    after = np.abs(open_times[np.clip(position, 0, len(open_times) - 1)] - times)
    near = np.minimum(before, after) <= window
    candidates &= near
    if not candidates.any():
        return pd.Series(labels, index=log.index)
    subset = log.loc[candidates, ["issue_type", "description"]]
    subset_times = times[candidates]
    subset_open = open_rows[candidates]
    subset_rows = np.flatnonzero(candidates)
    types = subset["issue_type"].str.casefold()  # trimmed by read_log
    for _, rows in subset.groupby(types, sort=False):
        if len(rows) < 2:
            continue
        at = subset.index.get_indexer(rows.index)
        component = _fuzzy_components(rows["description"].tolist(), subset_times[at],
                                      subset_open[at], window)
        # Each Issue type's clusters get labels of their own, after the keys'.
        labels[subset_rows[at]] = next_label + component
        next_label += int(component.max()) + 1
    return pd.Series(labels, index=log.index)


def _fuzzy_components(descriptions: list[str], times: np.ndarray, is_open: np.ndarray,
                      window: float) -> np.ndarray:
    """Given descriptions, their Opened (seconds) and which rows are open, return a component
    label per row: rows linked by a chain of close matches (token_set_ratio >=
    FUZZY_THRESHOLD) between an open row and a row opened at most ``window`` from it.
    Identical descriptions (after rapidfuzz's normalisation) always belong together.

    Only open rows can fire, so only they are compared, each distinct text once with each
    distinct text opened within the window of one of its open rows. The cost grows with
    open rows times the rows of a window, not with the square of the history (years of
    resolved rows are never compared with each other).
    """
    # Normalise each distinct description once, then merge those that normalise alike.
    raw_codes, raw_texts = pd.factorize(pd.Series(descriptions, dtype=object))
    normalized_codes, uniques = pd.factorize(
        pd.Series([utils.default_process(text) for text in raw_texts], dtype=object))
    codes = normalized_codes[raw_codes]
    texts: list[str] = list(uniques)
    if not is_open.any():
        return codes  # nothing to compare: only identical texts belong together
    order = np.argsort(times, kind="stable")
    sorted_times, sorted_codes = times[order], codes[order]
    # One time span to search per run of an open text's rows whose windows touch: a text
    # repeated through a burst of reports is looked up once, not once per report.
    anchor_codes, anchor_times = codes[is_open], times[is_open]
    by_text = np.lexsort((anchor_times, anchor_codes))
    anchor_codes, anchor_times = anchor_codes[by_text], anchor_times[by_text]
    starts = np.ones(len(anchor_codes), dtype=bool)
    starts[1:] = (anchor_codes[1:] != anchor_codes[:-1]) | (np.diff(anchor_times) > 2 * window)
    first = np.flatnonzero(starts)
    last = np.append(first[1:] - 1, len(anchor_codes) - 1).astype(np.int64)
    low = np.searchsorted(sorted_times, anchor_times[first] - window, side="left")
    high = np.searchsorted(sorted_times, anchor_times[last] + window, side="right")
    pairs = _distinct_pairs(anchor_codes[first], low, high, sorted_codes, len(texts))
    left, right = np.divmod(pairs, len(texts))
    if len(left):
        scores = process.cpdist([texts[c] for c in left.tolist()],
                                [texts[c] for c in right.tolist()],
                                scorer=fuzz.token_set_ratio, processor=None, workers=-1,
                                score_cutoff=FUZZY_THRESHOLD)
        close = scores >= FUZZY_THRESHOLD
        left, right = left[close], right[close]
    component = np.arange(len(texts))
    changed = True
    while changed:
        lowest = component.copy()
        np.minimum.at(lowest, left, component[right])
        np.minimum.at(lowest, right, component[left])
        changed = bool((lowest != component).any())
        component = lowest
    return component[codes]


def _distinct_pairs(span_codes: np.ndarray, low: np.ndarray, high: np.ndarray,
                    sorted_codes: np.ndarray, size: int) -> np.ndarray:
    """Given text codes with the range [low, high) of ``sorted_codes`` each is compared
    with, return the distinct pairs of different codes as ``smaller * size + larger``,
    sorted. Pairs are listed at most about _PAIRS_PER_CHUNK at a time."""
    counts = (high - low).astype(np.int64)
    # Cut long ranges into pieces of at most one chunk, then group pieces into chunks.
    pieces = np.maximum(1, -(-counts // _PAIRS_PER_CHUNK))
    piece_of = np.repeat(np.arange(len(counts)), pieces)
    step = np.arange(len(piece_of)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    piece_low = low[piece_of] + step * _PAIRS_PER_CHUNK
    piece_count = np.minimum(piece_low + _PAIRS_PER_CHUNK, high[piece_of]) - piece_low
    piece_code = span_codes[piece_of]
    chunk = (np.cumsum(piece_count) - piece_count) // _PAIRS_PER_CHUNK
    bounds = np.searchsorted(chunk, np.arange(int(chunk.max(initial=-1)) + 2))
    found = [np.empty(0, dtype=np.int64)]
    for begin, end in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        count = piece_count[begin:end]
        rows = (np.repeat(piece_low[begin:end] - (np.cumsum(count) - count), count)
                + np.arange(int(count.sum())))
        other = sorted_codes[rows].astype(np.int64)
        own = np.repeat(piece_code[begin:end], count).astype(np.int64)
        keep = own != other  # identical texts share a code and so a component already
        found.append(np.unique(np.minimum(own[keep], other[keep]) * size
                               + np.maximum(own[keep], other[keep])))
    return np.unique(np.concatenate(found))


@dataclass(frozen=True)
class _Reports:
    """The level-independent part of a repeat-issue rule: each report (row of ``frame``)
    that a qualifying window holds, and the window end (row of ``frame``) it fires at."""

    frame: pd.DataFrame  # label, customer, opened, id, position (in Context.reports)
    keys: np.ndarray
    counts: np.ndarray
    found: np.ndarray
    chosen: np.ndarray


def repeat_issue(context: Context, rule: TriggerRule) -> Firing:
    assert rule.repeat_count is not None and rule.repeat_window is not None
    index = context.log.index
    fired = np.zeros(len(index), dtype=bool)
    fired_at = pd.Series(pd.NaT, index=index, dtype="datetime64[ns, UTC]")
    why = pd.Series("", index=index, dtype=object)
    memo_key = f"repeat-reports:{rule.name}"
    if memo_key not in context.memo:
        context.memo[memo_key] = _qualifying_reports(context, rule)
    reports: _Reports | None = context.memo[memo_key]
    if reports is None:
        return Firing(fired, fired_at, why)
    frame, keys = reports.frame, reports.keys
    # Only rows the rule can fire for (at this pass's levels) need a firing time and evidence.
    where = np.full(len(context.reports), -1, dtype=np.int64)
    where[context.rows] = np.arange(len(context.rows))
    row = where[frame["position"].to_numpy()]
    found = reports.found & (row >= 0)
    found[found] = can_fire(context, rule)[row[found]]
    members = np.flatnonzero(found)
    if not len(members):
        return Firing(fired, fired_at, why)
    chosen_end = reports.chosen[members]
    window = context.policy.calendar.seconds(rule.repeat_window)
    ids = frame["id"].to_numpy(dtype=object)
    texts: dict[int, str] = {}
    for end_row in np.unique(chosen_end).tolist():
        first_row = int(np.searchsorted(keys, keys[end_row] - window, side="left"))
        last_row = int(np.searchsorted(keys, keys[end_row], side="right"))
        listed = ", ".join(i for i in ids[first_row:last_row] if i)
        texts[end_row] = f"{reports.counts[end_row]} customers within {rule.repeat_window}: {listed}"
    positions = row[members]
    fired[positions] = True
    fired_at.iloc[positions] = frame["opened"].array[chosen_end]
    evidence = np.full(len(index), "", dtype=object)
    evidence[positions] = [texts[e] for e in chosen_end.tolist()]
    why = pd.Series(evidence, index=index, dtype=object)
    fired &= (fired_at <= context.now).to_numpy(dtype=bool, na_value=False)
    return Firing(fired, fired_at, why)


def _qualifying_reports(context: Context, rule: TriggerRule) -> _Reports | None:
    """Group the reports, count distinct customers per window, and find for each report
    the first qualifying window that holds it; None when no window qualifies."""
    assert rule.repeat_count is not None and rule.repeat_window is not None
    log = context.reports
    calendar = context.policy.calendar
    labels = _same_issue_groups(context, rule).to_numpy()
    usable = np.flatnonzero((labels >= 0) & log["opened"].notna().to_numpy())
    if not len(usable):
        return None
    # Customers as numbers (trimmed by read_log; compared casefolded), then only groups
    # with enough distinct customers: most groups are singletons.
    names = log["customer"].to_numpy(dtype=object)[usable]
    customer, distinct_names = pd.factorize(
        np.array([name.casefold() for name in names.tolist()], dtype=object))
    named = names != ""
    usable, customer, label = usable[named], customer[named], labels[usable][named]
    pairs = np.unique(label * len(distinct_names) + customer)
    customers_per_label = np.bincount(pairs // len(distinct_names),
                                      minlength=int(labels.max()) + 1)
    enough = customers_per_label[label] >= rule.repeat_count
    if not enough.any():
        return None
    usable, customer, label = usable[enough], customer[enough], label[enough]
    frame = pd.DataFrame({
        "label": label,
        "customer": customer,
        "opened": log["opened"].array[usable],
        "id": log["id"].to_numpy(dtype=object)[usable],
        "position": usable,
    })
    window = calendar.seconds(rule.repeat_window)
    origin = pd.Series(frame["opened"].min(), index=frame.index)
    frame["t"] = calendar.elapsed(origin, frame["opened"], rule.repeat_window.is_business)
    order = np.lexsort((frame["opened"].astype("int64").to_numpy(), frame["t"].to_numpy(),
                        frame["label"].to_numpy()))
    frame = frame.take(order).reset_index(drop=True)
    # All groups on one line, each further along than any window can reach, so one sorted
    # array answers every group's window questions with searchsorted.
    group = pd.factorize(frame["label"])[0]
    t = frame["t"].to_numpy()
    keys = group * (float(t.max()) + window + 1.0) + t
    # A report stands for its customer in the windows ending from its own time until the
    # customer's next report in the group (or until it falls out of the window): the
    # distinct customers of the window ending at `k` are the reports whose span covers k.
    customer = frame["customer"].to_numpy()
    pair = group.astype(np.int64) * (int(customer.max()) + 1) + customer
    by_pair = np.lexsort((keys, pair))
    next_key = np.full(len(keys), np.inf)
    same = pair[by_pair][1:] == pair[by_pair][:-1]
    next_key[by_pair[:-1][same]] = keys[by_pair][1:][same]
    span_end = np.minimum(next_key, keys + window + 1e-9)
    counts = (np.searchsorted(keys, keys, side="right")
              - np.searchsorted(np.sort(span_end), keys, side="right"))
    qualifying = np.flatnonzero(counts >= rule.repeat_count)
    if not len(qualifying):
        return None
    # Each report fires at the first qualifying window end at or after it that still holds
    # it (within one window): the Nth report of its cluster.
    ends_keys = keys[qualifying]
    slot = np.searchsorted(ends_keys, keys, side="left")
    found = slot < len(qualifying)
    chosen = np.where(found, qualifying[np.minimum(slot, len(qualifying) - 1)], -1)
    found &= keys[np.maximum(chosen, 0)] - keys <= window
    return _Reports(frame, keys, counts, found, chosen)


KINDS: dict[str, Callable[[Context, TriggerRule], Firing]] = {
    "unresolved_for": unresolved_for,
    "manager_requested": manager_requested,
    "financial_loss_over": financial_loss_over,
    "mentions": mentions,
    "repeat_issue": repeat_issue,
    "public_mention": public_mention,
    "beyond_authority": beyond_authority,
    "vip": vip,
    "no_response": no_response,
}
