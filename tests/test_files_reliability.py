"""Reliability of what reaches files and terminals: control characters typed in sheet
text, Markdown links in exports, calamine panics, unreadable Levels, office lock files and
the lost-update window, Strict OOXML, 1904 dates, junk formulas in the tool's columns.

Each test builds its workbook here (openpyxl, or by editing the package XML where openpyxl
cannot write the case) and drives the real CLI.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from sheets_escalation.adapters.xlsx import patch as xlsx_patch
from sheets_escalation.adapters.xlsx import reader as xlsx_reader
from sheets_escalation.adapters.xlsx import rebuild as xlsx_rebuild
from sheets_escalation.core import schema
from tests.both_backends import (
    INPUT_HEADER,
    KINDS,
    NOW,
    Book,
    Formula,
    good_row,
    make_book,
)

LONG_AGO = dt.datetime(2026, 11, 20, 9, 0)  # a Friday: unresolved for over a business day
NOW_OPENED = dt.datetime(2026, 11, 24, 14, 0)  # an hour before NOW
# What a terminal or a file must never receive from sheet text: C0 controls other than tab
# and line feed, DEL, and the C1 controls (CSI, OSC … as single characters).
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
EXPORTS = (".xlsx", ".html", ".md", ".csv", ".pdf")


def _typed(kind: str, text: str) -> str:
    """``text`` as it sits in the sheet: Excel stores a control character as ``_xHHHH_``
    (and openpyxl refuses the raw character); Google Sheets holds the character itself."""
    if kind == "google":
        return text
    return CONTROL.sub(lambda m: f"_x{ord(m[0]):04X}_", text)


# Retitles an xterm ("OSC 0"), rings the bell, clears the screen, moves the cursor (CSI as
# one C1 character), and a carriage return that would overwrite the line it is on.
HOSTILE = "Acme\x1b]0;pwned\x07\x1b[2J\x9b31m\rBakery"


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _control_book(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Book:
    rows = [good_row(ID=f"ESC-000{n}", Opened=LONG_AGO, Customer=_typed(kind, HOSTILE),
                     Description=_typed(kind, f"Refund\x1b[5m or my lawyer calls {n}"),
                     **{"Issue type": _typed(kind, "Billing\x1b]0;x\x07"),
                        "Issue key": _typed(kind, "INV\x1b[1mKEY"),
                        "Could L1 resolve?": "yes"})
            for n in range(1, 4)]
    return make_book(kind, tmp_path, [INPUT_HEADER, *rows], monkeypatch)


def test_control_characters_never_reach_the_terminal_or_any_export(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = _control_book(kind, tmp_path, monkeypatch)
    runs = {"check": book.cli("check"), "sync --dry-run": book.sync("--dry-run"),
            "sync": book.sync()}
    runs["message"] = book.cli("message", "ESC-0001", "--now", NOW)
    runs["message internal"] = book.cli("message", "ESC-0001", "--template", "internal",
                                        "--now", NOW)
    for suffix in EXPORTS:
        runs[f"review {suffix}"] = book.cli("review", "--month", "2026-11", "--now", NOW,
                                            "--export", str(tmp_path / f"review{suffix}"))
    for name, run in runs.items():
        assert run.code == 0, (name, run.err)
        assert not CONTROL.search(run.out + run.err), (name, run.out + run.err)
    assert "Acme]0;pwned[2J31m" in runs["sync"].out  # the name is still shown
    assert "Acme]0;pwned[2J31m\nBakery" in runs["message"].out
    for suffix, shown in ((".html", "Billing]0;x"), (".md", "Billing\\]0;x"),
                          (".csv", "Billing]0;x")):
        text = (tmp_path / f"review{suffix}").read_text(encoding="utf-8-sig")
        assert not CONTROL.search(text), suffix
        assert shown in text, suffix
    exported = openpyxl.load_workbook(tmp_path / "review.xlsx")
    texts = [str(c.value) for ws in exported.worksheets for r in ws.iter_rows() for c in r
             if c.value is not None]
    assert "Billing]0;x" in texts and not [t for t in texts if CONTROL.search(t)]
    assert (tmp_path / "review.pdf").read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):  # poppler, where installed, reads the text back
        pdf_text = subprocess.run(["pdftotext", str(tmp_path / "review.pdf"), "-"], check=True,
                                  capture_output=True, text=True).stdout
        assert "Billing]0;x" in pdf_text and not CONTROL.search(pdf_text.replace("\f", ""))
    tab = book.grid("Review 2026-11")
    assert not [c for r in tab for c in r if isinstance(c, str) and CONTROL.search(c)]
    assert "Billing]0;x" in [c for r in tab for c in r]


def test_the_sync_table_and_json_carry_no_control_characters(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = _control_book("google", tmp_path, monkeypatch)
    run = book.sync("--json")
    assert run.code == 0 and not CONTROL.search(run.out), run.out


def test_markdown_export_keeps_no_live_link_or_table_break(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    link = "[click](javascript:alert(1))"
    rows = [good_row(ID=f"ESC-000{n}", Opened=LONG_AGO, Customer=f"![x](http://evil.test/{n}.png)",
                     **{"Issue type": f"{link} | extra", "Issue key": "<a href=x>k</a>[r]: http://e",
                        "Could L1 resolve?": "yes"})
            for n in range(1, 4)]
    book = make_book("xlsx", tmp_path, [INPUT_HEADER, *rows], monkeypatch)
    assert book.sync("--quiet").code == 0
    export = tmp_path / "review.md"
    run = book.cli("review", "--month", "2026-11", "--now", NOW, "--export", str(export))
    assert run.code == 0, run.err
    text = export.read_text(encoding="utf-8")
    assert "javascript" in text  # the text is kept, only made inert
    assert not re.search(r"(?<!\\)\]\(", text), text
    assert not re.search(r"(?<!\\)\[", text), text
    assert "<a" not in text
    # Every table row still has the columns of its header: the pipe did not split a cell.
    for block in re.split(r"\n\n", text):
        lines = [ln for ln in block.splitlines() if ln.startswith("|")]
        widths = {len(re.split(r"(?<!\\)\|", ln)) for ln in lines}
        assert len(widths) <= 1, block


# --------------------------------------------------------------------------- package edits


def edit_part(path: Path, part: str, change: Any) -> None:
    """Rewrite member ``part`` of the package at ``path`` with ``change(bytes) -> bytes``."""
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info.filename)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in members:
            archive.writestr(info, change(data) if info.filename == part else data)


def sheet_part(path: Path, title: str) -> str:
    """The package member holding tab ``title``."""
    workbook = openpyxl.load_workbook(path, read_only=True)
    index = workbook.sheetnames.index(title) + 1
    workbook.close()
    return f"xl/worksheets/sheet{index}.xml"


def set_cached(path: Path, title: str, ref: str, value: bytes) -> None:
    """Make cell ``ref`` of tab ``title`` a numeric cell holding ``value`` (its style kept)."""
    def change(xml: bytes) -> bytes:
        new, count = re.subn(rb'<c r="' + ref.encode() + rb'"([^>]*?)( t="[^"]*")?>.*?</c>',
                             rb'<c r="' + ref.encode() + rb'"\1><v>' + value + rb"</v></c>", xml,
                             flags=re.DOTALL)
        assert count == 1, xml
        return new
    edit_part(path, sheet_part(path, title), change)


def opened_ref(row: int) -> str:
    return f"{get_column_letter(INPUT_HEADER.index('Opened') + 1)}{row}"


# --------------------------------------------------------------------------- odd numbers


@pytest.mark.parametrize(("stored", "shown"), [(b"-INF", "-INF"), (b"-1", "-1"),
                                                (b"-0.5", "-0.5")])
def test_an_impossible_number_in_a_date_cell_is_reported_in_its_row(
        stored: bytes, shown: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [good_row(ID="ESC-0001", Customer="Broken"), good_row(ID="ESC-0002", Opened=LONG_AGO)]
    book = make_book("xlsx", tmp_path, [INPUT_HEADER, *rows], monkeypatch)
    set_cached(book.path, schema.ESCALATIONS, opened_ref(2), stored)
    run = book.cli("check")
    assert run.code == 0, run.err
    assert f'Opened: cannot read "{shown}" as a date' in run.out
    run = book.sync()
    assert (run.code, run.err) == (0, "")
    records = book.by_id()
    assert records["ESC-0001"]["Problems"] == f'Opened: cannot read "{shown}" as a date'
    assert records["ESC-0001"]["Flag"] == "CHECK INPUT"
    assert records["ESC-0002"]["Level"] == "L2"  # the other row escalated as usual
    if stored == b"-INF":  # no reader keeps it a number: the cell keeps the text it shows
        assert records["ESC-0001"]["Opened"] == "-INF"
    else:  # the owner's cell is left as it was
        with zipfile.ZipFile(book.path) as archive:
            xml = archive.read(sheet_part(book.path, schema.ESCALATIONS))
        assert b"<v>" + stored + b"</v>" in xml


def test_a_panic_inside_calamine_falls_back_to_openpyxl(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = make_book("xlsx", tmp_path, [INPUT_HEADER, good_row(ID="ESC-0001")], monkeypatch)
    panic = type("PanicException", (BaseException,), {})

    def panicking(*_: Any) -> None:
        raise panic("called `Option::unwrap()` on a `None` value")

    monkeypatch.setattr(xlsx_reader, "read_calamine", panicking)
    run = book.sync()
    assert (run.code, run.err) == (0, "")
    assert book.by_id()["ESC-0001"]["Flag"] == "OK"


# --------------------------------------------------------------------------- unreadable Level


def test_an_unreadable_level_is_reported_and_never_overwritten_by_an_escalation(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [good_row(ID="ESC-0001", Opened=LONG_AGO, Level="Tier one (Sam)",
                     **{"First response at": None}),
            good_row(ID="ESC-0002", Opened=LONG_AGO, **{"First response at": None})]
    book = make_book(kind, tmp_path, [INPUT_HEADER, *rows], monkeypatch)
    for _ in range(2):
        run = book.sync()
        assert run.code == 0, run.err
    records = book.by_id()
    held = records["ESC-0001"]
    assert held["Level"] == "Tier one (Sam)" and held["Escalated at"] is None
    assert held["Flag"] == "ESCALATION OVERDUE"
    assert held["Triggers"] == "Unresolved too long"
    assert held["Problems"] == 'Level: cannot read "Tier one (Sam)" as a level (L1, L2 or L3)'
    assert records["ESC-0002"]["Level"] == "L2"  # a readable row escalates as usual
    escalated = [r[1] for r in book.grid(schema.HISTORY)[1:] if r[2] == "escalated"]
    assert escalated == ["ESC-0002"]
    # Nor is a breach recorded at a level guessed for it: History is never rewritten.
    breached = {r[1] for r in book.grid(schema.HISTORY)[1:] if r[2] == "breached"}
    assert "ESC-0001" not in breached


# --------------------------------------------------------------------------- open in Excel


@pytest.mark.parametrize(("lock_name", "program"), [("~$book.xlsx", "Excel"),
                                                    (".~lock.book.xlsx#", "LibreOffice")])
def test_a_workbook_open_in_excel_or_libreoffice_is_not_written(
        lock_name: str, program: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = make_book("xlsx", tmp_path, [INPUT_HEADER, good_row(ID="ESC-0001", Opened=LONG_AGO)],
                     monkeypatch)
    lock = tmp_path / lock_name
    lock.write_bytes(b"Sam Owner,laptop,sam,04.12.2026 10:00,file:///x;\n"
                     if program == "LibreOffice" else b"\x09Sam Owner" + b" " * 44)
    before = book.path.read_bytes()
    commands = {"sync": ("sync", "--now", NOW),
                "escalate": ("escalate", "ESC-0001", "--to", "L3", "--force", "--now", NOW),
                "review": ("review", "--month", "2026-11", "--now", NOW)}
    for name, command in commands.items():
        run = book.cli(*command)
        assert run.code == 1, (name, run.out, run.err)
        assert f"book.xlsx is open in {program}" in run.err, (name, run.err)
        assert lock_name in run.err and "--ignore-open" in run.err, (name, run.err)
        assert book.path.read_bytes() == before, name
    assert book.sync("--dry-run").code == 0  # reading is fine
    run = book.sync("--ignore-open")
    assert (run.code, run.err) == (0, "")
    assert book.by_id()["ESC-0001"]["Level"] == "L2"


def test_an_office_lock_appearing_while_the_new_file_is_written_stops_the_rename(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = make_book("xlsx", tmp_path, [INPUT_HEADER, good_row(ID="ESC-0001", Opened=LONG_AGO)],
                     monkeypatch)
    assert book.sync().code == 0
    before = book.path.read_bytes()
    real = xlsx_patch.patch_workbook

    def opened_meanwhile(data: bytes, plan: Any, stream: Any) -> None:
        real(data, plan, stream)
        (tmp_path / "~$book.xlsx").write_bytes(b"\x03Sam")

    monkeypatch.setattr(xlsx_patch, "patch_workbook", opened_meanwhile)
    run = book.cli("sync", "--now", "2026-11-25T15:00:00+00:00")
    assert run.code == 1 and "open in Excel" in run.err, run.err
    assert book.path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_save_landing_while_the_new_file_is_written_is_not_overwritten(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = make_book("xlsx", tmp_path, [INPUT_HEADER, good_row(ID="ESC-0001", Opened=LONG_AGO)],
                     monkeypatch)
    assert book.sync().code == 0
    real = xlsx_patch.patch_workbook

    def saved_meanwhile(data: bytes, plan: Any, stream: Any) -> None:
        real(data, plan, stream)
        # What Excel does on save: a new file renamed over the old one.
        workbook = openpyxl.load_workbook(book.path)
        workbook[schema.ESCALATIONS]["C2"] = "Typed during the run"
        workbook.save(tmp_path / "excel-save.tmp.xlsx")
        (tmp_path / "excel-save.tmp.xlsx").replace(book.path)

    monkeypatch.setattr(xlsx_patch, "patch_workbook", saved_meanwhile)
    run = book.cli("sync", "--now", "2026-11-25T15:00:00+00:00")
    assert run.code == 1 and "changed on disk" in run.err, run.err
    assert book.by_id()["ESC-0001"]["Customer"] == "Typed during the run"


# --------------------------------------------------------------------------- xlsx edge cases

_TRANSITIONAL_TO_STRICT = {
    b"http://schemas.openxmlformats.org/spreadsheetml/2006/main":
        b"http://purl.oclc.org/ooxml/spreadsheetml/main",
    b"http://schemas.openxmlformats.org/officeDocument/2006/relationships":
        b"http://purl.oclc.org/ooxml/officeDocument/relationships",
}


def test_a_strict_open_xml_workbook_gets_a_clear_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = make_book("xlsx", tmp_path, [INPUT_HEADER, good_row(ID="ESC-0001")], monkeypatch)
    with zipfile.ZipFile(book.path) as archive:
        names = [n for n in archive.namelist() if n.endswith((".xml", ".rels"))]

    def strict(xml: bytes) -> bytes:
        for old, new in _TRANSITIONAL_TO_STRICT.items():
            xml = xml.replace(old, new)
        return xml.replace(b"<workbook ", b'<workbook conformance="strict" ', 1)

    for name in names:
        edit_part(book.path, name, strict)
    before = book.path.read_bytes()
    for command in (("check",), ("sync", "--now", NOW)):
        run = book.cli(*command)
        assert run.code == 1, (command, run.out, run.err)
        assert run.err == ("error: book.xlsx is saved as Strict Open XML, which is not "
                           "supported; in Excel use File > Save As > Excel Workbook (.xlsx)\n")
    assert book.path.read_bytes() == before


def test_plain_numbers_in_date_columns_of_a_1904_workbook_use_its_epoch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = dt.datetime(2026, 11, 24, 9, 30)
    rows = [good_row(ID="ESC-0001", **{"First response at": None}),
            good_row(ID="ESC-0002", Opened=opened, **{"First response at": None})]
    book = make_book("xlsx", tmp_path, [INPUT_HEADER, *rows], monkeypatch)
    workbook = openpyxl.load_workbook(book.path)
    workbook.epoch = CALENDAR_MAC_1904  # datetimes are stored as 1904 serials on save
    sheet = workbook[schema.ESCALATIONS]
    cell = sheet[opened_ref(2)]
    cell.value = (opened - dt.datetime(1904, 1, 1)) / dt.timedelta(days=1)
    cell.number_format = "General"
    workbook.save(book.path)
    run = book.sync()
    assert run.code == 0, run.err
    records = book.by_id()
    assert records["ESC-0001"]["Problems"] is None
    for identifier in ("ESC-0001", "ESC-0002"):  # the plain number reads as the date cell does
        assert records[identifier]["Response due"] == dt.datetime(2026, 11, 24, 13, 30), identifier


def test_junk_formulas_in_the_tools_columns_are_overwritten_by_the_fast_patch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    owned = [c.header for c in schema.OWNED_COLUMNS]
    header = INPUT_HEADER + owned
    junk = {name: Formula(f"=junk{n}") for n, name in enumerate(owned)}
    # The fresh rows have no response yet (the default one would come before they opened).
    rows = [good_row(ID=f"ESC-{n:04d}", Opened=LONG_AGO if n % 2 else NOW_OPENED,
                     **({} if n % 2 else {"First response at": None})) + [
        junk[name] for name in owned] for n in range(1, 201)]
    book = make_book("xlsx", tmp_path, [header, *rows], monkeypatch)
    with zipfile.ZipFile(book.path) as archive:
        assert archive.read(sheet_part(book.path, schema.ESCALATIONS)).count(b"<f>junk") == 200 * len(owned)

    def rebuild(*_: Any) -> None:
        raise AssertionError("the sync rebuilt the workbook with openpyxl")

    monkeypatch.setattr(xlsx_rebuild, "apply", rebuild)
    run = book.sync()
    assert (run.code, run.err) == (0, "")
    records = book.by_id()  # (a junk formula where the tool's value is blank stays)
    assert {records[f"ESC-{n:04d}"]["Flag"] for n in range(2, 201, 2)} == {"OK"}
    assert {records[f"ESC-{n:04d}"]["Level"] for n in range(1, 201, 2)} == {"L2"}
    assert book.sync().code == 0  # and the rerun finds the cells it wrote


def test_the_patch_still_leaves_a_shared_formula_that_others_copy_to_openpyxl(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    owned = [c.header for c in schema.OWNED_COLUMNS]
    rows = [good_row(ID=f"ESC-{n:04d}") + [Formula("=1+1")] for n in range(1, 4)]
    book = make_book("xlsx", tmp_path, [INPUT_HEADER + owned, *rows], monkeypatch)
    flag = get_column_letter(len(INPUT_HEADER) + 1).encode()

    def shared(xml: bytes) -> bytes:  # Excel stores a formula filled down once, shared
        xml = xml.replace(b'<c r="' + flag + b'2"><f>1+1</f>',
                          b'<c r="' + flag + b'2"><f t="shared" ref="' + flag + b'2:' + flag
                          + b'4" si="0">1+1</f>', 1)
        for row in (b"3", b"4"):
            xml = re.sub(b'(<c r="' + flag + row + b'">)<f>1\\+1</f>', rb'\1<f t="shared" si="0"/>', xml)
        return xml

    edit_part(book.path, sheet_part(book.path, schema.ESCALATIONS), shared)
    declined: list[str] = []
    real = xlsx_patch.patch_workbook

    def recording(data: bytes, plan: Any, stream: Any) -> None:
        try:
            real(data, plan, stream)
        except xlsx_patch.Unsupported as error:
            declined.append(str(error))
            raise

    monkeypatch.setattr(xlsx_patch, "patch_workbook", recording)
    assert book.sync().code == 0
    assert declined and "formula" in declined[0]
    assert {r["Flag"] for r in book.records()} == {"OK"}


def test_a_problem_quoting_control_characters_is_written_once(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [good_row(ID="ESC-0001", Opened=_typed(kind, "soon\x1b[2J\x85")),
            good_row(ID="ESC-0002")]
    book = make_book(kind, tmp_path, [INPUT_HEADER, *rows], monkeypatch)
    assert book.sync().code == 0
    assert book.by_id()["ESC-0001"]["Problems"] == 'Opened: cannot read "soon[2J" as a date'
    run = book.sync("--dry-run")
    assert "planned: 1 cell, 0 History rows" in run.out, run.out  # only the Last run stamp
