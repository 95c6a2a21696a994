"""What people type and what they see: dates read against the Date order setting,
impossible timelines, init's machine settings, one-pass check, command-line output."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from sheets_escalation.cli import cli
from sheets_escalation.core import dates, schema
from sheets_escalation.core.layout import date_order_for_locale
from tests.fixtures import row, run, write_golden

NOW = "2026-12-04T12:00:00+00:00"
FILLED = dict(customer="Acme", contact="a@acme.test", description="Order lost",
              steps_tried="Tracked", sentiment="Calm", urgency="Medium")




def sheet_rows(path: Path, tab: str = schema.ESCALATIONS) -> list[list[Any]]:
    workbook = openpyxl.load_workbook(path)
    return [list(r) for r in workbook[tab].iter_rows(values_only=True)]


def column(path: Path, header: str) -> list[Any]:
    rows = sheet_rows(path)
    position = rows[0].index(header)
    return [r[position] for r in rows[1:]]


def set_setting(path: Path, key: str, value: Any) -> None:
    workbook = openpyxl.load_workbook(path)
    for settings_row in workbook[schema.SETTINGS].iter_rows(min_row=2):
        if settings_row[0].value == key:
            settings_row[1].value = value
    workbook.save(path)


# --------------------------------------------------------------------------------------
# §1 Dates read against the Date order setting


def test_a_date_that_only_reads_day_first_is_a_problem_naming_the_setting() -> None:
    raw = pd.Series(["24/11/2026 10:00", "11/24/2026 10:00", "03/12/2026"], dtype=object)
    evidence = dates.date_order_evidence(raw, "Opened", "MDY")
    assert evidence.problems.tolist() == [
        'Opened: "24/11/2026 10:00" reads only day-first (24 Nov 2026), but Settings '
        "Date order is MDY",
        "", ""]
    assert evidence.against.tolist() == [True, False, False]
    assert evidence.ambiguous.tolist() == [False, False, True]


def test_under_dmy_a_month_first_date_is_the_evidence() -> None:
    raw = pd.Series(["11/24/2026", "24/11/2026", "5.6.2026", dt.datetime(2026, 3, 4), None],
                    dtype=object)
    evidence = dates.date_order_evidence(raw, "Resolved at", "DMY")
    assert evidence.problems.tolist()[0] == (
        'Resolved at: "11/24/2026" reads only month-first (24 Nov 2026), but Settings '
        "Date order is DMY")
    assert evidence.against.tolist() == [True, False, False, False, False]
    # A date the spreadsheet program already read (a real date value) is never ambiguous.
    assert evidence.ambiguous.tolist() == [False, False, True, False, False]


def test_sync_and_check_say_once_that_the_log_looks_day_first(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", [
        row(id="ESC-0001", opened="24/11/2026 09:00", **FILLED),
        row(id="ESC-0002", opened="03/12/2026 16:45", **FILLED),
        row(id="ESC-0003", opened="02/12/2026 10:00", **FILLED),
    ])
    note = ("note: Settings Date order is MDY, but 1 row holds a date that reads only "
            "day-first (Escalations!B2); 2 rows hold dates that read either way and were "
            "read month-first. If dates here are typed day-first, set Date order to DMY "
            "in Settings.")
    code, out, err = run("check", str(path))
    assert code == 0
    assert out.count(note) == 1
    assert ('Escalations!B2: Opened: "24/11/2026 09:00" reads only day-first (24 Nov 2026), '
            "but Settings Date order is MDY") in out
    code, out, err = run("sync", str(path), "--now", NOW)
    assert code == 0
    assert out.count(note) == 1
    code, out, err = run("sync", str(path), "--now", NOW, "--json")
    assert note.removeprefix("note: ") in json.loads(out)["notes"]


def test_a_day_first_log_under_dmy_reads_right_and_says_nothing(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", [
        row(id="ESC-0001", opened="24/11/2026 09:00", **FILLED),
        row(id="ESC-0002", opened="03/12/2026 16:45", **FILLED),
    ])
    set_setting(path, "Date order", "DMY")
    code, out, _ = run("sync", str(path), "--now", NOW)
    assert code == 0
    assert "Date order" not in out
    assert column(path, "Problems") == [None, None]


# --------------------------------------------------------------------------------------
# §1 Impossible timelines


def test_the_issue_case_escalated_at_read_before_opened_is_not_escalated(
        tmp_path: Path) -> None:
    # Typed day-first under the default MDY: "2/12/2026 11:00" reads as 12 February,
    # before the row was opened on 1 December. Today's sync escalated it L2 -> L3
    # ("L2 silent") and overwrote the typed value.
    path = write_golden(tmp_path / "log.xlsx", [
        row(id="ESC-0019", opened=dt.datetime(2026, 12, 1, 9, 0), level="L2",
            escalated_at="2/12/2026 11:00", handler="Sam", **FILLED),
    ])
    code, out, err = run("sync", str(path), "--now", NOW)
    assert code == 0, err
    assert "escalated ESC-0019" not in out
    assert column(path, "Level") == ["L2"]
    assert column(path, "Escalated at") == ["2/12/2026 11:00"]
    assert column(path, "Flag") == ["CHECK INPUT"]
    assert column(path, "Problems") == [
        "Escalated at: 2026-02-12 11:00 is before Opened (2026-12-01 09:00)"]
    history = sheet_rows(path, schema.HISTORY)
    assert [r[2] for r in history[1:]] == []


def test_the_issue_case_under_dmy_reads_right(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", [
        row(id="ESC-0019", opened="01/12/2026 09:00", level="L2",
            escalated_at="2/12/2026 11:00", handler="Sam",
            first_response_at="02/12/2026 11:30", **FILLED),
    ])
    set_setting(path, "Date order", "DMY")
    code, out, _ = run("sync", str(path), "--now", "2026-12-02T12:00:00+00:00")
    assert code == 0
    assert column(path, "Problems") == [None]
    assert column(path, "Flag") == ["OK"]


@pytest.mark.parametrize(("values", "problem"), [
    (dict(opened=dt.datetime(2026, 12, 3, 9), first_response_at=dt.datetime(2026, 12, 2, 9)),
     "First response at: 2026-12-02 09:00 is before Opened (2026-12-03 09:00)"),
    (dict(opened=dt.datetime(2026, 12, 3, 9), resolved_at=dt.datetime(2026, 12, 1, 9),
          status="Resolved"),
     "Resolved at: 2026-12-01 09:00 is before Opened (2026-12-03 09:00)"),
    (dict(opened=dt.datetime(2026, 12, 1, 9), level="L2",
          escalated_at=dt.datetime(2026, 12, 3, 9), resolved_at=dt.datetime(2026, 12, 2, 9),
          status="Resolved"),
     "Escalated at: 2026-12-03 09:00 is after Resolved at (2026-12-02 09:00)"),
    (dict(opened=dt.datetime(2026, 12, 5, 9)),
     "Opened: 2026-12-05 09:00 is later than now (2026-12-04 12:00)"),
])
def test_impossible_timelines_are_problems(tmp_path: Path, values: dict[str, Any],
                                           problem: str) -> None:
    path = write_golden(tmp_path / "log.xlsx", [row(id="ESC-0001", **FILLED | values)])
    code, out, _ = run("check", str(path), "--now", NOW)
    assert code == 0
    assert problem in out
    code, out, _ = run("sync", str(path), "--now", NOW)
    assert column(path, "Problems") == [problem]
    assert column(path, "Flag") == ["CHECK INPUT"]


def test_opened_a_few_minutes_ahead_is_within_the_grace(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", [
        row(id="ESC-0001", opened=dt.datetime(2026, 12, 4, 12, 10), **FILLED)])
    run("sync", str(path), "--now", NOW)
    assert column(path, "Problems") == [None]


def test_an_impossible_row_is_never_auto_escalated(tmp_path: Path) -> None:
    # Open for days (Unresolved too long would raise it to L2), but the first response is
    # typed before it was opened: nothing is applied until a person fixes the times.
    path = write_golden(tmp_path / "log.xlsx", [
        row(id="ESC-0001", opened=dt.datetime(2026, 11, 30, 9),
            first_response_at=dt.datetime(2026, 11, 29, 9), **FILLED)])
    code, out, _ = run("sync", str(path), "--now", NOW)
    assert "escalated" not in out
    assert column(path, "Level") == [None]
    assert column(path, "Escalated at") == [None]


# --------------------------------------------------------------------------------------
# §1 init takes the machine's zone and date order; a blank Timezone is said


@pytest.mark.parametrize(("name", "order"), [
    ("de_DE.UTF-8", "DMY"), ("en_GB.UTF-8", "DMY"), ("en_US.UTF-8", "MDY"), ("en_US", "MDY"),
    ("fr_FR@euro", "DMY"), ("C", "MDY"), ("POSIX", "MDY"), ("", "MDY"), ("C.UTF-8", "MDY"),
    ("es_US.UTF-8", "MDY"), ("en_PH.UTF-8", "MDY"),
])
def test_date_order_for_locale(name: str, order: str) -> None:
    assert date_order_for_locale(name) == order


def test_init_sets_timezone_and_date_order_from_the_machine(tmp_path: Path) -> None:
    path = tmp_path / "escalations.xlsx"
    code, out, err = run("init", str(path),
                         env={"TZ": "Europe/Berlin", "LC_ALL": "de_DE.UTF-8"})
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == ("Timezone Europe/Berlin, dates day-first (DMY) — "
                                    "change them in Settings.")
    settings = dict((r[0], r[1]) for r in sheet_rows(path, schema.SETTINGS)[1:])
    assert settings["Timezone"] == "Europe/Berlin"
    assert settings["Date order"] == "DMY"


def test_init_on_a_us_machine_keeps_month_first(tmp_path: Path) -> None:
    path = tmp_path / "escalations.xlsx"
    code, out, _ = run("init", str(path),
                       env={"TZ": "America/Chicago", "LC_ALL": "", "LC_TIME": "en_US.UTF-8"})
    assert code == 0
    assert out.splitlines()[-1] == ("Timezone America/Chicago, dates month-first (MDY) — "
                                    "change them in Settings.")


def test_a_blank_timezone_is_reported_by_check_and_noted_by_sync(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", [row(id="ESC-0001",
                                                    opened=dt.datetime(2026, 12, 4, 9),
                                                    **FILLED)])
    set_setting(path, "Timezone", None)
    note = ("note: Settings!B2 Timezone is blank: times are read and written as UTC; "
            'set it to your zone, e.g. "Europe/Berlin" or "America/New_York".')
    code, out, _ = run("check", str(path))
    assert code == 0
    assert note in out
    code, out, _ = run("sync", str(path), "--now", NOW)
    assert note in out


# --------------------------------------------------------------------------------------
# §2 check tells everything at once


def _break(path: Path, tab: str, cell: str, value: Any) -> None:
    workbook = openpyxl.load_workbook(path)
    workbook[tab][cell] = value
    workbook.save(path)


def test_check_lists_policy_header_and_template_problems_in_one_pass(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", [row(id="ESC-0001", **FILLED)])
    _break(path, schema.TRIGGERS, "B3", "telepathy")
    _break(path, schema.ESCALATIONS, "B1", "Opened on")  # the Opened header renamed
    workbook = openpyxl.load_workbook(path)
    workbook[schema.TEMPLATES].append(["Customer", "Again", "A second customer template"])
    workbook.save(path)
    code, out, err = run("check", str(path))
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == "error: the workbook's policy or headers need fixing:"
    assert any(line.startswith("  Triggers!B3: ") for line in lines)
    assert '  Escalations!1:1: missing required header "Opened"' in lines
    assert any(line.startswith("  Templates!A4: template 'customer' is already defined")
               for line in lines)
    code, out, _ = run("check", str(path), "--json")
    assert code == 2
    found = json.loads(out)
    assert found["ok"] is False
    assert {(p["tab"], p["cell"]) for p in found["fatal"]} == {
        ("Triggers", "B3"), ("Escalations", "1:1"), ("Templates", "A4")}


def test_check_reports_notify_targets_sync_would_refuse(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", [row(id="ESC-0001", **FILLED)])
    _break(path, schema.LEVELS, "G3", "ops@example.test, bob@")
    code, out, _ = run("check", str(path))
    assert code == 0
    assert ('Levels!G3: Notify: "bob@": not an email address, Slack webhook or webhook:URL'
            in out.splitlines())


def test_check_json_lists_cells_and_summary(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", [
        row(id="ESC-0001", opened="31/02/2026", **FILLED)])
    code, out, _ = run("check", str(path), "--json")
    assert code == 0
    found = json.loads(out)
    assert found["ok"] is True
    assert found["cells"] == [{"tab": "Escalations", "cell": "B2",
                               "message": 'Opened: cannot read "31/02/2026" as a date'}]
    assert (found["rows"], found["timezone"], found["date_order"]) == (1, "UTC", "MDY")


def test_check_summary_says_one_row_not_one_rows(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", [row(id="ESC-0001", opened=dt.datetime(
        2026, 12, 1, 9), **FILLED)])
    code, out, _ = run("check", str(path), "--now", NOW)
    assert out.splitlines()[-1] == ("policy OK: 3 levels, 10 active triggers, timezone UTC; "
                                    "1 row, 0 cell problems.")


# --------------------------------------------------------------------------------------
# §3 The command line


def run_in(folder: Path, *args: str, env: dict[str, str] | None = None,
           color: bool = False) -> tuple[int, str, str]:
    """Run the CLI with ``folder`` as the working directory."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        result = CliRunner().invoke(cli, list(args), env=env, color=color)
    finally:
        os.chdir(before)
    return result.exit_code, result.stdout, result.stderr


