"""Reading and writing the XML of a worksheet part as bytes, for the package patch: the
worksheet split into head, rows and tail while it streams in; each row's cells; A1
references, attributes, ranges; and values and text written as openpyxl writes them. Anything
not recognised raises :class:`Unsupported`, which sends the write to openpyxl.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from typing import Any

from openpyxl.utils import column_index_from_string, get_column_letter

from sheets_escalation.core.table import CellWrite

_SHEET_DATA = re.compile(rb"<sheetData\s*(/?)>")
_ROW = re.compile(rb"\s*<row\b([^>]*?)(?:/>|>(.*?)</row>)", re.DOTALL)
_SHEET_DATA_END = re.compile(rb"\s*</sheetData>")
CELL = re.compile(rb"\s*<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.DOTALL)
ATTRIBUTE = re.compile(rb"""([\w:.-]+)\s*=\s*("[^"]*"|'[^']*')""")
_CELL_REF = re.compile(rb"""\br\s*=\s*["']([A-Z]{1,3})([0-9]+)["']""")
ROW_NUMBER = re.compile(rb"""\br\s*=\s*["']([0-9]+)["']""")
_SPANS = re.compile(rb"""\sspans\s*=\s*["']([0-9: ]*)["']""")
_DIMENSION = re.compile(rb"""<dimension\s+ref\s*=\s*["']([A-Z0-9:]+)["']\s*/>""")
_RANGE_FORMULA = re.compile(rb"""<f\b[^>]*\bt\s*=\s*["'](?:array|dataTable)["'][^>]*>""")
_REF = re.compile(rb"""\bref\s*=\s*["']([A-Z0-9:]+)["']""")
_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*\bencoding\s*=\s*["']([^"']+)["']""")


class Unsupported(Exception):
    """This plan or workbook needs the openpyxl path; the message says why."""


class SheetReader:
    """Splits a worksheet part, read in chunks, into its head, its rows and its tail."""

    def __init__(self, source: Iterator[bytes]) -> None:
        self.source = source
        self.buffer = b""
        self.position = 0
        self.empty = False

    def _more(self) -> bool:
        chunk = next(self.source, None)
        if chunk is None:
            return False
        self.buffer = self.buffer[self.position:] + chunk
        self.position = 0
        return True

    def until_sheet_data(self) -> bytes:
        while (match := _SHEET_DATA.search(self.buffer)) is None:
            if not self._more():
                raise Unsupported("a worksheet without <sheetData>")
        declared = _ENCODING.match(self.buffer.lstrip(b"\xef\xbb\xbf"))
        if declared is not None and declared.group(1).lower().replace(b"-", b"") != b"utf8":
            raise Unsupported("a worksheet not in UTF-8")  # the patch writes UTF-8 text
        if match.group(1):
            self.empty = True
            head = self.buffer[:match.start()] + b"<sheetData>"
        else:
            head = self.buffer[:match.end()]
        self.position = match.end()
        return head

    def rows(self) -> Iterator[re.Match[bytes]]:
        if self.empty:
            return
        while True:
            # A row cut by the chunk's end matches only once the rest has been read.
            match = _ROW.match(self.buffer, self.position)
            if match is not None:
                self.position = match.end()
                yield match
                continue
            end = _SHEET_DATA_END.match(self.buffer, self.position)
            if end is not None:
                return
            if not self._more():
                raise Unsupported("unrecognised content in <sheetData>")

    def tail(self) -> bytes:
        rest = self.buffer[self.position:] + b"".join(self.source)
        return (b"</sheetData>" if self.empty else b"") + rest


def rows(source: Iterator[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """Yield (row number, row content) for each row of a worksheet part."""
    reader = SheetReader(source)
    reader.until_sheet_data()
    for match in reader.rows():
        number = ROW_NUMBER.search(match.group(1))
        if number is None:
            raise Unsupported("a row without its number")
        yield int(number.group(1)), match.group(2)


def cells(row: int, content: bytes) -> Iterator[tuple[int, bytes, bytes | None]]:
    """Yield (1-based column, attributes, body or None) for each cell of a row, in order.
    Raise Unsupported for anything but cells, a cell without its reference, or cells out of
    order."""
    position = 0
    previous = 0
    while position < len(content):
        match = CELL.match(content, position)
        if match is None:
            if content[position:].strip():
                raise Unsupported(f"unrecognised content in row {row}")
            return
        attributes = match.group(1)
        reference = _CELL_REF.search(attributes)
        if reference is None or int(reference.group(2)) != row:
            raise Unsupported(f"a cell without its reference in row {row}")
        col = column(reference.group(1))
        if col <= previous:
            raise Unsupported(f"cells out of order in row {row}")
        previous = col
        position = match.end()
        yield col, attributes, match.group(2)


class _Letters(dict[int, bytes]):
    """1-based column -> its letters, as bytes, computed once."""

    def __missing__(self, col: int) -> bytes:
        letters = self[col] = get_column_letter(col).encode()
        return letters

LETTERS = _Letters()


_COLUMNS: dict[bytes, int] = {}


def column(letters: bytes) -> int:
    """Given column letters, return the 1-based column (remembered once computed)."""
    col = _COLUMNS.get(letters)
    if col is None:
        col = _COLUMNS[letters] = column_index_from_string(letters.decode())
    return col


def attribute(attributes: bytes | None, name: bytes) -> bytes | None:
    """Given an element's attributes, return the value of attribute ``name``, or None."""
    if attributes is None:
        return None
    for found, quoted in ATTRIBUTE.findall(attributes):
        if found == name:
            return bytes(quoted[1:-1])
    return None


