"""The fast way to write a plan into a local ``.xlsx``: patch the package, not rebuild it.

openpyxl rebuilds the whole workbook from what it understands, which is slow on big tabs
and loses the parts it does not understand (charts, pictures, pivot tables …). A sync
usually writes plain values into cells of tabs that exist, and for that the package can be
copied member by member with only the changed worksheet parts rewritten: each one is
streamed through once, row by row, with the written cells replaced or inserted in place.
Every other member (drawings, charts, pivots, macros, shared strings, the content types)
is copied unchanged, so this path loses nothing and needs no lossy-parts refusal.
``xl/styles.xml`` changes only when a date needs a cell format the file does not have yet,
and ``xl/workbook.xml`` only to ask Excel to recalculate on opening when the file holds
formulas Excel calculated (``xl/calcChain.xml``), as the openpyxl path does for every file.

A reader sees what the openpyxl path would write: text as inline strings (never formulas),
booleans, numbers, date cells with the same number formats, blanks that keep their style,
and new cells taking their column's style. Whatever this module cannot do exactly so — a
new or replaced tab, a header that gets the template's column look, a cell inside a merged
range or an array formula, a cell holding a formula, XML it does not recognise — raises
:class:`Unsupported` before anything is published, and the caller uses openpyxl instead.
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import io
import math
import numbers
import re
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from typing import IO, Any
from xml.etree import ElementTree

from openpyxl.styles.numbers import BUILTIN_FORMATS, BUILTIN_FORMATS_REVERSE, is_date_format
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH, to_excel

from sheets_escalation.adapters.xlsx import ooxml, template
from sheets_escalation.core import layout as tab_layout
from sheets_escalation.core.table import CellWrite, Value, WritePlan

_CHUNK = 1 << 20
_ZIP64_FROM = 1 << 30  # a part this big may outgrow plain zip headers once patched
_MAX_TEXT = 32767  # what a cell holds; openpyxl cuts longer text to this too
_STYLES = "xl/styles.xml"
_WORKBOOK = "xl/workbook.xml"
_CALC_CHAIN = "xl/calcChain.xml"

_SHEET_DATA = re.compile(rb"<sheetData\s*(/?)>")
_ROW = re.compile(rb"\s*<row\b([^>]*?)(?:/>|>(.*?)</row>)", re.DOTALL)
_SHEET_DATA_END = re.compile(rb"\s*</sheetData>")
_CELL = re.compile(rb"\s*<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.DOTALL)
_ATTRIBUTE = re.compile(rb"""([\w:.-]+)\s*=\s*("[^"]*"|'[^']*')""")
_CELL_REF = re.compile(rb"""\br\s*=\s*["']([A-Z]{1,3})([0-9]+)["']""")
_CELL_START = re.compile(rb'<c r="([A-Z]{1,3})([0-9]+)"')
_ROW_NUMBER = re.compile(rb"""\br\s*=\s*["']([0-9]+)["']""")
_SPANS = re.compile(rb"""\sspans\s*=\s*["']([0-9: ]*)["']""")
_DIMENSION = re.compile(rb"""<dimension\s+ref\s*=\s*["']([A-Z0-9:]+)["']\s*/>""")
_COL = re.compile(rb"<col\b([^>]*?)/?>")
_MERGE = re.compile(rb"""<mergeCell\s+ref\s*=\s*["']([A-Z0-9:]+)["']""")
_SHARED_MASTER = re.compile(rb"""<f\b(?=[^>]*\bt\s*=\s*["']shared["'])(?=[^>]*\bref\s*=)[^>]*>""")
_RANGE_FORMULA = re.compile(rb"""<f\b[^>]*\bt\s*=\s*["'](?:array|dataTable)["'][^>]*>""")
_REF = re.compile(rb"""\bref\s*=\s*["']([A-Z0-9:]+)["']""")
_XF = re.compile(rb"<xf\b[^>]*?(?:/>|>.*?</xf>)", re.DOTALL)
_NUMFMT_ID = re.compile(rb"""\snumFmtId\s*=\s*["'][0-9]*["']""")
_APPLY_NUMFMT = re.compile(rb"""\sapplyNumberFormat\s*=\s*["'][^"']*["']""")
_CALC_PR = re.compile(rb"<calcPr\b([^>]*?)(/?)>")
_ANY_CELL = re.compile(rb"<c[\s/>]")
_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*\bencoding\s*=\s*["']([^"']+)["']""")
_FULL_CALC = re.compile(rb"""\sfullCalcOnLoad\s*=\s*["'][^"']*["']""")
_TRUE = ("1", "true")
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip's local file header, up to the name
_LOCAL_SIGNATURE = b"PK\x03\x04"
_ENCRYPTED = 0x01
_DATA_DESCRIPTOR = 0x08
_UTF8_NAME = 0x800
_ZIP64_EXTRA = 0x0001


class Unsupported(Exception):
    """This plan or workbook needs the openpyxl path; the message says why."""


def patch_workbook(data: bytes, plan: WritePlan, stream: IO[bytes]) -> None:
    """Given a workbook's bytes and a plan of plain cell writes and appends into existing
    tabs, write the patched workbook to ``stream`` (a seekable binary file): every member
    in order, the untouched ones copied compressed as they are, the written worksheets
    rewritten, styles extended only when a new date format is needed. Raise Unsupported, having possibly written part
    of ``stream``, if the plan or the file needs the openpyxl path."""
    if plan.new_tabs or plan.replace_tabs:
        raise Unsupported("the plan creates or replaces tabs")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _Patch(archive, plan, memoryview(data)).write(stream)
    except (zipfile.BadZipFile, ElementTree.ParseError, KeyError, ValueError, EOFError,
            RuntimeError) as error:
        raise Unsupported(f"cannot patch the package: {error}") from error


class _Patch:
    """One plan's writes into one workbook package, grouped by worksheet part."""

    def __init__(self, archive: zipfile.ZipFile, plan: WritePlan, data: memoryview) -> None:
        self.archive = archive
        self.data = data
        self.names = frozenset(archive.namelist())
        parts = ooxml.sheet_parts(archive, self.names)
        self.styles = _Styles(archive.read(_STYLES) if _STYLES in self.names else None)
        workbook_xml = archive.read(_WORKBOOK)
        self.epoch = MAC_EPOCH if ooxml.date1904(workbook_xml) else WINDOWS_EPOCH
        self.calc_chain = _calc_chain(archive, self.names, workbook_xml, parts)
        self.sheets: dict[str, _Sheet] = {}  # by worksheet part
        self.by_tab: dict[str, _Sheet] = {}  # by the tab name the plan uses
        if any(w.row < 0 or w.col < 0 for w in plan.cells):
            raise Unsupported("a write before the first row or column")
        for write in plan.cells:
            self._sheet(write.tab, parts).add(write)
        for tab, rows in plan.appends.items():
            if rows:
                self._sheet(tab, parts).appends.extend(rows)
        for sheet in self.sheets.values():
            sheet.prepare(self)

    def _sheet(self, tab: str, parts: dict[str, str]) -> _Sheet:
        sheet = self.by_tab.get(tab)
        if sheet is not None:
            return sheet
        title = ooxml.resolve(tab, list(parts))
        if title is None:
            raise Unsupported(f"tab {tab!r} is missing")
        part = parts[title]
        if part not in self.sheets:
            self.sheets[part] = _Sheet(title, part, self.calc_chain.get(title, frozenset()))
        sheet = self.by_tab[tab] = self.sheets[part]
        return sheet

    def write(self, stream: IO[bytes]) -> None:
        infos = self.archive.infolist()
        order = [info.filename for info in infos]
        styles_at = order.index(_STYLES) if _STYLES in order else len(order)
        # A worksheet stored after styles.xml is rendered first, so the formats it adds are
        # known when styles.xml is written; the usual order (sheets first) streams straight.
        rendered: dict[str, IO[bytes]] = {}
        try:
            for part, sheet in self.sheets.items():
                if order.index(part) > styles_at:
                    spool = tempfile.SpooledTemporaryFile(max_size=64 << 20)
                    rendered[part] = spool
                    for piece in sheet.render(self, self._source(part)):
                        spool.write(piece)
                    spool.seek(0)
            with zipfile.ZipFile(stream, "w") as out:
                out.comment = self.archive.comment
                for info in infos:
                    self._copy_member(out, info, rendered)
        finally:
            for rendering in rendered.values():
                rendering.close()

    def _copy_member(self, out: zipfile.ZipFile, info: zipfile.ZipInfo,
                     rendered: dict[str, IO[bytes]]) -> None:
        name = info.filename
        target = _member_info(info)
        # Zip64 headers only where sizes need them, as most writers do: a part that grows
        # past what plain headers hold stops the patch (RuntimeError) and openpyxl saves.
        large = info.file_size > _ZIP64_FROM
        if name in rendered:
            with out.open(target, "w", force_zip64=large) as sink:
                shutil.copyfileobj(rendered[name], sink, _CHUNK)
        elif name in self.sheets:
            with out.open(target, "w", force_zip64=large) as sink:
                for piece in self.sheets[name].render(self, self._source(name)):
                    sink.write(piece)
        elif name == _STYLES and self.styles.changed:
            out.writestr(target, self.styles.patched())
        elif name == _WORKBOOK:
            # Formulas anywhere may read the cells written (calcChain or not): ask Excel and
            # LibreOffice to recalculate on opening, as openpyxl's save does.
            out.writestr(target, _recalculate_on_load(self.archive.read(name)))
        elif info.flag_bits & _ENCRYPTED:
            raise Unsupported(f"{name} is encrypted")
        else:
            _copy_raw(self.data, info, out)

    def _source(self, part: str) -> Iterator[bytes]:
        with self.archive.open(part) as source:
            while chunk := source.read(_CHUNK):
                yield chunk

    def encode(self, value: Value) -> tuple[bytes, bytes] | None:
        """Given a value, return (type attribute, cell content) as the openpyxl path stores
        it, or None for a blank. Raise Unsupported for a value it would refuse."""
        if value is None:
            return None
        if isinstance(value, str):
            text = ooxml.storable_text(value)[:_MAX_TEXT]
            if not text:
                return None
            if not text.strip():
                # As openpyxl writes it: readers that trim unpreserved text read a blank.
                return b"inlineStr", b"<is><t>" + _escape(text) + b"</t></is>"
            return b"inlineStr", b'<is><t xml:space="preserve">' + _escape(text) + b"</t></is>"
        if isinstance(value, bool):
            return b"b", b"<v>1</v>" if value else b"<v>0</v>"
        if isinstance(value, numbers.Integral):
            return b"n", b"<v>" + _number(int(value)) + b"</v>"
        if isinstance(value, numbers.Real):
            number = float(value)
            if math.isnan(number) or math.isinf(number):
                return None
            return b"n", b"<v>" + _number(number) + b"</v>"
        if isinstance(value, dt.datetime | dt.date):
            if isinstance(value, dt.datetime) and value.tzinfo is not None:
                raise Unsupported("a datetime with a time zone")
            serial = to_excel(value, self.epoch)
            return None if serial is None else (b"n", b"<v>" + _number(serial) + b"</v>")
        raise Unsupported(f"a {type(value).__name__} value")


