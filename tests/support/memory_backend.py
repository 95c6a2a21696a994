"""A Backend of our own protocol, in memory: the fake the core is tested against."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sheets_escalation.core.limits import XLSX_CELL_CHARACTERS
from sheets_escalation.core.table import Table, WritePlan


class MemoryBackend:
    name = "memory"
    max_cell_characters = XLSX_CELL_CHARACTERS

    def __init__(self, tabs: dict[str, list[list[Any]]], timezone: str | None = None) -> None:
        self.tabs = {title: [list(r) for r in rows] for title, rows in tabs.items()}
        self.timezone = timezone
        self.writes: list[WritePlan] = []

    def read(self, tabs: Sequence[str]) -> dict[str, Table]:
        return {t: Table(t, copy.deepcopy(self.tabs[t])) for t in tabs if t in self.tabs}

    def write(self, plan: WritePlan) -> None:
        self.writes.append(plan)
        for title, rows in plan.new_tabs.items():
            self.tabs[title] = [list(r) for r in rows]
        for title, rows in plan.replace_tabs.items():
            self.tabs[title] = [list(r) for r in rows]
        for cell in plan.cells:
            grid = self.tabs[cell.tab]
            while len(grid) <= cell.row:
                grid.append([])
            row = grid[cell.row]
            while len(row) <= cell.col:
                row.append(None)
            row[cell.col] = cell.value
        for title, rows in plan.appends.items():
            grid = self.tabs[title]
            while grid and not any(v not in (None, "") for v in grid[-1]):
                grid.pop()
            grid.extend(list(r) for r in rows)

    @contextmanager
    def lock(self) -> Iterator[None]:
        yield

    def check_writable(self) -> None:
        pass

    def spreadsheet_timezone(self) -> str | None:
        return self.timezone