def has_value(body: bytes | None) -> bool:
    """Whether a cell's content holds a value (a formula counts, as openpyxl reads one)."""
    if not body:
        return False
    if b"<f" in body:
        return True
    return re.search(rb"<v>[^<]+</v>|<t[^>]*>[^<]+</t>", body) is not None


def shared_index(body: bytes | None) -> int:
    """Given a shared-string cell's content, return its string's index (-1 if none)."""
    match = re.search(rb"<v>\s*([0-9]+)\s*</v>", body or b"")
    return int(match.group(1)) if match else -1


def empty_shared_strings(archive: zipfile.ZipFile, names: frozenset[str]) -> set[int]:
    """Return the indexes of shared strings that are empty (openpyxl reads them as "")."""
    part = "xl/sharedStrings.xml"
    if part not in names:
        return set()
    xml = archive.read(part)
    if b"</t>" not in xml.replace(b"></t>", b"") and b"<t/>" not in xml:
        return set()
    empty: set[int] = set()
    for index, match in enumerate(re.finditer(rb"<si\b[^>]*?(?:/>|>(.*?)</si>)", xml, re.DOTALL)):
        if not re.search(rb"<t[^>]*>[^<]+</t>", match.group(1) or b""):
            empty.add(index)
    return empty


def append_into(xml: bytes, tag: bytes, entries: bytes, added: int) -> bytes:
    """Insert ``entries`` at the end of element ``tag`` and raise its count by ``added``."""
    opening = re.search(rb"<" + tag + rb"\b[^>]*>", xml)
    closing = xml.find(b"</" + tag + b">")
    if opening is None or closing < opening.end():
        raise Unsupported(f"{tag.decode()} not understood")
    start = opening.group(0)
    count = re.search(rb"""\scount\s*=\s*["']([0-9]*)["']""", start)
    if count is not None:
        total = int(count.group(1) or 0) + added
        start = start[:count.start()] + b' count="%d"' % total + start[count.end():]
    return xml[:opening.start()] + start + xml[opening.end():closing] + entries + xml[closing:]


def widen_dimension(head: bytes, cells: list[CellWrite]) -> bytes:
    """Given a worksheet's head and its writes sorted by place, return the head with the
    used range (``<dimension ref>``) covering the written cells."""
    match = _DIMENSION.search(head)
    if match is None or not cells:
        return head
    top, left, bottom, right = bounds(match.group(1))
    cols = [write.col for write in cells]
    new = (min(top, cells[0].row + 1), min(left, min(cols) + 1),
           max(bottom, cells[-1].row + 1), max(right, max(cols) + 1))
    if new == (top, left, bottom, right):
        return head
    ref = f"{get_column_letter(new[1])}{new[0]}:{get_column_letter(new[3])}{new[2]}".encode()
    return head[:match.start(1)] + ref + head[match.end(1):]


def widen_spans(attributes: bytes, cols: list[int]) -> bytes:
    """Given a row's attributes and the columns it now holds, return the attributes with
    ``spans`` covering them (Excel's hint of where a row's cells are)."""
    match = _SPANS.search(attributes)
    if match is None or not cols:
        return attributes
    bounds = [int(n) for n in re.findall(rb"[0-9]+", match.group(1))]
    low, high = min([*bounds, *cols]), max([*bounds, *cols])
    if bounds and low == min(bounds) and high == max(bounds):
        return attributes
    return attributes[:match.start()] + b' spans="%d:%d"' % (low, high) + attributes[match.end():]


def bounds(ref: bytes) -> tuple[int, int, int, int]:
    """Given an A1 range (or one cell), return (top, left, bottom, right), 1-based."""
    first, _, last = ref.partition(b":")
    points = []
    for cell in (first, last or first):
        match = re.fullmatch(rb"([A-Z]{1,3})([0-9]+)", cell)
        if match is None:
            raise Unsupported(f"a range {ref.decode()!r} not understood")
        points.append((int(match.group(2)), column(match.group(1))))
    (top, left), (bottom, right) = points
    return top, left, bottom, right


def formula_ranges(content: bytes) -> list[tuple[int, int, int, int]]:
    """The ranges that array formulas and data tables in a row's cells spill over."""
    found = []
    for match in _RANGE_FORMULA.finditer(content):
        ref = _REF.search(match.group(0))
        if ref is not None:
            found.append(bounds(ref.group(1)))
    return found


def number(value: Any) -> bytes:
    """Given a number, return its digits as a cell stores them."""
    # The openpyxl path writes numbers so; the same digits read back as the same value.
    return b"%.16g" % value


def escape(text: str, attribute: bool = False) -> bytes:
    """Given text, return it escaped for XML content (or, with ``attribute``, a quoted
    attribute value) as UTF-8."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if attribute:
        text = text.replace('"', "&quot;")
    return text.encode("utf-8")
