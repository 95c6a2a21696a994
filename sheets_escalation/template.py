"""The workbook template: one layout, as plain data, for `init` of a `.xlsx` and of a Google Sheet.

:data:`TAB_LAYOUTS` says, per tab, what the headers are, which rows seed it, how wide each
column is, which columns offer a dropdown, which hold datetimes, which the tool owns (shaded)
and which cell values colour a cell. The openpyxl builders below only translate that data; the
Google Sheets init reads the same data and translates it into Sheets API requests.

Run ``python -m sheets_escalation.template sheet_template.xlsx`` to regenerate the committed
template. The output is byte-for-byte deterministic (fixed document dates and zip entry
times), so regenerating an unchanged template changes nothing in git.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import sys
import tempfile
import textwrap
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from openpyxl import Workbook
from openpyxl.formatting.rule import CellIsRule, FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from sheets_escalation import schema, staleness
from sheets_escalation.errors import RefusedError, SourceError, UsageError

DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"
HOURS_FORMAT = "0.0"

# Colours are RRGGBB. Inputs get a pale blue header; tool-owned columns a grey header over a
# light grey column, so people see at a glance which cells the tool overwrites.
HEADER_FILL = "DDEBF7"
OWNED_HEADER_FILL = "BFBFBF"
OWNED_FILL = "F2F2F2"
HEADER_FONT = "000000"
# Named, so every program shows headers in the body's typeface (openpyxl's default style is
# Calibri 11); a font without a name falls back to a serif one in LibreOffice.
FONT_NAME = "Calibri"
FONT_SIZE = 11
# Points per line of 11-point text, as the spreadsheet programs lay out a wrapped cell.
LINE_HEIGHT = 15.0
DEFAULT_WIDTH = 14.0

# The staleness indicator: quiet grey while the sync runs, white on red once it stopped.
INDICATOR_FONT = "595959"
STALE_FILL = "C00000"
STALE_FONT = "FFFFFF"

# The last row of a sheet: validations and colour rules cover the whole column below the header.
LAST_ROW = 1_048_576


@dataclass(frozen=True)
class Dropdown:
    """A list of values offered in a column. ``strict`` rejects others; else it only warns."""

    values: tuple[str, ...]
    strict: bool = False


@dataclass(frozen=True)
class ColorRule:
    """Colour a cell whose text equals ``value`` (case-insensitive, as both apps compare)."""

    value: str
    fill: str
    font: str
    bold: bool = False


@dataclass(frozen=True)
class TabLayout:
    """How one tab of a new workbook looks. Every mapping is keyed by header text."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...] = ()
    widths: Mapping[str, float] = field(default_factory=dict)
    dropdowns: Mapping[str, Dropdown] = field(default_factory=dict)
    number_formats: Mapping[str, str] = field(default_factory=dict)
    owned: tuple[str, ...] = ()
    wrap: tuple[str, ...] = ()
    color_rules: Mapping[str, tuple[ColorRule, ...]] = field(default_factory=dict)
    freeze: str = "A2"

    @property
    def datetime_columns(self) -> tuple[str, ...]:
        """Headers whose cells hold date-times (shown as ``yyyy-mm-dd hh:mm``)."""
        return tuple(h for h in self.headers if self.number_formats.get(h) == DATETIME_FORMAT)

    def width(self, header: str) -> float:
        return self.widths.get(header, DEFAULT_WIDTH)


FLAG_COLORS: tuple[ColorRule, ...] = (
    ColorRule("ESCALATION OVERDUE", "8B0000", "FFFFFF", bold=True),
    ColorRule("ESCALATE", "E53935", "FFFFFF", bold=True),
    ColorRule("OVERDUE", "F6B26B", "000000", bold=True),
    ColorRule("CHECK INPUT", "D9D2E9", "351C75"),
    ColorRule("AT RISK", "FFE599", "7F6000"),
    ColorRule("OK", "C6EFCE", "006100"),
    ColorRule("RESOLVED", "D9D9D9", "595959"),
)
SLA_COLORS: tuple[ColorRule, ...] = (
    ColorRule("Overdue", "FFC7CE", "9C0006", bold=True),
    ColorRule("Missed", "FFC7CE", "9C0006"),
    ColorRule("At risk", "FFEB9C", "9C5700"),
    ColorRule("On track", "C6EFCE", "006100"),
    ColorRule("Met", "C6EFCE", "006100"),
    ColorRule("Paused", "DDEBF7", "1F4E79"),
)

