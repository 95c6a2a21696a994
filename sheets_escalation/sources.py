"""SOURCE argument -> backend (SPEC §2): a Google Sheets URL or key, else a local .xlsx."""

from __future__ import annotations

from pathlib import Path

from sheets_escalation.backends.base import Backend

DEFAULT_SOURCE = "escalations.xlsx"


def open_source(
    source: str | None,
    *,
    credentials: str | None = None,
    oauth: bool = False,
    allow_lossy: bool = False,
) -> Backend:
    """Given the SOURCE argument, return its backend. Raise SourceError if unusable."""
    from sheets_escalation.backends.gsheets import parse_source_key

    text = source or DEFAULT_SOURCE
    key = None if text.lower().endswith((".xlsx", ".xlsm")) else parse_source_key(text)
    if key is not None:
        from sheets_escalation.backends.gsheets import GoogleSheetsBackend, open_client

        return GoogleSheetsBackend(key, open_client(credentials, oauth))
    from sheets_escalation.backends.xlsx import XlsxBackend

    return XlsxBackend(Path(text), allow_lossy=allow_lossy)


def source_id(backend: Backend) -> str:
    """Given a backend, return a stable identifier of its workbook (absolute path or key),
    used to keep per-workbook local state such as the notification journal apart."""
    path = getattr(backend, "path", None)
    if path is not None:
        return str(Path(path).resolve())
    return str(getattr(backend, "key", backend.name))