def test_escalate_and_message_without_source_use_escalations_xlsx(tmp_path: Path) -> None:
    write_golden(tmp_path / "escalations.xlsx", [
        row(id="ESC-0019", opened=dt.datetime(2026, 12, 4, 9), **FILLED)])
    code, out, err = run_in(tmp_path, "escalate", "ESC-0019", "--to", "L2", "--now", NOW)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "escalated ESC-0019 L1 -> L2"
    assert column(tmp_path / "escalations.xlsx", "Level") == ["L2"]
    code, out, err = run_in(tmp_path, "message", "ESC-0019", "--now", NOW)
    assert code == 0, err
    assert out.startswith("Subject: Your request ESC-0019 has been escalated")


def test_an_unknown_template_is_a_usage_error_listing_the_templates(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", [row(id="ESC-0001", **FILLED)])
    code, out, err = run("message", str(path), "ESC-0001", "--template", "apology")
    assert code == 2
    assert "nothing was written" not in err
    assert "policy" not in err
    assert err.splitlines()[-1] == ("Error: Invalid value for '--template': no template "
                                    "named 'apology' (available: customer, internal)")


def test_export_into_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", [row(id="ESC-0001", **FILLED)])
    for command in ("review", "simulate"):
        code, _, err = run(command, str(path), "--month", "2026-11", "--export",
                           str(tmp_path / "missing" / "review.pdf"))
        assert code == 2, (command, err)
        assert err.splitlines()[-1] == (
            f"Error: Invalid value for '--export': folder {tmp_path / 'missing'} does not "
            "exist")


def test_demo_with_an_unreadable_now_copies_nothing(tmp_path: Path) -> None:
    code, _, err = run_in(tmp_path, "demo", "--now", "yesterday")
    assert code == 2
    assert "--now" in err
    assert not list(tmp_path.rglob("*.xlsx"))


def test_message_at_the_current_time_says_why_the_row_was_raised(tmp_path: Path) -> None:
    # Open for days: this evaluation raises it to L2 ("Unresolved too long"), after which
    # nothing fires at L2; the message still says what raised it.
    path = write_golden(tmp_path / "log.xlsx", [
        row(id="ESC-0024", opened=dt.datetime(2026, 11, 2, 9), **FILLED)])
    code, out, err = run("message", str(path), "ESC-0024", "--template", "internal")
    assert code == 0, err
    assert "Triggers: Unresolved too long\n" in out
    assert "Why: open " in out and "business hours (limit 1 business day)" in out


def _many_rows(count: int) -> list[list[Any]]:
    # Open for a month (raised to L2 by "Unresolved too long") and naming a lawyer (a
    # flag for L3): one escalated event and one ESCALATE row each.
    return [row(id=f"ESC-{n:04d}", opened=dt.datetime(2026, 11, 2, 9),
                **FILLED | {"description": "will call a lawyer"}) for n in range(1, count + 1)]


def test_sync_output_is_a_summary_after_a_big_first_run(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", _many_rows(30))
    code, out, err = run("sync", str(path), "--now", NOW)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1] == "flags: ESCALATE 30"
    assert lines[2] == "events: escalated 30"
    assert sum(line.startswith("escalated ESC-") for line in lines) == 20
    assert ("… and 10 more (History has them all; --json lists them)") in lines
    flagged = [line for line in lines if line.startswith("ESC-")]
    assert len(flagged) == 20
    assert "… and 10 more flagged rows (the Flag column shows them all)" in lines


def test_sync_json_lists_every_event(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", _many_rows(25))
    code, out, _ = run("sync", str(path), "--now", NOW, "--json")
    events = json.loads(out)["history_events"]
    assert len(events) == 25
    assert events[0] == {"at": "2026-12-04 12:00", "id": "ESC-0001", "event": "escalated",
                         "from": "L1", "to": "L2", "trigger": "Unresolved too long",
                         "by": "sheets-escalation", "detail": events[0]["detail"]}


def test_dry_run_lists_changes_row_by_row_without_seconds(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", [
        row(id="ESC-0001", opened=dt.datetime(2026, 12, 4, 11), **FILLED)])
    code, out, _ = run("sync", str(path), "--now", NOW, "--dry-run")
    assert code == 0
    lines = out.splitlines()
    assert "  row 2 ESC-0001: Flag: (blank) -> OK" in lines
    assert "  row 2 ESC-0001: Response due: (blank) -> 2026-12-04 15:00" in lines
    assert not any(":00:00" in line for line in lines)


def test_flags_are_coloured_on_a_terminal_and_not_with_no_color(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", _many_rows(1))
    code, out, _ = run_in(tmp_path, "sync", str(path), "--now", NOW, "--dry-run",
                          color=True)
    # The sheet's ESCALATE colours: white bold on red.
    assert "\x1b[" in out
    assert "38;2;255;255;255" in out and "48;2;229;57;53" in out
    code, out, _ = run_in(tmp_path, "sync", str(path), "--now", NOW, "--dry-run",
                          color=True, env={"NO_COLOR": "1"})
    assert "\x1b[" not in out
    code, out, _ = run("sync", str(path), "--now", NOW, "--dry-run")
    assert "\x1b[" not in out


def test_quiet_still_warns_on_stderr_about_what_changes_results(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", [
        row(id="ESC-0001", opened="24/11/2026 09:00", **FILLED)])
    _break(path, schema.ESCALATIONS, "L1", "Loss")  # Financial impact renamed
    code, out, err = run("sync", str(path), "--now", NOW, "--quiet")
    assert code == 0
    assert out == ""
    assert ('warning: trigger "Financial loss" cannot fire: Escalations has no '
            '"Financial impact" column') in err.splitlines()
    assert any(line.startswith("warning: Settings Date order is MDY, but 1 row holds")
               for line in err.splitlines())


def test_plurals_in_sync_output(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", [
        row(id="ESC-0001", opened=dt.datetime(2026, 12, 4, 9), **FILLED)])
    code, out, _ = run("sync", str(path), "--now", NOW)
    assert out.splitlines()[0] == ("log.xlsx: 1 row evaluated as of 2026-12-04 12:00 UTC "
                                   "(written)")