_LEVEL_DROPDOWN = Dropdown(schema.LEVEL_NAMES, strict=True)
# Yes/no cells also accept y, x, 1, true, ✓ (SPEC §3), so the dropdown only warns.
_YES_NO_DROPDOWN = Dropdown(schema.YES_NO)

_ESCALATIONS = TabLayout(
    title=schema.ESCALATIONS,
    headers=tuple(c.header for c in schema.ESCALATION_COLUMNS),
    widths={
        "ID": 11, "Opened": 17, "Customer": 22, "Contact": 24, "Channel": 10,
        "Issue type": 14, "Issue key": 14, "Description": 44, "Steps tried": 32,
        "Sentiment": 12, "Urgency": 10, "Financial impact": 12, "Manager requested": 10,
        "Public mention": 10, "Beyond L2": 10, "Level": 7, "Handler": 16,
        "Escalated at": 17, "First response at": 17, "Resolved at": 17, "Status": 16,
        "Could L1 resolve?": 10, "Notes": 32, "Flag": 21, "Triggers": 24, "Why": 44,
        "Target level": 8, "Escalate by": 17, "Response due": 17, "Resolution due": 17,
        "Response SLA": 12, "Resolution SLA": 12, "Response hours": 10,
        "Resolution hours": 10, "Paused hours": 10, "Missing info": 24, "Problems": 40,
    },
    dropdowns={
        "Channel": Dropdown(schema.CHANNELS),
        "Sentiment": Dropdown(schema.SENTIMENTS),
        "Urgency": Dropdown(schema.URGENCIES),
        "Manager requested": _YES_NO_DROPDOWN,
        "Public mention": _YES_NO_DROPDOWN,
        "Beyond L2": _YES_NO_DROPDOWN,
        "Level": _LEVEL_DROPDOWN,
        "Status": Dropdown(schema.STATUSES),
        "Could L1 resolve?": _YES_NO_DROPDOWN,
    },
    number_formats={
        **{c.header: DATETIME_FORMAT for c in schema.ESCALATION_COLUMNS if c.kind == "datetime"},
        **{c.header: HOURS_FORMAT for c in schema.ESCALATION_COLUMNS if c.kind == "number"},
    },
    owned=tuple(c.header for c in schema.OWNED_COLUMNS),
    color_rules={"Flag": FLAG_COLORS, "Response SLA": SLA_COLORS, "Resolution SLA": SLA_COLORS},
    freeze="B2",
)

_LEVELS = TabLayout(
    title=schema.LEVELS,
    headers=schema.LEVELS_HEADERS,
    rows=schema.DEFAULT_LEVELS,
    widths={"Level": 7, "Name": 14, "Handled by": 32, "Scope": 60, "Response time": 18,
            "Resolution target": 18, "Notify": 40},
    dropdowns={"Level": _LEVEL_DROPDOWN},
    wrap=("Scope",),
)

_TRIGGERS = TabLayout(
    title=schema.TRIGGERS,
    headers=schema.TRIGGERS_HEADERS,
    rows=schema.DEFAULT_TRIGGERS,
    widths={"Trigger": 22, "Kind": 20, "Parameter": 60, "From": 7, "To": 7,
            "Timeframe": 12, "Apply": 8, "Enabled": 9},
    dropdowns={
        "Kind": Dropdown(schema.TRIGGER_KINDS, strict=True),
        "From": Dropdown(("Any", *schema.LEVEL_NAMES), strict=True),
        "To": Dropdown(schema.LEVEL_NAMES[1:], strict=True),
        "Apply": Dropdown(("auto", "flag"), strict=True),
        "Enabled": _YES_NO_DROPDOWN,
    },
    wrap=("Parameter",),
)

