"""Notifications against real servers on loopback: an SMTP server (aiosmtpd) that
receives the mail, and an HTTP server that records Slack and webhook posts."""

from __future__ import annotations

import datetime as dt
import json
import os
import ssl
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from sheets_escalation.adapters.config import Config, SmtpConfig
from sheets_escalation.adapters.notify.journal import JournalError
from sheets_escalation.adapters.notify.outbox import Outbox
from sheets_escalation.adapters.notify.senders import (
    EmailSender,
    NotifyError,
    SlackSender,
    WebhookSender,
)
from sheets_escalation.adapters.notify.targets import (
    Target,
    is_allowed,
    mask,
    parse_target,
    parse_targets,
)
from sheets_escalation.core.errors import EscalationError
from sheets_escalation.core.notifications import Delivery, Notification, recorded_deliveries
from tests.support.servers import (
    MailBox,
    Recorder,
    Smtp,
    free_port,
)

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=1)
SECRET_PATH = "/services/T000/B000/SeCrEtToKeN9xYz"
PASSWORD = "correct horse battery staple"


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    pytest.importorskip("cryptography")
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_smtp(tmp_path: Path) -> Iterator[Smtp]:
    """An SMTP server that requires STARTTLS and then a login."""
    cert_path, key_path = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"bot",
            PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False)

    mailbox = MailBox()
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    )
    controller.start()
    yield Smtp(
        mailbox,
        SmtpConfig(
            host="127.0.0.1",
            port=port,
            starttls=True,
            username="bot",
            password=PASSWORD,
            sender="Escalations <esc@example.com>",
            cafile=str(cert_path),
        ),
    )
    controller.stop()


def make_config(tmp_path: Path, allow: tuple[str, ...], smtp: SmtpConfig | None = None) -> Config:
    return Config(
        path=tmp_path / "config.toml",
        state_dir=tmp_path / "state",
        loaded=True,
        allow=allow,
        http_timeout=5.0,
        smtp=smtp or SmtpConfig(),
    )


def note(*targets: str, row_id: str = "ESC-0012", event: str = "escalated") -> Notification:
    return Notification(
        row_id=row_id,
        level="L2",
        event=event,
        targets=targets,
        subject="[L2] High escalation ESC-0012: Acme",
        body="Customer: Acme <!channel>\nIssue: charged twice",
    )


def outbox(config: Config, **kwargs: Any) -> Outbox:
    return Outbox(config, config.journal_path("escalations.xlsx"), **kwargs)


def all_text(*reports: Any) -> str:
    """Everything a report could show: lines, history rows, problems."""
    parts: list[str] = []
    for report in reports:
        parts += report.lines()
        parts += [repr(event) for event in report.history_events()]
        parts += [repr(report.problems_by_row())]
    return "\n".join(parts)


# --- targets, masking, allowlist -------------------------------------------------------


def test_notify_cell_is_split_and_classified() -> None:
    targets = parse_targets(
        [
            "Ops@Example.com, https://hooks.slack.com/services/T1/B2/abcdefgh ;"
            " webhook:https://hooks.example.com/in/xyz\nslack:https://chat.example.org/hooks/k1",
            "ops@example.com",
            "call Sam, https://example.com/x, webhook:ftp://x, webhook:https://u:p@h.example/x",
        ]
    )

    assert targets == [
        Target("email", "ops@example.com"),
        Target("slack", "https://hooks.slack.com/services/T1/B2/abcdefgh"),
        Target("webhook", "https://hooks.example.com/in/xyz"),
        Target("slack", "https://chat.example.org/hooks/k1"),
        Target("invalid", "call Sam", "not an email address, Slack webhook or webhook:URL"),
        Target(
            "invalid",
            "https://example.com/x",
            "a URL must be a Slack webhook or be written webhook:URL",
        ),
        Target("invalid", "webhook:ftp://x", "not an http(s) URL"),
        Target(
            "invalid",
            "webhook:https://u:p@h.example/x",
            "a URL with a user name or password is not allowed",
        ),
    ]


