"""What the tests share: rows and golden workbooks, the CLI runner, the engine's hand-built
week, the review's golden month, the handoff set-up and the property strategies.

Test modules import helpers from here (never from each other); the real and fake
components they run against live beside it (fake_sheets, servers, memory_backend).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import strategies as st
from openpyxl.chart import BarChart, Reference

from sheets_escalation.adapters.gsheets import http as gsheets
from sheets_escalation.adapters.xlsx.template import new_workbook
from sheets_escalation.cli import cli
from sheets_escalation.core import schema, staleness
from sheets_escalation.core.engine import Evaluation, evaluate, read_log
from sheets_escalation.core.events import HistoryEvent, read_events
from sheets_escalation.core.policy import Policy, load_policy
from sheets_escalation.core.table import Table
from tests.fake_sheets import FakeSheetsAPI, Spreadsheet
from tests.servers import Recorder, Smtp

INPUT_KEYS = [c.key for c in schema.INPUT_COLUMNS]


def row(**values: Any) -> list[Any]:
    """Given column keys and values, return an Escalations row in template order."""
    cells: list[Any] = [None] * len(INPUT_KEYS)
    for key, value in values.items():
        cells[INPUT_KEYS.index(key)] = value
    return cells


GOLDEN_ROWS = [
    # Opened Monday 10:00; at Tuesday 15:00 open 13 business hours > 1 business day: auto L2.
    row(id="ESC-0001", opened=dt.datetime(2026, 11, 23, 10, 0), customer="Acme Bakery",
        contact="ops@acme.test", channel="Email", issue_type="Billing",
        description="Invoice charged twice", steps_tried="Checked payment log",
        sentiment="Calm", urgency="Medium"),
    # A legal threat: flagged for L3 at once; typed date string; blank ID gets one.
    row(opened="11/24/2026 09:30", customer="Bolt Bikes", contact="555-0100", channel="Phone",
        issue_type="Shipping", description="Says he will call his lawyer about the delay",
        steps_tried="Tracked parcel", sentiment="Angry", urgency="High"),
    # Healthy: opened 14:00, first response 14:20.
    row(id="ESC-0003", opened=dt.datetime(2026, 11, 24, 14, 0), customer="Cedar Cafe",
        contact="c@cedar.test", channel="Chat", issue_type="Login",
        description="Password reset mail missing", steps_tried="Resent", sentiment="Calm",
        urgency="Low", first_response_at=dt.datetime(2026, 11, 24, 14, 20)),
    # Unreadable date: CHECK INPUT, the other rows still evaluated.
    row(id="ESC-0004", opened="31/02/2026", customer="Delta Dental", contact="d@delta.test",
        financial_impact="lots"),
    # Resolved within target.
    row(id="ESC-0005", opened=dt.datetime(2026, 11, 24, 9, 0), customer="Echo Print",
        contact="e@echo.test", first_response_at=dt.datetime(2026, 11, 24, 9, 30),
        resolved_at=dt.datetime(2026, 11, 24, 11, 0), status="Resolved"),
]


GOLDEN_NOW = "2026-11-24T15:00:00+00:00"


def write_golden(path: Path, rows: list[list[Any]] | None = None,
                 triggers: list[list[Any]] | None = None) -> Path:
    """Write a workbook from the template with ``rows`` in Escalations (UTC, no holidays)."""
    workbook = new_workbook()
    sheet = workbook[schema.ESCALATIONS]
    for values in rows if rows is not None else GOLDEN_ROWS:
        sheet.append(values)
    if triggers is not None:
        tab = workbook[schema.TRIGGERS]
        tab.delete_rows(2, tab.max_row)
        for values in triggers:
            tab.append(values)
    workbook.save(path)
    return path


def add_chart(path: Path, tab: str = "Dashboard") -> None:
    """Put a native bar chart on ``tab`` of the workbook at ``path`` (a part openpyxl
    cannot keep on the owner's own tabs)."""
    workbook = openpyxl.load_workbook(path)
    ws = workbook[tab] if tab in workbook.sheetnames else workbook.create_sheet(tab)
    for value in (1, 2, 3):
        ws.append([value])
    chart = BarChart()
    chart.add_data(Reference(ws, min_col=1, min_row=1, max_row=3))
    ws.add_chart(chart, "D2")
    workbook.save(path)


# --- cli -----------------------------------------------------------------------------


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


# --- engine --------------------------------------------------------------------------
HEADERS = [c.header for c in schema.INPUT_COLUMNS]

TRIGGERS_HEADER = list(schema.TRIGGERS_HEADERS)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A naive wall time in June 2026 (Mon 1 .. Sun 7, Mon 8 ...)."""
    return dt.datetime(2026, 6, day, hour, minute)


def utc(day: int, hour: int, minute: int = 0) -> pd.Timestamp:
    return pd.Timestamp(at(day, hour, minute), tz="UTC")


def policy_of(**tabs: list[list[Any]]) -> Policy:
    """Given tab rows by name (``Triggers=[...]``), return the loaded policy."""
    return load_policy({name: Table(name, rows) for name, rows in tabs.items()})


def triggers_tab(*rows: tuple[str, ...]) -> list[list[Any]]:
    return [TRIGGERS_HEADER, *[list(r) for r in rows]]


def default_trigger(name: str, **changes: str) -> tuple[str, ...]:
    """The default Triggers row called ``name``, with columns replaced by header key."""
    found = next(list(r) for r in schema.DEFAULT_TRIGGERS if r[0] == name)
    for header, value in changes.items():
        found[TRIGGERS_HEADER.index(header)] = value
    return tuple(found)


def evaluate_rows(rows: list[list[Any]], now: pd.Timestamp, policy: Policy | None = None,
        history: pd.DataFrame | None = None) -> Evaluation:
    policy = policy or policy_of()
    log = read_log(Table(schema.ESCALATIONS, [HEADERS, *rows]), policy).log
    return evaluate(log, policy, now, history)


def text(evaluation: Evaluation, key: str, position: int = 0) -> str:
    """The text of an owned column in one row."""
    return str(evaluation.result[key].tolist()[position])


def fired(evaluation: Evaluation, position: int = 0) -> list[str]:
    names = text(evaluation, "triggers", position)
    return names.split("; ") if names else []


def events(evaluation: Evaluation, kind: str) -> list[HistoryEvent]:
    return [e for e in evaluation.events if e.event == kind]


def history_of(evaluation: Evaluation) -> pd.DataFrame:
    """The History frame as the next run would read it after this run's events."""
    rows = [list(schema.HISTORY_HEADERS)]
    rows += [[e.at.tz_convert("UTC").tz_localize(None).to_pydatetime(), *e.values()[1:]]
             for e in evaluation.events]
    return read_events(Table(schema.HISTORY, rows), "UTC")


def basic(**values: Any) -> list[Any]:
    """A complete, plain L1 row: every Required info field filled."""
    defaults: dict[str, Any] = {
        "customer": "Plain Co", "contact": "p@example.com", "channel": "Email",
        "description": "question about invoices", "steps_tried": "checked the account",
        "sentiment": "Calm", "urgency": "Low",
    }
    defaults.update(values)
    return row(**defaults)


def sync_tabs(rows: list[list[Any]]) -> dict[str, list[list[Any]]]:
    return {schema.ESCALATIONS: [HEADERS, *rows],
            schema.SETTINGS: [["Key", "Value"], *[list(s) for s in schema.DEFAULT_SETTINGS]]}


# --- review --------------------------------------------------------------------------
TZ = "Europe/Berlin"
LEVELS = {1: "Front Line", 2: "Specialist", 3: "Executive"}


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


LOG_ROWS = [
    # id, level, opened, escalated_at, resolved (hours after escalation), type, key, customer,
    # could L1, response SLA, resolution SLA, response h, resolution h
    ("ESC-0001", 2, "2026-09-29T08:00", "2026-09-30T22:30", 0.5, "Billing", "INVOICE-PDF", "Acme",
     True, "Met", "Met", 0.5, 20.0),
    ("ESC-0002", 2, "2026-10-02T08:00", "2026-10-05T10:00", 1.5, "Billing", "INVOICE-PDF", "Bolt",
     False, "Met", "Met", 1.0, 30.0),
    ("ESC-0003", 2, "2026-10-05T08:00", "2026-10-06T10:00", 0.5, "Billing", "", "Cora",
     False, "Met", "Met", 0.25, 26.0),
    ("ESC-0004", 2, "2026-10-07T08:00", "2026-10-07T10:00", None, "Login", "LOGIN-500", "Beta",
     False, "Missed", "On track", 3.0, None),
    ("ESC-0005", 2, "2026-10-07T08:30", "2026-10-07T11:00", None, "Login", "login-500", "Gamma",
     False, "Met", "Overdue", 1.5, None),
    ("ESC-0006", 2, "2026-10-07T09:00", "2026-10-07T12:00", 5.0, "Login", "LOGIN-500", "Delta",
     False, "Met", "Met", 2.0, 40.0),
    ("ESC-0007", 3, "2026-10-12T08:00", "2026-10-12T09:00", 10.0, "Refund", "", "Eden",
     True, "Met", "Met", 0.5, 12.0),
    ("ESC-0008", 3, "2026-10-14T08:00", "2026-10-14T09:00", None, "Refund", "", "Fern",
     True, "Overdue", "At risk", None, None),
    ("ESC-0010", 3, "2026-09-24T08:00", "2026-10-22T09:00", 30.0, "Shipping", "", "Gale",
     False, "Met", "Missed", 0.2, 60.0),
    ("ESC-0012", 1, "2026-10-08T08:00", None, None, "Login", "LOGIN-500", "Epsilon",
     False, "On track", "On track", None, None),
    ("ESC-0013", 2, "2026-08-10T08:00", "2026-08-11T09:00", 1.0, "Billing", "", "Hale",
     False, "Met", "Met", 0.5, 26.0),
]


def golden_frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    log_records, result_records = [], []
    for (id_, level, opened, escalated, resolved_after, kind, key, customer, could,
         response_sla, resolution_sla, response_h, resolution_h) in LOG_ROWS:
        escalated_at = ts(escalated) if escalated else pd.NaT
        resolved_at = (
            escalated_at + pd.Timedelta(hours=resolved_after) if resolved_after else pd.NaT
        )
        log_records.append({
            "id": id_, "customer": customer, "issue_type": kind, "issue_key": key,
            "opened": ts(opened), "escalated_at": escalated_at, "resolved_at": resolved_at,
            "first_response_at": pd.NaT, "level": level, "could_l1_resolve": could,
            "status": "", "sheet_row": len(log_records) + 2,
        })
        result_records.append({
            "id": id_, "level": level, "escalated_at": escalated_at, "flag": "",
            "response_sla": response_sla, "resolution_sla": resolution_sla,
            "response_hours": response_h, "resolution_hours": resolution_h,
        })
    log = pd.DataFrame(log_records)
    result = pd.DataFrame(result_records)

    events: list[tuple[str, str, str, str, str, str]] = []  # at, id, event, from, to, trigger

    def filler(month: str, count: int) -> None:
        for day in range(1, count + 1):
            events.append((f"{month}-{day:02d}T12:00", f"OLD-{month}-{day}", "escalated",
                           "L1", "L2", "Unresolved too long"))

    filler("2026-06", 3)
    filler("2026-07", 6)
    filler("2026-08", 7)
    events.append(("2026-08-11T09:00", "ESC-0013", "escalated", "L1", "L2", "Unresolved too long"))
    filler("2026-09", 10)
    events += [
        ("2026-09-25T10:00", "ESC-0010", "escalated", "L1", "L2", "VIP customer"),
        ("2026-09-26T10:00", "ESC-0010", "breached", "L2", "", "Response SLA"),
        ("2026-09-30T21:30", "ESC-0014", "escalated", "L1", "L2", "Public complaint"),
        ("2026-09-30T22:30", "ESC-0001", "escalated", "L1", "L2", "Unresolved too long"),
        ("2026-10-05T10:00", "ESC-0002", "escalated", "L1", "L2", "Unresolved too long"),
        ("2026-10-06T10:00", "ESC-0003", "escalated", "L1", "L2", "Manager requested"),
        ("2026-10-07T10:00", "ESC-0004", "escalated", "L1", "L2", "Repeat issue"),
        ("2026-10-07T10:05", "ESC-0004", "escalated", "L1", "L2", "Repeat issue"),
        ("2026-10-07T11:00", "ESC-0005", "escalated", "L1", "L2", "Repeat issue"),
        ("2026-10-07T12:00", "ESC-0006", "escalated", "L1", "L2", "Repeat issue"),
        ("2026-10-07T12:00", "ESC-0006", "notified", "", "", "ESC-0006/L2/escalated"),
        ("2026-10-07T14:00", "ESC-0004", "breached", "L2", "", "Response SLA"),
        ("2026-10-12T09:00", "ESC-0007", "escalated", "L1", "L3", "Legal threat"),
        ("2026-10-14T09:30", "ESC-0008", "level changed", "L1", "L3", ""),
        ("2026-10-20T09:00", "ESC-0009", "escalated", "L1", "L2", "Financial loss"),
        ("2026-10-23T09:00", "ESC-0009", "breached", "L2", "", "Resolution SLA"),
        ("2026-10-22T09:00", "ESC-0010", "escalated", "L2", "L3", "Beyond L2 authority"),
        ("2026-10-31T23:30", "ESC-0011", "escalated", "L1", "L2", "VIP customer"),
    ]
    history = pd.DataFrame(
        [(ts(at), id_, event, from_, to, trigger, "sheets-escalation", "")
         for at, id_, event, from_, to, trigger in events],
        columns=["at", "id", "event", "from_level", "to_level", "trigger", "by", "detail"],
    )
    return log, result, history


# --- handoff -------------------------------------------------------------------------
L1_HOOK = "/hooks/front-line-f1f1"
L2_HOOK = "/hooks/specialist-s2s2"
L3_HOOK = "/hooks/executive-e3e3"
SLACK_PATH = "/services/T0/B0/SlackTokenL2x9"
SECRET_PATH = "/private/SeCrEtToKeN-9xYz"
L2_MAIL = "l2-team@example.com"
NOW = GOLDEN_NOW.removesuffix("+00:00")  # a naive --now is in the Settings timezone
ACME = GOLDEN_ROWS[0]  # opened Monday 10:00; unresolved for a business day at Tuesday 15:00
BY = "sheets-escalation"


@dataclass
class Setup:
    """A golden workbook, its local config and the servers its Notify cells point at."""

    path: Path
    config: Path
    state: Path
    http: Recorder
    smtp: Smtp

    def sync(self, now: str = NOW, *extra: str) -> tuple[int, str, str]:
        return run("sync", str(self.path), "--now", now, "--config", str(self.config), *extra)

    def escalate(self, identifier: str, *extra: str, now: str = NOW) -> tuple[int, str, str]:
        return run("escalate", str(self.path), identifier, "--now", now,
                   "--config", str(self.config), *extra)

    def write_config(self, smtp_port: int | None = None) -> None:
        base = self.http.base
        self.config.write_text(
            "[notify]\n"
            f'allow = ["webhook:{base}/hooks/*", "slack:{base}/services/*", "*@example.com"]\n'
            "timeout = 5\n"
            "[smtp]\n"
            'host = "127.0.0.1"\n'
            f"port = {smtp_port or self.smtp.config.port}\n"
            "starttls = false\n"
            'from = "esc@example.com"\n'
            "[state]\n"
            f'dir = "{self.state}"\n',
            encoding="utf-8",
        )

    def posts(self) -> list[tuple[str, str]]:
        """(path, dedup key) of every post the HTTP server received, in order."""
        return [(p["path"], p["headers"]["Idempotency-Key"] if "Idempotency-Key" in
                 p["headers"] else "slack") for p in self.http.posts]

    def mails(self) -> list[tuple[list[str], str]]:
        return [(to, message["X-Sheets-Escalation-Key"])
                for _, to, message in self.smtp.mailbox.messages]


def values(path: Path, tab: str) -> list[list[Any]]:
    workbook = openpyxl.load_workbook(path)
    return [list(r) for r in workbook[tab].iter_rows(values_only=True)]


def cell(path: Path, identifier: str, header: str) -> Any:
    rows = values(path, schema.ESCALATIONS)
    ids, position = rows[0].index("ID"), rows[0].index(header)
    [found] = [r[position] for r in rows[1:] if r[ids] == identifier]
    return found


def history(path: Path) -> list[list[Any]]:
    rows = values(path, schema.HISTORY)
    assert rows[0] == list(schema.HISTORY_HEADERS)
    return rows[1:]


def notified(path: Path) -> list[tuple[Any, ...]]:
    """(ID, To, dedup key, Detail) of every `notified` History row."""
    return [(r[1], r[4], r[5], r[7]) for r in history(path) if r[2] == "notified"]


def notify_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("notify ")]


