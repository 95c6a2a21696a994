"""The openpyxl way to write a plan into a local ``.xlsx``: load the workbook, change it in
memory, save it whole.

It makes every write the package patch (:mod:`sheets_escalation.adapters.xlsx.patch`) cannot:
new or replaced tabs, a new owned column's header with the template's look, a cell inside a
merged range or holding a formula. openpyxl rebuilds the file from what it understands, so
this module also says what a rebuild would lose (charts outside the tool's own tabs,
pictures, shapes, macros, pivot tables …), for the backend to refuse it; and since openpyxl
saves formulas without their last computed values, the saved file gets back the values the
file held (see :func:`keep_cached_values`), so a formula people typed into an input column
reads the same on the next run instead of blank.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import numbers
import re
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from copy import copy
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import Cell, MergedCell
from openpyxl.styles import Font
from openpyxl.styles.numbers import is_date_format
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from sheets_escalation.adapters.xlsx import ooxml, reader, template
from sheets_escalation.core import layout as tab_layout
from sheets_escalation.core.errors import ConcurrentEditError, SourceError
from sheets_escalation.core.table import Value, WritePlan

# Tabs the tool writes whole ("Review 2026-03", "What-if 2026-03"); their charts were drawn
# by openpyxl, so openpyxl reads them back intact, and `review` redraws them anyway.
TOOL_TAB = re.compile(r"^(Review|What-if) \d{4}-\d{2}$")


# Parts of a workbook openpyxl drops, or keeps only partly, when it rewrites the file.
_LOSSY_PARTS: tuple[tuple[str, str], ...] = (
    ("xl/vbaProject.bin", "macros (VBA)"),
    ("xl/pivotTables/", "pivot tables"),
    ("xl/pivotCache/", "pivot tables"),
    ("xl/slicers/", "slicers"),
    ("xl/slicerCaches/", "slicers"),
    ("xl/timelines/", "timelines"),
    ("xl/timelineCaches/", "timelines"),
    ("xl/threadedComments/", "threaded comments (only their plain-note copies survive)"),
    ("xl/activeX/", "ActiveX controls"),
    ("xl/ctrlProps/", "form controls"),
    ("xl/embeddings/", "embedded objects"),
    ("xl/model/", "the data model (Power Pivot)"),
    ("xl/connections.xml", "data connections"),
    ("xl/queryTables/", "query tables"),
    ("customXml/", "custom XML parts (e.g. Power Query queries)"),
    ("xl/chartsheets/", "chart sheets"),
    ("xl/webextensions/", "add-in (web extension) parts"),
)


# openpyxl's own warnings while loading that mean something will not be saved back.
_LOSSY_WARNING = re.compile(r"will be (removed|lost|discarded|dropped)|being dropped|Unable to read",
                            re.IGNORECASE)


# What openpyxl's extension warnings mean, in the words of someone who made the sheet.
_EXTENSIONS = {
    "Data Validation": "dropdowns stored in Excel's newer format (e.g. lists taken from another tab)",
    "Conditional Formatting": "colour rules stored in Excel's newer format (data bars, icon sets)",
    "Sparkline Group": "sparklines",
    "Slicer List": "slicers",
    "Timeline Ref": "timelines",
}

_SHAPE_TAGS = (b"<xdr:sp>", b"<xdr:sp ", b"<xdr:grpSp", b"<xdr:cxnSp", b"<mc:AlternateContent")


# A non-empty cell element (worksheet cells never nest, and their attributes hold no "/").
_CELL_ELEMENT = re.compile(rb"<c\b(?P<attrs>[^>/]*)>(?P<body>.*?)</c>", re.DOTALL)

_CELL_REF = re.compile(rb'\br="(?P<ref>[A-Z]+[0-9]+)"')

_CACHED_VALUE = re.compile(rb"<v>(?P<value>[^<]+)</v>")

_EMPTY_VALUE = re.compile(rb"<v\s*/>|<v>\s*</v>")


def rebuilt(workbook: Workbook, original: bytes) -> bytes:
    """Given a loaded workbook and the bytes it was loaded from, return the workbook as
    openpyxl saves it, with the formula values it held back (see :func:`keep_cached_values`)."""
    saved = io.BytesIO()
    workbook.save(saved)
    return keep_cached_values(original, saved.getvalue())


def load(data: bytes, names: frozenset[str], keep_vba: bool, name: str) -> tuple[Workbook, list[str]]:
    """Given a workbook's bytes, its member names, whether to keep its macros and the file's
    name (for messages), return the workbook loaded for writing and what openpyxl warned it
    will not save back, in words. Raise SourceError if openpyxl cannot load it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            workbook = load_workbook(io.BytesIO(reader.readable(data, names)),
                                     read_only=False,
                                     keep_vba=keep_vba, keep_links=True, data_only=False,
                                     rich_text=True)
        except reader.OPENPYXL_ERRORS as error:
            raise SourceError(f"cannot open {name} for writing: {error}") from error
    return workbook, sorted(
        {_explain_warning(str(w.message)) for w in caught
         if _LOSSY_WARNING.search(str(w.message))}
    )


