"""Command line: parses options, calls the library, turns domain errors into exit codes.

The only module importing click. Exit 0: done (flagged rows are not failures); 1: the run
failed (source unreachable, lock held, a concurrent edit); 2: usage, policy or config error.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
import pandas as pd

from sheets_escalation import __version__, schema
from sheets_escalation.errors import ConfigError, EscalationError
from sheets_escalation.plaintext import without_controls
from sheets_escalation.sources import DEFAULT_SOURCE
from sheets_escalation.sources import open_source as open_backend

F = TypeVar("F", bound=Callable[..., Any])


def echo(message: str = "", err: bool = False) -> None:
    """Print a line; every line goes through here, so text typed in the sheet (a customer
    name, a template) never sends control sequences to the terminal."""
    click.echo(without_controls(message), err=err)


DEMO_FILE = "escalations-demo.xlsx"


def handle_errors(function: F) -> F:
    """Turn domain errors into a message on stderr and the right exit code."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except ConfigError as error:
            echo("error: the workbook's policy or headers need fixing:", err=True)
            for problem in error.problems:
                echo(f"  {problem}", err=True)
            echo("nothing was written.", err=True)
            sys.exit(error.exit_code)
        except EscalationError as error:
            echo(f"error: {error}", err=True)
            sys.exit(error.exit_code)

    return wrapper  # type: ignore[return-value]


def parse_now(text: str | None) -> pd.Timestamp:
    """Given --now (ISO 8601; naive means the Settings timezone), return the run's time."""
    if not text:
        return pd.Timestamp.now(tz="UTC").floor("s")
    try:
        return pd.Timestamp(text)
    except ValueError as error:
        raise click.BadParameter(f'cannot read "{text}" as an ISO date-time') from error


source_argument = click.argument("source", required=False, default=DEFAULT_SOURCE)
credentials_option = click.option(
    "--credentials", type=click.Path(dir_okay=False), envvar="GOOGLE_APPLICATION_CREDENTIALS",
    help="Service-account JSON for Google Sheets (default: $GOOGLE_APPLICATION_CREDENTIALS).")
oauth_option = click.option("--oauth", is_flag=True,
                            help="Use your own Google account (OAuth authorized-user flow).")
config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False),
    help="Local configuration (notification allowlist, SMTP). Default: "
    "$SHEETS_ESCALATION_CONFIG or ~/.config/sheets-escalation/config.toml.")
now_option = click.option(
    "--now", "now_text", metavar="ISO",
    help="Evaluate as of this time (ISO 8601; without a zone: Settings timezone).")
lossy_option = click.option(
    "--allow-lossy", is_flag=True,
    help="Save an .xlsx even though it holds charts, images or pivot tables that "
    "openpyxl cannot keep (they would be lost).")

ignore_open_option = click.option(
    "--ignore-open", is_flag=True,
    help="Write an .xlsx even though an Excel or LibreOffice lock file says it is open "
    "(that program's next save would replace what the tool writes).")


def open_source_warned(source: str | None, **options: Any) -> Any:
    """Open SOURCE's backend, printing any warning about it (e.g. a readable key file)."""
    return open_backend(source, warn=lambda message: echo(f"warning: {message}",
                                                                 err=True), **options)


def make_outbox(config_path: str | None, backend: Any, dry_run: bool) -> Any:
    """Given --config, the backend and --dry-run, return the Outbox that sends this run's
    notifications (the allowlist and SMTP settings come from the local config only)."""
    from sheets_escalation.config import load_config
    from sheets_escalation.notify import Outbox
    from sheets_escalation.sources import source_id

    config = load_config(Path(config_path) if config_path else None, os.environ)
    for warning in config.warnings:
        echo(f"warning: {warning}", err=True)
    return Outbox(config, config.journal_path(source_id(backend)), dry_run=dry_run)


def _cell_text(value: Any, width: int) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        text = value.strftime("%Y-%m-%d %H:%M")
    else:
        text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
                 widths: Sequence[int]) -> str:
    """Given headers, rows and maximum widths, return a plain aligned text table."""
    texts = [[_cell_text(v, w) for v, w in zip(row, widths, strict=True)] for row in rows]
    actual = [max([len(h)] + [len(r[i]) for r in texts]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, actual, strict=True)).rstrip(),
             "  ".join("-" * w for w in actual)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, actual, strict=True)).rstrip()
              for r in texts]
    return "\n".join(lines)


