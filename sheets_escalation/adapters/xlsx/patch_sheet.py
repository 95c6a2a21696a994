"""One worksheet's part of the package patch: the writes into that tab, sorted by place,
and the worksheet rewritten row by row with the written cells replaced or inserted in place,
each as the openpyxl path would store it (see :mod:`sheets_escalation.adapters.xlsx.patch`).
"""

from __future__ import annotations

import bisect
import datetime as dt
import numbers
import re
import zipfile
from collections.abc import Iterator, Sequence
from typing import Protocol

from openpyxl.styles.numbers import is_date_format
from openpyxl.utils import get_column_letter

from sheets_escalation.adapters.xlsx import ooxml, patch_styles, patch_xml, template
from sheets_escalation.core import layout as tab_layout
from sheets_escalation.core.table import CellWrite, Value

_CELL_START = re.compile(rb'<c r="([A-Z]{1,3})([0-9]+)"')
_COL = re.compile(rb"<col\b([^>]*?)/?>")
_MERGE = re.compile(rb"""<mergeCell\s+ref\s*=\s*["']([A-Z0-9:]+)["']""")
_SHARED_MASTER = re.compile(rb"""<f\b(?=[^>]*\bt\s*=\s*["']shared["'])(?=[^>]*\bref\s*=)[^>]*>""")
_ANY_CELL = re.compile(rb"<c[\s/>]")



class Package(Protocol):
    """What a worksheet's patch reads from the package being patched."""

    archive: zipfile.ZipFile
    names: frozenset[str]
    styles: patch_styles.Styles

    def source(self, part: str) -> Iterator[bytes]:
        """Given a member's name, yield its bytes in chunks."""
        ...

    def encode(self, value: Value) -> tuple[bytes, bytes] | None:
        """Given a value, return (type attribute, cell content) as the openpyxl path stores
        it, or None for a blank. Raise Unsupported for a value it would refuse."""
        ...

