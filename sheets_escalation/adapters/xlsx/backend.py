"""Local ``.xlsx`` workbooks: values read with python-calamine, written by patching the file.

The file is read into memory once per run; calamine reads values from those bytes (the
cached results of formula cells included). A sync's plain cell writes and appended rows are
made by patching the package (:mod:`sheets_escalation.adapters.xlsx.patch`): only the changed
worksheets (and, for a new date format, the styles) are rewritten, every other part is copied
as it is, so charts, pictures, pivot tables and macros survive and nothing is refused. Every
other plan (new or replaced tabs, a new owned column's header, a cell inside a merged range or
holding a formula …) goes through openpyxl, which loads the same bytes once and rebuilds the
file; that path is refused if the file holds parts openpyxl cannot carry over (charts outside
the tool's own tabs, images, shapes, macros, pivot tables, slicers …) unless ``allow_lossy``
is set. Either way a write is refused if the file changed on disk since it was read, or if
an Excel or LibreOffice lock file says the workbook is open there (unless ``ignore_open``),
both checked again once the new file is complete; the new file is written next to the old
one, flushed to disk and renamed over it, so a crash leaves either the old workbook or the
new one, never half of one.

openpyxl saves formulas without their last computed values; the saved file gets the values
the file held back (see :func:`_keep_cached_values`), so a formula people typed into an input
column reads the same on the next run instead of blank. The patch keeps them untouched.

``CellWrite.row_id`` is not needed here: rows cannot move between read and write, because
the per-file lock keeps other runs out and any other change to the file refuses the write.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import math
import numbers
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from copy import copy
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from filelock import FileLock, Timeout
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import Cell, MergedCell
from openpyxl.styles import Font
from openpyxl.styles.numbers import is_date_format
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from sheets_escalation.adapters import files
from sheets_escalation.adapters.xlsx import ooxml, reader, template
from sheets_escalation.adapters.xlsx import patch as xlsx_patch
from sheets_escalation.core import layout as tab_layout
from sheets_escalation.core.errors import (
    ConcurrentEditError,
    LockHeldError,
    RefusedError,
    SourceError,
)
from sheets_escalation.core.limits import XLSX_CELL_CHARACTERS
from sheets_escalation.core.table import Table, Value, WritePlan

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


@dataclass(frozen=True)
class _Snapshot:
    """The workbook's bytes as read, and the file identity they came from."""

    data: bytes
    names: frozenset[str]
    identity: tuple[int, int, int]


