"""The Google Sheets backend, with the real gspread client talking to the fake Sheets API."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import gspread.auth
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sheets_escalation.adapters.gsheets.backend import GoogleSheetsBackend
from sheets_escalation.adapters.gsheets.http import (
    RetryingHTTPClient,
    client_with_session,
    open_client,
)
from sheets_escalation.adapters.gsheets.values import to_api_value
from sheets_escalation.adapters.sources import parse_source_key
from sheets_escalation.core import errors, staleness
from sheets_escalation.core.table import CellWrite, WritePlan
from tests.fake_sheets import FakeSheetsAPI, Sheet, Spreadsheet
from tests.fixtures import KEY

HEADER = ["ID", "Opened", "Customer", "Notes", "Flag", "Why"]
ID, OPENED, CUSTOMER, NOTES, FLAG, WHY = range(6)
SERIAL = 46023.5  # 2026-01-01 12:00


def _rows(count: int) -> list[list[Any]]:
    return [[f"ESC-{n:04d}", SERIAL + n, f"Customer {n}", "", "", ""] for n in range(1, count + 1)]


def _book(fake: FakeSheetsAPI, count: int = 10) -> Spreadsheet:
    book = fake.add_spreadsheet(KEY, {
        "Escalations": [HEADER, *_rows(count)],
        "Settings": [["Key", "Value"], ["Timezone", ""], ["Last run", ""]],
        "History": [["At", "ID", "Event"], [SERIAL, "ESC-0001", "id assigned"]],
        "Notes of the team": [["never touched"]],
    }, time_zone="Europe/Paris")
    book.sheet("Escalations").rows[1][OPENED].fmt = {
        "numberFormat": {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"}}
    return book


@pytest.fixture
def fake() -> FakeSheetsAPI:
    return FakeSheetsAPI()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def _backend(fake: FakeSheetsAPI, sleeps: list[float], tmp_path: Path) -> GoogleSheetsBackend:
    client = client_with_session(fake.session())
    http = client.http_client
    assert isinstance(http, RetryingHTTPClient)
    http.sleep = sleeps.append  # type: ignore[method-assign]
    http.jitter = lambda low, high: high  # type: ignore[method-assign]
    return GoogleSheetsBackend(KEY, client, lock_dir=tmp_path / "locks")


@pytest.fixture
def backend(fake: FakeSheetsAPI, sleeps: list[float], tmp_path: Path) -> GoogleSheetsBackend:
    _book(fake)
    return _backend(fake, sleeps, tmp_path)


def _flag_plan(ids_rows: dict[str, int], now: dt.datetime) -> WritePlan:
    """Each row's Flag says its own ID, so a write on the wrong row shows."""
    return WritePlan(
        cells=[CellWrite("Escalations", row, FLAG, f"flag for {row_id}", row_id)
               for row_id, row in ids_rows.items()],
        appends={"History": [[now, "ESC-0002", "escalated"]]},
    )


def _assert_flags_follow_ids(book: Spreadsheet) -> None:
    for row in book.sheet("Escalations").values()[1:]:
        if len(row) > FLAG and row[FLAG]:
            assert row[FLAG] == f"flag for {row[ID]}"


# --------------------------------------------------------------------------- sources


