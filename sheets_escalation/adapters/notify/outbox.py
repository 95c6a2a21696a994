"""Notifications (SPEC §6): senders behind one small interface, and an outbox that sends
each notification once.

Who may be notified is decided by the allowlist in the local configuration, never by the
sheet: a ``Notify`` cell only *names* targets, and a target outside the allowlist is
refused and reported. Webhook URLs are secrets (anyone holding one can post), so they are
shown masked everywhere (:func:`mask`), and error messages are scrubbed.

Sent once. Every notification has a stable dedup key (``ESC-0012/L2/escalated``), and
every (key, target) pair goes through three states: *sent* (the server accepted it),
*journaled* (a line in a local append-only journal, fsynced right after the send),
*recorded* (a ``notified`` row in History, written by the caller). A run skips pairs
already in History; a pair in the journal but not in History is not sent again but
handed back for recording. So a crash between sending and journaling repeats that one
message once; a crash after journaling repeats nothing and loses nothing.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import ipaddress
import json
import os
import re
import smtplib
import ssl
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import unquote, urlsplit

import filelock
import requests

from sheets_escalation.adapters.config import Config, SmtpConfig
from sheets_escalation.core.errors import EscalationError, LockHeldError

Channel = Literal["slack", "webhook", "email", "invalid"]

BY = "sheets-escalation"
NOTIFIED = "notified"
SLACK_HOST = "hooks.slack.com"
JOURNAL_KEEP = dt.timedelta(days=90)
_LOCK_TIMEOUT_SECONDS = 60.0
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Deliberately narrower than RFC 5322: no quoting, no comments, no spaces, so an
# address can neither smuggle a header nor trick an allowlist pattern.
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*\.?")
# scheme://host[:port][/path] with wildcards; the host may be an [IPv6] literal.
_URL_PATTERN = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>\[[0-9A-Fa-f:.%]+\]|[^/:\[\]@]+)"
    r"(?::(?P<port>[0-9]{1,5}|\*))?(?P<path>/.*)?"
)
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


class NotifyError(EscalationError):
    """A notification could not be sent; the message names the target masked, no secret."""


class JournalError(EscalationError):
    """The notification journal cannot be read or written."""


@dataclass(frozen=True)
class Target:
    """One place to send to. ``address`` is the URL (slack, webhook), the lower-cased
    address (email) or the text as typed (invalid, with ``problem`` saying why)."""

    channel: Channel
    address: str
    problem: str = ""

    @property
    def fingerprint(self) -> str:
        """A stable identity for the journal that does not reveal the address."""
        return hashlib.sha256(f"{self.channel} {self.address}".encode()).hexdigest()[:32]


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


Status = Literal["sent", "failed", "refused", "planned"]


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
    status: Status
    at: dt.datetime
    reason: str = ""
    recovered: bool = False

    @property
    def detail(self) -> str:
        """The History ``Detail`` of this delivery: channel and masked target."""
        return f"{self.channel} {self.target}"

    def history_row(self) -> list[object]:
        """Return the History row (schema.HISTORY_HEADERS order) recording this send."""
        return [self.at, self.row_id, NOTIFIED, "", self.level, self.dedup_key, BY, self.detail]

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
    """The outcome of :meth:`Outbox.deliver`.

    ``sent``: to record in History now (``history_rows``). ``failed``: not sent, retried
    next run. ``refused``: not allowlisted or unreadable targets, never sent.
    ``planned``: what a dry run would send.
    """

    sent: list[Delivery] = field(default_factory=list)
    failed: list[Delivery] = field(default_factory=list)
    refused: list[Delivery] = field(default_factory=list)
    planned: list[Delivery] = field(default_factory=list)

    def history_rows(self) -> list[list[object]]:
        """Return the History ``notified`` rows for everything sent."""
        return [d.history_row() for d in self.sent]

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


class Sender(Protocol):
    """Sends one notification to one target of its channel. Raise NotifyError on failure."""

    def send(self, target: Target, notification: Notification) -> None: ...


def parse_target(text: str) -> Target:
    """Given one target as typed in a Notify cell, return it classified.

    ``https://hooks.slack.com/...`` and ``slack:URL`` (Slack-compatible services) are
    Slack; ``webhook:URL`` is a generic JSON webhook; ``name@domain`` is email; anything
    else, including a URL that cannot be posted to (see :func:`parse_url`), is an
    ``invalid`` target whose ``problem`` says why. Never raises.
    """
    text = text.strip()
    lowered = text.lower()
    if lowered.startswith(("webhook:", "slack:")):
        channel: Channel = "webhook" if lowered.startswith("webhook:") else "slack"
        url = text.split(":", 1)[1].strip()
        parsed = parse_url(url)
        return Target(channel, url) if isinstance(parsed, Url) else Target("invalid", text, parsed)
    if "://" in text:
        parsed = parse_url(text)
        if not isinstance(parsed, Url):
            return Target("invalid", text, parsed)
        if (parsed.scheme, parsed.host, parsed.port) != ("https", SLACK_HOST, 443):
            return Target(
                "invalid", text, "a URL must be a Slack webhook or be written webhook:URL"
            )
        return Target("slack", text)
    if _EMAIL.fullmatch(text):
        return Target("email", text.lower())
    return Target("invalid", text, "not an email address, Slack webhook or webhook:URL")


@dataclass(frozen=True)
class Url:
    """A URL that may be posted to, in the parts the allowlist compares: the scheme and
    host lower-cased (the host IDNA-encoded, an IPv6 address without brackets), the port
    (the scheme's default when the URL names none) and the path ("/" when empty)."""

    scheme: str
    host: str
    port: int
    path: str


def parse_url(url: str) -> Url | str:
    """Given a webhook URL as typed, return its parts, or why it cannot be posted to.

    Refused: anything but http(s); spaces, control characters or backslashes (parsers
    disagree on them); a user name or password; a port that is not 1-65535; a host that
    is not a valid name or address; a #fragment; ``.``/``..`` path segments (the server
    would resolve them to a path the allowlist never saw).
    """
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "the URL contains spaces or control characters"
    if "\\" in url:
        return "the URL contains a backslash"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the host is not a valid address"
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return "not an http(s) URL"
    if "@" in parts.netloc:
        return "a URL with a user name or password is not allowed"
    raw_port = _raw_port(parts.netloc)
    try:
        port = parts.port
    except ValueError:
        port = None
    if raw_port and not (port is not None and 1 <= port <= 65535):
        return f'the port "{raw_port}" is not a number from 1 to 65535'
    host = _normal_host(parts.hostname)
    if host is None:
        return "the host is not a valid address"
    if parts.fragment or url.endswith("#"):
        return "a URL with a #fragment is not allowed"
    if any(segment in (".", "..") for segment in unquote(parts.path).split("/")):
        return "the URL path contains . or .. segments"
    scheme = parts.scheme.lower()
    return Url(scheme, host, port or _DEFAULT_PORTS[scheme], parts.path or "/")


def parse_targets(cells: Iterable[str]) -> list[Target]:
    """Given Notify cells (comma-, semicolon- or newline-separated), return their targets,
    each once, in order."""
    targets: dict[Target, None] = {}
    for cell in cells:
        for part in re.split(r"[,;\n]", cell or ""):
            if part.strip():
                targets.setdefault(parse_target(part), None)
    return list(targets)


def mask(target: Target) -> str:
    """Given a target, return how it may be shown: emails as they are, URLs as host plus
    the last 4 characters (``hooks.slack.com/…/x9Zq``), so no usable secret is printed.
    Never raises, whatever the target holds."""
    if target.channel == "email":
        return target.address
    text = target.address
    if "://" in text:
        address = text.split("://", 1)[1]
        host, _, rest = address.partition("/")
        # A user name or password before @ is a secret; the host follows the last @.
        host = host.rpartition("@")[2]
        parsed = parse_url(text.split(":", 1)[1] if target.channel == "invalid"
                           and text.lower().startswith(("webhook:", "slack:")) else text)
        if isinstance(parsed, Url):
            parts = urlsplit(parsed.scheme + "://" + address)
            rest = parts.path + ("?" + parts.query if parts.query else "")
    elif "/" in text:
        host, rest = text.split("/", 1)
    else:
        return _printable(text[:60])
    host, rest = _printable(host[:60]), rest.strip("/")
    return f"{host}/…/{_printable(rest[-4:])}" if len(rest) > 8 else f"{host}/…"


def is_allowed(target: Target, patterns: Iterable[str]) -> bool:
    """Given a target and allowlist patterns, return whether it may be used.

    A pattern applies to one channel only, so an email pattern such as ``*@example.com``
    can never admit a URL that happens to end in ``@example.com``: ``webhook:PATTERN``
    matches webhooks, ``slack:PATTERN`` or a pattern with ``://`` matches Slack URLs, any
    other pattern matches email addresses (fnmatch style, case-insensitive).

    A URL pattern ``scheme://host[:port][/path]`` is compared part by part with the
    parsed URL, so no wildcard reaches past its own part: the scheme equal; the host
    (IDNA-encoded, any case) matching, where ``*`` stands for any run of host characters;
    the port equal (left out: the scheme's default; ``*``: any); the path matching when
    the pattern has one (left out: any path). A pattern that cannot be read matches nothing.
    """
    if target.channel == "invalid":
        return False
    url = parse_url(target.address) if target.channel != "email" else None
    for pattern in patterns:
        channel, body = _pattern_channel(pattern.strip())
        if channel != target.channel:
            continue
        if channel == "email":
            if fnmatch.fnmatchcase(target.address.casefold(), body.casefold()):
                return True
        elif isinstance(url, Url) and _url_matches(url, body):
            return True
    return False


def recorded_deliveries(history: Iterable[Mapping[str, object]]) -> set[tuple[str, str]]:
    """Given History records (keys ``event``, ``trigger``, ``detail``, as in the history
    frame), return the (dedup key, detail) pairs already recorded as ``notified``."""
    return {
        (str(record.get("trigger", "")).strip(), str(record.get("detail", "")).strip())
        for record in history
        if str(record.get("event", "")).strip().casefold() == NOTIFIED
    }


class SlackSender:
    """Posts ``{"text": ...}`` to a Slack (or Slack-compatible) incoming webhook."""

    def __init__(self, session: requests.Session | None = None, timeout: float = 10.0) -> None:
        self.session = session or requests.Session()
        self.timeout = timeout

    def send(self, target: Target, notification: Notification) -> None:
        """Post the notification; raise NotifyError if Slack does not accept it."""
        # Slack reads <...> as mentions and links: customer text must not ping @channel.
        text = f"*{_slack_escape(notification.subject)}*\n{_slack_escape(notification.body)}"
        _post(self.session, target, {"text": text}, {}, self.timeout)


class WebhookSender:
    """Posts the notification as JSON, with an ``Idempotency-Key`` header (the dedup key)."""

    def __init__(self, session: requests.Session | None = None, timeout: float = 10.0) -> None:
        self.session = session or requests.Session()
        self.timeout = timeout

    def send(self, target: Target, notification: Notification) -> None:
        """Post the notification; raise NotifyError unless the server answers 2xx."""
        headers = {"Idempotency-Key": notification.dedup_key}
        _post(self.session, target, self.payload(notification), headers, self.timeout)

    def payload(self, notification: Notification) -> dict[str, object]:
        """Return the JSON object posted for ``notification``."""
        return {
            "dedup_key": notification.dedup_key,
            "subject": notification.subject,
            "body": notification.body,
            "id": notification.row_id,
            "level": notification.level,
            "event": notification.event,
        }


class EmailSender:
    """Sends plain-text mail over SMTP (STARTTLS when configured, login when a username is
    set). The Message-ID derives from the dedup key and recipient, so a repeated send is
    recognisable as the same message by the receiving side."""

    def __init__(self, smtp: SmtpConfig) -> None:
        self.smtp = smtp

    def send(self, target: Target, notification: Notification) -> None:
        """Send the mail; raise NotifyError if SMTP is not configured or the send fails."""
        message = self.envelope(target, notification)
        message.set_content(notification.body)
        self.transmit(target, message)

    def envelope(self, target: Target, notification: Notification) -> EmailMessage:
        """Return a message to ``target`` with the headers of ``notification`` and no body
        yet. Raise NotifyError if SMTP is not configured well enough to send it."""
        smtp = self.smtp
        where = f"email {target.address}"
        if not smtp.host:
            raise NotifyError(
                f"{where}: SMTP is not configured (set [smtp] host in the config file "
                "or SHEETS_ESCALATION_SMTP_HOST)"
            )
        sender = smtp.sender or (smtp.username if "@" in smtp.username else "")
        if not sender:
            raise NotifyError(f"{where}: no sender address (set [smtp] from)")
        if smtp.username and not smtp.starttls and smtp.host not in _LOOPBACK_HOSTS:
            raise NotifyError(f"{where}: refusing to send the SMTP password without STARTTLS")
        message = EmailMessage()
        message["Subject"] = notification.subject
        message["From"] = sender
        message["To"] = target.address
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = _message_id(notification.dedup_key, target.address, sender)
        message["X-Sheets-Escalation-Key"] = notification.dedup_key
        return message

    def transmit(self, target: Target, message: EmailMessage) -> None:
        """Send ``message`` (from :meth:`envelope`) over SMTP; raise NotifyError if the
        server cannot be reached or refuses it."""
        smtp = self.smtp
        where = f"email {target.address}"
        secrets = (smtp.password,)
        try:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
                if smtp.starttls:
                    context = ssl.create_default_context(cafile=smtp.cafile or None)
                    client.starttls(context=context)
                if smtp.username:
                    client.login(smtp.username, smtp.password)
                client.send_message(message)
        except smtplib.SMTPResponseException as exc:
            reply = (
                exc.smtp_error.decode("utf-8", "replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise NotifyError(f"{where}: SMTP {exc.smtp_code} {_scrub(reply, secrets)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifyError(
                f"{where}: {type(exc).__name__}: {_scrub(str(exc), secrets)}"
            ) from None


def default_senders(config: Config) -> dict[str, Sender]:
    """Given the configuration, return the real sender of each channel."""
    return {
        "slack": SlackSender(timeout=config.http_timeout),
        "webhook": WebhookSender(timeout=config.http_timeout),
        "email": EmailSender(config.smtp),
    }


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
        records (see :func:`recorded_deliveries`) and the run's time, send every
        allowlisted target not yet sent, and return what happened.

        Sends already journaled but missing from History are returned in ``sent`` (to be
        recorded) without sending again. A failed send is reported in ``failed`` and
        does not stop the others. Raise JournalError if the journal cannot be written
        (after a send, so the caller stops before claiming more), LockHeldError if
        another run is delivering from the same journal.
        """
        if self.dry_run:
            return self._deliver(
                notifications, already_recorded, now, _Journal.read(self.journal_path)
            )
        self.journal_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = filelock.FileLock(str(self.journal_path) + ".lock", timeout=_LOCK_TIMEOUT_SECONDS)
        try:
            with lock:
                journal = _Journal.read(self.journal_path)
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
        journal: _Journal,
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
                    journal.append(_Entry.from_delivery(delivery, target.fingerprint))
                    report.sent.append(delivery)
        return report


@dataclass(frozen=True)
class _Entry:
    key: str
    fingerprint: str
    row_id: str
    level: str
    event: str
    channel: str
    target: str
    at: dt.datetime

    @classmethod
    def from_delivery(cls, delivery: Delivery, fingerprint: str) -> _Entry:
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
        data = {**self.__dict__, "at": self.at.isoformat()}
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> _Entry | None:
        # None for a torn last line from a crash mid-write: that send is repeated once.
        return record_from_json(cls, line)


Record = TypeVar("Record")


def record_from_json(kind: Callable[..., Record], line: str) -> Record | None:
    """Given a record type and one line of a JSON-lines file whose ``at`` is an ISO time,
    return the record, or None when the line cannot be one (torn by a crash mid-write)."""
    try:
        data: dict[str, Any] = json.loads(line)
        data["at"] = dt.datetime.fromisoformat(data["at"])
        return kind(**data)
    except (ValueError, TypeError, KeyError):
        return None


class _Journal:
    """Append-only JSON lines, one per sent (key, target); only masked targets are kept."""

    def __init__(self, path: Path, entries: dict[tuple[str, str], _Entry], torn: bool) -> None:
        self.path = path
        self.entries = entries
        self.torn = torn

    @classmethod
    def read(cls, path: Path) -> _Journal:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path, {}, torn=False)
        except (OSError, UnicodeDecodeError) as exc:
            raise JournalError(f"cannot read the notification journal {path}: {exc}") from exc
        entries: dict[tuple[str, str], _Entry] = {}
        for line in text.splitlines():
            entry = _Entry.from_json(line) if line.strip() else None
            if entry is not None:
                entries[(entry.key, entry.fingerprint)] = entry
        return cls(path, entries, torn=bool(text) and not text.endswith("\n"))

    def append(self, entry: _Entry) -> None:
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
        """Drop entries older than ``before`` that History records (atomic rewrite)."""
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


def _with(delivery: Delivery, status: Status, reason: str = "") -> Delivery:
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


def _pattern_channel(pattern: str) -> tuple[Channel, str]:
    lowered = pattern.lower()
    if lowered.startswith("webhook:"):
        return "webhook", pattern.split(":", 1)[1].strip()
    if lowered.startswith("slack:"):
        return "slack", pattern.split(":", 1)[1].strip()
    if "://" in pattern:
        return "slack", pattern
    return "email", pattern


def _raw_port(netloc: str) -> str:
    """Return the port of ``host[:port]`` as typed ("" when there is none)."""
    host_port = netloc.rpartition("@")[2]
    if host_port.startswith("["):
        host_port = host_port.partition("]")[2]
    return host_port.partition(":")[2] if ":" in host_port else ""


def _normal_host(host: str) -> str | None:
    """Return ``host`` as it is looked up (IDNA ASCII, lower case; IPv6 as is), or None
    if it is no valid host name."""
    if ":" in host:
        try:
            return str(ipaddress.IPv6Address(host.partition("%")[0]))
        except ValueError:
            return None
    try:
        encoded = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    return encoded if _HOST_NAME.fullmatch(encoded) else None


def _url_matches(url: Url, pattern: str) -> bool:
    match = _URL_PATTERN.fullmatch(pattern)
    if match is None:
        return False
    scheme = match["scheme"].lower()
    if scheme != url.scheme or scheme not in _DEFAULT_PORTS:
        return False
    host = match["host"]
    if host.startswith("["):
        wanted = _normal_host(host[1:-1])
        if wanted is None or wanted != url.host:
            return False
    else:
        labels = [label if any(c in label for c in "*?[") else _normal_host(label)
                  for label in host.casefold().split(".")]
        if any(label is None for label in labels):
            return False
        if not fnmatch.fnmatchcase(url.host, ".".join(str(label) for label in labels)):
            return False
    port = match["port"]
    if port != "*" and int(port or _DEFAULT_PORTS[scheme]) != url.port:
        return False
    path = match["path"]
    return path is None or fnmatch.fnmatchcase(url.path, path)


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


def _post(
    session: requests.Session,
    target: Target,
    payload: Mapping[str, object],
    headers: Mapping[str, str],
    timeout: float,
) -> None:
    where = f"{target.channel} {mask(target)}"
    secrets = (target.address, urlsplit(target.address).path)
    try:
        # No redirects: a redirect would carry the message to a place the allowlist never saw.
        response = session.post(
            target.address,
            json=payload,
            headers=dict(headers),
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        # requests' messages quote the full URL, which is the secret.
        raise NotifyError(f"{where}: {type(exc).__name__} (cannot connect or timed out)") from None
    if not 200 <= response.status_code < 300:
        answer = " ".join(response.text[:200].split())
        raise NotifyError(
            f"{where}: HTTP {response.status_code} {_scrub(answer, secrets)}".rstrip()
        )


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) > 1:
            text = text.replace(secret, "***")
    return text


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _message_id(dedup_key: str, recipient: str, sender: str) -> str:
    digest = hashlib.sha256(f"{dedup_key} {recipient}".encode()).hexdigest()[:32]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "sheets-escalation.invalid"
    return f"<{digest}@{domain}>"
