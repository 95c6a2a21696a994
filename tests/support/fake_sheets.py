"""A stateful in-process fake of the Google Sheets API v4, reached through a requests adapter.

The real gspread client runs against it unchanged: mount it on a ``requests.Session``
(:meth:`FakeSheetsAPI.session`) and hand that session to gspread. It answers with the JSON
shapes Google answers (kept honest by tests/adapters/test_fake_sheets_conformance.py, which replays
real recorded traffic): ragged rows, trimmed trailing blanks, no ``values`` key for an empty
range, titles quoted in ranges only when needed, Google's error bodies.

Implemented routes (anything else raises AssertionError, loudly):

- ``GET spreadsheets/{id}`` (``fields`` masks, ``ranges`` with grid data)
- ``POST spreadsheets/{id}:batchUpdate`` (see ``_REQUEST_HANDLERS``; ``addChart`` takes basic
  charts only, checks their ranges against the grid and stores them, and ``get`` lists
  them under ``sheets[].charts``; no recording covers charts, the shapes follow the API
  reference)
- ``GET values/{range}``, ``GET values:batchGet`` (value/date-time render options,
  ``majorDimension``)
- ``PUT values/{range}``, ``POST values:batchUpdate`` (RAW or USER_ENTERED)
- ``POST values/{range}:append``, ``POST values/{range}:clear``
- ``POST https://oauth2.googleapis.com/token`` (hands out a dummy access token)
- the Compute Engine metadata server, answering as a machine outside Google Cloud does

Seeding: :meth:`Sheet.set_values` stores values as given; :meth:`Sheet.type_values` stores
them as Google does when a person types them (dates become serial numbers, ``75%`` 0.75).

Formulas: typed arithmetic and HYPERLINK formulas are evaluated; any other formula, and every
``formulaValue`` a batchUpdate writes, is stored as a formula and evaluated never (reads as
blank, ``valueRenderOption=FORMULA`` gives it back); a test that needs what Google would show
sets the cell's value itself.

Like Google, it refuses any request whose body is over :data:`MAX_BODY_BYTES` (HTTP 400
``Request payload size exceeds the limit: 10485760 bytes.``), any request the discovery
document does not allow (tests/support/sheets_schema.py: unknown fields, wrong types and enums, field
masks naming no field, with Google's 400 ``INVALID_ARGUMENT`` body), a cell over
:data:`MAX_CELL_CHARACTERS`, a grid past :data:`MAX_CELLS` or :data:`MAX_COLUMNS`; and a ``batchUpdate`` with
``includeSpreadsheetInResponse`` answers ``updatedSpreadsheet`` (``responseRanges``,
``responseIncludeGridData``, a ``fields`` mask), its grid data cells carrying
``userEnteredValue``, ``effectiveValue`` and ``formattedValue``.

Test hooks: a request log (:attr:`log`), fault injection (:meth:`fail_next`,
:meth:`timeout_next`, :meth:`drop_next`, :meth:`lose_answer_next`), and :meth:`before_next` to edit the sheet (sort,
insert, delete rows) just before a given request is served; :attr:`handling_seconds`, the
time spent serving requests (benchmarks report the client's time apart from it).
"""

from __future__ import annotations

import ast
import copy
import datetime as dt
import json
import pickle
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from tests.support.sheets_schema import SchemaViolation, check_request, parse_fields

EPOCH = dt.datetime(1899, 12, 30)

DEFAULT_FORMAT: dict[str, Any] = {
    "backgroundColor": {"red": 1, "green": 1, "blue": 1},
    "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
    "verticalAlignment": "BOTTOM",
    "wrapStrategy": "OVERFLOW_CELL",
    "textFormat": {
        "foregroundColor": {}, "fontFamily": "arial,sans,sans-serif", "fontSize": 10,
        "bold": False, "italic": False, "strikethrough": False, "underline": False,
        "foregroundColorStyle": {"rgbColor": {}},
    },
    "backgroundColorStyle": {"rgbColor": {"red": 1, "green": 1, "blue": 1}},
}


def _theme_color(kind: str, red: float = 0, green: float = 0, blue: float = 0) -> dict[str, Any]:
    rgb = {k: v for k, v in (("red", red), ("green", green), ("blue", blue)) if v}
    return {"colorType": kind, "color": {"rgbColor": rgb}}


DEFAULT_THEME: dict[str, Any] = {
    "primaryFontFamily": "Arial",
    "themeColors": [
        _theme_color("TEXT"),
        _theme_color("BACKGROUND", 1, 1, 1),
        _theme_color("ACCENT1", 0.25882354, 0.52156866, 0.95686275),
        _theme_color("ACCENT2", 0.91764706, 0.2627451, 0.20784314),
        _theme_color("ACCENT3", 0.9843137, 0.7372549, 0.015686275),
        _theme_color("ACCENT4", 0.20392157, 0.65882355, 0.3254902),
        _theme_color("ACCENT5", 1, 0.42745098, 0.003921569),
        _theme_color("ACCENT6", 0.27450982, 0.7411765, 0.7764706),
        _theme_color("LINK", 0.06666667, 0.33333334, 0.8),
    ],
}

# Google refuses any request body over 10 MiB, before looking at the request (the limit is
# not in the published ones; see googleworkspace/dotnet-samples#23).
MAX_BODY_BYTES = 10_485_760

# Google's documented limits (support.google.com/drive/answer/37603).
MAX_CELL_CHARACTERS = 50_000
MAX_CELLS = 10_000_000
MAX_COLUMNS = 18_278
CELL_TOO_LONG = (f"Your input contains more than the maximum of {MAX_CELL_CHARACTERS} "
                 "characters in a single cell.")

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE",
    503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}
_STATUS_MESSAGES = {
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: (
        "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per "
        "minute per user' of service 'sheets.googleapis.com' for consumer "
        "'project_number:000000000000'."
    ),
    500: "Internal error encountered.",
    502: "Bad Gateway",
    503: "The service is currently unavailable.",
    504: "The request timed out. Please try again.",
}


def error_body(code: int, message: str | None = None) -> dict[str, Any]:
    """Google's JSON error body for ``code``."""
    body: dict[str, Any] = {
        "code": code,
        "message": message or _STATUS_MESSAGES.get(code, "Error"),
        "status": _STATUS_NAMES.get(code, "UNKNOWN"),
    }
    if code == 429:
        body["details"] = [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RATE_LIMIT_EXCEEDED",
            "domain": "googleapis.com",
            "metadata": {"service": "sheets.googleapis.com", "quota_limit": "WriteRequestsPerMinutePerUser"},
        }]
    return {"error": body}


