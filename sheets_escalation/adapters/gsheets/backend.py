"""A Google Sheet as a backend: what a sync or a review reads and writes, request by request.

The pieces it is built from sit beside it: every request goes through the retrying client of
:mod:`~sheets_escalation.adapters.gsheets.http` (credentials:
:mod:`~sheets_escalation.adapters.gsheets.auth`); values convert as
:mod:`~sheets_escalation.adapters.gsheets.values` says; where each write lands and how writes
are cut into requests is :mod:`~sheets_escalation.adapters.gsheets.payload`; the look of a
laid-out tab is :mod:`~sheets_escalation.adapters.gsheets.layout`.

A sync costs four requests whatever the number of rows, the first sync included, as long
as its values fit in one request body (Google refuses bodies over 10 MiB; a first sync of
about 130,000 generated rows reaches
:data:`~sheets_escalation.adapters.gsheets.payload.MAX_REQUEST_BYTES`, a rerun writes far less):

1. ``spreadsheets.get`` with a ``fields`` mask (titles, sheet ids, grid sizes, time zone);
2. one ``values:batchGet`` of every requested tab (UNFORMATTED_VALUE + SERIAL_NUMBER);
3. just before writing, a re-read of the Escalations header row and ID column (plus the small
   tabs the plan writes into or appends to): a ``values:batchGet`` when the grids hold every
   write (every rerun), else one ``spreadsheets.batchUpdate`` that first creates or replaces
   tabs and grows grids (with headroom) and returns those ranges, as they are after it, in
   its answer (``includeSpreadsheetInResponse`` + ``responseRanges``);
4. one ``values:batchUpdate`` with ``valueInputOption=RAW`` carrying every value write.

No request body exceeds :data:`~sheets_escalation.adapters.gsheets.payload.MAX_REQUEST_BYTES`:
a bigger values write is split into several ``values:batchUpdate`` requests (the History
rows in the last), a bigger structural batch into several ``spreadsheets.batchUpdate``
requests (:mod:`~sheets_escalation.adapters.gsheets.payload`). Strings stay text and are never
parsed (a customer's ``=HYPERLINK(...)`` stays text), numbers and booleans stay numbers and
booleans, a blank empties the cell, and cell formats are left as they are. Google applies
each ``spreadsheets.batchUpdate`` atomically (all its requests or none); what a failure
between two requests leaves, and how the next run completes it, is described at
:meth:`GoogleSheetsBackend.write`.

A review costs three requests: the metadata, one ``values:batchGet``, and one
``spreadsheets.batchUpdate`` that (re)creates the review tab with its values, formats and
native charts, all applied at once (see
:func:`~sheets_escalation.adapters.gsheets.layout.review_sheet_requests`); a review tab too big
for one request body is filled over several.

Rows may be sorted, inserted or deleted by people while the job runs. Each Escalations write
carries the ID its row had when read; the re-read (3.) lands it on the row that now carries
that ID (:class:`~sheets_escalation.adapters.gsheets.payload.Targets`), or the whole write
is refused with :class:`ConcurrentEditError` and no value is written. The window left is the time between requests 3 and 4 (one round trip; until the
last values request when a write is split).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock
import gspread
from gspread.http_client import HTTPClient
from gspread.urls import SPREADSHEET_BATCH_UPDATE_URL

from sheets_escalation.adapters.gsheets.auth import describe_account
from sheets_escalation.adapters.gsheets.layout import new_tab_requests
from sheets_escalation.adapters.gsheets.payload import Targets, request_batches, value_bodies
from sheets_escalation.adapters.gsheets.values import (
    from_api,
    grids_in_response,
    quote_title,
    update_cells,
)
from sheets_escalation.core import errors
from sheets_escalation.core.limits import GOOGLE_CELL_CHARACTERS
from sheets_escalation.core.schema import normalize_header
from sheets_escalation.core.table import Table, Value, WritePlan

# Headroom added when a tab's grid must grow, so the larger batchUpdate write is rare (History
# grows a few rows per run).
GRID_HEADROOM_ROWS = 500
# What the structural batchUpdate's answer carries: the re-read ranges' values (effective
# values, as UNFORMATTED_VALUE reads them; formatted text for error cells) and the grid sizes.
# Without a mask Google would also return every cell's formats, megabytes for a long log.
UPDATED_SPREADSHEET_FIELDS = (
    "updatedSpreadsheet.sheets(properties(title,gridProperties(rowCount,columnCount)),"
    "data(startRow,startColumn,rowData.values(effectiveValue,formattedValue)))"
)
METADATA_FIELDS = (
    "properties(title,timeZone),"
    "sheets(properties(sheetId,title,index,gridProperties(rowCount,columnCount)),charts(chartId))"
)


@dataclass
class _Sheet:
    sheet_id: int
    title: str
    index: int
    rows: int
    cols: int
    charts: tuple[int, ...] = ()



class GoogleSheetsBackend:
    """A Google Sheet as a :class:`~sheets_escalation.core.table.Backend`."""

    max_cell_characters = GOOGLE_CELL_CHARACTERS

    def __init__(self, key: str, client: gspread.Client, lock_dir: Path | None = None) -> None:
        self.key = key
        self.name = f"sheet {key}"
        self._http: HTTPClient = client.http_client
        self._lock_dir = lock_dir
        self._sheets: dict[str, _Sheet] = {}
        self._time_zone: str | None = None
        self._spreadsheet_title = ""
        self._tables: dict[str, Table] = {}

    # ---- reading

    def _metadata(self) -> None:
        meta = self._http.fetch_sheet_metadata(
            self.key, params={"includeGridData": "false", "fields": METADATA_FIELDS}
        )
        self._time_zone = meta.get("properties", {}).get("timeZone") or None
        self._spreadsheet_title = str(meta.get("properties", {}).get("title", ""))
        self._sheets = {}
        for sheet in meta.get("sheets", []):
            props = sheet["properties"]
            grid = props.get("gridProperties", {})
            self._sheets[props["title"]] = _Sheet(
                sheet_id=int(props.get("sheetId", 0)), title=props["title"],
                index=int(props.get("index", 0)),
                rows=int(grid.get("rowCount", 0)), cols=int(grid.get("columnCount", 0)),
                charts=tuple(int(c["chartId"]) for c in sheet.get("charts", [])),
            )

    def _title(self, tab: str) -> str | None:
        """The actual title of ``tab``: exact, else the one title equal ignoring case/spaces."""
        if tab in self._sheets:
            return tab
        loose = [t for t in self._sheets if normalize_header(t) == normalize_header(tab)]
        return loose[0] if len(loose) == 1 else None

    def _batch_get(self, ranges: Sequence[str]) -> list[list[list[Value]]]:
        answer = self._http.values_batch_get(
            self.key, list(ranges),
            params={
                "valueRenderOption": "UNFORMATTED_VALUE",
                "dateTimeRenderOption": "SERIAL_NUMBER",
                "majorDimension": "ROWS",
            },
        )
        return [
            [[from_api(v) for v in row] for row in value_range.get("values", [])]
            for value_range in answer.get("valueRanges", [])
        ]

    def read(self, tabs: Sequence[str]) -> dict[str, Table]:
        """Given tab titles, return the tabs that exist, keyed by the requested title.

        Datetimes arrive as serial numbers; blank cells as None; rows stay ragged.
        Raise SourceError if the sheet cannot be read.
        """
        self._metadata()
        found = {tab: title for tab in tabs if (title := self._title(tab)) is not None}
        tables: dict[str, Table] = {}
        if found:
            grids = self._batch_get([quote_title(title) for title in found.values()])
            for (tab, title), rows in zip(found.items(), grids, strict=True):
                tables[tab] = Table(title=title, rows=rows)
        self._tables = {t.title: t for t in tables.values()}
        return tables

    def spreadsheet_timezone(self) -> str | None:
        """The spreadsheet's own time zone (from the last read), or None before a read."""
        return self._time_zone

    # ---- writing

    def write(self, plan: WritePlan) -> None:
        """Execute ``plan`` with one re-read and, below the payload cap, one values write
        (see the module doc).

        Request 3 re-reads what the writes depend on. Without structure it is a
        ``values:batchGet``; when the plan creates or replaces a tab, or a write falls outside
        a tab's grid (judged from the first read), it is one ``spreadsheets.batchUpdate``
        carrying addSheet / the replaced tab's contents / the appendDimension growth whose
        response returns the same ranges read after the structure was applied. Request 4 is
        one RAW ``values:batchUpdate`` of every value (strings never parsed, formats
        untouched), split into several when its JSON exceeds
        :data:`~sheets_escalation.adapters.gsheets.payload.MAX_REQUEST_BYTES`:
        between bands of whole rows (every cell of a row in the same request), the History
        rows in the last one. A grid that people grew the need of after the first
        read (rows added past the headroom) costs one more ``appendDimension`` request.

        Failure modes: a structural batchUpdate is atomic (all or nothing). If a later
        request fails, the structure stays (a grown grid, a new tab holding only its
        header): it holds no event, and the next run, reading it, writes the rest without a
        duplicate History event. If the run dies between two values requests, the rows of
        the earlier ones are written whole and History is not: the next run finds those rows
        up to date and writes the rest, recording no event twice (the events of the rows
        already written are not recorded). Retrying a request Google applied rewrites the
        same cells.

        Raise ConcurrentEditError, with no value of the plan written, if a row the plan
        writes to can no longer be found by its ID, a tab the plan writes into changed, or a
        header moved (structure already applied stays, as above).
        Raise SourceError if Google cannot be reached after retries, or a single row of
        values alone exceeds the payload cap.
        """
        if plan.is_empty():
            return
        plan.fit(self.max_cell_characters)
        if not self._sheets:
            raise errors.SourceError(f"{self.name}: write() before read()")
        targets = Targets(self._tables, self._title, plan)
        ranges = targets.reread_ranges()
        structural = self._structural_requests(plan, targets)
        grids = (self._apply_structure(structural, ranges) if structural
                 else self._batch_get(ranges) if ranges else [])
        targets.check_against_reread(grids)
        late = [grow for title, (rows, cols) in targets.extent().items()
                for grow in self._grow(self._sheets[title], rows, cols)]
        if late:
            self._apply_structure(late, [])
        for body in value_bodies(targets):
            self._http.values_batch_update(self.key, body)

    def _apply_structure(self, structural: list[dict[str, Any]],
                         ranges: Sequence[str]) -> list[list[list[Value]]]:
        """Send ``structural`` in as few ``spreadsheets.batchUpdate`` requests as the payload
        cap allows (one, but for a huge replaced tab), the last one returning ``ranges`` as
        they are after the update; record the grids the requests leave in ``_sheets``.
        Return the rows of each range, as :meth:`_batch_get` returns them."""
        options: dict[str, Any] = {}
        if ranges:
            options = {"includeSpreadsheetInResponse": True, "responseRanges": list(ranges),
                       "responseIncludeGridData": True}
        batches = request_batches(structural, options)
        answer: Any = {}
        for index, batch in enumerate(batches):
            last = index == len(batches) - 1
            try:
                answer = self._http.request(
                    "post", SPREADSHEET_BATCH_UPDATE_URL % self.key,
                    json={"requests": batch, **(options if last else {})},
                    params={"fields": UPDATED_SPREADSHEET_FIELDS} if last and ranges else None,
                ).json()
            except errors.SourceError:
                if not self._applied_before(batch):
                    raise
                if last:
                    return self._batch_get(ranges) if ranges else []
                continue
            self._account(batch)
        if not ranges:
            return []
        sheets = answer.get("updatedSpreadsheet", {}).get("sheets", [])
        for sheet in sheets:
            props = sheet.get("properties", {})
            grid = props.get("gridProperties", {})
            known = self._sheets.get(props.get("title", ""))
            if known is not None and grid:
                known.rows = int(grid.get("rowCount", known.rows))
                known.cols = int(grid.get("columnCount", known.cols))
        return grids_in_response(sheets, ranges)

    def _applied_before(self, batch: Sequence[Mapping[str, Any]]) -> bool:
        """Whether a refused ``batch`` that adds tabs had been applied by an earlier attempt
        whose answer was lost (its retry then finds the tabs "already exist"). Re-reads the
        metadata, so ``_sheets`` holds what the sheet is now either way."""
        added = [(r["addSheet"]["properties"]["sheetId"], r["addSheet"]["properties"]["title"])
                 for r in batch if "addSheet" in r]
        if not added:
            return False
        self._metadata()
        present = {(sheet.sheet_id, sheet.title) for sheet in self._sheets.values()}
        return all(tab in present for tab in added)

    def _account(self, applied: Sequence[Mapping[str, Any]]) -> None:
        """Record in ``_sheets`` the tabs and grid sizes ``applied`` requests leave."""
        by_id = {sheet.sheet_id: sheet for sheet in self._sheets.values()}
        for request in applied:
            if "addSheet" in request:
                props = request["addSheet"]["properties"]
                grid = props["gridProperties"]
                sheet = _Sheet(props["sheetId"], props["title"], props["index"],
                               grid["rowCount"], grid["columnCount"])
                self._sheets[sheet.title] = by_id[sheet.sheet_id] = sheet
            elif "appendDimension" in request:
                grow = request["appendDimension"]
                sheet = by_id[grow["sheetId"]]
                if grow["dimension"] == "ROWS":
                    sheet.rows += grow["length"]
                else:
                    sheet.cols += grow["length"]

    def _structural_requests(self, plan: WritePlan, targets: Targets) -> list[dict[str, Any]]:
        """Return the batchUpdate requests that create, replace and grow tabs for ``plan``
        (empty when the values fit as they are), the growth judged from the first read."""
        requests_: list[dict[str, Any]] = []
        next_id = max((s.sheet_id for s in self._sheets.values()), default=0) + 1
        next_index = len(self._sheets)
        created: dict[str, _Sheet] = {}
        for tab, rows in {**plan.new_tabs, **plan.replace_tabs}.items():
            title = self._title(tab)
            # A replaced tab's formatter may also lay the tab out on Google Sheets: its
            # ``sheet_requests(sheet_id)`` returns batchUpdate requests (formats, charts).
            layout: Callable[[int], list[dict[str, Any]]] | None = (
                getattr(plan.tab_formatters.get(tab), "sheet_requests", None)
                if tab in plan.replace_tabs else None
            )
            width = max((len(r) for r in rows), default=1)
            need_rows = max(len(rows) + GRID_HEADROOM_ROWS, 1000)
            need_cols = max(width, 26)
            if title is None:
                sheet = _Sheet(next_id, tab, next_index, need_rows, need_cols)
                next_id, next_index = next_id + 1, next_index + 1
                created[tab] = sheet
                requests_.append({"addSheet": {"properties": {
                    "sheetId": sheet.sheet_id, "title": tab, "index": sheet.index,
                    "gridProperties": {"rowCount": need_rows, "columnCount": need_cols},
                }}})
            elif tab in plan.new_tabs:
                raise errors.ConcurrentEditError(
                    f"tab {title!r} appeared while the job ran; nothing was written, rerun"
                )
            else:
                sheet = self._sheets[title]
                # Replacing a tab keeps its sheetId (links to it survive): clear, then fill.
                # A tab laid out anew also drops its old formats and charts, so a rerun
                # neither doubles the charts nor leaves percent formats on moved rows.
                if layout is not None:
                    requests_.extend({"deleteEmbeddedObject": {"objectId": chart_id}}
                                     for chart_id in sheet.charts)
                requests_.append({"updateCells": {
                    "range": {"sheetId": sheet.sheet_id},
                    "fields": "userEnteredValue" + (",userEnteredFormat" if layout else ""),
                }})
                requests_.extend(self._grow(sheet, len(rows), width))
            # A new tab gets only its header here; its rows are value writes like every other,
            # so a created History stores its rows exactly as an existing one appended to.
            filled = rows[:1] if tab in plan.new_tabs else rows
            if filled:
                requests_.append(update_cells(sheet.sheet_id, filled))
            if tab in created and tab in plan.new_tabs:
                requests_.extend(new_tab_requests(tab, sheet.sheet_id, filled[0] if filled else []))
            if layout is not None:
                requests_.extend(layout(sheet.sheet_id))
        for title, (row_count, col_count) in targets.extent().items():
            sheet = created.get(title) or self._sheets[title]
            requests_.extend(self._grow(sheet, row_count, col_count))
        return requests_

    @staticmethod
    def _grow(sheet: _Sheet, rows: int, cols: int) -> list[dict[str, Any]]:
        grow: list[dict[str, Any]] = []
        if rows > sheet.rows:
            grow.append({"appendDimension": {"sheetId": sheet.sheet_id, "dimension": "ROWS",
                                             "length": rows - sheet.rows + GRID_HEADROOM_ROWS}})
        if cols > sheet.cols:
            grow.append({"appendDimension": {"sheetId": sheet.sheet_id, "dimension": "COLUMNS",
                                             "length": cols - sheet.cols}})
        return grow

    def tab_url(self, tab: str) -> str | None:
        """Given a tab title, return the link that opens the spreadsheet on that tab
        (``#gid=``), or None if the sheet has no such tab (as of the last read or write)."""
        title = self._title(tab)
        if title is None:
            return None
        return (f"https://docs.google.com/spreadsheets/d/{self.key}/edit"
                f"#gid={self._sheets[title].sheet_id}")

    # ---- access (``check``)

    def account(self) -> str:
        """Who Google sees when this backend calls: a service account's address, or which
        kind of login."""
        credentials = getattr(self._http.session, "credentials", None)
        return describe_account(credentials) if credentials is not None else "no credentials"

    def can_write(self) -> bool:
        """Whether the account may edit the spreadsheet (call after :meth:`read`): one
        batchUpdate setting the title to itself, which changes nothing and which Google
        refuses (403) exactly when the account may only view. Raise SourceError otherwise."""
        try:
            self._http.batch_update(self.key, {"requests": [{"updateSpreadsheetProperties": {
                "properties": {"title": self._spreadsheet_title}, "fields": "title"}}]})
        except errors.NoAccessError:
            return False
        return True

    # ---- locking

    def check_writable(self) -> None:
        """Nothing to check ahead: Google has no lock a person's editing holds."""

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold ``~/.cache/sheets-escalation/locks/KEY.lock``. Raise LockHeldError if held."""
        directory = self._lock_dir or (
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
            / "sheets-escalation" / "locks"
        )
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.key}.lock"
        lock = filelock.FileLock(str(path), timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise errors.LockHeldError(
                f"another sync is running on {self.name} (lock file {path})"
            ) from None
        try:
            yield
        finally:
            lock.release()
