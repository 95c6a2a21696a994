"""The outbox (SPEC §6): delivers notifications, each (notification, target) pair once.

Every notification has a stable dedup key (``ESC-0012/L2/escalated``), and every (key,
target) pair goes through three states: *sent* (the server accepted it), *journaled* (a
line in a local append-only journal, fsynced right after the send; ``journal.py``),
*recorded* (a ``notified`` row in History, written by the caller). A run skips pairs
already in History; a pair in the journal but not in History is not sent again but
handed back for recording. So a crash between sending and journaling repeats that one
message once; a crash after journaling repeats nothing and loses nothing.

Only allowlisted targets are sent to (``targets.py``); the others are refused and
reported with the target masked.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import filelock

from sheets_escalation.adapters.config import Config
from sheets_escalation.adapters.notify.journal import Journal, JournalEntry
from sheets_escalation.adapters.notify.senders import NotifyError, Sender, default_senders
from sheets_escalation.adapters.notify.targets import Target, is_allowed, mask, parse_targets
from sheets_escalation.core.errors import LockHeldError
from sheets_escalation.core.notifications import (
    Delivery,
    DeliveryReport,
    DeliveryStatus,
    Notification,
)

JOURNAL_KEEP = dt.timedelta(days=90)
_LOCK_TIMEOUT_SECONDS = 60.0


class Outbox:
    """Delivers notifications once, keeping a local journal at ``journal_path``.

    ``senders`` (channel -> Sender) replace the default senders of those channels.
    With ``dry_run`` nothing is sent and the journal is only read.
    """

    def __init__(
        self,
        config: Config,
        journal_path: Path,
        senders: Mapping[str, Sender] | None = None,
        *,
        dry_run: bool = False,
    ) -> None:
        self.config = config
        self.journal_path = Path(journal_path)
        self.senders: dict[str, Sender] = {**default_senders(config), **(senders or {})}
        self.dry_run = dry_run

    def deliver(
        self,
        notifications: Sequence[Notification],
        already_recorded: Collection[tuple[str, str]],
        now: dt.datetime,
    ) -> DeliveryReport:
        """Given the notifications due now, the (dedup key, detail) pairs History already
        records (see :func:`~sheets_escalation.core.notifications.recorded_deliveries`)
        and the run's time, send every allowlisted target not yet sent, and return what
        happened.

        Sends already journaled but missing from History are returned in ``sent`` (to be
        recorded) without sending again. A failed send is reported in ``failed`` and
        does not stop the others. Raise JournalError if the journal cannot be written
        (after a send, so the caller stops before claiming more), LockHeldError if
        another run is delivering from the same journal.
        """
        if self.dry_run:
            return self._deliver(
                notifications, already_recorded, now, Journal.read(self.journal_path)
            )
        self.journal_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = filelock.FileLock(str(self.journal_path) + ".lock", timeout=_LOCK_TIMEOUT_SECONDS)
        try:
            with lock:
                journal = Journal.read(self.journal_path)
                report = self._deliver(notifications, already_recorded, now, journal)
                journal.prune(already_recorded, now - JOURNAL_KEEP)
                return report
        except filelock.Timeout as exc:
            raise LockHeldError(
                f"another run is sending notifications (lock {self.journal_path}.lock)"
            ) from exc

    def _deliver(
        self,
        notifications: Sequence[Notification],
        recorded: Collection[tuple[str, str]],
        now: dt.datetime,
        journal: Journal,
    ) -> DeliveryReport:
        report = DeliveryReport()
        handled: set[tuple[str, str]] = set()
        for entry in journal.entries.values():
            delivery = entry.delivery()
            handled.add((entry.key, entry.fingerprint))
            if (delivery.dedup_key, delivery.detail) not in recorded:
                report.sent.append(delivery)
        for notification in notifications:
            key = notification.dedup_key
            targets = parse_targets(notification.targets)
            masks = Counter(mask(t) for t in targets)
            for target in targets:
                delivery = _delivery(notification, target, now)
                if masks[mask(target)] > 1:
                    # Two targets on one host can share a mask (…/x.example/…); a short
                    # fingerprint keeps their History records, and so their retries, apart.
                    delivery = replace(delivery,
                                       target=f"{delivery.target} #{target.fingerprint[:6]}")
                if (key, delivery.detail) in recorded or (key, target.fingerprint) in handled:
                    continue
                handled.add((key, target.fingerprint))
                if target.channel == "invalid":
                    report.refused.append(_with(delivery, "refused", target.problem))
                elif not is_allowed(target, self.config.allow):
                    # The config path stays out: this text lands in a shared sheet.
                    report.refused.append(_with(delivery, "refused", "not in allowlist"))
                elif self.dry_run:
                    report.planned.append(_with(delivery, "planned"))
                else:
                    try:
                        self.senders[target.channel].send(target, notification)
                    except NotifyError as exc:
                        report.failed.append(_with(delivery, "failed", str(exc)))
                        continue
                    journal.append(JournalEntry.from_delivery(delivery, target.fingerprint))
                    report.sent.append(delivery)
        return report


def _delivery(notification: Notification, target: Target, now: dt.datetime) -> Delivery:
    channel = target.channel if target.channel != "invalid" else "target"
    return Delivery(
        notification.dedup_key,
        notification.row_id,
        notification.level,
        notification.event,
        channel,
        mask(target),
        "sent",
        now,
    )


def _with(delivery: Delivery, status: DeliveryStatus, reason: str = "") -> Delivery:
    return Delivery(
        delivery.dedup_key,
        delivery.row_id,
        delivery.level,
        delivery.event,
        delivery.channel,
        delivery.target,
        status,
        delivery.at,
        reason,
    )
