"""SOURCE argument -> backend (SPEC §2): a Google Sheets URL or key, else a local .xlsx."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

from sheets_escalation.core.errors import SourceError
from sheets_escalation.core.table import Backend

DEFAULT_SOURCE = "escalations.xlsx"
_URL_KEY = re.compile(r"docs\.google\.com/spreadsheets/d/([A-Za-z0-9_-]+)")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]{25,}")
_URL = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def parse_source_key(source: str) -> str | None:
    """Given a SOURCE argument, return its spreadsheet key, or None if it is a local path.

    Accepts ``https://docs.google.com/spreadsheets/d/KEY/...`` and a bare key (25 or more
    letters, digits, ``-`` or ``_``, and no path separator or dot). Kept apart from the
    Google backend so a local run never imports gspread. Raise SourceError for any other
    URL (a Google Doc, a Drive file link): it is no local path either.
    """
    match = _URL_KEY.search(source)
    if match:
        return match.group(1)
    if _URL.match(source):
        if "drive.google.com" in source:
            raise SourceError(
                f"{source} is a Google Drive file link, not a Google Sheet: open the file in"
                " Google Sheets (an uploaded .xlsx: File > Save as Google Sheets) and use"
                " the address it shows, https://docs.google.com/spreadsheets/d/…"
            )
        raise SourceError(
            f"{source} is not a Google Sheets URL: expected"
            " https://docs.google.com/spreadsheets/d/… (or a local .xlsx path)"
        )
    if _BARE_KEY.fullmatch(source):
        return source
    return None


def open_source(
    source: str | None,
    *,
    credentials: str | None = None,
    oauth: bool = False,
    allow_lossy: bool = False,
    ignore_open: bool = False,
    warn: Callable[[str], None] | None = None,
) -> Backend:
    """Given the SOURCE argument, return its backend. Raise SourceError if unusable.
    ``warn`` receives advice that does not stop the run (a key file others can read)."""
    text = source or DEFAULT_SOURCE
    key = None if text.lower().endswith((".xlsx", ".xlsm")) else parse_source_key(text)
    if key is not None:
        from sheets_escalation.adapters.gsheets.backend import GoogleSheetsBackend
        from sheets_escalation.adapters.gsheets.http import open_client

        secret = credentials or (None if oauth else os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"))
        for message in insecure_credentials(secret, oauth):
            if warn is not None:
                warn(message)
        return GoogleSheetsBackend(key, open_client(credentials, oauth))
    from sheets_escalation.adapters.xlsx.backend import XlsxBackend

    return XlsxBackend(Path(text), allow_lossy=allow_lossy, ignore_open=ignore_open)


def source_id(backend: Backend) -> str:
    """Given a backend, return a stable identifier of its workbook (absolute path or key),
    used to keep per-workbook local state such as the notification journal apart."""
    path = getattr(backend, "path", None)
    if path is not None:
        return str(Path(path).resolve())
    return str(getattr(backend, "key", backend.name))


def source_identity(source: str | None) -> str:
    """Given the SOURCE argument, return what :func:`source_id` returns for its backend,
    without opening it (``status`` reads local state only, with no credentials)."""
    text = source or DEFAULT_SOURCE
    key = None if text.lower().endswith((".xlsx", ".xlsm")) else parse_source_key(text)
    return key if key is not None else str(Path(text).resolve())


def insecure_credentials(credentials: str | None, oauth: bool) -> list[str]:
    """Given the credentials in use, return a warning for each secret file that users other
    than its owner can read (a service-account key, or gspread's cached OAuth token)."""
    paths = [Path(credentials)] if credentials else []
    if oauth:
        paths.append(Path.home() / ".config" / "gspread" / "authorized_user.json")
    warnings = []
    for path in paths:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(f"{path} holds a Google secret and is readable by other users; "
                            f"run: chmod 600 {path}")
    return warnings