class ApiError(Exception):
    """Answer the current request with a Google error body."""

    def __init__(self, code: int, message: str | None = None, body: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.body = body or error_body(code, message)


# --------------------------------------------------------------------------- model


@dataclass
class Cell:
    value: Any = None  # str | int | float | bool | None
    formula: str | None = None
    fmt: dict[str, Any] | None = None  # userEnteredFormat

    def is_empty(self) -> bool:
        return self.value is None and self.formula is None


def _seed(value: Any) -> Cell:
    return Cell(None if value == "" else value)


@dataclass
class Sheet:
    sheet_id: int
    title: str
    index: int
    row_count: int = 1000
    col_count: int = 26
    frozen_rows: int = 0
    frozen_cols: int = 0
    rows: list[list[Cell]] = field(default_factory=list)
    protected_ranges: list[dict[str, Any]] = field(default_factory=list)
    conditional_formats: list[dict[str, Any]] = field(default_factory=list)
    validations: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    pixel_sizes: dict[tuple[str, int], int] = field(default_factory=dict)
    charts: list[dict[str, Any]] = field(default_factory=list)  # EmbeddedChart, as stored

    # ---- cell access

    def cell(self, row: int, col: int, create: bool = False) -> Cell | None:
        if row >= len(self.rows):
            if not create:
                return None
            self.rows.extend([] for _ in range(row + 1 - len(self.rows)))
        cells = self.rows[row]
        if col >= len(cells):
            if not create:
                return None
            cells.extend(Cell() for _ in range(col + 1 - len(cells)))
        return cells[col]

    def values(self) -> list[list[Any]]:
        """The stored values as plain ragged rows (None for blank), trailing blanks trimmed."""
        out = []
        for row in self.rows:
            cells = [c.value for c in row]
            while cells and cells[-1] is None:
                cells.pop()
            out.append(cells)
        while out and not out[-1]:
            out.pop()
        return out

    def set_values(self, rows: list[list[Any]]) -> None:
        """Seed the sheet with raw values (a test fixture, not an API call)."""
        self.rows = [[_seed(v) for v in row] for row in rows]
        self.row_count = max(self.row_count, len(rows))
        self.col_count = max(self.col_count, max((len(r) for r in rows), default=0))

    def type_values(self, rows: list[list[Any]]) -> None:
        """Seed the sheet as if a person had typed each value into the Sheets UI: text goes
        through USER_ENTERED parsing (``75%`` -> 0.75, ``11/24/2026 09:30`` -> a date-time
        serial, ``31/02/2026`` stays text), Python datetimes and dates become serial numbers
        with a date format, as Google stores them."""
        self.set_values([[None] * len(row) for row in rows])
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                self.rows[r][c] = typed_cell(value)

    # ---- edits people make while the job runs

    def sort_rows(self, key: Callable[[list[Any]], Any], start: int = 1, reverse: bool = False) -> None:
        """Sort rows from ``start`` (0-based) by ``key(values of the row)``, like Data > Sort."""
        body = self.rows[start:]
        body.sort(key=lambda r: key([c.value for c in r]), reverse=reverse)
        self.rows[start:] = body

    def insert_rows(self, at: int, rows: list[list[Any]]) -> None:
        """Insert rows of values before 0-based row ``at``."""
        while len(self.rows) < at:
            self.rows.append([])
        self.rows[at:at] = [[_seed(v) for v in row] for row in rows]
        self.row_count += len(rows)

    def delete_rows(self, at: int, count: int = 1) -> None:
        """Delete ``count`` rows from 0-based row ``at``."""
        del self.rows[at:at + count]
        self.row_count -= count

    # ---- geometry

    def truncate(self) -> None:
        del self.rows[self.row_count:]
        for row in self.rows:
            del row[self.col_count:]

    def properties(self) -> dict[str, Any]:
        grid: dict[str, Any] = {"rowCount": self.row_count, "columnCount": self.col_count}
        if self.frozen_rows:
            grid["frozenRowCount"] = self.frozen_rows
        if self.frozen_cols:
            grid["frozenColumnCount"] = self.frozen_cols
        return {"sheetId": self.sheet_id, "title": self.title, "index": self.index,
                "sheetType": "GRID", "gridProperties": grid}


@dataclass
class Spreadsheet:
    key: str
    title: str = "Untitled spreadsheet"
    locale: str = "en_US"
    time_zone: str = "Etc/GMT"
    sheets: list[Sheet] = field(default_factory=list)
    private: bool = False
    read_only: bool = False  # shared with the caller as Viewer

    def sheet(self, title: str) -> Sheet:
        for sheet in self.sheets:
            if sheet.title == title:
                return sheet
        raise KeyError(title)

    def find(self, title: str) -> Sheet | None:
        return next((s for s in self.sheets if s.title == title), None)

    def by_id(self, sheet_id: int) -> Sheet:
        for sheet in self.sheets:
            if sheet.sheet_id == sheet_id:
                return sheet
        raise ApiError(400, f"Invalid requests[0]: No grid with id: {sheet_id}")

    def add_sheet(self, title: str, rows: list[list[Any]] | None = None, *,
                  sheet_id: int | None = None, row_count: int = 1000, col_count: int = 26) -> Sheet:
        if sheet_id is None:
            sheet_id = random.randrange(1, 2**31 - 1) if self.sheets else 0
        sheet = Sheet(sheet_id, title, len(self.sheets), row_count, col_count)
        if rows:
            sheet.set_values(rows)
        self.sheets.append(sheet)
        return sheet


@dataclass
class LoggedRequest:
    method: str
    url: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: CaseInsensitiveDict[str]

    @property
    def kind(self) -> str:
        """A short name of the API method: ``get``, ``batchUpdate``, ``values.batchGet``…"""
        path = self.path
        if path.endswith(":batchUpdate") and "/values" not in path:
            return "batchUpdate"
        for suffix in ("values:batchGet", "values:batchUpdate", "values:batchClear"):
            if path.endswith(suffix):
                return suffix.replace(":", ".")
        if path.endswith(":append"):
            return "values.append"
        if path.endswith(":clear"):
            return "values.clear"
        if "/values/" in path:
            return "values.get" if self.method == "GET" else "values.update"
        return "get"


# --------------------------------------------------------------------------- A1 ranges


_SIMPLE_TITLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CELLISH = re.compile(r"[A-Za-z]{1,3}[0-9]+|R[0-9]*C[0-9]*", re.IGNORECASE)
_REF = re.compile(r"([A-Za-z]*)([0-9]*)")


def col_letters(col: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def col_index(letters: str) -> int:
    number = 0
    for ch in letters.upper():
        number = number * 26 + ord(ch) - 64
    return number - 1


def title_in_range(title: str) -> str:
    """A title as Google prints it in ranges: bare when simple, else single-quoted."""
    if _SIMPLE_TITLE.fullmatch(title) and not _CELLISH.fullmatch(title):
        return title
    return "'" + title.replace("'", "''") + "'"


@dataclass
class Box:
    sheet: Sheet
    r0: int
    c0: int
    r1: int  # inclusive
    c1: int

    def a1(self) -> str:
        start = f"{col_letters(self.c0)}{self.r0 + 1}"
        end = f"{col_letters(self.c1)}{self.r1 + 1}"
        ref = start if (self.r0, self.c0) == (self.r1, self.c1) else f"{start}:{end}"
        return f"{title_in_range(self.sheet.title)}!{ref}"


def parse_range(book: Spreadsheet, text: str) -> tuple[Sheet, str | None]:
    """Split an A1 range into its sheet and its cell reference (None for the whole sheet)."""
    if text.startswith("'"):
        end = 1
        title = ""
        while end < len(text):
            if text[end] == "'":
                if text[end + 1:end + 2] == "'":
                    title += "'"
                    end += 2
                    continue
                break
            title += text[end]
            end += 1
        rest = text[end + 1:]
        ref = rest[1:] if rest.startswith("!") else None
        sheet = book.find(title)
    elif "!" in text:
        title, ref = text.rsplit("!", 1)
        sheet = book.find(title)
    else:
        sheet = book.find(text)
        ref = None
        if sheet is None and re.fullmatch(r"[A-Za-z]*[0-9]*(:[A-Za-z]*[0-9]*)?", text):
            sheet, ref = (book.sheets[0] if book.sheets else None), text
    if sheet is None:
        raise ApiError(400, f"Unable to parse range: {text}")
    return sheet, ref or None


def resolve(book: Spreadsheet, text: str, clip: bool = True) -> Box:
    sheet, ref = parse_range(book, text)
    last_r, last_c = sheet.row_count - 1, sheet.col_count - 1
    if ref is None:
        return Box(sheet, 0, 0, last_r, last_c)
    parts = ref.split(":")
    if len(parts) > 2:
        raise ApiError(400, f"Unable to parse range: {text}")
    matches = [_REF.fullmatch(p) for p in parts]
    if not all(matches) or not any(m.group(0) for m in matches if m):
        raise ApiError(400, f"Unable to parse range: {text}")
    first = matches[0]
    assert first is not None
    c0 = col_index(first.group(1)) if first.group(1) else 0
    r0 = int(first.group(2)) - 1 if first.group(2) else 0
    if len(matches) == 1:
        if not (first.group(1) and first.group(2)):
            raise ApiError(400, f"Unable to parse range: {text}")
        r1, c1 = r0, c0
    else:
        second = matches[1]
        assert second is not None
        c1 = col_index(second.group(1)) if second.group(1) else last_c
        r1 = int(second.group(2)) - 1 if second.group(2) else last_r
        if not first.group(1) and first.group(2) and not second.group(1):
            c0 = 0  # "1:1" is whole rows
    if clip:
        r1, c1 = min(r1, last_r), min(c1, last_c)
    return Box(sheet, min(r0, r1), min(c0, c1), max(r0, r1), max(c0, c1))


# --------------------------------------------------------------------------- values


def _number_out(value: float | int) -> float | int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_DATE_TOKENS = re.compile(r"yyyy|yy|mm|m|dd|d|hh|h|ss|am/pm|.", re.IGNORECASE)


def format_date(serial: float, pattern: str) -> str:
    """Render a serial number with a (subset of the) Sheets date pattern language."""
    moment = EPOCH + dt.timedelta(days=serial)
    moment = moment.replace(microsecond=0) + dt.timedelta(seconds=round(moment.microsecond / 1e6))
    tokens = _DATE_TOKENS.findall(pattern)
    fields = [i for i, t in enumerate(tokens) if t.lower() in ("yyyy", "yy", "mm", "m", "dd", "d", "hh", "h", "ss")]
    out = []
    for i, token in enumerate(tokens):
        low = token.lower()
        if low in ("mm", "m"):
            position = fields.index(i)
            before = tokens[fields[position - 1]].lower() if position else ""
            after = tokens[fields[position + 1]].lower() if position + 1 < len(fields) else ""
            number = moment.minute if before in ("h", "hh") or after == "ss" else moment.month
            out.append(f"{number:02d}" if low == "mm" else str(number))
        elif low == "yyyy":
            out.append(f"{moment.year:04d}")
        elif low == "yy":
            out.append(f"{moment.year % 100:02d}")
        elif low == "dd":
            out.append(f"{moment.day:02d}")
        elif low == "d":
            out.append(str(moment.day))
        elif low == "hh":
            out.append(f"{moment.hour:02d}")
        elif low == "h":
            out.append(str(moment.hour))
        elif low == "ss":
            out.append(f"{moment.second:02d}")
        else:
            out.append(token)
    return "".join(out)


def _is_date_format(fmt: dict[str, Any] | None) -> str | None:
    number_format = (fmt or {}).get("numberFormat") or {}
    if number_format.get("type") in ("DATE", "TIME", "DATE_TIME"):
        return number_format.get("pattern") or {
            "DATE": "m/d/yyyy", "TIME": "h:mm:ss am/pm", "DATE_TIME": "m/d/yyyy h:mm:ss",
        }[number_format["type"]]
    return None


def render(cell: Cell | None, value_option: str, date_option: str) -> Any:
    if cell is None or cell.is_empty():
        return ""
    if value_option == "FORMULA" and cell.formula is not None:
        return cell.formula
    value = cell.value
    if value is None:  # a stored formula the fake has not been told the result of
        return ""
    date_pattern = _is_date_format(cell.fmt) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if value_option in ("UNFORMATTED_VALUE", "FORMULA"):
        if date_pattern and date_option == "FORMATTED_STRING":
            return format_date(float(value), date_pattern)
        return _number_out(value) if isinstance(value, float) else value
    # FORMATTED_VALUE
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        if date_pattern:
            return format_date(float(value), date_pattern)
        pattern = ((cell.fmt or {}).get("numberFormat") or {}).get("pattern", "")
        if pattern.endswith("%"):
            return f"{value * 100:.0f}%"
        return f"{value:.10g}"
    return str(value)


def _extended(value: Any, formula: str | None = None) -> dict[str, Any]:
    """A cell's value as an ExtendedValue (``userEnteredValue`` with its formula,
    ``effectiveValue`` without)."""
    if formula is not None:
        return {"formulaValue": formula}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int | float):
        return {"numberValue": value}
    return {"stringValue": value}


def value_range(box: Box, value_option: str, date_option: str, major: str = "ROWS") -> dict[str, Any]:
    grid = [
        [render(box.sheet.cell(r, c), value_option, date_option) for c in range(box.c0, box.c1 + 1)]
        for r in range(box.r0, box.r1 + 1)
    ]
    if major == "COLUMNS":
        grid = [list(col) for col in zip(*grid, strict=True)] if grid else []
    for line in grid:
        while line and line[-1] == "":
            line.pop()
    while grid and not grid[-1]:
        grid.pop()
    answer: dict[str, Any] = {"range": box.a1(), "majorDimension": major}
    if grid:
        answer["values"] = grid
    return answer


_NUMBER = re.compile(r"[-+]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?([eE][-+]?\d+)?")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?")


def _serial(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    moment = dt.datetime(year, month, day, hour, minute, second)
    return (moment - EPOCH) / dt.timedelta(days=1)


class _Formula(ast.NodeVisitor):
    """Evaluates the arithmetic and HYPERLINK formulas tests use; anything else fails loudly."""

    def evaluate(self, text: str) -> Any:
        expression = text[1:].strip()
        link = re.fullmatch(r'HYPERLINK\(\s*"([^"]*)"\s*(?:[,;]\s*"([^"]*)"\s*)?\)', expression, re.IGNORECASE)
        if link:
            return link.group(2) if link.group(2) is not None else link.group(1)
        try:
            tree = ast.parse(expression, mode="eval")
            return self.visit(tree.body)
        except (SyntaxError, AssertionError) as error:
            raise AssertionError(f"the fake Sheets API cannot evaluate formula {text!r}") from error

    def visit_BinOp(self, node: ast.BinOp) -> float:
        left, right = self.visit(node.left), self.visit(node.right)
        operations = {ast.Add: lambda: left + right, ast.Sub: lambda: left - right,
                      ast.Mult: lambda: left * right, ast.Div: lambda: left / right}
        assert type(node.op) in operations
        return operations[type(node.op)]()

    def visit_UnaryOp(self, node: ast.UnaryOp) -> float:
        assert isinstance(node.op, ast.USub | ast.UAdd)
        value = self.visit(node.operand)
        return -value if isinstance(node.op, ast.USub) else value

    def visit_Constant(self, node: ast.Constant) -> float:
        assert isinstance(node.value, int | float)
        return node.value

    def generic_visit(self, node: ast.AST) -> Any:
        raise AssertionError(type(node).__name__)


def _formula_cell(text: str) -> Cell:
    """A typed formula: the arithmetic and HYPERLINK ones tests read back are evaluated;
    any other (the template's staleness indicator, with NOW()) is stored and shows nothing
    until a test sets the value Google would compute."""
    try:
        return Cell(_Formula().evaluate(text), formula=text)
    except AssertionError:
        return Cell(None, formula=text)


def parse_input(raw: Any, option: str) -> Cell | None:
    """One input value as stored under ``valueInputOption``; None means leave the cell."""
    if raw is None:
        return None
    if isinstance(raw, bool | int | float):
        return Cell(raw)
    if not isinstance(raw, str):
        raise ApiError(400, f"Invalid value {raw!r}")
    if raw == "":
        return Cell()
    if len(raw) > MAX_CELL_CHARACTERS:
        raise ApiError(400, CELL_TOO_LONG)
    if option == "RAW":
        return Cell(raw)
    if raw.startswith("="):
        return _formula_cell(raw)
    if raw.startswith("'"):
        return Cell(raw[1:])
    if raw.upper() in ("TRUE", "FALSE"):
        return Cell(raw.upper() == "TRUE")
    text = raw.strip()
    percent = text.endswith("%")
    number_text = text[:-1] if percent else text
    currency = number_text.startswith("$")
    number_text = number_text[1:] if currency else number_text
    if number_text and any(ch.isdigit() for ch in number_text) and _NUMBER.fullmatch(number_text):
        number = float(number_text.replace(",", ""))
        if percent:
            return Cell(number / 100, fmt={"numberFormat": {"type": "PERCENT", "pattern": "0%"}})
        if currency:
            return Cell(number, fmt={"numberFormat": {"type": "CURRENCY", "pattern": '"$"#,##0.00'}})
        return Cell(int(number) if number.is_integer() and "." not in number_text else number)
    iso = _ISO_DATE.fullmatch(text)
    us = _US_DATE.fullmatch(text)
    if iso or us:
        if iso:
            year, month, day = (int(g) for g in iso.groups()[:3])
            clock = iso.groups()[3:]
            pattern = "yyyy-mm-dd"
        else:
            assert us is not None
            month, day, year = (int(g) for g in us.groups()[:3])
            clock = us.groups()[3:]
            pattern = "m/d/yyyy"
        hour, minute, second = (int(g) if g else 0 for g in clock)
        try:
            serial = _serial(year, month, day, hour, minute, second)
        except ValueError:
            return Cell(raw)
        if clock[0]:
            pattern += " h:mm:ss" if clock[2] else " h:mm"
            return Cell(serial, fmt={"numberFormat": {"type": "DATE_TIME", "pattern": pattern}})
        return Cell(serial, fmt={"numberFormat": {"type": "DATE", "pattern": pattern}})
    return Cell(raw)


def typed_cell(value: Any) -> Cell:
    """The cell Google stores when a person enters ``value`` (see :meth:`Sheet.type_values`)."""
    if isinstance(value, dt.datetime):
        serial = (value - EPOCH) / dt.timedelta(days=1)
        return Cell(_number_out(serial),
                    fmt={"numberFormat": {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"}})
    if isinstance(value, dt.date):
        return Cell((value - EPOCH.date()).days,
                    fmt={"numberFormat": {"type": "DATE", "pattern": "yyyy-mm-dd"}})
    if value is None or value == "":
        return Cell()
    cell = parse_input(str(value) if not isinstance(value, bool | int | float) else value,
                       "USER_ENTERED")
    assert cell is not None
    return cell


# --------------------------------------------------------------------------- fields masks


def apply_fields(value: Any, tree: dict[str, Any]) -> Any:
    if not tree:
        return value
    if isinstance(value, list):
        return [apply_fields(v, tree) for v in value]
    if isinstance(value, dict):
        return {k: apply_fields(v, tree[k]) for k, v in value.items() if k in tree}
    return value


# --------------------------------------------------------------------------- the API


@dataclass
class _Fault:
    kind: str  # "status" | "timeout" | "drop" | "lost"
    match: str
    status: int = 500
    retry_after: float | None = None


class FakeSheetsAPI:
    """The fake service. Create spreadsheets with :meth:`add_spreadsheet`, then talk to it
    through :meth:`session`."""

    def __init__(self, caller_email: str = "sheets-escalation@example-project.iam.gserviceaccount.com") -> None:
        self.books: dict[str, Spreadsheet] = {}
        self.log: list[LoggedRequest] = []
        self.token_requests = 0
        self.caller_email = caller_email
        self._faults: list[_Fault] = []
        self._hooks: list[tuple[str, Callable[[FakeSheetsAPI], None]]] = []
        self._protected_ids = 1000
        self._chart_ids = 2000
        # Seconds spent in :meth:`handle` (parsing, checking, serving, answering), so a
        # benchmark can tell the client's own time from the fake's.
        self.handling_seconds = 0.0

    # ---- fixtures and hooks

    def add_spreadsheet(self, key: str, sheets: dict[str, list[list[Any]]] | None = None, *,
                        title: str = "Untitled spreadsheet", time_zone: str = "Etc/GMT",
                        private: bool = False, read_only: bool = False) -> Spreadsheet:
        """Create a spreadsheet (by default one empty ``Sheet1``, as Google creates it);
        ``private``: not shared with the caller; ``read_only``: shared as Viewer."""
        book = Spreadsheet(key, title=title, time_zone=time_zone, private=private,
                           read_only=read_only)
        for name, rows in (sheets if sheets is not None else {"Sheet1": []}).items():
            book.add_sheet(name, rows)
        self.books[key] = book
        return book

    def session(self) -> requests.Session:
        session = requests.Session()
        adapter = _Adapter(self)
        for prefix in ("https://", "http://"):
            session.mount(prefix, adapter)
        return session

    def fail_next(self, count: int = 1, status: int = 500, retry_after: float | None = None,
                  match: str = "") -> None:
        """The next ``count`` requests (whose URL contains ``match``) answer ``status``."""
        self._faults.extend(_Fault("status", match, status, retry_after) for _ in range(count))

    def timeout_next(self, count: int = 1, match: str = "") -> None:
        self._faults.extend(_Fault("timeout", match) for _ in range(count))

    def drop_next(self, count: int = 1, match: str = "") -> None:
        """The next ``count`` requests lose their connection (requests.ConnectionError)."""
        self._faults.extend(_Fault("drop", match) for _ in range(count))

    def lose_answer_next(self, count: int = 1, match: str = "") -> None:
        """The next ``count`` requests are served, then the connection drops before the
        answer arrives (requests.ConnectionError): the client cannot tell it was applied."""
        self._faults.extend(_Fault("lost", match) for _ in range(count))

    def before_next(self, match: str, action: Callable[[FakeSheetsAPI], None]) -> None:
        """Run ``action(fake)`` once, just before serving the next request matching ``match``
        (a substring of the URL, e.g. ``"values:batchUpdate"``)."""
        self._hooks.append((match, action))

    def calls(self, kind: str | None = None) -> list[LoggedRequest]:
        """Logged Sheets API requests (faulted ones included), optionally of one kind."""
        return [r for r in self.log if kind is None or r.kind == kind]

    # ---- dispatch

    def handle(self, request: requests.PreparedRequest) -> requests.Response:
        start = time.perf_counter()
        try:
            return self._handle(request)
        finally:
            self.handling_seconds += time.perf_counter() - start

    def _handle(self, request: requests.PreparedRequest) -> requests.Response:
        url = request.url or ""
        parts = urlsplit(url)
        body_bytes = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        if parts.netloc == "oauth2.googleapis.com" and parts.path == "/token":
            self.token_requests += 1
            return _response(request, 200, {"access_token": "fake-access-token-never-printed",
                                            "expires_in": 3599, "token_type": "Bearer"})
        body = json.loads(body_bytes) if body_bytes else None
        logged = LoggedRequest(request.method or "", url, parts.path,
                               parse_qs(parts.query, keep_blank_values=True), body,
                               CaseInsensitiveDict(request.headers))
        self.log.append(logged)
        for index, (match, action) in enumerate(self._hooks):
            if match in url:
                del self._hooks[index]
                action(self)
                break
        lost = False
        for index, fault in enumerate(self._faults):
            if fault.match in url:
                del self._faults[index]
                if fault.kind == "lost":
                    lost = True
                    break
                if fault.kind == "timeout":
                    raise requests.ReadTimeout(f"fake read timeout on {parts.path}", request=request)
                if fault.kind == "drop":
                    raise requests.ConnectionError("fake connection reset by peer", request=request)
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                return _response(request, fault.status, error_body(fault.status), headers)
        if parts.netloc in ("169.254.169.254", "metadata.google.internal"):
            # Not on Google Cloud: no metadata server answers as Google's (Metadata-Flavor).
            return _response(request, 404, {})
        if parts.netloc != "sheets.googleapis.com":
            raise AssertionError(f"the fake Sheets API has no route for {request.method} {url}")
        if len(body_bytes) > MAX_BODY_BYTES:
            return _response(request, 400, error_body(
                400, f"Request payload size exceeds the limit: {MAX_BODY_BYTES} bytes."))
        try:
            check_request(request.method or "", parts.path, logged.query, body)
        except SchemaViolation as refused:
            return _response(request, 400, refused.body)
        try:
            status, answer = self._route(request.method or "", parts.path, logged.query, body)
        except ApiError as error:
            status, answer = error.code, error.body
        if lost:
            raise requests.ConnectionError("fake connection reset before the answer", request=request)
        return _response(request, status, answer)

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        match = re.fullmatch(r"/v4/spreadsheets/([^/:]+)(.*)", path)
        if not match:
            raise AssertionError(f"the fake Sheets API has no route for {method} {path}")
        key, rest = unquote(match.group(1)), match.group(2)
        book = self.books.get(key)
        if book is None:
            raise ApiError(404)
        if book.private or (book.read_only and method != "GET"):
            raise ApiError(403)
        one = {k: v[-1] for k, v in query.items()}
        if rest == "" and method == "GET":
            return 200, self._get(book, one, query.get("ranges", []))
        if rest == ":batchUpdate" and method == "POST":
            return 200, self._batch_update(book, body, one)
        if rest == "/values:batchGet" and method == "GET":
            return 200, {"spreadsheetId": key, "valueRanges": [
                value_range(resolve(book, r), one.get("valueRenderOption", "FORMATTED_VALUE"),
                            one.get("dateTimeRenderOption", "SERIAL_NUMBER"),
                            one.get("majorDimension", "ROWS"))
                for r in query.get("ranges", [])
            ]}
        if rest == "/values:batchUpdate" and method == "POST":
            return 200, self._values_batch_update(book, body)
        values = re.fullmatch(r"/values/([^:]+)(?::(append|clear))?", rest)
        if values:
            text = unquote(values.group(1))
            action = values.group(2)
            if action is None and method == "GET":
                return 200, value_range(resolve(book, text),
                                        one.get("valueRenderOption", "FORMATTED_VALUE"),
                                        one.get("dateTimeRenderOption", "SERIAL_NUMBER"),
                                        one.get("majorDimension", "ROWS"))
            if action is None and method == "PUT":
                answer = self._write(book, text, body, one.get("valueInputOption", ""), "data.values")
                return 200, {"spreadsheetId": key, **answer}
            if action == "append" and method == "POST":
                return 200, self._append(book, text, body, one.get("valueInputOption", ""))
            if action == "clear" and method == "POST":
                box = resolve(book, text)
                for r in range(box.r0, box.r1 + 1):
                    for c in range(box.c0, box.c1 + 1):
                        cell = box.sheet.cell(r, c)
                        if cell is not None:
                            cell.value, cell.formula = None, None
                return 200, {"spreadsheetId": key, "clearedRange": box.a1()}
        raise AssertionError(f"the fake Sheets API has no route for {method} {path}")

    # ---- spreadsheets.get

    def _get(self, book: Spreadsheet, params: dict[str, str], ranges: list[str]) -> Any:
        sheets = []
        boxes = [resolve(book, r) for r in ranges]
        for sheet in book.sheets:
            entry: dict[str, Any] = {"properties": sheet.properties()}
            if sheet.conditional_formats:
                entry["conditionalFormats"] = copy.deepcopy(sheet.conditional_formats)
            if sheet.protected_ranges:
                entry["protectedRanges"] = copy.deepcopy(sheet.protected_ranges)
            if sheet.charts:
                entry["charts"] = copy.deepcopy(sheet.charts)
            mine = [b for b in boxes if b.sheet is sheet]
            if ranges and not mine:
                continue
            with_data = params.get("includeGridData", "false").lower() == "true" or (
                "fields" in params and "data" in params["fields"])
            if mine and with_data:
                entry["data"] = [self._grid_data(b) for b in mine]
            sheets.append(entry)
        answer = {
            "spreadsheetId": book.key,
            "properties": {
                "title": book.title, "locale": book.locale, "autoRecalc": "ON_CHANGE",
                "timeZone": book.time_zone, "defaultFormat": copy.deepcopy(DEFAULT_FORMAT),
                "spreadsheetTheme": copy.deepcopy(DEFAULT_THEME),
            },
            "sheets": sheets,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.key}/edit",
        }
        if "fields" in params:
            answer = apply_fields(answer, parse_fields(params["fields"]))
        return answer

    @staticmethod
    def _grid_data(box: Box) -> dict[str, Any]:
        rows = []
        for r in range(box.r0, box.r1 + 1):
            values = []
            for c in range(box.c0, box.c1 + 1):
                cell = box.sheet.cell(r, c)
                data: dict[str, Any] = {}
                if cell is not None and not cell.is_empty():
                    data["userEnteredValue"] = _extended(cell.value, cell.formula)
                    data["effectiveValue"] = _extended(cell.value)
                    data["formattedValue"] = render(cell, "FORMATTED_VALUE", "FORMATTED_STRING")
                if cell is not None and cell.fmt:
                    data["userEnteredFormat"] = copy.deepcopy(cell.fmt)
                values.append(data)
            while values and not values[-1]:
                values.pop()
            rows.append({"values": values} if values else {})
        while rows and not rows[-1]:
            rows.pop()  # Google leaves out the empty rows after the last one with data
        data = {"rowData": rows}
        if box.r0:
            data["startRow"] = box.r0
        if box.c0:
            data["startColumn"] = box.c0
        return data

    # ---- values writes

    def _write(self, book: Spreadsheet, text: str, body: Any, option: str, field_name: str) -> dict[str, Any]:
        if option not in ("RAW", "USER_ENTERED"):
            raise ApiError(400, "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED")
        values = (body or {}).get("values")
        if not isinstance(values, list) or not all(isinstance(r, list) for r in values):
            message = (f"Invalid value at '{field_name}' (type.googleapis.com/google.protobuf.ListValue), "
                       f"{json.dumps(values)}")
            raise ApiError(400, message, {"error": {
                "code": 400, "message": message, "status": "INVALID_ARGUMENT",
                "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                             "fieldViolations": [{"field": field_name, "description": message}]}],
            }})
        if (body or {}).get("majorDimension") == "COLUMNS":
            width = max((len(c) for c in values), default=0)
            values = [[col[i] if i < len(col) else None for col in values] for i in range(width)]
        box = resolve(book, text, clip=False)
        height = len(values)
        width = max((len(r) for r in values), default=0)
        sheet = box.sheet
        if box.r0 + height > sheet.row_count or box.c0 + width > sheet.col_count:
            raise ApiError(400, (
                f"Range ({title_in_range(sheet.title)}!{col_letters(box.c0 + width - 1)}{box.r0 + height}) "
                f"exceeds grid limits. Max rows: {sheet.row_count}, max columns: {sheet.col_count}"))
        # An explicit range must hold the values (Google's rule for values.update).
        single_cell = (box.r0, box.c0) == (box.r1, box.c1)
        if not single_cell and (height > box.r1 - box.r0 + 1 or width > box.c1 - box.c0 + 1):
            raise ApiError(400, (
                f"Requested writing within range [{text}], but tried writing to "
                f"{'row' if height > box.r1 - box.r0 + 1 else 'column'} "
                f"[{box.r0 + height if height > box.r1 - box.r0 + 1 else col_letters(box.c0 + width - 1)}]"))
        parsed = [[parse_input(v, option) for v in row] for row in values]
        for r, row in enumerate(parsed):
            for c, new in enumerate(row):
                if new is None:
                    continue
                cell = sheet.cell(box.r0 + r, box.c0 + c, create=True)
                assert cell is not None
                cell.value, cell.formula = new.value, new.formula
                if new.fmt and not (cell.fmt and cell.fmt.get("numberFormat")):
                    cell.fmt = {**(cell.fmt or {}), **new.fmt}
        answer: dict[str, Any] = {
            "updatedRange": Box(sheet, box.r0, box.c0, box.r0 + max(height, 1) - 1,
                                box.c0 + max(width, 1) - 1).a1(),
        }
        if height and width:
            answer.update(updatedRows=height, updatedColumns=width,
                          updatedCells=sum(len(r) for r in values))
        return answer

    def _values_batch_update(self, book: Spreadsheet, body: Any) -> dict[str, Any]:
        option = body.get("valueInputOption", "")
        staged = _clone(book)
        responses = []
        rows_touched: set[tuple[str, int]] = set()
        cols_touched: set[tuple[str, int]] = set()
        for index, item in enumerate(body.get("data", [])):
            answer = self._write(staged, item["range"], item, option, f"data[{index}].values")
            box = resolve(staged, item["range"], clip=False)
            for r, row in enumerate(item["values"]):
                rows_touched.add((box.sheet.title, box.r0 + r))
                for c in range(len(row)):
                    cols_touched.add((box.sheet.title, box.c0 + c))
            responses.append({"spreadsheetId": book.key, **answer})
        # All or nothing, as Google applies a batch.
        book.sheets = staged.sheets
        return {
            "spreadsheetId": book.key,
            "totalUpdatedRows": len(rows_touched),
            "totalUpdatedColumns": len({c for _, c in cols_touched}),
            "totalUpdatedCells": sum(r.get("updatedCells", 0) for r in responses),
            "totalUpdatedSheets": len({t for t, _ in rows_touched}),
            "responses": responses,
        }

    def _append(self, book: Spreadsheet, text: str, body: Any, option: str) -> dict[str, Any]:
        box = resolve(book, text)
        sheet = box.sheet
        last = -1
        for r in range(len(sheet.rows)):
            if any(not (sheet.cell(r, c) or Cell()).is_empty() for c in range(box.c0, box.c1 + 1)):
                last = r
        values = body.get("values", [])
        before = sheet.row_count, sheet.col_count
        sheet.row_count = max(sheet.row_count, last + 1 + len(values))
        sheet.col_count = max(sheet.col_count, box.c0 + max((len(r) for r in values), default=0))
        try:
            _check_grid_limits(book, "append")
        except ApiError as error:
            sheet.row_count, sheet.col_count = before
            raise ApiError(400, error.body["error"]["message"].split(": ", 1)[1]) from error
        start = f"{title_in_range(sheet.title)}!{col_letters(box.c0)}{last + 2}"
        answer = self._write(book, start, body, option, "data.values")
        updates = {"spreadsheetId": book.key, **answer}
        result: dict[str, Any] = {"spreadsheetId": book.key}
        if last >= 0:
            result["tableRange"] = Box(sheet, 0, box.c0, last, box.c1).a1()
        result["updates"] = updates
        return result

    # ---- spreadsheets.batchUpdate

    def _batch_update(self, book: Spreadsheet, body: Any, params: dict[str, str]) -> dict[str, Any]:
        """Apply the requests all or nothing. With ``includeSpreadsheetInResponse``, answer
        ``updatedSpreadsheet`` as ``get`` answers after the update, limited to
        ``responseRanges``, with grid data if ``responseIncludeGridData`` (ignored when a
        ``fields`` mask is given: the mask decides, and applies to the whole answer)."""
        staged = _clone(book)
        replies = []
        for index, request in enumerate(body.get("requests", [])):
            (kind, payload), = request.items()
            handler = _REQUEST_HANDLERS.get(kind)
            if handler is None:
                raise AssertionError(f"the fake Sheets API does not implement batchUpdate {kind}")
            try:
                replies.append(handler(self, staged, payload))
                _check_grid_limits(staged, kind)
            except ApiError as error:
                message = error.body["error"]["message"].replace("requests[0]", f"requests[{index}]")
                raise ApiError(error.code, message) from error
        # All or nothing, as Google applies a batch.
        book.title, book.locale, book.time_zone = staged.title, staged.locale, staged.time_zone
        book.sheets = staged.sheets
        answer: dict[str, Any] = {"spreadsheetId": book.key, "replies": replies}
        if body.get("includeSpreadsheetInResponse"):
            mask = params.get("fields")
            grid = "data" in mask if mask is not None else bool(body.get("responseIncludeGridData"))
            answer["updatedSpreadsheet"] = self._get(
                book, {"includeGridData": str(grid).lower()}, body.get("responseRanges", []))
        if "fields" in params:
            answer = apply_fields(answer, parse_fields(params["fields"]))
        return answer


def _check_grid_limits(book: Spreadsheet, kind: str) -> None:
    if any(sheet.col_count > MAX_COLUMNS for sheet in book.sheets):
        raise ApiError(400, f"Invalid requests[0].{kind}: This action would increase the number "
                            f"of columns in the sheet above the limit of {MAX_COLUMNS}.")
    if sum(sheet.row_count * sheet.col_count for sheet in book.sheets) > MAX_CELLS:
        raise ApiError(400, f"Invalid requests[0].{kind}: This action would increase the number "
                            f"of cells in the workbook above the limit of {MAX_CELLS} cells.")


def _clone(book: Spreadsheet) -> Spreadsheet:
    """A deep copy to stage a batch on (pickle: several times faster than deepcopy here)."""
    return pickle.loads(pickle.dumps(book))  # noqa: S301 - our own in-memory object


def _grid_range(book: Spreadsheet, grid: dict[str, Any]) -> Box:
    sheet = book.by_id(grid.get("sheetId", 0))
    return Box(sheet, grid.get("startRowIndex", 0), grid.get("startColumnIndex", 0),
               grid.get("endRowIndex", sheet.row_count) - 1,
               grid.get("endColumnIndex", sheet.col_count) - 1)


def _styled(fmt: dict[str, Any]) -> dict[str, Any]:
    """Add the *Style twins Google derives from plain colours. Formats are never mutated in
    place, so cells may share them."""
    fmt = dict(fmt)
    if "backgroundColor" in fmt:
        fmt["backgroundColorStyle"] = {"rgbColor": fmt["backgroundColor"]}
    text = fmt.get("textFormat")
    if isinstance(text, dict) and "foregroundColor" in text:
        fmt["textFormat"] = {**text, "foregroundColorStyle": {"rgbColor": text["foregroundColor"]}}
    return fmt


class _FormatMerger:
    """Applies one request's userEnteredFormat under its field mask, once per distinct format."""

    def __init__(self, fmt: dict[str, Any], fields: str) -> None:
        self.fmt = fmt
        self.mask = parse_fields(fields).get("userEnteredFormat")
        self.done: dict[int, dict[str, Any] | None] = {}

    def apply(self, cell: Cell) -> None:
        if self.mask is None:
            return
        key = id(cell.fmt)
        if key not in self.done:
            self.done[key] = self._merged(cell.fmt or {})
        cell.fmt = self.done[key]

    def _merged(self, current: dict[str, Any]) -> dict[str, Any] | None:
        assert self.mask is not None
        if not self.mask:
            return _styled(self.fmt) or None
        merged = dict(current)
        for key, sub in self.mask.items():
            if key in self.fmt:
                merged[key] = self.fmt[key] if not sub else {
                    **merged.get(key, {}), **apply_fields(self.fmt[key], sub)}
            else:
                merged.pop(key, None)
        return _styled(merged) or None


def _req_update_spreadsheet_properties(api: FakeSheetsAPI, book: Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    for name in p["fields"].split(","):
        value = p["properties"].get(name)
        if name == "timeZone":
            book.time_zone = value
        elif name == "locale":
            book.locale = value
        elif name == "title":
            book.title = value
        else:
            raise AssertionError(f"fake: updateSpreadsheetProperties field {name}")
    return {}


def _req_add_sheet(api: FakeSheetsAPI, book: Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    props = p.get("properties", {})
    title = props.get("title") or f"Sheet{len(book.sheets) + 1}"
    if book.find(title):
        raise ApiError(400, f'Invalid requests[0].addSheet: A sheet with the name "{title}" already exists. Please enter another name.')
    if "sheetId" in props and any(s.sheet_id == props["sheetId"] for s in book.sheets):
        raise ApiError(400, f"Invalid requests[0].addSheet: Sheet with id {props['sheetId']} already exists.")
    grid = props.get("gridProperties", {})
    sheet = book.add_sheet(title, sheet_id=props.get("sheetId"),
                           row_count=grid.get("rowCount", 1000), col_count=grid.get("columnCount", 26))
    sheet.frozen_rows = grid.get("frozenRowCount", 0)
    sheet.frozen_cols = grid.get("frozenColumnCount", 0)
    if "index" in props:
        book.sheets.remove(sheet)
        book.sheets.insert(props["index"], sheet)
        for position, each in enumerate(book.sheets):
            each.index = position
    return {"addSheet": {"properties": sheet.properties()}}


def _req_delete_sheet(api: FakeSheetsAPI, book: Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    book.sheets.remove(book.by_id(p["sheetId"]))
    for position, each in enumerate(book.sheets):
        each.index = position
    return {}


def _req_update_sheet_properties(api: FakeSheetsAPI, book: Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    props = p["properties"]
    sheet = book.by_id(props.get("sheetId", 0))
    grid = props.get("gridProperties", {})
    for name in p["fields"].split(","):
        name = name.strip().replace(".", "/")
        if name == "title":
            sheet.title = props["title"]
        elif name == "gridProperties/rowCount":
            sheet.row_count = grid["rowCount"]
        elif name == "gridProperties/columnCount":
            sheet.col_count = grid["columnCount"]
        elif name == "gridProperties/frozenRowCount":
            sheet.frozen_rows = grid.get("frozenRowCount", 0)
        elif name == "gridProperties/frozenColumnCount":
            sheet.frozen_cols = grid.get("frozenColumnCount", 0)
        else:
            raise AssertionError(f"fake: updateSheetProperties field {name}")
    sheet.truncate()
    return {}


def _req_append_dimension(api: FakeSheetsAPI, book: Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    sheet = book.by_id(p["sheetId"])
    if p["dimension"] == "ROWS":
        sheet.row_count += p["length"]
    else:
        sheet.col_count += p["length"]
    return {}


def _req_repeat_cell(api: FakeSheetsAPI, book: Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    box = _grid_range(book, p["range"])
    merger = _FormatMerger(p.get("cell", {}).get("userEnteredFormat", {}), p["fields"])
    for r in range(box.r0, box.r1 + 1):
        for c in range(box.c0, box.c1 + 1):
            cell = box.sheet.cell(r, c, create=True)
            assert cell is not None
            merger.apply(cell)
    return {}


def _req_update_cells(api: FakeSheetsAPI, book: Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    """With ``range``, every cell of the range is written (cells the rows leave out are
    cleared under the mask); with ``start``, only the cells the rows give, rows of any
    length (the API reference's UpdateCellsRequest). Writing past the grid is a 400."""
    fields = parse_fields(p["fields"])
    rows = p.get("rows", [])
    if "range" in p:
        box = _grid_range(book, p["range"])
    else:
        start = p["start"]
        sheet = book.by_id(start.get("sheetId", 0))
        width = max((len(r.get("values", [])) for r in rows), default=1)
        box = Box(sheet, start.get("rowIndex", 0), start.get("columnIndex", 0),
                  start.get("rowIndex", 0) + max(len(rows), 1) - 1,
                  start.get("columnIndex", 0) + max(width, 1) - 1)
    if box.r1 >= box.sheet.row_count or box.c1 >= box.sheet.col_count:
        raise ApiError(400, (f"Invalid requests[0].updateCells: Range ({title_in_range(box.sheet.title)}!"
                             f"{col_letters(box.c1)}{box.r1 + 1}) exceeds grid limits. Max rows: "
                             f"{box.sheet.row_count}, max columns: {box.sheet.col_count}"))
    for r in range(box.r0, box.r1 + 1):
        given = rows[r - box.r0].get("values", []) if r - box.r0 < len(rows) else []
        last = box.c1 if "range" in p else box.c0 + len(given) - 1
        for c in range(box.c0, last + 1):
            data = given[c - box.c0] if c - box.c0 < len(given) else {}
            cell = box.sheet.cell(r, c, create=bool(data))
            if cell is None:
                continue
            if "userEnteredValue" in fields:
                entered = data.get("userEnteredValue", {})
                if any(len(entered.get(k) or "") > MAX_CELL_CHARACTERS
                       for k in ("stringValue", "formulaValue")):
                    raise ApiError(400, f"Invalid requests[0].updateCells: {CELL_TOO_LONG}")
                cell.formula = entered.get("formulaValue")
                if cell.formula is not None:
                    # Stored, never evaluated: what a formula shows is Google's business,
                    # and a test that needs it sets the cell's value itself.
                    cell.value = None
                else:
                    cell.value = next((entered[k] for k in ("stringValue", "numberValue", "boolValue")
                                       if k in entered), None)
            if "userEnteredFormat" in fields:
                _FormatMerger(data.get("userEnteredFormat", {}),
                              "userEnteredFormat" + _mask_text(fields["userEnteredFormat"])).apply(cell)
    return {}


def _mask_text(tree: dict[str, Any]) -> str:
    if not tree:
        return ""
    return "(" + ",".join(k + _mask_text(v) for k, v in tree.items()) + ")"


def _req_set_data_validation(api: FakeSheetsAPI, book: Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    box = _grid_range(book, p["range"])
    rule = copy.deepcopy(p.get("rule"))  # shared by the cells, never mutated
    for r in range(box.r0, box.r1 + 1):
        for c in range(box.c0, box.c1 + 1):
            if rule:
                box.sheet.validations[(r, c)] = rule
            else:
                box.sheet.validations.pop((r, c), None)
    return {}


def _req_add_conditional_format_rule(api: FakeSheetsAPI, book: Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    rule = copy.deepcopy(p["rule"])
    sheets = {g.get("sheetId", 0) for g in rule["ranges"]}
    assert len(sheets) == 1, "a conditional format rule lives on one sheet"
    sheet = book.by_id(sheets.pop())
    for grid in rule["ranges"]:
        if grid.get("sheetId") == 0:
            del grid["sheetId"]
    boolean = rule.get("booleanRule", {})
    if "format" in boolean:
        # Google stores colours as float32 without zero components, plus *Style twins.
        boolean["format"] = _styled(_drop_zero_colors(boolean["format"]))
    sheet.conditional_formats.insert(p.get("index", len(sheet.conditional_formats)), rule)
    return {}


def _drop_zero_colors(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) <= {"red", "green", "blue", "alpha"}:
            return {k: float(f"{v:.7g}") for k, v in value.items() if v}
        return {k: _drop_zero_colors(v) for k, v in value.items()}
    return value


def _req_update_dimension_properties(api: FakeSheetsAPI, book: Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    rng = p["range"]
    sheet = book.by_id(rng.get("sheetId", 0))
    assert p["fields"] == "pixelSize", "fake: only pixelSize is implemented"
    for index in range(rng.get("startIndex", 0), rng["endIndex"]):
        sheet.pixel_sizes[(rng["dimension"], index)] = p["properties"]["pixelSize"]
    return {}


def _req_delete_conditional_format_rule(api: FakeSheetsAPI, book: Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    sheet = book.by_id(p.get("sheetId", 0))
    del sheet.conditional_formats[p["index"]]
    return {}


def _req_add_protected_range(api: FakeSheetsAPI, book: Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    given = p["protectedRange"]
    rng = {k: v for k, v in given["range"].items() if not (k == "sheetId" and v == 0)}
    sheet = book.by_id(given["range"].get("sheetId", 0))
    api._protected_ids += 1
    stored: dict[str, Any] = {"protectedRangeId": api._protected_ids, "range": rng}
    if given.get("description"):
        stored["description"] = given["description"]
    if given.get("warningOnly"):
        stored["warningOnly"] = True
    stored["requestingUserCanEdit"] = True
    sheet.protected_ranges.append({**stored, "editors": {"users": [api.caller_email]}})
    return {"addProtectedRange": {"protectedRange": {**copy.deepcopy(stored), "editors": {}}}}


def _req_delete_protected_range(api: FakeSheetsAPI, book: Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    for sheet in book.sheets:
        for item in sheet.protected_ranges:
            if item["protectedRangeId"] == p["protectedRangeId"]:
                sheet.protected_ranges.remove(item)
                return {}
    raise ApiError(400, f"Invalid requests[0].deleteProtectedRange: No protected range with id: {p['protectedRangeId']}")


_CHART_TYPES = frozenset({"BAR", "LINE", "AREA", "COLUMN", "SCATTER", "COMBO", "STEPPED_AREA"})


def _check_chart_range(book: Spreadsheet, grid: dict[str, Any], where: str) -> None:
    sheet = book.by_id(grid.get("sheetId", 0))
    rows = (grid.get("startRowIndex", 0), grid.get("endRowIndex", sheet.row_count))
    cols = (grid.get("startColumnIndex", 0), grid.get("endColumnIndex", sheet.col_count))
    if not (0 <= rows[0] < rows[1] <= sheet.row_count and 0 <= cols[0] < cols[1] <= sheet.col_count):
        raise ApiError(400, f"Invalid requests[0].addChart: {where} is outside the grid of"
                            f" {title_in_range(sheet.title)}.")


def _req_add_chart(api: FakeSheetsAPI, book: Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    """A basic chart only: its type, one domain, ranges inside the grid, an anchor cell."""
    chart = copy.deepcopy(p["chart"])
    basic = chart.get("spec", {}).get("basicChart")
    if basic is None:
        raise AssertionError("the fake Sheets API implements basicChart specs only")
    if basic.get("chartType") not in _CHART_TYPES:
        raise ApiError(400, f"Invalid requests[0].addChart: chartType {basic.get('chartType')!r}")
    if len(basic.get("domains", [])) != 1 or not basic.get("series"):
        raise ApiError(400, "Invalid requests[0].addChart: a basic chart needs one domain and a series.")
    for index, domain in enumerate(basic["domains"]):
        for grid in domain["domain"]["sourceRange"]["sources"]:
            _check_chart_range(book, grid, f"domains[{index}]")
    for index, series in enumerate(basic["series"]):
        for grid in series["series"]["sourceRange"]["sources"]:
            _check_chart_range(book, grid, f"series[{index}]")
    anchor = chart["position"]["overlayPosition"]["anchorCell"]
    sheet = book.by_id(anchor.get("sheetId", 0))
    if anchor.get("rowIndex", 0) >= sheet.row_count or anchor.get("columnIndex", 0) >= sheet.col_count:
        raise ApiError(400, "Invalid requests[0].addChart: the anchor cell is outside the grid.")
    used = {c["chartId"] for s in book.sheets for c in s.charts}
    if "chartId" in chart and chart["chartId"] in used:
        raise ApiError(400, f"Invalid requests[0].addChart: An object with id {chart['chartId']} already exists.")
    if "chartId" not in chart:
        api._chart_ids += 1
        chart["chartId"] = api._chart_ids
    sheet.charts.append(chart)
    return {"addChart": {"chart": copy.deepcopy(chart)}}


def _req_delete_embedded_object(api: FakeSheetsAPI, book: Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    for sheet in book.sheets:
        for chart in sheet.charts:
            if chart["chartId"] == p["objectId"]:
                sheet.charts.remove(chart)
                return {}
    raise ApiError(400, f"Invalid requests[0].deleteEmbeddedObject: No object with id {p['objectId']}")


_REQUEST_HANDLERS: dict[str, Callable[[FakeSheetsAPI, Spreadsheet, dict[str, Any]], dict[str, Any]]] = {
    "updateSpreadsheetProperties": _req_update_spreadsheet_properties,
    "addSheet": _req_add_sheet,
    "deleteSheet": _req_delete_sheet,
    "updateSheetProperties": _req_update_sheet_properties,
    "appendDimension": _req_append_dimension,
    "updateDimensionProperties": _req_update_dimension_properties,
    "repeatCell": _req_repeat_cell,
    "updateCells": _req_update_cells,
    "setDataValidation": _req_set_data_validation,
    "addConditionalFormatRule": _req_add_conditional_format_rule,
    "deleteConditionalFormatRule": _req_delete_conditional_format_rule,
    "addProtectedRange": _req_add_protected_range,
    "deleteProtectedRange": _req_delete_protected_range,
    "addChart": _req_add_chart,
    "deleteEmbeddedObject": _req_delete_embedded_object,
}


def _response(request: requests.PreparedRequest, status: int, body: Any,
              headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode("utf-8")
    response.headers = CaseInsensitiveDict({"Content-Type": "application/json; charset=UTF-8", **(headers or {})})
    response.url = request.url or ""
    response.request = request
    response.encoding = "utf-8"
    response.reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
                       429: "Too Many Requests", 500: "Internal Server Error"}.get(status, "")
    return response


class _Adapter(BaseAdapter):
    def __init__(self, api: FakeSheetsAPI) -> None:
        super().__init__()
        self.api = api

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        return self.api.handle(request)

    def close(self) -> None:
        """Nothing to release: no sockets."""
