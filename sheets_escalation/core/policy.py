"""The policy tabs (Levels, Triggers, Settings, Holidays, VIP) -> one frozen :class:`Policy`.

Every problem is collected with its place (tab and A1 cell) and reported at once, so an
owner fixes the whole policy in one pass. A tab that is missing falls back to the seed
defaults of the template; a tab that is present is taken as the owner wrote it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sheets_escalation.core import schema
from sheets_escalation.core.clock import (
    MAX_DURATION_DAYS,
    MAX_DURATION_TEXT,
    BusinessCalendar,
    Duration,
    parse_duration,
    parse_work_days,
    parse_work_hours,
)
from sheets_escalation.core.dates import parse_datetime_scalar
from sheets_escalation.core.errors import ConfigError
from sheets_escalation.core.levels import level_label, level_number
from sheets_escalation.core.problems import Problem
from sheets_escalation.core.table import Table, header_index
from sheets_escalation.core.text import cell_text

REPEAT_PATTERN = re.compile(
    r"^\s*(\d+)\s*(?:distinct\s+)?customers?\s+(?:in|within)\s+(.+?)\s*$", re.IGNORECASE
)
YES = {"yes", "y", "true", "1", "x", "✓", "✔", "on", "enabled"}
NO = {"no", "n", "false", "0", "off", "disabled", ""}


@dataclass(frozen=True)
class LevelPolicy:
    level: int
    name: str
    handled_by: str
    scope: str
    response: Duration
    resolution: Duration
    notify: tuple[str, ...]
    # Where Notify was typed (A1, e.g. "G3"), so its targets' problems can be located.
    notify_cell: str = ""


@dataclass(frozen=True)
class TriggerRule:
    name: str
    kind: str
    parameter: str
    from_level: int | None
    to_level: int
    timeframe_seconds: float
    timeframe_business: bool
    auto: bool
    enabled: bool
    row: int
    duration: Duration | None = None
    amount: float | None = None
    keywords: tuple[str, ...] = ()
    repeat_count: int | None = None
    repeat_window: Duration | None = None


@dataclass(frozen=True)
class Policy:
    levels: dict[int, LevelPolicy]
    triggers: tuple[TriggerRule, ...]
    timezone: str
    calendar: BusinessCalendar
    at_risk: float
    date_order: str
    required_info: tuple[str, ...]
    vip: frozenset[str]
    settings: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    # Notes that change what the run reads or computes: printed even by a quiet run.
    warnings: tuple[str, ...] = ()
    # Shares of a target at which the handler is reminded (Settings `Remind at`), ascending.
    remind_at: tuple[float, ...] = (0.5, 0.75, 0.9)

    def level_name(self, level: int) -> str:
        return self.levels[level].name

    @property
    def active_triggers(self) -> tuple[TriggerRule, ...]:
        return tuple(t for t in self.triggers if t.enabled)


class _Collector:
    """Collects located problems for one tab."""

    def __init__(self, tab: str, problems: list[Problem]) -> None:
        self.tab = tab
        self.problems = problems

    def add(self, row: int, col: int | None, message: str) -> None:
        cell = schema.a1(row, col) if col is not None else str(row + 1)
        self.problems.append(Problem(self.tab, cell, message))


def _columns(
    table: Table, required: Sequence[str], collector: _Collector
) -> dict[str, int] | None:
    index = header_index(table.header)
    missing = [h for h in required if schema.normalize_header(h) not in index]
    for header in missing:
        collector.problems.append(
            Problem(table.title, "1:1", f'missing required header "{header}"')
        )
    return None if missing else index


def _cell(row: Sequence[Any], index: Mapping[str, int], header: str) -> Any:
    position = index.get(schema.normalize_header(header))
    if position is None or position >= len(row):
        return None
    return row[position]


def _col(index: Mapping[str, int], header: str) -> int | None:
    return index.get(schema.normalize_header(header))


def _duration_or_error(
    text: str, collector: _Collector, row: int, col: int | None, what: str,
    calendar: BusinessCalendar | None,
) -> Duration | None:
    try:
        duration = parse_duration(text)
    except ValueError as error:
        collector.add(row, col, f"{what}: {error}")
        return None
    problem = _too_long(duration, calendar)
    if problem:
        collector.add(row, col, f"{what}: {problem}")
        return None
    return duration


def _too_long(duration: Duration, calendar: BusinessCalendar | None) -> str:
    """Return why ``duration`` takes too long to pass on ``calendar``, or "" if it fits.

    A Duration is at most ten years long on its own clock; business time passes only in
    work hours, so on a sparse calendar it may still take decades of real time."""
    if calendar is None or not duration.is_business:
        return ""
    days = calendar.span_days(duration)
    if days <= MAX_DURATION_DAYS:
        return ""
    return (f"{duration} take about {days / 365.25:.0f} years on this calendar "
            f"({len(calendar.work_days)} work days a week, {calendar.opening:%H:%M}-"
            f"{calendar.closing:%H:%M}), longer than {MAX_DURATION_TEXT}, the longest "
            "duration a policy may hold")


def _load_levels(
    table: Table | None, problems: list[Problem], calendar: BusinessCalendar | None
) -> dict[int, LevelPolicy]:
    defaults = {
        level_number(row[0]): LevelPolicy(
            level=int(row[0][1]),
            name=row[1],
            handled_by=row[2],
            scope=row[3],
            response=parse_duration(row[4]),
            resolution=parse_duration(row[5]),
            notify=(),
        )
        for row in schema.DEFAULT_LEVELS
    }
    levels: dict[int, LevelPolicy] = {k: v for k, v in defaults.items() if k is not None}
    if table is None:
        return levels
    collector = _Collector(schema.LEVELS, problems)
    index = _columns(table, ("Level", "Response time", "Resolution target"), collector)
    if index is None:
        return levels
    seen: dict[int, int] = {}
    for offset, row in enumerate(table.body):
        sheet_row = offset + 1
        if not any(cell_text(v) for v in row):
            continue
        raw_level = _cell(row, index, "Level")
        level = level_number(raw_level)
        if level is None:
            collector.add(sheet_row, _col(index, "Level"),
                          f'cannot read "{cell_text(raw_level)}" as a level (L1, L2 or L3)')
            continue
        if level in seen:
            collector.add(sheet_row, _col(index, "Level"),
                          f"L{level} is defined twice (also row {seen[level] + 1})")
            continue
        seen[level] = sheet_row
        response = _duration_or_error(
            cell_text(_cell(row, index, "Response time")), collector, sheet_row,
            _col(index, "Response time"), "Response time", calendar)
        resolution = _duration_or_error(
            cell_text(_cell(row, index, "Resolution target")), collector, sheet_row,
            _col(index, "Resolution target"), "Resolution target", calendar)
        if response is None or resolution is None:
            continue
        zero = [header for header, duration in (("Response time", response),
                                                ("Resolution target", resolution))
                if duration.amount <= 0]
        for header in zero:
            collector.add(sheet_row, _col(index, header),
                          "response and resolution targets must be longer than zero")
        if zero:
            continue
        notify = tuple(
            part.strip() for part in cell_text(_cell(row, index, "Notify")).split(",") if part.strip()
        )
        notify_col = _col(index, "Notify")
        levels[level] = LevelPolicy(
            level=level,
            name=cell_text(_cell(row, index, "Name")) or defaults[level].name,
            handled_by=cell_text(_cell(row, index, "Handled by")),
            scope=cell_text(_cell(row, index, "Scope")),
            response=response,
            resolution=resolution,
            notify=notify,
            notify_cell=schema.a1(sheet_row, notify_col) if notify_col is not None else "",
        )
    return levels


def _parse_timeframe(text: str) -> tuple[float, bool, Duration | None]:
    if text.strip().casefold() in {"", "immediate", "immediately", "automatic", "auto", "now"}:
        return 0.0, False, None
    duration = parse_duration(text)
    return 0.0, duration.is_business, duration


def _parse_amount(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(float(value)) else None
    cleaned = re.sub(r"[^\d.\-]", "", cell_text(value).replace(",", ""))
    try:
        return float(cleaned)
    except ValueError:
        return None


def _load_triggers(
    table: Table | None, problems: list[Problem], calendar: BusinessCalendar | None
) -> tuple[TriggerRule, ...]:
    if table is None:
        rows: list[list[Any]] = [list(schema.TRIGGERS_HEADERS)]
        rows += [list(r) for r in schema.DEFAULT_TRIGGERS]
        table = Table(schema.TRIGGERS, rows)
    collector = _Collector(schema.TRIGGERS, problems)
    # Enabled may be left out (every row enabled); without any other column the matrix would
    # silently change meaning (no From = Any, no Apply = flag only).
    index = _columns(table, schema.TRIGGERS_HEADERS[:-1], collector)
    if index is None:
        return ()
    rules: list[TriggerRule] = []
    names: dict[str, int] = {}
    for offset, row in enumerate(table.body):
        sheet_row = offset + 1
        if not any(cell_text(v) for v in row):
            continue
        start = len(problems)
        name = cell_text(_cell(row, index, "Trigger"))
        if not name:
            collector.add(sheet_row, _col(index, "Trigger"), "trigger has no name")
        elif name.casefold() in names:
            collector.add(sheet_row, _col(index, "Trigger"),
                          f'trigger "{name}" is defined twice (also row {names[name.casefold()] + 1})')
        else:
            names[name.casefold()] = sheet_row
        kind = cell_text(_cell(row, index, "Kind")).casefold().replace(" ", "_")
        if kind not in schema.TRIGGER_KINDS:
            collector.add(sheet_row, _col(index, "Kind"),
                          f'unknown kind "{cell_text(_cell(row, index, "Kind"))}"; expected one of '
                          + ", ".join(schema.TRIGGER_KINDS))
        parameter = cell_text(_cell(row, index, "Parameter"))
        param_col = _col(index, "Parameter")
        raw_from = cell_text(_cell(row, index, "From"))
        from_level: int | None
        if raw_from.casefold() in {"", "any", "all", "*"}:
            from_level = None
        else:
            from_level = level_number(raw_from)
            if from_level is None:
                collector.add(sheet_row, _col(index, "From"),
                              f'cannot read "{raw_from}" as a level (L1, L2, L3 or Any)')
        raw_to = cell_text(_cell(row, index, "To"))
        to_level = level_number(raw_to)
        if to_level is None or to_level < 2:
            collector.add(sheet_row, _col(index, "To"),
                          f'cannot read "{raw_to}" as a target level (L2 or L3)')
        elif from_level is not None and from_level >= to_level:
            collector.add(sheet_row, _col(index, "To"),
                          f"To ({level_label(to_level)}) must be above From ({level_label(from_level)})")
        timeframe_text = cell_text(_cell(row, index, "Timeframe"))
        timeframe: Duration | None = None
        try:
            _, business, timeframe = _parse_timeframe(timeframe_text)
            too_long = _too_long(timeframe, calendar) if timeframe is not None else ""
            if too_long:
                raise ValueError(too_long)
        except ValueError as error:
            business = False
            collector.add(sheet_row, _col(index, "Timeframe"), f"Timeframe: {error}")
        apply_text = cell_text(_cell(row, index, "Apply")).casefold() or "flag"
        if apply_text not in {"auto", "automatic", "flag"}:
            collector.add(sheet_row, _col(index, "Apply"),
                          f'cannot read "{apply_text}" as Apply (auto or flag)')
        enabled_text = cell_text(_cell(row, index, "Enabled")).casefold()
        if enabled_text not in YES and enabled_text not in NO:
            collector.add(sheet_row, _col(index, "Enabled"),
                          f'cannot read "{enabled_text}" as yes/no')
        enabled = enabled_text in YES or enabled_text == ""
        extra: dict[str, Any] = {}
        if kind == "unresolved_for":
            extra["duration"] = _duration_or_error(parameter, collector, sheet_row, param_col,
                                                   "Parameter", calendar)
        elif kind == "financial_loss_over":
            amount = _parse_amount(_cell(row, index, "Parameter"))
            if amount is None or amount < 0:
                collector.add(sheet_row, param_col,
                              f'cannot read "{parameter}" as an amount (e.g. 500)')
            extra["amount"] = amount
        elif kind == "mentions":
            keywords = tuple(k.strip() for k in parameter.split(",") if k.strip())
            if not keywords:
                collector.add(sheet_row, param_col,
                              "mentions needs comma-separated keywords in Parameter")
            extra["keywords"] = keywords
        elif kind == "repeat_issue":
            match = REPEAT_PATTERN.match(parameter)
            if not match or int(match.group(1)) < 2:
                collector.add(sheet_row, param_col,
                              f'cannot read "{parameter}" as "N customers in <duration>" '
                              "(e.g. 3 customers in 24 hours, N at least 2)")
            else:
                extra["repeat_count"] = int(match.group(1))
                extra["repeat_window"] = _duration_or_error(
                    match.group(2), collector, sheet_row, param_col, "Parameter", calendar)
        if len(problems) > start or to_level is None:
            continue
        seconds = 0.0
        if timeframe is not None:
            seconds = calendar.seconds(timeframe) if calendar is not None else 0.0
        rules.append(TriggerRule(
            name=name, kind=kind, parameter=parameter, from_level=from_level,
            to_level=to_level, timeframe_seconds=seconds, timeframe_business=business,
            auto=apply_text in {"auto", "automatic"}, enabled=enabled, row=sheet_row + 1,
            **extra,
        ))
    return tuple(rules)


def _load_settings(table: Table | None, problems: list[Problem]) -> tuple[dict[str, str], dict[str, tuple[int, int]]]:
    values = {key: value for key, value in schema.DEFAULT_SETTINGS}
    places: dict[str, tuple[int, int]] = {}
    if table is None:
        return values, places
    collector = _Collector(schema.SETTINGS, problems)
    index = _columns(table, ("Key", "Value"), collector)
    if index is None:
        return values, places
    canonical = {schema.normalize_header(k): k for k, _ in schema.DEFAULT_SETTINGS}
    value_col = index[schema.normalize_header("Value")]
    for offset, row in enumerate(table.body):
        key_text = cell_text(_cell(row, index, "Key"))
        if not key_text:
            continue
        key = canonical.get(schema.normalize_header(key_text), key_text)
        raw = _cell(row, index, "Value")
        if key == "At risk at" and isinstance(raw, float) and raw <= 1:
            values[key] = f"{raw * 100:g}%"
        else:
            values[key] = cell_text(raw)
        places[key] = (offset + 1, value_col)
    return values, places


def _percent(text: str) -> float | None:
    cleaned = text.strip().rstrip("%").strip()
    try:
        number = float(cleaned)
    except ValueError:
        return None
    if not text.strip().endswith("%") and number <= 1:
        number *= 100
    return number / 100 if 0 < number <= 100 else None


def _reminders(text: str) -> tuple[float, ...] | None:
    """Given a Remind at setting ("50%, 75%, 90%"; blank, "none" or "off" for none),
    return its shares ascending without repeats, or None if a part is not a percentage
    below 100%."""
    if text.strip().casefold() in {"", "none", "off", "no"}:
        return ()
    shares = [_percent(part) for part in re.split(r"[,;]", text) if part.strip()]
    if not shares or any(share is None or share >= 1 for share in shares):
        return None
    return tuple(sorted({share for share in shares if share is not None}))


def _timezone(text: str) -> str | None:
    """Given a Timezone setting, return the IANA name (any case: "utc", "europe/london"),
    or None if it names no zone."""
    try:
        ZoneInfo(text)
        return text
    except (ZoneInfoNotFoundError, ValueError):
        pass
    wanted = text.strip().casefold()
    return next((name for name in available_timezones() if name.casefold() == wanted), None)


@dataclass(frozen=True)
class _Settings:
    """The Settings tab read: each value the policy uses, with a usable default where
    the cell could not be read (its problem is reported)."""

    values: dict[str, str]
    places: dict[str, tuple[int, int]]
    timezone: str | None
    work_days: frozenset[int]
    opening_closing: tuple[dt.time, dt.time] | None
    at_risk: float
    remind_at: tuple[float, ...]
    date_order: str
    required: tuple[str, ...]
    warnings: tuple[str, ...]

    def where(self, key: str) -> tuple[int, int | None]:
        return _where(self.places, key)


def _where(places: dict[str, tuple[int, int]], key: str) -> tuple[int, int | None]:
    """Given where each setting was read and a setting's name, return its (row, column)
    in the tab; (0, None) when the tab does not have it."""
    row, col = places.get(key, (0, None))
    return row, col


def _read_settings(table: Table | None, spreadsheet_timezone: str | None,
                   problems: list[Problem]) -> _Settings:
    """Given the Settings tab (or None) and the spreadsheet's own zone, return the
    settings read; each unreadable value is a problem located in its cell."""
    values, places = _load_settings(table, problems)
    collector = _Collector(schema.SETTINGS, problems)
    where = partial(_where, places)
    warnings: list[str] = []
    timezone_text = values.get("Timezone", "") or spreadsheet_timezone or "UTC"
    if not values.get("Timezone", "") and not spreadsheet_timezone:
        zone_row, zone_col = where("Timezone")
        place = (f"{schema.SETTINGS}!{schema.a1(zone_row, zone_col)} " if zone_col is not None
                 else "")
        warnings.append(f"{place}Timezone is blank: times are read and written as UTC; set "
                        'it to your zone, e.g. "Europe/Berlin" or "America/New_York".')
    timezone = _timezone(timezone_text)
    if timezone is None:
        collector.add(*where("Timezone"), f'Timezone: unknown timezone "{timezone_text}": '
                      'use an IANA name such as "Europe/London" or "America/New_York"')
    work_days = frozenset(range(5))
    opening_closing = None
    try:
        work_days = parse_work_days(values.get("Work days", ""))
    except ValueError as error:
        collector.add(*where("Work days"), f"Work days: {error}")
    try:
        opening_closing = parse_work_hours(values.get("Work hours", "") or "09:00-17:00")
    except ValueError as error:
        collector.add(*where("Work hours"), f"Work hours: {error}")
    at_risk = _percent(values.get("At risk at", "") or "75%")
    if at_risk is None:
        collector.add(*where("At risk at"),
                      f'cannot read "{values.get("At risk at")}" as a percentage (e.g. 75%)')
        at_risk = 0.75
    remind_text = values.get("Remind at", "")
    remind_at = _reminders(remind_text)
    if remind_at is None:
        collector.add(*where("Remind at"),
                      f'cannot read "{remind_text}" as percentages (e.g. 50%, 75%, 90%; '
                      "blank for no reminders)")
        remind_at = ()
    date_order = (values.get("Date order", "") or "MDY").upper()
    if date_order not in {"MDY", "DMY"}:
        collector.add(*where("Date order"), f'Date order must be MDY or DMY, not "{date_order}"')
        date_order = "MDY"
    required: list[str] = []
    for name in (p.strip() for p in values.get("Required info", "").split(",") if p.strip()):
        key = schema.KEY_BY_NORMALIZED.get(schema.normalize_header(name))
        if key is None or schema.COLUMN_BY_KEY[key] in schema.OWNED_COLUMNS:
            collector.add(*where("Required info"),
                          f'Required info names "{name}", which is not an Escalations input column')
        else:
            required.append(schema.COLUMN_BY_KEY[key].header)
    return _Settings(values, places, timezone, work_days, opening_closing, at_risk,
                     remind_at, date_order, tuple(required), tuple(warnings))


def _load_holidays(table: Table | None, date_order: str,
                   problems: list[Problem]) -> list[dt.date]:
    """Given the Holidays tab (or None), return its dates; an unreadable date is a
    problem located in its cell."""
    collector = _Collector(schema.HOLIDAYS, problems)
    index = _columns(table, ("Date",), collector) if table is not None and table.rows else None
    if table is None or index is None:
        return []
    holiday_dates: list[dt.date] = []
    date_col = index[schema.normalize_header("Date")]
    for offset, row in enumerate(table.body):
        raw = row[date_col] if date_col < len(row) else None
        if cell_text(raw) == "":
            continue
        stamp = parse_datetime_scalar(raw, "UTC", date_order)
        if stamp is None:
            collector.add(offset + 1, date_col, f'cannot read "{cell_text(raw)}" as a date')
        else:
            holiday_dates.append(stamp.date())
    return holiday_dates


def _business_calendar(settings: _Settings, holiday_dates: list[dt.date],
                       problems: list[Problem]) -> BusinessCalendar | None:
    """Given the settings and the Holidays tab's dates, return the business calendar, or
    None when the timezone is unknown or the holiday country is (a problem says which)."""
    if settings.timezone is None:
        return None
    opening, closing = settings.opening_closing or parse_work_hours("09:00-17:00")
    country = settings.values.get("Holiday country", "").strip() or None
    try:
        return BusinessCalendar(
            timezone=settings.timezone, work_days=settings.work_days, opening=opening,
            closing=closing, holiday_dates=holiday_dates, holiday_country=country,
        )
    except ValueError as error:
        # Timezone, work days and hours are checked before: only the country is left.
        _Collector(schema.SETTINGS, problems).add(*settings.where("Holiday country"),
                                                  f"Holiday country: {error}")
        return None


def _load_vip(table: Table | None, problems: list[Problem]) -> frozenset[str]:
    """Given the VIP tab (or None), return its customers' names, casefolded."""
    vip: set[str] = set()
    if table is not None and table.rows:
        index = _columns(table, ("Customer",), _Collector(schema.VIP, problems))
        if index is not None:
            for row in table.body:
                name = cell_text(_cell(row, index, "Customer"))
                if name:
                    vip.add(name.casefold())
    return frozenset(vip)