_SETTINGS = TabLayout(
    title=schema.SETTINGS,
    headers=schema.SETTINGS_HEADERS,
    rows=schema.DEFAULT_SETTINGS,
    widths={"Key": 18, "Value": 64},
)

_HOLIDAYS = TabLayout(
    title=schema.HOLIDAYS,
    headers=schema.HOLIDAYS_HEADERS,
    widths={"Date": 12, "Name": 32},
    number_formats={"Date": DATE_FORMAT},
)

_VIP = TabLayout(title=schema.VIP, headers=schema.VIP_HEADERS, widths={"Customer": 28, "Note": 40})

_HISTORY = TabLayout(
    title=schema.HISTORY,
    headers=schema.HISTORY_HEADERS,
    widths={"At": 17, "ID": 11, "Event": 14, "From": 7, "To": 7, "Trigger": 28, "By": 18,
            "Detail": 60},
    number_formats={"At": DATETIME_FORMAT},
    # The whole tab is written by the tool (append-only), so it is shaded like owned columns.
    owned=schema.HISTORY_HEADERS,
)

_TEMPLATES = TabLayout(
    title=schema.TEMPLATES,
    headers=schema.TEMPLATES_HEADERS,
    rows=schema.DEFAULT_TEMPLATES,
    widths={"Name": 12, "Subject": 50, "Body": 90},
    wrap=("Subject", "Body"),
)

TAB_LAYOUTS: dict[str, TabLayout] = {
    layout.title: layout
    for layout in (_ESCALATIONS, _LEVELS, _TRIGGERS, _SETTINGS, _HOLIDAYS, _VIP, _HISTORY,
                   _TEMPLATES)
}
TAB_ORDER: tuple[str, ...] = tuple(TAB_LAYOUTS)

# Fixed document dates make the generated file reproducible byte for byte.
_FIXED_TIME = dt.datetime(2026, 1, 1)  # noqa: DTZ001 - naive UTC, as the xlsx core properties store it
_ZIP_TIME = (2026, 1, 1, 0, 0, 0)


def layout_for(title: str) -> TabLayout | None:
    """Given a tab title (any case and spacing), return its template layout, or None."""
    wanted = schema.normalize_header(title)
    for layout in TAB_LAYOUTS.values():
        if schema.normalize_header(layout.title) == wanted:
            return layout
    return None


def _font(color: str, bold: bool) -> Font:
    return Font(name=FONT_NAME, size=FONT_SIZE, bold=bold, color="FF" + color)


def wrapped_lines(text: object, width: float) -> int:
    """Given a cell's text and its column width (in characters), return how many lines it
    takes when wrapped (at least 1)."""
    characters = max(int(width) - 1, 1)
    lines = 0
    for paragraph in str(text or "").split("\n"):
        lines += max(len(textwrap.wrap(paragraph, characters, break_long_words=True)), 1)
    return max(lines, 1)


def fit_row_height(ws: Worksheet, row: int, lines: int) -> None:
    """Make ``row`` at least ``lines`` lines tall (rows never shrink: a taller row was set
    for another cell or by a person)."""
    needed = lines * LINE_HEIGHT + 3
    dimension = ws.row_dimensions[row]
    if lines > 1 and (dimension.height is None or dimension.height < needed):
        dimension.height = needed


