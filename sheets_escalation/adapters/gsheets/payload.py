"""Where a plan's writes land, and the requests that carry them under Google's body cap.

:class:`Targets` places every write of a plan: an Escalations write carries the ID its row
had when read and lands on the row that carries that ID in a fresh re-read (rows people
sorted, inserted or deleted meanwhile), appends go after the last non-blank row the re-read
shows, and a change that makes a write unsafe refuses the whole write. Then the writes are
cut into requests whose JSON stays under :data:`MAX_REQUEST_BYTES`: value writes into
``values:batchUpdate`` bodies (:func:`value_bodies`, cut between whole rows, the History
rows in the last request), structural requests into ``spreadsheets.batchUpdate`` batches
(:func:`request_batches`, a too-big ``updateCells`` cut by rows).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from gspread.utils import rowcol_to_a1

from sheets_escalation.adapters.gsheets.http import json_size
from sheets_escalation.adapters.gsheets.values import (
    a1,
    id_text,
    last_nonblank,
    quote_title,
    to_api_value,
    trimmed,
)
from sheets_escalation.core import errors
from sheets_escalation.core.schema import ESCALATIONS, HISTORY, normalize_header
from sheets_escalation.core.table import Table, Value, WritePlan, header_index

# Google refuses a request body over 10,485,760 bytes (HTTP 400 "Request payload size exceeds
# the limit", not in the published limits). Every body sent stays under this many bytes of
# JSON, leaving a margin for the size Google counts against the size requests serialises.
MAX_REQUEST_BYTES = 9 * 1024 * 1024


class Targets:
    """Where each write of a plan lands, checked against a fresh re-read.

    ``tables`` are the tabs the backend read, by title; ``title_of`` gives the actual title
    of a tab as the sheet has it now (None if it has none).
    """

    def __init__(self, tables: Mapping[str, Table], title_of: Callable[[str], str | None],
                 plan: WritePlan) -> None:
        self.tables = tables
        self.title_of = title_of
        self.plan = plan
        self.titles: dict[str, str] = {}
        for tab in {c.tab for c in plan.cells} | set(plan.appends):
            if tab in plan.new_tabs:
                self.titles[tab] = tab
                continue
            title = title_of(tab)
            if title is None or title not in tables:
                raise errors.ConcurrentEditError(
                    f"tab {tab!r} was not read before writing; nothing was written"
                )
            self.titles[tab] = title
        self.escalations = title_of(ESCALATIONS)
        read_esc = tables.get(self.escalations) if self.escalations else None
        self.header: list[Value] = list(read_esc.header) if read_esc else []
        self.id_col = header_index(self.header).get(normalize_header("ID"))
        self.read_ids = (
            [id_text(r[self.id_col]) if self.id_col < len(r) else "" for r in read_esc.body]
            if read_esc is not None and self.id_col is not None else []
        )
        self.tracked = any(c.row_id is not None for c in plan.cells)
        self.header_writes = any(
            self.titles.get(c.tab) == self.escalations and c.row == 0 for c in plan.cells
        )
        # Small tabs written by position (Settings' Last run) and tabs appended to are
        # re-read whole: a change there since the read refuses or moves the write.
        self.whole_tabs = sorted({
            self.titles[c.tab] for c in plan.cells
            if c.row_id is None and self.titles[c.tab] != self.escalations
            and c.tab not in plan.new_tabs
        } | {self.titles[t] for t, rows in plan.appends.items() if rows and t not in plan.new_tabs})
        self.row_of: dict[int, int] = {}
        # Until the re-read, appends are placed after the rows of the first read.
        self.append_at: dict[str, int] = {
            title: last_nonblank(tables[title].rows) + 1 for title in self.whole_tabs}

    def reread_ranges(self) -> list[str]:
        ranges: list[str] = []
        if self.escalations and (self.tracked or self.header_writes):
            if self.id_col is None and self.tracked:
                raise errors.ConcurrentEditError(
                    f"{self.escalations} has no ID column, so rows cannot be tracked"
                )
            ranges.append(f"{quote_title(self.escalations)}!1:1")
            if self.id_col is not None:
                column = rowcol_to_a1(1, self.id_col + 1).rstrip("0123456789")
                ranges.append(f"{quote_title(self.escalations)}!{column}:{column}")
        ranges.extend(quote_title(t) for t in self.whole_tabs)
        return ranges

    def check_against_reread(self, grids: list[list[list[Value]]]) -> None:
        grids = list(grids)
        if self.escalations and (self.tracked or self.header_writes):
            header = grids.pop(0)
            if trimmed(header[:1]) != trimmed([self.header]):
                raise errors.ConcurrentEditError(
                    f"the {self.escalations} header row changed while the job ran;"
                    " nothing was written, the next run repairs it"
                )
            if self.id_col is not None:
                column = grids.pop(0)
                self._map_rows([id_text(r[0]) if r else "" for r in column[1:]])
        for title in self.whole_tabs:
            rows = grids.pop(0)
            read_rows = self.tables[title].rows
            if any(self.titles[c.tab] == title and c.row_id is None for c in self.plan.cells) \
                    and trimmed(rows) != trimmed(read_rows):
                raise errors.ConcurrentEditError(
                    f"tab {title!r} changed while the job ran; nothing was written,"
                    " the next run repairs it"
                )
            self.append_at[title] = last_nonblank(rows) + 1

    def _map_rows(self, current: list[str]) -> None:
        read = self.read_ids
        padded = current + [""] * max(0, len(read) - len(current))
        stable = padded[: len(read)] == read
        positions: dict[str, list[int]] = {}
        for index, row_id in enumerate(current):
            positions.setdefault(row_id, []).append(index)
        for cell in self.plan.cells:
            if cell.row_id is None or cell.row == 0 or cell.row in self.row_of:
                continue
            body = cell.row - 1
            if stable:
                self.row_of[cell.row] = cell.row
                continue
            key = read[body] if body < len(read) else ""
            where = positions.get(key, []) if key else []
            if len(where) != 1:
                state = "is blank" if not key else (
                    "is gone" if not where else "is now on several rows")
                what = f"row {cell.row + 1}" if not key else f"ID {key!r}"
                raise errors.ConcurrentEditError(
                    f"rows of {self.escalations} moved while the job ran and {what} {state};"
                    " nothing was written, the next run repairs it"
                )
            self.row_of[cell.row] = where[0] + 1

    def _grid_cells(self) -> dict[str, dict[tuple[int, int], Value]]:
        grid: dict[str, dict[tuple[int, int], Value]] = {}
        for tab, rows in self.plan.new_tabs.items():
            for offset, values in enumerate(rows[1:], start=1):
                for col, value in enumerate(values):
                    grid.setdefault(tab, {})[(offset, col)] = value
        for cell in self.plan.cells:
            title = self.titles[cell.tab]
            row = self.row_of.get(cell.row, cell.row) if cell.row_id is not None else cell.row
            grid.setdefault(title, {})[(row, cell.col)] = cell.value
        for tab, rows in self.plan.appends.items():
            if not rows:
                continue
            title = self.titles[tab]
            start = (
                last_nonblank(self.plan.new_tabs[tab]) + 1 if tab in self.plan.new_tabs
                else self.append_at[title]
            )
            for offset, values in enumerate(rows):
                for col, value in enumerate(values):
                    grid.setdefault(title, {})[(start + offset, col)] = value
        return grid

    def extent(self) -> dict[str, tuple[int, int]]:
        """Per existing or created tab, the rows and columns the values write needs."""
        return {
            title: (max(r for r, _ in cells) + 1, max(c for _, c in cells) + 1)
            for title, cells in self._grid_cells().items() if cells
        }

    def value_tabs(self) -> list[tuple[str, dict[tuple[int, int], Any]]]:
        """Every write as ``(title, {(row, column): JSON value written RAW})``, in the order
        they are sent: the History rows last."""
        history = self.title_of(HISTORY) or HISTORY
        grid = self._grid_cells()
        return [(title, {key: _compact(to_api_value(value)) for key, value in grid[title].items()})
                for title in sorted(grid, key=lambda t: t == history)]


def value_bodies(targets: Targets) -> list[dict[str, Any]]:
    """Given the targets of a plan checked against the re-read, return the bodies of the
    RAW ``values:batchUpdate`` requests writing every value, in order, each at most
    :data:`MAX_REQUEST_BYTES` of JSON (one, unless the write is bigger). Raise SourceError
    if one row of values alone is over the cap."""
    budget = MAX_REQUEST_BYTES - json_size({"valueInputOption": "RAW", "data": []})
    return [{"valueInputOption": "RAW", "data": chunk}
            for chunk in _value_chunks(targets.value_tabs(), budget)]


def request_batches(requests_: Sequence[dict[str, Any]],
                    options: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
    """Given ``spreadsheets.batchUpdate`` requests in order and the options sent beside them,
    return the requests as consecutive batches, each body at most :data:`MAX_REQUEST_BYTES`
    of JSON (see :func:`_request_chunks`)."""
    return _request_chunks(requests_, MAX_REQUEST_BYTES - json_size(options))


Cells = Mapping[tuple[int, int], Any]

# A column's written rows go as one column-major range unless more than this many rows
# between two of them are left alone (each costs a ``null``; a new range costs ~80 bytes).
GAP_ROWS = 15
# Fewer cells than this in such a run are written row by row with their row's other cells.
MIN_RUN = 4
# In a row, cells up to this many columns apart share a range (``null`` in between).
GAP_COLUMNS = 3


def _compact(value: Any) -> Any:
    """A whole-number float as the JSON integer naming the same number (``8`` for ``8.0``:
    Google stores every number as a double, so the cell is the same, in fewer bytes)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53 \
            and not (value == 0 and math.copysign(1.0, value) < 0):
        return int(value)
    return value


