"""Watching the hourly job: what a watched sync leaves behind, and what ``status`` says.

A sync that stops quietly is the classic way escalation tooling dies, so every real run
(never a dry run) leaves three traces, none of which can fail the run itself: a ping to
``[monitor] ping_url`` at the start and at the end, a run record in the local state
directory, and with ``--log-file`` or ``[log] file`` a line in the run log. The traces
themselves (the pings, the files, their formats) are written by ``adapters/monitor.py``;
here is when to leave them (:class:`Watch`), what a run counted (:func:`report_counts`)
and how healthy the job looks from its records (:class:`Status`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sheets_escalation.adapters.config import Config, LogConfig
from sheets_escalation.adapters.monitor import (
    Pinger,
    RunRecord,
    Warn,
    append_log,
    record_run,
)
from sheets_escalation.adapters.notify.targets import scrub


def report_counts(report: Any) -> tuple[dict[str, int], dict[str, int], list[str]]:
    """Given a SyncReport, return its counts, its rows by Flag and the notifications
    pending retry (one line each, targets masked)."""
    summary = report.as_json()
    delivery = report.delivery
    counts = {
        "rows": summary["rows"],
        "escalated": len(summary["escalated"]),
        "cells_written": summary["cells_written"],
        "history_appended": summary["history_appended"],
        "notifications_sent": len(delivery.sent) if delivery else 0,
        "notifications_failed": len(delivery.failed) if delivery else 0,
        "notifications_refused": len(delivery.refused) if delivery else 0,
        "reminders": len(summary["reminders"]),
    }
    pending = [str(d) for d in delivery.failed] if delivery else []
    return counts, dict(summary["flags"]), pending


@dataclass(frozen=True)
class Status:
    """What ``status`` says about one workbook, as of ``now``."""

    source: str
    now: dt.datetime
    runs: Sequence[RunRecord]
    stale_after: dt.timedelta

    @property
    def last(self) -> RunRecord | None:
        return self.runs[-1] if self.runs else None

    @property
    def last_success(self) -> RunRecord | None:
        return next((r for r in reversed(self.runs) if r.ok), None)

    @property
    def age(self) -> dt.timedelta | None:
        return self.now - self.last.at if self.last else None

    @property
    def problem(self) -> str:
        """Return why the job needs attention ("" when it is healthy)."""
        last, age = self.last, self.age
        if last is None or age is None:
            return "no run recorded on this machine"
        if not last.ok:
            return f"the last run failed: {last.summary()}"
        if age > self.stale_after:
            return (f"no run for {human_age(age)} (stale after "
                    f"{human_age(self.stale_after)}): the hourly sync has stopped")
        return ""

    def as_json(self) -> dict[str, Any]:
        success = self.last_success
        return {
            "source": self.source,
            "now": self.now.isoformat(),
            "healthy": not self.problem,
            "problem": self.problem,
            "last_run": self.last.at.isoformat() if self.last else None,
            "age_seconds": round(self.age.total_seconds()) if self.age is not None else None,
            "stale_after_seconds": round(self.stale_after.total_seconds()),
            "runs": [json.loads(r.to_json()) for r in reversed(self.runs[-10:])],
            "open_rows_by_flag": _open_flags(success),
            "pending_retry": success.pending_retry if success else [],
        }

    def lines(self) -> list[str]:
        """Return the status as lines for people."""
        last, success = self.last, self.last_success
        out = [f"{self.source}: " + ("OK" if not self.problem else f"ATTENTION: {self.problem}")]
        if last is None or self.age is None:
            return out
        out.append(f"last run: {last.at:%Y-%m-%d %H:%M} UTC ({human_age(self.age)} ago), "
                   f"exit {last.exit_code}, {last.duration_seconds:.1f} s")
        out.append("recent runs (newest first):")
        for run in reversed(self.runs[-5:]):
            out.append(f"  {run.at:%Y-%m-%d %H:%M}  {run.duration_seconds:6.1f} s  "
                       f"{run.summary()}")
        if success is not None:
            flags = _open_flags(success)
            out.append(f"open rows by flag (run of {success.at:%Y-%m-%d %H:%M} UTC): "
                       + (", ".join(f"{k} {v}" for k, v in flags.items()) or "none"))
            out.append(f"notifications pending retry: {len(success.pending_retry)}")
            out.extend(f"  {line}" for line in success.pending_retry)
        return out


def _open_flags(record: RunRecord | None) -> dict[str, int]:
    if record is None:
        return {}
    return {flag: count for flag, count in record.flags.items() if flag != "RESOLVED"}


def human_age(age: dt.timedelta) -> str:
    """Given an age, return it as people say it: ``35 min``, ``3 h``, ``2 days``."""
    minutes = int(age.total_seconds() // 60)
    if minutes < 120:
        return f"{max(minutes, 0)} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


class Watch:
    """Watches one real sync: :meth:`start` pings, :meth:`finish` records the run, appends
    it to the log and pings success or failure. Nothing here raises: a monitor that is
    down or a state directory that cannot be written is a warning, and the sync's own exit
    code stands. ``pinger`` replaces the one built for ``[monitor] ping_url``."""

    def __init__(self, config: Config, source: str, runs_path: Path, log: LogConfig,
                 warn: Warn, clock: Callable[[], dt.datetime],
                 timer: Callable[[], float], pinger: Pinger | None = None) -> None:
        self.source = source
        self.runs_path = runs_path
        self.log = log
        self.warn = warn
        self.clock = clock
        self.timer = timer
        self.pinger = pinger or Pinger(config, warn)
        self.secrets = config.secrets()
        self.started_at = dt.datetime.min.replace(tzinfo=dt.UTC)
        self.started = 0.0

    def start(self) -> None:
        """Ping the start; the run's time and duration count from here."""
        self.started_at = self.clock()
        self.started = self.timer()
        self.pinger.start()

    def finish(self, exit_code: int, *, error: str = "", report: Any = None,
               warnings: Sequence[str] = ()) -> RunRecord:
        counts, flags, pending = report_counts(report) if report is not None else ({}, {}, [])
        first_line = (error.strip().splitlines() or [""])[0]
        record = RunRecord(self.started_at, self.source, exit_code,
                           self.timer() - self.started, counts, flags, pending,
                           scrub(first_line, self.secrets), list(warnings))
        for write, where in ((lambda: record_run(self.runs_path, record), self.runs_path),
                             (lambda: append_log(self.log, record), self.log.file)):
            try:
                write()
            except OSError as exc:
                self.warn(f"cannot record the run in {where}: {exc.strerror or exc}")
        self.pinger.finish(record)
        return record


