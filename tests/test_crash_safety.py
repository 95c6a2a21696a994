"""Crash safety: a sync killed at any moment loses nothing and the next run finishes the job.

On a local workbook the new file is written beside the old one and renamed over it, so a
real process killed (SIGKILL) at random points of its save leaves the old workbook or the
new one, never a mix, and the next run cleans up what the kill left. On Google the cell
writes and the History rows travel in one values:batchUpdate (below the payload cap), after
the structure (tabs created, grids grown) was applied by the re-read's
spreadsheets.batchUpdate; what remains is a request that fails (the structure's, or the
values' after the structure stayed), or one Google applied whose answer was lost, and all are
repaired by the next run (or the retry) without a duplicate History event. A values write
split by the payload cap and cut between its requests is covered in
tests/test_gsheets_payload.py. Notifications sent just before a crash are covered in
tests/test_handoff.py (``test_crash_after_sending_before_history_is_written_is_recorded_from_the_journal``).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from sheets_escalation.adapters.gsheets import http as gsheets
from sheets_escalation.adapters.xlsx.backend import XlsxBackend
from sheets_escalation.core import layout, schema
from tests.both_backends import INPUT_HEADER, KEY, NOW, good_row, make_book

REPO = Path(__file__).resolve().parents[1]
ROWS = 1200
KILLS = 5
SEED = 20261124


def _rows(count: int) -> list[list[Any]]:
    # Every tenth row is old enough to be escalated, so the save carries History rows too.
    return [good_row(ID=f"ESC-{n:04d}", Customer=f"Customer {n}",
                     Opened=dt.datetime(2026, 11, 20 if n % 10 == 0 else 24, 9, 30))
            for n in range(1, count + 1)]


def _content(path: Path) -> dict[str, Any]:
    """Every template tab's values, as the tool reads them (a torn file raises here)."""
    return {t.title: t.rows for t in XlsxBackend(path).read(layout.TAB_ORDER).values()}


def _litter(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.endswith(".tmp"))