def _explain_warning(message: str) -> str:
    match = re.match(r"(.+) extension is not supported", message)
    if match is None:
        return message
    return _EXTENSIONS.get(match[1], f"{match[1].lower()} parts Excel stores as extensions")


def lossy_parts(data: bytes, names: frozenset[str], keep_vba: bool) -> list[str]:
    """Given a workbook's bytes and member names, return a description of each part that
    openpyxl would drop or damage on save (macros only when ``keep_vba`` is off)."""
    found: list[str] = []
    for prefix, what in _LOSSY_PARTS:
        if keep_vba and prefix == "xl/vbaProject.bin":
            continue
        if any(name.startswith(prefix) for name in names) and what not in found:
            found.append(what)
    if not any(name.startswith("xl/drawings/") for name in names):
        return found
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for title, drawing in _sheet_drawings(archive, names):
            found.extend(_drawing_losses(archive, names, title, drawing))
    return found


def _sheet_drawings(archive: zipfile.ZipFile, names: frozenset[str]) -> Iterator[tuple[str, str]]:
    """Yield (tab title, drawing part) for each drawing on a worksheet."""
    for title, sheet_part in ooxml.sheet_parts(archive, names).items():
        for kind, part in ooxml.relationships(archive, names, sheet_part).values():
            if kind == "drawing" and part in names:
                yield title, part


def _drawing_losses(archive: zipfile.ZipFile, names: frozenset[str], title: str, drawing: str) -> list[str]:
    losses: list[str] = []
    if any(tag in archive.read(drawing) for tag in _SHAPE_TAGS):
        losses.append(f"shapes or text boxes on tab {title!r}")
    if TOOL_TAB.match(title):
        return losses
    kinds = {kind for kind, _ in ooxml.relationships(archive, names, drawing).values()}
    if "chart" in kinds:
        losses.append(f"charts on tab {title!r} (their formatting)")
    if "image" in kinds:
        losses.append(f"pictures on tab {title!r} (alt text, cropping, links)")
    return losses


def apply(workbook: Workbook, plan: WritePlan) -> None:
    """Given a loaded workbook, apply every write of ``plan`` in memory. Raise
    ConcurrentEditError if the plan targets a tab that is missing, or creates one that exists."""
    for title, rows in plan.new_tabs.items():
        if ooxml.resolve(title, workbook.sheetnames) is not None:
            raise ConcurrentEditError(f"tab {title!r} already exists; nothing was written")
        _write_new_tab(workbook.create_sheet(title), rows)
    for title, rows in plan.replace_tabs.items():
        existing = ooxml.resolve(title, workbook.sheetnames)
        index = len(workbook.sheetnames)
        if existing is not None:
            index = workbook.sheetnames.index(existing)
            workbook.remove(workbook[existing])
        sheet = workbook.create_sheet(title, index)
        _write_replaced_tab(sheet, rows)
        formatter = plan.tab_formatters.get(title)
        if formatter is not None:
            formatter(sheet)
        template.print_setup(sheet)
    writers: dict[str, _SheetWriter] = {}

    def writer_for(tab: str) -> _SheetWriter:
        if tab not in writers:
            title = ooxml.resolve(tab, workbook.sheetnames)
            if title is None:
                raise ConcurrentEditError(f"tab {tab!r} is missing; nothing was written")
            writers[tab] = _SheetWriter(workbook[title])
        return writers[tab]

    # Headers first: a new owned column gets its column look before cells below inherit it.
    for write in plan.cells:
        if write.row == 0:
            writer_for(write.tab).write_header(write.col, write.value)
    for write in plan.cells:
        if write.row > 0:
            writer_for(write.tab).write(write.row, write.col, write.value)
    for tab, rows in plan.appends.items():
        if rows:
            writer_for(tab).append(rows)


