"""Properties of a whole evaluation on random small logs (hypothesis): it never stops on
odd data, covers every row, only raises levels, and a rerun after a sync (the written
columns applied, History holding the events) records nothing new at the same instant."""

from __future__ import annotations

from typing import Any

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from sheets_escalation.core import schema
from sheets_escalation.core.engine import evaluate, read_log
from sheets_escalation.core.table import Table
from tests.fixtures import HEADERS, ROWS, _cell, at, history_of, policy_of, row

POLICY = policy_of()  # the default levels and trigger matrix, UTC, 09:00-17:00








def _check(rows: list[list[Any]], now: pd.Timestamp) -> None:
    """Evaluate ``rows`` at ``now``, check the evaluation, then the rerun after a sync."""
    log = read_log(Table(schema.ESCALATIONS, [HEADERS, *rows]), POLICY).log
    first = evaluate(log, POLICY, now)
    result = first.result
    assert len(result) == len(log)
    assert set(result["flag"]) <= set(schema.FLAGS)
    assert (result["level"].to_numpy() >= log["level"].to_numpy()).all()
    assert (result["id"] != "").all()
    for event in first.events:
        if event.event == "escalated":
            assert int(event.to_level[1:]) > int(event.from_level[1:])

    # The next run at the same instant, after a sync wrote ID, Level and Escalated at back
    # and appended the events to History.
    history = history_of(first)  # POLICY keeps time in UTC, as history_of reads it
    written = log.assign(id=result["id"], level=result["level"],
                         escalated_at=result["escalated_at"])
    rerun = evaluate(written, POLICY, now, history)
    assert rerun.events == []
    # Everything but what this run itself did (the escalations it applied).
    settled = [c for c in result.columns if c not in ("applied_trigger", "level_raised")]
    pd.testing.assert_frame_equal(rerun.result[settled], result[settled])



@given(st.lists(ROWS, min_size=1, max_size=20), st.builds(
    lambda day, hour: pd.Timestamp(at(day, hour), tz="UTC"), st.integers(1, 5),
    st.integers(0, 23)))
@settings(max_examples=300, deadline=None)
def test_an_evaluation_covers_every_row_raises_only_and_a_rerun_records_nothing(
        rows: list[list[Any]], now: pd.Timestamp) -> None:
    _check(rows, now)


# Reports of one working day, mostly open at L1: repeat issues by key and by description.
REPORTS = st.builds(
    lambda **cells: row(**cells),
    id=_cell(None, None, "ESC-0003"),
    opened=st.builds(at, st.just(1), st.integers(9, 16), st.sampled_from([0, 20, 40])),
    customer=_cell("Acme", "acme ", "Beta", "Gamma", "Delta"),
    issue_type=_cell("Login", "Billing"),
    issue_key=_cell(None, None, None, "K1", "k1 "),
    description=_cell("cannot log in", "Cannot log in!", "cannot log in since today",
                      "invoice wrong", "the invoice is wrong"),
    resolved_at=_cell(None, at(1, 17)),
)


@given(st.lists(REPORTS, min_size=1, max_size=15),
       st.builds(lambda hour: pd.Timestamp(at(1, hour), tz="UTC"), st.integers(9, 23)))
@settings(max_examples=200, deadline=None)
def test_repeat_issue_reports_evaluate_and_rerun_quietly(rows: list[list[Any]],
                                                         now: pd.Timestamp) -> None:
    _check(rows, now)
