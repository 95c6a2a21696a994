"""The staleness indicator: its formula, its place in the template, and that sync and check
behave exactly as without it (xlsx and Google)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from gspread.utils import rowcol_to_a1

from sheets_escalation.adapters.gsheets.backend import GoogleSheetsBackend
from sheets_escalation.adapters.gsheets.http import client_with_session
from sheets_escalation.adapters.gsheets.init import init_sheet
from sheets_escalation.adapters.xlsx import template
from sheets_escalation.cli import cli
from sheets_escalation.core import layout, schema, staleness
from sheets_escalation.jobs.sync import run_sync
from tests.fake_sheets import FakeSheetsAPI
from tests.fixtures import GOLDEN_NOW, GOLDEN_ROWS, KEY, add_chart, write_golden

STALE_TEXT = "Flags last refreshed 3 h ago — the hourly sync has stopped"
COLUMN = staleness.TEMPLATE_COLUMN  # 1-based
LETTER = rowcol_to_a1(1, COLUMN).rstrip("1")


def test_the_formula_reads_last_run_and_stale_after_from_settings() -> None:
    text = staleness.formula("A", "B")
    last_run = 'INDEX(Settings!$B:$B,MATCH("Last run",Settings!$A:$A,0))'
    stale_after = 'INDEX(Settings!$B:$B,MATCH("Stale after",Settings!$A:$A,0))'
    assert text.startswith("=IFERROR(")
    assert f"(NOW()-IFERROR({last_run},\"\"))>" in text
    assert text.count(stale_after) == 6  # number and unit; the default when unreadable:
    assert ",2/24)" in text
    assert '"Flags last refreshed "&' in text and '&" ago — the hourly sync has stopped"' in text
    for constant in (staleness.FRESH_TEXT, staleness.NEVER_TEXT, staleness.UNREADABLE_TEXT):
        assert f'"{constant}"' in text
    # Moved Settings columns and a tab title that needs quoting are followed.
    moved = staleness.formula("C", "E", "Sheet settings")
    assert "INDEX('Sheet settings'!$E:$E,MATCH(\"Last run\",'Sheet settings'!$C:$C,0))" in moved
    assert staleness.is_indicator(text) and not staleness.is_indicator(staleness.FRESH_TEXT)


def test_the_template_carries_it_right_of_the_owned_columns(tmp_path: Path) -> None:
    path = tmp_path / "new.xlsx"
    template.init_xlsx(path)
    book = openpyxl.load_workbook(path)
    esc = book[schema.ESCALATIONS]
    headers = [c.header for c in schema.ESCALATION_COLUMNS]
    assert [esc.cell(1, n + 1).value for n in range(len(headers))] == headers
    assert len(headers) + 1 == COLUMN
    assert esc.cell(1, COLUMN).value == staleness.formula("A", "B")
    settings = {r[0]: r[1] for r in book[schema.SETTINGS].iter_rows(min_row=2, values_only=True)}
    assert settings["Stale after"] == "2 hours"
    # Red text while it says the sync has stopped, and the header cells left of it red.
    rules = {str(area.sqref): r for area in esc.conditional_formatting for r in area.rules
             if r.formula == [f'RIGHT(${LETTER}$1,7)="stopped"']}
    assert set(rules) == {f"{LETTER}1", f"A1:{rowcol_to_a1(1, COLUMN - 1).rstrip('1')}1"}
    assert rules[f"{LETTER}1"].dxf.font.color.rgb == "FF" + layout.STALE_FILL
    header_rule = rules[f"A1:{rowcol_to_a1(1, COLUMN - 1).rstrip('1')}1"]
    assert header_rule.dxf.fill.fgColor.rgb == "FF" + layout.STALE_FILL
    assert header_rule.dxf.font.color.rgb == "FF" + layout.STALE_FONT
    # A workbook that never ran shows (and reads as) the text for that, not a blank.
    with zipfile.ZipFile(path) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert re.search(rf'<c r="{LETTER}1"[^>]* t="str"><f>[^<]+</f><v>'
                     + re.escape(staleness.NEVER_TEXT) + "</v></c>", sheet)


def _showing(path: Path, text: str | None) -> Path:
    """The indicator as a spreadsheet app leaves it after computing it (``text`` cached), or
    taken out (None)."""
    if text is None:
        book = openpyxl.load_workbook(path)
        book[schema.ESCALATIONS].cell(1, COLUMN).value = None
        book.save(path)
        return path
    data = template._cache_indicator(_sheet_xml(path))
    data = data.replace(b"<v>" + staleness.NEVER_TEXT.encode() + b"</v>",
                        b"<v>" + text.encode() + b"</v>")
    _replace_sheet_xml(path, data)
    return path


def _sheet_xml(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read("xl/worksheets/sheet1.xml")


def _replace_sheet_xml(path: Path, data: bytes) -> None:
    with zipfile.ZipFile(path) as source:
        members = {n: source.read(n) for n in source.namelist()}
    members["xl/worksheets/sheet1.xml"] = data
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in members.items():
            target.writestr(name, content)
    path.write_bytes(out.getvalue())


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def _escalations(path: Path, width: int) -> list[list[Any]]:
    book = openpyxl.load_workbook(path)
    return [list(r)[:width] for r in book[schema.ESCALATIONS].iter_rows(values_only=True)]


def _golden(path: Path, rows: list[list[Any]] | None = None) -> Path:
    return write_golden(path, rows)


@pytest.mark.parametrize("shown", [staleness.FRESH_TEXT, STALE_TEXT, staleness.NEVER_TEXT])
def test_sync_and_check_are_unchanged_by_the_indicator(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shown: str) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("SHEETS_ESCALATION_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "plain").mkdir()
    (tmp_path / "watched").mkdir()
    plain = _showing(_golden(tmp_path / "plain" / "log.xlsx"), None)
    watched = _showing(_golden(tmp_path / "watched" / "log.xlsx"), shown)
    for command in (["check"], ["sync", "--now", GOLDEN_NOW, "--json"], ["sync", "--now",
                                                                         GOLDEN_NOW]):
        results = [_cli(command[0], str(p), *command[1:]) for p in (plain, watched)]
        assert results[0] == results[1], command
    width = COLUMN - 1
    assert _escalations(plain, width) == _escalations(watched, width)
    # The indicator is kept as it was: a formula, with the text it showed.
    assert openpyxl.load_workbook(watched)[schema.ESCALATIONS].cell(1, COLUMN).value == \
        staleness.formula("A", "B")
    assert b"<v>" + shown.encode() + b"</v>" in _sheet_xml(watched)


def test_owned_columns_re_added_go_right_of_the_indicator(tmp_path: Path) -> None:
    path = _golden(tmp_path / "log.xlsx")
    book = openpyxl.load_workbook(path)
    esc = book[schema.ESCALATIONS]
    problems = [c.header for c in schema.ESCALATION_COLUMNS].index("Problems") + 1
    esc.cell(1, problems).value = None  # someone cleared the Problems header
    esc.cell(1, COLUMN + 1).value = "My notes"  # and keeps notes right of the indicator
    esc.cell(2, COLUMN + 1).value = "call back Friday"
    book.save(path)
    _showing(path, staleness.FRESH_TEXT)

    run_sync_path(path)

    header = [c.value for c in openpyxl.load_workbook(path)[schema.ESCALATIONS][1]]
    assert header[COLUMN - 1] == staleness.formula("A", "B")
    assert header[COLUMN:] == ["My notes", "Problems"]
    assert b"<v>" + staleness.FRESH_TEXT.encode() + b"</v>" in _sheet_xml(path)


def run_sync_path(path: Path) -> None:
    from sheets_escalation.adapters.xlsx.backend import XlsxBackend

    run_sync(XlsxBackend(path), pd.Timestamp(GOLDEN_NOW))


# -- Google Sheets ----------------------------------------------------------------------------


@pytest.fixture
def fake() -> FakeSheetsAPI:
    return FakeSheetsAPI()


def test_google_init_stores_the_indicator_as_a_formula(fake: FakeSheetsAPI) -> None:
    book = fake.add_spreadsheet(KEY)
    client = client_with_session(fake.session())
    init_sheet(client, KEY)

    esc = book.sheet(schema.ESCALATIONS)
    cell = esc.cell(0, COLUMN - 1)
    assert cell is not None
    assert (cell.formula, cell.value) == (staleness.formula("A", "B"), None)  # never evaluated
    answer = client.http_client.values_get(KEY, f"Escalations!{LETTER}1",
                                           params={"valueRenderOption": "FORMULA"})
    assert answer["values"] == [[staleness.formula("A", "B")]]
    (write,) = fake.calls("batchUpdate")
    formulas = re.findall(r'"formulaValue": ("(?:[^"\\]|\\.)*")', json.dumps(write.body))
    assert [json.loads(f) for f in formulas] == [staleness.formula("A", "B")]
    rules = [r for r in esc.conditional_formats
             if r["booleanRule"]["condition"]["type"] == "CUSTOM_FORMULA"]
    assert {r["booleanRule"]["condition"]["values"][0]["userEnteredValue"] for r in rules} == {
        f'=RIGHT(${LETTER}$1,7)="stopped"'}
    assert sorted((r["ranges"][0]["startColumnIndex"], r["ranges"][0]["endColumnIndex"])
                  for r in rules) == [(0, COLUMN - 1), (COLUMN - 1, COLUMN)]

    # Once there, a second init leaves it (and its colour rule) alone.
    fake.log.clear()
    init_sheet(client, KEY)
    assert "formulaValue" not in json.dumps(fake.calls("batchUpdate")[0].body)
    assert len([r for r in esc.conditional_formats
                if r["booleanRule"]["condition"]["type"] == "CUSTOM_FORMULA"]) == 2


def test_google_init_on_a_sheet_in_use_adds_it_right_of_every_column(fake: FakeSheetsAPI) -> None:
    book = fake.add_spreadsheet(KEY, {
        "Escalations": [["ID", "Opened", "Customer"], ["ESC-0001", "x", "Acme", None, "note"]],
        "Settings": [["Value", "Key"], ["UTC", "Timezone"]],
    })
    init_sheet(client_with_session(fake.session()), KEY)
    esc = book.sheet(schema.ESCALATIONS)
    assert esc.values() == [["ID", "Opened", "Customer"], ["ESC-0001", "x", "Acme", None, "note"]]
    cell = esc.cell(0, 5)
    assert cell is not None and cell.formula == staleness.formula("B", "A")
    assert book.sheet("Settings").values()[-1] == ["2 hours", "Stale after"]


def test_google_sync_with_the_indicator_writes_only_last_run_on_a_rerun(
        fake: FakeSheetsAPI, tmp_path: Path) -> None:
    book = fake.add_spreadsheet(KEY)
    client = client_with_session(fake.session())
    init_sheet(client, KEY)
    esc = book.sheet(schema.ESCALATIONS)
    indicator = esc.cell(0, COLUMN - 1)
    assert indicator is not None
    indicator.value = staleness.NEVER_TEXT  # what Google shows before the first sync
    for number, values in enumerate(GOLDEN_ROWS, start=1):
        for col, value in enumerate(values):
            if value is not None:
                cell = esc.cell(number, col, create=True)
                assert cell is not None
                cell.value = value if not hasattr(value, "year") else str(value)
    backend = GoogleSheetsBackend(KEY, client, lock_dir=tmp_path)
    now = pd.Timestamp(GOLDEN_NOW)
    run_sync(backend, now)
    indicator.value = staleness.FRESH_TEXT  # Google recomputes after Last run is written
    fake.log.clear()
    run_sync(backend, now + pd.Timedelta(minutes=5))
    (write,) = fake.calls("values.batchUpdate")
    assert [d["range"] for d in write.body["data"]] == ["'Settings'!B9:B9"]
    assert (indicator.formula, indicator.value) == (staleness.formula("A", "B"),
                                                    staleness.FRESH_TEXT)
    header = esc.values()[0]
    assert header[:COLUMN - 1] == [c.header for c in schema.ESCALATION_COLUMNS]


# -- init on an existing workbook -------------------------------------------------------------


def _cells(path: Path) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every cell of every tab that holds a value or a style: value and look."""
    book = openpyxl.load_workbook(path)
    return {(ws.title, cell.coordinate): (cell.value, cell.number_format, cell.font.b,
                                          cell.fill.fgColor.rgb, cell.alignment.wrap_text)
            for ws in book.worksheets for row in ws.iter_rows() for cell in row
            if cell.value is not None or cell.has_style}


