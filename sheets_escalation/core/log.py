"""Reading the Escalations tab: the header (where each known column lives) and the rows
parsed into the typed log the engine evaluates, with every problem found on the way, and
the note when typed dates contradict the Settings date order.

Pure like the engine: the tab arrives as a :class:`~sheets_escalation.core.table.Table`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sheets_escalation.core import cells, dates, money, schema
from sheets_escalation.core.errors import ConfigError
from sheets_escalation.core.grid import raw_frame
from sheets_escalation.core.policy import Policy
from sheets_escalation.core.problems import Problem, row_problems
from sheets_escalation.core.table import Table


@dataclass
class LogRead:
    """The Escalations tab as read: the parsed log and where each known column lives."""

    log: pd.DataFrame
    columns: dict[str, int]  # column key -> 0-based sheet column (known headers only)
    width: int  # number of header cells (where missing owned columns are appended)
    raw: pd.DataFrame  # the kept rows' raw cells, columns = 0-based sheet columns
    # Typed dates that read only against the Settings Date order: (sheet row, 0-based
    # column) of each, and how many rows hold dates that read either way.
    dates_against: list[tuple[int, int]] = field(default_factory=list)
    rows_ambiguous: int = 0
    # The kept rows' problems as read (the text of log["problems"]), by column.
    problems: list[Problem] = field(default_factory=list)



def _blank_cells(source: pd.Series) -> np.ndarray:
    """Given raw cells (object dtype), return where they are empty or only whitespace."""
    blank = source.isna().to_numpy()
    try:
        stripped = source.str.strip()
    except AttributeError:  # no text at all in the column (dates, numbers)
        return blank
    return blank | stripped.eq("").to_numpy(dtype=bool, na_value=False)


def read_log(table: Table | None, policy: Policy) -> LogRead:
    """Given the Escalations tab, return the parsed log.

    Raise ConfigError naming the tab and cell if the tab or a required header is missing,
    or a known header appears twice.
    """
    columns, problems = read_header(table)
    if problems:
        raise ConfigError(problems)
    assert table is not None  # a missing tab is a problem above

    width = max(len(table.header), 1)
    return _read_rows(table, columns, width, policy)


def read_header(table: Table | None) -> tuple[dict[str, int], list[Problem]]:
    """Given the Escalations tab, return where each known column lives (column key ->
    0-based sheet column) and every problem with its header row: the tab missing or empty,
    a required header missing, a known header appearing twice."""
    if table is None or not table.rows:
        return {}, [Problem(schema.ESCALATIONS, "", "tab is missing or empty")]
    header = table.header
    problems: list[Problem] = []
    columns: dict[str, int] = {}
    for position, cell in enumerate(header):
        key = schema.KEY_BY_NORMALIZED.get(schema.normalize_header(cell))
        if key is None:
            continue
        if key in columns:
            problems.append(Problem(
                schema.ESCALATIONS, schema.a1(0, position),
                f'header "{cell}" appears twice (also {schema.a1(0, columns[key])})'))
            continue
        columns[key] = position
    for key in schema.REQUIRED_INPUT_KEYS:
        if key not in columns:
            header_text = schema.COLUMN_BY_KEY[key].header
            problems.append(Problem(schema.ESCALATIONS, "1:1",
                                    f'missing required header "{header_text}"'))
    return columns, problems


def _read_rows(table: Table, columns: dict[str, int], width: int, policy: Policy) -> LogRead:
    body = table.body
    raw = raw_frame(body, columns.values()) if body else pd.DataFrame(
        {position: pd.Series(dtype=object) for position in columns.values()})
    log = pd.DataFrame(index=raw.index)
    problems_parts: list[tuple[str, pd.Series]] = []
    # A row counts only if one of its input cells holds something (the user's own columns
    # do not count): whitespace is nothing. Text columns are stripped by their parser.
    blank = np.ones(len(raw), dtype=bool)
    empty = pd.Series([None] * len(raw), index=raw.index, dtype=object)
    against_cells: list[tuple[int, int]] = []  # (raw row, column), in reading order
    ambiguous = np.zeros(len(raw), dtype=bool)
    either_way: list[tuple[str, pd.Series, pd.Series, pd.Series]] = []
    for column in schema.INPUT_COLUMNS:
        source = raw[columns[column.key]] if column.key in columns else empty
        source = source.astype(object)
        if column.kind == "text":
            log[column.key] = cells.parse_text(source)
            blank &= (log[column.key] == "").to_numpy()
            continue
        if blank.any():  # only rows with every text column blank can still be blank
            blank[blank] = _blank_cells(source[blank])
        if column.kind == "datetime":
            parsed = dates.parse_datetimes(source, column.header, policy.timezone,
                                           policy.date_order)
            evidence = dates.date_order_evidence(source, column.header, policy.date_order,
                                                 parsed.values)
            problems_parts.append((column.header, evidence.problems))
            against_cells += [(int(r), columns[column.key])
                              for r in np.flatnonzero(evidence.against.to_numpy())]
            ambiguous |= evidence.ambiguous.to_numpy()
            either_way.append((column.header, source, parsed.values, evidence.ambiguous))
        elif column.kind == "money":
            parsed = money.parse_money(source, column.header)
        elif column.kind == "yesno":
            parsed = cells.parse_yesno(source, column.header)
        else:
            parsed = cells.parse_levels(source, column.header)
        log[column.key] = parsed.values
        problems_parts.append((column.header, parsed.problems))
        if column.key == "level":
            # Read as L1 for its clocks, but no escalation may write over what was typed.
            log["level_unreadable"] = (parsed.problems != "").to_numpy()
        if column.key == "opened":
            opened_problems = parsed.problems
    # Dates that read either way are in doubt once other dates in the log read only the
    # other way round: those rows are reported and held (see evaluate) rather than acted on.
    doubtful = np.zeros(len(raw), dtype=bool)
    if against_cells:
        mine, other = ("day-first", "month-first") if policy.date_order == "DMY" else (
            "month-first", "day-first")
        for header, source, values, either in either_way:
            mask = either.to_numpy()
            if not mask.any():
                continue
            local = values.dt.tz_convert(policy.timezone)
            texts = np.full(len(raw), "", dtype=object)
            texts[mask] = [
                f'{header}: "{cells.format_value(text)}" reads either way and was read {mine} '
                f"({stamp.day} {stamp:%b %Y}) as Settings Date order says, but other dates "
                f"here read only {other}"
                for text, stamp in zip(source[mask], local[mask], strict=True)]
            problems_parts.append((header, pd.Series(texts, index=raw.index, dtype=object)))
            doubtful |= mask
    log["doubtful_dates"] = doubtful
    # Blank, or a blank marker such as "-" or "n/a": no clock can start without it.
    opened_blank = log["opened"].isna() & (opened_problems == "")
    problems_parts.append(("Opened", pd.Series(np.where(opened_blank, "Opened: blank", ""),
                                               index=raw.index)))
    log["problems"] = cells.combine_problems(*(texts for _, texts in problems_parts))
    keep = ~blank
    log = log[keep].reset_index(drop=True)
    raw = raw[keep].reset_index(drop=True)
    log["sheet_row"] = np.flatnonzero(keep) + 2
    dates_against = sorted((r + 2, c) for r, c in against_cells if keep[r])
    problems = row_problems(schema.ESCALATIONS,
                            [(header, texts[keep].reset_index(drop=True))
                             for header, texts in problems_parts],
                            log["sheet_row"].tolist())
    return LogRead(log=log, columns=columns, width=width, raw=raw, dates_against=dates_against,
                   rows_ambiguous=int((ambiguous & keep).sum()), problems=problems)


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def date_order_note(log_read: LogRead, date_order: str) -> str | None:
    """Given the log as read and the Settings date order, return the note saying the typed
    dates contradict that order (the cells that read only the other way, and how many rows
    read either way and so may be misread), or None when nothing contradicts it."""
    if not log_read.dates_against:
        return None
    other, mine = ("month-first", "day-first") if date_order == "DMY" else (
        "day-first", "month-first")
    rows_against = len({row for row, _ in log_read.dates_against})
    shown = ", ".join(f"{schema.ESCALATIONS}!{schema.a1(row - 1, col)}"
                      for row, col in log_read.dates_against[:3])
    more = ", …" if len(log_read.dates_against) > 3 else ""
    holds = "holds a date that reads" if rows_against == 1 else "hold dates that read"
    text = (f"Settings Date order is {date_order}, but {_rows(rows_against)} {holds} only "
            f"{other} ({shown}{more})")
    if log_read.rows_ambiguous:
        either = ("holds a date that reads either way and was" if log_read.rows_ambiguous == 1
                  else "hold dates that read either way and were")
        text += f"; {_rows(log_read.rows_ambiguous)} {either} read {mine}"
    swap = "MDY" if date_order == "DMY" else "DMY"
    return f"{text}. If dates here are typed {other}, set Date order to {swap} in Settings."
