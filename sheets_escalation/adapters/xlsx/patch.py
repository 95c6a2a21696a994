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

This module copies the package member by member; each written worksheet is rewritten by
:mod:`~sheets_escalation.adapters.xlsx.patch_sheet`, the cell formats extended by
:mod:`~sheets_escalation.adapters.xlsx.patch_styles`, both reading the XML with
:mod:`~sheets_escalation.adapters.xlsx.patch_xml`.
"""

from __future__ import annotations

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
from collections.abc import Iterator
from typing import IO
from xml.etree import ElementTree

from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH, to_excel

from sheets_escalation.adapters.xlsx import ooxml, patch_sheet, patch_styles, patch_xml
from sheets_escalation.adapters.xlsx.patch_xml import Unsupported
from sheets_escalation.core.table import Value, WritePlan

_CHUNK = 1 << 20
_ZIP64_FROM = 1 << 30  # a part this big may outgrow plain zip headers once patched
_MAX_TEXT = 32767  # what a cell holds; openpyxl cuts longer text to this too
_STYLES = "xl/styles.xml"
_WORKBOOK = "xl/workbook.xml"
_CALC_CHAIN = "xl/calcChain.xml"
_CALC_PR = re.compile(rb"<calcPr\b([^>]*?)(/?)>")
_FULL_CALC = re.compile(rb"""\sfullCalcOnLoad\s*=\s*["'][^"']*["']""")
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip's local file header, up to the name
_LOCAL_SIGNATURE = b"PK\x03\x04"
_ENCRYPTED = 0x01
_DATA_DESCRIPTOR = 0x08
_UTF8_NAME = 0x800
_ZIP64_EXTRA = 0x0001


__all__ = ["Unsupported", "patch_workbook"]


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
        self.styles = patch_styles.Styles(archive.read(_STYLES) if _STYLES in self.names else None)
        workbook_xml = archive.read(_WORKBOOK)
        self.epoch = MAC_EPOCH if ooxml.date1904(workbook_xml) else WINDOWS_EPOCH
        self.calc_chain = _calc_chain(archive, self.names, workbook_xml, parts)
        self.sheets: dict[str, patch_sheet.Sheet] = {}  # by worksheet part
        self.by_tab: dict[str, patch_sheet.Sheet] = {}  # by the tab name the plan uses
        if any(w.row < 0 or w.col < 0 for w in plan.cells):
            raise Unsupported("a write before the first row or column")
        for write in plan.cells:
            self._sheet(write.tab, parts).add(write)
        for tab, rows in plan.appends.items():
            if rows:
                self._sheet(tab, parts).appends.extend(rows)
        for sheet in self.sheets.values():
            sheet.prepare(self)

    def _sheet(self, tab: str, parts: dict[str, str]) -> patch_sheet.Sheet:
        sheet = self.by_tab.get(tab)
        if sheet is not None:
            return sheet
        title = ooxml.resolve(tab, list(parts))
        if title is None:
            raise Unsupported(f"tab {tab!r} is missing")
        part = parts[title]
        if part not in self.sheets:
            self.sheets[part] = patch_sheet.Sheet(title, part, self.calc_chain.get(title, frozenset()))
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
                    for piece in sheet.render(self, self.source(part)):
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
                for piece in self.sheets[name].render(self, self.source(name)):
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

    def source(self, part: str) -> Iterator[bytes]:
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
                return b"inlineStr", b"<is><t>" + patch_xml.escape(text) + b"</t></is>"
            return b"inlineStr", b'<is><t xml:space="preserve">' + patch_xml.escape(text) + b"</t></is>"
        if isinstance(value, bool):
            return b"b", b"<v>1</v>" if value else b"<v>0</v>"
        if isinstance(value, numbers.Integral):
            return b"n", b"<v>" + patch_xml.number(int(value)) + b"</v>"
        if isinstance(value, numbers.Real):
            number = float(value)
            if math.isnan(number) or math.isinf(number):
                return None
            return b"n", b"<v>" + patch_xml.number(number) + b"</v>"
        if isinstance(value, dt.datetime | dt.date):
            if isinstance(value, dt.datetime) and value.tzinfo is not None:
                raise Unsupported("a datetime with a time zone")
            serial = to_excel(value, self.epoch)
            return None if serial is None else (b"n", b"<v>" + patch_xml.number(serial) + b"</v>")
        raise Unsupported(f"a {type(value).__name__} value")


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
        top, left, _, _ = patch_xml.bounds(element.get("r", "").encode())
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
    if (patch_xml.attribute(attributes, b"fullCalcOnLoad") or b"").lower() in (b"1", b"true"):
        return workbook_xml
    attributes = _FULL_CALC.sub(b"", attributes) + b' fullCalcOnLoad="1"'
    return workbook_xml[:match.start()] + b"<calcPr" + attributes + match.group(2) + b">" + workbook_xml[match.end():]


