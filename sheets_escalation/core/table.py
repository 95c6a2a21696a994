"""The protocol every source implements, and the plan of writes it executes.

A backend reads tabs as grids of raw cell values and executes a :class:`WritePlan`. It
knows nothing of the policy; ``sync`` knows backends only through this protocol.

Raw cell values are ``None`` (blank), ``str``, ``int``, ``float``, ``bool`` or a naive
``datetime.datetime`` / ``datetime.date`` (a date cell, local time). Google Sheets
backends read with UNFORMATTED_VALUE + SERIAL_NUMBER and therefore hand datetimes over
as serial numbers (floats); readers of datetime columns accept both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from sheets_escalation.core.limits import fit_text

Value = Any  # None | str | int | float | bool | datetime.datetime | datetime.date


@dataclass
class Table:
    """One tab as read: ``rows[0]`` is the header row; rows may be ragged."""

    title: str
    rows: list[list[Value]]

    @property
    def header(self) -> list[Value]:
        return self.rows[0] if self.rows else []

    @property
    def body(self) -> list[list[Value]]:
        return self.rows[1:]


@dataclass(frozen=True, slots=True)
class CellWrite:
    """Write ``value`` at 0-based ``row`` (0 is the header row) and ``col`` of ``tab``.

    ``row_id`` is the Escalations ID the row had when it was read (``None`` for other tabs
    and for header cells): a backend whose rows may move between read and write must land
    the write on the row that still carries this ID, or refuse the whole plan.
    ``value`` is written as a plain value: strings are never interpreted as formulas,
    naive datetimes are written as date-time cells.
    """

    tab: str
    row: int
    col: int
    value: Value
    row_id: str | None = None


@dataclass
class WritePlan:
    """Everything one run writes, computed before anything is written."""

    cells: list[CellWrite] = field(default_factory=list)
    # Rows appended after the last non-empty row of a tab (History events).
    appends: dict[str, list[list[Value]]] = field(default_factory=dict)
    # Tabs to create, with their initial rows (e.g. History with its header).
    new_tabs: dict[str, list[list[Value]]] = field(default_factory=dict)
    # Tabs replaced whole (the review tab), as rows; backends may add formatting.
    replace_tabs: dict[str, list[list[Value]]] = field(default_factory=dict)
    # For a replaced tab: lays out the openpyxl worksheet after its rows are written (xlsx
    # backend). If it also has ``sheet_requests(sheet_id) -> list[dict]``, the Google Sheets
    # backend sends those requests (formats, charts) in the batchUpdate that replaces the tab.
    tab_formatters: dict[str, Callable[[Any], None]] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not (self.cells or any(self.appends.values()) or self.new_tabs or self.replace_tabs)

    def fit(self, limit: int) -> None:
        """Shorten, in place, every text longer than ``limit`` characters (see
        :func:`~sheets_escalation.core.limits.fit_text`): one over-long cell must not make the
        source refuse the whole write, run after run."""
        self.cells[:] = [CellWrite(c.tab, c.row, c.col, fit_text(c.value, limit), c.row_id)
                         if isinstance(c.value, str) and len(c.value) > limit else c
                         for c in self.cells]
        for tabs in (self.appends, self.new_tabs, self.replace_tabs):
            for rows in tabs.values():
                for row in rows:
                    for position, value in enumerate(row):
                        if isinstance(value, str) and len(value) > limit:
                            row[position] = fit_text(value, limit)


class Backend(Protocol):
    """A workbook the tool can read and write."""

    #: A short human name of the source for messages ("escalations.xlsx", "sheet KEY").
    name: str
    #: The most characters one cell holds; ``write`` shortens longer texts to fit.
    max_cell_characters: int

    def read(self, tabs: Sequence[str]) -> dict[str, Table]:
        """Given tab titles, return the tabs that exist (missing tabs are left out).

        Raise SourceError if the source cannot be read.
        """
        ...

    def write(self, plan: WritePlan) -> None:
        """Execute ``plan`` all at once. Raise SourceError or ConcurrentEditError; on
        either, nothing (or nothing visible) was written."""
        ...

    def check_writable(self) -> None:
        """Raise RefusedError now if a write would be refused whatever it holds (an .xlsx
        open in an office program), so a run stops before it sends a notification about
        a change it could not write."""
        ...

    def lock(self) -> AbstractContextManager[None]:
        """Hold the per-source lock for the duration of a run. Raise LockHeldError."""
        ...

    def spreadsheet_timezone(self) -> str | None:
        """The source's own time zone (Google Sheets), or None."""
        ...


def header_index(header: Sequence[Value]) -> dict[str, int]:
    """Given a header row, return normalized header -> first 0-based column index."""
    from sheets_escalation.core.schema import normalize_header

    index: dict[str, int] = {}
    for position, cell in enumerate(header):
        key = normalize_header(cell)
        if key and key not in index:
            index[key] = position
    return index


EPOCH = dt.datetime(1899, 12, 30)  # noqa: DTZ001 - spreadsheet serial-number origin