def _in_use(tmp_path: Path, name: str = "log.xlsx") -> Path:
    """A workbook in use made before the indicator: data, a column of the owner's own right
    of Problems, no ``Stale after`` row, and no Holidays tab."""
    path = _showing(_golden(tmp_path / name), None)
    book = openpyxl.load_workbook(path)
    esc = book[schema.ESCALATIONS]
    esc.cell(1, COLUMN).value = "My notes"
    esc.cell(3, COLUMN).value = "call back Friday"
    settings = book[schema.SETTINGS]
    (stale_row,) = [r for r in settings.iter_rows(min_row=2)
                    if r[0].value == staleness.STALE_AFTER_KEY]
    settings.delete_rows(stale_row[0].row)
    del book[schema.HOLIDAYS]
    book.save(path)
    return path


def test_init_on_an_existing_workbook_adds_only_what_is_missing(tmp_path: Path) -> None:
    path = _in_use(tmp_path)
    before = _cells(path)
    settings_rows = openpyxl.load_workbook(path)[schema.SETTINGS].max_row
    beyond = rowcol_to_a1(1, COLUMN + 1).rstrip("1")

    code, out, err = _cli("init", str(path))

    assert (code, err) == (0, "")
    assert out == (f"added to {path}: tab {schema.HOLIDAYS}, staleness indicator "
                   f"(Escalations!{beyond}1), Settings row Stale after\n")
    after = _cells(path)
    assert {key: after.get(key) for key in before} == before  # no cell changed, cell by cell
    book = openpyxl.load_workbook(path)
    esc = book[schema.ESCALATIONS]
    assert esc.cell(1, COLUMN + 1).value == staleness.formula("A", "B")
    rules = {str(area.sqref) for area in esc.conditional_formatting for r in area.rules
             if r.formula == [f'RIGHT(${beyond}$1,7)="stopped"']}
    assert rules == {f"{beyond}1", f"A1:{LETTER}1"}
    settings = book[schema.SETTINGS]
    assert settings.max_row == settings_rows + 1
    assert [c.value for c in settings[settings.max_row]] == ["Stale after", "2 hours"]
    assert book.sheetnames[-1] == schema.HOLIDAYS
    assert [c.value for c in book[schema.HOLIDAYS][1]][:2] == list(
        layout.TAB_LAYOUTS[schema.HOLIDAYS].headers)[:2]
    # Its cached text: readers taking cached values see a header, not a blank column.
    assert b"<v>" + staleness.NEVER_TEXT.encode() + b"</v>" in _sheet_xml(path)

    # A second init finds everything and writes nothing.
    data = path.read_bytes()
    assert _cli("init", str(path)) == (0, f"{path}: nothing to add\n", "")
    assert path.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.xlsx"]


