"""The acceptance scenarios of tests/test_cli.py, run through the CLI on a Google Sheet.

The real gspread client and the real credential flow (a service-account key file, a token
request) talk to the fake Sheets API (tests/fake_sheets.py); only ``open_client`` is given
the fake's session. The sheet is seeded from the same golden rows as the xlsx tests, as
Google stores them when people type them: datetimes as serial numbers, ``75%`` as 0.75,
``11/24/2026 09:30`` as a date-time. Every test ends by checking that each write request
in the log was RAW (nothing the tool writes is ever parsed as a formula or a date).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from sheets_escalation.adapters.gsheets.layout import CHART_ROWS
from sheets_escalation.core import schema
from tests.fake_sheets import FakeSheetsAPI, Spreadsheet
from tests.fixtures import ACCOUNT, GOLDEN_NOW, KEY, run, seed, write_golden

URL = f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=0"
WRITES = ("batchUpdate", "values.batchUpdate", "values.update", "values.append",
          "values.clear", "values.batchClear")
# What the tool writes in Escalations: every value outside these is a person's input.
WRITTEN = ("ID", "Level", "Escalated at", "Handler",
           *(c.header for c in schema.OWNED_COLUMNS))












def serial(value: Any) -> Any:
    """A value as Google holds it: datetimes as serial numbers, floats rounded, no blanks."""
    if isinstance(value, dt.datetime):
        return round((value - dt.datetime(1899, 12, 30)) / dt.timedelta(days=1), 6)
    if isinstance(value, float):
        return round(value, 6)
    return None if value == "" else value


def trimmed(rows: list[list[Any]]) -> list[list[Any]]:
    out = []
    for row in rows:
        cells = [serial(v) for v in row]
        while cells and cells[-1] is None:
            cells.pop()
        out.append(cells)
    while out and not out[-1]:
        out.pop()
    return out


def xlsx_values(path: Path, tab: str) -> list[list[Any]]:
    return trimmed([list(r) for r in openpyxl.load_workbook(path)[tab].iter_rows(values_only=True)])


def columns(rows: list[list[Any]], headers: tuple[str, ...]) -> list[list[Any]]:
    """The ``headers`` columns of ``rows`` (header row first), padded where rows are ragged."""
    positions = [rows[0].index(h) for h in headers]
    return [[row[p] if p < len(row) else None for p in positions] for row in rows]


def google_cell(book: Spreadsheet, identifier: str, header: str) -> Any:
    rows = book.sheet(schema.ESCALATIONS).values()
    ids, position = rows[0].index("ID"), rows[0].index(header)
    [found] = [r[position] if position < len(r) else None for r in rows[1:] if r[ids] == identifier]
    return found


def writes(fake: FakeSheetsAPI) -> list[str]:
    return [c.kind for c in fake.calls() if c.kind in WRITES]


# --------------------------------------------------------------------------- sync


def test_sync_golden_output_and_owned_columns_equal_the_xlsx_run(fake: FakeSheetsAPI, tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx")
    book = seed(fake, path)

    code, out, err = run("sync", URL, "--now", GOLDEN_NOW)
    xlsx_code, xlsx_out, _ = run("sync", str(path), "--now", GOLDEN_NOW)

    assert (code, err, xlsx_code) == (0, "", 0)
    assert out == xlsx_out.replace("log.xlsx:", f"sheet {KEY}:", 1)
    assert out.startswith(f"sheet {KEY}: 5 rows evaluated as of 2026-11-24 15:00 UTC (written)\n"
                          "flags: ESCALATION OVERDUE 1, CHECK INPUT 1, OK 2, RESOLVED 1\n"
                          "events: escalated 1, notified 1, breached 1, id assigned 1\n"
                          "escalated ESC-0001 L1 -> L2 (Unresolved too long)\n")
    assert [c.kind for c in fake.log] == ["get", "values.batchGet", "values.batchGet",
                                          "values.batchUpdate"]
    google = trimmed(book.sheet(schema.ESCALATIONS).values())
    assert columns(google, WRITTEN) == columns(xlsx_values(path, schema.ESCALATIONS), WRITTEN)
    assert [r[0] for r in google[1:]] == ["ESC-0001", "ESC-0006", "ESC-0003", "ESC-0004",
                                         "ESC-0005"]
    assert trimmed(book.sheet(schema.HISTORY).values()) == xlsx_values(path, schema.HISTORY)
    assert ["ESC-0006", "id assigned"] in [r[1:3] for r in book.sheet(schema.HISTORY).values()]


def test_rerun_writes_only_last_run_in_at_most_four_requests(fake: FakeSheetsAPI, tmp_path: Path) -> None:
    book = seed(fake, write_golden(tmp_path / "log.xlsx"))
    assert run("sync", URL, "--now", GOLDEN_NOW, "--quiet") == (0, "", "")
    first = {tab: book.sheet(tab).values() for tab in (schema.ESCALATIONS, schema.HISTORY)}
    fake.log.clear()

    code, out, _ = run("sync", URL, "--now", "2026-11-24T15:05:00+00:00", "--json")

    assert code == 0
    summary = json.loads(out)
    assert (summary["cells_written"], summary["history_appended"]) == (1, 0)
    assert len(fake.log) <= 4
    (write,) = fake.calls("values.batchUpdate")
    assert [d["range"] for d in write.body["data"]] == ["'Settings'!B9:B9"]
    assert writes(fake) == ["values.batchUpdate"]
    assert {tab: book.sheet(tab).values() for tab in first} == first
    assert book.sheet(schema.SETTINGS).values()[8][1] == pytest.approx(46350.628472, abs=1e-6)


def test_dry_run_sends_no_write_request(fake: FakeSheetsAPI, tmp_path: Path) -> None:
    book = seed(fake, write_golden(tmp_path / "log.xlsx"))
    before = {sheet.title: sheet.values() for sheet in book.sheets}

    code, out, _ = run("sync", URL, "--now", GOLDEN_NOW, "--dry-run")

    assert code == 0
    assert "(dry run, nothing written)" in out
    assert "row 2 ESC-0001: Level: (blank) -> L2" in out
    assert "row 3 ESC-0006: ID: (blank) -> ESC-0006" in out
    assert writes(fake) == []
    assert {sheet.title: sheet.values() for sheet in book.sheets} == before


def test_broken_policy_is_exit_2_naming_the_cells_and_sends_no_write(fake: FakeSheetsAPI, tmp_path: Path) -> None:
    book = seed(fake, write_golden(tmp_path / "log.xlsx", triggers=[
        ["Too long", "unresolved_for", "one day", "L1", "L2", "Automatic", "auto", "Yes"],
        ["Oops", "telepathy", "", "L1", "L2", "Immediate", "flag", "Yes"],
    ]))
    before = {sheet.title: sheet.values() for sheet in book.sheets}

    code, _, err = run("sync", URL, "--now", GOLDEN_NOW)

    assert code == 2
    assert "Triggers!C2" in err and "Triggers!B3" in err
    assert 'unknown kind "telepathy"' in err
    assert "nothing was written" in err
    code, _, err = run("check", URL)
    assert code == 2 and "Triggers!B3" in err
    assert writes(fake) == []
    assert {sheet.title: sheet.values() for sheet in book.sheets} == before


def test_missing_required_header_is_exit_2(fake: FakeSheetsAPI) -> None:
    fake.add_spreadsheet(KEY, {schema.ESCALATIONS: [["ID", "Customer", "Level", "Resolved at"]]})

    code, _, err = run("sync", URL, "--now", GOLDEN_NOW)

    assert code == 2
    assert 'Escalations!1:1: missing required header "Opened"' in err
    assert writes(fake) == []


def test_check_lists_cell_problems_with_a1(fake: FakeSheetsAPI, tmp_path: Path) -> None:
    seed(fake, write_golden(tmp_path / "log.xlsx"))

    code, out, _ = run("check", KEY)  # a bare key works as well as the URL

    assert code == 0
    assert 'Escalations!B5: Opened: cannot read "31/02/2026" as a date' in out
    assert 'Escalations!L5: Financial impact: cannot read "lots" as an amount' in out
    assert out.endswith(f"Google account: {ACCOUNT}; it can edit the sheet.\n")
    # The one write is the access probe: the title set to itself, which changes nothing.
    assert writes(fake) == ["batchUpdate"]
    (probe,) = fake.calls("batchUpdate")
    assert probe.body == {"requests": [{"updateSpreadsheetProperties": {
        "properties": {"title": "Untitled spreadsheet"}, "fields": "title"}}]}


def test_a_blank_timezone_setting_uses_the_spreadsheets_time_zone(fake: FakeSheetsAPI, tmp_path: Path) -> None:
    book = seed(fake, write_golden(tmp_path / "log.xlsx"), time_zone="Europe/Paris")
    settings = book.sheet(schema.SETTINGS)
    assert settings.rows[1][0].value == "Timezone"
    settings.rows[1][1].value = None

    code, out, _ = run("sync", URL, "--now", GOLDEN_NOW)

    assert code == 0
    assert out.startswith(f"sheet {KEY}: 5 rows evaluated as of 2026-11-24 16:00 CET (written)\n")
    code, out, _ = run("check", URL)
    assert "timezone Europe/Paris" in out
    # Written datetimes are Paris wall-clock times: Last run is 16:00, not 15:00.
    assert book.sheet(schema.SETTINGS).values()[8][1] == pytest.approx(46350.666667, abs=1e-6)


@pytest.mark.parametrize(("private", "message"), [
    (True, f"error: no access to spreadsheet {KEY}: share the sheet with {ACCOUNT} (Editor)\n"),
    (False, f"error: spreadsheet {KEY} not found: check the URL or key (and that it is a "
            "Google Sheet, not an uploaded .xlsx)\n"),
])
def test_forbidden_and_not_found_are_exit_1_in_one_line(fake: FakeSheetsAPI, private: bool, message: str) -> None:
    if private:
        fake.add_spreadsheet(KEY, private=True)

    code, out, err = run("sync", URL, "--now", GOLDEN_NOW)

    assert (code, out, err) == (1, "", message)
    assert len(fake.log) == 1  # no retry: a 403 or 404 will not go away by itself
    assert writes(fake) == []


# --------------------------------------------------------------------------- escalate


def test_escalate_writes_the_row_and_history_and_notifies_nothing_without_config(fake: FakeSheetsAPI, tmp_path: Path) -> None:
    book = seed(fake, write_golden(tmp_path / "log.xlsx"))

    code, out, err = run("escalate", URL, "ESC-0003", "--to", "L2", "--handler", "Sam",
                         "--note", "refund above L1 authority", "--now", GOLDEN_NOW)

    assert (code, err) == (0, "")
    assert out == "escalated ESC-0003 L1 -> L2 (handler Sam)\n"
    assert google_cell(book, "ESC-0003", "Level") == "L2"
    assert google_cell(book, "ESC-0003", "Handler") == "Sam"
    assert google_cell(book, "ESC-0003", "Escalated at") == serial(dt.datetime(2026, 11, 24, 15))
    history = book.sheet(schema.HISTORY).values()
    assert [r[1:8] for r in history if r[1:3] == ["ESC-0003", "escalated"]] == [
        ["ESC-0003", "escalated", "L1", "L2", "manual", "Sam", "refund above L1 authority"]]
    # Only reminders for levels without Notify targets are recorded; nothing is sent.
    assert {r[7] for r in history if r[2] == "notified"} <= {"reminder (no channel)"}
    assert [c.kind for c in fake.log] == ["get", "values.batchGet", "values.batchGet",
                                          "values.batchUpdate"]


# --------------------------------------------------------------------------- review


def _grid_column(book: Spreadsheet, source: dict[str, Any]) -> list[Any]:
    (grid,) = source["sourceRange"]["sources"]
    assert grid["endColumnIndex"] == grid["startColumnIndex"] + 1
    sheet = next(s for s in book.sheets if s.sheet_id == grid["sheetId"])
    rows = sheet.values()
    column = grid["startColumnIndex"]
    return [rows[r][column] if column < len(rows[r]) else None
            for r in range(grid["startRowIndex"], grid["endRowIndex"])]


def test_review_writes_its_tab_with_formats_and_native_charts(fake: FakeSheetsAPI, tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx")
    book = seed(fake, path)
    assert run("sync", URL, "--now", GOLDEN_NOW, "--quiet")[0] == 0
    assert run("sync", str(path), "--now", GOLDEN_NOW, "--quiet")[0] == 0
    fake.log.clear()

    code, out, err = run("review", URL, "--month", "2026-11", "--now", GOLDEN_NOW)
    assert run("review", str(path), "--month", "2026-11", "--now", GOLDEN_NOW)[0] == 0

    assert (code, err) == (0, "")
    assert out.startswith(f"wrote tab Review 2026-11 to sheet {KEY}\n")
    # metadata, one read, one batchUpdate carrying the tab, its formats and its charts
    assert [c.kind for c in fake.log] == ["get", "values.batchGet", "batchUpdate"]
    tab = book.sheet("Review 2026-11")
    assert trimmed(tab.values()) == xlsx_values(path, "Review 2026-11")

    charts = {c["spec"]["title"]: c for c in tab.charts}
    assert list(charts) == ["Escalations per month", "Escalations per week",
                            "Escalations by trigger", "Share within target by level"]
    assert charts["Escalations per month"]["spec"]["basicChart"]["chartType"] == "LINE"
    week = charts["Escalations per week"]["spec"]["basicChart"]
    assert week["chartType"] == "COLUMN" and week["headerCount"] == 1
    assert _grid_column(book, week["domains"][0]["domain"])[0] == "Week"
    assert [_grid_column(book, s["series"])[0] for s in week["series"]] == ["Escalations"]
    trigger = charts["Escalations by trigger"]["spec"]["basicChart"]
    assert _grid_column(book, trigger["domains"][0]["domain"]) == [
        "Trigger", "Unresolved too long"]
    assert _grid_column(book, trigger["series"][0]["series"]) == ["Escalations", 1]
    share = charts["Share within target by level"]["spec"]["basicChart"]
    assert [_grid_column(book, s["series"])[0] for s in share["series"]] == [
        "Response within target", "Resolution within target"]
    assert share["axis"][1]["viewWindowOptions"]["viewWindowMax"] == 1
    # The monthly line is straight and starts at zero; bars carry their values.
    month = charts["Escalations per month"]["spec"]["basicChart"]
    assert month["lineSmoothing"] is False
    assert month["axis"][1]["viewWindowOptions"]["viewWindowMin"] == 0
    assert "dataLabel" not in month["series"][0]
    for bars in (week, trigger, share):
        assert all(s["dataLabel"] == {"type": "DATA", "placement": "OUTSIDE_END"}
                   for s in bars["series"])
    assert share["axis"][1]["viewWindowOptions"] == {
        "viewWindowMode": "EXPLICIT", "viewWindowMin": 0, "viewWindowMax": 1}
    rows = tab.values()
    for chart in tab.charts:
        anchor = chart["position"]["overlayPosition"]["anchorCell"]
        assert anchor["sheetId"] == tab.sheet_id
        assert all(len(r) <= anchor["columnIndex"] - 1 for r in rows[anchor["rowIndex"]:][:CHART_ROWS]
                   if len(r) > 1)  # beside the tables, never over a table cell

    level_header = next(r for r, row in enumerate(rows)
                        if row == ["Level", "Name", "Escalations", "Share"])
    share = tab.cell(level_header + 1, 3)
    assert share is not None and share.fmt is not None
    assert share.fmt["numberFormat"] == {"type": "PERCENT", "pattern": "0.0%"}
    header_cell = tab.cell(level_header, 0)
    assert header_cell is not None and header_cell.fmt is not None
    assert header_cell.fmt["textFormat"]["bold"] is True
    assert tab.frozen_rows == 1


def test_a_second_review_replaces_the_tab_and_its_charts(fake: FakeSheetsAPI, tmp_path: Path) -> None:
    book = seed(fake, write_golden(tmp_path / "log.xlsx"))
    assert run("review", URL, "--month", "2026-11", "--now", GOLDEN_NOW)[0] == 0
    tab = book.sheet("Review 2026-11")
    sheet_id, charts = tab.sheet_id, [c["spec"] for c in tab.charts]
    fake.log.clear()

    assert run("review", URL, "--month", "2026-11", "--now", GOLDEN_NOW)[0] == 0

    tab = book.sheet("Review 2026-11")
    assert tab.sheet_id == sheet_id
    assert [c["spec"] for c in tab.charts] == charts
    assert [s.title for s in book.sheets].count("Review 2026-11") == 1
    assert [c.kind for c in fake.log] == ["get", "values.batchGet", "batchUpdate"]


# --------------------------------------------------------------------------- init, message


def test_init_lays_out_an_empty_google_sheet_and_never_overwrites(fake: FakeSheetsAPI) -> None:
    book = fake.add_spreadsheet(KEY)  # a new Google Sheet: one empty Sheet1

    code, out, err = run("init", "--sheet", URL)

    assert (code, err) == (0, "")
    assert out == (f"laid out sheet {KEY}: Escalations, Levels, Triggers, Settings, Holidays, VIP,"
                   " History, Templates\n")
    book.sheet(schema.ESCALATIONS).type_values([
        [c.header for c in schema.ESCALATION_COLUMNS], ["ESC-0001", "11/24/2026 09:30", "Acme"]])
    before = {sheet.title: sheet.values() for sheet in book.sheets}
    # SPEC §7: `init SOURCE` takes the sheet's URL (or key) itself, like every command.
    code, out, _ = run("init", URL)
    assert (code, out) == (0, f"laid out sheet {KEY}: nothing to add\n")
    assert {sheet.title: sheet.values() for sheet in book.sheets} == before


def test_init_dry_run_sends_no_write_and_says_what_it_would(fake: FakeSheetsAPI) -> None:
    book = fake.add_spreadsheet(KEY)
    before = {sheet.title: sheet.values() for sheet in book.sheets}

    code, out, err = run("init", "--sheet", URL, "--dry-run")

    assert (code, err) == (0, "")
    assert out == ("dry run, nothing written\n"
                   f"would lay out sheet {KEY}: Escalations, Levels, Triggers, Settings, "
                   "Holidays, VIP, History, Templates\n")
    assert [c.kind for c in fake.log if c.kind in WRITES] == []
    assert {sheet.title: sheet.values() for sheet in book.sheets} == before


def test_message_renders_from_the_google_sheet_and_writes_nothing(fake: FakeSheetsAPI, tmp_path: Path) -> None:
    seed(fake, write_golden(tmp_path / "log.xlsx"))

    code, out, err = run("message", URL, "ESC-0001", "--template", "internal", "--now", GOLDEN_NOW)
    xlsx = run("message", str(tmp_path / "log.xlsx"), "ESC-0001", "--template", "internal",
               "--now", GOLDEN_NOW)

    assert (code, err) == (0, "")
    assert (code, out, err) == xlsx
    assert out.startswith("Subject: [L2]")
    assert writes(fake) == []


def test_simulate_writes_its_what_if_tab_on_the_google_sheet(fake: FakeSheetsAPI, tmp_path: Path) -> None:
    path = write_golden(tmp_path / "log.xlsx")
    book = seed(fake, path)
    args = ("--month", "2026-11", "--now", GOLDEN_NOW, "--set", "L1.Response time=2 business hours")

    code, out, err = run("simulate", URL, *args)
    xlsx = run("simulate", str(path), *args)

    assert (code, err) == (0, "")
    assert out == xlsx[1].replace(path.name, f"sheet {KEY}")
    tab = next(s.title for s in book.sheets if s.title.startswith("What-if"))
    assert trimmed(book.sheet(tab).values()) == xlsx_values(path, tab)


# --------------------------------------------------------------------------- Google's limits


def _outage(count: int) -> list[list[Any]]:
    """``count`` customers reporting one outage in an hour, under long IDs: the repeat-issue
    evidence lists every ID, far past what one cell holds."""
    from tests.fixtures import row
    opened = dt.datetime(2026, 11, 24, 10, 0)
    return [row(id=f"OUTAGE-{n:04d}-{'x' * 50}", opened=opened + dt.timedelta(seconds=n),
                customer=f"Customer {n}", issue_type="Login", issue_key="OUTAGE-7",
                description="Cannot log in") for n in range(count)]


def test_a_huge_repeat_issue_cluster_is_listed_within_googles_cell_limit(
        fake: FakeSheetsAPI, tmp_path: Path) -> None:
    book = seed(fake, write_golden(tmp_path / "log.xlsx", _outage(1000)))

    code, _, err = run("sync", URL, "--now", GOLDEN_NOW, "--quiet")

    assert (code, err) == (0, "")
    longest = max(len(v) for s in book.sheets for r in s.values() for v in r if isinstance(v, str))
    assert 40_000 < longest <= 50_000
    whys = [r[0] for r in columns(book.sheet(schema.ESCALATIONS).values(), ("Why",))[1:]]
    assert len(whys) == 1000 and all(why.startswith("Repeat issue: ") for why in whys)
    why = max(whys, key=len)
    listed = why.split(": ")[-1].split(" … and ")[0].split(", ")
    assert why.startswith("Repeat issue: 1000 customers within 24 hours: OUTAGE-0000-")
    assert why.endswith(f"x … and {1000 - len(listed)} more") and len(why) <= 50_000
    fake.log.clear()
    assert run("sync", URL, "--now", GOLDEN_NOW, "--quiet")[0] == 0
    assert writes(fake) == ["values.batchUpdate"]
    (update,) = [c for c in fake.calls() if c.kind == "values.batchUpdate"]
    assert [d["range"] for d in update.body["data"]] == ["'Settings'!B9:B9"]  # Last run


def test_a_history_tab_sync_creates_gets_its_header_look_and_date_format(
        fake: FakeSheetsAPI, tmp_path: Path) -> None:
    book = seed(fake, write_golden(tmp_path / "log.xlsx"))
    book.sheets.remove(book.sheet(schema.HISTORY))

    assert run("sync", URL, "--now", GOLDEN_NOW, "--quiet")[0] == 0

    history = book.sheet(schema.HISTORY)
    header = history.cell(0, 0)
    assert header is not None and header.fmt is not None and header.fmt["textFormat"]["bold"]
    first = history.cell(1, 0)
    assert first is not None and isinstance(first.value, float)
    assert first.fmt is not None and first.fmt["numberFormat"]["type"] == "DATE_TIME"
    assert history.frozen_rows == 1
