"""Local ``.xlsx`` workbooks: values read with python-calamine, written by patching the file.

The file is read into memory once per run; calamine reads values from those bytes (the
cached results of formula cells included; :mod:`sheets_escalation.adapters.xlsx.reader`).
A sync's plain cell writes and appended rows are made by patching the package (:mod:`sheets_escalation.adapters.xlsx.patch`): only the changed
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
the file held back (see :mod:`sheets_escalation.adapters.xlsx.rebuild`), so a formula people
typed into an input column reads the same on the next run instead of blank. The patch keeps
them untouched.

``CellWrite.row_id`` is not needed here: rows cannot move between read and write, because
the per-file lock keeps other runs out and any other change to the file refuses the write.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from filelock import FileLock, Timeout
from openpyxl import Workbook

from sheets_escalation.adapters import files
from sheets_escalation.adapters.xlsx import patch as xlsx_patch
from sheets_escalation.adapters.xlsx import reader, rebuild, template
from sheets_escalation.core.errors import (
    ConcurrentEditError,
    LockHeldError,
    RefusedError,
    SourceError,
)
from sheets_escalation.core.limits import XLSX_CELL_CHARACTERS
from sheets_escalation.core.table import Table, WritePlan


@dataclass(frozen=True)
class _Snapshot:
    """The workbook's bytes as read, and the file identity they came from."""

    data: bytes
    names: frozenset[str]
    identity: tuple[int, int, int]


class XlsxBackend:
    """A local ``.xlsx`` workbook (see the module docstring for the guarantees)."""

    max_cell_characters = XLSX_CELL_CHARACTERS

    def __init__(self, path: Path, allow_lossy: bool = False, ignore_open: bool = False,
                 dry_run: bool = False) -> None:
        self.path = Path(path)
        self.dry_run = dry_run  # complete() says what it would add and writes nothing
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
        found = rebuild.lossy_parts(snapshot.data, snapshot.names, keep_vba=self._keep_vba)
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
            self._refuse_lossy(rebuild.lossy_parts(snapshot.data, snapshot.names, keep_vba=self._keep_vba))
        workbook = self._load(snapshot)
        if not self.allow_lossy:
            self._refuse_lossy(self._load_warnings)
        try:
            rebuild.apply(workbook, plan)
            self._save(snapshot, lambda stream: stream.write(rebuild.rebuilt(workbook, snapshot.data)))
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
        nothing was, or with ``dry_run``, nothing is written or refused."""
        snapshot = self._take_snapshot()
        try:
            workbook = self._load(snapshot)
            added = change(workbook)
            if not added or self.dry_run:
                return added
            self._check_unchanged(snapshot)
            self._check_not_open()
            if not self.allow_lossy:
                self._refuse_lossy(rebuild.lossy_parts(snapshot.data, snapshot.names, keep_vba=self._keep_vba))
                self._refuse_lossy(self._load_warnings)
            self._save(snapshot, lambda stream: stream.write(
                template.with_cached_indicator(rebuild.rebuilt(workbook, snapshot.data))))
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
        workbook, self._load_warnings = rebuild.load(snapshot.data, snapshot.names,
                                                     keep_vba=self._keep_vba, name=self.name)
        self._workbook = workbook
        return workbook

    def _save(self, snapshot: _Snapshot, write: Callable[[IO[bytes]], object]) -> None:
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


# -- reading helpers -----------------------------------------------------------------------


def _identity(info: os.stat_result) -> tuple[int, int, int]:
    return (info.st_mtime_ns, info.st_size, info.st_ino)


# -- lossy parts ---------------------------------------------------------------------------


# -- applying a plan -----------------------------------------------------------------------


# -- formula values ------------------------------------------------------------------------