def print_setup(ws: Worksheet) -> None:
    """Give a tab the tool creates or lays out a page setup that prints readably:
    landscape, fit to one page wide (as many pages tall as needed), the header row
    repeated on every page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_title_rows = "1:1"


def _fill(color: str) -> PatternFill:
    return PatternFill(fill_type="solid", start_color="FF" + color, end_color="FF" + color)


def style_header_cell(ws: Worksheet, column: int, header: str, owned: bool) -> None:
    """Given a 1-based column, give its header cell (row 1) the template's header look."""
    cell = ws.cell(row=1, column=column)
    cell.font = _font(HEADER_FONT, bold=True)
    cell.fill = _fill(OWNED_HEADER_FILL if owned else HEADER_FILL)
    cell.alignment = Alignment(vertical="top", wrap_text=True)


def style_column(ws: Worksheet, layout: TabLayout, header: str, column: int) -> None:
    """Given a header of ``layout`` at 1-based ``column`` of ``ws``, apply the template's
    look to that column: header cell, width, column fill and number format, dropdown and
    colour rules. Cells below the header are styled through the column, so rows people (or
    the tool) add later take the same look."""
    owned = header in layout.owned
    letter = get_column_letter(column)
    style_header_cell(ws, column, header, owned)
    dimension = ws.column_dimensions[letter]
    dimension.width = layout.width(header)
    fit_row_height(ws, 1, wrapped_lines(header, layout.width(header)))
    if owned:
        dimension.fill = _fill(OWNED_FILL)
    if header in layout.number_formats:
        dimension.number_format = layout.number_formats[header]
    if header in layout.wrap:
        dimension.alignment = Alignment(vertical="top", wrap_text=True)
    body = f"{letter}2:{letter}{LAST_ROW}"
    dropdown = layout.dropdowns.get(header)
    if dropdown is not None:
        validation = DataValidation(
            type="list",
            formula1='"' + ",".join(dropdown.values) + '"',
            allow_blank=True,
            showErrorMessage=True,
            errorStyle="stop" if dropdown.strict else "warning",
            errorTitle=header,
            error="Choose one of: " + ", ".join(dropdown.values),
        )
        validation.add(body)
        ws.add_data_validation(validation)
    for rule in layout.color_rules.get(header, ()):
        ws.conditional_formatting.add(
            body,
            CellIsRule(operator="equal", formula=[f'"{rule.value}"'],
                       fill=_fill(rule.fill), font=_font(rule.font, rule.bold)),
        )


def _format_seed_cell(ws: Worksheet, layout: TabLayout, header: str, row: int, column: int) -> None:
    # openpyxl does not let cells inherit the column style, so seeded cells get it explicitly.
    cell = ws.cell(row=row, column=column)
    # Top-aligned throughout, so a row made taller by one wrapped cell reads as one line.
    cell.alignment = Alignment(vertical="top", wrap_text=header in layout.wrap)
    if header in layout.owned:
        cell.fill = _fill(OWNED_FILL)


def build_tab(ws: Worksheet, layout: TabLayout, rows: Sequence[Sequence[object]] | None = None) -> None:
    """Given an empty worksheet, write ``layout``'s header and ``rows`` (its seed rows when
    None) and apply the template look. Blank strings are left as blank cells."""
    for column, header in enumerate(layout.headers, start=1):
        ws.cell(row=1, column=column, value=header)
        style_column(ws, layout, header, column)
    body = layout.rows if rows is None else rows
    for row_number, values in enumerate(body, start=2):
        for column, value in enumerate(values, start=1):
            if value is None or value == "":
                continue
            cell = ws.cell(row=row_number, column=column)
            cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"  # seed text is never a formula
            if column <= len(layout.headers):
                header = layout.headers[column - 1]
                _format_seed_cell(ws, layout, header, row_number, column)
                if header in layout.wrap:
                    fit_row_height(ws, row_number, wrapped_lines(value, layout.width(header)))
    ws.freeze_panes = layout.freeze
    print_setup(ws)


