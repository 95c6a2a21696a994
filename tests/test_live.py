"""The live check against a real Google Sheet (``make live-test``), for the first person
with one: the invariants the fake proves, on Google itself.

Opt-in: deselected by default (pytest marker ``live``), and skipped unless
``SHEETS_ESCALATION_LIVE_SHEET`` names a throwaway Google Sheet (URL or key; its Escalations
and History rows are replaced) shared as Editor with credentials the tool finds
(``GOOGLE_APPLICATION_CREDENTIALS``, ``~/.config/gspread/service_account.json`` or the gcloud
application-default login). Runs init → sync → rerun → review → escalate --dry-run and
checks: a sync makes at most four requests, a rerun writes only ``Last run``, no formula is
created from the text the tool writes, and the review tab carries its charts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from sheets_escalation.adapters.gsheets import http as gsheets
from sheets_escalation.adapters.sources import parse_source_key
from sheets_escalation.core import schema
from tests.fixtures import GOLDEN_NOW, GOLDEN_ROWS, run

SHEET = os.environ.get("SHEETS_ESCALATION_LIVE_SHEET", "")
WRITES = (":batchUpdate", "values:batchUpdate", ":append", ":clear")


def _credentials_found() -> bool:
    import gspread

    places = [os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", ""),
              str(gspread.auth.DEFAULT_SERVICE_ACCOUNT_FILENAME),
              str(Path(os.environ.get("CLOUDSDK_CONFIG") or Path.home() / ".config" / "gcloud")
                  / "application_default_credentials.json")]
    return any(place and Path(place).is_file() for place in places)


pytestmark = [
    pytest.mark.live,
    pytest.mark.enable_socket,
    pytest.mark.skipif(not SHEET or not _credentials_found(),
                       reason="set SHEETS_ESCALATION_LIVE_SHEET and Google credentials"),
]


class _Recorder(HTTPAdapter):
    """The real transport, recording each Sheets API request."""

    def __init__(self, log: list[tuple[str, str, Any]]) -> None:
        super().__init__()
        self.log = log

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if "sheets.googleapis.com" in (request.url or ""):
            body = json.loads(request.body) if request.body else None
            self.log.append((request.method or "", request.url or "", body))
        return super().send(request, *args, **kwargs)


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, str, Any]]:
    recorded: list[tuple[str, str, Any]] = []
    real_open_client = gsheets.open_client

    def recording(credentials: str | None, oauth: bool) -> Any:
        session = requests.Session()
        session.mount("https://", _Recorder(recorded))
        return real_open_client(credentials, oauth, session=session)

    monkeypatch.setattr(gsheets, "open_client", recording)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("SHEETS_ESCALATION_CONFIG", str(tmp_path / "no-config.toml"))
    return recorded




def _typed(value: Any) -> Any:
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else value


def test_init_sync_rerun_review_escalate_on_a_real_sheet(log: list[tuple[str, str, Any]]) -> None:
    key = parse_source_key(SHEET)
    assert key, f"SHEETS_ESCALATION_LIVE_SHEET is not a Google Sheets URL or key: {SHEET}"
    code, out, err = run("init", SHEET)
    assert code == 0, err

    client = gsheets.open_client(None, False)
    http = client.http_client
    http.values_clear(key, f"'{schema.ESCALATIONS}'!A2:ZZ")
    http.values_clear(key, f"'{schema.HISTORY}'!A2:ZZ")
    # Typed as people type them (USER_ENTERED): dates become dates, as in the Sheets UI.
    http.values_update(key, f"'{schema.ESCALATIONS}'!A2",
                       params={"valueInputOption": "USER_ENTERED"},
                       body={"values": [["" if v is None else _typed(v) for v in row]
                                        for row in GOLDEN_ROWS]})

    log.clear()
    code, _, err = run("sync", SHEET, "--now", GOLDEN_NOW, "--quiet")
    assert (code, err) == (0, "")
    assert len(log) <= 4, [url for _, url, _ in log]

    log.clear()
    code, _, err = run("sync", SHEET, "--now", GOLDEN_NOW, "--quiet")
    assert (code, err) == (0, "")
    writes = [(url, body) for method, url, body in log if method != "GET"]
    assert len(writes) == 1 and writes[0][0].endswith("values:batchUpdate"), writes
    assert [d["range"] for d in writes[0][1]["data"]] == [f"'{schema.SETTINGS}'!B9:B9"]

    formulas = http.values_batch_get(
        key, [f"'{tab}'" for tab in (schema.ESCALATIONS, schema.HISTORY)],
        params={"valueRenderOption": "FORMULA"})
    cells = [v for r in formulas["valueRanges"] for row in r.get("values", []) for v in row]
    assert not [v for v in cells if isinstance(v, str) and v.startswith("=")]

    code, out, err = run("review", SHEET, "--month", "2026-11", "--now", GOLDEN_NOW)
    assert (code, err) == (0, ""), out
    meta = http.fetch_sheet_metadata(key, params={"fields": "sheets(properties(title),charts(chartId))"})
    review = next(s for s in meta["sheets"] if s["properties"]["title"] == "Review 2026-11")
    assert len(review.get("charts", [])) == 4

    log.clear()
    code, out, err = run("escalate", SHEET, "ESC-0003", "--to", "L2", "--now", GOLDEN_NOW, "--dry-run")
    assert (code, err) == (0, ""), out
    assert [url for method, url, _ in log if method != "GET"] == []
