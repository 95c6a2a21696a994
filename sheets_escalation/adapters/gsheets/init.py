"""`init --sheet`: lay the template (sheets_escalation.adapters.xlsx.template) out on a Google Sheet.

Three requests: metadata (with existing conditional formats and protected ranges), one
``values:batchGet`` of the template tabs that exist, and one ``spreadsheets.batchUpdate``
holding everything else, applied by Google all at once.

What it does, per template tab:

- a missing tab is added with its header and seed rows (written as ``stringValue``: text is
  never parsed into a formula); an existing tab keeps every value, and an existing but
  completely empty tab is filled like a new one. Other tabs (``Sheet1``…) are left alone;
- header row bold on the template's fill, frozen panes, column widths, wrapping, number
  formats (date-time columns show ``yyyy-mm-dd hh:mm``, as does Settings' ``Last run``),
  tool-owned columns shaded: all found by header text, so reordered columns keep their look;
- dropdowns (data validation; strict where the template says so, else warning only);
- conditional colours on Flag and the SLA columns;
- a warning-only protected range over each block of tool-owned columns;
- the staleness indicator (:mod:`sheets_escalation.core.staleness`) in the Escalations header
  row, in the first column right of every column in use, with its colour rule, and a
  ``Stale after`` row at the end of Settings if Settings has none. The indicator is the one
  formula the tool ever writes: it goes as the cell's ``formulaValue`` in the batchUpdate
  (what USER_ENTERED input makes of a leading ``=``), for that one cell only; every other
  value here is a ``stringValue`` and every sync write is RAW. The template tabs are read
  with ``valueRenderOption=FORMULA`` so an indicator already there is recognised.

Running it again adds nothing twice: formats and dropdowns are overwritten in place, a colour
rule already present (same column, same text, same colours) is not added again, the
protected ranges it made (recognised by their description) are replaced, not duplicated,
and an indicator already in the header row is left as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gspread
from gspread.utils import rowcol_to_a1

from sheets_escalation.adapters.gsheets.layout import Layout, rgb, rule_signature
from sheets_escalation.adapters.gsheets.values import quote_title
from sheets_escalation.core import schema, staleness
from sheets_escalation.core.layout import (
    INDICATOR_FONT,
    STALE_FILL,
    STALE_FONT,
    TAB_LAYOUTS,
)
from sheets_escalation.core.table import Value, header_index

_METADATA_FIELDS = (
    "sheets(properties(sheetId,title,index,gridProperties(rowCount,columnCount)),"
    "conditionalFormats,protectedRanges)"
)


def _string_cells(row: Sequence[object]) -> dict[str, Any]:
    return {"values": [
        {"userEnteredValue": {"stringValue": str(v)}} if v not in (None, "") else {}
        for v in row
    ]}


def _blank(rows: Sequence[Sequence[Value]]) -> bool:
    return not any(v not in (None, "") for row in rows for v in row)


def init_sheet(client: gspread.Client, key: str, *, dry_run: bool = False) -> list[str]:
    """Given a client and a spreadsheet key, lay the template out on that sheet (see module
    doc) and return the titles of the tabs added (empty when all were there).

    Never deletes a tab and never overwrites a non-empty cell; with ``dry_run`` it only
    reads (the layout request is not sent). Raise SourceError if the sheet cannot be read
    or written.
    """
    http = client.http_client
    meta = http.fetch_sheet_metadata(key, params={"includeGridData": "false",
                                                  "fields": _METADATA_FIELDS})
    sheets = {s["properties"]["title"]: s for s in meta.get("sheets", [])}
    by_normal = {schema.normalize_header(t): t for t in sheets}
    present = {
        title: by_normal[schema.normalize_header(title)]
        for title in TAB_LAYOUTS if schema.normalize_header(title) in by_normal
    }
    contents: dict[str, list[list[Value]]] = {}
    if present:
        answer = http.values_batch_get(
            key, [quote_title(t) for t in present.values()],
            params={"valueRenderOption": "FORMULA", "majorDimension": "ROWS"},
        )
        for title, value_range in zip(present, answer.get("valueRanges", []), strict=True):
            contents[title] = value_range.get("values", [])

    settings_rows = contents.get(schema.SETTINGS, [])
    if _blank(settings_rows):
        settings_rows = [list(schema.SETTINGS_HEADERS)]
    requests: list[dict[str, Any]] = []
    added: list[str] = []
    next_id = max((s["properties"].get("sheetId", 0) for s in sheets.values()), default=0) + 1
    next_index = len(sheets)
    for title, layout in TAB_LAYOUTS.items():
        seed: list[Sequence[object]] = [layout.headers, *layout.rows]
        if title in present:
            sheet = sheets[present[title]]
            sheet_id = sheet["properties"].get("sheetId", 0)
            rows: Sequence[Sequence[Value]] = contents.get(title, [])
            grid = sheet["properties"].get("gridProperties", {})
            if _blank(rows):
                rows = [list(r) for r in seed]
                growth = _growth(sheet_id, grid, len(seed), len(layout.headers))
                requests.extend(growth)
                requests.append(_fill(sheet_id, seed))
        else:
            sheet, sheet_id = {}, next_id
            next_id += 1
            rows = [list(r) for r in seed]
            requests.append({"addSheet": {"properties": {
                "sheetId": sheet_id, "title": title, "index": next_index,
                "gridProperties": {"rowCount": max(1000, len(seed) + 100),
                                   "columnCount": max(26, len(layout.headers))},
            }}})
            next_index += 1
            requests.append(_fill(sheet_id, seed))
            added.append(title)
        header = rows[0] if rows else []
        shape = Layout(layout, sheet_id, header, sheet)
        requests.extend(shape.requests(rows))
        columns = sheet["properties"]["gridProperties"].get("columnCount", 0) if sheet else \
            max(26, len(layout.headers))
        if title == schema.ESCALATIONS:
            requests.extend(_indicator(sheet_id, rows, columns, settings_rows,
                                       shape.existing_rules))
        elif title == schema.SETTINGS and title in present and not _blank(contents[title]):
            requests.extend(_stale_after_row(sheet_id, rows, sheet))
    if not dry_run:
        http.batch_update(key, {"requests": requests})
    return added


def _first_free_column(rows: Sequence[Sequence[Value]]) -> int:
    """The first column right of every column in use, as sync places a new owned column."""
    width = max((len(r) for r in rows), default=0)
    while width > 0 and all(len(r) < width or r[width - 1] in (None, "") for r in rows):
        width -= 1
    return width


def _indicator(sheet_id: int, rows: Sequence[Sequence[Value]], column_count: int,
               settings_rows: Sequence[Sequence[Value]],
               existing_rules: set[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The requests adding the staleness indicator to the Escalations header row, unless
    it is there already."""
    if any(staleness.is_indicator(v) for v in (rows[0] if rows else [])):
        return []
    col = _first_free_column(rows)
    settings = header_index(settings_rows[0] if settings_rows else [])
    key_col = settings.get(schema.normalize_header("Key"), 0)
    value_col = settings.get(schema.normalize_header("Value"), 1)
    formula = staleness.formula(_letter(key_col), _letter(value_col))
    out: list[dict[str, Any]] = []
    if col + 1 > column_count:
        out.append({"appendDimension": {"sheetId": sheet_id, "dimension": "COLUMNS",
                                        "length": col + 1 - column_count}})
    out.append({"updateCells": {
        "start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": col},
        "rows": [{"values": [{
            "userEnteredValue": {"formulaValue": formula},
            "userEnteredFormat": {
                "textFormat": {"bold": True, "foregroundColor": rgb(INDICATOR_FONT)},
                "wrapStrategy": "OVERFLOW_CELL", "verticalAlignment": "TOP"},
        }]}],
        "fields": "userEnteredValue,userEnteredFormat(textFormat,wrapStrategy,verticalAlignment)",
    }})
    condition = {"type": "CUSTOM_FORMULA", "values": [{
        "userEnteredValue": "=" + staleness.stale_condition("$" + _letter(col) + "$1")}]}
    # As in the template: red text on the indicator (its overflow has no fill), the header
    # cells left of it white on red.
    rules: list[tuple[dict[str, Any], int, int]] = [
        ({"textFormat": {"foregroundColor": rgb(STALE_FILL), "bold": True}}, col, col + 1)]
    if col > 0:
        rules.append(({"backgroundColor": rgb(STALE_FILL), "textFormat": {
            "foregroundColor": rgb(STALE_FONT), "bold": True}}, 0, col))
    for fmt, start, end in rules:
        rule = {"ranges": [{"sheetId": sheet_id, "startRowIndex": 0, "endRowIndex": 1,
                            "startColumnIndex": start, "endColumnIndex": end}],
                "booleanRule": {"condition": condition, "format": fmt}}
        if rule_signature(rule) not in existing_rules:
            out.append({"addConditionalFormatRule": {"rule": rule, "index": 0}})
    return out