def add_staleness_indicator(ws: Worksheet, column: int, key_column: str = "A",
                            value_column: str = "B", settings_title: str = schema.SETTINGS) -> None:
    """Given the Escalations worksheet, put the staleness indicator (see
    :mod:`sheets_escalation.staleness`) in row 1 at 1-based ``column``, reading the Settings
    tab's Key and Value columns; while it says the sync has stopped, its text turns red and
    the header cells left of it white on red."""
    letter = get_column_letter(column)
    cell = ws.cell(row=1, column=column,
                   value=staleness.formula(key_column, value_column, settings_title))
    # Unwrapped, so the sentence runs on over the empty cells to its right; for the same
    # reason it turns red text rather than white on red (the overflow has no fill).
    cell.font = _font(INDICATOR_FONT, bold=True)
    cell.alignment = Alignment(vertical="top", wrap_text=False)
    rule = staleness.stale_condition(f"${letter}$1")
    ws.conditional_formatting.add(
        f"{letter}1", FormulaRule(formula=[rule], font=_font(STALE_FILL, True)))
    if column > 1:
        ws.conditional_formatting.add(
            f"A1:{get_column_letter(column - 1)}1",
            FormulaRule(formula=[rule], fill=_fill(STALE_FILL), font=_font(STALE_FONT, True)))


# Where people write the month first (glibc's d_fmt for these locales is %m/%d/%Y);
# everywhere else a typed short date starts with the day (or the year, which reads either way).
_MONTH_FIRST_TERRITORIES = frozenset({"US", "PH", "FM", "MH", "PW", "GU", "PR", "AS", "VI",
                                      "UM", "MP", "BZ"})


def date_order_for_locale(name: str) -> str:
    """Given a locale name such as ``de_DE.UTF-8`` (or ``C``/blank), return the Settings
    Date order its people type: MDY for the United States and the few places writing
    dates the same way, MDY also when the locale names no territory (the default), DMY
    elsewhere."""
    language_territory = name.split(".", 1)[0].split("@", 1)[0]
    if "_" not in language_territory:
        return "MDY"
    territory = language_territory.split("_", 1)[1].upper()
    return "MDY" if territory in _MONTH_FIRST_TERRITORIES else "DMY"


def _seeded(layout: TabLayout, settings: Mapping[str, str] | None) -> Sequence[Sequence[object]]:
    if not settings or layout.title != schema.SETTINGS:
        return layout.rows
    return [(key, settings.get(key, value)) for key, value in layout.rows]


def new_workbook(settings: Mapping[str, str] | None = None) -> Workbook:
    """Return a new workbook holding every template tab, seeded with the defaults (the
    Settings values in ``settings`` replace the defaults of their keys)."""
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    workbook.remove(first)
    for layout in TAB_LAYOUTS.values():
        build_tab(workbook.create_sheet(layout.title), layout, _seeded(layout, settings))
    add_staleness_indicator(workbook[schema.ESCALATIONS], staleness.TEMPLATE_COLUMN)
    workbook.active = 0
    return workbook


def add_missing_tabs(workbook: Workbook, settings: Mapping[str, str] | None = None) -> list[str]:
    """Given a workbook, add the template tabs it lacks (matched by title, any case and
    spacing), seeded with the defaults (the Settings values in ``settings`` replace the
    defaults of their keys); return the titles added. Existing tabs are untouched."""
    present = {schema.normalize_header(title) for title in workbook.sheetnames}
    added: list[str] = []
    for layout in TAB_LAYOUTS.values():
        if schema.normalize_header(layout.title) in present:
            continue
        build_tab(workbook.create_sheet(layout.title), layout, _seeded(layout, settings))
        added.append(layout.title)
    return added