class _SheetWriter:
    """Writes plain values into one worksheet; a cell the tool creates takes its column's
    style, as a cell typed in Excel would."""

    def __init__(self, worksheet: Worksheet) -> None:
        self.worksheet = worksheet
        self._column_styles: dict[int, Any] | None = None

    def write_header(self, col: int, value: Value) -> None:
        cell = self._cell(1, col + 1, value)
        if cell is None:
            return
        was_blank = cell.value is None or cell.value == ""
        set_value(cell, value)
        layout = tab_layout.layout_for(self.worksheet.title)
        if was_blank and layout is not None and isinstance(value, str):
            header = template.layout_header(layout, value)
            if header is not None and header in layout.owned:
                _isolate_column(self.worksheet, col + 1)
                template.style_column(self.worksheet, layout, header, col + 1)
        self._column_styles = None

    def write(self, row: int, col: int, value: Value) -> None:
        cell = self._cell(row + 1, col + 1, value)
        if cell is None:
            return
        if not cell.has_style:
            style = self._styles().get(col + 1)
            if style is not None:
                # The column's style array indexes the same workbook style tables.
                cell._style = copy(style)
        set_value(cell, value)

    def _cell(self, row: int, column: int, value: Value) -> Cell | None:
        """Return the cell at 1-based ``row``/``column`` ready to take ``value``, or None when
        nothing needs writing. A cell hidden inside a merged range holds no value of its own
        (openpyxl refuses to set one), so a value that must land there splits that one range;
        blanking such a cell needs nothing."""
        cell = self.worksheet.cell(row=row, column=column)
        if not isinstance(cell, MergedCell):
            return cell
        if value is None or value == "":
            return None
        for merged in list(self.worksheet.merged_cells.ranges):
            if merged.min_row <= row <= merged.max_row and merged.min_col <= column <= merged.max_col:
                self.worksheet.unmerge_cells(merged.coord)
                break
        return self.worksheet.cell(row=row, column=column)

    def append(self, rows: Sequence[Sequence[Value]]) -> None:
        start = template.last_nonblank_row(self.worksheet)
        for offset, values in enumerate(rows):
            for col, value in enumerate(values):
                if value is None:
                    continue
                self.write(start + offset, col, value)

    def _styles(self) -> dict[int, Any]:
        if self._column_styles is None:
            styles: dict[int, Any] = {}
            for dimension in self.worksheet.column_dimensions.values():
                if not dimension.has_style:
                    continue
                # A loaded dimension may span columns min..max; a new one only knows its letter.
                first = dimension.min or column_index_from_string(dimension.index)
                for column in range(first, (dimension.max or first) + 1):
                    styles[column] = dimension._style
            self._column_styles = styles
        return self._column_styles


def _isolate_column(worksheet: Worksheet, column: int) -> None:
    """Split any column range (Excel stores e.g. ``<col min=2 max=9>``) that covers
    ``column``, so that column can take its own look without two ranges overlapping, which
    Excel reports as a damaged file."""
    dimensions = worksheet.column_dimensions
    for key, dimension in list(dimensions.items()):
        first = dimension.min or column_index_from_string(dimension.index)
        last = dimension.max or first
        if first == last or not first <= column <= last:
            continue
        del dimensions[key]
        for low, high in ((first, column - 1), (column, column), (column + 1, last)):
            if low > high:
                continue
            part = copy(dimension)
            part.index = get_column_letter(low)
            part.min, part.max = low, high
            dimensions[part.index] = part


def set_value(cell: Cell, value: Value) -> None:
    """Given a cell, store ``value`` as a plain value. Text is always text (never a formula
    or an error code) and reads back as written (see :func:`~sheets_escalation.adapters.xlsx.ooxml.storable_text`); naive datetimes
    become date cells shown as ``yyyy-mm-dd hh:mm`` unless the cell already has a date
    format; NaN and infinities become blanks. Raise ValueError for a datetime with a zone,
    TypeError for a value of another type."""
    if value is None:
        cell.value = None
    elif isinstance(value, str):
        cell.value = ooxml.storable_text(value)
        cell.data_type = "s"
    elif isinstance(value, bool):
        cell.value = value
    elif isinstance(value, numbers.Integral):
        cell.value = int(value)
    elif isinstance(value, numbers.Real):
        number = float(value)
        cell.value = None if math.isnan(number) or math.isinf(number) else number
    elif isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            raise ValueError(f"datetime {value} has a time zone; backends write naive local times")
        keep = is_date_format(cell.number_format)
        cell.value = value
        if not keep:
            cell.number_format = tab_layout.DATETIME_FORMAT
    elif isinstance(value, dt.date):
        keep = is_date_format(cell.number_format)
        cell.value = value
        if not keep:
            cell.number_format = tab_layout.DATE_FORMAT
    else:
        raise TypeError(f"cannot write {type(value).__name__} value {value!r} to a cell")


