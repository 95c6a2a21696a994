"""What the tool promises the owner of a shared escalation log, end to end through the CLI:
no formula injection, nothing of the owner's workbook lost, one run at a time, no wrong-row
write while people edit, no secret in any output.

Crash safety has its own module (tests/test_crash_safety.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import subprocess
import sys
import textwrap
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from openpyxl.comments import Comment
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Font, PatternFill
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation

from sheets_escalation.adapters.gsheets.backend import GoogleSheetsBackend
from sheets_escalation.adapters.gsheets.http import client_with_session
from sheets_escalation.adapters.xlsx import backend as xlsx
from sheets_escalation.core import schema
from tests.both_backends import (
    HEADER,
    INPUT_HEADER,
    KEY,
    KINDS,
    NOW,
    Book,
    good_row,
    make_book,
    serial,
)
from tests.fixtures import add_chart
from tests.servers import clear_proxies, recording_server

REPO = Path(__file__).resolve().parents[1]
LONG_AGO = dt.datetime(2026, 11, 20, 9, 0)  # a Friday: unresolved for over a business day
FORMULA_TEXTS = ["=1+1", "+SUM(1,2)", "-2+3", "@SUM(A1)", '=HYPERLINK("http://evil.test","x")',
                 "=cmd|' /C calc'!A0"]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_proxies(monkeypatch)


# --------------------------------------------------------------------------- formula injection


def _hostile_rows() -> list[list[Any]]:
    """Rows whose every text a customer or agent could type starts like a formula; each is
    opened long ago, so the tool escalates it and writes its ID into History."""
    return [
        good_row(ID=text, Opened=LONG_AGO, Customer=text, Description=f"{text} says hello",
                 **{"Issue type": "=1+2", "Steps tried": text, "Handler": text,
                    "Notes": text, "Financial impact": text})
        for text in FORMULA_TEXTS
    ]


def _xlsx_formula_cells(path: Path) -> list[str]:
    """Every formula element in the file's worksheets, as '<part>: <formula>'."""
    found = []
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                found += [f"{name}: {f.decode()}" for f in
                          re.findall(rb"<f\b[^>]*>([^<]*)</f>", archive.read(name))]
    return found