class _Sheet:
    """The writes into one worksheet part, and how to render the rewritten part.

    The writes are kept as the plan's own CellWrite objects, sorted by place (a sync writes
    hundreds of thousands of cells: no per-cell structure of its own). The sort is stable and
    a cell's writes are all header writes (row 0) or all not, so each cell's writes stay in
    the order openpyxl makes them: headers first, then cells, then appended rows."""

    def __init__(self, title: str, part: str, calc_cells: frozenset[tuple[int, int]]) -> None:
        self.title = title
        self.part = part
        self.calc_cells = calc_cells
        self.cells: list[CellWrite] = []
        # 1-based columns whose header gets the template's column look if it was blank.
        self.restyled: set[int] = set()
        self.appends: list[Sequence[Value]] = []

    def add(self, write: CellWrite) -> None:
        self.cells.append(write)
        if write.row == 0:
            layout = tab_layout.layout_for(self.title)
            if layout is not None and isinstance(write.value, str):
                name = template.layout_header(layout, write.value)
                if name is not None and name in layout.owned:
                    self.restyled.add(write.col + 1)

    def prepare(self, patch: _Patch) -> None:
        """Check what can be known before streaming, sort the writes, and place the appended
        rows after the last row holding a value (after the cell writes, as openpyxl does)."""
        cells = self.cells
        if any(w.row == 0 for w in cells):
            if any(kind == "table" for kind, _ in ooxml.relationships(patch.archive, patch.names, self.part).values()):
                # A table's column names must match its header cells; openpyxl keeps them in step.
                raise Unsupported(f"header written on tab {self.title!r}, which holds a table")
        for write in cells:
            _check_value(write.value)
        cells.sort(key=_place)
        if self.appends:
            start = self._last_nonblank_row(patch)
            for offset, values in enumerate(self.appends):
                for col, value in enumerate(values):
                    if value is not None:
                        _check_value(value)
                        cells.append(CellWrite(self.title, start + offset, col, value))
            cells.sort(key=_place)

    def _last_nonblank_row(self, patch: _Patch) -> int:
        """Return the 1-based number of the last row holding a value once the cell writes
        are made (0 for an empty tab)."""
        last = 0
        final: set[int] = set()
        for write in reversed(self.cells):  # a cell's last write is what it keeps
            place = _place(write)
            if place in final:
                continue
            final.add(place)
            if patch.encode(write.value) is not None:
                last = write.row + 1
                break
        # Cells written blank after that row no longer count.
        blanked = {(w.row + 1, w.col + 1) for w in self.cells if w.row + 1 > last}
        blanked_rows = {row for row, _ in blanked}
        empty_shared: set[int] | None = None
        for row, content in _rows(patch._source(self.part)):
            if row <= last or content is None or not _has_value(content):
                continue
            if row not in blanked_rows and b't="s"' not in content:
                last = row
                continue
            for col, attributes, body in _cells(row, content):
                if (row, col) in blanked or not _has_value(body):
                    continue
                if _attribute(attributes, b"t") == b"s":
                    if empty_shared is None:
                        empty_shared = _empty_shared_strings(patch.archive, patch.names)
                    if _shared_index(body) in empty_shared:
                        continue
                last = row
                break
        return last

    def render(self, patch: _Patch, source: Iterator[bytes]) -> Iterator[bytes]:
        """Yield the rewritten worksheet part, piece by piece. Raise Unsupported when a write
        lands where only openpyxl can put it."""
        reader = _Reader(source)
        head = reader.until_sheet_data()
        columns = _column_styles(head, patch.styles)
        yield _widen_dimension(head, self.cells)
        cells = self.cells
        count = len(cells)
        ranges: list[tuple[int, int, int, int]] = []
        index = 0
        previous = 0
        for match in reader.rows():
            attributes, content = match.group(1), match.group(2)
            number = _ROW_NUMBER.search(attributes)
            if number is None:
                raise Unsupported(f"a row without its number on tab {self.title!r}")
            row = int(number.group(1))
            if row <= previous:
                raise Unsupported(f"rows out of order on tab {self.title!r}")
            previous = row
            if content is not None and b"<f" in content:
                ranges.extend(_formula_ranges(content))
            while index < count and cells[index].row + 1 < row:
                end = _row_end(cells, index)
                yield self._new_row(patch, cells[index:end], columns)
                index = end
            if index < count and cells[index].row + 1 == row:
                end = _row_end(cells, index)
                yield self._patched_row(patch, row, attributes, content or b"", cells[index:end], columns)
                index = end
            else:
                yield match.group(0)
        while index < count:
            end = _row_end(cells, index)
            yield self._new_row(patch, cells[index:end], columns)
            index = end
        tail = reader.tail()
        self._check_merges(tail, ranges)
        yield tail

    def _check_merges(self, tail: bytes, ranges: list[tuple[int, int, int, int]]) -> None:
        ranges = ranges + [_bounds(ref) for ref in _MERGE.findall(tail)]
        for top, left, bottom, right in ranges:
            low = bisect.bisect_left(self.cells, top - 1, key=_row_of)
            high = bisect.bisect_right(self.cells, bottom - 1, key=_row_of)
            if any(left <= write.col + 1 <= right for write in self.cells[low:high]):
                raise Unsupported(f"a write into a merged range or array formula on tab {self.title!r}")

    def _new_row(self, patch: _Patch, writes: list[CellWrite], columns: dict[int, int]) -> bytes:
        row = writes[0].row + 1
        cells = b"".join(self._cell(patch, row, col, None, None, columns, group)
                         for col, group in _by_column(writes))
        return b'<row r="%d">%s</row>' % (row, cells) if cells else b""

    def _patched_row(self, patch: _Patch, row: int, attributes: bytes, content: bytes,
                     writes: list[CellWrite], columns: dict[int, int]) -> bytes:
        """Return the row with its written cells replaced or inserted in column order; the
        cells around them are copied as they are, found by their references."""
        number = b"%d" % row
        references = _CELL_START.findall(content)
        # Any whitespace may follow "<c"; a count that misses a cell would duplicate it.
        if len(references) != len(_ANY_CELL.findall(content)) or b"<c>" in content or b"<c/>" in content:
            return self._patched_row_by_parsing(patch, row, attributes, content, writes, columns)
        existing = [_column(letters) for letters, _ in references]
        if any(found != number for _, found in references):
            raise Unsupported(f"a cell of row {row} on tab {self.title!r} names another row")
        if any(later <= earlier for earlier, later in zip(existing, existing[1:], strict=False)):
            raise Unsupported(f"cells out of order in row {row} on tab {self.title!r}")
        pieces: list[bytes] = []
        cursor = index = 0
        emitted: list[int] = []
        for target, group in _by_column(writes):
            while index < len(existing) and existing[index] < target:
                index += 1
            if index == len(existing):
                start = len(content)
            else:
                start = content.find(b'<c r="' + references[index][0] + number + b'"', cursor)
                if start < 0:
                    raise Unsupported(f"a cell of row {row} on tab {self.title!r} not understood")
            if index < len(existing) and existing[index] == target:
                cell = _CELL.match(content, start)
                if cell is None:
                    raise Unsupported(f"a cell of row {row} on tab {self.title!r} not understood")
                piece = self._cell(patch, row, target, cell.group(1), cell.group(2), columns, group)
                end = cell.end()
                index += 1
            else:
                piece = self._cell(patch, row, target, None, None, columns, group)
                end = start
            pieces.append(content[cursor:start])
            pieces.append(piece)
            if piece:
                emitted.append(target)
            cursor = end
        pieces.append(content[cursor:])
        body = b"".join(pieces)
        if b"spans" in attributes and emitted:
            attributes = _widen_spans(attributes, [min(emitted), max(emitted)])
        if not body.strip():
            return b"<row" + attributes + b"/>"
        return b"<row" + attributes + b">" + body + b"</row>"

    def _patched_row_by_parsing(self, patch: _Patch, row: int, attributes: bytes, content: bytes,
                                writes: list[CellWrite], columns: dict[int, int]) -> bytes:
        """As :meth:`_patched_row`, for rows whose cells do not start with their reference."""
        pieces: list[bytes] = []
        emitted: list[int] = []
        targets = iter(_by_column(writes))
        target, group = next(targets, (None, []))
        for col, cell_attributes, body in _cells(row, content):
            while target is not None and target < col:
                pieces.append(self._cell(patch, row, target, None, None, columns, group))
                emitted.append(target)
                target, group = next(targets, (None, []))
            if target == col:
                pieces.append(self._cell(patch, row, col, cell_attributes, body, columns, group))
                target, group = next(targets, (None, []))
            else:
                pieces.append(b"<c" + cell_attributes + (b"/>" if body is None else b">" + body + b"</c>"))
            emitted.append(col)
        while target is not None:
            pieces.append(self._cell(patch, row, target, None, None, columns, group))
            emitted.append(target)
            target, group = next(targets, (None, []))
        attributes = _widen_spans(attributes, emitted)
        body = b"".join(pieces)
        if not body:
            return b"<row" + attributes + b"/>"
        return b"<row" + attributes + b">" + body + b"</row>"

    def _cell(self, patch: _Patch, row: int, col: int, attributes: bytes | None, body: bytes | None,
              columns: dict[int, int], writes: list[CellWrite]) -> bytes:
        """Return the cell element after its writes (empty when nothing is left to store)."""
        if (row, col) in self.calc_cells:
            raise Unsupported(f"a write over the calculated cell {self._where(row, col)}")
        styles = patch.styles
        style: int | None = None
        others = b""
        if attributes is not None:
            if body and (b"<extLst" in body or _SHARED_MASTER.search(body)):
                # Other cells copy a shared formula from its first cell.
                raise Unsupported(f"a write over the formula in {self._where(row, col)}")
            for name, quoted in _ATTRIBUTE.findall(attributes):
                if name == b"s":
                    style = int(quoted[1:-1])
                elif name in (b"vm", b"cm"):
                    raise Unsupported(f"a write over the rich value in {self._where(row, col)}")
                elif name not in (b"r", b"t"):
                    others += b" " + name + b"=" + quoted
        if row == 1 and col in self.restyled and (
                attributes is None or not _has_value(body) or _attribute(attributes, b"t") == b"s"):
            raise Unsupported(f"the new owned column header {self._where(row, col)} gets the template's look")
        column_style = columns.get(col)
        for write in writes:
            value = write.value
            if column_style is not None and write.row and not styles.has_style(style):
                style = column_style
            if isinstance(value, dt.date) and not _is_date_format(styles.format_code(style)):
                wanted = tab_layout.DATETIME_FORMAT if isinstance(value, dt.datetime) else tab_layout.DATE_FORMAT
                style = styles.with_format(style, wanted)
        stored = patch.encode(writes[-1].value)
        styled = style is not None and styles.has_style(style)
        if stored is None and not styled:
            return b""
        element = b'<c r="' + _LETTERS[col] + b"%d" % row + b'"'
        if styled:
            element += b' s="%d"' % style  # type: ignore[str-format]
        element += others
        if stored is None:
            return element + b"/>"
        kind, content = stored
        return element + b' t="' + kind + b'">' + content + b"</c>"

    def _where(self, row: int, col: int) -> str:
        return f"{get_column_letter(col)}{row} on tab {self.title!r}"