def test_init_leaves_a_workbook_with_the_indicator_alone(tmp_path: Path) -> None:
    path = _showing(_golden(tmp_path / "log.xlsx"), STALE_TEXT)
    data = path.read_bytes()
    assert _cli("init", str(path)) == (0, f"{path}: nothing to add\n", "")
    assert path.read_bytes() == data


def test_init_follows_moved_settings_columns(tmp_path: Path) -> None:
    path = tmp_path / "moved.xlsx"
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    first.title = "escalations"
    first.append(["ID", "Opened", "Customer"])
    first.append(["ESC-0001", "x", "Acme", None, "note"])
    settings = book.create_sheet("settings")
    settings.append(["Value", "Key"])
    settings.append(["UTC", "Timezone"])
    book.save(path)

    assert _cli("init", str(path))[0] == 0
    book = openpyxl.load_workbook(path)
    assert book["escalations"].cell(1, 6).value == staleness.formula("B", "A", "settings")
    assert [c.value for c in book["settings"][3]] == ["2 hours", "Stale after"]
    assert [[c.value for c in r] for r in book["escalations"].iter_rows(max_col=5)] == [
        ["ID", "Opened", "Customer", None, None, ], ["ESC-0001", "x", "Acme", None, "note"]]


def test_init_refuses_to_rebuild_a_workbook_holding_a_chart(tmp_path: Path) -> None:
    path = _in_use(tmp_path)
    add_chart(path)
    data = path.read_bytes()
    code, out, err = _cli("init", str(path))
    assert code != 0 and "charts" in err and "--allow-lossy" in err
    assert path.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.xlsx"]
    # Nothing to add is not refused: nothing would be saved.
    complete = _showing(_golden(tmp_path / "complete.xlsx"), staleness.FRESH_TEXT)
    add_chart(complete)
    assert _cli("init", str(complete))[:2] == (0, f"{complete}: nothing to add\n")
    # Asked to, it saves and says what was lost the way sync does.
    code, out, err = _cli("init", str(path), "--allow-lossy")
    assert code == 0 and out.startswith(f"added to {path}:")