# --------------------------------------------------------------------------------------
# §5 Sheets that look right in every spreadsheet program and on paper


def _prints_readably(sheet: Any) -> bool:
    setup = sheet.page_setup
    return (setup.orientation == "landscape" and setup.fitToWidth == 1
            and setup.fitToHeight == 0 and sheet.sheet_properties.pageSetUpPr.fitToPage
            and sheet.print_title_rows.replace("$", "") == "1:1")


def test_every_template_tab_prints_landscape_one_page_wide_with_its_header(
        tmp_path: Path) -> None:
    path = tmp_path / "new.xlsx"
    assert run("init", str(path), env={"TZ": "UTC"})[0] == 0
    workbook = openpyxl.load_workbook(path)
    assert [title for title in workbook.sheetnames
            if not _prints_readably(workbook[title])] == []


def test_headers_name_their_font_and_wrapped_headers_get_a_tall_enough_row() -> None:
    from sheets_escalation.adapters.xlsx.template import new_workbook
    from sheets_escalation.core.layout import LINE_HEIGHT

    workbook = new_workbook()
    for sheet in workbook.worksheets:
        assert {cell.font.name for cell in sheet[1]} == {"Calibri"}, sheet.title
    escalations = workbook[schema.ESCALATIONS]
    # "Could L1 resolve?" and "Financial impact" wrap onto two lines in their columns.
    assert escalations.row_dimensions[1].height >= 2 * LINE_HEIGHT
    triggers = workbook[schema.TRIGGERS]
    security = next(r[0].row for r in triggers.iter_rows(min_row=2)
                    if r[0].value == "Security incident")
    assert triggers.row_dimensions[security].height >= 2 * LINE_HEIGHT