def make_setup(tmp_path: Path, http: Recorder, smtp: Smtp, rows: list[list[Any]],
               notify: dict[int, str], triggers: list[list[Any]] | None = None) -> Setup:
    """Write a golden workbook with ``rows`` and the Levels tab's Notify cells set."""
    path = write_golden(tmp_path / "log.xlsx", rows=rows, triggers=triggers)
    workbook = openpyxl.load_workbook(path)
    levels = workbook[schema.LEVELS]
    notify_column = schema.LEVELS_HEADERS.index("Notify") + 1
    for level, text in notify.items():
        assert levels.cell(level + 1, 1).value == f"L{level}"
        levels.cell(level + 1, notify_column).value = text
    workbook.save(path)
    setup = Setup(path, tmp_path / "config.toml", tmp_path / "state", http, smtp)
    setup.write_config()
    return setup


def l2_targets(http: Recorder) -> str:
    return f"webhook:{http.base}{L2_HOOK}, {L2_MAIL}, slack:{http.base}{SLACK_PATH}"


def complete_row(identifier: str, opened: dt.datetime, **values: Any) -> list[Any]:
    """An Escalations row with every Required info field filled."""
    fields = dict(id=identifier, opened=opened, customer="Fern Florist", contact="f@fern.test",
                  channel="Email", issue_type="Billing", description="Refund not received",
                  steps_tried="Checked the refund queue", sentiment="Frustrated",
                  urgency="High")
    return row(**{**fields, **values})


