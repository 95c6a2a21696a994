"""Reading a local ``.xlsx`` into Tables: values read with python-calamine from the file's
bytes (the cached results of formula cells included), or with openpyxl for the rare file
calamine rejects; either way the same raw values.

calamine misreads a few cells, which are found in the worksheet XML and put back as stored:
error values (read as blanks) and negative numbers (in a date cell -1 reads as 00:00). A
workbook counting dates from 1904 has its date columns shifted to the 1900-based serials
every reader of the protocol expects.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import python_calamine
from openpyxl import load_workbook
from openpyxl.utils import column_index_from_string
from openpyxl.utils.datetime import WINDOWS_EPOCH
from openpyxl.utils.exceptions import InvalidFileException

from sheets_escalation.adapters.xlsx import ooxml
from sheets_escalation.core import schema
from sheets_escalation.core.errors import SourceError
from sheets_escalation.core.table import Table, Value

_ERROR_CELL = re.compile(
    rb'<c r="(?P<col>[A-Z]+)(?P<row>[0-9]+)"[^>]*?\bt="e"[^>]*>(?:(?!</c>).)*?<v>(?P<value>[^<]*)</v>',
    re.DOTALL,
)
# A numeric cell whose stored value is negative (its attributes may name a type; a formula
# may come before the value).
_NEGATIVE_CELL = re.compile(
    rb'<c r="(?P<col>[A-Z]+)(?P<row>[0-9]+)"(?P<attrs>[^>/]*)>(?:<f\b[^>]*?(?:/>|>[^<]*</f>))?'
    rb"<v>(?P<value>-[^<]*)</v>"
)
_NEGATIVE_INFINITY = re.compile(rb"<v>-inf(?:inity)?</v>", re.IGNORECASE)
_INFINITE_CELL = re.compile(
    rb"<c\b(?P<attrs>[^>/]*)>(?P<body>(?:<f\b[^>]*?(?:/>|>[^<]*</f>))?<v>-inf(?:inity)?</v>)</c>",
    re.IGNORECASE)
_CALAMINE_ERRORS = (python_calamine.CalamineError, ValueError, OSError)
# What openpyxl raises on a file it cannot load.
OPENPYXL_ERRORS = (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, TypeError,
                   IndexError, AttributeError, SyntaxError, OSError)


def read_tables(data: bytes, names: frozenset[str], tabs: Sequence[str], name: str) -> dict[str, Table]:
    """Given a workbook's bytes, its member names, tab titles and the file's name (for
    messages), return the tabs that exist, keyed by the title asked for (matched exactly,
    else ignoring case and spaces), each as raw values with blanks as None and trailing
    blanks trimmed: read with calamine, or openpyxl for the rare file calamine rejects.
    Raise SourceError if neither can read it."""
    raw = _raw_cells(data, names, tabs)
    try:
        tables = read_calamine(raw.readable, tabs)
    except _CALAMINE_ERRORS:
        # Rare files calamine rejects still open in openpyxl; slower, same values.
        return _read_openpyxl(data, names, tabs, name)
    except BaseException as error:
        # A Rust panic inside calamine arrives as pyo3's PanicException, which derives
        # from BaseException so that `except Exception` cannot swallow it; only that
        # one is a reading failure, anything else (Ctrl-C …) goes on.
        if type(error).__name__ != "PanicException":
            raise
        return _read_openpyxl(data, names, tabs, name)
    raw.restore(tables)
    if raw.date1904:
        _shift_1904_serials(tables)
    return tables


def _read_openpyxl(data: bytes, names: frozenset[str], tabs: Sequence[str], name: str) -> dict[str, Table]:
    try:
        workbook = load_workbook(io.BytesIO(readable(data, names)),
                                 read_only=True, data_only=True, keep_links=False)
    except OPENPYXL_ERRORS as error:
        raise SourceError(f"cannot read {name}: {error}") from error
    try:
        tables: dict[str, Table] = {}
        for wanted in tabs:
            title = ooxml.resolve(wanted, workbook.sheetnames)
            if title is None:
                continue
            worksheet = workbook[title]
            rows = [_clean_row(row) for row in worksheet.iter_rows(values_only=True)]
            tables[wanted] = Table(title, _trim_rows(rows))
        if workbook.epoch != WINDOWS_EPOCH:
            _shift_1904_serials(tables)
        return tables
    finally:
        workbook.close()


def check_xlsx(data: bytes, path: Path) -> frozenset[str]:
    """Given a file's bytes, return its zip member names. Raise SourceError if it is not an
    .xlsx workbook, saying what it looks like instead."""
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise SourceError(
            f"{path} is an old-style .xls file or a password-protected workbook; "
            "save it as an unprotected .xlsx workbook"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = frozenset(archive.namelist())
            if "xl/workbook.xml" not in names:
                if "xl/workbook.bin" in names:
                    raise SourceError(f"{path} is a binary .xlsb workbook; save it as .xlsx")
                raise SourceError(f"{path} is not an .xlsx workbook (no xl/workbook.xml inside)")
            strict = ooxml.STRICT in archive.read("xl/workbook.xml")
    except zipfile.BadZipFile as error:
        raise SourceError(f"{path} is not an .xlsx workbook (it is not a zip file)") from error
    if strict:
        # Every part names Strict's own namespaces, which the patch and openpyxl do not know.
        raise SourceError(f"{path.name} is saved as Strict Open XML, which is not supported; "
                          "in Excel use File > Save As > Excel Workbook (.xlsx)")
    return names


def read_calamine(data: bytes, tabs: Sequence[str]) -> dict[str, Table]:
    """Given a package calamine can read (see :func:`readable`) and tab titles, return the
    tabs that exist as calamine reads them. Raise what calamine raises on a file it rejects."""
    workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    try:
        tables: dict[str, Table] = {}
        for wanted in tabs:
            title = ooxml.resolve(wanted, workbook.sheet_names)
            if title is None:
                continue
            tables[wanted] = Table(title, _trim_rows(_sheet_rows(
                workbook.get_sheet_by_name(title))))
        return tables
    finally:
        workbook.close()


def _sheet_rows(sheet: python_calamine.CalamineSheet) -> list[list[Value]]:
    """Return a sheet's cleaned rows, indexed from A1 (row i, position j is the cell at
    row i + 1, column j + 1).

    Rows are cleaned as calamine hands them over, so the raw Python values of the whole
    sheet never exist at once (~90 MB less at the peak of a 100,000-row read), and short
    texts are shared: a log repeats the same Status, Flag and SLA words thousands of
    times, and each cell comes as its own string object.
    """
    if sheet.start is None or sheet.end is None:
        return []
    (top, left), (bottom, right) = sheet.start, sheet.end
    shared = _new_shared()
    rows: list[list[Value]] = []
    pad: list[Value] = []
    for number, row in enumerate(sheet.iter_rows()):
        if number == 0 and left and len(row) == right - left + 1:
            # iter_rows starts at row 1 but at the first used column (python-calamine
            # issue #177): line the columns up with A.
            pad = [None] * left
        rows.append(_clean_row(pad + row if pad else row, shared))
    if len(rows) == bottom - top + 1 and top:
        rows[:0] = [[] for _ in range(top)]  # should a release start at the first used row
    if len(rows) != bottom + 1:
        # A shape this code does not know: the whole grid, from A1, the slower way.
        grid = sheet.to_python(skip_empty_area=False)
        return [_clean_row(row, shared) for row in grid]
    return rows


@dataclass
class _RawCells:
    """What calamine would misread, found in the worksheet XML: error values (calamine
    reads them as blanks, which would hide from the Problems column that a cell is broken)
    and negative numbers (in a date cell calamine reads -1 as the time 00:00). ``readable``
    is the package calamine can read (see :func:`readable`)."""

    readable: bytes
    values: dict[str, list[tuple[int, int, Value]]]
    date1904: bool

    def restore(self, tables: dict[str, Table]) -> None:
        """Put the values as stored back into ``tables``."""
        for table in tables.values():
            for row, col, value in self.values.get(table.title, ()):
                while len(table.rows) <= row:
                    table.rows.append([])
                cells = table.rows[row]
                cells.extend([None] * (col + 1 - len(cells)))
                cells[col] = value


def _raw_cells(data: bytes, names: frozenset[str], tabs: Sequence[str]) -> _RawCells:
    """Given a workbook's bytes, its member names and the tabs to read, return their cells
    calamine misreads (see :class:`_RawCells`). Each wanted worksheet is read once; the usual
    file, without errors or negative numbers, costs two fast searches per worksheet."""
    values: dict[str, list[tuple[int, int, Value]]] = {}
    unreadable: dict[str, bytes] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = ooxml.sheet_parts(archive, names)
        date1904 = ooxml.date1904(archive.read("xl/workbook.xml"))
        for wanted in tabs:
            title = ooxml.resolve(wanted, list(parts))
            if title is None or title in values:
                continue
            if not _may_be_misread(data, archive, parts[title]):
                values[title] = []
                continue
            xml = archive.read(parts[title])
            found: list[tuple[int, int, Value]] = []
            if b't="e"' in xml:
                found += [(int(m["row"]) - 1, column_index_from_string(m["col"].decode()) - 1,
                           m["value"].decode()) for m in _ERROR_CELL.finditer(xml)]
            if b"<v>-" in xml:
                readable = _infinity_as_text(xml)
                if readable is not xml:
                    unreadable[parts[title]] = readable
                for match in _NEGATIVE_CELL.finditer(readable):
                    kind = ooxml.CELL_TYPE.search(match["attrs"])
                    if kind is not None and kind["type"] != b"n":
                        continue
                    with contextlib.suppress(ValueError):
                        found.append((int(match["row"]) - 1,
                                      column_index_from_string(match["col"].decode()) - 1,
                                      _clean(float(match["value"]))))
            values[title] = found
    if not unreadable:
        return _RawCells(data, values, date1904)
    return _RawCells(ooxml.with_parts(data, unreadable), values, date1904)


# What each cell calamine misreads holds (see _RawCells).
_MISREAD_MARKS = (b't="e"', b"<v>-")


def _may_be_misread(data: bytes, archive: zipfile.ZipFile, part: str) -> bool:
    """Given a package and a worksheet part, return whether the part holds an error value
    or a negative number, searched chunk by chunk: the usual worksheet holds neither and
    is then never in memory whole (a 100,000-row log is ~140 MB of XML)."""
    tail = b""
    overlap = max(map(len, _MISREAD_MARKS)) - 1
    for chunk in ooxml.part_chunks(data, archive, part):
        window = tail + chunk[:overlap] if tail else b""
        if any(mark in chunk or mark in window for mark in _MISREAD_MARKS):
            return True
        tail = chunk[-overlap:] if len(chunk) >= overlap else (tail + chunk)[-overlap:]
    return False


def _infinity_as_text(xml: bytes) -> bytes:
    """Given a worksheet part, return it with each number stored as ``-INF`` made the text
    it shows (the same object when there is none). No spreadsheet program writes one, but a
    generated file may, and neither reader survives it: calamine panics on it in a date
    cell, openpyxl refuses the whole file."""
    if _NEGATIVE_INFINITY.search(xml) is None:
        return xml

    def as_text(match: re.Match[bytes]) -> bytes:
        return b"<c" + ooxml.CELL_TYPE.sub(b"", match["attrs"]) + b' t="str">' + match["body"] + b"</c>"

    return _INFINITE_CELL.sub(as_text, xml)


def readable(data: bytes, names: frozenset[str]) -> bytes:
    """Given a package, return it as openpyxl can load it: with ``-INF`` numbers as text
    (see :func:`_infinity_as_text`); the same bytes for the usual file."""
    replaced: dict[str, bytes] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for part in ooxml.sheet_parts(archive, names).values():
            xml = archive.read(part)
            if b"<v>-" in xml and (readable := _infinity_as_text(xml)) is not xml:
                replaced[part] = readable
    return ooxml.with_parts(data, replaced) if replaced else data


# Columns holding datetimes, by tab: a plain number in one is a serial of the file's epoch.
_DATE_COLUMNS = {
    schema.ESCALATIONS: frozenset(schema.normalize_header(c.header)
                                  for c in schema.ESCALATION_COLUMNS if c.kind == "datetime"),
    schema.HISTORY: frozenset({schema.normalize_header("At")}),
    schema.HOLIDAYS: frozenset({schema.normalize_header("Date")}),
}

_DAYS_1900_TO_1904 = 1462


def _shift_1904_serials(tables: dict[str, Table]) -> None:
    """Given tables read from a 1904-dated workbook, turn the plain numbers in its date
    columns into the 1900-based serials every reader of the protocol expects (date cells
    arrive as datetimes already). Negative numbers are left to be reported as they are."""
    for wanted, table in tables.items():
        wanted_columns = _DATE_COLUMNS.get(wanted)
        if wanted_columns is None or not table.rows:
            continue
        positions = [i for i, h in enumerate(table.header)
                     if isinstance(h, str) and schema.normalize_header(h) in wanted_columns]
        for row in table.body:
            for i in positions:
                value = row[i] if i < len(row) else None
                if isinstance(value, int | float) and not isinstance(value, bool) \
                        and math.isfinite(value) and value >= 0:
                    row[i] = value + _DAYS_1900_TO_1904


def _clean(value: Any) -> Value:
    """Given a value as a reader hands it over, return the raw value of the protocol."""
    kind = type(value)
    if kind is str:
        return None if value == "" else value
    if kind is float:
        # Every number is a float in the file; whole ones read as int so that an ID typed as
        # 12 is "12", not "12.0".
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if kind is dt.date:
        # calamine makes a date of any date-time at midnight; one type for both keeps reads
        # the same whichever reader ran, and a midnight the tool wrote reads back unchanged.
        return dt.datetime.combine(value, dt.time())
    if kind is dt.time:
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    if kind is dt.timedelta:
        return value.total_seconds() / 86400  # a duration cell, as spreadsheet days
    return value


# Texts up to this long are shared between cells that hold the same one (see read_calamine).
_SHARED_TEXT = 40


def _new_shared() -> dict[str, str | None]:
    """Return the texts shared between cells, to start with: the blank, read as None."""
    return {"": None}


def _clean_row(row: Sequence[Any], shared: dict[str, str | None] | None = None) -> list[Value]:
    """Given a row as calamine reads it, return its raw values without trailing blanks;
    with ``shared`` (from :func:`_new_shared`), equal short texts become one string object
    (kept in ``shared``)."""
    if shared is None:
        cleaned = [_clean(value) for value in row]
    else:
        # The same values as _clean gives, with texts and datetimes (most cells) cleaned
        # inline rather than through a call per cell: the blank text is shared as None.
        share = shared.setdefault
        cleaned = [(share(value, value) if len(value) <= _SHARED_TEXT else value)
                   if (kind := type(value)) is str
                   else value if kind is dt.datetime else _clean(value)
                   for value in row]
    while cleaned and cleaned[-1] is None:
        cleaned.pop()
    return cleaned


def _trim_rows(rows: list[list[Value]]) -> list[list[Value]]:
    while rows and not rows[-1]:
        rows.pop()
    return rows
