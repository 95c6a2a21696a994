"""Shared fixtures. Sockets are blocked except loopback (pytest-socket, see pyproject)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

UTC = dt.UTC


@pytest.fixture
def tmp_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path