def set_templates(path: Path, rows: list[list[str]]) -> None:
    workbook = openpyxl.load_workbook(path)
    sheet = workbook[schema.TEMPLATES]
    sheet.delete_rows(2, sheet.max_row)
    for values_ in rows:
        sheet.append(values_)
    workbook.save(path)


# --- properties ----------------------------------------------------------------------


def _instant() -> st.SearchStrategy[Any]:
    return st.builds(at, st.integers(1, 4), st.integers(0, 23), st.sampled_from([0, 5, 30]))


def _cell(*values: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from(values)


ROWS = st.builds(
    lambda **cells: row(**cells),
    id=_cell(None, "ESC-0001", "esc-0001", "ESC-0007", "T-1"),
    opened=st.one_of(_instant(), _cell(None, "2026-06-02 10:00", "soon")),
    customer=_cell("Acme", "acme ", "Beta", "Gamma", "Delta", None),
    issue_type=_cell("Login", "Billing", None),
    issue_key=_cell(None, "K1", "k1 ", "K2"),
    description=_cell("cannot log in", "Cannot log in!", "cannot log in again today",
                      "invoice wrong", "our lawyer will call about the refund", None),
    level=_cell(None, "L1", "L2", "L3", "2"),
    escalated_at=st.one_of(st.none(), _instant()),
    first_response_at=st.one_of(st.none(), _instant()),
    resolved_at=st.one_of(st.none(), st.none(), _instant()),
    status=_cell(None, "Open", "Resolved", "Pending customer", "pending  CUSTOMER"),
    manager_requested=_cell(None, "yes", "no"),
    financial_impact=_cell(None, 100, "$6,000", "lots"),
    public_mention=_cell(None, "yes"),
)


# --- google --------------------------------------------------------------------------------


KEY = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-xyz"
ACCOUNT = "escalations-bot@acme-support.iam.gserviceaccount.com"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSheetsAPI]:
    api = FakeSheetsAPI(caller_email=ACCOUNT)
    real_open_client = gsheets.open_client

    def open_on_fake(credentials: str | None, oauth: bool) -> Any:
        return real_open_client(credentials, oauth, session=api.session())

    monkeypatch.setattr(gsheets, "open_client", open_on_fake)
    monkeypatch.setattr(gsheets.RetryingHTTPClient, "sleep", staticmethod(lambda seconds: None))
    for variable in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(variable, str(tmp_path / variable.lower()))
    monkeypatch.delenv("SHEETS_ESCALATION_CONFIG", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(_service_account_file(tmp_path)))
    yield api
    _assert_every_write_is_raw(api)


