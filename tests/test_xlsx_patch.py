"""The package patch (fast .xlsx writer) against the openpyxl path it stands in for.

The strongest check is differential: the same plan is written once by the patch and once by
openpyxl (the patch forced to decline), and every cell must read back the same, in openpyxl
(value, type, number format, look) and in python-calamine (values), while every member the
patch had no reason to touch stays byte for byte as it was.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import shutil
import struct
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
import python_calamine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.worksheet.formula import ArrayFormula

from benchmarks import generate
from sheets_escalation.adapters.xlsx import patch as xlsx_patch
from sheets_escalation.adapters.xlsx.backend import XlsxBackend
from sheets_escalation.adapters.xlsx.template import new_workbook
from sheets_escalation.core import schema
from sheets_escalation.core.errors import RefusedError
from sheets_escalation.core.layout import DATETIME_FORMAT
from sheets_escalation.core.table import CellWrite, WritePlan
from sheets_escalation.jobs.sync import run_sync
from tests.both_backends import isolate
from tests.fixtures import GOLDEN_NOW, add_chart, write_golden

ESC = schema.ESCALATIONS
SAMPLE = Path(__file__).resolve().parent.parent / "sheets_escalation" / "data" / "sample.xlsx"
SAMPLE_NOW = pd.Timestamp(generate.DEFAULT_NOW)


# -- helpers ---------------------------------------------------------------------------------


class Declined(AssertionError):
    """The patch declined a plan a test expected it to write."""


@contextmanager
def patch_declines() -> Iterator[None]:
    """Make every write go the openpyxl way, as when the patch declines."""
    real = xlsx_patch.patch_workbook

    def decline(data: bytes, plan: WritePlan, stream: Any) -> None:
        raise xlsx_patch.Unsupported("forced by the test")

    xlsx_patch.patch_workbook = decline  # type: ignore[assignment]
    try:
        yield
    finally:
        xlsx_patch.patch_workbook = real  # type: ignore[assignment]


def patch_only(path: Path, plan: WritePlan) -> None:
    """Write ``plan`` with the patch, failing the test if the patch declines."""
    with path.open("rb") as source:
        data = source.read()
    temporary = path.with_suffix(".patched")
    with temporary.open("w+b") as stream:
        try:
            xlsx_patch.patch_workbook(data, plan, stream)
        except xlsx_patch.Unsupported as error:
            raise Declined(str(error)) from error
    temporary.replace(path)


def write_both(source: Path, plan: WritePlan, directory: Path) -> tuple[Path, Path]:
    """Write ``plan`` into two copies of ``source``: by the patch (which must accept it) and
    by openpyxl. Return (patched, openpyxl)."""
    patched, rebuilt = directory / "patched.xlsx", directory / "openpyxl.xlsx"
    shutil.copyfile(source, patched)
    shutil.copyfile(source, rebuilt)
    patch_only(patched, plan)
    with patch_declines():
        XlsxBackend(rebuilt, allow_lossy=True).write(plan)
    return patched, rebuilt


def load_quietly(path: Path, **options: Any) -> openpyxl.Workbook:
    """Load with openpyxl, failing on any warning it gives about the file."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        workbook = openpyxl.load_workbook(path, **options)
    assert [str(w.message) for w in caught] == []
    return workbook


def load_loudly(path: Path, **options: Any) -> openpyxl.Workbook:
    """Load with openpyxl; what it warns about is compared elsewhere."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return openpyxl.load_workbook(path, **options)


def openpyxl_cells(path: Path) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every cell holding a value or a look: value, type, number format and look; and what
    openpyxl warns about while loading (e.g. a number out of date range in a date cell)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        workbook = openpyxl.load_workbook(path)
    cells: dict[tuple[str, str], tuple[Any, ...]] = {("warnings", ""): tuple(sorted(str(w.message) for w in caught))}
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                # openpyxl saves an empty text as no value at all, and reads it back so.
                value = None if cell.value == "" else cell.value
                if value is None and not cell.has_style:
                    continue
                # Style proxies of two workbooks never compare equal; their reprs list every field.
                # A blank's type is no reader's business (openpyxl marks a blanked text cell).
                cells[(sheet.title, cell.coordinate)] = (
                    value, cell.data_type if value is not None else None, cell.number_format,
                    *(repr(s) for s in (cell.font, cell.fill, cell.border, cell.alignment, cell.protection)))
    return cells


def calamine_values(path: Path) -> dict[str, list[list[Any]]]:
    """Every tab's values as python-calamine reads them (formula results included)."""
    workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    tabs: dict[str, list[list[Any]]] = {}
    for name in workbook.sheet_names:
        try:
            rows = [list(r) for r in workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)]
        except BaseException as error:  # noqa: BLE001 - calamine panics on a date cell out of range
            if type(error).__name__ != "PanicException":
                raise
            tabs[name] = [[f"unreadable: {error}"]]
            continue
        rows = [r[:max((i + 1 for i, v in enumerate(r) if v != ""), default=0)] for r in rows]
        while rows and not rows[-1]:
            rows.pop()
        tabs[name] = rows
    return tabs