def test_mask_keeps_emails_and_hides_webhook_secrets() -> None:
    slack = parse_target("https://hooks.slack.com" + SECRET_PATH)

    assert mask(slack) == "hooks.slack.com/…/9xYz"
    assert (
        mask(parse_target("webhook:http://127.0.0.1:8080/hook/abcdef123"))
        == "127.0.0.1:8080/…/f123"
    )
    assert mask(parse_target("webhook:https://h.example/short")) == "h.example/…"
    assert mask(parse_target("ops@example.com")) == "ops@example.com"
    assert (
        mask(parse_target("hooks.slack.com/services/T/B/typo-no-scheme"))
        == "hooks.slack.com/…/heme"
    )


def test_allowlist_patterns_apply_to_their_own_channel_only() -> None:
    allow = (
        "*@example.com",
        "https://hooks.slack.com/services/T000/*",
        "webhook:https://hooks.example.com/*",
    )

    assert is_allowed(parse_target("OPS@Example.COM"), allow)
    assert not is_allowed(parse_target("ops@example.com.evil.test"), allow)
    assert is_allowed(parse_target("https://hooks.slack.com/services/T000/B1/x"), allow)
    assert not is_allowed(parse_target("https://hooks.slack.com/services/T999/B1/x"), allow)
    assert is_allowed(parse_target("webhook:https://hooks.example.com/a"), allow)
    # An email pattern must not admit a URL whose path ends like an address.
    assert not is_allowed(parse_target("webhook:https://evil.test/x@example.com"), allow)
    assert not is_allowed(parse_target("webhook:https://hooks.example.com.evil.test/a"), allow)
    assert not is_allowed(parse_target("garbage"), ("*",))


def test_recorded_deliveries_reads_notified_history_rows() -> None:
    history = [
        {"event": "notified", "trigger": "ESC-0001/L2/escalated", "detail": "email a@b.example"},
        {"event": "escalated", "trigger": "Financial loss", "detail": ""},
    ]

    assert recorded_deliveries(history) == {("ESC-0001/L2/escalated", "email a@b.example")}


# --- senders against real servers -----------------------------------------------------


def test_webhook_sender_posts_json_with_idempotency_key(http: Recorder) -> None:
    target = parse_target(f"webhook:{http.base}/hook/abc123")

    WebhookSender(timeout=5).send(target, note())

    [post] = http.posts
    assert post["path"] == "/hook/abc123"
    assert post["headers"]["Idempotency-Key"] == "ESC-0012/L2/escalated"
    assert post["json"] == {
        "dedup_key": "ESC-0012/L2/escalated",
        "subject": "[L2] High escalation ESC-0012: Acme",
        "body": "Customer: Acme <!channel>\nIssue: charged twice",
        "id": "ESC-0012",
        "level": "L2",
        "event": "escalated",
    }


def test_slack_sender_posts_text_without_letting_customer_text_ping_the_channel(
    http: Recorder,
) -> None:
    SlackSender(timeout=5).send(parse_target(f"slack:{http.base}{SECRET_PATH}"), note())

    [post] = http.posts
    assert post["path"] == SECRET_PATH
    assert post["json"] == {
        "text": "*[L2] High escalation ESC-0012: Acme*\n"
        "Customer: Acme &lt;!channel&gt;\nIssue: charged twice"
    }


def test_http_failure_message_is_scrubbed_of_the_url(http: Recorder) -> None:
    http.statuses = [404]
    http.echo_path = True
    target = parse_target(f"slack:{http.base}{SECRET_PATH}")

    with pytest.raises(NotifyError) as caught:
        SlackSender(timeout=5).send(target, note())

    message = str(caught.value)
    assert message == f"slack 127.0.0.1:{http.port}/…/9xYz: HTTP 404 no such hook ***"
    assert "SeCrEt" not in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_unreachable_server_message_is_scrubbed_of_the_url() -> None:
    target = parse_target(f"slack:http://127.0.0.1:{free_port()}{SECRET_PATH}")

    with pytest.raises(NotifyError) as caught:
        SlackSender(timeout=5).send(target, note())

    assert "SeCrEt" not in str(caught.value)
    assert "ConnectionError" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_redirects_are_not_followed(http: Recorder) -> None:
    http.statuses = [302]

    with pytest.raises(NotifyError, match="HTTP 302"):
        WebhookSender(timeout=5).send(parse_target(f"webhook:{http.base}/h"), note())

    assert len(http.posts) == 1