class Sheet:
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

    def prepare(self, patch: Package) -> None:
        """Check what can be known before streaming, sort the writes, and place the appended
        rows after the last row holding a value (after the cell writes, as openpyxl does)."""
        cells = self.cells
        if any(w.row == 0 for w in cells):
            if any(kind == "table" for kind, _ in ooxml.relationships(patch.archive, patch.names, self.part).values()):
                # A table's column names must match its header cells; openpyxl keeps them in step.
                raise patch_xml.Unsupported(f"header written on tab {self.title!r}, which holds a table")
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

    def _last_nonblank_row(self, patch: Package) -> int:
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
        for row, content in patch_xml.rows(patch.source(self.part)):
            if row <= last or content is None or not patch_xml.has_value(content):
                continue
            if row not in blanked_rows and b't="s"' not in content:
                last = row
                continue
            for col, attributes, body in patch_xml.cells(row, content):
                if (row, col) in blanked or not patch_xml.has_value(body):
                    continue
                if patch_xml.attribute(attributes, b"t") == b"s":
                    if empty_shared is None:
                        empty_shared = patch_xml.empty_shared_strings(patch.archive, patch.names)
                    if patch_xml.shared_index(body) in empty_shared:
                        continue
                last = row
                break
        return last

    def render(self, patch: Package, source: Iterator[bytes]) -> Iterator[bytes]:
        """Yield the rewritten worksheet part, piece by piece. Raise patch_xml.Unsupported when a write
        lands where only openpyxl can put it."""
        reader = patch_xml.SheetReader(source)
        head = reader.until_sheet_data()
        columns = _column_styles(head, patch.styles)
        yield patch_xml.widen_dimension(head, self.cells)
        cells = self.cells
        count = len(cells)
        ranges: list[tuple[int, int, int, int]] = []
        index = 0
        previous = 0
        for match in reader.rows():
            attributes, content = match.group(1), match.group(2)
            number = patch_xml.ROW_NUMBER.search(attributes)
            if number is None:
                raise patch_xml.Unsupported(f"a row without its number on tab {self.title!r}")
            row = int(number.group(1))
            if row <= previous:
                raise patch_xml.Unsupported(f"rows out of order on tab {self.title!r}")
            previous = row
            if content is not None and b"<f" in content:
                ranges.extend(patch_xml.formula_ranges(content))
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
        ranges = ranges + [patch_xml.bounds(ref) for ref in _MERGE.findall(tail)]
        for top, left, bottom, right in ranges:
            low = bisect.bisect_left(self.cells, top - 1, key=_row_of)
            high = bisect.bisect_right(self.cells, bottom - 1, key=_row_of)
            if any(left <= write.col + 1 <= right for write in self.cells[low:high]):
                raise patch_xml.Unsupported(f"a write into a merged range or array formula on tab {self.title!r}")

    def _new_row(self, patch: Package, writes: list[CellWrite], columns: dict[int, int]) -> bytes:
        row = writes[0].row + 1
        cells = b"".join(self._cell(patch, row, col, None, None, columns, group)
                         for col, group in _by_column(writes))
        return b'<row r="%d">%s</row>' % (row, cells) if cells else b""

    def _patched_row(self, patch: Package, row: int, attributes: bytes, content: bytes,
                     writes: list[CellWrite], columns: dict[int, int]) -> bytes:
        """Return the row with its written cells replaced or inserted in column order; the
        cells around them are copied as they are, found by their references."""
        number = b"%d" % row
        references = _CELL_START.findall(content)
        # Any whitespace may follow "<c"; a count that misses a cell would duplicate it.
        if len(references) != len(_ANY_CELL.findall(content)) or b"<c>" in content or b"<c/>" in content:
            return self._patched_row_by_parsing(patch, row, attributes, content, writes, columns)
        existing = [patch_xml.column(letters) for letters, _ in references]
        if any(found != number for _, found in references):
            raise patch_xml.Unsupported(f"a cell of row {row} on tab {self.title!r} names another row")
        if any(later <= earlier for earlier, later in zip(existing, existing[1:], strict=False)):
            raise patch_xml.Unsupported(f"cells out of order in row {row} on tab {self.title!r}")
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
                    raise patch_xml.Unsupported(f"a cell of row {row} on tab {self.title!r} not understood")
            if index < len(existing) and existing[index] == target:
                cell = patch_xml.CELL.match(content, start)
                if cell is None:
                    raise patch_xml.Unsupported(f"a cell of row {row} on tab {self.title!r} not understood")
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
            attributes = patch_xml.widen_spans(attributes, [min(emitted), max(emitted)])
        if not body.strip():
            return b"<row" + attributes + b"/>"
        return b"<row" + attributes + b">" + body + b"</row>"

    def _patched_row_by_parsing(self, patch: Package, row: int, attributes: bytes, content: bytes,
                                writes: list[CellWrite], columns: dict[int, int]) -> bytes:
        """As :meth:`_patched_row`, for rows whose cells do not start with their reference."""
        pieces: list[bytes] = []
        emitted: list[int] = []
        targets = iter(_by_column(writes))
        target, group = next(targets, (None, []))
        for col, cell_attributes, body in patch_xml.cells(row, content):
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
        attributes = patch_xml.widen_spans(attributes, emitted)
        body = b"".join(pieces)
        if not body:
            return b"<row" + attributes + b"/>"
        return b"<row" + attributes + b">" + body + b"</row>"

    def _cell(self, patch: Package, row: int, col: int, attributes: bytes | None, body: bytes | None,
              columns: dict[int, int], writes: list[CellWrite]) -> bytes:
        """Return the cell element after its writes (empty when nothing is left to store)."""
        if (row, col) in self.calc_cells:
            raise patch_xml.Unsupported(f"a write over the calculated cell {self._where(row, col)}")
        styles = patch.styles
        style: int | None = None
        others = b""
        if attributes is not None:
            if body and (b"<extLst" in body or _SHARED_MASTER.search(body)):
                # Other cells copy a shared formula from its first cell.
                raise patch_xml.Unsupported(f"a write over the formula in {self._where(row, col)}")
            for name, quoted in patch_xml.ATTRIBUTE.findall(attributes):
                if name == b"s":
                    style = int(quoted[1:-1])
                elif name in (b"vm", b"cm"):
                    raise patch_xml.Unsupported(f"a write over the rich value in {self._where(row, col)}")
                elif name not in (b"r", b"t"):
                    others += b" " + name + b"=" + quoted
        if row == 1 and col in self.restyled and (
                attributes is None or not patch_xml.has_value(body) or patch_xml.attribute(attributes, b"t") == b"s"):
            raise patch_xml.Unsupported(f"the new owned column header {self._where(row, col)} gets the template's look")
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
        element = b'<c r="' + patch_xml.LETTERS[col] + b"%d" % row + b'"'
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
    """Raise patch_xml.Unsupported for a value the openpyxl path refuses (it raises its own error)."""
    if value is None or isinstance(value, str | bool | numbers.Real):
        return
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            raise patch_xml.Unsupported("a datetime with a time zone")
        return
    if not isinstance(value, dt.date):
        raise patch_xml.Unsupported(f"a {type(value).__name__} value")


def _is_date_format(code: str) -> bool:
    return bool(is_date_format(code))


def _column_styles(head: bytes, styles: patch_styles.Styles) -> dict[int, int]:
    """Return 1-based column -> the style a new cell in it takes (styled columns only)."""
    found: dict[int, int] = {}
    for match in _COL.finditer(head):
        attributes = match.group(1)
        style, low, high = (patch_xml.attribute(attributes, name) for name in (b"style", b"min", b"max"))
        if style is None or low is None:
            continue
        index = int(style)
        if not styles.has_style(index):
            continue
        for col in range(int(low), int(high or low) + 1):
            found[col] = index
    return found
