"""Reminders before a breach (Settings `Remind at`): once per threshold, target and level,
through the level's Notify targets (a real webhook on loopback), or, for a level without
targets, as a History `notified` event and a line in the sync output.

The row is opened Mon 2026-11-23 09:00 UTC and answered at 09:10, so only its resolution
target (1 business day = 8 business hours, due 17:00) is running.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from sheets_escalation.core import schema
from tests.fixtures import row, run, write_golden
from tests.servers import Recorder

HOOK = "/hooks/front-line-f1f1"
NO_CHANNEL = "reminder (no channel)"




def workbook(tmp_path: Path, notify: str = "", remind_at: str | None = None,
             **values: Any) -> Path:
    fields: dict[str, Any] = dict(
        id="ESC-0001", opened=dt.datetime(2026, 11, 23, 9), customer="Acme",
        contact="a@acme.test", description="Export fails", steps_tried="Retried",
        sentiment="Calm", urgency="Low", handler="Jamie",
        first_response_at=dt.datetime(2026, 11, 23, 9, 10))
    path = write_golden(tmp_path / "log.xlsx", rows=[row(**{**fields, **values})], triggers=[])
    book = openpyxl.load_workbook(path)
    book[schema.LEVELS].cell(2, schema.LEVELS_HEADERS.index("Notify") + 1).value = notify
    if remind_at is not None:
        settings = book[schema.SETTINGS]
        [cell] = [r[1] for r in settings.iter_rows(min_row=2) if r[0].value == "Remind at"]
        cell.value = remind_at
    book.save(path)
    return path


def write_config(tmp_path: Path, http: Recorder) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f'[notify]\nallow = ["webhook:{http.base}/hooks/*"]\n'
                      f'[state]\ndir = "{tmp_path / "state"}"\n', encoding="utf-8")
    return config


def notified(path: Path) -> list[tuple[Any, ...]]:
    rows = list(openpyxl.load_workbook(path)[schema.HISTORY].iter_rows(values_only=True))
    return [(r[0], r[1], r[4], r[5], r[7]) for r in rows[1:] if r[2] == "notified"]


def test_reminders_go_to_the_level_once_per_threshold(tmp_path: Path, http: Recorder) -> None:
    path = workbook(tmp_path, notify=f"webhook:{http.base}{HOOK}")
    config = write_config(tmp_path, http)
    runs = [
        ("2026-11-23T11:00", []),  # 25% used
        ("2026-11-23T13:00", ["ESC-0001/L1/remind-50:resolution"]),
        ("2026-11-23T13:30", []),  # still the 50% reminder: sent already
        # 75% is also At risk at: the At risk alert says it, no second message.
        ("2026-11-23T15:00", ["ESC-0001/L1/at-risk:resolution"]),
        ("2026-11-23T16:15", ["ESC-0001/L1/remind-90:resolution"]),
        ("2026-11-23T16:15", []),
        ("2026-11-23T17:30", ["ESC-0001/L1/overdue:resolution"]),  # no reminder once overdue
    ]
    for now, keys in runs:
        before = len(http.posts)
        code, out, err = run("sync", str(path), "--now", now, "--config", str(config))
        assert (code, err) == (0, ""), out
        assert [p["headers"]["Idempotency-Key"] for p in http.posts[before:]] == keys, now
        assert "remind " not in out  # sent through the channel, not recorded without one

    reminder = http.posts[0]["json"]
    assert reminder["subject"] == ("[L1] ESC-0001 reminder for Jamie: 50% of the resolution "
                                   "time used (due 2026-11-23 17:00)")
    assert "Handler: Jamie" in reminder["body"]
    assert [(r[3], r[4]) for r in notified(path)
            if "remind" in r[3]] == [
        ("ESC-0001/L1/remind-50:resolution", f"webhook 127.0.0.1:{http.port}/…/f1f1"),
        ("ESC-0001/L1/remind-90:resolution", f"webhook 127.0.0.1:{http.port}/…/f1f1"),
    ]


def test_without_notify_targets_reminders_are_recorded_and_printed(tmp_path: Path) -> None:
    path = workbook(tmp_path, remind_at="60%, 30%")
    code, out, _ = run("sync", str(path), "--now", "2026-11-23T14:00")
    assert code == 0
    assert [line for line in out.splitlines() if line.startswith("remind ")] == [
        "remind ESC-0001/L1/remind-60:resolution: reminder for Jamie: 60% of the resolution "
        "time used (due 2026-11-23 17:00); no Notify target at L1, recorded in History"]
    assert notified(path) == [(dt.datetime(2026, 11, 23, 14), "ESC-0001", "L1",
                               "ESC-0001/L1/remind-60:resolution", NO_CHANNEL)]

    code, out, _ = run("sync", str(path), "--now", "2026-11-23T15:00", "--json")
    assert code == 0 and '"reminders": []' in out
    assert len(notified(path)) == 1


def test_the_first_sync_sends_only_the_highest_threshold_reached(tmp_path: Path) -> None:
    path = workbook(tmp_path)
    assert run("sync", str(path), "--now", "2026-11-23T16:30")[0] == 0
    assert [r[3] for r in notified(path)] == ["ESC-0001/L1/remind-90:resolution"]


@pytest.mark.parametrize("values", [{"status": "Pending customer"},
                                    {"resolved_at": dt.datetime(2026, 11, 23, 12)}])
def test_no_reminder_while_paused_or_once_resolved(tmp_path: Path, values: Any) -> None:
    path = workbook(tmp_path, **values)
    code, out, _ = run("sync", str(path), "--now", "2026-11-23T16:30")
    assert code == 0 and "remind " not in out
    assert [r for r in notified(path) if "remind" in r[3]] == []


def test_the_response_target_is_reminded_too(tmp_path: Path) -> None:
    path = workbook(tmp_path, first_response_at=None, remind_at="50%")
    code, out, _ = run("sync", str(path), "--now", "2026-11-23T11:30")  # 2.5 of 4 hours
    assert code == 0
    assert [r[3] for r in notified(path)] == ["ESC-0001/L1/remind-50:response"]


def test_blank_remind_at_turns_reminders_off(tmp_path: Path) -> None:
    path = workbook(tmp_path, remind_at="")
    assert run("sync", str(path), "--now", "2026-11-23T16:30")[0] == 0
    assert notified(path) == []


@pytest.mark.parametrize("text", ["soon", "50%, 120%", "50%, often"])
def test_an_unreadable_remind_at_is_exit_2_on_its_cell(tmp_path: Path, text: str) -> None:
    path = workbook(tmp_path, remind_at=text)
    before = path.read_bytes()
    code, _, err = run("sync", str(path), "--now", "2026-11-23T16:30")
    assert code == 2
    assert f'Settings!B10: cannot read "{text}" as percentages' in err
    assert path.read_bytes() == before


def test_rows_sharing_an_id_are_reminded_once(tmp_path: Path) -> None:
    # The reminder's key names the ID, so a duplicated ID owes one reminder, not one a row.
    fields: dict[str, Any] = dict(
        id="ESC-0001", opened=dt.datetime(2026, 11, 23, 9), customer="Acme",
        description="Export fails", handler="Jamie",
        first_response_at=dt.datetime(2026, 11, 23, 9, 10))
    path = write_golden(tmp_path / "log.xlsx", triggers=[],
                        rows=[row(**fields), row(**{**fields, "customer": "Beta"})])
    assert run("sync", str(path), "--now", "2026-11-23T16:30")[0] == 0  # flagged, not failed
    assert [r[3] for r in notified(path)] == ["ESC-0001/L1/remind-90:resolution"]
