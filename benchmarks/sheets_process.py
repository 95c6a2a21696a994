"""The fake Sheets API in a process of its own, and a sync client in another.

The Google measures of :mod:`benchmarks.run` at the largest size run the real gspread
client in a fresh process (:func:`client_main`) against the fake Sheets API of
``tests/support/fake_sheets.py`` served from a second process (:func:`serve`), over a local
socket. So the client's peak memory (VmHWM) is the client's alone — the fake holds every
cell of a 10-million-cell spreadsheet as Python objects, several GB — and the fake's own
time serving each request (:attr:`FakeSheetsAPI.handling_seconds`) is sent back with its
answer, so the client's time is the sync's wall time minus the fake's.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from benchmarks import generate
from sheets_escalation.core import schema

SHEET_KEY = "1BenchmarkSheetKey0000000000000000000000000"
NOW = generate.DEFAULT_NOW


def _api_value(value: Any) -> Any:
    """Return a raw cell as the Sheets API holds it (date-times as serial numbers)."""
    if isinstance(value, dt.datetime):
        return (value - dt.datetime(1899, 12, 30)).total_seconds() / 86400
    if isinstance(value, dt.date):
        return (value - dt.date(1899, 12, 30)).days
    return value


def fake_sheet(rows: int, seed: int) -> Any:
    """Return a fake Sheets API holding the generated spreadsheet of ``rows`` rows under
    :data:`SHEET_KEY` (the template's other tabs beside it)."""
    from tests.support.fake_sheets import FakeSheetsAPI

    fake = FakeSheetsAPI()
    tabs = {schema.ESCALATIONS: generate.generate_rows(rows, seed, NOW)}
    tabs.update(generate.side_tabs(seed))
    fake.add_spreadsheet(
        SHEET_KEY,
        {title: [[_api_value(v) for v in row] for row in body] for title, body in tabs.items()},
        time_zone=generate.TIMEZONE,
    )
    return fake


# --------------------------------------------------------------------------- the fake's side


def serve(address: str, authkey: bytes, rows: int, seed: int) -> None:
    """Build the fake spreadsheet, print ``ready`` on stdout, then serve clients one at a
    time until one sends ``("stop",)``. Messages: ``("request", method, url, headers, body)``
    answered ``(status, reason, headers, content, handling seconds)``; ``("log",)`` answered
    with the requests since the last ``("log",)`` (see :func:`_log`)."""
    fake = fake_sheet(rows, seed)
    with Listener(address, family="AF_UNIX", authkey=authkey) as listener:
        print("ready", flush=True)
        while True:
            with listener.accept() as conn:
                while True:
                    try:
                        message = conn.recv()
                    except EOFError:
                        break
                    if message[0] == "stop":
                        return
                    if message[0] == "log":
                        conn.send(_log(fake.log))
                        fake.log.clear()
                        continue
                    _, method, url, headers, body = message
                    prepared = requests.PreparedRequest()
                    prepared.method, prepared.url, prepared.body = method, url, body
                    prepared.headers = CaseInsensitiveDict(headers)
                    before = fake.handling_seconds
                    answer = fake.handle(prepared)
                    conn.send((answer.status_code, answer.reason, dict(answer.headers),
                               answer.content, fake.handling_seconds - before))


def server_main() -> int:
    """``python -c '...server_main()' ADDRESS ROWS SEED``, the authkey in hex on stdin."""
    address, rows, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    serve(address, bytes.fromhex(sys.stdin.readline().strip()), rows, seed)
    return 0


def _log(log: list[Any]) -> list[dict[str, Any]]:
    """The logged requests as ``{"kind", "bytes" (of the body), "ranges" (A1 written)}``."""
    from benchmarks.run import ranges_written

    return [{"kind": call.kind,
             "bytes": len(json.dumps(call.body, separators=(",", ":"))) if call.body else 0,
             "ranges": ranges_written([call])} for call in log]


@contextmanager
def served(workdir: Path, rows: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """Run the fake (``rows`` generated rows) in a fresh process while the block runs;
    yield its ``(address, authkey)`` for :func:`client_main`."""
    address = str(workdir / f"fake-sheets-{rows}.sock")
    authkey = secrets.token_bytes(16)
    code = "from benchmarks.sheets_process import server_main; raise SystemExit(server_main())"
    process = subprocess.Popen(
        [sys.executable, "-c", code, address, str(rows), str(seed)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(authkey.hex() + "\n")
        process.stdin.close()
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the fake Sheets API process did not start (exit {process.wait()})")
        yield address, authkey
        with Client(address, family="AF_UNIX", authkey=authkey) as conn:
            conn.send(("stop",))
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --------------------------------------------------------------------------- the client's side


class _RemoteAdapter(BaseAdapter):
    """A requests adapter sending every request to :func:`serve`; counts the fake's time
    and the time spent in :meth:`send` (the fake's plus passing bodies between processes)."""

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self.conn = conn
        self.fake_seconds = 0.0
        self.send_seconds = 0.0

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        start = time.perf_counter()
        body = request.body.encode() if isinstance(request.body, str) else request.body
        self.conn.send(("request", request.method, request.url, dict(request.headers), body))
        status, reason, headers, content, seconds = self.conn.recv()
        response = requests.Response()
        response.status_code, response.reason, response._content = status, reason, content
        response.headers = CaseInsensitiveDict(headers)
        response.url, response.request, response.encoding = request.url or "", request, "utf-8"
        self.fake_seconds += seconds
        self.send_seconds += time.perf_counter() - start
        return response

    def close(self) -> None:
        """The connection belongs to :func:`client_main`."""


def client_main(argv: list[str] | None = None) -> int:
    """``python -c 'from benchmarks.sheets_process import client_main; client_main()'
    ADDRESS AUTHKEY_HEX LOCK_DIR``: one sync of :data:`SHEET_KEY` at :data:`NOW` through the
    real client; print one JSON line: seconds, fake_seconds, transport_seconds, peak_mib,
    the requests sent (see :func:`_log`) and the sync's changes."""
    import pandas as pd

    from benchmarks.run import describe_changes, peak_rss_mib
    from sheets_escalation.adapters.gsheets.backend import GoogleSheetsBackend
    from sheets_escalation.adapters.gsheets.http import client_with_session
    from sheets_escalation.jobs.sync import run_sync

    address, authkey, lock_dir = argv if argv is not None else sys.argv[1:4]
    with Client(address, family="AF_UNIX", authkey=bytes.fromhex(authkey)) as conn:
        adapter = _RemoteAdapter(conn)
        session = requests.Session()
        for prefix in ("https://", "http://"):
            session.mount(prefix, adapter)
        backend = GoogleSheetsBackend(SHEET_KEY, client_with_session(session),
                                      lock_dir=Path(lock_dir))
        start = time.perf_counter()
        report = run_sync(backend, pd.Timestamp(NOW))
        seconds = time.perf_counter() - start
        peak = peak_rss_mib()
        conn.send(("log",))
        requests_sent = conn.recv()
    print(json.dumps({
        "seconds": seconds, "fake_seconds": adapter.fake_seconds,
        "transport_seconds": adapter.send_seconds - adapter.fake_seconds, "peak_mib": peak,
        "requests": requests_sent, "changes": describe_changes(report.changes),
    }))
    return 0
