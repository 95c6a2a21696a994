"""Small golden workbooks for end-to-end tests, built from the real template."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.chart import BarChart, Reference

from sheets_escalation.adapters.xlsx.template import new_workbook
from sheets_escalation.core import schema

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
