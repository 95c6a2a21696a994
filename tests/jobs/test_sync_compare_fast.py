"""Planning the writes compares each owned column with vectorised code; these tests check
it finds exactly the cells the former per-cell comparison found, on generated workbooks
whose synced cells were then spoiled in every way people spoil them (shifted times, junk
text, booleans, blanks, numbers off by a little or a lot)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import numpy as np
import pandas as pd
import pytest

from benchmarks import generate
from sheets_escalation.core import cells, dates, schema
from sheets_escalation.jobs import sync
from sheets_escalation.jobs.workbook import load
from tests.support.memory_backend import MemoryBackend

NOW = pd.Timestamp(generate.DEFAULT_NOW)


def _changed_before(column: schema.Column, old: pd.Series, new: pd.Series,
                    timezone: str) -> np.ndarray:
    """The comparison as it was written before it was vectorised (the reference)."""
    if column.kind == "datetime":
        old_time = sync.local_naive(dates.parse_datetimes(old, column.header, timezone).values,
                                    timezone)
        new_time = new if new.dt.tz is None else sync.local_naive(new, timezone)
        both_blank = old_time.isna().to_numpy() & new.isna().to_numpy()
        delta = (old_time - new_time).abs()
        same = (delta <= pd.Timedelta(seconds=1)).to_numpy(dtype=bool, na_value=False)
        return ~(both_blank | same)
    if column.kind == "number":
        old_number = pd.to_numeric(old.where(~old.map(lambda v: isinstance(v, bool))),
                                   errors="coerce")
        both_blank = old_number.isna().to_numpy() & new.isna().to_numpy() & (
            cells.parse_text(old) == "").to_numpy()
        same = ((old_number - new).abs() < 0.005).to_numpy(dtype=bool, na_value=False)
        return ~(both_blank | same)
    return (cells.parse_text(old) != new.fillna("").astype(str)).to_numpy()


def _spoiled(value: Any, rng: random.Random) -> Any:
    choice = rng.randrange(9)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice(["", "  ", "-", "n/a", "junk", "12", " 3.5 ", "TRUE"])
    if choice == 2:
        return rng.choice([True, False])
    if isinstance(value, dt.datetime):
        return value + dt.timedelta(seconds=rng.choice([0.4, 1, 2, -1, 3600, -86400]))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value + rng.choice([0.001, 0.004, 0.006, -1, 0.5])
    return value


def _synced(seed: int, rows: int, spoil: float) -> MemoryBackend:
    tabs = {schema.ESCALATIONS: generate.generate_rows(rows, seed, NOW.to_pydatetime())}
    tabs.update(generate.side_tabs(seed))
    backend = MemoryBackend(tabs)
    sync.run_sync(backend, NOW)
    rng = random.Random(seed)
    body = backend.tabs[schema.ESCALATIONS][1:]
    for row in body:
        for col in range(len(row)):
            if rng.random() < spoil:
                row[col] = _spoiled(row[col], rng)
    return backend


@pytest.mark.parametrize(("seed", "spoil"), [(1, 0.0), (2, 0.02), (3, 0.2)])
def test_vectorised_comparison_finds_the_cells_the_former_one_found(seed: int, spoil: float) -> None:
    backend = _synced(seed, 600, spoil)
    workbook = load(backend, NOW + pd.Timedelta(hours=1))
    log_read, result = workbook.log_read, workbook.result
    timezone = workbook.policy.timezone
    datetime_columns = 0
    for column in [*schema.OWNED_COLUMNS, schema.COLUMN_BY_KEY["escalated_at"],
                   schema.COLUMN_BY_KEY["id"], schema.COLUMN_BY_KEY["handler"]]:
        raw = log_read.raw[log_read.columns[column.key]]
        new = result[column.key] if column.key in result else workbook.log[column.key]
        if column.kind == "text":
            new = sync._fitted(sync._without_controls(new), workbook.cell_limit)
        fast = sync._changed(column, sync._raw_column(raw), new, timezone)
        before = _changed_before(column, raw.astype(object), new, timezone)
        assert fast.tolist() == before.tolist(), column.header
        datetime_columns += raw.dtype.kind == "M"
    if spoil == 0.0:
        # Unspoiled, the datetime columns the tool wrote are read as datetimes only: the
        # vectorised path was taken.
        assert datetime_columns >= 3


@pytest.mark.parametrize("seed", [4, 5])
def test_the_plan_of_a_spoiled_rerun_rewrites_each_spoiled_owned_cell(seed: int) -> None:
    backend = _synced(seed, 300, 0.1)
    plan, _ = sync.plan_writes(load(backend, NOW))
    again = MemoryBackend(backend.tabs)
    again.write(plan)
    replan, _ = sync.plan_writes(load(again, NOW))
    # Written back, the owned cells read as planned: only Last run remains to write.
    assert [(c.tab, c.row, c.col) for c in replan.cells] == [
        (c.tab, c.row, c.col) for c in plan.cells if c.tab == schema.SETTINGS]