def _flagged_table(report: Any) -> str:
    result = report.workbook.result
    log = report.workbook.log
    order = {flag: i for i, flag in enumerate(schema.FLAGS)}
    flagged = result[~result["flag"].isin(["OK", "RESOLVED"])].copy()
    if flagged.empty:
        return "No rows need attention."
    flagged["_order"] = flagged["flag"].map(order)
    flagged = flagged.sort_values(["_order", "escalate_by", "response_due"], kind="stable")
    tz = report.workbook.policy.timezone
    rows = []
    for index, row in flagged.iterrows():
        due = row["escalate_by"] if pd.notna(row["escalate_by"]) else (
            row["resolution_due"] if row["resolution_sla"] in ("Overdue", "At risk")
            else row["response_due"])
        rows.append([
            row["id"], row["flag"], f"L{row['level']}", row["target_level"],
            due.tz_convert(tz) if pd.notna(due) else None,
            log.at[index, "customer"],
            row["why"] or row["problems"] or
            f"response {row['response_sla']}, resolution {row['resolution_sla']}",
        ])
    return format_table(["ID", "Flag", "Level", "Target", "Due", "Customer", "Why"], rows,
                        [10, 18, 5, 6, 16, 24, 60])


def _print_report(report: Any, quiet: bool) -> None:
    if quiet:
        return
    mode = "dry run, nothing written" if report.dry_run else "written"
    echo(f"{report.source}: {len(report.workbook.result)} rows evaluated as of "
               f"{report.now.tz_convert(report.workbook.policy.timezone):%Y-%m-%d %H:%M %Z} "
               f"({mode})")
    for note in report.notes:
        echo(f"note: {note}")
    counts = ", ".join(f"{flag} {n}" for flag, n in report.flag_counts.items())
    echo(f"flags: {counts or 'none'}")
    for event in report.escalated:
        echo(f"escalated {event[1]} {event[3]} -> {event[4]} ({event[5]})")
    if report.delivery is not None:
        for line in report.delivery.lines():
            echo(f"notify {line}")
    for line in report.reminders:
        echo(f"remind {line}")
    if report.dry_run:
        echo(f"planned: {len(report.plan.cells)} cells, "
                   f"{sum(len(v) for v in report.plan.appends.values())} History rows")
        for change in report.changes:
            echo(f"  row {change.sheet_row} {change.id}: {change.header}: "
                       f"{_cell_text(change.old, 40) or '(blank)'} -> "
                       f"{_cell_text(change.new, 60) or '(blank)'}")
    echo("")
    echo(_flagged_table(report))


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
              help="Lay out this existing (empty) Google Sheet (same as giving its URL as "
              "PATH).")
@credentials_option
@oauth_option
@handle_errors
def init(path: str, sheet: str | None, credentials: str | None, oauth: bool) -> None:
    """Create a new workbook from the template (a new .xlsx path, or lay out an existing
    empty Google Sheet given by URL or key); never overwrites a file, tab or cell.

    \b
    Example:
      sheets-escalation init escalations.xlsx
      sheets-escalation init https://docs.google.com/spreadsheets/d/KEY/edit
    """
    from sheets_escalation.sources import parse_source_key

    if sheet is None and not path.lower().endswith((".xlsx", ".xlsm")) \
            and parse_source_key(path) is not None:
        sheet = path
    if sheet:
        from sheets_escalation.backends.gsheets import open_client
        from sheets_escalation.backends.gsheets_init import init_sheet

        key = parse_source_key(sheet)
        if key is None:
            raise click.BadParameter(f'"{sheet}" is not a Google Sheets URL or key')
        created = init_sheet(open_client(credentials, oauth), key)
        echo(f"laid out sheet {key}: " + (", ".join(created) or "nothing to add"))
        return
    from sheets_escalation.template import init_xlsx

    tabs = init_xlsx(Path(path))
    echo(f"created {path} with tabs: {', '.join(tabs)}")