@pytest.mark.parametrize(("source", "key"), [
    (f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=0", KEY),
    (f"https://docs.google.com/spreadsheets/d/{KEY}", KEY),
    (KEY, KEY),
    ("escalations.xlsx", None),
    ("data/escalations-2026-with-a-long-name.xlsx", None),
    ("short", None),
])
def test_parse_source_key(source: str, key: str | None) -> None:
    assert parse_source_key(source) == key


# --------------------------------------------------------------------------- reading


def test_read_returns_raw_ragged_rows_in_two_requests(fake: FakeSheetsAPI, backend: GoogleSheetsBackend) -> None:
    tables = backend.read(["Escalations", "Settings", "History", "VIP"])

    assert set(tables) == {"Escalations", "Settings", "History"}  # VIP does not exist
    esc = tables["Escalations"]
    assert esc.header == HEADER
    assert esc.body[0] == ["ESC-0001", SERIAL + 1, "Customer 1"]  # ragged, blanks trimmed
    assert tables["Settings"].rows == [["Key", "Value"], ["Timezone"], ["Last run"]]
    assert backend.spreadsheet_timezone() == "Europe/Paris"
    assert [c.kind for c in fake.log] == ["get", "values.batchGet"]
    batch = fake.log[1]
    assert batch.query["valueRenderOption"] == ["UNFORMATTED_VALUE"]
    assert batch.query["dateTimeRenderOption"] == ["SERIAL_NUMBER"]
    assert "Notes of the team" not in json.dumps(batch.query)
    assert "fields" in fake.log[0].query


def test_blank_cells_inside_a_row_read_as_none(fake: FakeSheetsAPI, backend: GoogleSheetsBackend) -> None:
    fake.books[KEY].sheet("Escalations").set_values([HEADER, ["ESC-1", "", "Acme", "x"], [], ["ESC-2"]])
    tables = backend.read(["Escalations"])
    assert tables["Escalations"].rows == [HEADER, ["ESC-1", None, "Acme", "x"], [], ["ESC-2"]]


def test_a_tab_title_differing_in_case_is_found(fake: FakeSheetsAPI, sleeps: list[float], tmp_path: Path) -> None:
    fake.add_spreadsheet(KEY, {"escalations ": [["ID"], ["ESC-1"]]})
    tables = _backend(fake, sleeps, tmp_path).read(["Escalations"])
    assert tables["Escalations"].title == "escalations "


# --------------------------------------------------------------------------- writing


def test_write_is_raw_so_customer_text_never_becomes_a_formula(fake: FakeSheetsAPI, backend: GoogleSheetsBackend) -> None:
    backend.read(["Escalations", "Settings", "History"])
    formula = '=HYPERLINK("http://evil.example","click")'
    when = dt.datetime(2026, 1, 2, 9, 30)
    backend.write(WritePlan(cells=[
        CellWrite("Escalations", 1, NOTES, formula, "ESC-0001"),
        CellWrite("Escalations", 1, FLAG, True, "ESC-0001"),
        CellWrite("Escalations", 1, WHY, when, "ESC-0001"),
        CellWrite("Escalations", 2, CUSTOMER, None, "ESC-0002"),
        CellWrite("Settings", 2, 1, when),
    ]))

    sheet = fake.books[KEY].sheet("Escalations")
    notes = sheet.cell(1, NOTES)
    assert notes is not None and notes.value == formula and notes.formula is None
    assert sheet.values()[1][FLAG:] == [True, pytest.approx(46024.3958333)]
    assert sheet.values()[2] == ["ESC-0002", SERIAL + 2]
    writes = fake.calls("values.batchUpdate")
    assert len(writes) == 1 and writes[0].body["valueInputOption"] == "RAW"
    assert not fake.calls("values.update") and not fake.calls("values.append")
    # contiguous cells of a row travel as one range
    assert [d["range"] for d in writes[0].body["data"]] == [
        "'Escalations'!D2:F2", "'Escalations'!C3:C3", "'Settings'!B3:B3"]


def test_to_api_value_writes_dates_as_serial_numbers() -> None:
    assert to_api_value(dt.datetime(2026, 1, 1, 12)) == SERIAL
    assert to_api_value(dt.date(2020, 1, 1)) == 43831
    assert to_api_value(float("nan")) == ""
    assert to_api_value(None) == ""
    with pytest.raises(ValueError, match="naive"):
        to_api_value(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


@pytest.mark.parametrize("count", [10, 2000])
def test_a_sync_costs_at_most_four_requests(fake: FakeSheetsAPI, sleeps: list[float], tmp_path: Path, count: int) -> None:
    _book(fake, count)
    backend = _backend(fake, sleeps, tmp_path)
    backend.read(["Escalations", "Settings", "History", "Levels", "Triggers"])
    plan = _flag_plan({f"ESC-{n:04d}": n for n in range(1, count + 1)}, dt.datetime(2026, 1, 3))
    plan.cells.append(CellWrite("Settings", 2, 1, dt.datetime(2026, 1, 3)))
    backend.write(plan)

    assert [c.kind for c in fake.log] == ["get", "values.batchGet", "values.batchGet", "values.batchUpdate"]
    # consecutive rows writing the same columns travel as one rectangle
    assert [d["range"] for d in fake.calls("values.batchUpdate")[0].body["data"]] == [
        f"'Escalations'!E2:E{count + 1}", "'Settings'!B3:B3", "'History'!A3:C3"]
    _assert_flags_follow_ids(fake.books[KEY])
    assert fake.books[KEY].sheet("History").values()[2][1:] == ["ESC-0002", "escalated"]


def test_an_empty_plan_sends_nothing(fake: FakeSheetsAPI, backend: GoogleSheetsBackend) -> None:
    backend.read(["Escalations"])
    backend.write(WritePlan())
    assert len(fake.log) == 2


def test_history_appends_land_after_rows_added_meanwhile(fake: FakeSheetsAPI, backend: GoogleSheetsBackend) -> None:
    backend.read(["Escalations", "History"])
    fake.before_next("values:batchGet", lambda f: f.books[KEY].sheet("History").insert_rows(
        2, [[SERIAL, "ESC-0009", "notified"]]))
    backend.write(WritePlan(appends={"History": [[SERIAL, "ESC-0003", "breached"]]}))
    assert [r[1] for r in fake.books[KEY].sheet("History").values()[1:]] == [
        "ESC-0001", "ESC-0009", "ESC-0003"]


# --------------------------------------------------------------------------- concurrent edits


def _sort_descending(fake: FakeSheetsAPI) -> None:
    fake.books[KEY].sheet("Escalations").sort_rows(lambda r: r[ID], reverse=True)


def _insert_at_top(fake: FakeSheetsAPI) -> None:
    fake.books[KEY].sheet("Escalations").insert_rows(1, [["ESC-0100", SERIAL, "New"]])


def _delete_third(fake: FakeSheetsAPI) -> None:
    fake.books[KEY].sheet("Escalations").delete_rows(3)


@pytest.mark.parametrize("edit", [_sort_descending, _insert_at_top, _delete_third])
def test_writes_follow_their_ids_when_rows_move(fake: FakeSheetsAPI, backend: GoogleSheetsBackend, edit: Any) -> None:
    backend.read(["Escalations", "History"])
    fake.before_next("values:batchGet", edit)
    backend.write(_flag_plan({"ESC-0001": 1, "ESC-0005": 5, "ESC-0010": 10}, dt.datetime(2026, 1, 3)))

    book = fake.books[KEY]
    _assert_flags_follow_ids(book)
    flagged = {r[ID] for r in book.sheet("Escalations").values()[1:] if len(r) > FLAG and r[FLAG]}
    assert flagged == {"ESC-0001", "ESC-0005", "ESC-0010"}
    assert len(fake.log) == 4


def _vanish(fake: FakeSheetsAPI) -> None:
    sheet = fake.books[KEY].sheet("Escalations")
    sheet.delete_rows(5)  # ESC-0005
    sheet.sort_rows(lambda r: r[ID], reverse=True)


def _duplicate(fake: FakeSheetsAPI) -> None:
    fake.books[KEY].sheet("Escalations").insert_rows(1, [["ESC-0005", SERIAL, "copy"]])


def _new_column(fake: FakeSheetsAPI) -> None:
    sheet = fake.books[KEY].sheet("Escalations")
    sheet.set_values([[*row[:2], "inserted", *row[2:]] for row in sheet.values()])


def _typed_id(fake: FakeSheetsAPI) -> None:
    fake.books[KEY].sheet("Escalations").rows[4][ID].value = "MINE-1"


@pytest.mark.parametrize(("edit", "message"), [
    (_vanish, "ID 'ESC-0005' is gone"),
    (_duplicate, "ID 'ESC-0005' is now on several rows"),
    (_new_column, "header row changed"),
])
def test_an_unplaceable_write_refuses_the_whole_plan(
    fake: FakeSheetsAPI, backend: GoogleSheetsBackend, edit: Any, message: str,
) -> None:
    backend.read(["Escalations", "History"])
    fake.before_next("values:batchGet", edit)
    before = fake.books[KEY].sheet("History").values()
    with pytest.raises(errors.ConcurrentEditError, match=message):
        backend.write(_flag_plan({"ESC-0001": 1, "ESC-0005": 5}, dt.datetime(2026, 1, 3)))
    assert not fake.calls("values.batchUpdate") and not fake.calls("batchUpdate")
    assert fake.books[KEY].sheet("History").values() == before


def test_a_new_id_is_refused_when_its_blank_row_was_taken(fake: FakeSheetsAPI, backend: GoogleSheetsBackend) -> None:
    fake.books[KEY].sheet("Escalations").rows[4][ID].value = None
    backend.read(["Escalations"])
    fake.before_next("values:batchGet", _typed_id)
    with pytest.raises(errors.ConcurrentEditError, match="row 5 is blank"):
        backend.write(WritePlan(cells=[CellWrite("Escalations", 4, ID, "ESC-0011", "")]))
    assert fake.books[KEY].sheet("Escalations").values()[4][ID] == "MINE-1"


def test_a_new_id_is_refused_when_rows_moved(fake: FakeSheetsAPI, backend: GoogleSheetsBackend) -> None:
    fake.books[KEY].sheet("Escalations").rows[4][ID].value = None
    backend.read(["Escalations"])
    fake.before_next("values:batchGet", _insert_at_top)
    with pytest.raises(errors.ConcurrentEditError):
        backend.write(WritePlan(cells=[CellWrite("Escalations", 4, ID, "ESC-0011", "")]))
    assert not fake.calls("values.batchUpdate")


def test_a_new_id_lands_when_nothing_moved(fake: FakeSheetsAPI, backend: GoogleSheetsBackend) -> None:
    fake.books[KEY].sheet("Escalations").rows[4][ID].value = None
    backend.read(["Escalations"])
    backend.write(WritePlan(cells=[CellWrite("Escalations", 4, ID, "ESC-0011", "")]))
    assert fake.books[KEY].sheet("Escalations").values()[4][ID] == "ESC-0011"


def test_a_settings_write_is_refused_when_settings_changed(fake: FakeSheetsAPI, backend: GoogleSheetsBackend) -> None:
    backend.read(["Settings"])
    fake.before_next("values:batchGet", lambda f: f.books[KEY].sheet("Settings").insert_rows(
        1, [["Work days", "Mon-Sat"]]))
    with pytest.raises(errors.ConcurrentEditError, match="Settings"):
        backend.write(WritePlan(cells=[CellWrite("Settings", 2, 1, "x")]))
    assert fake.books[KEY].sheet("Settings").values()[2] == ["Timezone"]


# --------------------------------------------------------------------------- structure


def test_new_tabs_and_grid_growth_travel_with_the_reread_and_the_values_follow(
    fake: FakeSheetsAPI, sleeps: list[float], tmp_path: Path,
) -> None:
    book = fake.add_spreadsheet(KEY, {"Escalations": [HEADER, *_rows(3)]})
    book.sheet("Escalations").row_count = 4
    backend = _backend(fake, sleeps, tmp_path)
    backend.read(["Escalations", "History"])
    backend.write(WritePlan(
        cells=[CellWrite("Escalations", 0, 7, "Problems")],
        new_tabs={"History": [["At", "ID", "Event"], [dt.datetime(2026, 1, 1, 12), "ESC-0001", "id assigned"]]},
        appends={"History": [[dt.datetime(2026, 1, 1, 12), "ESC-0001", "escalated"]]},
    ))
    assert [c.kind for c in fake.log] == ["get", "values.batchGet", "batchUpdate", "values.batchUpdate"]
    assert book.sheet("History").values() == [
        ["At", "ID", "Event"], [SERIAL, "ESC-0001", "id assigned"], [SERIAL, "ESC-0001", "escalated"]]
    (structure,) = fake.calls("batchUpdate")
    kinds = [next(iter(r)) for r in structure.body["requests"]]
    # The created History gets init's look (header, frozen row, widths, date formats,
    # the warning-only protection of what the tool writes).
    assert kinds[:3] == ["addSheet", "updateCells", "updateSheetProperties"]
    assert set(kinds[3:]) == {"repeatCell", "updateDimensionProperties", "addProtectedRange"}
    # Only the header goes with the tab; its rows are value writes like any other.
    assert len(structure.body["requests"][1]["updateCells"]["rows"]) == 1
    assert structure.body["responseRanges"] == ["'Escalations'!1:1", "'Escalations'!A:A"]
    (values,) = fake.calls("values.batchUpdate")
    assert [d["range"] for d in values.body["data"]] == ["'Escalations'!H1:H1", "'History'!A2:C3"]
    assert book.sheet("Escalations").values()[0][7] == "Problems"


def test_rows_beyond_the_grid_grow_it_with_headroom(fake: FakeSheetsAPI, sleeps: list[float], tmp_path: Path) -> None:
    book = _book(fake)
    book.sheet("History").row_count = 2
    backend = _backend(fake, sleeps, tmp_path)
    backend.read(["History"])
    backend.write(WritePlan(appends={"History": [[SERIAL, "ESC-0002", "escalated"]]}))
    assert book.sheet("History").row_count > 3
    assert fake.calls("batchUpdate")[0].body["requests"][0]["appendDimension"]["dimension"] == "ROWS"


def test_replacing_a_tab_keeps_its_id_and_drops_old_values(fake: FakeSheetsAPI, backend: GoogleSheetsBackend) -> None:
    book = fake.books[KEY]
    review = book.add_sheet("Review 2026-01", [["old"], ["stale", "stale"]])
    backend.read(["Escalations"])
    backend.write(WritePlan(replace_tabs={"Review 2026-01": [["Escalations", 3], ["By level", "=1+1"]]}))
    assert book.sheet("Review 2026-01").sheet_id == review.sheet_id
    assert book.sheet("Review 2026-01").values() == [["Escalations", 3], ["By level", "=1+1"]]
    assert book.sheet("Review 2026-01").cell(1, 1).formula is None  # type: ignore[union-attr]
    assert book.sheet("Notes of the team").values() == [["never touched"]]


class _Layout:
    """A tab formatter that also lays the tab out on Google Sheets (as ReviewLayout does)."""

    def __init__(self) -> None:
        self.sheet_ids: list[int] = []

    def __call__(self, worksheet: Any) -> None:
        raise AssertionError("only the xlsx backend calls the formatter itself")

    def sheet_requests(self, sheet_id: int) -> list[dict[str, Any]]:
        self.sheet_ids.append(sheet_id)
        column = {"sheetId": sheet_id, "startRowIndex": 0, "endRowIndex": 3,
                  "startColumnIndex": 1, "endColumnIndex": 2}
        return [
            {"repeatCell": {"range": {**column, "startRowIndex": 1},
                            "cell": {"userEnteredFormat": {"numberFormat": {"type": "PERCENT", "pattern": "0%"}}},
                            "fields": "userEnteredFormat(numberFormat)"}},
            {"addChart": {"chart": {
                "spec": {"title": "Share", "basicChart": {
                    "chartType": "COLUMN", "headerCount": 1,
                    "domains": [{"domain": {"sourceRange": {"sources": [{**column, "startColumnIndex": 0, "endColumnIndex": 1}]}}}],
                    "series": [{"series": {"sourceRange": {"sources": [column]}}}],
                }},
                "position": {"overlayPosition": {"anchorCell": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 3}}},
            }}},
        ]


def _old_review(book: Spreadsheet) -> Sheet:
    review = book.add_sheet("Review 2026-01", [["Level", "Share"], ["L1", 0.5], ["L2", 0.25], ["stale", 0.75]])
    review.rows[3][1].fmt = {"numberFormat": {"type": "PERCENT", "pattern": "0%"}}
    review.charts.append({"chartId": 7, "spec": {"title": "old"}, "position": {}})
    return review


def test_a_replaced_tab_with_a_layout_is_laid_out_and_loses_its_old_charts_in_one_batch(
    fake: FakeSheetsAPI, backend: GoogleSheetsBackend,
) -> None:
    review = _old_review(fake.books[KEY])
    layout = _Layout()
    backend.read(["Escalations"])
    backend.write(WritePlan(replace_tabs={"Review 2026-01": [["Level", "Share"], ["L1", 0.5], ["L2", 1.0]]},
                            tab_formatters={"Review 2026-01": layout}))

    assert [c.kind for c in fake.log] == ["get", "values.batchGet", "batchUpdate"]
    assert layout.sheet_ids == [review.sheet_id]
    kinds = [next(iter(r)) for r in fake.calls("batchUpdate")[0].body["requests"]]
    assert kinds == ["deleteEmbeddedObject", "updateCells", "updateCells", "repeatCell", "addChart"]
    tab = fake.books[KEY].sheet("Review 2026-01")
    assert tab.values() == [["Level", "Share"], ["L1", 0.5], ["L2", 1]]
    assert [c["spec"]["title"] for c in tab.charts] == ["Share"]
    assert _fmt(tab, 2, 1)["numberFormat"]["type"] == "PERCENT"
    stale = tab.cell(3, 1)
    assert stale is not None and stale.value is None and stale.fmt is None  # formats cleared


def test_a_new_tab_with_a_layout_gets_it_on_the_sheet_id_it_is_given(fake: FakeSheetsAPI, backend: GoogleSheetsBackend) -> None:
    layout = _Layout()
    backend.read(["Escalations"])
    backend.write(WritePlan(replace_tabs={"Review 2026-02": [["Level", "Share"], ["L1", 0.5], ["L2", 1.0]]},
                            tab_formatters={"Review 2026-02": layout}))
    tab = fake.books[KEY].sheet("Review 2026-02")
    assert layout.sheet_ids == [tab.sheet_id]
    assert tab.charts[0]["position"]["overlayPosition"]["anchorCell"]["sheetId"] == tab.sheet_id
    assert len(fake.calls("batchUpdate")) == 1


def test_a_formatter_for_xlsx_only_leaves_charts_and_formats_alone(fake: FakeSheetsAPI, backend: GoogleSheetsBackend) -> None:
    _old_review(fake.books[KEY])
    backend.read(["Escalations"])
    backend.write(WritePlan(replace_tabs={"Review 2026-01": [["Level"]]},
                            tab_formatters={"Review 2026-01": lambda worksheet: None}))
    tab = fake.books[KEY].sheet("Review 2026-01")
    assert tab.values() == [["Level"]]
    assert [c["chartId"] for c in tab.charts] == [7]
    assert _fmt(tab, 3, 1)["numberFormat"]["type"] == "PERCENT"


def test_the_fake_refuses_a_chart_reading_outside_the_grid(fake: FakeSheetsAPI, backend: GoogleSheetsBackend) -> None:
    backend.read(["Escalations"])
    sheet_id = fake.books[KEY].sheet("Escalations").sheet_id
    requests = _Layout().sheet_requests(sheet_id)
    requests[1]["addChart"]["chart"]["spec"]["basicChart"]["series"][0]["series"]["sourceRange"]["sources"][0][
        "endColumnIndex"] = 99
    with pytest.raises(errors.SourceError, match="HTTP 400.*series.0. is outside the grid"):
        client_with_session(fake.session()).http_client.batch_update(KEY, {"requests": requests[1:]})
    assert fake.books[KEY].sheet("Escalations").charts == []


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(("inject", "expected_sleeps"), [
    (lambda f: f.fail_next(2, 429, retry_after=7), [7.0, 7.0]),
    (lambda f: f.fail_next(1, 500), [1.0]),
    (lambda f: f.fail_next(3, 503), [1.0, 2.0, 4.0]),
    (lambda f: f.timeout_next(1), [1.0]),
    (lambda f: f.drop_next(1), [1.0]),
])
def test_transient_failures_are_retried_with_backoff(
    fake: FakeSheetsAPI, backend: GoogleSheetsBackend, sleeps: list[float], inject: Any, expected_sleeps: list[float],
) -> None:
    backend.read(["Escalations"])
    inject(fake)
    backend.write(WritePlan(cells=[CellWrite("Escalations", 1, FLAG, "OK", "ESC-0001")]))
    assert sleeps == expected_sleeps
    assert fake.books[KEY].sheet("Escalations").values()[1][FLAG] == "OK"


def test_a_retry_after_longer_than_the_backoff_is_honoured(fake: FakeSheetsAPI, backend: GoogleSheetsBackend, sleeps: list[float]) -> None:
    fake.fail_next(1, 429, retry_after=30)
    backend.read(["Escalations"])
    assert sleeps == [30.0]


def test_an_exhausted_retry_budget_is_one_line_and_writes_nothing(fake: FakeSheetsAPI, backend: GoogleSheetsBackend, sleeps: list[float]) -> None:
    backend.read(["Escalations", "History"])
    before = fake.books[KEY].sheet("Escalations").values()
    fake.fail_next(5, 503, match="values:batchUpdate")
    with pytest.raises(errors.SourceError) as caught:
        backend.write(_flag_plan({"ESC-0001": 1}, dt.datetime(2026, 1, 3)))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Google Sheets did not answer after 5 attempts (last: HTTP 503")
    assert len(sleeps) == 4 and max(sleeps) <= 32
    assert fake.books[KEY].sheet("Escalations").values() == before


def test_backoff_is_capped(fake: FakeSheetsAPI, backend: GoogleSheetsBackend, sleeps: list[float]) -> None:
    http = backend._http
    assert isinstance(http, RetryingHTTPClient)
    http.attempts = 9
    fake.fail_next(8, 500)
    backend.read(["Escalations"])
    assert sleeps == [1, 2, 4, 8, 16, 32, 32, 32]


def test_not_found_says_so(fake: FakeSheetsAPI, sleeps: list[float], tmp_path: Path) -> None:
    with pytest.raises(errors.SourceError, match=f"^spreadsheet {KEY} not found: check the URL or key"):
        _backend(fake, sleeps, tmp_path).read(["Escalations"])
    assert sleeps == []


# --------------------------------------------------------------------------- credentials


def _service_account_file(tmp_path: Path) -> tuple[Path, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    email = "escalations-bot@acme-support.iam.gserviceaccount.com"
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "acme-support", "private_key_id": "0" * 40,
        "private_key": pem, "client_email": email, "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }))
    path.chmod(0o600)  # as a key file should be; a readable one is warned about
    return path, email


def test_forbidden_names_the_account_to_share_with_and_never_the_token(fake: FakeSheetsAPI, tmp_path: Path) -> None:
    path, email = _service_account_file(tmp_path)
    fake.add_spreadsheet(KEY, private=True)
    client = open_client(None, oauth=False, session=fake.session(),
                         environ={"GOOGLE_APPLICATION_CREDENTIALS": str(path)})
    with pytest.raises(errors.SourceError) as caught:
        GoogleSheetsBackend(KEY, client, lock_dir=tmp_path).read(["Escalations"])
    assert str(caught.value) == f"no access to spreadsheet {KEY}: share the sheet with {email} (Editor)"
    assert fake.token_requests == 1
    assert fake.log[0].headers["Authorization"] == "Bearer fake-access-token-never-printed"
    assert "token" not in str(caught.value)


def test_service_account_asks_for_the_spreadsheets_scope_only(fake: FakeSheetsAPI, tmp_path: Path) -> None:
    path, _ = _service_account_file(tmp_path)
    client = open_client(str(path), oauth=False, session=fake.session())
    credentials = client.http_client.session.credentials  # type: ignore[attr-defined]
    assert list(credentials.scopes) == ["https://www.googleapis.com/auth/spreadsheets"]


def test_missing_credentials_are_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setattr(gspread.auth, "DEFAULT_SERVICE_ACCOUNT_FILENAME", tmp_path / "none.json")
    monkeypatch.setattr(Path, "home", lambda: tmp_path)
    with pytest.raises(errors.SourceError, match="no Google credentials"):
        open_client(None, oauth=False, environ={}, session=FakeSheetsAPI().session())
    with pytest.raises(errors.SourceError, match="credentials file not found: nope.json"):
        open_client("nope.json", oauth=False, environ={})


def test_oauth_uses_gspreads_cached_authorized_user(fake: FakeSheetsAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = tmp_path / "authorized_user.json"
    cached.write_text(json.dumps({
        "type": "authorized_user", "client_id": "id", "client_secret": "secret",
        "refresh_token": "refresh", "token_uri": "https://oauth2.googleapis.com/token",
    }))
    monkeypatch.setattr(gspread.auth, "DEFAULT_AUTHORIZED_USER_FILENAME", cached)
    _book(fake)
    client = open_client(None, oauth=True, session=fake.session())
    tables = GoogleSheetsBackend(KEY, client, lock_dir=tmp_path).read(["Escalations"])
    assert tables["Escalations"].header == HEADER
    assert fake.token_requests == 1


def test_forbidden_under_oauth_points_at_the_signed_in_account(fake: FakeSheetsAPI, sleeps: list[float], tmp_path: Path) -> None:
    fake.add_spreadsheet(KEY, private=True)
    with pytest.raises(errors.SourceError, match="share the sheet with the Google account you signed in with"):
        _backend(fake, sleeps, tmp_path).read(["Escalations"])


# --------------------------------------------------------------------------- lock


def test_a_second_sync_on_the_same_sheet_is_refused(backend: GoogleSheetsBackend, tmp_path: Path) -> None:
    other = GoogleSheetsBackend(KEY, client_with_session(FakeSheetsAPI().session()), lock_dir=tmp_path / "locks")
    with backend.lock():
        with pytest.raises(errors.LockHeldError, match=f"another sync is running on sheet {KEY}"):
            with other.lock():
                pass
    with other.lock():
        pass


# --------------------------------------------------------------------------- init --sheet


def _fmt(sheet: Sheet, row: int, col: int) -> dict[str, Any]:
    cell = sheet.cell(row, col)
    assert cell is not None and cell.fmt is not None
    return cell.fmt


def _layout_state(book: Spreadsheet) -> dict[str, Any]:
    return {
        sheet.title: (sheet.values(), len(sheet.conditional_formats), len(sheet.protected_ranges),
                      len(sheet.validations), sheet.frozen_rows, sheet.frozen_cols)
        for sheet in book.sheets
    }


def test_init_lays_out_an_empty_sheet_and_a_second_run_adds_nothing(fake: FakeSheetsAPI, sleeps: list[float]) -> None:
    from sheets_escalation.adapters.gsheets.init import init_sheet
    from sheets_escalation.core import schema

    book = fake.add_spreadsheet(KEY)  # a new Google Sheet: one empty Sheet1
    client = client_with_session(fake.session())

    added = init_sheet(client, KEY)

    assert added == ["Escalations", "Levels", "Triggers", "Settings", "Holidays", "VIP", "History", "Templates"]
    assert [s.title for s in book.sheets] == ["Sheet1", *added]
    assert [c.kind for c in fake.log] == ["get", "batchUpdate"]
    esc = book.sheet("Escalations")
    assert esc.values() == [[c.header for c in schema.ESCALATION_COLUMNS]]
    assert (esc.frozen_rows, esc.frozen_cols) == (1, 1)
    flag = [c.header for c in schema.ESCALATION_COLUMNS].index("Flag")
    assert _fmt(esc, 0, flag)["textFormat"]["bold"] is True
    assert _fmt(esc, 5, 1)["numberFormat"]["type"] == "DATE_TIME"  # Opened, rows not yet typed
    level = [c.header for c in schema.ESCALATION_COLUMNS].index("Level")
    assert esc.validations[(1, level)]["condition"]["values"] == [
        {"userEnteredValue": v} for v in ("L1", "L2", "L3")]
    assert esc.validations[(1, level)]["strict"] is True
    # Flag, Response SLA, Resolution SLA, and the indicator and header row red while the
    # sync has stopped
    assert len(esc.conditional_formats) == len(schema.FLAGS) + 2 * len(schema.SLA_STATES) + 2
    (protection,) = esc.protected_ranges
    assert protection["warningOnly"] is True
    assert protection["range"]["startColumnIndex"] == flag
    assert protection["range"]["endColumnIndex"] == len(schema.ESCALATION_COLUMNS)
    assert book.sheet("Triggers").values()[2][0] == "Manager requested"
    settings = book.sheet("Settings")
    last_run_row = [r[0] for r in settings.values()].index("Last run")
    assert _fmt(settings, last_run_row, 1)["numberFormat"]["type"] == "DATE_TIME"

    before = _layout_state(book)
    assert init_sheet(client, KEY) == []
    assert _layout_state(book) == before


def test_init_keeps_every_existing_value_and_follows_moved_columns(fake: FakeSheetsAPI) -> None:
    from sheets_escalation.adapters.gsheets.init import init_sheet

    book = fake.add_spreadsheet(KEY, {
        "Escalations": [["Customer", "Flag", "ID", "My column"], ["Acme", "OK", "ESC-0001", "=1+1"]],
        "Settings": [["Key", "Value"], ["Timezone", "Europe/Paris"]],
        "Levels": [],
    })
    init_sheet(client_with_session(fake.session()), KEY)

    esc = book.sheet("Escalations")
    assert esc.values() == [["Customer", "Flag", "ID", "My column"], ["Acme", "OK", "ESC-0001", "=1+1"]]
    # Empty cells only: the staleness indicator right of every column in use, which reads
    # Settings' Key and Value columns, and a Stale after row at the end of Settings.
    assert esc.cell(0, 4).formula == staleness.formula("A", "B")  # type: ignore[union-attr]
    assert book.sheet("Settings").values() == [["Key", "Value"], ["Timezone", "Europe/Paris"],
                                               ["Stale after", "2 hours"]]
    assert book.sheet("Levels").values()[1][0] == "L1"  # an empty template tab is filled
    # Flag's colours, and when stale the indicator red and the header cells left of it
    assert {(r["ranges"][0]["startColumnIndex"], r["ranges"][0].get("endColumnIndex"))
            for r in esc.conditional_formats} == {(1, 2), (0, 4), (4, 5)}
    (protection,) = esc.protected_ranges
    assert (protection["range"]["startColumnIndex"], protection["range"]["endColumnIndex"]) == (1, 2)


# --------------------------------------------------------------------------- the whole sync


def _as_google(value: Any) -> Any:
    return to_api_value(value) if isinstance(value, dt.date) else value


def _comparable(rows: list[list[Any]]) -> list[list[Any]]:
    out = []
    for values in rows:
        cells = [None if v == "" else (round(v, 6) if isinstance(v, float) else v)
                 for v in map(_as_google, values)]
        while cells and cells[-1] is None:
            cells.pop()
        out.append(cells)
    while out and not out[-1]:
        out.pop()
    return out


def test_sync_on_google_matches_xlsx_and_a_rerun_writes_only_last_run(fake: FakeSheetsAPI, tmp_path: Path) -> None:
    import openpyxl
    import pandas as pd

    from sheets_escalation.adapters.xlsx.backend import XlsxBackend
    from sheets_escalation.jobs.sync import run_sync
    from tests.fixtures import GOLDEN_NOW, write_golden

    path = write_golden(tmp_path / "golden.xlsx")
    book = fake.add_spreadsheet(KEY, {
        ws.title: [[_as_google(v) for v in r] for r in ws.iter_rows(values_only=True)]
        for ws in openpyxl.load_workbook(path).worksheets
    }, time_zone="UTC")
    backend = GoogleSheetsBackend(KEY, client_with_session(fake.session()), lock_dir=tmp_path)
    now = pd.Timestamp(GOLDEN_NOW)

    run_sync(backend, now)
    run_sync(XlsxBackend(path), now)

    assert [c.kind for c in fake.log] == ["get", "values.batchGet", "values.batchGet", "values.batchUpdate"]
    after = openpyxl.load_workbook(path)
    for title in ("Escalations", "History"):
        assert _comparable(book.sheet(title).values()) == _comparable(
            [list(r) for r in after[title].iter_rows(values_only=True)]), title

    fake.log.clear()
    run_sync(backend, now + pd.Timedelta(minutes=5))
    assert len(fake.log) == 4
    (write,) = fake.calls("values.batchUpdate")
    assert [d["range"] for d in write.body["data"]] == ["'Settings'!B9:B9"]
    assert all(c.body["valueInputOption"] == "RAW" for c in fake.calls("values.batchUpdate"))


def test_quota_429s_are_retried_for_one_quota_window(fake: FakeSheetsAPI, backend: GoogleSheetsBackend,
                                                     sleeps: list[float]) -> None:
    # Google's write quota is per minute: ~15 s of backoff gave up while it was still empty.
    fake.fail_next(7, 429)
    backend.read(["Escalations"])
    assert sleeps == [1, 2, 4, 8, 16, 32, 7]
    assert sum(sleeps) == 70


def test_quota_429s_past_the_window_are_one_line(fake: FakeSheetsAPI, backend: GoogleSheetsBackend,
                                                  sleeps: list[float]) -> None:
    fake.fail_next(20, 429, retry_after=30)
    with pytest.raises(errors.SourceError) as caught:
        backend.read(["Escalations"])
    assert sleeps == [30, 30, 10]
    assert str(caught.value).startswith(
        "Google Sheets did not answer after 4 attempts (last: HTTP 429 Quota exceeded")


def test_a_retried_add_sheet_that_google_had_applied_does_not_fail_the_run(
        fake: FakeSheetsAPI, backend: GoogleSheetsBackend, sleeps: list[float]) -> None:
    book = fake.books[KEY]
    book.sheets.remove(book.sheet("History"))
    backend.read(["Escalations", "History"])
    fake.lose_answer_next(1, match=":batchUpdate")

    backend.write(WritePlan(
        cells=[CellWrite("Escalations", 1, FLAG, "OK", "ESC-0001")],
        new_tabs={"History": [["At", "ID", "Event"], [dt.datetime(2026, 1, 1, 12), "ESC-0001", "id assigned"]]},
    ))

    assert [s.title for s in book.sheets].count("History") == 1
    assert book.sheet("History").values() == [["At", "ID", "Event"], [SERIAL, "ESC-0001", "id assigned"]]
    assert book.sheet("Escalations").values()[1][FLAG] == "OK"
