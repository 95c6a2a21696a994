"""The pytest fixtures every test module may ask for by name. Sockets are blocked except
loopback (pytest-socket, see pyproject). The helpers behind them live in tests/fixtures.py;
``fake`` is the fake Sheets API with the CLI pointed at it (a module may define its own)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import fake  # noqa: F401  (a fixture, found by name)
from tests.servers import Recorder, Smtp, clear_proxies, recording_server, smtp_server

UTC = dt.UTC


@pytest.fixture
def tmp_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback servers must be reached directly, whatever proxy the machine sets."""
    clear_proxies(monkeypatch)


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sync records its run in the state directory: keep that out of the real home."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def http() -> Iterator[Recorder]:
    """A real HTTP server on loopback that records every post (webhooks, Slack)."""
    with recording_server() as recorder:
        yield recorder


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    """A real SMTP server (aiosmtpd) on loopback that keeps every message."""
    with smtp_server() as server:
        yield server
