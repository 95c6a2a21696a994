"""Properties of the whole sync job (hypothesis) on random small logs, against the in-memory
backend with the default policy: it never stops on odd data and leaves what people typed
alone (SPEC §3: only its own columns, IDs in blank ID cells, Level and Escalated at when it
escalates), and a run an hour later records no `breached` or `id assigned` event twice.

Formula text (SPEC §3's "text stays text") is not checked here: the memory backend stores
values as Python objects, with no notion of a formula, so it cannot show the difference;
tests/test_guarantees.py checks it through both real backends."""

from __future__ import annotations

import copy
import re
from collections import Counter
from typing import Any

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from sheets_escalation.core import schema
from sheets_escalation.core.cells import parse_levels
from sheets_escalation.jobs.sync import SyncReport, run_sync
from tests.fixtures import HEADERS, ROWS, at, sync_tabs
from tests.memory_backend import MemoryBackend

LOGS = st.lists(ROWS, min_size=1, max_size=20)
NOWS = st.builds(lambda day, hour: pd.Timestamp(at(day, hour), tz="UTC"),
                 st.integers(1, 5), st.integers(0, 23))

ID_COL = HEADERS.index("ID")
LEVEL_COL = HEADERS.index("Level")
ESCALATED_AT_COL = HEADERS.index("Escalated at")
OPENED_COL = HEADERS.index("Opened")
AMOUNT_COL = HEADERS.index("Financial impact")
OWNED_HEADERS = [c.header for c in schema.OWNED_COLUMNS]
PROBLEMS_COL = len(HEADERS) + [c.key for c in schema.OWNED_COLUMNS].index("problems")
NEW_ID = re.compile(r"^ESC-[0-9]{4,}$")


def _sync(rows: list[list[Any]], now: pd.Timestamp) -> tuple[MemoryBackend, SyncReport]:
    backend = MemoryBackend(sync_tabs(rows))
    return backend, run_sync(backend, now)


def _history(backend: MemoryBackend) -> list[list[Any]]:
    return [list(r) for r in backend.tabs.get(schema.HISTORY, [[]])[1:]]


def _level(cell: Any) -> int:
    levels: list[int] = parse_levels(pd.Series([cell], dtype=object), "Level").values.tolist()
    return levels[0]


def _same(before: Any, after: Any) -> bool:
    """The cell holds the very value typed: equal and of the same type (1 is not 1.0)."""
    return type(before) is type(after) and before == after


@given(LOGS, NOWS)
@settings(max_examples=150, deadline=None)
def test_a_sync_keeps_every_typed_cell_and_writes_only_what_it_may(
        rows: list[list[Any]], now: pd.Timestamp) -> None:
    typed = copy.deepcopy(rows)
    backend, report = _sync(rows, now)

    grid = backend.tabs[schema.ESCALATIONS]
    assert len(grid) == len(typed) + 1
    assert grid[0] == [*HEADERS, *OWNED_HEADERS]
    assert set(backend.tabs) <= {schema.ESCALATIONS, schema.SETTINGS, schema.HISTORY}
    settings_rows = backend.tabs[schema.SETTINGS]
    assert [r[0] for r in settings_rows[1:]] == [k for k, _ in schema.DEFAULT_SETTINGS]
    assert [r[1] for r in settings_rows[1:] if r[0] != "Last run"] == \
        [v for k, v in schema.DEFAULT_SETTINGS if k != "Last run"]

    history = _history(backend)
    escalated_to = {(str(e[1]), str(e[4])) for e in history if e[2] == "escalated"}
    assigned = Counter(str(e[1]) for e in history if e[2] == "id assigned")
    stamp = now.tz_convert("UTC").tz_localize(None).to_pydatetime()
    for before, after in zip(typed, grid[1:], strict=True):
        assert len(after) <= len(HEADERS) + len(OWNED_HEADERS)
        after = after + [None] * (len(HEADERS) + len(OWNED_HEADERS) - len(after))
        row_id = after[ID_COL]
        for col, (old, new) in enumerate(zip(before, after[:len(HEADERS)], strict=True)):
            if _same(old, new):
                continue
            if col == ID_COL:
                # Only a blank ID is filled, with a fresh ID recorded once in History.
                assert old is None and NEW_ID.match(new), (old, new)
                assert assigned[new] == 1
            elif col == LEVEL_COL:
                # Raised, never lowered, and only with an `escalated` event to that level.
                assert new in ("L2", "L3") and int(new[1]) > _level(old), (old, new)
                assert (row_id, new) in escalated_to
                assert _same(after[ESCALATED_AT_COL], stamp)
            elif col == ESCALATED_AT_COL:
                assert _same(new, stamp) and not _same(after[LEVEL_COL], before[LEVEL_COL])
            else:
                raise AssertionError(f"{HEADERS[col]} rewritten: {old!r} -> {new!r}")
        # Bad input is reported in the row, not a reason to stop.
        if before[OPENED_COL] == "soon":
            assert "Opened" in str(after[PROBLEMS_COL])
        if before[AMOUNT_COL] == "lots":
            assert "Financial impact" in str(after[PROBLEMS_COL])
    assert len(report.workbook.result) == len(typed)


def _keys(event: list[Any]) -> tuple[Any, ...] | None:
    """What makes a History event unique, or None for events that may repeat."""
    row_id = str(event[1]).casefold()
    if event[2] == "escalated":
        return ("escalated", row_id, event[3], event[4])
    if event[2] == "breached":
        return ("breached", row_id, event[3], event[5])
    if event[2] == "id assigned":
        return ("id assigned", row_id)
    return None


@given(LOGS, NOWS)
@settings(max_examples=100, deadline=None)
def test_a_sync_an_hour_later_records_no_event_twice(
        rows: list[list[Any]], now: pd.Timestamp) -> None:
    backend, _ = _sync(rows, now)
    first = _history(backend)
    earlier = {k for e in first if (k := _keys(e)) is not None}
    run_sync(backend, now + pd.Timedelta(hours=1))
    history = _history(backend)
    assert history[:len(first)] == first  # History is append-only
    later = history[len(first):]
    repeated = [e for e in later if _keys(e) in earlier]
    assert repeated == []
    new = [k for e in later if (k := _keys(e)) is not None]
    assert [k for k, n in Counter(new).items() if n > 1] == []



@given(LOGS, NOWS)
@settings(max_examples=100, deadline=None)
def test_a_second_sync_at_the_same_instant_writes_only_last_run(
        rows: list[list[Any]], now: pd.Timestamp) -> None:
    backend, _ = _sync(rows, now)
    run_sync(backend, now)
    second = backend.writes[-1]
    [stamp] = second.cells
    settings_rows = backend.tabs[schema.SETTINGS]
    assert stamp.tab == schema.SETTINGS and settings_rows[stamp.row][0] == "Last run"
    assert not any(second.appends.values()) and not second.new_tabs
