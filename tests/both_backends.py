"""One workbook, two sources: a local .xlsx and the fake Google Sheet, both driven through
the real CLI (click's CliRunner on ``sheets_escalation.cli.cli``).

For Google, the real gspread client and GoogleSheetsBackend talk to
:class:`tests.fake_sheets.FakeSheetsAPI`: only ``open_client`` is swapped for one that hands
the fake's session to gspread, so everything from source parsing to the RAW values write is
the production path.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

from sheets_escalation.adapters.gsheets import http as gsheets
from sheets_escalation.adapters.xlsx.template import new_workbook
from sheets_escalation.cli import cli
from sheets_escalation.core import schema
from sheets_escalation.core.table import EPOCH
from tests.fake_sheets import FakeSheetsAPI

KEY = "1GuaranteesSheetKey_abcdefghijklmnopqrstuvw"
NOW = "2026-11-24T15:00:00+00:00"  # a Tuesday, 15:00 UTC
HEADER = [c.header for c in schema.ESCALATION_COLUMNS]
INPUT_HEADER = [c.header for c in schema.INPUT_COLUMNS]
DATETIME_HEADERS = {c.header for c in schema.ESCALATION_COLUMNS if c.kind == "datetime"}
KINDS = ("xlsx", "google")


class Formula(str):
    """A cell value to store as a formula; every other string is stored as text."""


def serial(moment: dt.datetime) -> float:
    """A naive local datetime as a spreadsheet serial number."""
    return (moment - EPOCH) / dt.timedelta(days=1)


def from_serial(value: float) -> dt.datetime:
    """A serial number as a naive datetime, to the second."""
    return EPOCH + dt.timedelta(seconds=round(value * 86400))


def esc_row(header: list[str] | None = None, **values: Any) -> list[Any]:
    """Given headers (default: the input headers) and values by header text, return a row."""
    header = header or INPUT_HEADER
    cells: list[Any] = [None] * len(header)
    for name, value in values.items():
        cells[header.index(name)] = value
    return cells


def good_row(**values: Any) -> list[Any]:
    """A complete, healthy L1 row opened Tuesday 09:30; ``values`` override by header. Each
    row's Issue type is its own (from its ID), so rows never count as one repeated issue."""
    base: dict[str, Any] = {
        "ID": "ESC-0100", "Opened": dt.datetime(2026, 11, 24, 9, 30), "Customer": "Control Co",
        "Contact": "c@control.test", "Channel": "Email",
        "Issue type": f"Billing {values.get('ID') or values.get('Customer')}",
        "Description": "Invoice address wrong", "Steps tried": "Checked account",
        "Sentiment": "Calm", "Urgency": "Low",
        "First response at": dt.datetime(2026, 11, 24, 10, 0),
    }
    base.update(values)
    return esc_row(**base)


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class Book:
    """A workbook on one source kind; ``source`` is what the CLI is given."""

    kind: str
    path: Path
    fake: FakeSheetsAPI = field(default_factory=FakeSheetsAPI)

    @property
    def source(self) -> str:
        return str(self.path) if self.kind == "xlsx" else KEY

    def cli(self, *args: str) -> Run:
        """Run ``sheets-escalation COMMAND SOURCE ARGS...`` (``args[0]`` is the command)."""
        command, *rest = args
        result = CliRunner().invoke(cli, [command, self.source, *rest])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Run(result.exit_code, result.stdout, result.stderr)

    def sync(self, *args: str) -> Run:
        return self.cli("sync", "--now", NOW, *args)

    def grid(self, tab: str = schema.ESCALATIONS) -> list[list[Any]]:
        """The tab's values as people see them: formulas as their text ("=..."), blank as
        None, datetime columns as naive datetimes on both sources, trailing blanks cut."""
        if self.kind == "xlsx":
            workbook = openpyxl.load_workbook(self.path)
            rows = [list(r) for r in workbook[tab].iter_rows(values_only=True)]
        else:
            sheet = self.fake.books[KEY].sheet(tab)
            rows = [[(c.formula if c.formula is not None else c.value) for c in r]
                    for r in sheet.rows]
        header = [str(h) if h is not None else "" for h in rows[0]] if rows else []
        dates = {i for i, h in enumerate(header) if h in DATETIME_HEADERS or
                 (tab == schema.HISTORY and h == "At")}
        out = []
        for values in rows:
            cells = [None if v == "" else v for v in values]
            for i in dates:
                value = cells[i] if i < len(cells) else None
                if isinstance(value, float) and values is not rows[0]:
                    cells[i] = from_serial(value)
            while cells and cells[-1] is None:
                cells.pop()
            out.append(cells)
        while out and not out[-1]:
            out.pop()
        return out

    def records(self) -> list[dict[str, Any]]:
        """Escalations body rows as header -> value (every header present, blank is None)."""
        rows = self.grid()
        header = [str(h) if h is not None else "" for h in rows[0]]
        return [{h: (r[i] if i < len(r) else None) for i, h in enumerate(header) if h}
                for r in rows[1:]]

    def by_id(self) -> dict[str, dict[str, Any]]:
        return {str(r["ID"]): r for r in self.records()}


