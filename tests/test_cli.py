"""End-to-end CLI tests on small golden workbooks: exact output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest

from sheets_escalation.cli import cli
from sheets_escalation.core import schema
from tests.fixtures import GOLDEN_NOW, run, write_golden

COMMANDS = sorted(cli.commands)




def values(path: Path, tab: str = schema.ESCALATIONS) -> list[list[object]]:
    workbook = openpyxl.load_workbook(path)
    return [list(r) for r in workbook[tab].iter_rows(values_only=True)]


def column(path: Path, header: str) -> list[object]:
    rows = values(path)
    position = rows[0].index(header)
    return [r[position] for r in rows[1:]]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0
    assert "Example" in out


def test_the_spec_commands_exist() -> None:
    assert {"init", "check", "sync", "review", "escalate", "message", "demo"} <= set(COMMANDS)


def test_sync_golden_output_and_owned_columns(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx")
    code, out, err = run("sync", str(path), "--now", GOLDEN_NOW)
    assert (code, err) == (0, "")
    assert out == (
        "log.xlsx: 5 rows evaluated as of 2026-11-24 15:00 UTC (written)\n"
        "flags: ESCALATION OVERDUE 1, CHECK INPUT 1, OK 2, RESOLVED 1\n"
        "events: escalated 1, notified 1, breached 1, id assigned 1\n"
        "escalated ESC-0001 L1 -> L2 (Unresolved too long)\n"
        "remind ESC-0006/L1/remind-50:resolution: reminder for the handler: 50% of the "
        "resolution time used (due 2026-11-25 09:30); no Notify target at L1, recorded in "
        "History\n"
        "\n"
        "ID        Flag                Level  Target  Due               Customer      Why\n"
        "--------  ------------------  -----  ------  ----------------  ------------  "
        "------------------------------------------------------------\n"
        "ESC-0006  ESCALATION OVERDUE  L1     L3      2026-11-24 09:30  Bolt Bikes    "
        'Legal threat: "lawyer" in Description\n'
        "ESC-0004  CHECK INPUT         L1                               Delta Dental  "
        'Opened: cannot read "31/02/2026" as a date; Financial impac\u2026\n'
    )
    assert column(path, "ID") == ["ESC-0001", "ESC-0006", "ESC-0003", "ESC-0004", "ESC-0005"]
    assert column(path, "Level")[0] == "L2"
    assert column(path, "Flag") == ["OK", "ESCALATION OVERDUE", "OK", "CHECK INPUT", "RESOLVED"]
    assert column(path, "Resolution SLA")[4] == "Met"
    assert column(path, "Response hours")[2] == pytest.approx(0.33, abs=0.01)
    history = values(path, schema.HISTORY)
    assert history[0] == list(schema.HISTORY_HEADERS)
    events = [(r[1], r[2]) for r in history[1:]]
    assert ("ESC-0006", "id assigned") in events
    assert ("ESC-0001", "escalated") in events


def test_rerun_changes_nothing_but_last_run(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx")
    assert run("sync", str(path), "--now", GOLDEN_NOW, "--quiet")[0] == 0
    first = {tab: values(path, tab) for tab in (schema.ESCALATIONS, schema.HISTORY)}
    code, out, _ = run("sync", str(path), "--now", GOLDEN_NOW, "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["cells_written"] == 1  # the Last run stamp
    assert summary["history_appended"] == 0
    assert {tab: values(path, tab) for tab in first} == first


def test_dry_run_writes_nothing_and_lists_changes(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx")
    before = path.read_bytes()
    code, out, _ = run("sync", str(path), "--now", GOLDEN_NOW, "--dry-run")
    assert code == 0
    assert path.read_bytes() == before
    assert "(dry run, nothing written)" in out
    assert "row 2 ESC-0001: Level: L1 -> L2" not in out  # Level was blank: shown as (blank)
    assert "row 2 ESC-0001: Level: (blank) -> L2" in out
    assert "row 3 ESC-0006: ID: (blank) -> ESC-0006" in out


def test_broken_policy_is_exit_2_naming_the_cell_and_writes_nothing(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", triggers=[
        ["Too long", "unresolved_for", "one day", "L1", "L2", "Automatic", "auto", "Yes"],
        ["Oops", "telepathy", "", "L1", "L2", "Immediate", "flag", "Yes"],
    ])
    before = path.read_bytes()
    code, out, err = run("sync", str(path), "--now", GOLDEN_NOW)
    assert code == 2
    assert "Triggers!C2" in err and "Triggers!B3" in err
    assert 'unknown kind "telepathy"' in err
    assert "nothing was written" in err
    assert path.read_bytes() == before
    code, _, err = run("check", str(path))
    assert code == 2 and "Triggers!B3" in err


def test_missing_required_header_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "log.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.title = schema.ESCALATIONS
    workbook.active.append(["ID", "Customer", "Level", "Resolved at"])
    workbook.save(path)
    code, _, err = run("sync", str(path), "--now", GOLDEN_NOW)
    assert code == 2
    assert 'Escalations!1:1: missing required header "Opened"' in err


def test_check_lists_cell_problems_with_a1(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx")
    code, out, _ = run("check", str(path))
    assert code == 0
    assert 'Escalations!B5: Opened: cannot read "31/02/2026" as a date' in out
    assert 'Escalations!L5: Financial impact: cannot read "lots" as an amount' in out


def test_missing_file_is_exit_1(tmp_path: Path) -> None:
    code, _, err = run("sync", str(tmp_path / "nope.xlsx"))
    assert code == 1
    assert "not found" in err


def test_init_creates_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "new.xlsx"
    code, out, _ = run("init", str(path))
    assert code == 0 and path.exists()
    assert openpyxl.load_workbook(path).sheetnames[0] == schema.ESCALATIONS
    before = path.read_bytes()
    code, out, err = run("init", str(path))
    assert (code, out, err) == (0, f"{path}: nothing to add\n", "")
    assert path.read_bytes() == before


def test_demo_copies_and_syncs_the_sample(tmp_workdir: Path) -> None:
    code, out, _ = run("demo")
    assert code == 0
    assert (tmp_workdir / "escalations-demo.xlsx").exists()
    assert "ESCALATION OVERDUE" in out and "RESOLVED" in out


def test_escalate_refuses_a_resolved_row(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx")
    before = path.read_bytes()
    code, _, err = run("escalate", str(path), "ESC-0005", "--to", "L2", "--now", GOLDEN_NOW)
    assert code == 1
    assert "ESC-0005 is resolved" in err
    assert path.read_bytes() == before


def test_dry_run_json_says_planned_not_written(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx")
    code, out, _ = run("sync", str(path), "--now", GOLDEN_NOW, "--dry-run", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["dry_run"] is True
    assert summary["cells_written"] == 0 and summary["cells_planned"] > 0
    assert summary["history_appended"] == 0 and summary["history_planned"] > 0


def test_a_renamed_trigger_column_is_reported_by_check_and_sync(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx")
    workbook = openpyxl.load_workbook(path)
    sheet = workbook[schema.ESCALATIONS]
    for cell in sheet[1]:
        if cell.value == "Financial impact":
            cell.value = "Financial impct"
    workbook.save(path)
    note = ('note: trigger "Financial loss" cannot fire: Escalations has no '
            '"Financial impact" column')
    code, out, _ = run("check", str(path))
    assert code == 0 and note in out
    code, out, _ = run("sync", str(path), "--now", GOLDEN_NOW)
    assert code == 0 and note in out


def test_review_counts_what_happened_not_what_a_later_sync_would_do(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx")
    assert run("sync", str(path), "--now", GOLDEN_NOW, "--quiet")[0] == 0
    # Days later, without a sync in between, more rows would be raised automatically; the
    # review must not count those in-memory escalations as people's edits.
    at_sync = run("review", str(path), "--month", "2026-11", "--now", GOLDEN_NOW, "--no-tab")
    later = run("review", str(path), "--month", "2026-11", "--now", "2026-11-30T12:00:00+00:00",
                "--no-tab")
    assert at_sync[0] == later[0] == 0
    count = [line for line in at_sync[1].splitlines() if line.startswith("Escalations:")]
    assert count == ["Escalations: 1"]
    assert count == [line for line in later[1].splitlines() if line.startswith("Escalations:")]


def test_review_dry_run_writes_and_exports_nothing_and_says_what_it_would(
        tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx")
    before = path.read_bytes()
    export = tmp_path / "review.pdf"

    code, out, err = run("review", str(path), "--month", "2026-11", "--now", GOLDEN_NOW,
                         "--export", str(export), "--dry-run")

    assert (code, err) == (0, "")
    assert out.startswith("dry run, nothing written or sent\n"
                          "would write tab Review 2026-11 to log.xlsx\n"
                          f"would export {export}\n"
                          "How many, and which way: ")
    assert "wrote tab" not in out and "exported" not in out
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.xlsx"]


def test_init_dry_run_creates_and_adds_nothing_and_says_what_it_would(
        tmp_path: Path) -> None:
    path = tmp_path / "new.xlsx"
    code, out, err = run("init", str(path), "--dry-run")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:2] == ["dry run, nothing written",
                         f"would create {path} with tabs: Escalations, Levels, Triggers, "
                         "Settings, Holidays, VIP, History, Templates"]
    assert lines[2].startswith("Timezone ")
    assert list(tmp_path.iterdir()) == []

    assert run("init", str(path))[0] == 0
    book = openpyxl.load_workbook(path)
    del book[schema.HOLIDAYS]
    book.save(path)
    before = path.read_bytes()
    code, out, err = run("init", str(path), "--dry-run")
    assert (code, err) == (0, "")
    assert out == f"dry run, nothing written\nwould add to {path}: tab {schema.HOLIDAYS}\n"
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.xlsx"]
