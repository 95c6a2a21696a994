"""The init job: lay the template out in a new .xlsx, or add what the template has and a
workbook lacks to an existing .xlsx/.xlsm or a Google Sheet. Never overwrites a tab or
cell that is there. A new workbook's Settings take this machine's time zone and date
order. With ``dry_run`` everything is worked out and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sheets_escalation.adapters.machine import machine_locale, machine_timezone
from sheets_escalation.adapters.sources import parse_source_key
from sheets_escalation.core import schema
from sheets_escalation.core.errors import UsageError
from sheets_escalation.core.layout import date_order_for_locale


class NotASheetError(UsageError):
    """--sheet names no Google Sheet (neither a Sheets URL nor a key)."""


@dataclass(frozen=True)
class InitResult:
    """What init did to one workbook (or, in a dry run, would do).

    ``target`` is the .xlsx path or the Google Sheet's key; ``added`` the tabs (and cells)
    created; ``created`` is true when a new .xlsx was made. ``timezone`` and ``date_order``
    are the machine's, put in Settings when ``machine_settings`` is true.
    """

    target: str
    google: bool
    created: bool
    added: list[str]
    timezone: str | None
    date_order: str | None
    machine_settings: bool
    dry_run: bool


def run_init(path: str, sheet: str | None, *, credentials: str | None, oauth: bool,
             allow_lossy: bool, ignore_open: bool, dry_run: bool) -> InitResult:
    """Given init's PATH, --sheet and options, lay the template out in the Google Sheet
    they name (:func:`init_google`) or in the .xlsx at PATH (:func:`init_workbook`) and
    return what was added. Raise NotASheetError if --sheet names no Google Sheet."""
    key = google_key(path, sheet)
    if key is not None:
        return init_google(key, credentials, oauth, dry_run)
    return init_workbook(path, allow_lossy, ignore_open, dry_run)


def google_key(path: str, sheet: str | None) -> str | None:
    """Given init's PATH and --sheet, return the key of the Google Sheet to lay out, or
    None when PATH is an .xlsx to create or complete. Raise NotASheetError if --sheet is
    neither a Google Sheets URL nor a key."""
    if sheet is None and not path.lower().endswith((".xlsx", ".xlsm")) \
            and parse_source_key(path) is not None:
        sheet = path
    if not sheet:
        return None
    key = parse_source_key(sheet)
    if key is None:
        raise NotASheetError(f'"{sheet}" is not a Google Sheets URL or key')
    return key


def init_google(key: str, credentials: str | None, oauth: bool,
                dry_run: bool) -> InitResult:
    """Given a Google Sheet's key and how to sign in, add the template tabs it lacks and
    return what was added."""
    from sheets_escalation.adapters.gsheets.http import open_client
    from sheets_escalation.adapters.gsheets.init import init_sheet

    created = init_sheet(open_client(credentials, oauth), key, dry_run=dry_run)
    return InitResult(key, google=True, created=False, added=created, timezone=None,
                      date_order=None, machine_settings=False, dry_run=dry_run)


def init_workbook(path: str, allow_lossy: bool, ignore_open: bool,
                  dry_run: bool) -> InitResult:
    """Given an .xlsx path, create the workbook there from the template, or complete the
    one that exists, and return what was created or added. Raise UsageError if the path
    exists and is not an .xlsx or .xlsm workbook."""
    from sheets_escalation.adapters.xlsx.template import complete_workbook, init_xlsx

    timezone = machine_timezone()
    date_order = date_order_for_locale(machine_locale())
    machine = {"Timezone": timezone, "Date order": date_order}
    if Path(path).exists():
        from sheets_escalation.adapters.xlsx.backend import XlsxBackend
        if not path.lower().endswith((".xlsx", ".xlsm")):
            raise UsageError(f"{path} exists and is not an .xlsx or .xlsm workbook; "
                             "init only adds to workbooks")
        backend = XlsxBackend(Path(path), allow_lossy=allow_lossy, ignore_open=ignore_open,
                              dry_run=dry_run)
        with backend.lock():
            added = backend.complete(lambda workbook: complete_workbook(workbook, machine))
        return InitResult(path, google=False, created=False, added=added,
                          timezone=timezone, date_order=date_order,
                          machine_settings=any(what.startswith(f"tab {schema.SETTINGS}")
                                               for what in added),
                          dry_run=dry_run)
    tabs = init_xlsx(Path(path), machine, dry_run=dry_run)
    return InitResult(path, google=False, created=True, added=tabs, timezone=timezone,
                      date_order=date_order, machine_settings=True, dry_run=dry_run)