def _service_account_file(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "acme-support", "private_key_id": "0" * 40,
        "private_key": pem, "client_email": ACCOUNT, "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }))
    path.chmod(0o600)  # as a key file should be; a readable one is warned about
    return path


def _assert_every_write_is_raw(api: FakeSheetsAPI) -> None:
    for call in api.calls():
        if call.kind in ("values.update", "values.append"):
            assert call.query.get("valueInputOption") == ["RAW"], call.url
        elif call.kind == "values.batchUpdate":
            assert call.body["valueInputOption"] == "RAW", call.body
        elif call.kind == "batchUpdate":
            text = json.dumps(call.body)
            assert "USER_ENTERED" not in text
            # The one formula the tool ever writes: init's staleness indicator.
            formulas = re.findall(r'"formulaValue": ("(?:[^"\\]|\\.)*")', text)
            assert all(staleness.is_indicator(json.loads(f)) for f in formulas), formulas


def seed(fake: FakeSheetsAPI, path: Path, time_zone: str = "UTC") -> Spreadsheet:
    """Put the workbook at ``path`` on the fake, typed in as people type into Sheets."""
    workbook = openpyxl.load_workbook(path)
    book = fake.add_spreadsheet(KEY, {ws.title: [] for ws in workbook.worksheets},
                                time_zone=time_zone)
    for ws in workbook.worksheets:
        book.sheet(ws.title).type_values([list(r) for r in ws.iter_rows(values_only=True)])
    return book
