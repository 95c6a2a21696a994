"""The local .xlsx backend: reading values, executing plans, keeping everything else."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import openpyxl
import pytest
from filelock import FileLock
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl.drawing.image import Image
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Font, PatternFill
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from PIL import Image as PILImage

from sheets_escalation.adapters.xlsx import backend as xlsx
from sheets_escalation.adapters.xlsx import ooxml, template
from sheets_escalation.adapters.xlsx import patch as xlsx_patch
from sheets_escalation.adapters.xlsx import reader as xlsx_reader
from sheets_escalation.adapters.xlsx.backend import XlsxBackend
from sheets_escalation.core import layout, schema, staleness
from sheets_escalation.core.errors import (
    ConcurrentEditError,
    LockHeldError,
    RefusedError,
    SourceError,
)
from sheets_escalation.core.table import CellWrite, WritePlan
from tests.support.fixtures import add_chart

REPO = Path(__file__).resolve().parents[2]
ESC = schema.ESCALATIONS
FLAG_COL = len(schema.INPUT_COLUMNS)  # 0-based column of Flag in the template
ESCALATE_BY_COL = FLAG_COL + 4


def _template(path: Path) -> Path:
    template.init_xlsx(path)
    return path


def _with_cached_formula(path: Path, formula: str, cached: str) -> None:
    """openpyxl cannot store a formula's cached value; patch it into the sheet XML as Excel would."""
    with zipfile.ZipFile(path) as source:
        members = {name: source.read(name) for name in source.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    members[sheet] = members[sheet].replace(
        f"<f>{formula}</f><v />".encode(), f"<f>{formula}</f><v>{cached}</v>".encode())
    with zipfile.ZipFile(path, "w") as target:
        for name, data in members.items():
            target.writestr(name, data)


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


# -- reading ---------------------------------------------------------------------------------


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        XlsxBackend(tmp_path / "nope.xlsx").read([ESC])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"ID,Opened\n1,2\n", "not a zip file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old-style .xls"),
    ],
)
def test_not_an_xlsx_is_a_clear_source_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "book.xlsx"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=re.escape(message)):
        XlsxBackend(path).read([ESC])


def test_a_zip_that_is_not_a_workbook_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    with pytest.raises(SourceError, match="no xl/workbook.xml"):
        XlsxBackend(path).read([ESC])


@pytest.fixture
def typed_book(tmp_path: Path) -> Path:
    path = tmp_path / "typed.xlsx"
    workbook = openpyxl.Workbook()
    ws = workbook.active
    assert ws is not None
    ws.title = "Data"
    ws["A1"] = "=1+1"
    ws["B1"] = "Header"
    ws["A2"] = dt.datetime(2026, 3, 2, 9, 30)
    ws["B2"] = dt.date(2026, 3, 2)
    ws["C2"] = 12
    ws["D2"] = 1200.5
    ws["E2"] = True
    ws["F2"] = "text"
    ws["A3"] = "short row"
    ws["C5"] = "after a gap"
    ws["D5"].fill = PatternFill("solid", start_color="FFFF0000")  # styled blank: not a value
    workbook.create_sheet("Other")["A1"] = "x"
    workbook.save(path)
    _with_cached_formula(path, "1+1", "2")
    return path


EXPECTED_ROWS = [
    [2, "Header"],
    # A date cell reads as midnight, whichever reader ran.
    [dt.datetime(2026, 3, 2, 9, 30), dt.datetime(2026, 3, 2), 12, 1200.5, True, "text"],
    ["short row"],
    [],
    [None, None, "after a gap"],
]


def test_read_returns_raw_values_ragged_and_positioned(typed_book: Path) -> None:
    tables = XlsxBackend(typed_book).read(["Data", "Missing"])
    assert list(tables) == ["Data"]
    assert tables["Data"].title == "Data"
    assert tables["Data"].rows == EXPECTED_ROWS
    assert type(tables["Data"].rows[1][2]) is int


def test_read_matches_tab_titles_ignoring_case_and_spaces(typed_book: Path) -> None:
    tables = XlsxBackend(typed_book).read(["data", " OTHER "])
    assert tables["data"].title == "Data"
    assert tables[" OTHER "].rows == [["x"]]