def _place(write: CellWrite) -> int:
    # One int per write sorts (row, column) without a tuple per write; 2**14 columns at most.
    return write.row << 14 | write.col


def _row_of(write: CellWrite) -> int:
    return write.row


def _row_end(cells: list[CellWrite], start: int) -> int:
    """Return the index after the last write of the row ``cells[start]`` is in."""
    row = cells[start].row
    end = start + 1
    while end < len(cells) and cells[end].row == row:
        end += 1
    return end


def _by_column(writes: list[CellWrite]) -> list[tuple[int, list[CellWrite]]]:
    """Given one row's writes in column order, return (1-based column, its writes)."""
    if len(writes) == 1:
        return [(writes[0].col + 1, writes)]
    groups: list[tuple[int, list[CellWrite]]] = []
    for write in writes:
        if groups and groups[-1][0] == write.col + 1:
            groups[-1][1].append(write)
        else:
            groups.append((write.col + 1, [write]))
    return groups


def _check_value(value: Value) -> None:
    """Raise Unsupported for a value the openpyxl path refuses (it raises its own error)."""
    if value is None or isinstance(value, str | bool | numbers.Real):
        return
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            raise Unsupported("a datetime with a time zone")
        return
    if not isinstance(value, dt.date):
        raise Unsupported(f"a {type(value).__name__} value")


