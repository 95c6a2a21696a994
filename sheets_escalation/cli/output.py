"""What the commands print: aligned tables, the sheet's flag colours, the sync report
and the review's answers. Every line goes through :func:`echo`, which strips control
characters typed in the sheet before they reach the terminal.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from typing import Any

import click
import pandas as pd

from sheets_escalation.core import schema
from sheets_escalation.core.plaintext import without_controls


def _cell_text(value: Any, width: int) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, dt.datetime):  # pd.Timestamp too; the sheet shows no seconds
        text = value.strftime("%Y-%m-%d %H:%M")
    else:
        text = " ".join(without_controls(str(value)).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
                 widths: Sequence[int],
                 paint: Callable[[int, str, str], str] | None = None) -> str:
    """Given headers, rows and maximum widths, return a plain aligned text table.
    ``paint(column, text, padded)`` may dress a padded body cell (colour) after alignment."""
    texts = [[_cell_text(v, w) for v, w in zip(row, widths, strict=True)] for row in rows]
    actual = [max([len(h)] + [len(r[i]) for r in texts]) for i, h in enumerate(headers)]

    def cell(column: int, text: str) -> str:
        padded = text.ljust(actual[column])
        return paint(column, text, padded) if paint else padded

    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, actual, strict=True)).rstrip(),
             "  ".join("-" * w for w in actual)]
    lines += ["  ".join(cell(i, c) for i, c in enumerate(r)).rstrip() for r in texts]
    return "\n".join(lines)


# The sheet's flag colours (text on fill), so a terminal shows what the sheet shows.
def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return int(hex_colour[0:2], 16), int(hex_colour[2:4], 16), int(hex_colour[4:6], 16)


def paint_flag(text: str, flag: str | None = None) -> str:
    """Given text and the flag it shows (the text itself by default), return it in that
    flag's sheet colours; echo() drops the colour when it is not wanted."""
    from sheets_escalation.core.layout import FLAG_COLORS

    for rule in FLAG_COLORS:
        if rule.value == (flag or text).strip():
            return click.style(text, fg=_rgb(rule.font), bg=_rgb(rule.fill), bold=rule.bold)
    return text


def echo(text: str = "", err: bool = False, painted: bool = False) -> None:
    """Print a line; every line goes through here, so text typed in the sheet (a customer
    name, a template) never sends control sequences to the terminal. ``painted`` lines
    carry our own colour codes and were built from text cleaned cell by cell
    (:func:`_cell_text`); colour only on a terminal and never with NO_COLOR set."""
    click.echo(text if painted else without_controls(text), err=err,
               color=False if os.environ.get("NO_COLOR") else None)


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
    shown = rows[:SUMMARY_LINES]
    table = format_table(["ID", "Flag", "Level", "Target", "Due", "Customer", "Why"], shown,
                         [10, 18, 5, 6, 16, 24, 60],
                         lambda column, text, padded: paint_flag(padded, text)
                         if column == 1 else padded)
    if len(rows) > len(shown):
        table += (f"\n… and {len(rows) - len(shown)} more flagged "
                  f"{'row' if len(rows) - len(shown) == 1 else 'rows'} "
                  "(the Flag column shows them all)")
    return table


# A first sync of a long log records hundreds of events: the output shows this many lines
# of them, and of flagged rows, and counts the rest.
SUMMARY_LINES = 20


def print_report(report: Any, quiet: bool) -> None:
    """Given a sync report and --quiet, print what the run did and the rows flagged."""
    if quiet:
        # What changes results is said even in a quiet (cron) run.
        for warning in report.workbook.warnings:
            echo(f"warning: {warning}", err=True)
        return
    mode = "dry run, nothing written" if report.dry_run else "written"
    echo(f"{report.source}: {plural(len(report.workbook.result), 'row')} evaluated as of "
         f"{report.now.tz_convert(report.workbook.policy.timezone):%Y-%m-%d %H:%M %Z} "
         f"({mode})")
    for note in report.notes:
        echo(f"note: {note}")
    counts = ", ".join(f"{paint_flag(flag)} {n}" for flag, n in report.flag_counts.items())
    echo(f"flags: {counts or 'none'}", painted=True)
    if report.event_counts:
        echo("events: " + ", ".join(f"{event} {n}" for event, n in report.event_counts.items()))
    lines = [f"escalated {event.id} {event.from_level} -> {event.to_level} ({event.trigger})"
             for event in report.escalated]
    if report.delivery is not None:
        lines += [f"notify {line}" for line in report.delivery.lines()]
    lines += [f"remind {line}" for line in report.reminders]
    for line in lines[:SUMMARY_LINES]:
        echo(line)
    if len(lines) > SUMMARY_LINES:
        where = ("a real run records them in History" if report.dry_run
                 else "History has them all")
        echo(f"… and {len(lines) - SUMMARY_LINES} more ({where}; --json lists them)")
    if report.dry_run:
        echo(f"planned: {plural(len(report.plan.cells), 'cell')}, "
             f"{plural(sum(len(v) for v in report.plan.appends.values()), 'History row')}")
        for change in report.changes:
            echo(f"  row {change.sheet_row} {change.id}: {change.header}: "
                 f"{_cell_text(change.old, 40) or '(blank)'} -> "
                 f"{_cell_text(change.new, 60) or '(blank)'}")
    echo("")
    echo(_flagged_table(report), painted=True)


def plural(count: int, noun: str) -> str:
    """Given a count and a singular noun, return "1 row" / "2 rows"."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def print_review(review_: Any, source: str, *, write_tab: bool, export_path: str | None,
                 dry_run: bool, dry_note: str = "dry run, nothing written") -> None:
    """Given a review (or what-if comparison), where it was to go and whether this was a
    dry run, print where it went (or would go) and its answers."""
    if dry_run:
        echo(dry_note)
        if write_tab:
            echo(f"would write tab {review_.tab} to {source}")
        if export_path:
            echo(f"would export {export_path}")
    elif write_tab:
        echo(f"wrote tab {review_.tab} to {source}")
    if export_path and not dry_run:
        echo(f"exported {export_path}")
    for question, answer in review_.answers:
        echo(f"{question}: {answer}")
    for label, value in review_.headline:
        echo(f"{label}: {review_value(value, review_.headline_formats.get(label))}")
    for sentence in review_.recommendations:
        echo(f"- {sentence}")


def review_value(value: Any, kind: str | None) -> str:
    """Given a headline value and its format ("pct" or none), return it as text."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "n/a"
    if kind == "pct" and isinstance(value, int | float):
        return f"{value:.0%}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
