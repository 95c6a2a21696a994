"""The traces a watched sync leaves outside the process: dead-man's-switch pings, a record
of each run in the local state directory, the run log. ``jobs/watch.py`` decides when
to leave them; none of them can fail the run itself.

- **pings** to ``[monitor] ping_url`` in the healthchecks.io convention (borgmatic's
  monitoring hooks are the model): ``URL/start`` when the run begins, then ``URL`` on
  success or ``URL/fail`` on failure, the body one line naming the exit code and what
  happened. The URL is a secret: it must match a ``webhook:`` pattern of the notification
  allowlist, it is shown masked, and it is scrubbed from every message. A ping that times
  out or is refused is a warning, nothing more;
- a **run record** (:class:`RunRecord`) in the local state directory (the last
  :data:`KEEP_RUNS` runs of each workbook), which ``status`` reads;
- with ``--log-file`` or ``[log] file``, the same record appended as one JSON line to a log
  a person can read later, rotated by size.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from sheets_escalation.adapters.config import Config, LogConfig
from sheets_escalation.adapters.notify.journal import record_from_json
from sheets_escalation.adapters.notify.targets import is_allowed, mask, parse_target, scrub

KEEP_RUNS = 50
# Longer than any line a person reads in a ping log; healthchecks keeps 100 kB per ping.
_PING_BODY_LIMIT = 1_000

Warn = Callable[[str], None]


@dataclass(frozen=True)
class RunRecord:
    """One sync, as ``status`` and the run log show it.

    ``at`` is when it started (UTC); ``exit_code`` 0 is done, 1 failed, 2 a policy or
    configuration error; ``error`` the one-line reason of a failure; ``flags`` the rows by
    Flag; ``pending_retry`` the notifications that failed and will be retried next run.
    """

    at: dt.datetime
    source: str
    exit_code: int
    duration_seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)
    pending_retry: list[str] = field(default_factory=list)
    error: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def summary(self) -> str:
        """Return one line saying how the run ended (the ping body, status output)."""
        if not self.ok:
            return f"exit {self.exit_code}: {self.error}"
        counts = self.counts
        flags = ", ".join(f"{flag} {count}" for flag, count in self.flags.items()) or "none"
        text = (f"exit 0: {self.source}: {_counted(counts.get('rows', 0), 'row')}; "
                f"flags {flags}; {counts.get('escalated', 0)} escalated; "
                f"{_counted(counts.get('cells_written', 0), 'cell')} written")
        if self.pending_retry:
            text += f"; {_counted(len(self.pending_retry), 'notification')} pending retry"
        return text

    def to_json(self) -> str:
        data = {**self.__dict__, "at": self.at.isoformat(),
                "duration_seconds": round(self.duration_seconds, 3)}
        return json.dumps(data, ensure_ascii=False, default=str)

    @classmethod
    def from_json(cls, line: str) -> RunRecord | None:
        """Given one line of a runs file, return its record, or None for a torn line."""
        return record_from_json(cls, line)


class Pinger:
    """Pings ``[monitor] ping_url`` (see the module docstring); silent when none is set."""

    def __init__(self, config: Config, warn: Warn,
                 session: requests.Session | None = None) -> None:
        self.warn = warn
        self.secrets = config.secrets()
        self.timeout = config.monitor.timeout
        self.session = session or requests.Session()
        self.url = ""
        url = config.monitor.ping_url
        if not url:
            return
        target = parse_target("webhook:" + url)
        if target.channel == "invalid":
            warn(f"[monitor] ping_url cannot be used: {target.problem}; no pings sent")
        elif not is_allowed(target, config.allow):
            warn(f"[monitor] ping_url {mask(target)} is not in the [notify] allow list "
                 "(add a webhook: pattern for it); no pings sent")
        else:
            self.url = url.rstrip("/")
            self.shown = mask(target)

    def start(self) -> None:
        """Ping ``URL/start``; a failed ping is a warning."""
        self._ping("/start", "")

    def finish(self, record: RunRecord) -> None:
        """Given the run's record, ping ``URL`` (success) or ``URL/fail`` with its summary;
        a failed ping is a warning."""
        self._ping("" if record.ok else "/fail", record.summary())

    def _ping(self, suffix: str, body: str) -> None:
        if not self.url:
            return
        where = f"monitor ping {self.shown}{suffix}"
        data = scrub(" ".join(body.split())[:_PING_BODY_LIMIT], self.secrets)
        try:
            # No redirects, as for notifications: the allowlist decides where this goes.
            response = self.session.post(self.url + suffix, data=data.encode("utf-8"),
                                         headers={"Content-Type": "text/plain; charset=utf-8"},
                                         timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            self.warn(f"{where}: {type(exc).__name__} (cannot connect or timed out); "
                      "the sync itself is unaffected")
            return
        if not 200 <= response.status_code < 300:
            self.warn(f"{where}: HTTP {response.status_code}; the sync itself is unaffected")


def read_runs(path: Path) -> list[RunRecord]:
    """Given a runs file, return its records, oldest first (none if it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    records = (RunRecord.from_json(line) for line in text.splitlines() if line.strip())
    return [r for r in records if r is not None]


def record_run(path: Path, record: RunRecord) -> None:
    """Append ``record`` to the runs file at ``path``, keeping the last KEEP_RUNS runs.
    Raise OSError if it cannot be written."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _append_line(path, record.to_json())
    runs = read_runs(path)
    if len(runs) > 2 * KEEP_RUNS:
        # Trimmed now and then, not on every run: an append is cheaper than a rewrite.
        temporary = path.with_suffix(".tmp")
        temporary.write_text("".join(r.to_json() + "\n" for r in runs[-KEEP_RUNS:]),
                             encoding="utf-8")
        os.replace(temporary, path)


def append_log(log: LogConfig, record: RunRecord) -> None:
    """Append ``record`` as one JSON line to ``log.file``, first rotating the file to
    ``.1`` (``.1`` to ``.2`` …, the oldest dropped) if the line would take it past
    ``log.max_bytes``. Raise OSError if it cannot be written."""
    if log.file is None:
        return
    line = record.to_json()
    path = log.file
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = 0
    if size and size + len(line.encode("utf-8")) + 1 > log.max_bytes:
        _rotate(path, log.backups)
    _append_line(path, line)


def _rotate(path: Path, backups: int) -> None:
    if backups == 0:
        path.unlink()
        return
    for number in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{number}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{number + 1}"))
    os.replace(path, path.with_name(f"{path.name}.1"))


def _append_line(path: Path, line: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, (line + "\n").encode("utf-8"))
    finally:
        os.close(descriptor)


def _counted(count: int, noun: str) -> str:
    """Given a count and a singular noun, return "1 cell" / "2 cells"."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
