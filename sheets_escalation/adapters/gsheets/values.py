"""Values between a :class:`~sheets_escalation.core.table.Table` and Google's cells.

Going out, a value is written RAW (:func:`to_api_value`): strings stay text and are never
parsed, numbers and booleans stay what they are, a naive date or datetime becomes its serial
number (days since 1899-12-30; the column's date format shows it), a blank empties the cell.
A tab laid out anew carries the same values as CellData (:func:`update_cells`). Coming back,
``values:batchGet`` with UNFORMATTED_VALUE + SERIAL_NUMBER gives the same kinds, a blank
as None; a structural batchUpdate's answer gives CellData, read back the same way
(:func:`grids_in_response`). Also the A1 ranges every request names.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from gspread.utils import a1_to_rowcol, rowcol_to_a1

from sheets_escalation.core import errors
from sheets_escalation.core.table import EPOCH, Value

DATETIME_PATTERN = "yyyy-mm-dd hh:mm"


def quote_title(title: str) -> str:
    """Given a tab title, return it as an A1 range prefix Google always accepts."""
    return "'" + title.replace("'", "''") + "'"


def a1(title: str, row: int, col: int, end_row: int | None = None, end_col: int | None = None) -> str:
    """Given 0-based corners, return an absolute A1 range on ``title``."""
    start = rowcol_to_a1(row + 1, col + 1)
    end = rowcol_to_a1((end_row if end_row is not None else row) + 1,
                       (end_col if end_col is not None else col) + 1)
    return f"{quote_title(title)}!{start}:{end}"


def to_api_value(value: Value) -> Any:
    """Given a raw cell value, return the JSON value written RAW.

    Naive datetimes and dates become serial numbers (the column's date format shows them);
    None and NaN become "" (an emptied cell). Raise ValueError for aware datetimes.
    """
    if value is None:
        return ""
    item = getattr(value, "item", None)
    if not isinstance(value, (str, int, float, bool, dt.date)) and callable(item):
        value = item()  # numpy scalars
    if isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return "" if math.isnan(value) else value
    if isinstance(value, dt.datetime):
        if value != value:  # pandas NaT
            return ""
        if value.tzinfo is not None:
            raise ValueError(f"aware datetime {value!r}: backends write naive local times")
        # Eight decimals of a day are 0.86 ms: the serial reads back to the same
        # millisecond (what readers keep) in 14 characters instead of 17.
        return round((value - EPOCH) / dt.timedelta(days=1), 8)
    if isinstance(value, dt.date):
        return float((value - EPOCH.date()).days)
    return str(value)


def from_api(value: Any) -> Value:
    return None if value == "" else value


def id_text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _nonblank(row: Sequence[Value]) -> bool:
    return any(v is not None and v != "" for v in row)


def last_nonblank(rows: Sequence[Sequence[Value]]) -> int:
    """Return the 0-based index of the last non-blank row, -1 if none."""
    for index in range(len(rows) - 1, -1, -1):
        if _nonblank(rows[index]):
            return index
    return -1


def trimmed(rows: Sequence[Sequence[Value]]) -> list[list[Value]]:
    """Rows with blank cells as None and trailing blanks cut, for comparing two reads."""
    out = []
    for row in rows:
        cells = [None if v == "" else v for v in row]
        while cells and cells[-1] is None:
            cells.pop()
        out.append(cells)
    while out and not out[-1]:
        out.pop()
    return out


def _value_cell(value: Value) -> dict[str, Any]:
    """Given a raw cell value, return the CellData that stores, under the fields mask
    ``userEnteredValue``, what a RAW values write of :func:`to_api_value` stores.

    A string is a ``stringValue``, never parsed (the API keeps formulas in ``formulaValue``
    only, so a typed ``=HYPERLINK(...)`` stays text); a blank is no value, which empties the
    cell. Raise ValueError for aware datetimes.
    """
    api = to_api_value(value)
    if isinstance(api, bool):
        return {"userEnteredValue": {"boolValue": api}}
    if isinstance(api, int | float):
        return {"userEnteredValue": {"numberValue": api}}
    return {"userEnteredValue": {"stringValue": api}} if api != "" else {}


def _cell_data(value: Value) -> dict[str, Any]:
    """:func:`_value_cell`, plus the date-time format for a date, for a tab laid out anew."""
    if isinstance(value, dt.date) and to_api_value(value) != "":
        return {
            **_value_cell(value),
            "userEnteredFormat": {"numberFormat": {"type": "DATE_TIME", "pattern": DATETIME_PATTERN}},
        }
    return _value_cell(value)


def update_cells(sheet_id: int, rows: Sequence[Sequence[Value]]) -> dict[str, Any]:
    return {
        "updateCells": {
            "start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0},
            "rows": [{"values": [_cell_data(v) for v in row]} for row in rows],
            "fields": "userEnteredValue,userEnteredFormat.numberFormat",
        }
    }


_QUOTED_RANGE = re.compile(r"'((?:[^']|'')*)'(?:!([A-Z]*)[0-9]*(?::[A-Z]*[0-9]*)?)?")


def _effective(cell: Mapping[str, Any]) -> Value:
    """A CellData's value as ``values:batchGet`` returns it with UNFORMATTED_VALUE and
    SERIAL_NUMBER: the effective (computed) value, a date as its serial number, an error
    as its text (``#N/A``), a blank as None."""
    effective = cell.get("effectiveValue") or {}
    if "errorValue" in effective:
        return str(cell.get("formattedValue") or "#ERROR!")
    for kind in ("stringValue", "numberValue", "boolValue"):
        if kind in effective:
            return from_api(effective[kind])
    return None


def grids_in_response(sheets: Sequence[Mapping[str, Any]],
                       ranges: Sequence[str]) -> list[list[list[Value]]]:
    """Given ``updatedSpreadsheet.sheets`` of a batchUpdate asked for ``responseRanges``
    (``quote_title`` titles, each range a whole tab, or rows or columns from row 1), return
    each range's rows as :meth:`GoogleSheetsBackend._batch_get` returns them.
    A sheet's ``data`` holds one GridData per range on it, in the order asked, each saying
    its first column (``startColumn``, 0 when left out); rows and trailing cells may be
    missing. Raise SourceError if a range's GridData is missing."""
    data = {sheet.get("properties", {}).get("title"): list(sheet.get("data", []))
            for sheet in sheets}
    grids: list[list[list[Value]]] = []
    for text in ranges:
        match = _QUOTED_RANGE.fullmatch(text)
        if match is None:
            raise ValueError(f"not a range quote_title() made: {text}")
        title, letters = match.group(1).replace("''", "'"), match.group(2)
        column = a1_to_rowcol(f"{letters}1")[1] - 1 if letters else 0
        grid = data.get(title, [])
        found = next((g for g in grid if g.get("startColumn", 0) == column), None)
        if found is None:
            raise errors.SourceError(f"Google's answer lacks the range {text} it was asked for")
        grid.remove(found)
        rows = [[_effective(cell) for cell in row.get("values", [])]
                for row in found.get("rowData", [])]
        grids.append(trimmed(rows))
    return grids
