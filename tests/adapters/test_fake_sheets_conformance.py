"""Keep the fake Sheets API honest: replay real recorded Google traffic and compare answers.

Each recording (tests/recordings, vcrpy JSON made by gspread's own test suite against the real
API) is replayed request by request against a fresh fake; the JSON the fake
answers must equal what Google answered, status code included.

Compared: every Sheets API request in the recordings, namely spreadsheets.get (metadata,
and ``ranges`` + ``fields`` grid data), spreadsheets.batchUpdate (addSheet, deleteSheet,
updateSheetProperties, updateSpreadsheetProperties, repeatCell, setDataValidation,
addProtectedRange), values.get (FORMATTED_VALUE, UNFORMATTED_VALUE, FORMULA, SERIAL_NUMBER,
FORMATTED_STRING), values.batchGet, values.update (RAW, USER_ENTERED, and the 400 for a
malformed body), values.batchUpdate, values.append, values.clear, and the 403 and 404 errors.

Not compared: Drive API calls (``www.googleapis.com/drive``): a file creation seeds the fake
with the blank spreadsheet Google creates (one ``Sheet1``, 1000 x 26, sheetId 0), metadata
reads and deletes are skipped. A spreadsheet the recording shows as forbidden is seeded as
private (someone else's sheet).

Volatile fields, removed from both sides before comparing: ``sheetId`` values the server
picks for added sheets (mapped from Google's to the fake's for later requests),
``protectedRangeId``, and the protected range's ``editors.users`` (the recording account).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.fake_sheets import FakeSheetsAPI

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
FILES = sorted(RECORDINGS.glob("*.json"))
# The recordings this test was written against; a clone missing any of them fails here
# rather than quietly comparing less.
EXPECTED = 14


def _strip_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "protectedRangeId":
                continue
            if key == "editors":
                item = {k: v for k, v in item.items() if k != "users"}
            out[key] = _strip_volatile(item)
        return out
    if isinstance(value, list):
        return [_strip_volatile(v) for v in value]
    return value


def _remap_sheet_ids(value: Any, mapping: dict[int, int]) -> Any:
    if isinstance(value, dict):
        return {k: (mapping.get(v, v) if k == "sheetId" else _remap_sheet_ids(v, mapping))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_remap_sheet_ids(v, mapping) for v in value]
    return value


def _replace_sheet_ids(value: Any, mapping: dict[int, int]) -> Any:
    """Google's answer with the ids it picked replaced by the fake's, to compare the rest."""
    return _remap_sheet_ids(value, mapping)


def test_the_recordings_are_present() -> None:
    assert len(FILES) == EXPECTED, f"expected {EXPECTED} recordings in {RECORDINGS}, found {len(FILES)}"
    assert (RECORDINGS / "LICENSE-gspread.txt").is_file()


@pytest.mark.parametrize("recording", FILES, ids=[f.stem for f in FILES])
def test_fake_answers_like_google(recording: Path) -> None:
    interactions = json.loads(recording.read_text(encoding="utf-8"))["interactions"]
    fake = FakeSheetsAPI()
    session = fake.session()
    for item in interactions:
        request, response = item["request"], item["response"]
        host = urlsplit(request["uri"]).netloc
        if host == "sheets.googleapis.com" and response["status"]["code"] == 403:
            key = urlsplit(request["uri"]).path.split("/")[3]
            if key not in fake.books:
                fake.add_spreadsheet(key, private=True)
    id_map: dict[int, int] = {}
    compared = 0
    for number, item in enumerate(interactions):
        request, response = item["request"], item["response"]
        uri = request["uri"]
        if urlsplit(uri).netloc != "sheets.googleapis.com":
            if request["method"] == "POST":
                created = json.loads(response["body"]["string"])
                fake.add_spreadsheet(created["id"], title=created["name"])
            continue
        body = json.loads(request["body"]) if request.get("body") else None
        if body is not None:
            body = _remap_sheet_ids(body, id_map)
        answer = session.request(request["method"], uri, json=body)
        expected = json.loads(response["body"]["string"])
        got = answer.json()
        for reply_expected, reply_got in zip(expected.get("replies", []), got.get("replies", []),
                                             strict=False):
            if "addSheet" in reply_expected and "addSheet" in reply_got:
                id_map[reply_expected["addSheet"]["properties"]["sheetId"]] = (
                    reply_got["addSheet"]["properties"]["sheetId"])
        where = f"{recording.name} #{number}: {request['method']} {uri}"
        assert answer.status_code == response["status"]["code"], where
        assert _strip_volatile(got) == _strip_volatile(_replace_sheet_ids(expected, id_map)), where
        compared += 1
    assert compared > 0


def test_unknown_route_fails_loudly() -> None:
    fake = FakeSheetsAPI()
    fake.add_spreadsheet("k" * 30)
    with pytest.raises(AssertionError, match="no route"):
        fake.session().get(f"https://sheets.googleapis.com/v4/spreadsheets/{'k' * 30}/developerMetadata")
    with pytest.raises(AssertionError, match="no route"):
        fake.session().get("https://www.googleapis.com/drive/v3/files")