def _blocks(cells: Cells) -> Iterator[tuple[int, int, list[list[Any]]]]:
    """Given cells by (row, column), return them as rectangles ``(top row, left column,
    rows of values)``: cells of a row up to :data:`GAP_COLUMNS` apart coalesced (``None``,
    sent as ``null``, leaves the cells between alone), then consecutive rows with the same
    columns merged."""
    by_row: dict[int, list[int]] = {}
    for row, col in cells:
        by_row.setdefault(row, []).append(col)
    blocks: dict[tuple[int, int], list[list[int]]] = {}
    for row in sorted(by_row):
        cols = sorted(by_row[row])
        spans = [[cols[0], cols[0]]]
        for col in cols[1:]:
            if col - spans[-1][1] <= GAP_COLUMNS:
                spans[-1][1] = col
            else:
                spans.append([col, col])
        for first, last in spans:
            runs = blocks.setdefault((first, last), [])
            if runs and runs[-1][-1] == row - 1:
                runs[-1].append(row)
            else:
                runs.append([row])
    for (first, last), runs in blocks.items():
        for rows in runs:
            yield rows[0], first, [[cells.get((r, c)) for c in range(first, last + 1)] for r in rows]


def _value_ranges(title: str, cells: Cells) -> list[tuple[dict[str, Any], int]]:
    """The RAW value ranges writing ``cells`` (JSON values) of ``title``, each with its JSON
    size plus the separator that follows it in a list.

    A column's run of written rows is one column-major range (``majorDimension`` COLUMNS:
    no brackets per row), a cell the run skips sent as ``null``, which Google leaves as it is
    ("Null values will be skipped", ValueRange in the API's discovery document); the few
    cells outside such runs go row by row (:func:`_blocks`). Every cell is in one range.
    """
    by_col: dict[int, list[int]] = {}
    for row, col in cells:
        by_col.setdefault(col, []).append(row)
    out: list[tuple[dict[str, Any], int]] = []
    loose: dict[tuple[int, int], Any] = {}
    for col in sorted(by_col):
        rows = sorted(by_col[col])
        runs = [[rows[0], rows[0], 1]]
        for row in rows[1:]:
            if row - runs[-1][1] > GAP_ROWS + 1:
                runs.append([row, row, 1])
            else:
                runs[-1][1], runs[-1][2] = row, runs[-1][2] + 1
        for top, bottom, count in runs:
            if count < MIN_RUN:
                loose.update({(r, col): cells[(r, col)] for r in rows
                              if top <= r <= bottom})
                continue
            item = {"range": a1(title, top, col, bottom, col), "majorDimension": "COLUMNS",
                    "values": [[cells.get((r, col)) for r in range(top, bottom + 1)]]}
            out.append((item, json_size(item) + 2))
    for top, left, values in _blocks(loose):
        item = {"range": a1(title, top, left, top + len(values) - 1, left + len(values[0]) - 1),
                "values": values}
        out.append((item, json_size(item) + 2))
    return out


