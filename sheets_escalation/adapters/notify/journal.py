"""The notification journal: an append-only JSON-lines file, one line per (notification,
target) sent, written and fsynced right after the send and before History records it.

It is what makes "sent once" survive a crash (see ``outbox.py``): a pair in the journal
is never sent again. Only masked targets and a fingerprint are kept, never an address. A
torn last line (a crash mid-write) is skipped when read, so that one send is repeated.

:func:`record_from_json` reads one line of any of this package's JSON-lines files (this
journal, the run records of ``adapters/monitor.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sheets_escalation.core.errors import EscalationError
from sheets_escalation.core.notifications import Delivery

Record = TypeVar("Record")


class JournalError(EscalationError):
    """The notification journal cannot be read or written."""


def record_from_json(kind: Callable[..., Record], line: str) -> Record | None:
    """Given a record type and one line of a JSON-lines file whose ``at`` is an ISO time,
    return the record, or None when the line cannot be one (torn by a crash mid-write)."""
    try:
        data: dict[str, Any] = json.loads(line)
        data["at"] = dt.datetime.fromisoformat(data["at"])
        return kind(**data)
    except (ValueError, TypeError, KeyError):
        return None


@dataclass(frozen=True)
class JournalEntry:
    """One line of the journal: a send of ``key`` to the target with ``fingerprint``
    (shown as ``channel target``, masked). The field names are the file's JSON keys."""

    key: str
    fingerprint: str
    row_id: str
    level: str
    event: str
    channel: str
    target: str
    at: dt.datetime

    @classmethod
    def from_delivery(cls, delivery: Delivery, fingerprint: str) -> JournalEntry:
        """Given a sent delivery and its target's fingerprint, return its journal entry."""
        return cls(
            delivery.dedup_key,
            fingerprint,
            delivery.row_id,
            delivery.level,
            delivery.event,
            delivery.channel,
            delivery.target,
            delivery.at,
        )

    def delivery(self) -> Delivery:
        """Return the sent delivery this entry records, marked ``recovered``."""
        return Delivery(
            self.key,
            self.row_id,
            self.level,
            self.event,
            self.channel,
            self.target,
            "sent",
            self.at,
            recovered=True,
        )

    def to_json(self) -> str:
        """Return the entry as one JSON line (without the newline)."""
        data = {**self.__dict__, "at": self.at.isoformat()}
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> JournalEntry | None:
        """Given one line of the journal, return its entry, or None for a line torn by a
        crash mid-write (that send is then repeated once)."""
        return record_from_json(cls, line)


class Journal:
    """The journal at ``path`` as read, with its ``entries`` by (key, fingerprint).
    ``torn`` says the file ends in a torn line, which the next append closes first."""

    def __init__(self, path: Path, entries: dict[tuple[str, str], JournalEntry],
                 torn: bool) -> None:
        self.path = path
        self.entries = entries
        self.torn = torn

    @classmethod
    def read(cls, path: Path) -> Journal:
        """Given the journal's path, return it as read (empty if there is no file).
        Raise JournalError if the file cannot be read."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path, {}, torn=False)
        except (OSError, UnicodeDecodeError) as exc:
            raise JournalError(f"cannot read the notification journal {path}: {exc}") from exc
        entries: dict[tuple[str, str], JournalEntry] = {}
        for line in text.splitlines():
            entry = JournalEntry.from_json(line) if line.strip() else None
            if entry is not None:
                entries[(entry.key, entry.fingerprint)] = entry
        return cls(path, entries, torn=bool(text) and not text.endswith("\n"))

    def append(self, entry: JournalEntry) -> None:
        """Append ``entry`` as one line and fsync it before returning. Raise JournalError
        if it cannot be written."""
        line = ("\n" if self.torn else "") + entry.to_json() + "\n"
        try:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, line.encode("utf-8"))
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        except OSError as exc:
            raise JournalError(
                f"sent {entry.key} but cannot write the notification journal {self.path}: {exc}"
            ) from exc
        self.torn = False
        self.entries[(entry.key, entry.fingerprint)] = entry

    def prune(self, recorded: Collection[tuple[str, str]], before: dt.datetime) -> None:
        """Given the (dedup key, detail) pairs History records and a time, drop the
        entries older than it that History records (atomic rewrite). Raise JournalError
        if the file cannot be rewritten."""
        keep = {
            k: e
            for k, e in self.entries.items()
            if e.at >= before or (e.key, f"{e.channel} {e.target}") not in recorded
        }
        if len(keep) == len(self.entries):
            return
        temporary = self.path.with_suffix(".tmp")
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(descriptor, "".join(e.to_json() + "\n" for e in keep.values()).encode())
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.replace(temporary, self.path)
        except OSError as exc:
            raise JournalError(
                f"cannot rewrite the notification journal {self.path}: {exc}"
            ) from exc
        self.entries = keep