def test_init_refuses_a_workbook_open_in_an_office_program(tmp_path: Path) -> None:
    path = _in_use(tmp_path)
    (tmp_path / ".~lock.log.xlsx#").write_text("Ann,host,ann,2026-12-04;")
    data = path.read_bytes()
    code, _, err = _cli("init", str(path))
    assert code != 0 and "open in LibreOffice (by Ann)" in err
    assert path.read_bytes() == data
    assert _cli("init", str(path), "--ignore-open")[0] == 0
    assert path.read_bytes() != data


def test_init_refuses_a_file_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("precious")
    code, _, err = _cli("init", str(path))
    assert code != 0 and ".xlsx" in err
    assert path.read_text() == "precious"


def test_sync_and_check_are_unchanged_after_init_added_the_indicator(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("SHEETS_ESCALATION_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "plain").mkdir()
    (tmp_path / "init").mkdir()
    plain = _showing(_golden(tmp_path / "plain" / "log.xlsx"), None)
    added = _showing(_golden(tmp_path / "init" / "log.xlsx"), None)
    assert _cli("init", str(added))[0] == 0
    for command in (["check"], ["sync", "--now", GOLDEN_NOW, "--json"], ["sync", "--now",
                                                                         GOLDEN_NOW]):
        results = [_cli(command[0], str(p), *command[1:]) for p in (plain, added)]
        assert results[0] == results[1], command
    width = COLUMN - 1
    assert _escalations(plain, width) == _escalations(added, width)
    assert openpyxl.load_workbook(added)[schema.ESCALATIONS].cell(1, COLUMN).value == \
        staleness.formula("A", "B")


def test_init_lays_out_an_empty_template_tab_and_leaves_other_tabs(tmp_path: Path) -> None:
    path = tmp_path / "blank.xlsx"
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    first.title = "Sheet1"
    first["B2"] = "my own list"
    book.create_sheet(schema.ESCALATIONS)  # made by hand, nothing typed yet
    book.save(path)

    code, out, _ = _cli("init", str(path))

    assert code == 0 and f"tab {schema.ESCALATIONS} (it was empty)" in out
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[:2] == ["Sheet1", schema.ESCALATIONS]
    assert set(book.sheetnames[2:]) == set(layout.TAB_ORDER) - {schema.ESCALATIONS}
    assert [[c.value for c in r] for r in book["Sheet1"].iter_rows()] == [
        [None, None], [None, "my own list"]]
    esc = book[schema.ESCALATIONS]
    assert [esc.cell(1, n + 1).value for n in range(COLUMN - 1)] == [
        c.header for c in schema.ESCALATION_COLUMNS]
    assert esc.cell(1, COLUMN).value == staleness.formula("A", "B")
    assert _cli("init", str(path))[1] == f"{path}: nothing to add\n"


def test_init_on_a_macro_workbook_keeps_its_macros(tmp_path: Path) -> None:
    source = _showing(_golden(tmp_path / "log.xlsx"), None)
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["[Content_Types].xml"] = members["[Content_Types].xml"].replace(
        b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        b"application/vnd.ms-excel.sheet.macroEnabled.main+xml").replace(
        b"</Types>", b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
                     b"</Types>")
    members["xl/_rels/workbook.xml.rels"] = members["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        b'<Relationship Id="rIdVBA" Type="http://schemas.microsoft.com/office/2006/relationships/'
        b'vbaProject" Target="vbaProject.bin"/></Relationships>')
    members["xl/vbaProject.bin"] = b"VBA project bytes"
    path = tmp_path / "log.xlsm"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)

    code, out, err = _cli("init", str(path))

    assert (code, err) == (0, "")
    assert out == f"added to {path}: staleness indicator (Escalations!{LETTER}1)\n"
    with zipfile.ZipFile(path) as archive:
        assert archive.read("xl/vbaProject.bin") == b"VBA project bytes"
        assert b"macroEnabled" in archive.read("[Content_Types].xml")
    assert openpyxl.load_workbook(path)[schema.ESCALATIONS].cell(1, COLUMN).value == \
        staleness.formula("A", "B")


def test_init_on_a_workbook_without_settings_takes_the_machines_zone_and_date_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As a new workbook does: a Settings tab init adds reads the owner's dates and hours.
    path = _in_use(tmp_path)
    book = openpyxl.load_workbook(path)
    del book[schema.SETTINGS]
    book.save(path)
    monkeypatch.setenv("TZ", "Europe/Berlin")
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")

    code, out, err = _cli("init", str(path))

    assert (code, err) == (0, "")
    assert "tab Settings" in out
    assert out.endswith("Timezone Europe/Berlin, dates day-first (DMY) — change them in "
                        "Settings.\n")
    values = {row[0]: row[1] for row in openpyxl.load_workbook(path)[schema.SETTINGS]
              .iter_rows(min_row=2, values_only=True)}
    assert (values["Timezone"], values["Date order"]) == ("Europe/Berlin", "DMY")
