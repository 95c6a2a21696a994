"""No request body over Google's 10 MiB limit: big writes are split, History rows last.

Google refuses any request body over 10,485,760 bytes (HTTP 400 "Request payload size
exceeds the limit"), and so does the fake. The backend keeps every body under
``gsheets.MAX_REQUEST_BYTES``; the tests lower that cap (and the fake's limit) so a few
hundred rows stand for a hundred thousand.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from sheets_escalation.adapters.gsheets import payload as gsheets
from sheets_escalation.adapters.gsheets.backend import (
    UPDATED_SPREADSHEET_FIELDS,
    GoogleSheetsBackend,
)
from sheets_escalation.adapters.gsheets.http import (
    RetryingHTTPClient,
    client_with_session,
    json_size,
)
from sheets_escalation.adapters.gsheets.values import to_api_value
from sheets_escalation.core import errors, schema
from sheets_escalation.core.table import CellWrite, WritePlan
from tests.support import fake_sheets
from tests.support.both_backends import INPUT_HEADER, KEY, Book, good_row, make_book
from tests.support.fake_sheets import FakeSheetsAPI

ROWS = 300
CAP = 45_000
URL = f"https://sheets.googleapis.com/v4/spreadsheets/{KEY}"
TOO_LARGE = {"error": {"code": 400, "status": "INVALID_ARGUMENT",
                       "message": "Request payload size exceeds the limit: 10485760 bytes."}}


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RetryingHTTPClient, "sleep", staticmethod(lambda seconds: None))


def _rows(count: int) -> list[list[Any]]:
    # Every tenth row is old enough to be escalated, so the write carries History rows too;
    # every row is written (owned columns), so the Escalations block is large.
    return [good_row(ID=f"ESC-{n:04d}", Customer=f"Customer {n}",
                     Opened=dt.datetime(2026, 11, 20 if n % 10 == 0 else 24, 9, 30))
            for n in range(1, count + 1)]


def _book(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Book:
    return make_book("google", directory, [INPUT_HEADER, *_rows(ROWS)], monkeypatch)


def _stored(book: Book) -> dict[str, list[list[tuple[Any, Any, Any]]]]:
    out = {}
    for sheet in book.fake.books[KEY].sheets:
        out[sheet.title] = [[(c.value, c.formula, c.fmt) for c in row] for row in sheet.rows]
    return out


def _size(body: Any) -> int:
    return len(json.dumps(body, allow_nan=False, separators=(",", ":")))  # as the client sends it


def _events(book: Book) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(r[1:]) for r in book.grid(schema.HISTORY)[1:])


def _history_ranges(call: fake_sheets.LoggedRequest) -> list[str]:
    return [d["range"] for d in call.body["data"] if d["range"].startswith("'History'!")]


# --------------------------------------------------------------------------- the fake


def test_the_fake_refuses_a_body_over_ten_mebibytes_as_google_does() -> None:
    fake = FakeSheetsAPI()
    book = fake.add_spreadsheet(KEY, {"Log": [["a"]]})
    session = fake.session()
    filler = "x" * 50_000
    rows = [[filler] for _ in range(210)]  # 210 x 50,000 characters: just over 10 MiB
    values = {"valueInputOption": "RAW", "data": [{"range": "Log!A1", "values": rows}]}
    assert _size(values) > fake_sheets.MAX_BODY_BYTES > _size({**values, "data": [
        {"range": "Log!A1", "values": rows[:200]}]})

    refused = session.post(f"{URL}/values:batchUpdate", json=values)
    assert (refused.status_code, refused.json()) == (400, TOO_LARGE)
    cells = [{"updateCells": {"start": {"sheetId": book.sheet("Log").sheet_id},
                              "rows": [{"values": [{"userEnteredValue": {"stringValue": filler}}]}
                                       for _ in range(210)],
                              "fields": "userEnteredValue"}}]
    refused = session.post(f"{URL}:batchUpdate", json={"requests": cells})
    assert (refused.status_code, refused.json()) == (400, TOO_LARGE)
    assert book.sheet("Log").values() == [["a"]]  # nothing applied

    accepted = session.post(f"{URL}/values:batchUpdate", json={**values, "data": [
        {"range": "Log!A1", "values": rows[:200]}]})
    assert accepted.status_code == 200
    assert len(fake.books[KEY].sheet("Log").values()) == 200


def test_the_fake_answers_a_batch_update_with_the_spreadsheet_after_it() -> None:
    fake = FakeSheetsAPI()
    book = fake.add_spreadsheet(KEY, {"Log": [["ID", "n"], ["A-1", 2], [None, None], [True]],
                                      "Other": [["x"]]})
    log = book.sheet("Log")
    log.rows[1][1].formula, log.rows[1][1].value = "=1+1", 2
    session = fake.session()
    grow = {"appendDimension": {"sheetId": log.sheet_id, "dimension": "ROWS", "length": 5}}
    body = {"requests": [grow], "includeSpreadsheetInResponse": True,
            "responseRanges": ["Log!1:1", "'Log'!B:B"], "responseIncludeGridData": True}

    answer = session.post(f"{URL}:batchUpdate", json=body).json()
    assert answer["replies"] == [{}]
    (sheet,) = answer["updatedSpreadsheet"]["sheets"]  # only the sheets the ranges cover
    assert sheet["properties"]["gridProperties"] == {"rowCount": 1005, "columnCount": 26}
    header, column = sheet["data"]
    assert "startRow" not in header and column["startColumn"] == 1
    assert header["rowData"] == [{"values": [
        {"userEnteredValue": {"stringValue": "ID"}, "effectiveValue": {"stringValue": "ID"},
         "formattedValue": "ID"},
        {"userEnteredValue": {"stringValue": "n"}, "effectiveValue": {"stringValue": "n"},
         "formattedValue": "n"}]}]
    assert column["rowData"] == [
        {"values": [{"userEnteredValue": {"stringValue": "n"}, "effectiveValue": {"stringValue": "n"},
                     "formattedValue": "n"}]},
        {"values": [{"userEnteredValue": {"formulaValue": "=1+1"}, "effectiveValue": {"numberValue": 2},
                     "formattedValue": "2"}]},
    ]  # the blank rows after the last value are left out

    masked = session.post(f"{URL}:batchUpdate", params={"fields": UPDATED_SPREADSHEET_FIELDS},
                          json={**body, "requests": [], "responseIncludeGridData": False}).json()
    (sheet,) = masked["updatedSpreadsheet"]["sheets"]
    assert set(masked) == {"updatedSpreadsheet"}
    assert sheet["properties"] == {"title": "Log", "gridProperties": {"rowCount": 1005, "columnCount": 26}}
    assert sheet["data"][1] == {"startColumn": 1,
                                "rowData": [{"values": [{"effectiveValue": {"stringValue": "n"},
                                                         "formattedValue": "n"}]},
                                            {"values": [{"effectiveValue": {"numberValue": 2},
                                                         "formattedValue": "2"}]}]}

    plain = session.post(f"{URL}:batchUpdate", json={"requests": [grow]}).json()
    assert plain == {"spreadsheetId": KEY, "replies": [{}]}


# --------------------------------------------------------------------------- splitting


@pytest.mark.parametrize("cap", [CAP, CAP // 2], ids=["History fits in one", "History split too"])
def test_a_write_over_the_cap_is_split_and_stores_what_one_request_stores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cap: int) -> None:
    whole = _book(tmp_path / "whole", monkeypatch)
    assert whole.sync("--quiet").code == 0
    (one,) = whole.fake.calls("values.batchUpdate")
    assert _size(one.body) > CAP

    monkeypatch.setattr(gsheets, "MAX_REQUEST_BYTES", cap)
    monkeypatch.setattr(fake_sheets, "MAX_BODY_BYTES", cap)
    split = _book(tmp_path / "split", monkeypatch)
    run = split.sync("--quiet")

    assert run.code == 0, run.err
    kinds = [c.kind for c in split.fake.log]
    chunks = split.fake.calls("values.batchUpdate")
    assert kinds == ["get", "values.batchGet", "batchUpdate", *["values.batchUpdate"] * len(chunks)]
    assert len(chunks) >= 2
    assert all(_size(c.body) <= cap for c in split.fake.log if c.body is not None)
    assert all(c.body["valueInputOption"] == "RAW" for c in chunks)
    # The History rows go last: in the last request when they fit in one, else in the
    # last ones (a range cut by rows), after every other cell.
    history = [_history_ranges(c) for c in chunks]
    first = next(i for i, ranges in enumerate(history) if ranges)
    assert not any(history[:first])
    assert all(len(r) == len(c.body["data"]) for r, c in zip(history[first + 1:], chunks[first + 1:],
                                                             strict=True))
    whole_history = sum(_size(d) for d in one.body["data"] if d["range"].startswith("'History'!"))
    assert (first == len(chunks) - 1) == (whole_history < cap - 100)
    if first < len(chunks) - 1:
        assert len(sum(history, [])) > len(_history_ranges(one))  # cut by rows
    # Packed from the end, a cut tab filling each request: no more requests than the
    # bytes need, give or take a row or two per request.
    sizes = [_size(c.body) for c in chunks]
    assert len(chunks) <= -(-sum(sizes) // (cap - 1_000)), sizes
    assert _stored(split) == _stored(whole)


def test_without_the_split_the_fake_refuses_the_write_as_google_would(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake_sheets, "MAX_BODY_BYTES", CAP)
    monkeypatch.setattr(gsheets, "MAX_REQUEST_BYTES", 100 * CAP)
    book = _book(tmp_path, monkeypatch)
    run = book.sync("--quiet")
    assert run.code == 1
    assert run.err == ("error: Google Sheets refused the request (HTTP 400): Request payload size"
                       f" exceeds the limit: {CAP} bytes.\n")


def test_a_run_dying_between_two_requests_is_completed_by_the_next_without_duplicate_events(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_backoff: None) -> None:
    undisturbed = _book(tmp_path / "undisturbed", monkeypatch)
    assert undisturbed.sync("--quiet").code == 0

    monkeypatch.setattr(gsheets, "MAX_REQUEST_BYTES", CAP // 3)  # Escalations in 2 requests
    book = _book(tmp_path / "cut", monkeypatch)
    history_before = book.grid(schema.HISTORY)

    def fail_the_second(fake: FakeSheetsAPI) -> None:
        fake.before_next("values:batchUpdate", lambda f: f.fail_next(
            RetryingHTTPClient.attempts, status=503, match="values:batchUpdate"))

    book.fake.before_next("values:batchUpdate", fail_the_second)
    run = book.sync("--quiet")
    assert run.code == 1 and "did not answer after 5 attempts" in run.err
    assert book.grid(schema.HISTORY) == history_before  # no event recorded ahead of its cells
    written = [r for r in book.records() if r["Response due"] is not None]
    assert 0 < len(written) < ROWS  # the first request landed

    assert book.sync("--quiet").code == 0
    assert book.sync("--quiet").code == 0
    assert undisturbed.sync("--quiet").code == 0
    assert undisturbed.sync("--quiet").code == 0
    events = _events(book)
    assert set(events.values()) == {1}
    assert set(events) <= set(_events(undisturbed))
    expected = {r["ID"]: {k: v for k, v in r.items() if k not in ("Days open", "Business hours open")}
                for r in undisturbed.records()}
    assert {r["ID"]: {k: v for k, v in r.items() if k not in ("Days open", "Business hours open")}
            for r in book.records()} == expected


def test_an_applied_chunk_whose_answer_was_lost_is_resent_onto_the_same_cells(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_backoff: None) -> None:
    whole = _book(tmp_path / "whole", monkeypatch)
    assert whole.sync("--quiet").code == 0
    monkeypatch.setattr(gsheets, "MAX_REQUEST_BYTES", CAP)
    book = _book(tmp_path / "lost", monkeypatch)
    handle = book.fake.handle
    lost: list[int] = []

    def apply_the_last_then_drop(request: requests.PreparedRequest) -> requests.Response:
        response = handle(request)
        body = request.body if isinstance(request.body, bytes) else b""
        if "values:batchUpdate" in (request.url or "") and b"'History'!" in body and not lost:
            lost.append(1)
            raise requests.ConnectionError("connection reset after the write was applied")
        return response

    monkeypatch.setattr(book.fake, "handle", apply_the_last_then_drop)
    assert book.sync("--quiet").code == 0
    assert lost
    assert _events(book) == _events(whole)
    assert _stored(book) == _stored(whole)


def test_a_replaced_tab_over_the_cap_is_filled_in_several_batches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gsheets, "MAX_REQUEST_BYTES", CAP)
    monkeypatch.setattr(fake_sheets, "MAX_BODY_BYTES", CAP)
    fake = FakeSheetsAPI()
    fake.add_spreadsheet(KEY, {"Escalations": [["ID"]], "Review": [["old"]] * 50})
    backend = GoogleSheetsBackend(KEY, client_with_session(fake.session()), lock_dir=tmp_path)
    backend.read(["Escalations"])
    rows = [["Section", "Value", "Note"]] + [
        [f"line {n}", n * 1.5, dt.datetime(2026, 1, 1, 9) + dt.timedelta(hours=n)] for n in range(2000)]
    backend.write(WritePlan(replace_tabs={"Review": rows}))

    batches = fake.calls("batchUpdate")
    assert [c.kind for c in fake.log] == ["get", "values.batchGet", *["batchUpdate"] * len(batches)]
    assert len(batches) >= 3 and all(_size(c.body) <= CAP for c in batches)
    kinds = [next(iter(r)) for c in batches for r in c.body["requests"]]
    assert kinds[:2] == ["updateCells", "appendDimension"]  # cleared and grown first
    tab = fake.books[KEY].sheet("Review")
    values = tab.values()
    assert len(values) == 2001 and values[0] == ["Section", "Value", "Note"]
    assert values[1999][:2] == ["line 1998", 1998 * 1.5]
    assert tab.rows[2000][2].fmt == {"numberFormat": {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"}}


def test_a_single_row_over_the_cap_is_refused_before_any_value_is_sent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gsheets, "MAX_REQUEST_BYTES", CAP)
    fake = FakeSheetsAPI()
    fake.add_spreadsheet(KEY, {"Escalations": [["ID", "Note"], ["ESC-0001"]]})
    backend = GoogleSheetsBackend(KEY, client_with_session(fake.session()), lock_dir=tmp_path)
    backend.read(["Escalations"])
    with pytest.raises(errors.SourceError, match="one row of values is over"):
        backend.write(WritePlan(cells=[CellWrite("Escalations", 1, 1, "x" * CAP, "ESC-0001")]))
    assert not fake.calls("values.batchUpdate")


def test_bodies_go_out_as_compact_json_of_the_size_the_cap_counts() -> None:
    sent: list[Any] = []

    class Recorder(requests.Session):
        def request(self, method: Any, url: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            sent.append(kwargs)
            response = requests.Response()
            response.status_code = 200
            response._content = b"{}"
            return response

    client = RetryingHTTPClient(None, Recorder())
    body = {"valueInputOption": "RAW", "data": [{"range": "'Log'!A1:B1", "values": [["a", 1.5]]}]}
    client.request("post", "https://sheets.googleapis.com/v4/x", json=body)
    (kwargs,) = sent
    assert kwargs["json"] is None and kwargs["headers"]["Content-Type"] == "application/json"
    assert kwargs["data"] == b'{"valueInputOption":"RAW","data":[{"range":"\'Log\'!A1:B1","values":[["a",1.5]]}]}'
    assert len(kwargs["data"]) == json_size(body)


@pytest.mark.parametrize("moment", [dt.datetime(2026, 11, 25, 15, 0),
                                    dt.datetime(2026, 3, 8, 2, 59, 59, 999_000),
                                    dt.datetime(1900, 1, 1, 0, 0, 0, 1_000),
                                    dt.datetime(2261, 12, 31, 23, 59, 59, 123_000)])
def test_a_datetime_goes_out_as_a_short_serial_that_reads_back_to_the_millisecond(
        moment: dt.datetime) -> None:
    from sheets_escalation.core import dates

    serial = to_api_value(moment)
    assert len(repr(serial).split(".")[-1]) <= 8
    read = dates.parse_datetimes(pd.Series([serial], dtype=object), "At", "UTC").values
    assert read.dt.tz_convert(None).tolist() == [pd.Timestamp(moment)]


# --------------------------------------------------------------------------- the encoding


def test_whole_floats_go_as_integers_naming_the_same_number() -> None:
    assert [gsheets._compact(v) for v in (8.0, 0.0, -3.0, 2.5, True, "8.0", 2.0**60)] == \
        [8, 0, -3, 2.5, True, "8.0", 2.0**60]
    assert type(gsheets._compact(8.0)) is int and gsheets._compact(True) is True
    negative_zero = gsheets._compact(-0.0)
    assert isinstance(negative_zero, float) and str(negative_zero) == "-0.0"


def test_a_column_run_skips_the_cells_it_does_not_write_leaving_them_as_they_are(
        tmp_path: Path) -> None:
    fake = FakeSheetsAPI()
    body = [[f"ESC-{n:04d}", f"old {n}", f"kept {n}"] for n in range(1, 41)]
    fake.add_spreadsheet(KEY, {"Escalations": [["ID", "Note", "Other"], *body]})
    backend = GoogleSheetsBackend(KEY, client_with_session(fake.session()), lock_dir=tmp_path)
    backend.read(["Escalations"])
    skipped = {5, 6, 20}  # rows of the run the plan does not write
    cells = [CellWrite("Escalations", n, 1, None if n == 30 else f"new {n}", f"ESC-{n:04d}")
             for n in range(1, 41) if n not in skipped]
    cells.append(CellWrite("Escalations", 7, 2, 7.0, "ESC-0007"))  # a loose cell
    backend.write(WritePlan(cells=cells))

    (call,) = fake.calls("values.batchUpdate")
    column = [d for d in call.body["data"] if d.get("majorDimension") == "COLUMNS"]
    assert [d["range"] for d in column] == ["'Escalations'!B2:B41"]
    assert column[0]["values"][0][3:6] == ["new 4", None, None]  # null: skipped
    assert column[0]["values"][0][29] == ""  # a blank written empties the cell
    assert [d["values"] for d in call.body["data"] if d not in column] == [[[7]]]
    values = fake.books[KEY].sheet("Escalations").values()
    assert [row[1] for row in values[1:]] == [
        f"old {n}" if n in skipped else None if n == 30 else f"new {n}" for n in range(1, 41)]
    assert values[7][2] == 7 and values[8][2] == "kept 8"