def test_email_sender_delivers_a_real_mail(smtp: Smtp) -> None:
    EmailSender(smtp.config).send(parse_target("Ops@Example.com"), note())

    [(mail_from, recipients, message)] = smtp.mailbox.messages
    assert mail_from == "esc@example.com"
    assert recipients == ["ops@example.com"]
    assert message["Subject"] == "[L2] High escalation ESC-0012: Acme"
    assert message["From"] == "esc@example.com"
    assert message["To"] == "ops@example.com"
    assert message["X-Sheets-Escalation-Key"] == "ESC-0012/L2/escalated"
    assert message["Message-ID"].endswith("@example.com>")
    assert message.get_content().splitlines() == [
        "Customer: Acme <!channel>",
        "Issue: charged twice",
    ]


def test_message_id_is_stable_per_key_and_recipient(smtp: Smtp) -> None:
    sender = EmailSender(smtp.config)
    sender.send(parse_target("a@example.com"), note())
    sender.send(parse_target("a@example.com"), note())
    sender.send(parse_target("b@example.com"), note())
    sender.send(parse_target("a@example.com"), note(event="escalate-due"))

    ids = [m["Message-ID"] for _, _, m in smtp.mailbox.messages]
    assert ids[0] == ids[1]
    assert len({ids[0], ids[2], ids[3]}) == 3


def test_email_sender_uses_starttls_and_login(tls_smtp: Smtp) -> None:
    EmailSender(tls_smtp.config).send(parse_target("ops@example.com"), note())

    [(mail_from, recipients, message)] = tls_smtp.mailbox.messages
    assert (mail_from, recipients) == ("esc@example.com", ["ops@example.com"])
    assert message["From"] == "Escalations <esc@example.com>"
    assert PASSWORD not in message.as_string()


def test_wrong_smtp_password_fails_without_showing_it(tls_smtp: Smtp) -> None:
    config = replace(tls_smtp.config, password="wrong-" + PASSWORD)

    with pytest.raises(NotifyError) as caught:
        EmailSender(config).send(parse_target("ops@example.com"), note())

    assert str(caught.value).startswith("email ops@example.com: SMTP 535")
    assert PASSWORD not in str(caught.value)
    assert tls_smtp.mailbox.messages == []


def test_untrusted_certificate_fails_the_send(tls_smtp: Smtp) -> None:
    config = replace(tls_smtp.config, cafile="")

    with pytest.raises(NotifyError, match="SSLCertVerificationError"):
        EmailSender(config).send(parse_target("ops@example.com"), note())


def test_unconfigured_smtp_is_a_clear_error() -> None:
    with pytest.raises(NotifyError, match=r"SMTP is not configured"):
        EmailSender(SmtpConfig()).send(parse_target("ops@example.com"), note())


def test_password_is_never_sent_over_plain_smtp_to_a_remote_host() -> None:
    config = SmtpConfig(
        host="mail.example.com", starttls=False, username="u", password="p", sender="a@b.example"
    )

    with pytest.raises(NotifyError, match="without STARTTLS"):
        EmailSender(config).send(parse_target("ops@example.com"), note())


# --- the outbox: allowlist, sent once, crashes, failures, dry run ----------------------


