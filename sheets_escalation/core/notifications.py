"""Notifications as data (SPEC §6): what a job plans to send, and what became of it.

A job plans :class:`Notification` records (one message about one row, to the Notify
targets of one level) without sending anything; the notification adapter
(``adapters/notify``) sends them once each and answers with a :class:`DeliveryReport` of
:class:`Delivery` records, which the job records in History as ``notified`` events. These
records are pure data, so planning, dry runs and tests need no adapter.

Targets stay as typed here: parsing, the allowlist and masking are the adapter's business
(``adapters/notify/targets.py``), so a ``Delivery`` holds its target already masked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from sheets_escalation.core.events import TOOL, HistoryEvent

NOTIFIED = "notified"

DeliveryStatus = Literal["sent", "failed", "refused", "planned"]


@dataclass(frozen=True)
class Notification:
    """One message about one row, to the Notify targets of one level.

    ``event`` is one of ``escalated``, ``escalate-due``, ``at-risk:response``,
    ``at-risk:resolution``, ``overdue:response``, ``overdue:resolution``; ``targets`` are
    Notify cells as typed (each may hold several comma-separated targets). ``problem``
    says what went wrong composing it (a template that failed), to show in the row.
    """

    row_id: str
    level: str
    event: str
    targets: tuple[str, ...]
    subject: str
    body: str
    problem: str = ""

    @property
    def dedup_key(self) -> str:
        """The stable key, e.g. ``ESC-0012/L2/escalated``."""
        return f"{self.row_id}/{self.level}/{self.event}"


@dataclass(frozen=True)
class Delivery:
    """What happened to one (notification, target) pair. ``target`` is already masked.

    ``recovered`` marks a pair sent by an earlier run that never reached History.
    """

    dedup_key: str
    row_id: str
    level: str
    event: str
    channel: str
    target: str
    status: DeliveryStatus
    at: dt.datetime
    reason: str = ""
    recovered: bool = False

    @property
    def detail(self) -> str:
        """The History ``Detail`` of this delivery: channel and masked target."""
        return f"{self.channel} {self.target}"

    def history_event(self) -> HistoryEvent:
        """Return the History event recording this send."""
        return HistoryEvent(self.at, self.row_id, NOTIFIED, "", self.level, self.dedup_key, TOOL,
                            self.detail)

    def __str__(self) -> str:
        what = f"{self.dedup_key} -> {self.detail}"
        if self.status == "sent":
            return f"{what}: sent" + (" (recorded from the journal)" if self.recovered else "")
        if self.status == "planned":
            return f"{what}: would send"
        if self.status == "failed":
            return f"{what}: failed, will retry next run: {self.reason}"
        return f"{what}: refused: {self.reason}"


@dataclass
class DeliveryReport:
    """The outcome of delivering notifications (``Outbox.deliver`` in the adapter).

    ``sent``: to record in History now (``history_events``). ``failed``: not sent, retried
    next run. ``refused``: not allowlisted or unreadable targets, never sent.
    ``planned``: what a dry run would send.
    """

    sent: list[Delivery] = field(default_factory=list)
    failed: list[Delivery] = field(default_factory=list)
    refused: list[Delivery] = field(default_factory=list)
    planned: list[Delivery] = field(default_factory=list)

    def history_events(self) -> list[HistoryEvent]:
        """Return the History ``notified`` events for everything sent."""
        return [d.history_event() for d in self.sent]

    def lines(self) -> list[str]:
        """Return one human line per delivery, for the run's output."""
        return [str(d) for d in (*self.sent, *self.planned, *self.failed, *self.refused)]

    def problems_by_row(self) -> dict[str, list[str]]:
        """Return row ID -> problems to show in that row (refused and failed targets)."""
        problems: dict[str, list[str]] = {}
        for delivery in (*self.refused, *self.failed):
            verb = "refused" if delivery.status == "refused" else "failed"
            problems.setdefault(delivery.row_id, []).append(
                f"Notify {delivery.level} {delivery.detail} {verb}: {delivery.reason}"
            )
        return problems


def recorded_deliveries(history: Iterable[Mapping[str, object]]) -> set[tuple[str, str]]:
    """Given History records (keys ``event``, ``trigger``, ``detail``, as in the history
    frame), return the (dedup key, detail) pairs already recorded as ``notified``."""
    return {
        (str(record.get("trigger", "")).strip(), str(record.get("detail", "")).strip())
        for record in history
        if str(record.get("event", "")).strip().casefold() == NOTIFIED
    }