class XlsxBackend:
    """A local ``.xlsx`` workbook (see the module docstring for the guarantees)."""

    max_cell_characters = XLSX_CELL_CHARACTERS

    def __init__(self, path: Path, allow_lossy: bool = False, ignore_open: bool = False) -> None:
        self.path = Path(path)
        self.allow_lossy = allow_lossy
        self.ignore_open = ignore_open
        self.name = self.path.name
        # A macro workbook saved without its macros is a file Excel will not open as .xlsm,
        # so an .xlsm keeps its VBA project (openpyxl copies it through unchanged).
        self._keep_vba = self.path.suffix.lower() == ".xlsm"
        self._snapshot: _Snapshot | None = None
        self._workbook: Workbook | None = None
        self._load_warnings: list[str] = []

    # -- reading -----------------------------------------------------------------------

    def read(self, tabs: Sequence[str]) -> dict[str, Table]:
        """Given tab titles, return those that exist, keyed by the title asked for (matched
        exactly, else ignoring case and spaces), each as raw values with blanks as None and
        trailing blanks trimmed. Raise SourceError if the file is missing or not an .xlsx."""
        snapshot = self._take_snapshot()
        return reader.read_tables(snapshot.data, snapshot.names, tabs, self.name)

    def _take_snapshot(self) -> _Snapshot:
        target = self._target()
        try:
            with open(target, "rb") as stream:
                info = os.fstat(stream.fileno())
                data = stream.read()
        except FileNotFoundError as error:
            raise SourceError(f"{self.path} not found") from error
        except IsADirectoryError as error:
            raise SourceError(f"{self.path} is a folder, not a workbook") from error
        except OSError as error:
            raise SourceError(f"cannot read {self.path}: {error.strerror or error}") from error
        names = reader.check_xlsx(data, self.path)
        snapshot = _Snapshot(data, names, _identity(info))
        if self._snapshot is None or self._snapshot.data != data:
            self._workbook = None
        self._snapshot = snapshot
        return snapshot

    def _target(self) -> Path:
        # Writing through a symlink must replace the file it points to, not the link.
        return Path(os.path.realpath(self.path))

    # -- writing -----------------------------------------------------------------------

    def lossy_parts(self) -> list[str]:
        """Return what saving this workbook through openpyxl would lose or damage (empty
        when nothing), as far as the file's parts show; what openpyxl itself warns about while
        loading is added once a write has loaded the workbook. A write the package patch makes
        loses none of it. Raise SourceError if the file cannot be read."""
        snapshot = self._snapshot or self._take_snapshot()
        found = _lossy_parts(snapshot.data, snapshot.names, keep_vba=self._keep_vba)
        if self._workbook is not None:
            found.extend(w for w in self._load_warnings if w not in found)
        return found

    def write(self, plan: WritePlan) -> None:
        """Execute ``plan`` and save atomically; an empty plan writes nothing.

        A plan of plain values into existing tabs (a sync) patches the file's package
        directly (see :mod:`sheets_escalation.adapters.xlsx.patch`): every other part of the
        file is kept as it is, charts, pictures and pivot tables included, so nothing is
        refused. Any other plan, or a write the patch cannot make exactly as openpyxl would,
        goes through openpyxl, which rebuilds the workbook and so is refused when that would
        lose parts (unless ``allow_lossy``).

        Raise ConcurrentEditError if the file changed since it was read, RefusedError if
        saving through openpyxl would lose parts it cannot keep, SourceError if the file
        cannot be read or saved. On any error the file on disk is unchanged."""
        if plan.is_empty():
            return
        plan.fit(self.max_cell_characters)
        snapshot = self._snapshot or self._take_snapshot()
        self._check_unchanged(snapshot)
        self._check_not_open()
        try:
            self._save(snapshot, lambda stream: xlsx_patch.patch_workbook(snapshot.data, plan, stream))
        except xlsx_patch.Unsupported:
            pass  # the openpyxl path below makes every other write
        else:
            self._workbook = None
            self._snapshot = None
            return
        if not self.allow_lossy:
            self._refuse_lossy(_lossy_parts(snapshot.data, snapshot.names, keep_vba=self._keep_vba))
        workbook = self._load(snapshot)
        if not self.allow_lossy:
            self._refuse_lossy(self._load_warnings)
        try:
            _apply(workbook, plan)
            self._save(snapshot, lambda stream: _save_openpyxl(workbook, snapshot, stream))
        finally:
            # Saved or half-changed, the loaded workbook no longer matches a read of the file.
            self._workbook = None
            self._snapshot = None

    def complete(self, change: Callable[[Workbook], list[str]]) -> list[str]:
        """Given a function adding to a workbook in memory and returning what it added
        (``template.complete_workbook``), apply it to this workbook and save the result as
        :meth:`write` saves a rebuilt workbook: refused if the file changed since it was
        read, is open in an office program (unless ``ignore_open``) or holds parts openpyxl
        cannot keep (unless ``allow_lossy``), published atomically, formula values kept.
        The staleness indicator it added gets a cached text. Return what was added; when
        nothing was, nothing is written or refused."""
        snapshot = self._take_snapshot()
        try:
            workbook = self._load(snapshot)
            added = change(workbook)
            if not added:
                return added
            self._check_unchanged(snapshot)
            self._check_not_open()
            if not self.allow_lossy:
                self._refuse_lossy(_lossy_parts(snapshot.data, snapshot.names, keep_vba=self._keep_vba))
                self._refuse_lossy(self._load_warnings)
            self._save(snapshot, lambda stream: _save_completed(workbook, snapshot, stream))
            return added
        finally:
            self._workbook = None
            self._snapshot = None

    def _check_unchanged(self, snapshot: _Snapshot) -> None:
        try:
            current = _identity(os.stat(self._target()))
        except FileNotFoundError as error:
            raise ConcurrentEditError(f"{self.path} disappeared since it was read; nothing was written") from error
        except OSError as error:
            raise SourceError(f"cannot read {self.path}: {error.strerror or error}") from error
        if current != snapshot.identity:
            raise ConcurrentEditError(
                f"{self.name} changed on disk since it was read (saved from Excel?); "
                "nothing was written, run again"
            )

    def check_writable(self) -> None:
        """Raise RefusedError if an office program has the workbook open (see
        :meth:`_check_not_open`)."""
        self._check_not_open()

    def _check_not_open(self) -> None:
        """Raise RefusedError if an office program's lock file beside the workbook says it
        is open there: that program saves its own copy over whatever the tool writes.
        Without ``ignore_open``, a lock file left behind by a crash refuses too; the
        message says how to proceed."""
        if self.ignore_open:
            return
        # Beside the path given and, through a symlink, beside the file it points to.
        for folder, name in dict.fromkeys(((self.path.parent, self.path.name),
                                           (self._target().parent, self._target().name))):
            for lock_name, program in ((f"~${name}", "Excel"), (f".~lock.{name}#", "LibreOffice")):
                lock = folder / lock_name
                if not lock.is_file():
                    continue
                who = _lock_owner(lock) if program == "LibreOffice" else ""
                raise RefusedError(
                    f"{self.name} is open in {program}{f' (by {who})' if who else ''}: "
                    f"lock file {lock}. Its next save there would replace what the tool "
                    "writes, so nothing was written. Close the workbook and run again; if it "
                    "is not open anywhere, delete that lock file, or pass --ignore-open."
                )

    def _refuse_lossy(self, parts: list[str]) -> None:
        if parts:
            raise RefusedError(
                f"{self.name} holds parts the tool cannot keep when it saves the workbook: "
                + "; ".join(parts)
                + ". Nothing was written. Move them to another workbook (formulas can refer "
                "to it), or pass --allow-lossy to save anyway and lose them."
            )

    def _load(self, snapshot: _Snapshot) -> Workbook:
        if self._workbook is not None:
            return self._workbook
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                workbook = load_workbook(io.BytesIO(reader.readable(snapshot.data, snapshot.names)),
                                         read_only=False,
                                         keep_vba=self._keep_vba, keep_links=True, data_only=False,
                                         rich_text=True)
            except reader.OPENPYXL_ERRORS as error:
                raise SourceError(f"cannot open {self.name} for writing: {error}") from error
        self._load_warnings = sorted(
            {_explain_warning(str(w.message)) for w in caught
             if _LOSSY_WARNING.search(str(w.message))}
        )
        self._workbook = workbook
        return workbook

    def _save(self, snapshot: _Snapshot, write: Callable[[IO[bytes]], None]) -> None:
        """Given the snapshot the new workbook derives from and a function writing the new
        workbook into a stream, publish it atomically: written next to the target, flushed,
        given the old file's mode, and renamed over the target only if the file is still the
        one read. Raise ConcurrentEditError if it is not, SourceError if writing fails;
        whatever ``write`` raises propagates. The target is unchanged on any error."""
        target = self._target()
        try:
            mode = os.stat(target).st_mode & 0o7777
        except OSError as error:
            raise SourceError(f"cannot write {self.path}: {error.strerror or error}") from error
        def last_look() -> None:
            # With the new file complete on disk: someone may have saved the file, or
            # opened it, while it was being written.
            self._check_unchanged(snapshot)
            self._check_not_open()

        try:
            files.publish(target, write, mode, before=last_look)
        except OSError as error:
            raise SourceError(f"cannot write {self.path}: {error.strerror or error}") from error

    # -- locking -----------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold ``<workbook>.lock`` next to the workbook (in the temp folder when that folder
        is read-only) for the duration of a run. Raise LockHeldError at once if another run
        holds it. The lock file is removed afterwards."""
        lock_path = self._lock_path()
        file_lock = FileLock(str(lock_path), timeout=0)
        try:
            file_lock.acquire()
        except Timeout as error:
            raise LockHeldError(
                f"another sync is running on {self.name} (lock file {lock_path}); "
                "if none is, delete that file"
            ) from error
        try:
            # A run killed while saving leaves its temporary file; holding the lock, no
            # other run can be writing one now.
            files.remove_stale_temporaries(self._target())
            yield
        finally:
            file_lock.release()
            with contextlib.suppress(OSError):
                lock_path.unlink()

    def _lock_path(self) -> Path:
        target = self._target()
        if os.access(target.parent, os.W_OK):
            return target.with_name(target.name + ".lock")
        # Keyed by the full path, so two read-only folders' workbooks do not share a lock.
        digest = hashlib.sha256(str(target).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"sheets-escalation-{digest}.lock"

    def spreadsheet_timezone(self) -> str | None:
        """A local workbook has no time zone of its own: None."""
        return None


def _lock_owner(lock: Path) -> str:
    """Given a LibreOffice lock file (``name,host,user,time,profile;``), return the name of
    who has the workbook open, or "" when unreadable."""
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return lock.read_bytes()[:512].decode("utf-8").split(",", 1)[0].strip()
    return ""


def _save_openpyxl(workbook: Workbook, snapshot: _Snapshot, stream: IO[bytes]) -> None:
    """Write ``workbook`` as openpyxl saves it, with the formula values it held back."""
    stream.write(_rebuilt(workbook, snapshot))


def _save_completed(workbook: Workbook, snapshot: _Snapshot, stream: IO[bytes]) -> None:
    """Write ``workbook`` as :func:`_save_openpyxl` does, the indicator ``init`` added
    showing text to readers that take cached values."""
    stream.write(template.with_cached_indicator(_rebuilt(workbook, snapshot)))


def _rebuilt(workbook: Workbook, snapshot: _Snapshot) -> bytes:
    saved = io.BytesIO()
    workbook.save(saved)
    return _keep_cached_values(snapshot.data, saved.getvalue())


# -- reading helpers -----------------------------------------------------------------------


def _identity(info: os.stat_result) -> tuple[int, int, int]:
    return (info.st_mtime_ns, info.st_size, info.st_ino)


def _explain_warning(message: str) -> str:
    match = re.match(r"(.+) extension is not supported", message)
    if match is None:
        return message
    return _EXTENSIONS.get(match[1], f"{match[1].lower()} parts Excel stores as extensions")


# -- lossy parts ---------------------------------------------------------------------------


def _lossy_parts(data: bytes, names: frozenset[str], keep_vba: bool) -> list[str]:
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


# -- applying a plan -----------------------------------------------------------------------


def _apply(workbook: Workbook, plan: WritePlan) -> None:
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
        start = _last_nonblank_row(self.worksheet)
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


def _last_nonblank_row(worksheet: Worksheet) -> int:
    """Return the 1-based number of the last row holding a value (0 for an empty tab)."""
    # The cell store is read directly: openpyxl's row iterators create the cells they visit.
    return max((row for (row, _), cell in worksheet._cells.items()
                if cell.value is not None and cell.value != ""), default=0)


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


# -- formula values ------------------------------------------------------------------------


def _keep_cached_values(original: bytes, saved: bytes) -> bytes:
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