def assert_same_for_readers(patched: Path, rebuilt: Path) -> None:
    """The two files read the same in openpyxl (values, types, formats, looks), in openpyxl
    with cached formula values, and in python-calamine."""
    left, right = openpyxl_cells(patched), openpyxl_cells(rebuilt)
    differing = {key: (left.get(key), right.get(key)) for key in left.keys() | right.keys()
                 if left.get(key) != right.get(key)}
    assert differing == {}
    cached = [{(s.title, c.coordinate): c.value for s in load_loudly(p, data_only=True).worksheets
               for r in s.iter_rows() for c in r if c.value not in (None, "")} for p in (patched, rebuilt)]
    assert cached[0] == cached[1]
    assert calamine_values(patched) == calamine_values(rebuilt)


def members(path: Path) -> list[tuple[str, int, bytes]]:
    with zipfile.ZipFile(path) as archive:
        return [(i.filename, i.compress_type, archive.read(i.filename)) for i in archive.infolist()]


def assert_untouched_members_kept(original: Path, patched: Path, changed: set[str]) -> None:
    """Same members in the same order with the same compression; byte-identical content
    except for ``changed`` (worksheet parts, styles)."""
    before, after = members(original), members(patched)
    assert [(n, c) for n, c, _ in before] == [(n, c) for n, c, _ in after]
    differing = {n for (n, _, a), (_, _, b) in zip(before, after, strict=True) if a != b}
    assert differing <= changed


def sheet_part(path: Path, title: str) -> str:
    workbook = openpyxl.load_workbook(path, read_only=True)
    index = workbook.sheetnames.index(title)
    workbook.close()
    with zipfile.ZipFile(path) as archive:
        rels = archive.read("xl/_rels/workbook.xml.rels").decode()
    # The template and openpyxl name worksheet parts by position.
    assert f"worksheets/sheet{index + 1}.xml" in rels
    return f"xl/worksheets/sheet{index + 1}.xml"


