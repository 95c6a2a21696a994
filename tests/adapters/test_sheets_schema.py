"""The fake refuses what Google refuses: requests checked against Google's discovery document
(tests/support/sheets_schema.py) and Google's documented limits, answered with Google's 400 body."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.support.fake_sheets import FakeSheetsAPI
from tests.support.sheets_schema import DISCOVERY_PATH, discovery

KEY = "1SchemaStrictFakeKey0123456789abcdefghijk"
BASE = f"https://sheets.googleapis.com/v4/spreadsheets/{KEY}"


@pytest.fixture
def fake() -> FakeSheetsAPI:
    api = FakeSheetsAPI()
    api.add_spreadsheet(KEY)
    return api


def _batch(fake: FakeSheetsAPI, *requests_: dict[str, Any]) -> requests.Response:
    return fake.session().post(f"{BASE}:batchUpdate", json={"requests": list(requests_)})


def _violation(answer: requests.Response) -> tuple[str, str]:
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    (detail,) = error["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    (violation,) = detail["fieldViolations"]
    assert violation["description"] == error["message"]
    return violation["field"], error["message"]


def _chart(axis_options: dict[str, Any]) -> dict[str, Any]:
    source = {"sourceRange": {"sources": [{"sheetId": 0, "startRowIndex": 0, "endRowIndex": 3,
                                           "startColumnIndex": 0, "endColumnIndex": 1}]}}
    return {"addChart": {"chart": {
        "spec": {"title": "Share", "basicChart": {
            "chartType": "COLUMN",
            "axis": [{"position": "LEFT_AXIS", "viewWindowOptions": axis_options}],
            "domains": [{"domain": source}], "series": [{"series": source}],
        }},
        "position": {"overlayPosition": {"anchorCell": {"sheetId": 0, "rowIndex": 0,
                                                        "columnIndex": 2}}},
    }}}


def test_the_discovery_document_is_googles() -> None:
    document = discovery()
    assert DISCOVERY_PATH.name == "sheets.v4.json"
    assert (document["name"], document["version"]) == ("sheets", "v4")


def test_an_unknown_chart_field_is_refused_naming_it(fake: FakeSheetsAPI) -> None:
    field, message = _violation(_batch(fake, _chart({"viewMode": "EXPLICIT", "viewWindowMax": 1})))
    where = "requests[0].add_chart.chart.spec.basic_chart.axis[0].view_window_options"
    assert field == where
    assert message == (f"Invalid JSON payload received. Unknown name \"viewMode\" at '{where}': "
                       "Cannot find field.")
    assert fake.books[KEY].sheets[0].charts == []


def test_the_real_field_is_served(fake: FakeSheetsAPI) -> None:
    answer = _batch(fake, _chart({"viewWindowMode": "EXPLICIT", "viewWindowMax": 1}))
    assert answer.status_code == 200, answer.text
    assert len(fake.books[KEY].sheets[0].charts) == 1


@pytest.mark.parametrize(("request_", "field", "type_name", "shown"), [
    ({"updateSheetProperties": {"properties": {"sheetId": "zero"}, "fields": "title"}},
     "requests[0].update_sheet_properties.properties.sheet_id", "TYPE_INT32", '"zero"'),
    ({"updateSheetProperties": {"properties": {"hidden": "yes"}, "fields": "hidden"}},
     "requests[0].update_sheet_properties.properties.hidden", "TYPE_BOOL", '"yes"'),
    ({"appendDimension": {"sheetId": 0, "dimension": "SIDEWAYS", "length": 1}},
     "requests[0].append_dimension.dimension", "TYPE_ENUM", '"SIDEWAYS"'),
    ({"addSheet": "Tab"}, "requests[0].add_sheet",
     "type.googleapis.com/google.apps.sheets.v4.AddSheetRequest", '"Tab"'),
])
def test_a_wrong_type_or_enum_is_refused(fake: FakeSheetsAPI, request_: dict[str, Any], field: str,
                                         type_name: str, shown: str) -> None:
    assert _violation(_batch(fake, request_)) == (
        field, f"Invalid value at '{field}' ({type_name}), {shown}")


def test_a_request_sets_exactly_one_kind(fake: FakeSheetsAPI) -> None:
    assert _violation(_batch(fake, {}))[0] == "requests[0]"
    two = {"addSheet": {"properties": {"title": "A"}}, "deleteSheet": {"sheetId": 0}}
    field, message = _violation(_batch(fake, {"addSheet": {"properties": {"title": "B"}}}, two))
    assert field == "requests[1]" and "Oneof field 'kind' is already set" in message
    assert [s.title for s in fake.books[KEY].sheets] == ["Sheet1"]


@pytest.mark.parametrize(("request_", "field"), [
    ({"repeatCell": {"range": {"sheetId": 0}, "cell": {"userEnteredFormat": {}},
                     "fields": "userEnteredFormat.textFormat.heavy"}}, "requests[0].repeat_cell.fields"),
    ({"updateCells": {"start": {"sheetId": 0}, "rows": [], "fields": "userEnteredFormat(colour)"}},
     "requests[0].update_cells.fields"),
    ({"updateSheetProperties": {"properties": {"sheetId": 0}, "fields": "gridProperties.frozenRows"}},
     "requests[0].update_sheet_properties.fields"),
    ({"updateSpreadsheetProperties": {"properties": {}, "fields": "timezone"}},
     "requests[0].update_spreadsheet_properties.fields"),
])
def test_a_field_mask_naming_no_field_is_refused(fake: FakeSheetsAPI, request_: dict[str, Any],
                                                  field: str) -> None:
    assert _violation(_batch(fake, request_))[0] == field


def test_real_field_masks_are_served(fake: FakeSheetsAPI) -> None:
    answer = _batch(fake, {"repeatCell": {
        "range": {"sheetId": 0, "endRowIndex": 1},
        "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}},
        "fields": "userEnteredFormat(textFormat.bold,backgroundColor)"}})
    assert answer.status_code == 200, answer.text
    answer = fake.session().get(BASE, params={"fields": "sheets(properties(sheetId,title),charts)"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"sheets": [{"properties": {"sheetId": 0, "title": "Sheet1"}}]}


def test_query_parameters_are_checked(fake: FakeSheetsAPI) -> None:
    session = fake.session()
    answer = session.get(f"{BASE}/values/A1", params={"valueRenderOption": "PLAIN"})
    assert answer.status_code == 400 and "PLAIN" in answer.json()["error"]["message"]
    answer = session.get(f"{BASE}/values/A1", params={"valueRenderMode": "FORMULA"})
    assert answer.status_code == 400 and "valueRenderMode" in answer.json()["error"]["message"]
    answer = session.get(BASE, params={"fields": "sheets.properties.colour"})
    assert answer.status_code == 400 and "sheets.properties.colour" in answer.json()["error"]["message"]
    assert session.get(f"{BASE}/values/A1", params={"valueRenderOption": "FORMULA"}).status_code == 200


def test_an_unknown_body_field_of_a_values_write_is_refused(fake: FakeSheetsAPI) -> None:
    answer = fake.session().post(f"{BASE}/values:batchUpdate", json={
        "valueInputOption": "RAW", "data": [{"range": "A1", "values": [["x"]], "row": 1}]})
    assert _violation(answer)[0] == "data[0]"
    assert fake.books[KEY].sheets[0].values() == []


def test_a_path_google_does_not_have_is_a_loud_fake_error(fake: FakeSheetsAPI) -> None:
    with pytest.raises(AssertionError, match="not in sheets.v4.json"):
        fake.session().post(f"{BASE}:sortRange", json={})


# --------------------------------------------------------------------------- Google's limits


def test_a_cell_over_50000_characters_is_refused(fake: FakeSheetsAPI) -> None:
    session = fake.session()
    answer = session.put(f"{BASE}/values/A1", params={"valueInputOption": "RAW"},
                         json={"values": [["x" * 50_001]]})
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        "Your input contains more than the maximum of 50000 characters in a single cell.")
    answer = _batch(fake, {"updateCells": {
        "start": {"sheetId": 0}, "rows": [{"values": [{"userEnteredValue": {"stringValue": "y" * 50_001}}]}],
        "fields": "userEnteredValue"}})
    assert answer.status_code == 400 and "50000 characters" in answer.json()["error"]["message"]
    assert fake.books[KEY].sheets[0].values() == []
    answer = session.put(f"{BASE}/values/A1", params={"valueInputOption": "RAW"},
                         json={"values": [["x" * 50_000]]})
    assert answer.status_code == 200


def test_the_grid_stops_at_18278_columns_and_10_million_cells(fake: FakeSheetsAPI) -> None:
    wide = _batch(fake, {"appendDimension": {"sheetId": 0, "dimension": "COLUMNS", "length": 18_278 - 25}})
    assert wide.status_code == 400 and "18278" in wide.json()["error"]["message"]
    tall = _batch(fake, {"addSheet": {"properties": {"title": "Big", "gridProperties": {
        "rowCount": 400_000, "columnCount": 26}}}})
    assert tall.status_code == 400
    assert tall.json()["error"]["message"].endswith("above the limit of 10000000 cells.")
    assert [(s.title, s.col_count) for s in fake.books[KEY].sheets] == [("Sheet1", 26)]
    fits = _batch(fake, {"updateSheetProperties": {
        "properties": {"sheetId": 0, "gridProperties": {"rowCount": 100}}, "fields": "gridProperties.rowCount"}},
        {"appendDimension": {"sheetId": 0, "dimension": "COLUMNS", "length": 18_278 - 26}})
    assert fits.status_code == 200