class _Reader:
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


class _Styles:
    """The workbook's cell formats, read once; new date formats are appended to it."""

    def __init__(self, xml: bytes | None) -> None:
        if xml is None or b"<cellXfs" not in xml or b"</cellXfs>" not in xml:
            raise Unsupported("styles without cell formats")
        self.xml = xml
        root = ElementTree.fromstring(xml)  # noqa: S314 - the user's own file
        # Only <numFmts> defines cell formats; the <numFmt> inside <dxfs> belong to colour
        # rules and table styles, and may reuse an id with another code.
        defined = root.find(f"{ooxml.MAIN}numFmts")
        self.formats = {int(fmt.get("numFmtId", "0")): fmt.get("formatCode", "")
                        for fmt in (defined.iter(f"{ooxml.MAIN}numFmt") if defined is not None else ())}
        self.taken_ids = {int(fmt.get("numFmtId", "0")) for fmt in root.iter(f"{ooxml.MAIN}numFmt")}
        cell_xfs = root.find(f"{ooxml.MAIN}cellXfs")
        if cell_xfs is None:
            raise Unsupported("styles without cell formats")
        xfs = list(cell_xfs.iter(f"{ooxml.MAIN}xf"))
        start = xml.index(b"<cellXfs")
        end = xml.index(b"</cellXfs>")
        self.raw = [m.group(0) for m in _XF.finditer(xml, start, end)]
        if len(self.raw) != len(xfs):
            raise Unsupported("cell formats not understood")
        self.number_formats = [int(xf.get("numFmtId", "0")) for xf in xfs]
        self.zero = [_is_zero_xf(xf, self.formats) for xf in xfs]
        self.added_formats: dict[str, int] = {}
        self.added_xfs: list[bytes] = []
        self.cache: dict[tuple[int | None, str], int] = {}

    @property
    def changed(self) -> bool:
        return bool(self.added_xfs)

    def has_style(self, index: int | None) -> bool:
        """As openpyxl's ``Cell.has_style``: a format other than the all-default one."""
        if index is None:
            return False
        if index >= len(self.zero):
            if index - len(self.zero) >= len(self.added_xfs):
                raise Unsupported(f"cell format {index} is not in styles.xml")
            return True
        return not self.zero[index]

    def format_code(self, index: int | None) -> str:
        if index is None:
            return "General"
        if index >= len(self.number_formats):
            raise Unsupported(f"cell format {index} is not in styles.xml")
        number_format = self.number_formats[index]
        return self.formats.get(number_format) or BUILTIN_FORMATS.get(number_format) or "General"

    def with_format(self, index: int | None, code: str) -> int:
        """Return the index of a cell format like ``index`` (None: the default) but showing
        numbers as ``code``, adding the format (and its number format) once."""
        key = (index if self.has_style(index) else None, code)
        if key not in self.cache:
            number_format = self._number_format(code)
            base = ((self.raw + self.added_xfs)[key[0]] if key[0] is not None
                    else b'<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>')
            self.added_xfs.append(_with_number_format(base, number_format))
            self.cache[key] = len(self.raw) + len(self.added_xfs) - 1
            self.number_formats.append(number_format)
        return self.cache[key]

    def _number_format(self, code: str) -> int:
        if code in BUILTIN_FORMATS_REVERSE:
            return int(BUILTIN_FORMATS_REVERSE[code])
        for number, existing in self.formats.items():
            if existing == code:
                return number
        number = max([163, *self.formats, *self.taken_ids]) + 1
        self.formats[number] = code
        self.taken_ids.add(number)
        self.added_formats[code] = number
        return number

    def patched(self) -> bytes:
        """Return styles.xml with the added formats, counts updated."""
        xml = self.xml
        if self.added_formats:
            entries = b"".join(b'<numFmt numFmtId="%d" formatCode="%s"/>' % (number, _escape(code, True))
                               for code, number in self.added_formats.items())
            block = b'<numFmts count="%d">%s</numFmts>' % (len(self.added_formats), entries)
            empty = re.search(rb"<numFmts\b[^>]*/>", xml)
            if b"</numFmts>" in xml:
                xml = _append_into(xml, b"numFmts", entries, len(self.added_formats))
            elif empty is not None:
                xml = xml[:empty.start()] + block + xml[empty.end():]
            else:
                # numFmts, when present, is the style sheet's first element.
                opening = re.search(rb"<styleSheet\b[^>]*>", xml)
                if opening is None or re.search(rb"<numFmts\b", xml):
                    raise Unsupported("number formats not understood")
                xml = xml[:opening.end()] + block + xml[opening.end():]
        return _append_into(xml, b"cellXfs", b"".join(self.added_xfs), len(self.added_xfs))