def load_policy(
    tabs: Mapping[str, Table], *, spreadsheet_timezone: str | None = None
) -> Policy:
    """Given the tabs read from a workbook, return the Policy.

    Raise ConfigError listing every problem (tab and A1 cell) if the policy is unusable.
    """
    problems: list[Problem] = []
    notes = [f"no {tab} tab: using the default {tab.lower()}"
             for tab in (schema.LEVELS, schema.TRIGGERS, schema.SETTINGS) if tab not in tabs]
    settings = _read_settings(tabs.get(schema.SETTINGS), spreadsheet_timezone, problems)
    holiday_dates = _load_holidays(tabs.get(schema.HOLIDAYS), settings.date_order, problems)
    calendar = _business_calendar(settings, holiday_dates, problems)
    levels = _load_levels(tabs.get(schema.LEVELS), problems, calendar)
    triggers = _load_triggers(tabs.get(schema.TRIGGERS), problems, calendar)
    vip = _load_vip(tabs.get(schema.VIP), problems)
    if problems or calendar is None:
        raise ConfigError(problems)
    assert settings.timezone is not None  # an unknown timezone is a problem reported above
    return Policy(
        levels=levels,
        triggers=triggers,
        timezone=settings.timezone,
        calendar=calendar,
        at_risk=settings.at_risk,
        date_order=settings.date_order,
        required_info=settings.required,
        vip=vip,
        settings=settings.values,
        notes=tuple(notes),
        warnings=settings.warnings,
        remind_at=settings.remind_at,
    )