def planned(path: Path, now: pd.Timestamp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WritePlan:
    """The plan a sync of ``path`` at ``now`` would write (nothing sent, nothing written)."""
    isolate(tmp_path, monkeypatch)
    return run_sync(XlsxBackend(path), now, dry_run=True).plan


def golden(tmp_path: Path) -> Path:
    return write_golden(tmp_path / "golden.xlsx")


def with_formulas(tmp_path: Path) -> Path:
    """The golden workbook plus a user's tab of formulas over Escalations (cached values as
    Excel would have left them) and a formula typed into an input column."""
    path = write_golden(tmp_path / "formulas.xlsx")
    workbook = openpyxl.load_workbook(path)
    notes = workbook.create_sheet("Team notes")
    notes["A1"] = "open rows"
    notes["B1"] = '=COUNTIF(Escalations!U:U,"Open")'
    workbook[ESC]["W3"] = '="note "&A3'
    workbook.save(path)
    with zipfile.ZipFile(path) as archive:
        parts = {i.filename: archive.read(i.filename) for i in archive.infolist()}
    team = sheet_part(path, "Team notes")
    parts[team] = parts[team].replace(b"</f><v></v>", b"</f><v>3</v>").replace(b"</f><v />", b"</f><v>3</v>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def generated(tmp_path: Path) -> Path:
    path = tmp_path / "generated.xlsx"
    generate.write_workbook(path, 300, 1, generate.DEFAULT_NOW)
    return path


def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.xlsx"
    shutil.copyfile(SAMPLE, path)
    return path


INLINE_TEXT = re.compile(rb'<c ([^>]*?)t="inlineStr"([^>]*)><is><t(?: xml:space="preserve")?>([^<]*)</t></is></c>')


def excel_like(tmp_path: Path) -> Path:
    """The golden workbook stored the way Excel stores it: text in shared strings (one of
    them empty), styles.xml ahead of the worksheets, rows with ``spans``, and cells whose
    reference is not their first attribute."""
    source = golden(tmp_path)
    with zipfile.ZipFile(source) as archive:
        infos = archive.infolist()
        parts = {i.filename: archive.read(i.filename) for i in infos}
    strings: dict[bytes, int] = {b"": 0}

    def shared(match: re.Match[bytes]) -> bytes:
        index = strings.setdefault(match[3], len(strings))
        return b'<c %st="s"%s><v>%d</v></c>' % (match[1], match[2], index)

    for name in parts:
        if name.startswith("xl/worksheets/sheet"):
            xml = INLINE_TEXT.sub(shared, parts[name])
            xml = re.sub(rb'<row r="([0-9]+)"', rb'<row r="\1" spans="1:3"', xml)
            parts[name] = re.sub(rb'<c r="([A-Z]+[0-9]+)" s="([0-9]+)"', rb'<c s="\2" r="\1"', xml)
    vip = sheet_part(source, schema.VIP)
    parts[vip] = parts[vip].replace(b"</sheetData>", b'<row r="12"><c r="A12" t="s"><v>0</v></c></row></sheetData>')
    parts["xl/sharedStrings.xml"] = (
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">'
        % (len(strings), len(strings))
        + b"".join(b'<si><t xml:space="preserve">%s</t></si>' % text for text in strings) + b"</sst>")
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>", b'<Relationship Id="rIdStrings" Type="http://schemas.openxmlformats.org/'
        b'officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
    order = sorted(parts, key=lambda name: (name != "xl/styles.xml", name == "xl/sharedStrings.xml"))
    path = tmp_path / "excel-like.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in order:
            archive.writestr(name, parts[name])
    return path


def sparse(tmp_path: Path) -> Path:
    """The golden workbook with values far below its rows, so writes land between rows."""
    path = golden(tmp_path)
    workbook = openpyxl.load_workbook(path)
    workbook[ESC]["W30"] = "a note far below"
    workbook[schema.HISTORY]["H20"] = "a late detail"
    workbook[schema.VIP]["A12"] = "Acme"
    workbook.save(path)
    return path


BOOKS = {"golden": (golden, pd.Timestamp(GOLDEN_NOW)), "formulas": (with_formulas, pd.Timestamp(GOLDEN_NOW)),
         "sample": (sample, SAMPLE_NOW), "generated": (generated, SAMPLE_NOW),
         "excel-like": (excel_like, pd.Timestamp(GOLDEN_NOW)), "sparse": (sparse, pd.Timestamp(GOLDEN_NOW))}


# -- a sync's plans, both ways -----------------------------------------------------------------


@pytest.mark.parametrize("book", list(BOOKS))
def test_a_sync_and_its_rerun_read_the_same_both_ways(
        book: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build, now = BOOKS[book]
    source = build(tmp_path)
    plan = planned(source, now, tmp_path, monkeypatch)
    assert plan.cells and not plan.new_tabs and not plan.replace_tabs
    work = tmp_path / "first"
    work.mkdir()
    patched, rebuilt = write_both(source, plan, work)
    assert_same_for_readers(patched, rebuilt)
    changed = {sheet_part(source, t) for t in {w.tab for w in plan.cells} | set(plan.appends)}
    assert_untouched_members_kept(source, patched, changed | {"xl/styles.xml"})

    rerun = planned(patched, now, tmp_path, monkeypatch)
    assert rerun.cells  # at least the Last run stamp
    work = tmp_path / "rerun"
    work.mkdir()
    assert_same_for_readers(*write_both(patched, rerun, work))


def test_a_sync_through_the_backend_patches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = golden(tmp_path)
    isolate(tmp_path, monkeypatch)
    calls: list[str] = []
    real = xlsx_patch.patch_workbook

    def spy(data: bytes, plan: WritePlan, stream: Any) -> None:
        real(data, plan, stream)
        calls.append("patched")

    monkeypatch.setattr(xlsx_patch, "patch_workbook", spy)
    report = run_sync(XlsxBackend(path), pd.Timestamp(GOLDEN_NOW))
    assert calls == ["patched"]
    rows = {r[0]: r for r in XlsxBackend(path).read([ESC])[ESC].body}
    assert rows["ESC-0001"][schema.ESCALATION_COLUMNS.index(schema.COLUMN_BY_KEY["level"])] == "L2"
    assert report.plan.cells


# -- random plans --------------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\ufffe\uffff"),
               max_size=12)
VALUES = st.one_of(
    st.none(), st.just(""), TEXT,
    st.sampled_from(["=1+1", "+A1", "-A1", "@x", "=", "\x01bell\x07", "_x0041_", "a\r\nb\rc",
                     " padded ", "<tag>&amp;", "'quoted", "#N/A", "TRUE", "0012"]),
    st.booleans(), st.integers(-(2**60), 2**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1)),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 1, 1)),
)
TABS = (ESC, schema.HISTORY, schema.SETTINGS, schema.VIP)


@st.composite
def plans(draw: st.DrawFn) -> WritePlan:
    """Writes into headers, inside, just after and well beyond the existing rows, blanks
    included, and appended rows."""
    cells = []
    for _ in range(draw(st.integers(0, 12))):
        tab = draw(st.sampled_from(TABS))
        row = draw(st.one_of(st.just(0), st.integers(1, 8), st.integers(9, 40)))
        cells.append(CellWrite(tab, row, draw(st.integers(0, 40)), draw(VALUES)))
    appends = {}
    for tab in draw(st.lists(st.sampled_from(TABS), max_size=2, unique=True)):
        appends[tab] = draw(st.lists(st.lists(VALUES, max_size=8), min_size=1, max_size=3))
    return WritePlan(cells=cells, appends=appends)