def test_tabs_a_sync_and_a_review_create_print_readably(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx", [
        row(id="ESC-0001", opened=dt.datetime(2026, 11, 2, 9), **FILLED)])
    workbook = openpyxl.load_workbook(path)
    del workbook[schema.HISTORY]
    workbook.save(path)
    assert run("sync", str(path), "--now", NOW)[0] == 0
    export = tmp_path / "review.xlsx"
    assert run("review", str(path), "--month", "2026-11", "--now", NOW, "--export",
               str(export))[0] == 0
    workbook = openpyxl.load_workbook(path)
    assert _prints_readably(workbook[schema.HISTORY])
    assert _prints_readably(workbook["Review 2026-11"])
    assert _prints_readably(openpyxl.load_workbook(export).active)


def test_the_sample_shows_times_without_seconds() -> None:
    from sheets_escalation.core.layout import DATETIME_FORMAT
    from sheets_escalation.jobs.sample import sample_path

    workbook = openpyxl.load_workbook(sample_path())
    formats = {cell.number_format for sheet in workbook.worksheets
               for cells_row in sheet.iter_rows(min_row=2) for cell in cells_row
               if isinstance(cell.value, dt.datetime)}
    # Date-times as the template shows them; Holidays hold dates (yyyy-mm-dd).
    assert formats == {DATETIME_FORMAT, "yyyy-mm-dd"}


