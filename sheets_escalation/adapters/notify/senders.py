"""Senders: one per channel, each sending one notification to one target of its channel
behind the small :class:`Sender` interface, so the outbox (and tests) can swap them.

Slack and generic webhooks are posted over HTTP without following redirects (a redirect
would carry the message to a place the allowlist never saw); email goes over SMTP. Every
failure is a :class:`NotifyError` whose message names the target masked and quotes no
secret.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Protocol
from urllib.parse import urlsplit

import requests

from sheets_escalation.adapters.config import Config, SmtpConfig
from sheets_escalation.adapters.notify.targets import Target, mask, scrub
from sheets_escalation.core.errors import EscalationError
from sheets_escalation.core.notifications import Notification

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class NotifyError(EscalationError):
    """A notification could not be sent; the message names the target masked, no secret."""


class Sender(Protocol):
    """Sends one notification to one target of its channel. Raise NotifyError on failure."""

    def send(self, target: Target, notification: Notification) -> None: ...


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
            raise NotifyError(f"{where}: SMTP {exc.smtp_code} {scrub(reply, secrets)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifyError(
                f"{where}: {type(exc).__name__}: {scrub(str(exc), secrets)}"
            ) from None


def default_senders(config: Config) -> dict[str, Sender]:
    """Given the configuration, return the real sender of each channel."""
    return {
        "slack": SlackSender(timeout=config.http_timeout),
        "webhook": WebhookSender(timeout=config.http_timeout),
        "email": EmailSender(config.smtp),
    }


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
            f"{where}: HTTP {response.status_code} {scrub(answer, secrets)}".rstrip()
        )


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _message_id(dedup_key: str, recipient: str, sender: str) -> str:
    digest = hashlib.sha256(f"{dedup_key} {recipient}".encode()).hexdigest()[:32]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "sheets-escalation.invalid"
    return f"<{digest}@{domain}>"