@pytest.mark.parametrize("book", ["golden", "sample", "excel-like", "sparse"])
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans())
def test_random_plans_read_the_same_both_ways(book: str, tmp_path_factory: pytest.TempPathFactory,
                                              plan: WritePlan) -> None:
    directory = tmp_path_factory.mktemp("random")
    source = BOOKS[book][0](directory)
    patched, rebuilt = write_both(source, plan, directory)
    assert_same_for_readers(patched, rebuilt)
    changed = {sheet_part(source, t) for t in {w.tab for w in plan.cells} | set(plan.appends)}
    assert_untouched_members_kept(source, patched, changed | {"xl/styles.xml"})


@pytest.mark.parametrize("value", ["=1+1", "+A1", "@x", "_x0041_", "a\r\nb", "\x00ok\x1f", "x" * 32767,
                                   " padded ", "\r\n", "  "])
def test_text_stays_text(value: str, tmp_path: Path) -> None:
    source = golden(tmp_path)
    plan = WritePlan(cells=[CellWrite(ESC, 2, 22, value)])
    patched, rebuilt = write_both(source, plan, tmp_path)
    assert_same_for_readers(patched, rebuilt)
    cell = load_quietly(patched)[ESC]["W3"]
    assert cell.data_type == "s"


@pytest.mark.parametrize("tab", [schema.HISTORY, ESC])
def test_rows_append_after_the_last_row_left_holding_a_value(tab: str, tmp_path: Path) -> None:
    source = sparse(tmp_path)
    sheet = openpyxl.load_workbook(source)[tab]
    last = sheet.max_row
    blanks = [CellWrite(tab, last - 1, c.column - 1, None) for c in sheet[last] if c.value is not None]
    plan = WritePlan(cells=blanks, appends={tab: [["appended", 1.5, None, dt.datetime(2026, 11, 24, 15, 0)]]})
    patched, rebuilt = write_both(source, plan, tmp_path)
    assert_same_for_readers(patched, rebuilt)
    assert load_quietly(patched)[tab].cell(last, 1).value is None


# -- styles --------------------------------------------------------------------------------------


@pytest.mark.parametrize("number_formats", [b'<numFmts count="0" />', b""], ids=["empty", "absent"])
def test_a_datetime_gets_one_new_format_reused_by_every_cell(number_formats: bytes, tmp_path: Path) -> None:
    path = tmp_path / "plain.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.title = ESC
    workbook[ESC]["A1"] = "ID"
    workbook.save(path)
    with zipfile.ZipFile(path) as archive:
        parts = {i.filename: archive.read(i.filename) for i in archive.infolist()}
    assert b'<numFmts count="0" />' in parts["xl/styles.xml"]
    # Excel leaves the element out when a workbook has no number formats of its own.
    parts["xl/styles.xml"] = parts["xl/styles.xml"].replace(b'<numFmts count="0" />', number_formats)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    moment = dt.datetime(2026, 11, 24, 9, 30)
    plan = WritePlan(cells=[CellWrite(ESC, row, 1, moment) for row in (1, 2, 3)])
    before = len(load_quietly(path)._cell_styles)
    patched, rebuilt = write_both(path, plan, tmp_path)
    assert_same_for_readers(patched, rebuilt)
    workbook = load_quietly(patched)
    assert len(workbook._cell_styles) == before + 1
    assert {workbook[ESC].cell(row, 2).number_format for row in (2, 3, 4)} == {DATETIME_FORMAT}
    assert workbook[ESC]["B2"].value == moment


def test_a_date_cell_keeps_its_own_date_format(tmp_path: Path) -> None:
    path = tmp_path / "dates.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.title = ESC
    workbook[ESC]["B2"] = dt.datetime(2026, 1, 1)
    workbook[ESC]["B2"].number_format = "dd/mm/yyyy"
    workbook.save(path)
    plan = WritePlan(cells=[CellWrite(ESC, 1, 1, dt.datetime(2026, 2, 3, 4, 5))])
    patched, rebuilt = write_both(path, plan, tmp_path)
    assert_same_for_readers(patched, rebuilt)
    assert load_quietly(patched)[ESC]["B2"].number_format == "dd/mm/yyyy"
    with zipfile.ZipFile(path) as before, zipfile.ZipFile(patched) as after:
        assert before.read("xl/styles.xml") == after.read("xl/styles.xml")


def test_a_1904_workbook_gets_1904_serials(tmp_path: Path) -> None:
    path = tmp_path / "mac.xlsx"
    workbook = openpyxl.Workbook()
    workbook.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    workbook.active.title = ESC
    workbook.save(path)
    moment = dt.datetime(2026, 11, 24, 9, 30)
    plan = WritePlan(cells=[CellWrite(ESC, 1, 1, moment), CellWrite(ESC, 1, 2, dt.date(2026, 1, 2))])
    patched, rebuilt = write_both(path, plan, tmp_path)
    assert_same_for_readers(patched, rebuilt)
    assert load_quietly(patched)[ESC]["B2"].value == moment