def test_targets_outside_the_allowlist_are_refused_and_nothing_is_sent(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    config = make_config(tmp_path, ("*@example.com",), smtp.config)
    notification = note(
        "boss@evil.test",
        f"webhook:{http.base}/x@example.com",
        f"slack:{http.base}{SECRET_PATH}",
        "call Sam",
    )

    report = outbox(config).deliver([notification], set(), NOW)

    assert http.posts == [] and smtp.mailbox.messages == []
    assert report.sent == [] and report.failed == []
    reason = "not in allowlist"
    assert [(d.row_id, d.detail, d.reason) for d in report.refused] == [
        ("ESC-0012", "email boss@evil.test", reason),
        ("ESC-0012", f"webhook 127.0.0.1:{http.port}/…/.com", reason),
        ("ESC-0012", f"slack 127.0.0.1:{http.port}/…/9xYz", reason),
        ("ESC-0012", "target call Sam", "not an email address, Slack webhook or webhook:URL"),
    ]
    assert (
        report.problems_by_row()["ESC-0012"][0]
        == f"Notify L2 email boss@evil.test refused: {reason}"
    )
    assert report.history_events() == []
    assert "SeCrEt" not in all_text(report)


def test_empty_allowlist_refuses_everything(tmp_path: Path, smtp: Smtp) -> None:
    config = make_config(tmp_path, (), smtp.config)

    report = outbox(config).deliver([note("ops@example.com")], set(), NOW)

    assert [d.status for d in report.refused] == ["refused"]
    assert smtp.mailbox.messages == []


def test_each_notification_is_sent_once_across_runs(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    config = make_config(tmp_path, ("ops@example.com", "webhook:http://127.0.0.1:*"), smtp.config)
    notifications = [note("ops@example.com", f"webhook:{http.base}/hook/one-4a2f")]

    first = outbox(config).deliver(notifications, set(), NOW)
    history = first.history_events()
    recorded = recorded_deliveries(
        {"event": event.event, "trigger": event.trigger, "detail": event.detail}
        for event in history
    )
    second = outbox(config).deliver(notifications, recorded, LATER)

    assert [event.values() for event in history] == [
        [
            NOW,
            "ESC-0012",
            "notified",
            "",
            "L2",
            "ESC-0012/L2/escalated",
            "sheets-escalation",
            "email ops@example.com",
        ],
        [
            NOW,
            "ESC-0012",
            "notified",
            "",
            "L2",
            "ESC-0012/L2/escalated",
            "sheets-escalation",
            f"webhook 127.0.0.1:{http.port}/…/4a2f",
        ],
    ]
    assert second.sent == second.failed == second.refused == []
    assert len(smtp.mailbox.messages) == 1 and len(http.posts) == 1


def test_crash_between_send_and_history_record_does_not_resend(
    tmp_path: Path, http: Recorder
) -> None:
    config = make_config(tmp_path, ("webhook:http://127.0.0.1:*",))
    notifications = [note(f"webhook:{http.base}/hook")]

    first = outbox(config).deliver(notifications, set(), NOW)
    # The run dies here, before History is written: the next run starts from nothing.
    second = outbox(config).deliver(notifications, set(), LATER)

    assert len(http.posts) == 1
    assert [d.recovered for d in second.sent] == [True]
    assert second.history_events() == first.history_events()  # At is the real send time
    recorded = {(d.dedup_key, d.detail) for d in second.sent}
    third = outbox(config).deliver(notifications, recorded, LATER)
    assert third.sent == [] and len(http.posts) == 1


def test_journaled_send_is_recorded_even_if_the_row_no_longer_asks_for_it(
    tmp_path: Path, http: Recorder
) -> None:
    config = make_config(tmp_path, ("webhook:http://127.0.0.1:*",))
    outbox(config).deliver([note(f"webhook:{http.base}/hook")], set(), NOW)

    report = outbox(config).deliver([], set(), LATER)

    assert [(d.dedup_key, d.status, d.at) for d in report.sent] == [
        ("ESC-0012/L2/escalated", "sent", NOW)
    ]


class CrashAfterSend:
    """Sends for real, then dies before the outbox can journal the send."""

    def __init__(self, sender: WebhookSender) -> None:
        self.sender = sender

    def send(self, target: Target, notification: Notification) -> None:
        self.sender.send(target, notification)
        raise KeyboardInterrupt


def test_crash_between_send_and_journal_repeats_exactly_once(
    tmp_path: Path, http: Recorder
) -> None:
    config = make_config(tmp_path, ("webhook:http://127.0.0.1:*",))
    notifications = [note(f"webhook:{http.base}/hook")]

    with pytest.raises(KeyboardInterrupt):
        outbox(config, senders={"webhook": CrashAfterSend(WebhookSender(timeout=5))}).deliver(
            notifications, set(), NOW
        )
    second = outbox(config).deliver(notifications, set(), LATER)
    third = outbox(config).deliver(notifications, set(), LATER)

    assert len(http.accepted()) == 2
    assert [d.recovered for d in second.sent] == [False]
    assert [d.recovered for d in third.sent] == [True]


def test_torn_journal_line_repeats_that_send_once_and_keeps_later_entries(
    tmp_path: Path, http: Recorder
) -> None:
    config = make_config(tmp_path, ("webhook:http://127.0.0.1:*",))
    journal = config.journal_path("escalations.xlsx")
    outbox(config).deliver([note(f"webhook:{http.base}/a", row_id="ESC-0001")], set(), NOW)
    journal.write_bytes(journal.read_bytes()[:-20])  # the crash cut the line short

    outbox(config).deliver(
        [
            note(f"webhook:{http.base}/a", row_id="ESC-0001"),
            note(f"webhook:{http.base}/b", row_id="ESC-0002"),
        ],
        set(),
        LATER,
    )
    third = outbox(config).deliver([], set(), LATER)

    assert [p["path"] for p in http.posts] == ["/a", "/a", "/b"]
    assert sorted(d.row_id for d in third.sent) == ["ESC-0001", "ESC-0002"]


def test_failed_send_is_reported_and_retried_next_run(tmp_path: Path, http: Recorder) -> None:
    config = make_config(tmp_path, ("webhook:http://127.0.0.1:*",))
    http.statuses = [500]
    notifications = [
        note(f"webhook:{http.base}/hook"),
        note(f"webhook:{http.base}/other", row_id="ESC-0013"),
    ]

    first = outbox(config).deliver(notifications, set(), NOW)
    second = outbox(config).deliver(
        notifications, {(d.dedup_key, d.detail) for d in first.sent}, LATER
    )

    assert [(d.row_id, d.reason) for d in first.failed] == [
        ("ESC-0012", f"webhook 127.0.0.1:{http.port}/…: HTTP 500 ok"),
    ]
    assert [d.row_id for d in first.sent] == ["ESC-0013"]  # one failure does not stop the rest
    assert "failed, will retry next run" in first.lines()[-1]
    assert [(d.row_id, d.recovered) for d in second.sent] == [("ESC-0012", False)]
    assert [p["path"] for p in http.accepted()] == ["/other", "/hook"]


def test_only_the_failed_target_of_a_notification_is_retried(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    config = make_config(tmp_path, ("ops@example.com", "webhook:http://127.0.0.1:*"), smtp.config)
    http.statuses = [503]
    notifications = [note("ops@example.com", f"webhook:{http.base}/hook")]

    first = outbox(config).deliver(notifications, set(), NOW)
    recorded = {(d.dedup_key, d.detail) for d in first.sent}
    second = outbox(config).deliver(notifications, recorded, LATER)

    assert [d.channel for d in first.sent] == ["email"] and [d.channel for d in first.failed] == [
        "webhook"
    ]
    assert [d.channel for d in second.sent] == ["webhook"]
    assert len(smtp.mailbox.messages) == 1
    assert len(http.accepted()) == 1


def test_server_down_is_a_failure_not_a_crash(tmp_path: Path, smtp: Smtp) -> None:
    down = replace(smtp.config, port=free_port())
    config = make_config(tmp_path, ("ops@example.com",), down)

    report = outbox(config).deliver([note("ops@example.com")], set(), NOW)

    assert [d.reason for d in report.failed] == [
        "email ops@example.com: ConnectionRefusedError: [Errno 111] Connection refused"
    ]


def test_secrets_never_reach_reports_history_journal_or_errors(
    tmp_path: Path, http: Recorder, tls_smtp: Smtp
) -> None:
    wrong = replace(tls_smtp.config, password="wrong-" + PASSWORD)
    config = make_config(tmp_path, ("*@example.com", f"slack:{http.base}/*"), wrong)
    http.statuses = [500]
    http.echo_path = True
    notifications = [note("ops@example.com", f"slack:{http.base}{SECRET_PATH}")]

    failing = outbox(config).deliver(notifications, set(), NOW)
    working = outbox(config).deliver(notifications, set(), LATER)

    assert len(failing.failed) == 2
    text = all_text(failing, working) + config.journal_path("escalations.xlsx").read_text()
    assert PASSWORD not in text
    assert "SeCrEt" not in text and SECRET_PATH not in text
    assert f"slack 127.0.0.1:{http.port}/…/9xYz" in text


def test_same_target_twice_is_sent_once(tmp_path: Path, http: Recorder) -> None:
    config = make_config(tmp_path, ("webhook:http://127.0.0.1:*",))
    target = f"webhook:{http.base}/hook"

    report = outbox(config).deliver([note(target, f" {target} "), note(target)], set(), NOW)

    assert len(report.sent) == 1 and len(http.posts) == 1


def test_dry_run_sends_nothing_and_writes_no_journal(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    config = make_config(tmp_path, ("ops@example.com",), smtp.config)

    report = outbox(config, dry_run=True).deliver(
        [note("ops@example.com", f"webhook:{http.base}/x")], set(), NOW
    )

    assert [str(d) for d in report.planned] == [
        "ESC-0012/L2/escalated -> email ops@example.com: would send"
    ]
    assert [d.status for d in report.refused] == ["refused"]
    assert report.sent == [] and http.posts == [] and smtp.mailbox.messages == []
    assert not config.state_dir.exists()


def test_old_journal_entries_are_pruned_once_history_has_them(
    tmp_path: Path, http: Recorder
) -> None:
    config = make_config(tmp_path, ("webhook:http://127.0.0.1:*",))
    journal = config.journal_path("escalations.xlsx")
    old = NOW - dt.timedelta(days=200)
    a, b = (
        note(f"webhook:{http.base}/a", row_id="ESC-0001"),
        note(f"webhook:{http.base}/b", row_id="ESC-0002"),
    )
    sent = outbox(config).deliver([a, b], set(), old).sent
    recorded_a = {(d.dedup_key, d.detail) for d in sent if d.row_id == "ESC-0001"}

    outbox(config).deliver([], recorded_a, NOW)

    lines = journal.read_text().splitlines()
    assert [json.loads(line)["row_id"] for line in lines] == ["ESC-0002"]
    assert all("SeCrEt" not in line for line in lines)


def test_unwritable_journal_stops_delivery_after_the_send(
    tmp_path: Path, http: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(tmp_path, ("webhook:http://127.0.0.1:*",))

    def disk_full(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    notifications = [note(f"webhook:{http.base}/a"), note(f"webhook:{http.base}/b", row_id="X")]

    with pytest.raises(JournalError, match="sent ESC-0012/L2/escalated but cannot write") as caught:
        outbox(config).deliver(notifications, set(), NOW)

    assert isinstance(caught.value, EscalationError)
    assert [p["path"] for p in http.posts] == ["/a"]


def test_delivery_lines_read_well() -> None:
    delivery = Delivery(
        "ESC-1/L3/overdue:response",
        "ESC-1",
        "L3",
        "overdue:response",
        "email",
        "a@b.example",
        "sent",
        NOW,
    )

    assert str(delivery) == "ESC-1/L3/overdue:response -> email a@b.example: sent"
