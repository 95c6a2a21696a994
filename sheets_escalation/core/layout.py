"""The workbook's layout as plain data: one description of every tab, shared by `init` of
a ``.xlsx`` (adapters/xlsx/template.py translates it into openpyxl) and of a Google Sheet
(adapters/gsheets/init.py translates it into Sheets API requests).

:data:`TAB_LAYOUTS` says, per tab, what the headers are, which rows seed it, how wide each
column is, which columns offer a dropdown, which hold datetimes, which the tool owns (shaded)
and which cell values colour a cell.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sheets_escalation.core import schema

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


def layout_for(title: str) -> TabLayout | None:
    """Given a tab title (any case and spacing), return its template layout, or None."""
    wanted = schema.normalize_header(title)
    for layout in TAB_LAYOUTS.values():
        if schema.normalize_header(layout.title) == wanted:
            return layout
    return None



def wrapped_lines(text: object, width: float) -> int:
    """Given a cell's text and its column width (in characters), return how many lines it
    takes when wrapped (at least 1)."""
    characters = max(int(width) - 1, 1)
    lines = 0
    for paragraph in str(text or "").split("\n"):
        lines += max(len(textwrap.wrap(paragraph, characters, break_long_words=True)), 1)
    return max(lines, 1)



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


def seeded_rows(layout: TabLayout, settings: Mapping[str, str] | None) -> Sequence[Sequence[object]]:
    if not settings or layout.title != schema.SETTINGS:
        return layout.rows
    return [(key, settings.get(key, value)) for key, value in layout.rows]
