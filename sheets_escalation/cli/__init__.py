"""Command line: parses options, calls the library, turns domain errors into exit codes.

The cli package is the only one importing click: the group and its commands are here, the
options they share in :mod:`sheets_escalation.cli.options`, what they print in
:mod:`sheets_escalation.cli.output`. Exit 0: done (flagged rows are not failures); 1: the run
failed (source unreachable, lock held, a concurrent edit); 2: usage, policy or config error.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

import click
import pandas as pd

from sheets_escalation import __version__
from sheets_escalation.adapters.sources import DEFAULT_SOURCE
from sheets_escalation.cli.options import (
    check_export_folder,
    config_option,
    credentials_option,
    handle_errors,
    ignore_open_option,
    load_local_config,
    lossy_option,
    now_option,
    oauth_option,
    open_source,
    open_source_warned,
    parse_now,
    source_and_id,
    source_argument,
)
from sheets_escalation.cli.output import echo, plural, print_report, print_review
from sheets_escalation.core.errors import ConfigError

DEMO_FILE = "escalations-demo.xlsx"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sheets-escalation")
def cli() -> None:
    """Evaluate a support escalation policy kept in a spreadsheet.

    SOURCE is a local .xlsx (default ./escalations.xlsx), a Google Sheets URL or a bare
    spreadsheet key.

    \b
    Example:
      sheets-escalation init escalations.xlsx
      sheets-escalation sync escalations.xlsx
    """


@cli.command()
@click.argument("path", required=False, default=DEFAULT_SOURCE)
@click.option("--sheet", "sheet", metavar="URL",
              help="Lay out this existing Google Sheet (same as giving its URL as "
              "PATH).")
@click.option("--dry-run", is_flag=True, help="Show what would be added; write nothing.")
@credentials_option
@oauth_option
@lossy_option
@ignore_open_option
@handle_errors
def init(path: str, sheet: str | None, dry_run: bool, credentials: str | None, oauth: bool,
         allow_lossy: bool, ignore_open: bool) -> None:
    """Create a new workbook from the template at a new .xlsx path, or add what the
    template has and a workbook lacks (template tabs, the staleness indicator, the Settings
    row Stale after) to an existing .xlsx/.xlsm or a Google Sheet given by URL or key.
    Never overwrites a file's existing tab or cell; prints what it added.

    \b
    Example:
      sheets-escalation init escalations.xlsx
      sheets-escalation init https://docs.google.com/spreadsheets/d/KEY/edit
    """
    from sheets_escalation.jobs.init import NotASheetError, run_init

    try:
        result = run_init(path, sheet, credentials=credentials, oauth=oauth,
                          allow_lossy=allow_lossy, ignore_open=ignore_open, dry_run=dry_run)
    except NotASheetError as error:
        raise click.BadParameter(str(error)) from error
    if dry_run:
        echo("dry run, nothing written")
    if result.google:
        echo(f"{'would lay out' if dry_run else 'laid out'} sheet {result.target}: "
             + (", ".join(result.added) or "nothing to add"))
    elif result.created:
        echo(f"{'would create' if dry_run else 'created'} {path} with tabs: "
             f"{', '.join(result.added)}")
    else:
        echo(f"{'would add' if dry_run else 'added'} to {path}: {', '.join(result.added)}"
             if result.added else f"{path}: nothing to add")
    if result.machine_settings:
        first = "day-first" if result.date_order == "DMY" else "month-first"
        echo(f"Timezone {result.timezone}, dates {first} ({result.date_order}) — change them "
             "in Settings.")


@cli.command()
@source_argument
@now_option
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@credentials_option
@oauth_option
@handle_errors
def check(source: str, now_text: str | None, as_json: bool, credentials: str | None,
          oauth: bool) -> None:
    """Validate the policy tabs, headers and every row in one pass; list every problem with
    its tab and cell.

    Exit 2 if anything would stop a sync (policy, headers, Templates). Problems in
    individual rows are listed too, but do not fail the check (sync reports them in each
    row's Problems column).

    \b
    Example:
      sheets-escalation check escalations.xlsx
      sheets-escalation check escalations.xlsx --json
    """
    from sheets_escalation.jobs.check import check_workbook

    backend = open_source_warned(source, credentials=credentials, oauth=oauth)
    report = check_workbook(backend, parse_now(now_text))
    if as_json:
        echo(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
        if report.fatal:
            sys.exit(2)
        return
    for note in report.notes:
        echo(f"note: {note}")
    for problem in report.cells:
        echo(str(problem))
    if report.fatal:
        echo("error: the workbook's policy or headers need fixing:", err=True)
        for problem in report.fatal:
            echo(f"  {problem}", err=True)
        echo("nothing was written.", err=True)
        sys.exit(2)
    assert report.workbook is not None  # no fatal problem: the workbook was evaluated
    policy = report.workbook.policy
    count = len(report.cells)
    echo(f"policy OK: {plural(len(policy.levels), 'level')}, "
               f"{plural(len(policy.active_triggers), 'active trigger')}, timezone "
               f"{policy.timezone}; {plural(len(report.workbook.log), 'row')}, "
               f"{plural(count, 'cell problem')}.")
    access = _google_access(backend)
    if access:
        echo(access)


def _google_access(backend: Any) -> str | None:
    """For a Google Sheet, who Google sees and whether it may write (``check``)."""
    gsheets = sys.modules.get("sheets_escalation.adapters.gsheets.backend")
    if gsheets is None or not isinstance(backend, gsheets.GoogleSheetsBackend):
        return None  # a local workbook: gspread was never imported
    account = backend.account()
    if backend.can_write():
        return f"Google account: {account}; it can edit the sheet."
    return (f"Google account: {account}; it can only view the sheet: share it with {account}"
            " as Editor, or sync cannot write.")


@cli.command()
@source_argument
@now_option
@click.option("--dry-run", is_flag=True, help="Show what would change, row by row; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.option("--quiet", is_flag=True, help="Print nothing unless something fails.")
@click.option("--log-file", type=click.Path(dir_okay=False),
              help="Append one JSON line per run to FILE, rotated by size (default: [log] "
              "file in the config).")
@credentials_option
@oauth_option
@lossy_option
@ignore_open_option
@config_option
@handle_errors
def sync(source: str, now_text: str | None, dry_run: bool, as_json: bool, quiet: bool,
         log_file: str | None, credentials: str | None, oauth: bool, allow_lossy: bool, ignore_open: bool,
         config_path: str | None) -> None:
    """Evaluate the policy, flag rows, apply automatic escalations, write back.

    Every real run is recorded for `status`, appended to the log file if one is set, and
    pinged to [monitor] ping_url if one is set (start, then success or fail).

    \b
    Example (hourly from cron):
      0 * * * * cd /srv/support && sheets-escalation sync escalations.xlsx --quiet
    """
    import dataclasses
    import datetime as dt
    import time

    from sheets_escalation.adapters.sources import source_identity
    from sheets_escalation.core.errors import EscalationError
    from sheets_escalation.jobs.senders import make_outbox
    from sheets_escalation.jobs.sync import run_sync
    from sheets_escalation.jobs.watch import Watch

    now = parse_now(now_text)
    config = load_local_config(config_path)
    warnings = list(config.warnings)

    def warn(message: str) -> None:
        warnings.append(message)
        echo(f"warning: {message}", err=True)

    log = config.log if log_file is None else dataclasses.replace(
        config.log, file=Path(log_file).expanduser())
    identity = source_identity(source)
    watch = None if dry_run else Watch(
        config, source or DEFAULT_SOURCE, config.runs_path(identity), log, warn,
        clock=lambda: dt.datetime.now(dt.UTC), timer=time.monotonic)
    if watch is not None:
        watch.start()
    try:
        backend = open_source(source, warn, credentials=credentials, oauth=oauth,
                              allow_lossy=allow_lossy, ignore_open=ignore_open)
        outbox = make_outbox(config, backend, dry_run)
        report = run_sync(backend, now, dry_run=dry_run, outbox=outbox)
    except ConfigError as error:
        if watch is not None:
            more = len(error.problems) - 1
            watch.finish(error.exit_code, warnings=warnings, error=(
                f"the workbook's policy or headers need fixing: {error.problems[0]}"
                + (f" (and {more} more)" if more > 0 else "")))
        raise
    except EscalationError as error:
        if watch is not None:
            watch.finish(error.exit_code, error=str(error), warnings=warnings)
        raise
    except Exception as error:
        if watch is not None:
            watch.finish(1, error=f"internal error: {type(error).__name__}: {error}",
                         warnings=warnings)
        raise
    if watch is not None:
        watch.finish(0, report=report, warnings=[*warnings, *report.notes])
    if as_json:
        echo(json.dumps(report.as_json(), indent=2, default=str))
        return
    print_report(report, quiet)


@cli.command()
@source_argument
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable status.")
@click.option("--stale-after", default="2 hours", show_default=True, metavar="DURATION",
              help="A last run older than this is stale (minutes, hours or days).")
@click.option("--now", "now_text", metavar="ISO",
              help="Judge the age as of this time (ISO 8601; without a zone: UTC).")
@config_option
@handle_errors
def status(source: str, as_json: bool, stale_after: str, now_text: str | None,
           config_path: str | None) -> None:
    """Show how the hourly sync of SOURCE has been doing on this machine: the last run and
    its age, the outcome of the last runs, open rows by flag and notifications pending
    retry. Reads only the local records that sync keeps; never opens the workbook.

    Exit 1 when the last run failed, is older than --stale-after, or there is none, so a
    monitoring probe can run it as it is.

    \b
    Example:
      sheets-escalation status escalations.xlsx --stale-after "90 minutes"
    """
    import datetime as dt

    from sheets_escalation.adapters.monitor import read_runs
    from sheets_escalation.adapters.sources import source_identity
    from sheets_escalation.core.clock import parse_duration
    from sheets_escalation.jobs.watch import Status

    try:
        duration = parse_duration(stale_after)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--stale-after'") from error
    if duration.is_business:
        raise click.BadParameter("business time cannot say whether a job that runs around "
                                 "the clock has stopped; use minutes, hours or days",
                                 param_hint="'--stale-after'")
    hours = {"minute": 1 / 60, "hour": 1.0, "day": 24.0}[duration.unit]
    now = parse_now(now_text).to_pydatetime()
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    config = load_local_config(config_path)
    runs = read_runs(config.runs_path(source_identity(source)))
    report = Status(source or DEFAULT_SOURCE, now, runs,
                    dt.timedelta(hours=duration.amount * hours))
    if as_json:
        echo(json.dumps(report.as_json(), indent=2, default=str))
    else:
        for line in report.lines():
            echo(line)
    if report.problem:
        sys.exit(1)


@cli.command()
@click.argument("source", metavar="[SOURCE]", required=False)
@click.argument("identifier", metavar="ID", required=False)
@click.option("--to", "to_text", required=True, metavar="L2|L3",
              help="The level to escalate to.")
@click.option("--handler", help="Who owns the row at the new level.")
@click.option("--note", help="Why (recorded in History).")
@click.option("--force", is_flag=True, help="Escalate even if Required info is missing.")
@now_option
@click.option("--dry-run", is_flag=True, help="Show what would change; write and send nothing.")
@credentials_option
@oauth_option
@lossy_option
@ignore_open_option
@config_option
@handle_errors
def escalate(source: str | None, identifier: str | None, to_text: str, handler: str | None,
             note: str | None, force: bool, now_text: str | None, dry_run: bool,
             credentials: str | None, oauth: bool, allow_lossy: bool, ignore_open: bool,
             config_path: str | None) -> None:
    """Hand a row up to L2 or L3: set Level, Escalated at and Handler, record it in
    History and notify the new level. Refuses (exit 1) if Required info is missing,
    unless --force; never lowers a level.

    \b
    Example:
      sheets-escalation escalate escalations.xlsx ESC-0012 --to L2 --handler "Sam" \\
          --note "refund above L1 authority"
    """
    from sheets_escalation.core.levels import level_number
    from sheets_escalation.jobs.escalate import run_escalate
    from sheets_escalation.jobs.senders import make_outbox

    source, identifier = source_and_id(source, identifier)
    to_level = level_number(to_text)
    if to_level is None or to_level < 2:
        raise click.BadParameter(f'"{to_text}" is not L2 or L3', param_hint="'--to'")
    backend = open_source_warned(source, credentials=credentials, oauth=oauth,
                          allow_lossy=allow_lossy, ignore_open=ignore_open)
    outbox = make_outbox(load_local_config(config_path), backend, dry_run)
    report = run_escalate(backend, parse_now(now_text), identifier, to_level,
                          handler=handler, note=note, force=force, outbox=outbox,
                          dry_run=dry_run,
                          by=handler or os.environ.get("USER") or "escalate command")
    event = next(e for e in report.escalated if e.trigger == "manual")
    verb = "would escalate" if dry_run else "escalated"
    echo(f"{verb} {event.id} {event.from_level} -> {event.to_level}"
               + (f" (handler {handler})" if handler else ""))
    if report.delivery is not None:
        for line in report.delivery.lines():
            echo(f"notify {line}")


@cli.command()
@click.argument("source", metavar="[SOURCE]", required=False)
@click.argument("identifier", metavar="ID", required=False)
@click.option("--template", "name", default="customer", show_default=True,
              help="Template name from the Templates tab (defaults: customer, internal).")
@click.option("--level", "level_text", type=click.Choice(["L1", "L2", "L3"],
              case_sensitive=False),
              help="Level the message is about (default: the target level, else the row's).")
@now_option
@credentials_option
@oauth_option
@handle_errors
def message(source: str | None, identifier: str | None, name: str, level_text: str | None,
            now_text: str | None, credentials: str | None, oauth: bool) -> None:
    """Render a message template for one row (prints it; writes nothing).

    \b
    Example:
      sheets-escalation message escalations.xlsx ESC-0012 --template customer
    """
    from sheets_escalation.jobs.message import NoTemplateError, render_message

    source, identifier = source_and_id(source, identifier)
    now = parse_now(now_text)
    backend = open_source_warned(source, credentials=credentials, oauth=oauth)
    try:
        subject, body = render_message(backend, now, identifier, name,
                                       int(level_text[1]) if level_text else None)
    except NoTemplateError as error:
        raise click.BadParameter(str(error), param_hint="'--template'") from error
    echo(f"Subject: {subject}\n\n{body}")


@cli.command()
@source_argument
@click.option("--month", metavar="MONTH",
              help="YYYY-MM, previous (or last) or current, in the Settings timezone "
              "(default: previous, the last full month).")
@click.option("--export", "export_path", type=click.Path(dir_okay=False),
              help="Also write the review to FILE (.xlsx, .html, .md, .csv or .pdf).")
@click.option("--no-tab", is_flag=True, help="Only export; do not write the review tab.")
@click.option("--send", is_flag=True,
              help="Deliver the review to the stakeholders of the local config "
              "([review] send_to), once per month each.")
@click.option("--resend", is_flag=True,
              help="Deliver it again even to stakeholders who already have it (implies --send).")
@click.option("--dry-run", is_flag=True,
              help="Show what would be written and sent where; write and send nothing.")
@click.option("--quiet", is_flag=True, help="Print nothing unless something fails.")
@now_option
@credentials_option
@oauth_option
@lossy_option
@ignore_open_option
@config_option
@handle_errors
def review(source: str, month: str | None, export_path: str | None, no_tab: bool, send: bool,
           resend: bool, dry_run: bool, quiet: bool, now_text: str | None,
           credentials: str | None, oauth: bool, allow_lossy: bool, ignore_open: bool,
           config_path: str | None) -> None:
    """Build the monthly review tab "Review YYYY-MM" (only that tab is replaced), and with
    --send deliver it to the stakeholders named in the local config.

    Exit 1 if a delivery failed (the next run retries it) or a stakeholder was refused
    (not in the allowlist); what was sent is recorded in History either way.

    \b
    Cron sends last month's review at 07:30 on days 1-3, between hourly syncs (later
    runs only retry what failed).

    \b
    Examples:
      sheets-escalation review escalations.xlsx --month 2026-11 --export review.pdf
      30 7 1-3 * * cd /srv/support && sheets-escalation review escalations.xlsx \\
          --month previous --send --quiet
    """
    from sheets_escalation.jobs.review import run_review
    from sheets_escalation.jobs.senders import make_review_delivery

    check_export_folder(export_path)
    backend = open_source_warned(source, credentials=credentials, oauth=oauth,
                          allow_lossy=allow_lossy, ignore_open=ignore_open)
    delivery = (make_review_delivery(load_local_config(config_path), backend, resend, dry_run)
                if send or resend else None)
    result = run_review(backend, parse_now(now_text), month,
                        Path(export_path) if export_path else None, write_tab=not no_tab,
                        dry_run=dry_run, send=delivery)
    if not quiet:
        print_review(result.review, backend.name, write_tab=not no_tab,
                     export_path=export_path, dry_run=dry_run,
                     dry_note="dry run, nothing written or sent")
    sent = result.sent
    if sent is None:
        return
    if not quiet:
        if dry_run:
            for line in sent.plan.describe():
                echo(f"would send by {line}")
        for line in sent.lines():
            echo(f"send {line}")
    if sent.problems and not dry_run:
        if quiet:
            for delivery_ in (*sent.delivery.failed, *sent.delivery.refused):
                echo(f"send {delivery_}", err=True)
        echo(f"error: {sent.problems} review deliver"
                   f"{'y' if sent.problems == 1 else 'ies'} did not go out (failed ones are "
                   "retried by the next run; refused ones need the allowlist or [review] "
                   "send_to fixed)", err=True)
        sys.exit(1)


@cli.command()
@source_argument
@click.option("--month", help="YYYY-MM (default: the last full month in the Settings timezone).")
@click.option("--policy", "policy_source", metavar="OTHER",
              help="A workbook (.xlsx or Google Sheet) holding the proposed Levels, Triggers, "
              "Settings, Holidays and VIP tabs; tabs it lacks stay as today.")
@click.option("--set", "sets", multiple=True, metavar='"WHAT=VALUE"',
              help='Change one policy cell, e.g. "L1.Response time=2 business hours", '
              '"Financial loss.Parameter=800", "At risk at=80%". Repeatable.')
@click.option("--export", "export_path", type=click.Path(dir_okay=False),
              help="Also write the comparison to FILE (.xlsx, .html, .md, .csv or .pdf).")
@click.option("--no-tab", is_flag=True, help="Only export; do not write the what-if tab.")
@click.option("--dry-run", is_flag=True,
              help="Show what would be written; write and export nothing.")
@now_option
@credentials_option
@oauth_option
@lossy_option
@ignore_open_option
@handle_errors
def simulate(source: str, month: str | None, policy_source: str | None, sets: tuple[str, ...],
             export_path: str | None, no_tab: bool, dry_run: bool, now_text: str | None,
             credentials: str | None, oauth: bool, allow_lossy: bool, ignore_open: bool) -> None:
    """Replay a month's rows under a proposed policy and compare with today's: writes the
    tab "What-if YYYY-MM" (only that tab) with escalations, breaches, share within
    target, and the rows whose outcome changes, with why.

    \b
    Example:
      sheets-escalation simulate escalations.xlsx --month 2026-10 \\
          --set "Financial loss.Parameter=800" --set "L1.Response time=2 business hours"
      sheets-escalation simulate escalations.xlsx --month 2026-10 --policy proposal.xlsx
    """
    from sheets_escalation.jobs.simulate import run_simulate

    check_export_folder(export_path)
    backend = open_source_warned(source, credentials=credentials, oauth=oauth,
                          allow_lossy=allow_lossy, ignore_open=ignore_open)
    other = open_source_warned(policy_source, credentials=credentials, oauth=oauth) \
        if policy_source else None
    result = run_simulate(backend, parse_now(now_text), month, sets=sets, other=other,
                          export_path=Path(export_path) if export_path else None,
                          write_tab=not no_tab, dry_run=dry_run)
    print_review(result.review, backend.name, write_tab=not no_tab, export_path=export_path,
                 dry_run=dry_run)


@cli.command()
@click.option("--now", "now_text", metavar="ISO",
              help="Evaluate as of this time (default: the sample's own reference time).")
@handle_errors
def demo(now_text: str | None) -> None:
    """Copy the bundled sample workbook to ./escalations-demo.xlsx and sync it.

    The sample is evaluated as of its own reference time so the demo always shows the
    same picture; pass --now to see it at another time.

    \b
    Example:
      sheets-escalation demo
    """
    from sheets_escalation.adapters.xlsx.backend import XlsxBackend
    from sheets_escalation.jobs.sample import SAMPLE_NOW, sample_path
    from sheets_escalation.jobs.sync import run_sync

    now = parse_now(now_text) if now_text else pd.Timestamp(SAMPLE_NOW)
    target = Path(DEMO_FILE)
    shutil.copyfile(sample_path(), target)
    report = run_sync(XlsxBackend(target), now)
    echo(f"copied the sample workbook to ./{DEMO_FILE}")
    print_report(report, quiet=False)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(standalone_mode=True)
    except Exception as error:  # noqa: BLE001 - last resort: one line, not a stack trace
        if os.environ.get("SHEETS_ESCALATION_DEBUG"):
            raise
        message = textwrap.shorten(f"{type(error).__name__}: {error}", 300)
        echo(f"internal error: {message} (set SHEETS_ESCALATION_DEBUG=1 for details)",
                   err=True)
        sys.exit(1)