def test_new_cells_take_their_column_style(tmp_path: Path) -> None:
    path = golden(tmp_path)
    column = schema.ESCALATION_COLUMNS.index(schema.COLUMN_BY_KEY["escalate_by"])
    plan = WritePlan(cells=[CellWrite(ESC, 30, column, dt.datetime(2026, 11, 24, 9, 30)),
                            CellWrite(ESC, 31, column, None)])
    patched, rebuilt = write_both(path, plan, tmp_path)
    assert_same_for_readers(patched, rebuilt)
    sheet = load_quietly(patched)[ESC]
    assert sheet.cell(31, column + 1).number_format == DATETIME_FORMAT
    assert sheet.cell(32, column + 1).has_style


# -- what the patch keeps that openpyxl cannot ---------------------------------------------------


def test_a_chart_on_the_escalations_tab_survives_a_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = golden(tmp_path)
    add_chart(path, ESC)
    with zipfile.ZipFile(path) as archive:
        drawings = {n: archive.read(n) for n in archive.namelist() if n.startswith(("xl/drawings/", "xl/charts/"))}
    assert any(n.startswith("xl/charts/") for n in drawings)
    isolate(tmp_path, monkeypatch)
    backend = XlsxBackend(path)
    assert backend.lossy_parts()  # openpyxl would lose it: only the patch may save this file
    run_sync(backend, pd.Timestamp(GOLDEN_NOW))
    with zipfile.ZipFile(path) as archive:
        assert {n: archive.read(n) for n in drawings} == drawings
    workbook = load_quietly(path)
    assert len(workbook[ESC]._charts) == 1
    ids = [c.value for c in workbook[ESC]["A"][1:6]]
    assert ids == ["ESC-0001", "ESC-0006", "ESC-0003", "ESC-0004", "ESC-0005"]  # a blank ID got one


def test_a_write_into_a_merged_range_goes_through_openpyxl(tmp_path: Path) -> None:
    path = golden(tmp_path)
    workbook = openpyxl.load_workbook(path)
    workbook[ESC].merge_cells("W2:X3")
    workbook.save(path)
    plan = WritePlan(cells=[CellWrite(ESC, 2, 23, "flagged")])  # X3, hidden under W2
    with pytest.raises(Declined, match="merged range"):
        patch_only(_copy(path, tmp_path / "copy.xlsx"), plan)
    XlsxBackend(path).write(plan)
    sheet = load_quietly(path)[ESC]
    assert sheet["X3"].value == "flagged"
    assert "W2:X3" not in {str(r) for r in sheet.merged_cells.ranges}


def test_a_merged_target_on_a_file_with_a_chart_is_still_refused(tmp_path: Path) -> None:
    path = golden(tmp_path)
    workbook = openpyxl.load_workbook(path)
    workbook[ESC].merge_cells("W2:X3")
    workbook.save(path)
    add_chart(path, "Dashboard")
    before = path.read_bytes()
    with pytest.raises(RefusedError, match="charts on tab 'Dashboard'"):
        XlsxBackend(path).write(WritePlan(cells=[CellWrite(ESC, 2, 23, "flagged")]))
    assert path.read_bytes() == before


def _copy(path: Path, target: Path) -> Path:
    shutil.copyfile(path, target)
    return target


@pytest.mark.parametrize(("plan", "reason"), [
    (WritePlan(new_tabs={"History": [["At"]]}), "creates or replaces tabs"),
    (WritePlan(replace_tabs={"Review 2026-11": [["x"]]}), "creates or replaces tabs"),
    (WritePlan(cells=[CellWrite("No such tab", 1, 0, "x")]), "missing"),
    (WritePlan(cells=[CellWrite(ESC, 1, 0, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))]), "time zone"),
    (WritePlan(cells=[CellWrite(ESC, 1, 0, object())]), "object value"),
    (WritePlan(cells=[CellWrite(ESC, 0, 40, "Flag")]), "owned column header"),
])
def test_what_the_patch_declines(plan: WritePlan, reason: str, tmp_path: Path) -> None:
    path = with_formulas(tmp_path)
    with pytest.raises(Declined, match=reason):
        patch_only(path, plan)


def test_a_write_over_a_plain_formula_is_patched_as_openpyxl_writes_it(tmp_path: Path) -> None:
    # Junk typed as "=..." into the tool's columns must not send every sync down the slow
    # rebuild; only a shared formula's first cell (others copy it) still declines.
    path = with_formulas(tmp_path)
    plan = WritePlan(cells=[CellWrite(ESC, 2, 22, "over the formula"), CellWrite(ESC, 2, 23, None)])
    assert_same_for_readers(*write_both(path, plan, tmp_path))