# -- helpers ---------------------------------------------------------------------------------


def _member_info(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A fresh entry for a copied member: same name, time, compression and attributes."""
    target = zipfile.ZipInfo(info.filename, info.date_time)
    target.compress_type = info.compress_type
    target.external_attr = info.external_attr
    target.create_system = info.create_system
    target.comment = info.comment
    return target


def _copy_raw(data: memoryview, info: zipfile.ZipInfo, out: zipfile.ZipFile) -> None:
    """Append ``info``'s member of the package ``data`` to ``out`` as its compressed bytes
    stand, so the hourly rerun inflates and deflates only the parts it rewrites.

    zipfile has no public way to do this; the member goes in as zipfile's own writer puts
    one (local header at ``out.fp``, entry in its file list, central directory from that
    entry on close). The local header is written anew from the central directory's CRC and
    sizes, so a data descriptor (flag bit 3) of the source is dropped rather than copied."""
    (signature, _, _, flags, _, _, _, _, _, _, name_length,
     extra_length) = _LOCAL_HEADER.unpack_from(data, info.header_offset)
    if signature != _LOCAL_SIGNATURE:
        raise zipfile.BadZipFile(f"no local header for {info.filename}")
    start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    payload = data[start:start + info.compress_size]
    if len(payload) != info.compress_size:
        raise zipfile.BadZipFile(f"{info.filename} is cut short")
    extra = _without_zip64(bytes(data[start - extra_length:start]))
    zip64 = max(info.file_size, info.compress_size) > zipfile.ZIP64_LIMIT
    sizes = (0xFFFFFFFF, 0xFFFFFFFF) if zip64 else (info.compress_size, info.file_size)
    if zip64:
        extra += struct.pack("<HHQQ", _ZIP64_EXTRA, 16, info.file_size, info.compress_size)
    target = copy.copy(info)
    target.flag_bits = flags & ~_DATA_DESCRIPTOR
    try:
        name = info.filename.encode("ascii")
    except UnicodeEncodeError:
        name = info.filename.encode("utf-8")
        target.flag_bits |= _UTF8_NAME
    if zip64:
        target.extract_version = max(target.extract_version, zipfile.ZIP64_VERSION)
    year, month, day, hour, minute, second = info.date_time
    sink = out.fp
    assert sink is not None  # an open ZipFile in "w" mode has its stream
    target.header_offset = sink.tell()
    sink.write(_LOCAL_HEADER.pack(
        _LOCAL_SIGNATURE, target.extract_version, target.reserved, target.flag_bits,
        target.compress_type, hour << 11 | minute << 5 | second // 2,
        (year - 1980) << 9 | month << 5 | day, info.CRC, *sizes, len(name), len(extra)))
    sink.write(name)
    sink.write(extra)
    sink.write(payload)
    out.filelist.append(target)
    out.NameToInfo[target.filename] = target
    out.start_dir = sink.tell()  # type: ignore[attr-defined]
    out._didModify = True  # type: ignore[attr-defined]


def _without_zip64(extra: bytes) -> bytes:
    """An extra field without its zip64 record, which is written again only if needed."""
    kept, at = [], 0
    while at + 4 <= len(extra):
        kind, size = struct.unpack_from("<HH", extra, at)
        if kind != _ZIP64_EXTRA:
            kept.append(extra[at:at + 4 + size])
        at += 4 + size
    return b"".join(kept)


def _rows(source: Iterator[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """Yield (row number, row content) for each row of a worksheet part."""
    reader = _Reader(source)
    reader.until_sheet_data()
    for match in reader.rows():
        number = _ROW_NUMBER.search(match.group(1))
        if number is None:
            raise Unsupported("a row without its number")
        yield int(number.group(1)), match.group(2)


def _cells(row: int, content: bytes) -> Iterator[tuple[int, bytes, bytes | None]]:
    """Yield (1-based column, attributes, body or None) for each cell of a row, in order.
    Raise Unsupported for anything but cells, a cell without its reference, or cells out of
    order."""
    position = 0
    previous = 0
    while position < len(content):
        match = _CELL.match(content, position)
        if match is None:
            if content[position:].strip():
                raise Unsupported(f"unrecognised content in row {row}")
            return
        attributes = match.group(1)
        reference = _CELL_REF.search(attributes)
        if reference is None or int(reference.group(2)) != row:
            raise Unsupported(f"a cell without its reference in row {row}")
        col = _column(reference.group(1))
        if col <= previous:
            raise Unsupported(f"cells out of order in row {row}")
        previous = col
        position = match.end()
        yield col, attributes, match.group(2)


_COLUMNS: dict[bytes, int] = {}


class _Letters(dict[int, bytes]):
    """1-based column -> its letters, as bytes, computed once."""

    def __missing__(self, col: int) -> bytes:
        letters = self[col] = get_column_letter(col).encode()
        return letters


_LETTERS = _Letters()


def _column(letters: bytes) -> int:
    col = _COLUMNS.get(letters)
    if col is None:
        col = _COLUMNS[letters] = column_index_from_string(letters.decode())
    return col


def _attribute(attributes: bytes | None, name: bytes) -> bytes | None:
    if attributes is None:
        return None
    for found, quoted in _ATTRIBUTE.findall(attributes):
        if found == name:
            return bytes(quoted[1:-1])
    return None


def _has_value(body: bytes | None) -> bool:
    """Whether a cell's content holds a value (a formula counts, as openpyxl reads one)."""
    if not body:
        return False
    if b"<f" in body:
        return True
    return re.search(rb"<v>[^<]+</v>|<t[^>]*>[^<]+</t>", body) is not None


def _shared_index(body: bytes | None) -> int:
    match = re.search(rb"<v>\s*([0-9]+)\s*</v>", body or b"")
    return int(match.group(1)) if match else -1


def _empty_shared_strings(archive: zipfile.ZipFile, names: frozenset[str]) -> set[int]:
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


def _is_zero_xf(xf: ElementTree.Element, formats: dict[int, str]) -> bool:
    """Whether openpyxl reads this cell format as no style at all (all ids 0, default
    alignment and protection)."""
    for name in ("fontId", "fillId", "borderId", "xfId"):
        if xf.get(name, "0") != "0":
            return False
    number_format = int(xf.get("numFmtId", "0"))
    if number_format != 0 and formats.get(number_format) != "General":
        return False
    if xf.get("pivotButton", "0").lower() in _TRUE or xf.get("quotePrefix", "0").lower() in _TRUE:
        return False
    alignment = xf.find(f"{ooxml.MAIN}alignment")
    if alignment is not None and any(value not in ("0", "") for value in alignment.attrib.values()):
        return False
    protection = xf.find(f"{ooxml.MAIN}protection")
    return protection is None or (protection.get("locked", "1").lower() in _TRUE
                                  and protection.get("hidden", "0").lower() not in _TRUE)


def _is_date_format(code: str) -> bool:
    return bool(is_date_format(code))


def _with_number_format(xf: bytes, number_format: int) -> bytes:
    xf = _APPLY_NUMFMT.sub(b"", _NUMFMT_ID.sub(b"", xf, count=1), count=1)
    return b'<xf numFmtId="%d" applyNumberFormat="1"' % number_format + xf[len(b"<xf"):]


def _append_into(xml: bytes, tag: bytes, entries: bytes, added: int) -> bytes:
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


def _column_styles(head: bytes, styles: _Styles) -> dict[int, int]:
    """Return 1-based column -> the style a new cell in it takes (styled columns only)."""
    found: dict[int, int] = {}
    for match in _COL.finditer(head):
        attributes = match.group(1)
        style, low, high = (_attribute(attributes, name) for name in (b"style", b"min", b"max"))
        if style is None or low is None:
            continue
        index = int(style)
        if not styles.has_style(index):
            continue
        for col in range(int(low), int(high or low) + 1):
            found[col] = index
    return found


def _widen_dimension(head: bytes, cells: list[CellWrite]) -> bytes:
    """Given a worksheet's head and its writes sorted by place, return the head with the
    used range (``<dimension ref>``) covering the written cells."""
    match = _DIMENSION.search(head)
    if match is None or not cells:
        return head
    top, left, bottom, right = _bounds(match.group(1))
    cols = [write.col for write in cells]
    new = (min(top, cells[0].row + 1), min(left, min(cols) + 1),
           max(bottom, cells[-1].row + 1), max(right, max(cols) + 1))
    if new == (top, left, bottom, right):
        return head
    ref = f"{get_column_letter(new[1])}{new[0]}:{get_column_letter(new[3])}{new[2]}".encode()
    return head[:match.start(1)] + ref + head[match.end(1):]


def _widen_spans(attributes: bytes, cols: list[int]) -> bytes:
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


def _bounds(ref: bytes) -> tuple[int, int, int, int]:
    """Given an A1 range (or one cell), return (top, left, bottom, right), 1-based."""
    first, _, last = ref.partition(b":")
    points = []
    for cell in (first, last or first):
        match = re.fullmatch(rb"([A-Z]{1,3})([0-9]+)", cell)
        if match is None:
            raise Unsupported(f"a range {ref.decode()!r} not understood")
        points.append((int(match.group(2)), _column(match.group(1))))
    (top, left), (bottom, right) = points
    return top, left, bottom, right


def _formula_ranges(content: bytes) -> list[tuple[int, int, int, int]]:
    """The ranges that array formulas and data tables in a row's cells spill over."""
    found = []
    for match in _RANGE_FORMULA.finditer(content):
        ref = _REF.search(match.group(0))
        if ref is not None:
            found.append(_bounds(ref.group(1)))
    return found


def _calc_chain(archive: zipfile.ZipFile, names: frozenset[str], workbook_xml: bytes,
                parts: dict[str, str]) -> dict[str, frozenset[tuple[int, int]]]:
    """Return tab title -> the (row, column) cells Excel lists as calculated. A cell's tab
    is named by sheet id (some writers use the tab's position), so a cell counts for both."""
    if _CALC_CHAIN not in names:
        return {}
    root = ElementTree.fromstring(workbook_xml)  # noqa: S314 - the user's own file
    sheets = list(root.iter(f"{ooxml.MAIN}sheet"))
    owners: dict[str, list[str]] = {}
    for position, sheet in enumerate(sheets, start=1):
        title = sheet.get("name", "")
        if title in parts:
            owners.setdefault(sheet.get("sheetId", ""), []).append(title)
            owners.setdefault(str(position), []).append(title)
    cells: dict[str, set[tuple[int, int]]] = {}
    sheet_id = ""
    for element in ElementTree.fromstring(archive.read(_CALC_CHAIN)).iter(f"{ooxml.MAIN}c"):  # noqa: S314
        sheet_id = element.get("i", sheet_id)
        top, left, _, _ = _bounds(element.get("r", "").encode())
        for title in owners.get(sheet_id, []):
            cells.setdefault(title, set()).add((top, left))
    return {title: frozenset(found) for title, found in cells.items()}


def _recalculate_on_load(workbook_xml: bytes) -> bytes:
    """Given workbook.xml, return it asking Excel to recalculate every formula on opening
    (cells the tool wrote may feed them); unchanged when it asks already. Without a calcPr,
    one is added where the schema puts it (after definedNames and what comes before)."""
    match = _CALC_PR.search(workbook_xml)
    if match is None:
        for before in (b"</definedNames>", b"</externalReferences>", b"</functionGroups>",
                       b"</sheets>"):
            at = workbook_xml.rfind(before)
            if at != -1:
                at += len(before)
                return workbook_xml[:at] + b'<calcPr fullCalcOnLoad="1"/>' + workbook_xml[at:]
        return workbook_xml
    attributes = match.group(1)
    if (_attribute(attributes, b"fullCalcOnLoad") or b"").lower() in (b"1", b"true"):
        return workbook_xml
    attributes = _FULL_CALC.sub(b"", attributes) + b' fullCalcOnLoad="1"'
    return workbook_xml[:match.start()] + b"<calcPr" + attributes + match.group(2) + b">" + workbook_xml[match.end():]


def _number(value: Any) -> bytes:
    # The openpyxl path writes numbers so; the same digits read back as the same value.
    return b"%.16g" % value


def _escape(text: str, attribute: bool = False) -> bytes:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if attribute:
        text = text.replace('"', "&quot;")
    return text.encode("utf-8")