def complete_workbook(workbook: Workbook,
                      seed: Mapping[str, str] | None = None) -> list[str]:
    """Given an existing workbook, add what the template has and it lacks, changing no cell,
    tab or part it holds: the missing template tabs (an existing but empty one is laid out
    like a new one), the staleness indicator in the first column of the Escalations header
    row right of every column in use, and a ``Stale after`` row below the last Settings
    row. A Settings tab it adds or lays out takes the values in ``seed`` (the machine's
    time zone and date order) over the defaults. Return what was added, in words (empty when nothing was
    missing)."""
    added = [f"tab {title}" for title in add_missing_tabs(workbook, seed)]
    for layout in TAB_LAYOUTS.values():
        title = _title_in(workbook, layout.title)
        if not _used_columns(workbook[title]):
            build_tab(workbook[title], layout, _seeded(layout, seed))
            added.append(f"tab {title} (it was empty)")
    settings = workbook[_title_in(workbook, schema.SETTINGS)]
    key_column, value_column = _settings_columns(settings)
    escalations = workbook[_title_in(workbook, schema.ESCALATIONS)]
    if not any(staleness.is_indicator(value) for value in _row(escalations, 1).values()):
        column = _used_columns(escalations) + 1
        add_staleness_indicator(escalations, column, get_column_letter(key_column),
                                get_column_letter(value_column), settings.title)
        added.append(f"staleness indicator ({escalations.title}!{get_column_letter(column)}1)")
    wanted = schema.normalize_header(staleness.STALE_AFTER_KEY)
    keys = [cell.value for (row, column), cell in settings._cells.items()
            if row > 1 and column == key_column]
    if not any(isinstance(key, str) and schema.normalize_header(key) == wanted for key in keys):
        row = _last_used_row(settings) + 1
        settings.cell(row=row, column=key_column, value=staleness.STALE_AFTER_KEY)
        settings.cell(row=row, column=value_column, value=staleness.DEFAULT_STALE_AFTER)
        added.append(f"{settings.title} row {staleness.STALE_AFTER_KEY}")
    return added


def _title_in(workbook: Workbook, title: str) -> str:
    wanted = schema.normalize_header(title)
    return next(t for t in workbook.sheetnames if schema.normalize_header(t) == wanted)


def _settings_columns(settings: Worksheet) -> tuple[int, int]:
    """The 1-based Key and Value columns of Settings, found by header (A and B if absent)."""
    header = {schema.normalize_header(value): column
              for column, value in _row(settings, 1).items() if isinstance(value, str)}
    return header.get(schema.normalize_header("Key"), 1), header.get(schema.normalize_header("Value"), 2)


def _row(ws: Worksheet, row: int) -> dict[int, object]:
    """The 1-based row's values by 1-based column, creating no cell."""
    # The cell store is read directly: openpyxl's row iterators create the cells they visit,
    # and a created cell would be saved into a tab init must leave as it is.
    return {column: cell.value for (number, column), cell in ws._cells.items() if number == row}


def _used_columns(ws: Worksheet) -> int:
    """The 1-based number of the last column holding a value in any row (0 when none)."""
    return max((column for (_, column), cell in ws._cells.items()
                if cell.value is not None and cell.value != ""), default=0)


def _last_used_row(ws: Worksheet) -> int:
    return max((row for (row, _), cell in ws._cells.items()
                if cell.value is not None and cell.value != ""), default=0)