def test_a_header_over_an_existing_one_is_patched(tmp_path: Path) -> None:
    path = golden(tmp_path)
    column = schema.ESCALATION_COLUMNS.index(schema.COLUMN_BY_KEY["flag"])
    plan = WritePlan(cells=[CellWrite(ESC, 0, column, "Flag"), CellWrite(ESC, 0, 45, "My column")])
    assert_same_for_readers(*write_both(path, plan, tmp_path))


def test_a_formula_value_is_kept_and_excel_recalculates(tmp_path: Path) -> None:
    path = with_formulas(tmp_path)
    with zipfile.ZipFile(path) as archive:
        parts = {i.filename: archive.read(i.filename) for i in archive.infolist()}
    parts["xl/calcChain.xml"] = (b'<calcChain xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                                 b'<c r="W3" i="1"/><c r="Y3"/></calcChain>')
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(b' fullCalcOnLoad="1"', b"")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    with pytest.raises(Declined, match="calculated cell"):
        patch_only(_copy(path, tmp_path / "copy.xlsx"), WritePlan(cells=[CellWrite(ESC, 2, 24, "x")]))
    patch_only(path, WritePlan(cells=[CellWrite(ESC, 3, 24, "x")]))
    with zipfile.ZipFile(path) as archive:
        assert b'fullCalcOnLoad="1"' in archive.read("xl/workbook.xml")
    values = calamine_values(path)
    assert values["Team notes"][0] == ["open rows", 3.0]


def test_blank_writes_keep_the_cell_look(tmp_path: Path) -> None:
    path = tmp_path / "styled.xlsx"
    workbook = new_workbook()
    sheet = workbook[ESC]
    sheet["C2"] = "Acme"
    sheet["C2"].font = openpyxl.styles.Font(bold=True)
    sheet["D2"] = "plain"
    workbook.save(path)
    plan = WritePlan(cells=[CellWrite(ESC, 1, 2, None), CellWrite(ESC, 1, 3, ""), CellWrite(ESC, 1, 4, math.nan)])
    patched, rebuilt = write_both(path, plan, tmp_path)
    assert_same_for_readers(patched, rebuilt)
    cell = load_quietly(patched)[ESC]["C2"]
    assert cell.value is None and cell.font.bold


def test_rows_cut_across_read_chunks_patch_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = excel_like(tmp_path)
    plan = planned(source, pd.Timestamp(GOLDEN_NOW), tmp_path, monkeypatch)
    whole, cut = _copy(source, tmp_path / "whole.xlsx"), _copy(source, tmp_path / "cut.xlsx")
    patch_only(whole, plan)
    monkeypatch.setattr(xlsx_patch, "_CHUNK", 7)  # every row and cell straddles a chunk's end
    patch_only(cut, plan)
    assert members(cut) == members(whole)


def test_a_tab_without_rows_gets_its_first(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.title = ESC
    workbook.create_sheet(schema.HISTORY)
    workbook.save(path)
    history = sheet_part(path, schema.HISTORY)
    with zipfile.ZipFile(path) as archive:
        parts = {i.filename: archive.read(i.filename) for i in archive.infolist()}
    parts[history] = parts[history].replace(b"<sheetData></sheetData>", b"<sheetData/>")  # as Excel writes it
    assert b"<sheetData/>" in parts[history]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    plan = WritePlan(cells=[CellWrite(schema.HISTORY, 2, 1, "x")],
                     appends={schema.HISTORY: [["At", "ID"], [dt.datetime(2026, 11, 24, 9, 0), "ESC-0001"]]})
    patched, rebuilt = write_both(path, plan, tmp_path)
    assert_same_for_readers(patched, rebuilt)
    assert calamine_values(patched)[schema.HISTORY][2:4] == [["", "x"], ["At", "ID"]]


def test_a_cell_under_an_array_formula_is_left_to_openpyxl(tmp_path: Path) -> None:
    path = golden(tmp_path)
    workbook = openpyxl.load_workbook(path)
    workbook[ESC]["W2"] = ArrayFormula("W2:W4", "=A2:A4")
    workbook.save(path)
    with pytest.raises(Declined, match="array formula"):
        patch_only(path, WritePlan(cells=[CellWrite(ESC, 2, 22, "inside")]))  # W3


def test_a_cell_inserted_among_cells_listed_attribute_first(tmp_path: Path) -> None:
    source = excel_like(tmp_path)
    issue_key = schema.ESCALATION_COLUMNS.index(schema.COLUMN_BY_KEY["issue_key"])
    with zipfile.ZipFile(source) as archive:
        row = re.search(rb'<row r="2".*?</row>', archive.read(sheet_part(source, ESC)))
    assert row is not None and b'<c s="' in row[0] and b'r="G2"' not in row[0]
    plan = WritePlan(cells=[CellWrite(ESC, 1, issue_key, "KEY-1"), CellWrite(ESC, 1, 0, None)])
    assert_same_for_readers(*write_both(source, plan, tmp_path))


# --------------------------------------------------------------------------- review findings


def _small_book() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Data"
    sheet["A1"], sheet["B1"], sheet["A2"], sheet["B2"] = "h1", "h2", "x", 1
    saved = io.BytesIO()
    workbook.save(saved)
    return saved.getvalue()


def _edited(data: bytes, name: str, change: Any) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as sink:
        for info in source.infolist():
            content = source.read(info.filename)
            sink.writestr(info, change(content) if info.filename == name else content)
    return out.getvalue()


def _patched(data: bytes, *cells: tuple[int, int, Any]) -> bytes:
    out = io.BytesIO()
    xlsx_patch.patch_workbook(data, WritePlan(cells=[CellWrite("Data", r, c, v) for r, c, v in cells]), out)
    return out.getvalue()


def _part(data: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(name)


def test_a_cell_tag_followed_by_a_newline_is_replaced_not_duplicated() -> None:
    data = _edited(_small_book(), "xl/worksheets/sheet1.xml",
                   lambda xml: xml.replace(b'<c r="B2"', b'<c\nr="B2"'))
    row = re.search(rb'<row r="2".*?</row>', _part(_patched(data, (1, 1, "new")),
                                                   "xl/worksheets/sheet1.xml"), re.S)
    assert row is not None and row.group(0).count(b'r="B2"') == 1 and b"new" in row.group(0)


def test_number_formats_of_colour_rules_are_not_taken_for_cell_formats() -> None:
    from openpyxl.formatting.rule import Rule
    from openpyxl.styles.differential import DifferentialStyle
    from openpyxl.styles.numbers import NumberFormat

    workbook = openpyxl.load_workbook(io.BytesIO(_small_book()))
    rule_format = DifferentialStyle(numFmt=NumberFormat(numFmtId=164, formatCode="yyyy-mm-dd"))
    workbook["Data"].conditional_formatting.add(
        "A1:A10", Rule(type="expression", dxf=rule_format, formula=["TRUE"]))
    saved = io.BytesIO()
    workbook.save(saved)
    patched = _patched(saved.getvalue(), (2, 0, dt.date(2024, 1, 2)))
    cell = openpyxl.load_workbook(io.BytesIO(patched))["Data"]["A3"]
    assert cell.value == dt.datetime(2024, 1, 2) and cell.number_format == "yyyy-mm-dd"


def test_formulas_are_recalculated_on_opening_without_a_calc_chain() -> None:
    def as_libreoffice(xml: bytes) -> bytes:
        return re.sub(rb"<calcPr[^>]*/>", b'<calcPr iterateCount="100" refMode="A1"/>', xml)

    data = _edited(_small_book(), "xl/workbook.xml", as_libreoffice)
    calc = re.search(rb"<calcPr[^>]*>", _part(_patched(data, (1, 0, 5)), "xl/workbook.xml"))
    assert calc is not None and b'fullCalcOnLoad="1"' in calc.group(0)
    bare = _edited(_small_book(), "xl/workbook.xml", lambda xml: re.sub(rb"<calcPr[^>]*/>", b"", xml))
    patched = _part(_patched(bare, (1, 0, 5)), "xl/workbook.xml")
    assert b'<calcPr fullCalcOnLoad="1"/>' in patched
    assert patched.index(b"</sheets>") < patched.index(b"<calcPr")


def test_a_worksheet_declared_in_another_encoding_goes_to_openpyxl() -> None:
    data = _edited(_small_book(), "xl/worksheets/sheet1.xml",
                   lambda xml: b'<?xml version="1.0" encoding="ISO-8859-1"?>\n'
                   + re.sub(rb"^<\?xml[^>]*\?>", b"", xml))
    with pytest.raises(xlsx_patch.Unsupported, match="UTF-8"):
        _patched(data, (1, 0, "café"))


def test_characters_xml_cannot_hold_are_dropped_from_text() -> None:
    patched = _patched(_small_book(), (1, 0, "a\uffffb\ufffec"))
    assert openpyxl.load_workbook(io.BytesIO(patched))["Data"]["A2"].value == "abc"


# -- untouched members are copied raw ----------------------------------------------------------

_LOCAL = struct.Struct("<4s2B4HL2L2H")


class _OneWay(io.RawIOBase):
    """A sink zipfile cannot seek in, so it writes data descriptors (flag bit 3), as
    LibreOffice and other streaming writers do."""

    def __init__(self) -> None:
        self.written = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.written += data
        return len(data)


def _repackaged(data: bytes, stored: set[str], zip64: set[str], descriptors: bool) -> bytes:
    """``data``'s members deflated at level 1 (not the level a re-deflate uses), those in
    ``stored`` stored, those in ``zip64`` with zip64 local headers."""
    sink: Any = _OneWay() if descriptors else io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for info in source.infolist():
            target: Any = info.filename
            if info.filename in stored:
                target = zipfile.ZipInfo(info.filename, info.date_time)
                target.compress_type = zipfile.ZIP_STORED
            with out.open(target, "w", force_zip64=info.filename in zip64) as member:
                member.write(source.read(info.filename))
    return bytes(sink.written if descriptors else sink.getvalue())


def raw_members(data: bytes) -> dict[str, tuple[int, int, int, int, bytes]]:
    """Each member's (compression, CRC, compressed size, size, compressed bytes), read from
    its local header, checking the local header agrees with the central directory."""
    found = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            (_, _, _, flags, method, _, _, crc, packed, size,
             name_length, extra_length) = _LOCAL.unpack_from(data, info.header_offset)
            start = info.header_offset + _LOCAL.size + name_length + extra_length
            if not flags & 0x08:
                if (packed, size) == (0xFFFFFFFF, 0xFFFFFFFF):
                    size, packed = _zip64_sizes(data[start - extra_length:start])
                assert (method, crc, packed, size) == (
                    info.compress_type, info.CRC, info.compress_size, info.file_size), info.filename
            found[info.filename] = (info.compress_type, info.CRC, info.compress_size, info.file_size,
                                    data[start:start + info.compress_size])
    return found


def _zip64_sizes(extra: bytes) -> tuple[int, int]:
    at = 0
    while at < len(extra):
        kind, length = struct.unpack_from("<HH", extra, at)
        if kind == 1:
            return struct.unpack_from("<QQ", extra, at + 4)
        at += 4 + length
    raise AssertionError("sizes too large for the header but no zip64 record")


PACKAGINGS = {
    "as openpyxl writes it": lambda data: data,
    "another deflater (Excel-like)": lambda data: _repackaged(data, set(), set(), descriptors=False),
    "stored members and data descriptors (LibreOffice-like)": lambda data: _repackaged(
        data, {"[Content_Types].xml", "docProps/app.xml", "xl/sharedStrings.xml"}, set(), descriptors=True),
    "zip64 local headers": lambda data: _repackaged(
        data, {"docProps/core.xml"}, {"xl/theme/theme1.xml", "docProps/core.xml", "[Content_Types].xml"},
        descriptors=True),
}


def _saved_by_libreoffice(data: bytes) -> bytes:
    """The golden workbook as LibreOffice 7 saved it (``soffice --headless --convert-to
    xlsx``): data descriptors and UTF-8 names flagged on every member (flag bits 0x808).
    Its deflater gives zlib's bytes, so this case checks a real package's flags survive;
    the repackaged cases are the ones a re-deflate would fail."""
    return (Path(__file__).parent / "data" / "golden-saved-by-libreoffice.xlsx").read_bytes()


PACKAGINGS["saved by LibreOffice"] = _saved_by_libreoffice


@pytest.mark.parametrize("packaging", PACKAGINGS)
def test_untouched_members_are_copied_in_their_compressed_form(packaging: str, tmp_path: Path) -> None:
    source = tmp_path / "source.xlsx"
    source.write_bytes(PACKAGINGS[packaging](golden(tmp_path).read_bytes()))
    written = sheet_part(source, ESC)
    patched = tmp_path / "patched.xlsx"
    shutil.copyfile(source, patched)
    patch_only(patched, WritePlan(cells=[CellWrite(ESC, 2, 22, "raw copy")]))

    before, after = raw_members(source.read_bytes()), raw_members(patched.read_bytes())
    assert list(before) == list(after)
    untouched = [name for name in before if name not in {written, "xl/workbook.xml"}]
    assert len(untouched) >= 5
    for name in untouched:
        assert after[name] == before[name], name
    with zipfile.ZipFile(patched) as archive:
        assert archive.testzip() is None
    assert load_quietly(patched)[ESC]["W3"].value == "raw copy"
    assert calamine_values(patched)[ESC][2][22] == "raw copy"


def test_members_past_the_zip64_limit_get_zip64_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A 4 KiB limit stands in for the 2 GiB one, so every sizeable part takes the zip64 path.
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 1 << 12)
    monkeypatch.setattr(xlsx_patch, "_ZIP64_FROM", 1 << 12)
    source = golden(tmp_path)
    written = sheet_part(source, ESC)
    patched = tmp_path / "patched.xlsx"
    shutil.copyfile(source, patched)
    patch_only(patched, WritePlan(cells=[CellWrite(ESC, 2, 22, "raw copy")]))

    before, after = raw_members(source.read_bytes()), raw_members(patched.read_bytes())
    large = [name for name, (_, _, packed, size, _) in before.items()
             if max(packed, size) > 1 << 12 and name not in {written, "xl/workbook.xml"}]
    assert large
    for name in large:
        assert after[name] == before[name], name
    monkeypatch.undo()
    with zipfile.ZipFile(patched) as archive:
        assert archive.testzip() is None
    assert load_quietly(patched)[ESC]["W3"].value == "raw copy"
    assert calamine_values(patched)[ESC][2][22] == "raw copy"