def test_text_typed_like_a_formula_never_becomes_one_anywhere_the_tool_writes(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = make_book(kind, tmp_path, [INPUT_HEADER, *_hostile_rows()], monkeypatch)
    assert book.sync("--quiet").code == 0
    run = book.cli("escalate", "=1+1", "--to", "L3", "--force", "--now", NOW,
                   "--handler", "=HYPERLINK(\"http://evil.test\",\"boss\")", "--note", "@SUM(1)")
    assert run.code == 0, run.err
    export = tmp_path / "review.csv"
    run = book.cli("review", "--month", "2026-11", "--now", NOW, "--export", str(export))
    assert run.code == 0, run.err

    history = book.grid(schema.HISTORY)
    assert {r[1] for r in history[1:]} >= set(FORMULA_TEXTS)  # IDs written as typed
    manual = next(r for r in history if r[5] == "manual")
    assert (manual[6], manual[7]) == ('=HYPERLINK("http://evil.test","boss")', "@SUM(1)")
    records = {r["ID"]: r for r in book.records()}
    assert records["=1+1"]["Handler"] == '=HYPERLINK("http://evil.test","boss")'
    assert set(records) == set(FORMULA_TEXTS)
    for text in FORMULA_TEXTS:
        assert records[text]["Customer"] == text
        assert records[text]["Problems"] == f'Financial impact: cannot read "{text}" as an amount'
    if kind == "xlsx":
        assert _xlsx_formula_cells(book.path) == []
    else:
        for sheet in book.fake.books[KEY].sheets:
            assert [c for row in sheet.rows for c in row if c.formula] == [], sheet.title
        assert {c.body["valueInputOption"] for c in book.fake.calls("values.batchUpdate")} == {"RAW"}
    with export.open(encoding="utf-8-sig", newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert "'=1+2" in cells and "=1+2" not in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]


def test_the_exported_review_workbook_stores_formula_text_as_text(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = make_book("xlsx", tmp_path, [INPUT_HEADER, *_hostile_rows()], monkeypatch)
    export = tmp_path / "review.xlsx"
    # The review reports recorded escalations: sync first, as the hourly job would have.
    assert book.cli("sync", "--now", NOW).code == 0
    assert book.cli("review", "--month", "2026-11", "--now", NOW, "--export",
                    str(export)).code == 0
    assert _xlsx_formula_cells(export) == []
    assert _xlsx_formula_cells(book.path) == []  # the review tab written into the book too
    texts = [c.value for row in openpyxl.load_workbook(export).active.iter_rows() for c in row]
    assert "=1+2" in texts


# --------------------------------------------------------------------------- the owner's workbook


@pytest.fixture
def owned_book(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Book:
    """A log its team has made its own: formats, widths, validation, colour rules, names,
    formulas (with computed values, as Excel saves them), notes, links and their own tabs."""
    rows = [good_row(ID="ESC-0001", Opened=LONG_AGO, Customer="Acme"),
            good_row(ID="ESC-0002", Customer="Bolt")]
    book = make_book("xlsx", tmp_path, [HEADER + ["Region"], *rows], monkeypatch)
    workbook = openpyxl.load_workbook(book.path)
    ws = workbook[schema.ESCALATIONS]
    region = len(HEADER) + 1
    ws.cell(2, region, '=A2&"-EU"')
    ws["C2"].font = Font(bold=True, italic=True, color="FF112233")
    ws["C2"].fill = PatternFill("solid", start_color="FFABCDEF")
    ws["C2"].comment = Comment("VIP in all but name", "Sam")
    ws["D3"].hyperlink = "mailto:ops@bolt.test"
    ws.column_dimensions["C"].width = 33
    ws.column_dimensions["I"].hidden = True
    ws.row_dimensions[3].height = 40
    ws.sheet_properties.tabColor = "FF00AA00"
    validation = DataValidation(type="whole", operator="between", formula1="1", formula2="9")
    validation.add("AZ2:AZ50")
    ws.add_data_validation(validation)
    ws.conditional_formatting.add("C2:C50", CellIsRule(
        operator="equal", formula=['"Acme"'], fill=PatternFill("solid", start_color="FF00FF00")))
    notes = workbook.create_sheet("Team notes")
    notes["A1"] = "Our own tab"
    notes["B3"] = "=SUM(1,2)"
    notes["C3"] = "=COUNTA(Escalations!A:A)"
    workbook.defined_names["Customers"] = DefinedName("Customers", attr_text="Escalations!$C$2:$C$50")
    workbook.save(book.path)
    _store_values(book.path, {"=A2&amp;\"-EU\"": b"ESC-0001-EU", "SUM(1,2)": b"3"})
    return book


def _store_values(path: Path, values: dict[str, bytes]) -> None:
    """Give formula cells the computed values Excel would have saved with them."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    for name, xml in members.items():
        if name.startswith("xl/worksheets/sheet"):
            for formula, value in values.items():
                text = formula.removeprefix("=").encode()
                kind = b"" if value.isdigit() else b' t="str"'
                xml = re.sub(rb"(<c [^>]*?)>(<f>" + re.escape(text) + rb"</f>)<v\s*/>",
                             rb"\1" + kind + rb">\2<v>" + value + rb"</v>", xml)
            members[name] = xml
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_sync_keeps_everything_of_the_owners_workbook(owned_book: Book) -> None:
    for _ in range(2):
        run = owned_book.sync("--quiet")
        assert (run.code, run.err) == (0, "")
    workbook = openpyxl.load_workbook(owned_book.path)
    ws = workbook[schema.ESCALATIONS]
    region = len(HEADER) + 1
    assert ws.cell(1, region).value == "Region" and ws.cell(2, region).value == '=A2&"-EU"'
    assert ws["C2"].font.b and ws["C2"].font.i and ws["C2"].font.color.rgb == "FF112233"
    assert ws["C2"].fill.fgColor.rgb == "FFABCDEF"
    assert ws["C2"].comment.text == "VIP in all but name"
    assert ws["D3"].hyperlink.target == "mailto:ops@bolt.test"
    assert ws.column_dimensions["C"].width == 33 and ws.column_dimensions["I"].hidden
    assert ws.row_dimensions[3].height == 40
    assert ws.sheet_properties.tabColor.rgb == "FF00AA00"
    assert ("whole", "AZ2:AZ50") in {(v.type, str(v.sqref)) for v in ws.data_validations.dataValidation}
    assert "C2:C50" in {str(area.sqref) for area in ws.conditional_formatting}
    assert ws.freeze_panes == "B2"
    assert workbook["Team notes"]["A1"].value == "Our own tab"
    assert workbook["Team notes"]["B3"].value == "=SUM(1,2)"
    assert workbook.defined_names["Customers"].attr_text == "Escalations!$C$2:$C$50"
    assert workbook.sheetnames[-1] == "Team notes"
    assert ws["P2"].value == "L2"  # and the tool did its job
    values = openpyxl.load_workbook(owned_book.path, data_only=True)
    assert values[schema.ESCALATIONS].cell(2, region).value == "ESC-0001-EU"
    assert values["Team notes"]["B3"].value == 3


def _add_pivot_parts(path: Path) -> None:
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("xl/pivotTables/pivotTable1.xml", b"<pivotTableDefinition/>")
        archive.writestr("xl/pivotCache/pivotCacheDefinition1.xml", b"<pivotCacheDefinition/>")


@pytest.mark.parametrize(("add", "what"), [
    (add_chart, "charts on tab 'Dashboard' (their formatting)"),
    (_add_pivot_parts, "pivot tables"),
])
def test_parts_openpyxl_cannot_keep_refuse_the_save_unless_allowed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, add: Any, what: str) -> None:
    book = make_book("xlsx", tmp_path, [INPUT_HEADER, good_row(Opened=LONG_AGO)], monkeypatch)
    add(book.path)
    before = book.path.read_bytes()
    run = book.sync("--quiet")
    assert run.code == 1
    assert run.err == (
        f"error: book.xlsx holds parts the tool cannot keep when it saves the workbook: {what}."
        " Nothing was written. Move them to another workbook (formulas can refer to it), or"
        " pass --allow-lossy to save anyway and lose them.\n")
    assert book.path.read_bytes() == before
    assert book.sync("--quiet", "--dry-run").code == 0  # reading and planning still work
    assert book.sync("--quiet", "--allow-lossy").code == 0
    assert book.by_id()["ESC-0100"]["Level"] == "L2"


def test_on_google_other_tabs_are_never_read_or_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = make_book("google", tmp_path, [INPUT_HEADER, good_row(Opened=LONG_AGO)], monkeypatch,
                     **{"Team notes": [["Our own tab"], ["=SUM(1,2)"]]})
    assert book.sync("--quiet").code == 0
    assert book.fake.books[KEY].sheet("Team notes").values() == [["Our own tab"], ["=SUM(1,2)"]]
    assert not [c for c in book.fake.log if "Team" in c.url]


# --------------------------------------------------------------------------- one run at a time


@pytest.fixture
def xlsx_lock_holder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Book]:
    book = make_book("xlsx", tmp_path, [INPUT_HEADER, good_row(Opened=LONG_AGO)], monkeypatch)
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from sheets_escalation.adapters.xlsx.backend import XlsxBackend
        with XlsxBackend(Path({str(book.path)!r})).lock():
            print("held", flush=True)
            time.sleep(60)
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        yield book
    finally:
        holder.kill()
        holder.wait()


def test_a_second_sync_on_the_same_workbook_exits_1_at_once(xlsx_lock_holder: Book) -> None:
    book = xlsx_lock_holder
    before = book.path.read_bytes()
    started = time.monotonic()
    run = book.sync("--quiet")
    assert time.monotonic() - started < 2
    assert run.code == 1
    assert run.err.startswith("error: another sync is running on book.xlsx (lock file ")
    assert book.path.read_bytes() == before


def test_a_second_sync_on_the_same_google_sheet_exits_1_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = make_book("google", tmp_path, [INPUT_HEADER, good_row(Opened=LONG_AGO)], monkeypatch)
    locks = tmp_path / "cache" / "sheets-escalation" / "locks"
    other = GoogleSheetsBackend(KEY, client_with_session(book.fake.session()), lock_dir=locks)
    with other.lock():
        started = time.monotonic()
        run = book.sync("--quiet")
        assert time.monotonic() - started < 2
    assert run.code == 1
    assert run.err.startswith(f"error: another sync is running on sheet {KEY} (lock file ")
    assert not book.fake.calls("values.batchUpdate")
    assert book.sync("--quiet").code == 0


def test_a_save_from_excel_during_a_run_refuses_the_write_and_keeps_the_persons_edit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = make_book("xlsx", tmp_path, [INPUT_HEADER, good_row(Opened=LONG_AGO)], monkeypatch)
    write = xlsx.XlsxBackend.write

    def someone_saves_first(self: xlsx.XlsxBackend, plan: Any) -> None:
        workbook = openpyxl.load_workbook(self.path)
        workbook[schema.ESCALATIONS]["C2"] = "Renamed by Sam"
        workbook.save(self.path)
        write(self, plan)

    monkeypatch.setattr(xlsx.XlsxBackend, "write", someone_saves_first)
    run = book.sync("--quiet")
    assert run.code == 1
    assert run.err == ("error: book.xlsx changed on disk since it was read (saved from Excel?);"
                       " nothing was written, run again\n")
    assert book.records()[0]["Customer"] == "Renamed by Sam"
    assert "Flag" not in book.records()[0]
    monkeypatch.setattr(xlsx.XlsxBackend, "write", write)
    assert book.sync("--quiet").code == 0
    assert (book.records()[0]["Customer"], book.records()[0]["Level"]) == ("Renamed by Sam", "L2")


def _person_edits(book: Book, edit: Any) -> None:
    """Run ``edit(sheet)`` on Escalations just before the run's second read (the re-read
    right before writing: a values:batchGet, or the batchUpdate that also grows grids on a
    first sync), as a person editing while the job runs."""
    def arm(fake: Any) -> None:
        fake.before_next(":batch", lambda f: edit(f.books[KEY].sheet(schema.ESCALATIONS)))
    book.fake.before_next("values:batchGet", arm)


def _mixed_rows() -> list[list[Any]]:
    return [
        good_row(ID="ESC-0001", Customer="Lawyer Ltd", Description="my lawyer will call"),
        good_row(ID="ESC-0002", Customer="Old Co", Opened=LONG_AGO),
        good_row(ID="ESC-0003", Customer="Rich Co", **{"Financial impact": "$9,000"}),
        good_row(ID="ESC-0004", Customer="Fine Co"),
        good_row(ID="ESC-0005", Customer="Bad Date Co", Opened="someday"),
    ]


@pytest.mark.parametrize("edit", [
    lambda sheet: sheet.sort_rows(key=lambda r: str(r[2] if len(r) > 2 else ""), reverse=True),
    lambda sheet: sheet.insert_rows(2, [["ESC-0099", serial(LONG_AGO), "Typed meanwhile"]]),
], ids=["sorted", "row inserted"])
def test_people_editing_the_google_sheet_during_a_run_never_cause_a_wrong_row_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: Any) -> None:
    undisturbed = make_book("google", tmp_path / "a", [INPUT_HEADER, *_mixed_rows()], monkeypatch)
    assert undisturbed.sync("--quiet").code == 0
    expected = {i: {k: v for k, v in r.items() if k in _OWNED} for i, r in undisturbed.by_id().items()}

    book = make_book("google", tmp_path / "b", [INPUT_HEADER, *_mixed_rows()], monkeypatch)
    _person_edits(book, edit)
    run = book.sync("--quiet")
    assert (run.code, run.err) == (0, "")
    for row_id, record in book.by_id().items():
        owned = {k: v for k, v in record.items() if k in _OWNED}
        if row_id == "ESC-0099":
            assert set(owned.values()) == {None}  # typed after the read: next run's business
        else:
            assert owned == expected[row_id], row_id


_OWNED = {c.header for c in schema.OWNED_COLUMNS} | {"Level", "Escalated at"}


def test_a_row_deleted_during_a_run_refuses_the_write_and_the_next_run_repairs_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = make_book("google", tmp_path, [INPUT_HEADER, *_mixed_rows()], monkeypatch)
    before = book.grid()
    _person_edits(book, lambda sheet: sheet.delete_rows(3))
    run = book.sync("--quiet")
    assert run.code == 1
    assert run.err == ("error: rows of Escalations moved while the job ran and ID 'ESC-0003' is"
                       " gone; nothing was written, the next run repairs it\n")
    assert book.grid() == before[:3] + before[4:]
    assert book.sync("--quiet").code == 0
    assert book.by_id()["ESC-0002"]["Level"] == "L2"
    assert "ESC-0003" not in book.by_id()


# --------------------------------------------------------------------------- secrets

SECRET_PATH = "/services/T0SECRET/B0SECRET/xoxbSeCrEtToKeN9xYz"
SMTP_PASSWORD = "correct-horse-battery-staple-42"


def _service_account(path: Path, email: str = "bot@acme-support.iam.gserviceaccount.com") -> tuple[Path, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "acme-support", "private_key_id": "f" * 40,
        "private_key": pem, "client_email": email, "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }))
    path.chmod(0o600)
    return path, pem


def _cells_the_tool_writes(book: Book) -> str:
    """Every cell of every tab but Levels, where the owner typed the webhook."""
    tabs = ([ws.title for ws in openpyxl.load_workbook(book.path).worksheets] if book.kind == "xlsx"
            else [s.title for s in book.fake.books[KEY].sheets])
    return "\n".join(str(v) for tab in tabs if tab != schema.LEVELS
                     for row in book.grid(tab) for v in row)


def _secret_fragments(pem: str) -> list[str]:
    body = "".join(pem.strip().splitlines()[1:-1])
    return [SECRET_PATH, "SeCrEt", SMTP_PASSWORD, "fake-access-token-never-printed",
            body[:40], body[-40:], "f" * 40]


def test_secrets_never_reach_output_history_cells_or_the_journal(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials, pem = _service_account(tmp_path / "sa.json")
    with recording_server() as http:
        http.statuses = [500] * 10
        http.echo_path = True
        hook = f"slack:{http.base}{SECRET_PATH}"
        levels = [list(schema.LEVELS_HEADERS)] + [list(r) for r in schema.DEFAULT_LEVELS]
        levels[2][6] = f"{hook}, ops@example.com"
        book = make_book(kind, tmp_path, [INPUT_HEADER, good_row(Opened=LONG_AGO)], monkeypatch,
                         Levels=levels)
        config = tmp_path / "config.toml"
        config.write_text(textwrap.dedent(f"""
            [notify]
            allow = ["slack:{http.base}/services/*", "*@example.com"]
            [smtp]
            host = "127.0.0.1"
            port = 9
            starttls = false
            username = "alerts@example.com"
            password_env = "ALERTS_SMTP_PASSWORD"
            from = "alerts@example.com"
            timeout = 2
        """))
        monkeypatch.setenv("ALERTS_SMTP_PASSWORD", SMTP_PASSWORD)
        google = ("--credentials", str(credentials)) if kind == "google" else ()
        runs = [book.sync("--config", str(config), "--dry-run", *google),
                book.sync("--config", str(config), "--json", *google),
                book.sync("--config", str(config), *google)]
        assert [r.code for r in runs] == [0, 0, 0]
        assert http.posts and all(p["path"] == SECRET_PATH for p in http.posts)
    journals = list((tmp_path / "state").rglob("*.jsonl"))
    assert book.grid(schema.LEVELS)[2][6] == f"{hook}, ops@example.com"
    text = "\n".join([r.out + r.err for r in runs] + [_cells_the_tool_writes(book)]
                     + [j.read_text() for j in journals])
    assert "slack 127.0.0.1" in text and "failed" in text  # the failure itself is reported
    for secret in _secret_fragments(pem):
        assert secret not in text


def test_a_broken_credentials_file_is_reported_without_its_contents(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = make_book("google", tmp_path, [INPUT_HEADER, good_row()], monkeypatch)
    credentials, pem = _service_account(tmp_path / "sa.json")
    data = json.loads(credentials.read_text())
    del data["client_email"]
    data["private_key"] = pem.replace("A", "#")
    credentials.write_text(json.dumps(data))
    run = book.sync("--credentials", str(credentials))
    assert run.code == 1
    assert run.err.startswith(f"error: {credentials} is not a service-account key file (")
    for secret in _secret_fragments(pem.replace("A", "#")):
        assert secret not in run.out + run.err


def test_a_world_readable_credentials_file_is_warned_about(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = make_book("google", tmp_path, [INPUT_HEADER, good_row()], monkeypatch)
    credentials, _ = _service_account(tmp_path / "sa.json")
    credentials.chmod(0o644)
    run = book.sync("--quiet", "--credentials", str(credentials))
    assert run.code == 0
    assert f"chmod 600 {credentials}" in run.err