@cli.command()
@source_argument
@credentials_option
@oauth_option
@handle_errors
def check(source: str, credentials: str | None, oauth: bool) -> None:
    """Validate the policy tabs and headers; list every problem with its cell.

    Exit 2 if the policy or headers are broken. Problems in individual rows are listed
    too, but do not fail the check (sync reports them in each row's Problems column).

    \b
    Example:
      sheets-escalation check escalations.xlsx
    """
    from sheets_escalation.sync import load

    backend = open_source_warned(source, credentials=credentials, oauth=oauth)
    workbook = load(backend, parse_now(None))
    for note in workbook.notes:
        echo(f"note: {note}")
    log = workbook.log
    result = workbook.result
    columns = workbook.log_read.columns
    positions = {schema.COLUMN_BY_KEY[k].header: v for k, v in columns.items()}
    count = 0
    problem_texts: list[str] = result["problems"].tolist()
    sheet_rows: list[int] = log["sheet_row"].tolist()
    for text, sheet_row in zip(problem_texts, sheet_rows, strict=True):
        for problem in filter(None, text.split("; ")):
            header = problem.split(":", 1)[0]
            column = positions.get(header, positions.get("ID", 0))
            echo(f"{schema.ESCALATIONS}!{schema.a1(sheet_row - 1, column)}: {problem}")
            count += 1
    policy = workbook.policy
    echo(f"policy OK: {len(policy.levels)} levels, {len(policy.active_triggers)} "
               f"active triggers, timezone {policy.timezone}; {len(log)} rows, "
               f"{count} cell problem(s).")