def with_cached_indicator(data: bytes) -> bytes:
    """Given a saved .xlsx package, return it with the staleness indicator's cached value
    filled in where it has none (see :func:`_cache_indicator`), every other part as it is."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            part = source.read(info.filename)
            if info.filename.startswith("xl/worksheets/"):
                part = _cache_indicator(part)
            target.writestr(info, part)
    return out.getvalue()


# What openpyxl gives a cell assigned a datetime or date: the sheet shows no seconds.
_OPENPYXL_DATETIME_FORMATS = frozenset({"yyyy-mm-dd h:mm:ss", "General"})
_OPENPYXL_DATE_FORMATS = frozenset({"yyyy-mm-dd", "General"})


def _times_without_seconds(workbook: Workbook) -> None:
    """Show every date-time cell as ``yyyy-mm-dd hh:mm`` (and dates as ``yyyy-mm-dd``)
    unless it was given a format of its own."""
    for ws in workbook.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, dt.datetime):
                    if cell.number_format in _OPENPYXL_DATETIME_FORMATS:
                        cell.number_format = DATETIME_FORMAT
                elif isinstance(cell.value, dt.date) and \
                        cell.number_format in _OPENPYXL_DATE_FORMATS:
                    cell.number_format = DATE_FORMAT


def workbook_bytes(workbook: Workbook) -> bytes:
    """Given a workbook, return its .xlsx bytes with fixed document dates and zip entry
    times, so the same workbook always yields the same bytes."""
    workbook.properties.created = _FIXED_TIME
    _times_without_seconds(workbook)
    raw = io.BytesIO()
    workbook.save(raw)
    stamp = _FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.startswith("xl/worksheets/"):
                data = _cache_indicator(data)
            if info.filename == "docProps/core.xml":
                # openpyxl stamps "modified" with the wall clock while saving.
                data = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>" + stamp.encode() + rb"\g<2>",
                    data,
                )
            entry = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            target.writestr(entry, data)
    return out.getvalue()


_INDICATOR_CELL = re.compile(rb'<c (?P<attrs>[^>]*)><f>(?P<formula>[^<]*' +
                             re.escape(staleness.STOPPED.encode()) + rb'[^<]*)</f><v\s*/?>(?:</v>)?</c>')


def _cache_indicator(xml: bytes) -> bytes:
    """Give the staleness indicator the value it shows in a workbook that never ran.

    openpyxl saves formulas without a value; a reader that takes cached values (the tool's
    own, calamine) would see a blank header cell and could put a new owned column over it.
    Excel, LibreOffice and Google Sheets recompute it (NOW() is volatile) when they open it.
    """
    def cached(match: re.Match[bytes]) -> bytes:
        attrs = re.sub(rb'\s*t="[^"]*"', b"", match.group("attrs"))
        return (b"<c " + attrs + b' t="str"><f>' + match.group("formula") + b"</f><v>"
                + staleness.NEVER_TEXT.encode() + b"</v></c>")

    return _INDICATOR_CELL.sub(cached, xml)


def write_template(path: Path) -> None:
    """Write the template workbook to ``path``, replacing any file there (the generator of
    the committed sheet_template.xlsx; `init` uses :func:`init_xlsx`, which never replaces)."""
    path.write_bytes(workbook_bytes(new_workbook()))


def init_xlsx(path: Path, settings: Mapping[str, str] | None = None) -> list[str]:
    """Given a path that does not exist yet, create the template workbook there (with
    ``settings`` in place of the default Settings values) and return the titles of its tabs. Raise RefusedError if something exists at ``path`` (a file is
    never overwritten), UsageError if it is not an ``.xlsx`` path, SourceError if it cannot
    be written."""
    if path.suffix.lower() != ".xlsx":
        raise UsageError(f"{path}: a new local workbook must be an .xlsx file")
    if path.exists() or path.is_symlink():
        raise RefusedError(
            f"{path} already exists; init never overwrites a workbook "
            "(choose a new path, or run sync on the existing one)"
        )
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise SourceError(f"cannot create {path}: folder {directory} not found")
    workbook = new_workbook(settings)
    data = workbook_bytes(workbook)
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, 0o666 & ~_umask())
            _publish_new(Path(temporary), path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    except FileExistsError as error:
        raise RefusedError(f"{path} already exists; init never overwrites a workbook") from error
    except OSError as error:
        raise SourceError(f"cannot create {path}: {error.strerror or error}") from error
    return list(workbook.sheetnames)


def _publish_new(temporary: Path, path: Path) -> None:
    # A hard link fails if the path appeared meanwhile, where a rename would replace it;
    # filesystems without hard links get a check-then-rename instead.
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError:
        if path.exists():
            raise FileExistsError(str(path)) from None
        os.replace(temporary, path)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def main(argv: Sequence[str]) -> int:
    """Regenerate the template workbook at the path given as the only argument."""
    if len(argv) != 1:
        print("usage: python -m sheets_escalation.template PATH.xlsx", file=sys.stderr)
        return 2
    write_template(Path(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