def _value_chunks(tabs: Sequence[tuple[str, Cells]], budget: int) -> list[list[dict[str, Any]]]:
    """Given the tabs' cells in write order (see :meth:`Targets.value_tabs`), return the
    ``data`` of each values:batchUpdate to send, each at most ``budget`` bytes. Packed from
    the end, so the last request is full and holds the last tab (the History rows): a tab
    that fits in one request is never cut; a bigger one is cut between rows (every cell of
    a row in the same request, so no row has its Level written in one request and its
    Escalated at in another, which the next run would misread), filling each request.
    Raise SourceError if one row alone does not fit."""
    chunks: list[list[dict[str, Any]]] = []
    room = 0
    for title, cells in reversed(tabs):
        # Every value costs its bytes and a comma at least: a tab whose values alone are
        # over the budget is cut without first laying out its ranges whole.
        least = json_size(list(cells.values())) - 1
        ranges = _value_ranges(title, cells) if least <= budget else []
        size = sum(piece for _, piece in ranges) if ranges else least
        if size <= budget:
            if not chunks or size > room:
                chunks.append([])
                room = budget
            chunks[-1][:0] = [item for item, _ in ranges]
            room -= size
            continue
        del ranges
        by_row: dict[int, dict[tuple[int, int], Any]] = {}
        for key, value in cells.items():
            by_row.setdefault(key[0], {})[key] = value
        rows = sorted(by_row)
        # What each row adds to a request (its values and commas), near enough to cut
        # where a request fills; the ranges' own bytes are checked when it is cut.
        cost = [json_size(list(by_row[row].values())) - 1 for row in rows]
        end = len(rows)
        while end:
            if not chunks or room <= 0:
                chunks.append([])
                room = budget
            fitted = _fill(title, rows, cost, by_row, end, room)
            if fitted is None:
                if room == budget:
                    raise errors.SourceError(
                        f"tab {title!r}: one row of values is over {budget:,} bytes of JSON,"
                        " more than Google accepts in a request")
                room = 0
                continue
            start, band, band_size = fitted
            chunks[-1][:0] = band
            room -= band_size
            end = start
    return chunks[::-1]


