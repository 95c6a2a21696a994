"""A sync with growing grids still costs four requests: the structure rides in the re-read.

When the plan needs structure (a tab created, a grid grown), request 3 is one
``spreadsheets.batchUpdate`` carrying it, whose answer returns the re-read ranges; request 4
is the same RAW ``values:batchUpdate`` a sync sends when no structure is needed, so the cells
stored are exactly those a roomy sheet gets.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sheets_escalation.adapters.gsheets.backend import GoogleSheetsBackend
from sheets_escalation.adapters.gsheets.http import client_with_session
from sheets_escalation.adapters.gsheets.values import grids_in_response
from sheets_escalation.core import errors, schema
from sheets_escalation.core.table import CellWrite, WritePlan
from tests.support.both_backends import INPUT_HEADER, KEY, Book, good_row, make_book
from tests.support.fake_sheets import Cell, FakeSheetsAPI, Sheet

LONG_AGO = dt.datetime(2026, 11, 20, 9, 0)  # unresolved for over a business day at NOW
FORMULA_TEXTS = ['=HYPERLINK("http://evil.test","x")', "+1", "=1+1", "-2+3", "@SUM(A1)", "'=quoted"]
BOLD = {"textFormat": {"bold": True}}
DATE_FORMAT = {"numberFormat": {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"}}


def _cells(sheet: Sheet) -> list[list[tuple[Any, Any, Any]]]:
    """Every stored cell as (value, formula, format), empty trailing cells and rows cut."""
    out = []
    for row in sheet.rows:
        cells = [(c.value, c.formula, c.fmt) for c in row]
        while cells and cells[-1] == (None, None, None):
            cells.pop()
        out.append(cells)
    while out and not out[-1]:
        out.pop()
    return out


def _stored(book: Book) -> dict[str, list[list[tuple[Any, Any, Any]]]]:
    return {sheet.title: _cells(sheet) for sheet in book.fake.books[KEY].sheets}


def _escalations() -> list[list[Any]]:
    """A blank ID to assign, rows escalated on their first sync, and formula-looking text
    a person typed (stored as text) that History copies."""
    return [
        INPUT_HEADER,
        good_row(ID=None, Customer="New Co"),
        *(good_row(ID=text, Customer=text, Opened=LONG_AGO, Handler=text) for text in FORMULA_TEXTS),
        good_row(ID="ESC-0002", Customer="Calm Co"),
    ]


def _first_sync_book(directory: Path, monkeypatch: pytest.MonkeyPatch, roomy: bool,
                     blank_id: bool = True) -> Book:
    """The same sheet either with grids roomy enough for every write, or with the grids
    of a sheet people made: History just holding its header, Escalations 26 columns wide
    (the owned columns do not fit). A few cells the tool writes carry formats. Without
    ``blank_id``, every row has its ID (rows can be tracked when they move)."""
    rows = _escalations() if blank_id else [r for r in _escalations() if r[0] is not None]
    book = make_book("google", directory, rows, monkeypatch)
    spreadsheet = book.fake.books[KEY]
    history, escalations = spreadsheet.sheet(schema.HISTORY), spreadsheet.sheet(schema.ESCALATIONS)
    if roomy:
        history.row_count, escalations.col_count = 5000, 60
    else:
        history.row_count = len(history.rows)
        assert escalations.col_count < len(INPUT_HEADER) + len(schema.OWNED_COLUMNS)
    id_cell = escalations.cell(1, INPUT_HEADER.index("ID"), create=True)
    at_cell = escalations.cell(2, INPUT_HEADER.index("Escalated at"), create=True)
    assert id_cell is not None and at_cell is not None
    id_cell.fmt, at_cell.fmt = BOLD, DATE_FORMAT
    return book


def test_a_first_sync_growing_grids_costs_four_requests_and_stores_what_roomy_grids_get(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    roomy = _first_sync_book(tmp_path / "roomy", monkeypatch, roomy=True)
    assert roomy.sync("--quiet").code == 0
    tight = _first_sync_book(tmp_path / "tight", monkeypatch, roomy=False)
    run = tight.sync("--quiet")

    assert run.code == 0, run.err
    assert [c.kind for c in roomy.fake.log] == ["get", "values.batchGet", "values.batchGet",
                                                "values.batchUpdate"]
    assert [c.kind for c in tight.fake.log] == ["get", "values.batchGet", "batchUpdate",
                                                "values.batchUpdate"]
    (structure,) = tight.fake.calls("batchUpdate")
    assert [next(iter(r)) for r in structure.body["requests"]] == ["appendDimension"] * 2
    assert structure.body["includeSpreadsheetInResponse"] is True
    reread = roomy.fake.calls("values.batchGet")[1].query["ranges"]
    assert structure.body["responseRanges"] == reread  # the same ranges, read after growing
    (roomy_write,), (tight_write,) = roomy.fake.calls("values.batchUpdate"), tight.fake.calls(
        "values.batchUpdate")
    assert tight_write.body == roomy_write.body

    assert _stored(tight) == _stored(roomy)
    sheet = tight.fake.books[KEY].sheet(schema.ESCALATIONS)
    header = [c.value for c in sheet.rows[0]]
    assert header[: len(INPUT_HEADER)] == INPUT_HEADER and "Flag" in header
    assert sheet.cell(1, INPUT_HEADER.index("ID")).fmt == BOLD  # type: ignore[union-attr]
    escalated_at = sheet.cell(2, INPUT_HEADER.index("Escalated at"))
    assert escalated_at is not None and escalated_at.fmt == DATE_FORMAT
    assert isinstance(escalated_at.value, float)  # written, format kept
    history = tight.fake.books[KEY].sheet(schema.HISTORY)
    assert history.row_count > len(history.values())


def test_formula_looking_text_copied_into_history_stays_text(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = _first_sync_book(tmp_path, monkeypatch, roomy=False)
    assert book.sync("--quiet").code == 0

    (write,) = book.fake.calls("values.batchUpdate")
    assert write.body["valueInputOption"] == "RAW"
    assert "formulaValue" not in json.dumps(book.fake.calls("batchUpdate")[0].body)
    history = book.fake.books[KEY].sheet(schema.HISTORY).values()
    escalated = {r[1]: r for r in history if r[2] == "escalated"}
    assert set(escalated) == set(FORMULA_TEXTS)
    for sheet in book.fake.books[KEY].sheets:
        assert [c for row in sheet.rows for c in row if c.formula] == [], sheet.title
    records = {r["ID"]: r for r in book.records()}
    assert {records[t]["Handler"] for t in FORMULA_TEXTS} == set(FORMULA_TEXTS)


def test_rows_sorted_just_before_the_structural_reread_are_followed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    roomy = _first_sync_book(tmp_path / "roomy", monkeypatch, roomy=True, blank_id=False)
    assert roomy.sync("--quiet").code == 0
    book = _first_sync_book(tmp_path / "tight", monkeypatch, roomy=False, blank_id=False)

    def sort_by_customer(fake: FakeSheetsAPI) -> None:
        fake.books[KEY].sheet(schema.ESCALATIONS).sort_rows(lambda r: str(r[2]), reverse=True)

    book.fake.before_next(f"{KEY}:batchUpdate", sort_by_customer)
    assert book.sync("--quiet").code == 0
    assert [c.kind for c in book.fake.log][2:] == ["batchUpdate", "values.batchUpdate"]
    moved = {r["Customer"]: r for r in book.records()}
    assert [r["Customer"] for r in book.records()] != [r["Customer"] for r in roomy.records()]
    for record in roomy.records():
        assert moved[record["Customer"]] == record, record["Customer"]


def test_a_row_deleted_before_the_structural_reread_refuses_every_value_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = _first_sync_book(tmp_path, monkeypatch, roomy=False)
    before = {title: [[v for v, _, _ in row] for row in rows] for title, rows in _stored(book).items()}
    book.fake.before_next(f"{KEY}:batchUpdate",
                          lambda fake: fake.books[KEY].sheet(schema.ESCALATIONS).delete_rows(3))
    run = book.sync("--quiet")

    assert run.code == 1
    assert "rows of Escalations moved while the job ran" in run.err
    assert [c.kind for c in book.fake.log][2:] == ["batchUpdate"]  # the structure, no values
    after = {title: [[v for v, _, _ in row] for row in rows] for title, rows in _stored(book).items()}
    assert after == {**before, schema.ESCALATIONS: before[schema.ESCALATIONS][:3]
                     + before[schema.ESCALATIONS][4:]}
    assert book.fake.books[KEY].sheet(schema.HISTORY).row_count > 1  # grown, and harmless
    assert book.sync("--quiet").code == 0
    assert [c.kind for c in book.fake.log][-2:] == ["values.batchGet", "values.batchUpdate"]


# --------------------------------------------------------------------------- backend level


def _sheet_backend(fake: FakeSheetsAPI, tmp_path: Path, history_rows: int) -> GoogleSheetsBackend:
    book = fake.add_spreadsheet(KEY, {
        "Escalations": [["ID", "Flag", "Why", "Count"], ["ESC-0001", "old", "old", 3],
                        ["ESC-0002", "old", "old", 4]],
        "History": [["At", "ID", "Event", "Detail"]],
    })
    book.sheet("History").row_count = history_rows
    flag = book.sheet("Escalations").cell(1, 1)
    assert flag is not None
    flag.fmt = BOLD
    return GoogleSheetsBackend(KEY, client_with_session(fake.session()), lock_dir=tmp_path)


def _every_kind_of_value() -> WritePlan:
    when = dt.datetime(2026, 1, 2, 9, 30)
    return WritePlan(
        cells=[
            CellWrite("Escalations", 1, 1, "=1+1", "ESC-0001"),
            CellWrite("Escalations", 1, 2, None, "ESC-0001"),  # a blank empties the cell
            CellWrite("Escalations", 1, 3, np.int64(7), "ESC-0001"),
            CellWrite("Escalations", 2, 1, True, "ESC-0002"),
            CellWrite("Escalations", 2, 2, float("nan"), "ESC-0002"),
            CellWrite("Escalations", 2, 3, 2.5, "ESC-0002"),
        ],
        appends={"History": [
            [when, "ESC-0001", text, dt.date(2026, 1, 2)] for text in FORMULA_TEXTS
        ] + [[when, "ESC-0002", "0012", False]]},
    )


def test_a_write_growing_a_grid_stores_exactly_what_the_roomy_write_stores(tmp_path: Path) -> None:
    raw, grown = FakeSheetsAPI(), FakeSheetsAPI()
    for fake, rows in ((raw, 1000), (grown, 1)):
        backend = _sheet_backend(fake, tmp_path, rows)
        backend.read(["Escalations", "History"])
        backend.write(_every_kind_of_value())

    assert [c.kind for c in raw.log][2:] == ["values.batchGet", "values.batchUpdate"]
    assert [c.kind for c in grown.log][2:] == ["batchUpdate", "values.batchUpdate"]
    assert grown.log[-1].body == raw.log[-1].body
    stored = {s.title: _cells(s) for s in grown.books[KEY].sheets}
    assert stored == {s.title: _cells(s) for s in raw.books[KEY].sheets}
    escalations = stored["Escalations"]
    assert escalations[1] == [("ESC-0001", None, None), ("=1+1", None, BOLD), (None, None, None),
                              (7, None, None)]
    assert escalations[2] == [("ESC-0002", None, None), (True, None, None), (None, None, None),
                              (2.5, None, None)]
    assert [r[2] for r in grown.books[KEY].sheet("History").values()[1:]] == [*FORMULA_TEXTS, "0012"]


def test_ids_are_read_back_from_the_answer_as_the_values_reread_returns_them(tmp_path: Path) -> None:
    """A formula, a number, a date, a boolean and a blank in the ID column: rows moved just
    before the re-read are found alike through the batchUpdate answer (effectiveValue) and
    through values:batchGet (UNFORMATTED_VALUE, SERIAL_NUMBER)."""
    for history_rows in (1000, 1):
        fake = FakeSheetsAPI()
        fake.add_spreadsheet(KEY, {
            "Escalations": [["ID", "Flag", "Why", "Count"], [None, "formula"], ["ESC-0002", "text"],
                            [None, "blank"], [46000.5, "date"], [True, "boolean"]],
            "History": [["At", "ID", "Event", "Detail"]],
        })
        sheet = fake.books[KEY].sheet("Escalations")
        sheet.rows[1][0].value, sheet.rows[1][0].formula = 12, "=10+2"
        sheet.rows[4][0].fmt = DATE_FORMAT
        fake.books[KEY].sheet("History").row_count = history_rows
        backend = GoogleSheetsBackend(KEY, client_with_session(fake.session()), lock_dir=tmp_path)
        backend.read(["Escalations", "History"])
        fake.before_next(":batch", lambda f: f.books[KEY].sheet("Escalations").sort_rows(
            lambda values: str(values[1]), reverse=True))
        backend.write(WritePlan(
            cells=[CellWrite("Escalations", row, 3, f"for {flag}", row_id) for row, flag, row_id in (
                (1, "formula", "12"), (2, "text", "ESC-0002"), (4, "date", "46000.5"),
                (5, "boolean", "True"))],
            appends={"History": [["x"]]}))

        assert fake.log[2].kind == ("values.batchGet" if history_rows > 1 else "batchUpdate")
        rows = fake.books[KEY].sheet("Escalations").values()[1:]
        assert [r[1] for r in rows] == ["text", "formula", "date", "boolean", "blank"]
        assert {r[1]: r[3] if len(r) > 3 else None for r in rows} == {
            "formula": "for formula", "text": "for text", "blank": None, "date": "for date",
            "boolean": "for boolean"}, history_rows


# --------------------------------------------------------------------------- the fake


def _batch(fake: FakeSheetsAPI, requests: list[dict[str, Any]]) -> Any:
    session = fake.session()
    return session.post(f"https://sheets.googleapis.com/v4/spreadsheets/{KEY}:batchUpdate",
                        json={"requests": requests})


def _cells_at(sheet_id: int, row: int, rows: list[list[Any]]) -> dict[str, Any]:
    return {"updateCells": {
        "start": {"sheetId": sheet_id, "rowIndex": row, "columnIndex": 0},
        "rows": [{"values": [{"userEnteredValue": {"stringValue": v}} if v else {} for v in r]}
                 for r in rows],
        "fields": "userEnteredValue",
    }}


def test_the_fake_applies_a_batch_in_order_and_all_or_nothing() -> None:
    fake = FakeSheetsAPI()
    book = fake.add_spreadsheet(KEY, {"Log": [["a", "b"]]})
    sheet = book.sheet("Log")
    sheet.row_count = 2
    grow = {"appendDimension": {"sheetId": sheet.sheet_id, "dimension": "ROWS", "length": 2}}

    past_grid = _batch(fake, [_cells_at(sheet.sheet_id, 1, [["x"]]), _cells_at(sheet.sheet_id, 2, [["y"]])])
    assert past_grid.status_code == 400
    assert past_grid.json()["error"]["message"].startswith("Invalid requests[1].updateCells:")
    assert "exceeds grid limits" in past_grid.json()["error"]["message"]
    assert (sheet.values(), sheet.row_count) == ([["a", "b"]], 2)  # requests[0] not applied

    failing_last = _batch(fake, [grow, _cells_at(sheet.sheet_id, 2, [["y"]]),
                                 {"appendDimension": {"sheetId": 999, "dimension": "ROWS", "length": 1}}])
    assert failing_last.status_code == 400
    sheet = book.sheet("Log")
    assert (sheet.values(), sheet.row_count) == ([["a", "b"]], 2)

    ok = _batch(fake, [grow, _cells_at(sheet.sheet_id, 2, [["y", "z"]]), _cells_at(sheet.sheet_id, 3, [["w"]])])
    assert ok.status_code == 200
    sheet = book.sheet("Log")
    assert (sheet.values(), sheet.row_count) == ([["a", "b"], [], ["y", "z"], ["w"]], 4)


def test_the_fake_writes_only_the_given_cells_from_a_start() -> None:
    fake = FakeSheetsAPI()
    book = fake.add_spreadsheet(KEY, {"Log": [["a", "b", "c"], ["d", "e", "f"]]})
    sheet_id = book.sheet("Log").sheet_id
    assert _batch(fake, [_cells_at(sheet_id, 0, [["x", "", "z"], ["y"]])]).status_code == 200
    assert book.sheet("Log").values() == [["x", None, "z"], ["y", "e", "f"]]


def test_the_fake_stores_a_string_value_as_text_even_when_it_looks_like_a_formula() -> None:
    fake = FakeSheetsAPI()
    book = fake.add_spreadsheet(KEY, {"Log": [[]]})
    assert _batch(fake, [_cells_at(book.sheet("Log").sheet_id, 0, [FORMULA_TEXTS])]).status_code == 200
    row = book.sheet("Log").rows[0]
    assert [(c.value, c.formula) for c in row] == [(t, None) for t in FORMULA_TEXTS]


def test_rows_typed_into_the_last_free_rows_before_the_reread_grow_the_grid_in_one_more_request(
        tmp_path: Path) -> None:
    fake = FakeSheetsAPI()
    backend = _sheet_backend(fake, tmp_path, history_rows=3)  # header + 2 free rows
    backend.read(["Escalations", "History"])

    def type_two_rows(f: FakeSheetsAPI) -> None:
        history = f.books[KEY].sheet("History")
        history.rows[1:] = [[Cell("typed 1")], [Cell("typed 2")]]

    fake.before_next(":batch", type_two_rows)
    backend.write(WritePlan(appends={"History": [["x", "ESC-0001", "escalated"]]}))

    assert [c.kind for c in fake.log][2:] == ["values.batchGet", "batchUpdate", "values.batchUpdate"]
    assert next(iter(fake.calls("batchUpdate")[0].body["requests"][0])) == "appendDimension"
    assert [r[0] for r in fake.books[KEY].sheet("History").values()] == ["At", "typed 1", "typed 2", "x"]


def test_the_answer_s_grid_data_is_matched_to_the_ranges_by_their_first_column() -> None:
    sheets: list[dict[str, Any]] = [{"properties": {"title": "It's"}, "data": [
        {"startColumn": 2, "rowData": [{"values": [{"effectiveValue": {"stringValue": "ID"}}]}, {},
                                       {"values": [{"effectiveValue": {"numberValue": 7}}]}]},
        {"rowData": [{"values": [{"effectiveValue": {"stringValue": "At"}}, {},
                                 {"effectiveValue": {"stringValue": "ID"}}, {}]}]},
    ]}, {"properties": {"title": "Settings"}, "data": [{"rowData": [
        {"values": [{"effectiveValue": {"errorValue": {"type": "N_A"}}, "formattedValue": "#N/A"},
                    {"effectiveValue": {"boolValue": False}}]}, {"values": [{}]}]}]}]
    grids = grids_in_response(sheets, ["'It''s'!1:1", "'It''s'!C:C", "'Settings'"])
    assert grids == [[["At", None, "ID"]], [["ID"], [], [7]], [["#N/A", False]]]
    with pytest.raises(errors.SourceError, match="lacks the range 'Settings'!B:B"):
        grids_in_response(sheets, ["'Settings'!B:B"])