@cli.command()
@source_argument
@now_option
@click.option("--dry-run", is_flag=True, help="Show what would change, row by row; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.option("--quiet", is_flag=True, help="Print nothing unless something fails.")
@credentials_option
@oauth_option
@lossy_option
@ignore_open_option
@config_option
@handle_errors
def sync(source: str, now_text: str | None, dry_run: bool, as_json: bool, quiet: bool,
         credentials: str | None, oauth: bool, allow_lossy: bool,
         ignore_open: bool, config_path: str | None) -> None:
    """Evaluate the policy, flag rows, apply automatic escalations, write back.

    \b
    Example (hourly from cron):
      0 * * * * cd /srv/support && sheets-escalation sync escalations.xlsx --quiet
    """
    from sheets_escalation.sync import run_sync

    backend = open_source_warned(source, credentials=credentials, oauth=oauth,
                          allow_lossy=allow_lossy, ignore_open=ignore_open)
    outbox = make_outbox(config_path, backend, dry_run)
    report = run_sync(backend, parse_now(now_text), dry_run=dry_run, outbox=outbox)
    if as_json:
        echo(json.dumps(report.as_json(), indent=2, default=str))
        return
    _print_report(report, quiet)


@cli.command()
@source_argument
@click.argument("identifier", metavar="ID")
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
def escalate(source: str, identifier: str, to_text: str, handler: str | None,
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
    from sheets_escalation.policy import level_number
    from sheets_escalation.sync import run_escalate

    to_level = level_number(to_text)
    if to_level is None or to_level < 2:
        raise click.BadParameter(f'"{to_text}" is not L2 or L3', param_hint="'--to'")
    backend = open_source_warned(source, credentials=credentials, oauth=oauth,
                          allow_lossy=allow_lossy, ignore_open=ignore_open)
    outbox = make_outbox(config_path, backend, dry_run)
    report = run_escalate(backend, parse_now(now_text), identifier, to_level,
                          handler=handler, note=note, force=force, outbox=outbox,
                          dry_run=dry_run,
                          by=handler or os.environ.get("USER") or "escalate command")
    event = next(e for e in report.escalated if e[5] == "manual")
    verb = "would escalate" if dry_run else "escalated"
    echo(f"{verb} {event[1]} {event[3]} -> {event[4]}"
               + (f" (handler {handler})" if handler else ""))
    if report.delivery is not None:
        for line in report.delivery.lines():
            echo(f"notify {line}")


@cli.command()
@source_argument
@click.argument("identifier", metavar="ID")
@click.option("--template", "name", default="customer", show_default=True,
              help="Template name from the Templates tab (defaults: customer, internal).")
@click.option("--level", "level_text", type=click.Choice(["L1", "L2", "L3"],
              case_sensitive=False),
              help="Level the message is about (default: the target level, else the row's).")
@now_option
@credentials_option
@oauth_option
@handle_errors
def message(source: str, identifier: str, name: str, level_text: str | None,
            now_text: str | None, credentials: str | None, oauth: bool) -> None:
    """Render a message template for one row (prints it; writes nothing).

    \b
    Example:
      sheets-escalation message escalations.xlsx ESC-0012 --template customer
    """
    from sheets_escalation.handoff import escalation_message, find_row, row_view, templates_of
    from sheets_escalation.sync import load

    backend = open_source_warned(source, credentials=credentials, oauth=oauth)
    workbook = load(backend, parse_now(now_text))
    position = find_row(workbook.result, identifier)
    view = row_view(workbook.log, workbook.result, position)
    target = view.result.get("target_level") or ""
    level = int(level_text[1]) if level_text else int(target[1]) if target else int(
        view.result["level"])
    subject, body = escalation_message(view, workbook.policy, level,
                                       templates_of(workbook.tabs), name, workbook.now)
    echo(f"Subject: {subject}\n\n{body}")


@cli.command()
@source_argument
@click.option("--month", help="YYYY-MM (default: the last full month in the Settings timezone).")
@click.option("--export", "export_path", type=click.Path(dir_okay=False),
              help="Also write the review to FILE (.xlsx, .html, .md, .csv or .pdf).")
@click.option("--no-tab", is_flag=True, help="Only export; do not write the review tab.")
@now_option
@credentials_option
@oauth_option
@lossy_option
@ignore_open_option
@handle_errors
def review(source: str, month: str | None, export_path: str | None, no_tab: bool,
           now_text: str | None, credentials: str | None, oauth: bool,
           allow_lossy: bool, ignore_open: bool) -> None:
    """Build the monthly review tab "Review YYYY-MM" (only that tab is replaced).

    \b
    Example:
      sheets-escalation review escalations.xlsx --month 2026-10 --export october.pdf
    """
    from sheets_escalation.reviewjob import run_review

    backend = open_source_warned(source, credentials=credentials, oauth=oauth,
                          allow_lossy=allow_lossy, ignore_open=ignore_open)
    result = run_review(backend, parse_now(now_text), month,
                        Path(export_path) if export_path else None, write_tab=not no_tab)
    _print_review(result.review, backend.name, not no_tab, export_path)


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
@now_option
@credentials_option
@oauth_option
@lossy_option
@ignore_open_option
@handle_errors
def simulate(source: str, month: str | None, policy_source: str | None, sets: tuple[str, ...],
             export_path: str | None, no_tab: bool, now_text: str | None,
             credentials: str | None, oauth: bool, allow_lossy: bool,
             ignore_open: bool) -> None:
    """Replay a month's rows under a proposed policy and compare with today's: writes the
    tab "What-if YYYY-MM" (only that tab) with escalations, breaches, share within
    target, and the rows whose outcome changes, with why.

    \b
    Example:
      sheets-escalation simulate escalations.xlsx --month 2026-10 \\
          --set "Financial loss.Parameter=800" --set "L1.Response time=2 business hours"
      sheets-escalation simulate escalations.xlsx --month 2026-10 --policy proposal.xlsx
    """
    from sheets_escalation.simulate import run_simulate

    backend = open_source_warned(source, credentials=credentials, oauth=oauth,
                          allow_lossy=allow_lossy, ignore_open=ignore_open)
    other = open_source_warned(policy_source, credentials=credentials, oauth=oauth) \
        if policy_source else None
    result = run_simulate(backend, parse_now(now_text), month, sets=sets, other=other,
                          export_path=Path(export_path) if export_path else None,
                          write_tab=not no_tab)
    _print_review(result.review, backend.name, not no_tab, export_path)


def _print_review(review_: Any, source: str, wrote_tab: bool, export_path: str | None) -> None:
    if wrote_tab:
        echo(f"wrote tab {review_.tab} to {source}")
    if export_path:
        echo(f"exported {export_path}")
    for label, value in review_.headline:
        echo(f"{label}: {review_value(value, review_.headline_formats.get(label))}")
    for sentence in review_.recommendations:
        echo(f"- {sentence}")


def review_value(value: Any, kind: str | None) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "n/a"
    if kind == "pct" and isinstance(value, int | float):
        return f"{value:.0%}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


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
    from sheets_escalation.backends.xlsx import XlsxBackend
    from sheets_escalation.sample import SAMPLE_NOW, sample_path
    from sheets_escalation.sync import run_sync

    target = Path(DEMO_FILE)
    shutil.copyfile(sample_path(), target)
    now = parse_now(now_text) if now_text else pd.Timestamp(SAMPLE_NOW)
    report = run_sync(XlsxBackend(target), now)
    echo(f"copied the sample workbook to ./{DEMO_FILE}")
    _print_report(report, quiet=False)


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


if __name__ == "__main__":
    main()