def _write_new_tab(worksheet: Worksheet, rows: Sequence[Sequence[Value]]) -> None:
    layout = tab_layout.layout_for(worksheet.title)
    if layout is not None and rows:
        for col, value in enumerate(rows[0], start=1):
            header = template.layout_header(layout, value) if isinstance(value, str) else None
            if header is not None:
                template.style_column(worksheet, layout, header, col)
        worksheet.freeze_panes = layout.freeze
    elif rows:
        _bold_first_row(worksheet, len(rows[0]))
    template.print_setup(worksheet)
    writer = _SheetWriter(worksheet)
    for row, values in enumerate(rows):
        for col, value in enumerate(values):
            if value is not None:
                writer.write(row, col, value)


def _write_replaced_tab(worksheet: Worksheet, rows: Sequence[Sequence[Value]]) -> None:
    widths: dict[int, int] = {}
    for row_number, values in enumerate(rows, start=1):
        for col, value in enumerate(values, start=1):
            if value is None:
                continue
            set_value(worksheet.cell(row=row_number, column=col), value)
            widths[col] = max(widths.get(col, 0), len(str(value)))
    if rows:
        _bold_first_row(worksheet, len(rows[0]))
    for col, width in widths.items():
        worksheet.column_dimensions[get_column_letter(col)].width = min(60, max(10, width + 2))


def _bold_first_row(worksheet: Worksheet, width: int) -> None:
    for col in range(1, width + 1):
        worksheet.cell(row=1, column=col).font = Font(bold=True)


def keep_cached_values(original: bytes, saved: bytes) -> bytes:
    """Given the workbook's bytes as read and as openpyxl saved them, return the saved bytes
    with each formula cell's last computed value copied back from the original, where the
    cell still holds a formula at the same place on the same tab (the tool writes only plain
    values and never moves cells). Excel recalculates on opening (openpyxl marks the file so);
    until then a reader sees the values the file had, not blanks. Returns ``saved`` unchanged
    when there is nothing to copy."""
    with zipfile.ZipFile(io.BytesIO(original)) as archive:
        names = frozenset(archive.namelist())
        cached: dict[str, dict[bytes, tuple[bytes | None, bytes]]] = {}
        for title, part in ooxml.sheet_parts(archive, names).items():
            values = _formula_values(archive.read(part))
            if values:
                cached[title] = values
    if not cached:
        return saved
    source = zipfile.ZipFile(io.BytesIO(saved))
    parts = {part: cached[title] for title, part in
             ooxml.sheet_parts(source, frozenset(source.namelist())).items() if title in cached}
    out = io.BytesIO()
    with source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename in parts:
                data = _restore_formula_values(data, parts[info.filename])
            target.writestr(info, data)
    return out.getvalue()


def _formula_values(xml: bytes) -> dict[bytes, tuple[bytes | None, bytes]]:
    """Given a worksheet part, return cell reference -> (type attribute, cached value) for
    each formula cell holding a computed value."""
    if b"<f" not in xml:
        return {}
    found: dict[bytes, tuple[bytes | None, bytes]] = {}
    for match in _CELL_ELEMENT.finditer(xml):
        body = match["body"]
        if not body.startswith(b"<f"):
            continue
        ref, value = _CELL_REF.search(match["attrs"]), _CACHED_VALUE.search(body)
        if ref is None or value is None:
            continue
        kind = ooxml.CELL_TYPE.search(match["attrs"])
        found[ref["ref"]] = (kind["type"] if kind else None, value["value"])
    return found


def _restore_formula_values(xml: bytes, values: dict[bytes, tuple[bytes | None, bytes]]) -> bytes:
    def restore(match: re.Match[bytes]) -> bytes:
        body = match["body"]
        ref = _CELL_REF.search(match["attrs"])
        if not body.startswith(b"<f") or ref is None or ref["ref"] not in values:
            return match[0]
        if _CACHED_VALUE.search(body):
            return match[0]
        kind, value = values[ref["ref"]]
        attrs = ooxml.CELL_TYPE.sub(b"", match["attrs"])
        if kind is not None and kind != b"n":
            attrs += b' t="' + kind + b'"'
        cached = b"<v>" + value + b"</v>"
        body, replaced = _EMPTY_VALUE.subn(cached, body, count=1)
        if not replaced:
            body += cached
        return b"<c" + attrs + b">" + body + b"</c>"

    return _CELL_ELEMENT.sub(restore, xml)