def _calamine_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every calamine read fail, so the backend reads with openpyxl."""
    def broken(data: bytes, tabs: object) -> object:
        raise xlsx_reader.python_calamine.CalamineError("unsupported")

    monkeypatch.setattr(xlsx_reader, "read_calamine", broken)


def test_openpyxl_fallback_reads_the_same_values(typed_book: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _calamine_fails(monkeypatch)
    assert XlsxBackend(typed_book).read(["Data"])["Data"].rows == EXPECTED_ROWS


def test_a_sheet_whose_cells_start_away_from_a1_reads_positioned_from_a1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "book.xlsx"
    workbook = openpyxl.Workbook()
    ws = workbook.active
    assert ws is not None
    ws.title = "Data"
    ws["C3"] = "first"
    ws["D4"] = 5
    ws["C6"] = "last"
    workbook.save(path)
    expected = [[], [], [None, None, "first"], [None, None, None, 5], [], [None, None, "last"]]
    assert XlsxBackend(path).read(["Data"])["Data"].rows == expected
    _calamine_fails(monkeypatch)
    assert XlsxBackend(path).read(["Data"])["Data"].rows == expected


def _patch_sheet(path: Path, old: bytes, new: bytes) -> None:
    with zipfile.ZipFile(path) as source:
        members = {name: source.read(name) for name in source.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    assert old in members[sheet]
    members[sheet] = members[sheet].replace(old, new)
    with zipfile.ZipFile(path, "w") as target:
        for name, data in members.items():
            target.writestr(name, data)


def test_error_values_are_read_as_their_text(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    workbook = openpyxl.Workbook()
    ws = workbook.active
    assert ws is not None
    ws["A1"] = "ID"
    ws["B1"] = "=1/0"
    ws["C3"] = "x"
    workbook.save(path)
    _patch_sheet(path, b'<c r="B1"><f>1/0</f><v /></c>',
                 b'<c r="B1" t="e"><f>1/0</f><v>#DIV/0!</v></c><c r="D1" s="0" t="e"><v>#N/A</v></c>')
    assert XlsxBackend(path).read(["Sheet"])["Sheet"].rows == [["ID", "#DIV/0!", None, "#N/A"], [],
                                                               [None, None, "x"]]


@pytest.mark.parametrize("step", [1, 3, 5, 64, 1 << 20])
@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_error_values_and_negative_numbers_are_found_whatever_the_chunks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: int, compression: int) -> None:
    # The worksheet is searched for them chunk by chunk: a mark split between two chunks
    # (or a member stored, not deflated) must still be found.
    path = tmp_path / "book.xlsx"
    workbook = openpyxl.Workbook()
    ws = workbook.active
    assert ws is not None
    ws.append(["ID", "When", "Amount"])
    ws.append(["x", "=1/0", -2.5])
    ws.append(["y", -1, 3])
    ws["B3"].number_format = "yyyy-mm-dd"
    workbook.save(path)
    with zipfile.ZipFile(path) as source:
        members = {name: source.read(name) for name in source.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    members[sheet] = members[sheet].replace(b'<c r="B2"><f>1/0</f><v /></c>',
                                            b'<c r="B2" t="e"><f>1/0</f><v>#DIV/0!</v></c>')
    with zipfile.ZipFile(path, "w", compression) as target:
        for name, data in members.items():
            target.writestr(name, data)
    monkeypatch.setattr("sheets_escalation.adapters.xlsx.ooxml._INFLATE_STEP", step)
    assert XlsxBackend(path).read(["Sheet"])["Sheet"].rows == [
        ["ID", "When", "Amount"], ["x", "#DIV/0!", -2.5], ["y", -1, 3]]


@pytest.mark.parametrize("xml", [b'<c r="B2" t="e"><v>#N/A</v></c>', b'<c r="C2"><v>-1</v></c>',
                                 b'<c r="C2" t="s"><v>1</v></c>'])
def test_the_search_for_misread_cells_sees_marks_split_between_chunks(
        monkeypatch: pytest.MonkeyPatch, xml: bytes) -> None:
    holds_mark = b't="e"' in xml or b"<v>-" in xml
    for first in range(len(xml)):
        for second in range(first, len(xml)):
            chunks = [xml[:first], xml[first:second], xml[second:]]
            monkeypatch.setattr(xlsx_reader.ooxml, "part_chunks",
                                lambda *_, chunks=chunks: iter(chunks))
            assert xlsx_reader._may_be_misread(b"", None, "") is holds_mark, chunks  # type: ignore[arg-type]


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED,
                                         zipfile.ZIP_BZIP2])
def test_part_chunks_give_each_member_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            compression: int) -> None:
    path = _template(tmp_path / "t.xlsx")
    with zipfile.ZipFile(path) as source:
        members = {name: source.read(name) for name in source.namelist()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as target:
        for name, data in members.items():
            target.writestr(name, data)
    monkeypatch.setattr(ooxml, "_INFLATE_STEP", 7)
    package = buffer.getvalue()
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        for name, data in members.items():
            assert b"".join(ooxml.part_chunks(package, archive, name)) == data, name


def test_template_reads_back_its_seeds(tmp_path: Path) -> None:
    tables = XlsxBackend(_template(tmp_path / "t.xlsx")).read([schema.TRIGGERS, ESC])
    assert tables[schema.TRIGGERS].rows[1] == list(schema.DEFAULT_TRIGGERS[0])
    # The staleness indicator reads as the text it shows before the first sync.
    assert tables[ESC].rows == [[*(c.header for c in schema.ESCALATION_COLUMNS),
                                 staleness.NEVER_TEXT]]


# -- writing ---------------------------------------------------------------------------------


def _reload(path: Path) -> openpyxl.Workbook:
    return openpyxl.load_workbook(path)


def test_write_plan_round_trip(tmp_path: Path) -> None:
    path = _template(tmp_path / "book.xlsx")
    backend = XlsxBackend(path)
    backend.read(layout.TAB_ORDER)
    opened = dt.datetime(2026, 3, 2, 9, 0)
    backend.write(WritePlan(
        cells=[
            CellWrite(ESC, 1, 0, "ESC-0001", row_id=None),
            CellWrite(ESC, 1, 1, opened),
            CellWrite(ESC, 1, 2, "Acme"),
            CellWrite(ESC, 1, 11, 1200.5),
            CellWrite(ESC, 1, FLAG_COL, "OK"),
            CellWrite(ESC, 1, ESCALATE_BY_COL, dt.datetime(2026, 3, 2, 10, 0)),
            CellWrite(ESC, 1, FLAG_COL + 9, float("nan")),
        ],
        appends={schema.HISTORY: [[opened, "ESC-0001", "id assigned", None, None, None, "sheets-escalation"]]},
    ))
    again = XlsxBackend(path).read([ESC, schema.HISTORY])
    row = again[ESC].rows[1]
    assert row[:3] == ["ESC-0001", opened, "Acme"]
    assert row[11] == 1200.5
    assert row[FLAG_COL] == "OK"
    assert row[ESCALATE_BY_COL] == dt.datetime(2026, 3, 2, 10, 0)
    assert len(row) == ESCALATE_BY_COL + 1  # the NaN became a blank
    assert again[schema.HISTORY].rows[1] == [opened, "ESC-0001", "id assigned", None, None, None,
                                             "sheets-escalation"]
    ws = _reload(path)[ESC]
    assert ws.cell(2, 2).number_format == "yyyy-mm-dd hh:mm"
    # A cell the tool creates in an owned column takes the column's grey, as typed ones do.
    assert ws.cell(2, FLAG_COL + 1).fill.fgColor.rgb == "FF" + layout.OWNED_FILL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.xlsx"]


def test_appends_go_after_the_last_nonblank_row(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    workbook = openpyxl.Workbook()
    ws = workbook.active
    assert ws is not None
    ws.title = "History"
    ws.append(list(schema.HISTORY_HEADERS))
    ws.append(["a"])
    ws.append([])
    ws.append(["b"])
    ws["A9"].fill = PatternFill("solid", start_color="FFFF0000")  # formatted, still blank
    workbook.save(path)
    XlsxBackend(path).write(WritePlan(appends={"History": [["c"], ["d", "e"]]}))
    rows = XlsxBackend(path).read(["History"])["History"].rows
    assert rows[1:] == [["a"], [], ["b"], ["c"], ["d", "e"]]


def test_new_tab_gets_the_template_look(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    openpyxl.Workbook().save(path)
    at = dt.datetime(2026, 3, 2, 9)
    XlsxBackend(path).write(WritePlan(new_tabs={schema.HISTORY: [list(schema.HISTORY_HEADERS),
                                                                 [at, "ESC-0001", "escalated"]]}))
    ws = _reload(path)[schema.HISTORY]
    assert ws["A2"].value == at and ws["A2"].number_format == "yyyy-mm-dd hh:mm"
    assert ws["A1"].fill.fgColor.rgb == "FF" + layout.OWNED_HEADER_FILL
    assert ws.freeze_panes == "A2"


def test_new_tab_that_exists_is_refused(tmp_path: Path) -> None:
    path = _template(tmp_path / "book.xlsx")
    before = path.read_bytes()
    with pytest.raises(ConcurrentEditError, match="already exists"):
        XlsxBackend(path).write(WritePlan(new_tabs={schema.HISTORY: [["At"]]}))
    assert path.read_bytes() == before


def test_write_to_a_missing_tab_is_refused(tmp_path: Path) -> None:
    path = _template(tmp_path / "book.xlsx")
    before = path.read_bytes()
    with pytest.raises(ConcurrentEditError, match="missing"):
        XlsxBackend(path).write(WritePlan(cells=[CellWrite("Gone", 1, 0, "x")]))
    assert path.read_bytes() == before


def test_replace_tab_keeps_its_position_and_the_other_tabs(tmp_path: Path) -> None:
    path = _template(tmp_path / "book.xlsx")
    backend = XlsxBackend(path)
    backend.write(WritePlan(replace_tabs={"Review 2026-03": [["Old"]]}))
    backend.write(WritePlan(replace_tabs={"Review 2026-03": [["Section", "Count"], ["L1", 3]]}))
    workbook = _reload(path)
    assert workbook.sheetnames == [*layout.TAB_ORDER, "Review 2026-03"]
    ws = workbook["Review 2026-03"]
    assert [[c.value for c in row] for row in ws.iter_rows()] == [["Section", "Count"], ["L1", 3]]
    assert ws["A1"].font.b
    assert workbook[schema.LEVELS]["B2"].value == "Front Line"


def test_new_owned_header_is_styled_like_the_template(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    workbook = openpyxl.Workbook()
    ws = workbook.active
    assert ws is not None
    ws.title = ESC
    ws.append(["ID", "Opened", "Customer", "Level", "Resolved at"])
    ws.append(["ESC-0001", dt.datetime(2026, 3, 2, 9), "Acme", "L1", None])
    workbook.save(path)
    XlsxBackend(path).write(WritePlan(cells=[CellWrite(ESC, 0, 5, "Flag"), CellWrite(ESC, 1, 5, "OK"),
                                             CellWrite(ESC, 0, 6, "Escalate by"),
                                             CellWrite(ESC, 1, 6, dt.datetime(2026, 3, 2, 10))]))
    ws = _reload(path)[ESC]
    assert ws["F1"].fill.fgColor.rgb == "FF" + layout.OWNED_HEADER_FILL
    assert ws["F2"].fill.fgColor.rgb == "FF" + layout.OWNED_FILL
    assert ws["G2"].number_format == "yyyy-mm-dd hh:mm"
    assert any(str(area.sqref) == "F2:F1048576" for area in ws.conditional_formatting)
    assert ws["A1"].fill.fill_type is None  # existing headers are left as they are


def test_new_owned_header_inside_a_column_range_splits_the_range(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    workbook = openpyxl.Workbook()
    ws = workbook.active
    assert ws is not None
    ws.title = ESC
    ws.append(["ID", "Opened", "Customer", "Level", "Resolved at"])
    ws.column_dimensions.group("A", "J", outline_level=0)
    ws.column_dimensions["A"].width = 20  # one <col min=1 max=10>, as Excel writes ranges
    workbook.save(path)
    XlsxBackend(path).write(WritePlan(cells=[CellWrite(ESC, 0, 5, "Flag")]))
    with zipfile.ZipFile(path) as archive:
        columns = re.findall(rb'<col [^>]*width="([0-9.]+)"[^>]*min="(\d+)" max="(\d+)"',
                             archive.read("xl/worksheets/sheet1.xml"))
    spans = sorted((int(low), int(high), float(width)) for width, low, high in columns)
    assert spans == [(1, 5, 20.0), (6, 6, layout.TAB_LAYOUTS[ESC].width("Flag")), (7, 10, 20.0)]


@pytest.mark.parametrize("text", ["=1+1", "+SUM(A1)", "-2+3", "@x", "=HYPERLINK(\"http://x\")", "#N/A"])
def test_text_is_never_turned_into_a_formula(tmp_path: Path, text: str) -> None:
    path = _template(tmp_path / "book.xlsx")
    XlsxBackend(path).write(WritePlan(cells=[CellWrite(ESC, 1, FLAG_COL + 2, text)],
                                      appends={schema.HISTORY: [[None, text]]}))
    cell = _reload(path)[ESC].cell(2, FLAG_COL + 3)
    assert (cell.value, cell.data_type) == (text, "s")
    tables = XlsxBackend(path).read([ESC, schema.HISTORY])
    assert tables[ESC].rows[1][FLAG_COL + 2] == text
    assert tables[schema.HISTORY].rows[1] == [None, text]
    with zipfile.ZipFile(path) as archive:
        formulas = re.findall(rb"<f>([^<]*)</f>", archive.read("xl/worksheets/sheet1.xml"))
    # The template's staleness indicator is the one formula, and it is not the text written.
    assert len(formulas) == 1 and staleness.STOPPED.encode() in formulas[0]


_STORABLE = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
    | st.sampled_from("\n\t\r_x0041=+-@#"),
    min_size=1, max_size=40,
).filter(lambda text: text.strip() != "")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_STORABLE, min_size=1, max_size=8))
@example(texts=["_x0041_", "a\r\nb\rc", "  padded  ", "=1+1", "line\n"])
def test_text_reads_back_as_written(tmp_path: Path, texts: list[str]) -> None:
    path = tmp_path / "book.xlsx"
    if not path.exists():
        _template(path)
    XlsxBackend(path).write(WritePlan(cells=[CellWrite(schema.VIP, row, 1, text)
                                             for row, text in enumerate(texts, start=1)]))
    rows = XlsxBackend(path).read([schema.VIP])[schema.VIP].rows
    expected = [text.replace("\r\n", "\n").replace("\r", "\n") for text in texts]
    assert [row[1] for row in rows[1:len(texts) + 1]] == expected


def test_datetimes_read_back_to_the_second(tmp_path: Path) -> None:
    path = _template(tmp_path / "book.xlsx")
    start = dt.datetime(2020, 1, 1)
    values = [start + dt.timedelta(seconds=7_919 * 104_729 * n % 10**9) for n in range(300)]
    XlsxBackend(path).write(WritePlan(cells=[CellWrite(ESC, row, 1, value)
                                             for row, value in enumerate(values, start=1)]))
    rows = XlsxBackend(path).read([ESC])[ESC].rows[1:]
    assert [row[1] for row in rows] == values


def test_characters_a_cell_cannot_hold_are_dropped(tmp_path: Path) -> None:
    path = _template(tmp_path / "book.xlsx")
    XlsxBackend(path).write(WritePlan(cells=[CellWrite(ESC, 1, 0, "ESC\x00-\x0b1")]))
    assert XlsxBackend(path).read([ESC])[ESC].rows[1] == ["ESC-1"]


def test_existing_date_format_is_kept(tmp_path: Path) -> None:
    path = _template(tmp_path / "book.xlsx")
    workbook = _reload(path)
    workbook[ESC]["B2"].number_format = "dd/mm/yyyy hh:mm"
    workbook.save(path)
    XlsxBackend(path).write(WritePlan(cells=[CellWrite(ESC, 1, 1, dt.datetime(2026, 3, 2, 9))]))
    assert _reload(path)[ESC]["B2"].number_format == "dd/mm/yyyy hh:mm"


def test_zoned_datetimes_are_refused(tmp_path: Path) -> None:
    path = _template(tmp_path / "book.xlsx")
    with pytest.raises(ValueError, match="naive"):
        XlsxBackend(path).write(WritePlan(cells=[CellWrite(ESC, 1, 1, dt.datetime(2026, 3, 2, tzinfo=dt.UTC))]))


@pytest.fixture
def user_book(tmp_path: Path) -> Path:
    """A template workbook a team has made its own."""
    path = _template(tmp_path / "book.xlsx")
    workbook = _reload(path)
    ws = workbook[ESC]
    user_col = len(schema.ESCALATION_COLUMNS) + 1  # a column of their own, right of the tool's
    ws.cell(1, user_col, "Region")
    ws.cell(2, 1, "ESC-0001")
    ws.cell(2, user_col, '=A2&"-EU"')
    ws["C2"] = "Acme"
    ws["C2"].font = Font(bold=True, italic=True, color="FF112233")
    ws["C2"].fill = PatternFill("solid", start_color="FFABCDEF")
    ws.column_dimensions["C"].width = 33
    validation = DataValidation(type="whole", operator="between", formula1="1", formula2="9")
    validation.add("Q2:Q50")
    ws.add_data_validation(validation)
    ws.conditional_formatting.add("C2:C50", CellIsRule(operator="equal", formula=['"Acme"'],
                                                       fill=PatternFill("solid", start_color="FF00FF00")))
    notes = workbook.create_sheet("Notes")
    notes["A1"] = "Our own tab"
    notes["B3"] = "=SUM(1,2)"
    workbook.defined_names["Customers"] = DefinedName("Customers", attr_text="Escalations!$C$2:$C$50")
    workbook.save(path)
    return path


def test_everything_else_is_preserved(user_book: Path) -> None:
    backend = XlsxBackend(user_book)
    backend.read(layout.TAB_ORDER)
    backend.write(WritePlan(
        cells=[CellWrite(ESC, 1, FLAG_COL, "ESCALATE", row_id="ESC-0001"),
               CellWrite(ESC, 1, 15, "L2", row_id="ESC-0001")],
        appends={schema.HISTORY: [[dt.datetime(2026, 3, 2), "ESC-0001", "escalated", "L1", "L2"]]},
    ))
    workbook = _reload(user_book)
    ws = workbook[ESC]
    user_col = len(schema.ESCALATION_COLUMNS) + 1
    assert ws.cell(2, user_col).value == '=A2&"-EU"'
    assert ws.cell(1, user_col).value == "Region"
    assert ws["C2"].font.b and ws["C2"].font.i and ws["C2"].font.color.rgb == "FF112233"
    assert ws["C2"].fill.fgColor.rgb == "FFABCDEF"
    assert ws.column_dimensions["C"].width == 33
    assert ("whole", "Q2:Q50") in {(v.type, str(v.sqref)) for v in ws.data_validations.dataValidation}
    assert "C2:C50" in {str(area.sqref) for area in ws.conditional_formatting}
    assert ws.freeze_panes == "B2"
    assert workbook["Notes"]["A1"].value == "Our own tab"
    assert workbook["Notes"]["B3"].value == "=SUM(1,2)"
    assert workbook.defined_names["Customers"].attr_text == "Escalations!$C$2:$C$50"
    assert workbook.sheetnames == [*layout.TAB_ORDER, "Notes"]
    assert ws.cell(2, FLAG_COL + 1).value == "ESCALATE"
    assert ws["P2"].value == "L2"


def test_empty_plan_writes_nothing(user_book: Path) -> None:
    before = user_book.stat().st_mtime_ns, user_book.read_bytes()
    XlsxBackend(user_book).write(WritePlan())
    assert (user_book.stat().st_mtime_ns, user_book.read_bytes()) == before


def test_file_mode_and_symlink_are_kept(tmp_path: Path) -> None:
    real = _template(tmp_path / "real.xlsx")
    real.chmod(0o640)
    link = tmp_path / "link.xlsx"
    link.symlink_to(real)
    XlsxBackend(link).write(WritePlan(cells=[CellWrite(ESC, 1, 0, "ESC-0001")]))
    assert link.is_symlink()
    assert real.stat().st_mode & 0o777 == 0o640
    assert XlsxBackend(real).read([ESC])[ESC].rows[1] == ["ESC-0001"]


def test_change_on_disk_after_read_refuses_the_write(tmp_path: Path) -> None:
    path = _template(tmp_path / "book.xlsx")
    backend = XlsxBackend(path)
    backend.read([ESC])
    workbook = _reload(path)
    workbook[ESC]["A2"] = "typed in Excel meanwhile"
    workbook.save(path)
    with pytest.raises(ConcurrentEditError, match="changed on disk"):
        backend.write(WritePlan(cells=[CellWrite(ESC, 1, 2, "Acme")]))
    assert XlsxBackend(path).read([ESC])[ESC].rows[1] == ["typed in Excel meanwhile"]


# -- atomic save -----------------------------------------------------------------------------


def test_failed_replace_leaves_the_original_and_no_litter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _template(tmp_path / "book.xlsx")
    before = path.read_bytes()

    def refuse(source: str, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(xlsx.os, "replace", refuse)
    with pytest.raises(SourceError, match="No space left"):
        XlsxBackend(path).write(WritePlan(cells=[CellWrite(ESC, 1, 0, "ESC-0001")]))
    assert path.read_bytes() == before
    assert _siblings(path) == ["book.xlsx"]


# A cell write is patched into the package; a new tab needs openpyxl.
PATCHED_PLAN = WritePlan(cells=[CellWrite(ESC, 1, 0, "ESC-0001")])
REBUILT_PLAN = WritePlan(cells=[CellWrite(ESC, 1, 0, "ESC-0001")], new_tabs={"Extra": [["Note"]]})


@pytest.mark.parametrize("plan", [PATCHED_PLAN, REBUILT_PLAN], ids=["patched", "rebuilt"])
def test_failure_while_saving_leaves_the_original(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  plan: WritePlan) -> None:
    path = _template(tmp_path / "book.xlsx")
    before = path.read_bytes()

    def crash_openpyxl(self: object, filename: object) -> None:
        raise OSError(5, "Input/output error")

    def crash_patch(self: object, stream: io.BufferedIOBase) -> None:
        stream.write(b"PK half a workbook")
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(openpyxl.Workbook, "save", crash_openpyxl)
    monkeypatch.setattr(xlsx_patch._Patch, "write", crash_patch)
    with pytest.raises(SourceError, match="Input/output error"):
        XlsxBackend(path).write(plan)
    assert path.read_bytes() == before
    assert _siblings(path) == ["book.xlsx"]


def test_killed_mid_save_leaves_the_original_and_the_next_run_cleans_up(tmp_path: Path) -> None:
    path = _template(tmp_path / "book.xlsx")
    before = path.read_bytes()
    script = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        from sheets_escalation.adapters.xlsx import backend as xlsx
        from sheets_escalation.adapters.xlsx import patch as xlsx_patch
        from sheets_escalation.core.table import CellWrite, WritePlan

        def stall(descriptor):
            print("saving", flush=True)
            time.sleep(60)

        xlsx.os.fsync = stall
        with xlsx.XlsxBackend(Path({str(path)!r})).lock():
            xlsx.XlsxBackend(Path({str(path)!r})).write(WritePlan(cells=[CellWrite("Escalations", 1, 0, "ESC-1")]))
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=REPO,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"saving"
    process.kill()
    process.wait()
    assert path.read_bytes() == before
    assert any(name.endswith(".tmp") for name in _siblings(path))  # what the kill left behind
    backend = XlsxBackend(path)
    with backend.lock():
        backend.write(WritePlan(cells=[CellWrite(ESC, 1, 0, "ESC-0001")]))
    assert _siblings(path) == ["book.xlsx"]
    assert backend.read([ESC])[ESC].rows[1] == ["ESC-0001"]


# -- parts openpyxl cannot keep --------------------------------------------------------------


def _members(path: Path, prefixes: tuple[str, ...]) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist() if n.startswith(prefixes)}


def test_chart_on_a_user_tab_is_kept_by_cell_writes_and_refused_by_a_rebuild(tmp_path: Path) -> None:
    path = _template(tmp_path / "book.xlsx")
    add_chart(path, "Dashboard")
    charts = _members(path, ("xl/charts/", "xl/drawings/"))
    assert XlsxBackend(path).lossy_parts() == ["charts on tab 'Dashboard' (their formatting)"]
    XlsxBackend(path).write(PATCHED_PLAN)  # a patch keeps every other part as it is
    assert _members(path, ("xl/charts/", "xl/drawings/")) == charts
    assert XlsxBackend(path).read([ESC])[ESC].rows[1] == ["ESC-0001"]
    before = path.read_bytes()
    with pytest.raises(RefusedError, match="charts on tab 'Dashboard'.*--allow-lossy"):
        XlsxBackend(path).write(REBUILT_PLAN)
    assert path.read_bytes() == before
    XlsxBackend(path, allow_lossy=True).write(REBUILT_PLAN)
    assert "Extra" in _reload(path).sheetnames


def test_image_is_kept_by_cell_writes_and_refused_by_a_rebuild(tmp_path: Path) -> None:
    path = _template(tmp_path / "book.xlsx")
    picture = io.BytesIO()
    PILImage.new("RGB", (4, 4), "red").save(picture, format="PNG")
    workbook = _reload(path)
    workbook[schema.VIP].add_image(Image(picture), "D2")
    workbook.save(path)
    media = _members(path, ("xl/media/", "xl/drawings/"))
    XlsxBackend(path).write(PATCHED_PLAN)
    assert _members(path, ("xl/media/", "xl/drawings/")) == media
    with pytest.raises(RefusedError, match="pictures on tab 'VIP'"):
        XlsxBackend(path).write(REBUILT_PLAN)


def test_charts_on_the_tools_own_review_tab_are_kept(tmp_path: Path) -> None:
    path = _template(tmp_path / "book.xlsx")
    add_chart(path, "Review 2026-02")
    backend = XlsxBackend(path)
    assert backend.lossy_parts() == []
    backend.write(WritePlan(cells=[CellWrite(ESC, 1, 0, "ESC-0001")]))
    assert len(_reload(path)["Review 2026-02"]._charts) == 1


def test_parts_openpyxl_warns_it_drops_are_refused(tmp_path: Path) -> None:
    path = _template(tmp_path / "book.xlsx")
    _patch_sheet(path, b"</worksheet>",
                 b'<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}" '
                 b'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main">'
                 b'<x14:dataValidations count="0"/></ext></extLst></worksheet>')
    before = path.read_bytes()
    backend = XlsxBackend(path)
    with pytest.raises(RefusedError, match="dropdowns stored in Excel's newer format"):
        backend.write(REBUILT_PLAN)
    assert path.read_bytes() == before
    backend.write(PATCHED_PLAN)  # the patch keeps the extension as it is
    with zipfile.ZipFile(path) as archive:
        assert b"<x14:dataValidations" in archive.read("xl/worksheets/sheet1.xml")


def test_macros_and_pivot_parts_are_named(tmp_path: Path) -> None:
    path = _template(tmp_path / "book.xlsx")
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("xl/vbaProject.bin", b"\0")
        archive.writestr("xl/pivotTables/pivotTable1.xml", b"<x/>")
    assert XlsxBackend(path).lossy_parts() == ["macros (VBA)", "pivot tables"]


def test_macro_workbook_keeps_its_macros(tmp_path: Path) -> None:
    source = _template(tmp_path / "book.xlsx")
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["[Content_Types].xml"] = members["[Content_Types].xml"].replace(
        b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        b"application/vnd.ms-excel.sheet.macroEnabled.main+xml").replace(
        b"</Types>", b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>')
    members["xl/_rels/workbook.xml.rels"] = members["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        b'<Relationship Id="rIdVBA" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" '
        b'Target="vbaProject.bin"/></Relationships>')
    members["xl/vbaProject.bin"] = b"VBA project bytes"
    path = tmp_path / "book.xlsm"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    backend = XlsxBackend(path)
    assert backend.lossy_parts() == []
    backend.write(WritePlan(cells=[CellWrite(ESC, 1, 0, "ESC-0001")]))
    with zipfile.ZipFile(path) as archive:
        assert archive.read("xl/vbaProject.bin") == b"VBA project bytes"
        assert b"macroEnabled" in archive.read("[Content_Types].xml")
    assert XlsxBackend(path).read([ESC])[ESC].rows[1] == ["ESC-0001"]


# -- lock ------------------------------------------------------------------------------------


def test_lock_held_elsewhere_is_refused(tmp_path: Path) -> None:
    path = _template(tmp_path / "book.xlsx")
    script = textwrap.dedent(f"""
        import time
        from filelock import FileLock
        with FileLock({str(path) + ".lock"!r}):
            print("held", flush=True)
            time.sleep(60)
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"held"
        with pytest.raises(LockHeldError, match=r"another sync is running on book\.xlsx"):
            with XlsxBackend(path).lock():
                pass
    finally:
        holder.kill()
        holder.wait()