def test_dates_reading_either_way_are_held_once_the_log_reads_day_first(
        tmp_path: Path) -> None:
    # The issue's newcomer with the old default MDY: Opened and Escalated at of ESC-0019
    # both read month-first (12 Jan, 12 Feb), a consistent but wrong timeline; another row's
    # date reads only day-first, so the row is held rather than escalated "L2 silent".
    path = write_golden(tmp_path / "log.xlsx", [
        row(id="ESC-0018", opened="24/11/2026 09:00", **FILLED),
        row(id="ESC-0019", opened="01/12/2026 09:00", level="L2",
            escalated_at="2/12/2026 11:00", handler="Sam", **FILLED),
    ])
    code, out, _ = run("sync", str(path), "--now", NOW)
    assert code == 0
    assert "escalated ESC-0019" not in out
    assert column(path, "Level")[1] == "L2"
    assert column(path, "Escalated at")[1] == "2/12/2026 11:00"
    assert column(path, "Flag")[1] == "CHECK INPUT"
    assert column(path, "Problems")[1].split("; ") == [
        'Opened: "01/12/2026 09:00" reads either way and was read month-first (12 Jan 2026) '
        "as Settings Date order says, but other dates here read only day-first",
        'Escalated at: "2/12/2026 11:00" reads either way and was read month-first '
        "(12 Feb 2026) as Settings Date order says, but other dates here read only day-first"]