def _stale_after_row(sheet_id: int, rows: Sequence[Sequence[Value]],
                     sheet: dict[str, Any]) -> list[dict[str, Any]]:
    """The requests adding ``Stale after | 2 hours`` below the last Settings row, if no
    row has that key."""
    index = header_index(rows[0] if rows else [])
    key_col = index.get(schema.normalize_header("Key"), 0)
    value_col = index.get(schema.normalize_header("Value"), 1)
    wanted = schema.normalize_header(staleness.STALE_AFTER_KEY)
    if any(key_col < len(r) and schema.normalize_header(r[key_col]) == wanted for r in rows):
        return []
    row = max((n for n, r in enumerate(rows) if not _blank([r])), default=0) + 1
    out: list[dict[str, Any]] = []
    row_count = sheet["properties"].get("gridProperties", {}).get("rowCount", 0)
    if row + 1 > row_count:
        out.append({"appendDimension": {"sheetId": sheet_id, "dimension": "ROWS",
                                        "length": row + 1 - row_count}})
    for col, text in ((key_col, staleness.STALE_AFTER_KEY),
                      (value_col, staleness.DEFAULT_STALE_AFTER)):
        out.append({"updateCells": {
            "start": {"sheetId": sheet_id, "rowIndex": row, "columnIndex": col},
            "rows": [_string_cells([text])], "fields": "userEnteredValue"}})
    return out


def _letter(col: int) -> str:
    return rowcol_to_a1(1, col + 1).rstrip("0123456789")


def _growth(sheet_id: int, grid: dict[str, Any], rows: int, cols: int) -> list[dict[str, Any]]:
    out = []
    if rows > grid.get("rowCount", 0):
        out.append({"appendDimension": {"sheetId": sheet_id, "dimension": "ROWS",
                                        "length": rows - grid.get("rowCount", 0)}})
    if cols > grid.get("columnCount", 0):
        out.append({"appendDimension": {"sheetId": sheet_id, "dimension": "COLUMNS",
                                        "length": cols - grid.get("columnCount", 0)}})
    return out


def _fill(sheet_id: int, rows: Sequence[Sequence[object]]) -> dict[str, Any]:
    return {"updateCells": {
        "start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0},
        "rows": [_string_cells(r) for r in rows],
        "fields": "userEnteredValue",
    }}