def test_lock_is_released_and_its_file_removed(tmp_path: Path) -> None:
    path = _template(tmp_path / "book.xlsx")
    backend = XlsxBackend(path)
    with backend.lock():
        assert (tmp_path / "book.xlsx.lock").exists()
    assert _siblings(path) == ["book.xlsx"]
    with FileLock(str(path) + ".lock", timeout=0):
        pass


def test_no_spreadsheet_timezone(tmp_path: Path) -> None:
    assert XlsxBackend(tmp_path / "any.xlsx").spreadsheet_timezone() is None


def test_equal_short_texts_read_as_one_string_and_long_ones_as_read(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Escalations"
    long_text = "word " * 20
    for row in (["Status", "Notes"], ["Resolved", long_text], ["Resolved", long_text]):
        sheet.append(row)
    path = tmp_path / "book.xlsx"
    workbook.save(path)
    rows = XlsxBackend(path).read(["Escalations"])["Escalations"].rows
    assert rows == [["Status", "Notes"], ["Resolved", long_text], ["Resolved", long_text]]
    assert rows[1][0] is rows[2][0]  # one object for a repeated short text


_CALAMINE_VALUES = st.one_of(
    st.sampled_from(["", " ", "Open", "x" * 40, "y" * 41]), st.text(max_size=50),
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-2**60, 2**60).map(float),
    st.booleans(), st.integers(-5, 5),
    st.datetimes(min_value=dt.datetime(1900, 1, 1)), st.dates(), st.times(),
    st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=3)))


@given(st.lists(st.lists(_CALAMINE_VALUES, max_size=8), max_size=6))
@settings(max_examples=300, deadline=None)
def test_cells_cleaned_inline_read_as_cleaned_one_by_one(rows: list[list[object]]) -> None:
    # The reader cleans texts and datetimes inline, sharing short texts; every cell must
    # come out as the per-cell cleaning makes it, same type and value.
    shared = xlsx_reader._new_shared()
    for row in rows:
        fast = xlsx_reader._clean_row(row, shared)
        slow = xlsx_reader._clean_row(row)
        assert [type(v) for v in fast] == [type(v) for v in slow]
        assert all(a == b or (a != a and b != b) for a, b in zip(fast, slow, strict=True))
    assert all(value is None or len(value) <= 40 for value in shared.values())
