"""Real servers on loopback for notification tests: an HTTP server that records Slack and
webhook posts, and an SMTP server (aiosmtpd) that keeps the mail it receives.

They are context managers rather than fixtures so each test module declares its own
fixtures (pytest fixtures imported across modules trip ruff's redefinition check).
"""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from sheets_escalation.adapters.config import SmtpConfig

PROXY_VARIABLES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                   "all_proxy")


def clear_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests would send loopback posts to a proxy configured in the environment."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@dataclass
class Recorder:
    """What the HTTP server received; ``statuses`` are answered in order, then 200."""

    port: int = 0
    posts: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    echo_path: bool = False

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def accepted(self, path: str | None = None) -> list[dict[str, Any]]:
        return [p for p in self.posts if p["status"] == 200 and path in (None, p["path"])]


class _Handler(BaseHTTPRequestHandler):
    server: _RecordingServer

    def do_POST(self) -> None:
        recorder = self.server.recorder
        data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = recorder.statuses.pop(0) if recorder.statuses else 200
        recorder.posts.append(
            {"path": self.path, "headers": dict(self.headers), "json": data, "status": status}
        )
        answer = (f"no such hook {self.path}" if recorder.echo_path else "ok").encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _RecordingServer(ThreadingHTTPServer):
    recorder: Recorder


@contextmanager
def _serving(server: ThreadingHTTPServer) -> Iterator[None]:
    """Serve ``server`` from a background thread until the block ends."""
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def recording_server() -> Iterator[Recorder]:
    """Run an HTTP server on a free loopback port; yield what it records."""
    server = _RecordingServer(("127.0.0.1", 0), _Handler)
    server.recorder = Recorder(port=server.server_address[1])
    with _serving(server):
        yield server.recorder


class MailBox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Smtp:
    mailbox: MailBox
    config: SmtpConfig


@contextmanager
def smtp_server() -> Iterator[Smtp]:
    """Run a plain SMTP server on a free loopback port; yield its mailbox and settings."""
    mailbox = MailBox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Smtp(
            mailbox,
            SmtpConfig(host="127.0.0.1", port=port, starttls=False, sender="esc@example.com"),
        )
    finally:
        controller.stop()


@dataclass
class Pings:
    """What the ping server received: (path, body) in order. Paths listed in ``hang`` are
    answered only after ``hang_seconds`` (a monitor that does not answer in time)."""

    port: int = 0
    received: list[tuple[str, str]] = field(default_factory=list)
    hang: set[str] = field(default_factory=set)
    hang_seconds: float = 3.0
    status: int = 200

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class _PingHandler(BaseHTTPRequestHandler):
    server: _PingServer

    def do_POST(self) -> None:
        pings = self.server.pings
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode("utf-8")
        pings.received.append((self.path, body))
        if self.path in pings.hang:
            threading.Event().wait(pings.hang_seconds)
        self.send_response(pings.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, format: str, *args: Any) -> None:
        return


class _PingServer(ThreadingHTTPServer):
    pings: Pings
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A hanging answer finds the tool gone (it timed out, as the test wants); the
        # default handler would print that to whatever test owns stderr seconds later.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@contextmanager
def ping_server() -> Iterator[Pings]:
    """Run a healthchecks-like ping endpoint on a free loopback port; yield what it gets."""
    server = _PingServer(("127.0.0.1", 0), _PingHandler)
    server.pings = Pings(port=server.server_address[1])
    with _serving(server):
        yield server.pings


def crash_after_first_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the first webhook send kill the process right after the post went out, before
    the journal line is written (the crash between sending and recording)."""
    from sheets_escalation.adapters.notify.senders import WebhookSender

    real_send = WebhookSender.send
    crashes: list[int] = []

    def killed_after_first_send(self: WebhookSender, target: Any, notification: Any) -> None:
        real_send(self, target, notification)
        if not crashes:
            crashes.append(1)
            raise KeyboardInterrupt  # the process dies before the journal line is written

    monkeypatch.setattr(WebhookSender, "send", killed_after_first_send)