def template_tabs() -> dict[str, list[list[Any]]]:
    """The template's tabs as rows of values (policy tabs seeded with the defaults)."""
    workbook = new_workbook()
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in workbook.worksheets}


def make_book(kind: str, directory: Path, escalations: list[list[Any]] | None,
              monkeypatch: pytest.MonkeyPatch, **tabs: list[list[Any]] | None) -> Book:
    """Given rows for the Escalations tab (header first; None: no such tab) and replacement
    rows for other tabs (None removes a tab), create the workbook on ``kind`` from the
    template and point the CLI at it."""
    wanted: dict[str, list[list[Any]] | None] = {**template_tabs(), **tabs,
                                                   schema.ESCALATIONS: escalations}
    content = {title: rows for title, rows in wanted.items() if rows is not None}
    path = directory / "book.xlsx"
    isolate(directory, monkeypatch)
    book = Book(kind, path)
    if kind == "xlsx":
        workbook = new_workbook()
        for title in list(workbook.sheetnames):
            if title not in content:
                workbook.remove(workbook[title])
            elif title in (schema.ESCALATIONS, *tabs):
                workbook[title].delete_rows(1, workbook[title].max_row)
        for title, rows in content.items():
            sheet = workbook[title] if title in workbook.sheetnames else workbook.create_sheet(title)
            for row_number, values in enumerate(rows, start=1):
                for column, value in enumerate(values, start=1):
                    if value is not None:
                        cell = sheet.cell(row_number, column)
                        cell.value = value
                        if isinstance(value, str) and not isinstance(value, Formula):
                            cell.data_type = "s"
        workbook.save(path)
    else:
        book.fake.add_spreadsheet(KEY, {
            title: [[serial(v) if isinstance(v, dt.datetime) else v for v in r] for r in rows]
            for title, rows in content.items()
        }, time_zone="UTC")
        use_fake(book.fake, monkeypatch)
    return book


def isolate(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the run's local state (config, journal, Google lock) inside ``directory``."""
    monkeypatch.setenv("SHEETS_ESCALATION_CONFIG", str(directory / "no-config.toml"))
    monkeypatch.setenv("XDG_STATE_HOME", str(directory / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(directory / "cache"))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.delenv("SHEETS_ESCALATION_DEBUG", raising=False)


def use_fake(fake: FakeSheetsAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the CLI's Google client talk to ``fake``: credentials are still loaded the real
    way when given; only the network under them is the fake."""
    real = gsheets.open_client

    def open_client(credentials: str | None, oauth: bool, session: Any = None,
                    environ: Any = None) -> Any:
        if credentials is None and not oauth:
            return gsheets.client_with_session(fake.session())
        return real(credentials, oauth, session=fake.session(), environ=environ)

    monkeypatch.setattr(gsheets, "open_client", open_client)