def _fill(title: str, rows: Sequence[int], cost: Sequence[int],
          by_row: Mapping[int, Mapping[tuple[int, int], Any]], end: int,
          room: int) -> tuple[int, list[dict[str, Any]], int] | None:
    """The most rows ending at ``rows[end - 1]`` whose ranges fit in ``room`` bytes: their
    first index, ranges and size; None if not even the last row fits."""
    start, total = end - 1, cost[end - 1]
    while start and total + cost[start - 1] <= room:
        start -= 1
        total += cost[start]
    while True:
        band = _value_ranges(title, {key: value for row in rows[start:end]
                                     for key, value in by_row[row].items()})
        size = sum(piece for _, piece in band)
        if size <= room:
            return start, [item for item, _ in band], size
        if start == end - 1:
            return None
        # Over by ``size - room`` bytes: drop about that many bytes of rows, and a few more.
        over, dropped = size - room, 0
        while start < end - 1 and dropped < over * 1.05 + 64:
            dropped += cost[start]
            start += 1


def _row_pieces(rows: Sequence[Any], frame: int, budget: int, what: str) -> Iterator[tuple[int, int, int]]:
    """Cut ``rows`` (JSON list items) into consecutive pieces that, inside a ``frame`` bytes
    long, stay within ``budget`` bytes; yield ``(first, count, bytes)``.
    Raise SourceError if one row alone does not fit."""
    first, size = 0, frame
    for index, row in enumerate(rows):
        cost = json_size(row) + 2  # ", " between list items
        if frame + cost > budget:
            raise errors.SourceError(
                f"{what}: one row of values is over {budget:,} bytes of JSON, more than"
                " Google accepts in a request"
            )
        if size + cost > budget:
            yield first, index - first, size
            first, size = index, frame
        size += cost
    yield first, len(rows) - first, size


def _request_chunks(requests_: Sequence[dict[str, Any]], limit: int) -> list[list[dict[str, Any]]]:
    """Given batchUpdate requests in order, return them as consecutive batches whose
    ``{"requests": [...]}`` body is at most ``limit`` bytes; an ``updateCells`` too big for
    one is split by rows. Raise SourceError if another request alone is too big."""
    budget = limit - json_size({"requests": []})
    batches: list[list[dict[str, Any]]] = [[]]
    room = budget
    for request in requests_:
        size = json_size(request) + 2
        pieces = [(request, size)]
        update = request.get("updateCells", {})
        if size > budget and "start" in update and update.get("rows"):
            start = update["start"]
            frame = json_size({"updateCells": {**update, "rows": []}}) + 2
            pieces = [({"updateCells": {
                **update, "rows": update["rows"][first:first + count],
                "start": {**start, "rowIndex": start.get("rowIndex", 0) + first}}}, piece)
                for first, count, piece in _row_pieces(update["rows"], frame, budget, "a tab")]
        elif size > budget:
            raise errors.SourceError(
                f"a {next(iter(request))} request is over {budget:,} bytes of JSON, more than"
                " Google accepts in a request")
        for piece, piece_size in pieces:
            if piece_size > room:
                batches.append([])
                room = budget
            batches[-1].append(piece)
            room -= piece_size
    return [batch for batch in batches if batch]