def _start_sync(path: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from sheets_escalation.cli import main; main()",
               "sync", str(path), "--now", NOW, "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(command, cwd=path.parent, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _wait_for_temporary(path: Path, process: subprocess.Popen[bytes], limit: float) -> float:
    """Return when the save's temporary file appears (monotonic time), or fail."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if _litter(path):
            return time.monotonic()
        assert process.poll() is None, "the sync ended before its save was seen"
        time.sleep(0.002)
    raise AssertionError("no temporary file appeared")


def test_a_sync_killed_at_random_points_of_its_save_leaves_the_old_or_the_new_workbook(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = make_book("xlsx", tmp_path, [INPUT_HEADER, *_rows(ROWS)], monkeypatch)
    pristine = tmp_path / "pristine.xlsx"
    shutil.copyfile(book.path, pristine)
    old = _content(pristine)

    # One undisturbed run: the new content, and how long its save takes.
    process = _start_sync(book.path)
    save_started = _wait_for_temporary(book.path, process, 120)
    while _litter(book.path):
        time.sleep(0.002)
    save_time = time.monotonic() - save_started
    assert process.wait(120) == 0
    new = _content(book.path)
    assert new != old
    assert _litter(book.path) == []

    chance = random.Random(SEED)
    outcomes = []
    for attempt in range(KILLS):
        shutil.copyfile(pristine, book.path)
        process = _start_sync(book.path)
        _wait_for_temporary(book.path, process, 120)
        # Mostly inside the save; once in a while just after it (the rename and fsyncs).
        time.sleep(chance.uniform(0, save_time * (1.0 if attempt % 3 else 1.3)))
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        content = _content(book.path)
        assert content in (old, new), f"torn workbook after kill {attempt} (seed {SEED})"
        outcomes.append("new" if content == new else "old")
        assert book.sync("--quiet").code == 0, f"the run after kill {attempt} failed"
        assert _content(book.path) == new
        assert _litter(book.path) == []
        assert not (tmp_path / "book.xlsx.lock").exists()
    assert "old" in outcomes  # the kills did land before the rename


def _history_events(book: Any) -> Counter[tuple[Any, ...]]:
    rows = book.grid(schema.HISTORY)
    return Counter(tuple(r[1:]) for r in rows[1:])


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gsheets.RetryingHTTPClient, "sleep", staticmethod(lambda seconds: None))


def _google_book(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, history: bool) -> Any:
    rows = [good_row(ID=None, Customer="New Co"),
            good_row(ID="ESC-0002", Customer="Old Co", Opened=dt.datetime(2026, 11, 20, 9, 30))]
    tabs = {} if history else {schema.HISTORY: None}
    return make_book("google", tmp_path, [INPUT_HEADER, *rows], monkeypatch, **tabs)


@pytest.mark.parametrize("failing", [f"{KEY}:batchUpdate", "values:batchUpdate"],
                         ids=["structure fails", "values fail after the structure"])
@pytest.mark.parametrize("history", [True, False], ids=["History exists", "History created"])
def test_a_failed_google_write_is_completed_by_the_next_run_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_backoff: None, history: bool,
        failing: str) -> None:
    book = _google_book(tmp_path, monkeypatch, history)
    book.fake.fail_next(count=gsheets.RetryingHTTPClient.attempts, status=503, match=failing)
    run = book.sync("--quiet")
    assert run.code == 1
    assert "did not answer after 5 attempts" in run.err
    assert book.records()[1]["Level"] is None  # nothing of the values write landed
    created = book.fake.books[KEY].find(schema.HISTORY)
    if history:
        assert len(book.grid(schema.HISTORY)) <= 1
    elif failing == "values:batchUpdate":  # the structure stays: History with its header only
        assert created is not None and created.values() == [list(schema.HISTORY_HEADERS)]
    else:  # the batch that creates History is all or nothing
        assert created is None

    assert book.sync("--quiet").code == 0
    assert book.sync("--quiet").code == 0
    events = _history_events(book)
    assert sorted(e[:2] for e in events) == [("ESC-0002", "escalated"), ("ESC-0003", "id assigned"),
                                             ("ESC-0003", "notified")]  # a reminder, no channel
    assert set(events.values()) == {1}
    assert [r["Level"] for r in book.records()] == [None, "L2"]


@pytest.mark.parametrize("lost_answer", [f"{KEY}:batchUpdate", "values:batchUpdate"],
                         ids=["structure", "values"])
def test_a_google_write_applied_but_unanswered_is_retried_without_duplicate_events(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_backoff: None, lost_answer: str) -> None:
    book = _google_book(tmp_path, monkeypatch, history=True)
    handle = book.fake.handle
    lost: list[str] = []

    def apply_then_drop(request: requests.PreparedRequest) -> requests.Response:
        response = handle(request)
        if lost_answer in (request.url or "") and not lost:
            lost.append(request.url or "")
            raise requests.ConnectionError("connection reset after the write was applied")
        return response

    monkeypatch.setattr(book.fake, "handle", apply_then_drop)
    assert book.sync("--quiet").code == 0
    assert lost
    # Sent twice, applied twice: the retried growth only adds headroom, the values land
    # on the same cells.
    assert [c.kind for c in book.fake.log if "atchUpdate" in c.kind] == (
        ["batchUpdate", "batchUpdate", "values.batchUpdate"] if "values" not in lost_answer
        else ["batchUpdate", "values.batchUpdate", "values.batchUpdate"])
    assert book.sync("--quiet").code == 0
    events = _history_events(book)
    assert sorted(e[:2] for e in events) == [("ESC-0002", "escalated"), ("ESC-0003", "id assigned"),
                                             ("ESC-0003", "notified")]  # a reminder, no channel
    assert set(events.values()) == {1}
