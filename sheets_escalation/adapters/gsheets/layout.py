"""The ``spreadsheets.batchUpdate`` requests that give tabs their look on Google Sheets.

The review tab (:func:`review_sheet_requests`) is laid out as the xlsx review is, from the
neutral layout in :mod:`sheets_escalation.core.review_layout`: bold titles, number formats,
column widths, a frozen first row and a native chart beside each table that has one.

A template tab (Escalations, History, Settings…) is laid out from its
:class:`~sheets_escalation.core.layout.TabLayout` by :class:`Layout`: header row, frozen
panes, widths, number formats, dropdowns, colour rules and the protected owned columns,
all found by header text. ``init --sheet`` lays out every template tab with it
(:mod:`~sheets_escalation.adapters.gsheets.init`); a tab a job creates gets the same look
(:func:`new_tab_requests`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sheets_escalation.core import schema
from sheets_escalation.core.layout import (
    DATE_FORMAT,
    DATETIME_FORMAT,
    HEADER_FILL,
    HEADER_FONT,
    OWNED_FILL,
    OWNED_HEADER_FILL,
    TAB_LAYOUTS,
    TabLayout,
)
from sheets_escalation.core.review_layout import (
    TablePlace,
    charts_first_row,
    review_rows,
    table_places,
)
from sheets_escalation.core.table import Value, header_index

if TYPE_CHECKING:
    from sheets_escalation.core.review import Review


# --------------------------------------------------------------------------- review tab

# The review tab's look on Google Sheets, matching the xlsx review (adapters/export/sheet.py).
REVIEW_NUMBER_FORMATS = {
    "pct": {"type": "PERCENT", "pattern": "0.0%"},
    "hours": {"type": "NUMBER", "pattern": "0.0#"},
    "int": {"type": "NUMBER", "pattern": "0"},
}
REVIEW_HEADER_FILL = {"red": 0xDD / 255, "green": 0xE4 / 255, "blue": 0xEE / 255}
REVIEW_PIXELS_PER_CHARACTER = 7
CHART_WIDTH_PIXELS = 600
CHART_HEIGHT_PIXELS = 340
CHART_ROWS = 18  # sheet rows a chart covers at the default row height (21 px), plus a gap


def _repeat_format(sheet_id: int, rows: tuple[int, int], cols: tuple[int, int],
                   fmt: dict[str, Any]) -> dict[str, Any]:
    """A repeatCell setting ``fmt`` on 0-based half-open ``rows`` x ``cols``."""
    return {"repeatCell": {
        "range": {"sheetId": sheet_id, "startRowIndex": rows[0], "endRowIndex": rows[1],
                  "startColumnIndex": cols[0], "endColumnIndex": cols[1]},
        "cell": {"userEnteredFormat": fmt},
        "fields": "userEnteredFormat(" + ",".join(fmt) + ")",
    }}


def review_sheet_requests(review: Review, sheet_id: int) -> list[dict[str, Any]]:
    """Given a review and the sheetId of its tab, already filled with
    :func:`~sheets_escalation.core.review_layout.review_rows`, return the ``spreadsheets.batchUpdate``
    requests laying the tab out as the xlsx review is: bold title, headline labels and
    table headers, percent / hours / count number formats, column widths, frozen first
    row, and a native chart (``addChart``, a basic column or line chart: domain = the
    category column, one series per value column, header row included) for each section
    that has a chart and rows, to the right of the tables beside its own table.
    """
    rows, places = review_rows(review), table_places(review)
    out: list[dict[str, Any]] = [
        {"updateSheetProperties": {
            "properties": {"sheetId": sheet_id, "gridProperties": {"frozenRowCount": 1}},
            "fields": "gridProperties.frozenRowCount",
        }},
        _repeat_format(sheet_id, (0, 1), (0, 1), {"textFormat": {"bold": True, "fontSize": 14}}),
    ]
    if review.headline:
        out.append(_repeat_format(sheet_id, (2, 2 + len(review.headline)), (0, 1),
                                  {"textFormat": {"bold": True}}))
    for offset, (label, _) in enumerate(review.headline):
        number = REVIEW_NUMBER_FORMATS.get(review.headline_formats.get(label, "text"))
        if number is not None:
            out.append(_repeat_format(sheet_id, (2 + offset, 3 + offset), (1, 2),
                                      {"numberFormat": number}))
    for place, section in zip(places, review.sections, strict=True):
        header = place.header_row
        title_row = header - (2 if section.note else 1)
        out.append(_repeat_format(sheet_id, (title_row, title_row + 1), (0, 1),
                                  {"textFormat": {"bold": True, "fontSize": 12}}))
        if section.note:
            out.append(_repeat_format(sheet_id, (header - 1, header), (0, 1), {"textFormat": {
                "italic": True, "foregroundColor": {"red": 1 / 3, "green": 1 / 3, "blue": 1 / 3}}}))
        out.append(_repeat_format(sheet_id, (header, header + 1), (0, place.columns), {
            "backgroundColor": REVIEW_HEADER_FILL, "textFormat": {"bold": True},
            "verticalAlignment": "TOP", "wrapStrategy": "WRAP",
        }))
        for index, column in enumerate(section.table.columns):
            number = REVIEW_NUMBER_FORMATS.get(section.formats.get(str(column), "text"))
            if number is not None and place.rows:
                out.append(_repeat_format(sheet_id, (header + 1, header + 1 + place.rows),
                                          (index, index + 1), {"numberFormat": number}))
    recommendations = len(rows) - len(review.recommendations) - 1
    out.append(_repeat_format(sheet_id, (recommendations, recommendations + 1), (0, 1),
                              {"textFormat": {"bold": True, "fontSize": 12}}))
    width = max([2, *(place.columns for place in places)])
    out.extend(_review_widths(review, rows, places, width, sheet_id))
    out.extend(_review_charts(review, places, width + 1, sheet_id))
    return out


def _review_widths(review: Review, rows: Sequence[Sequence[Any]], places: Sequence[TablePlace],
                   width: int, sheet_id: int) -> list[dict[str, Any]]:
    # As in the xlsx review: headline and table cells set the widths (table headers wrap,
    # so only their longest word counts); titles, notes and sentences may spill over. The
    # 10-character floor covers any percentage or hour value.
    lengths = [0] * width
    cells = [rows[r] for r in range(2, 2 + len(review.headline))]
    cells += [rows[r] for p in places for r in range(p.header_row + 1, p.header_row + 1 + p.rows)]
    for row in cells:
        for index, value in enumerate(row[:width]):
            lengths[index] = max(lengths[index], len("" if value is None else str(value)))
    for place in places:
        for index, header in enumerate(rows[place.header_row][:width]):
            longest = max((len(word) for word in str(header).split()), default=0)
            lengths[index] = max(lengths[index], longest + 2)
    return [
        {"updateDimensionProperties": {
            "range": {"sheetId": sheet_id, "dimension": "COLUMNS",
                      "startIndex": index, "endIndex": index + 1},
            "properties": {"pixelSize": min(max(length + 2, 10), 50) * REVIEW_PIXELS_PER_CHARACTER},
            "fields": "pixelSize",
        }}
        for index, length in enumerate(lengths)
    ]


def _chart_source(sheet_id: int, place: TablePlace, column: int) -> dict[str, Any]:
    """One column of a review table, header row included, as a chart's data source."""
    return {"sourceRange": {"sources": [{
        "sheetId": sheet_id, "startRowIndex": place.header_row,
        "endRowIndex": place.header_row + 1 + place.rows,
        "startColumnIndex": column, "endColumnIndex": column + 1,
    }]}}


def _review_charts(review: Review, places: Sequence[TablePlace], column: int,
                   sheet_id: int) -> list[dict[str, Any]]:

    out: list[dict[str, Any]] = []
    free_row = charts_first_row(review)
    for place, section in zip(places, review.sections, strict=True):
        spec = section.chart
        if spec is None or place.rows == 0:
            continue
        columns = [str(c) for c in section.table.columns]
        header = place.header_row
        value_axis: dict[str, Any] = {"position": "LEFT_AXIS"}
        if len(spec.values) == 1:
            value_axis["title"] = spec.values[0]
        # Counts and shares never go below zero.
        value_axis["viewWindowOptions"] = {"viewWindowMode": "EXPLICIT", "viewWindowMin": 0}
        if spec.value_format == "pct":
            value_axis["viewWindowOptions"]["viewWindowMax"] = 1
        anchor = max(free_row, header - (2 if section.note else 1))
        free_row = anchor + CHART_ROWS
        out.append({"addChart": {"chart": {
            "spec": {"title": spec.title, "basicChart": {
                "chartType": "LINE" if spec.kind == "line" else "COLUMN",
                "lineSmoothing": False,
                "legendPosition": "BOTTOM_LEGEND" if len(spec.values) > 1 else "NO_LEGEND",
                "headerCount": 1,
                "axis": [{"position": "BOTTOM_AXIS", "title": spec.category}, value_axis],
                "domains": [{"domain": _chart_source(sheet_id, place, columns.index(spec.category))}],
                "series": [{"series": _chart_source(sheet_id, place, columns.index(name)),
                            "targetAxis": "LEFT_AXIS",
                            **({} if spec.kind == "line" else
                               {"dataLabel": {"type": "DATA", "placement": "OUTSIDE_END"}})}
                           for name in spec.values],
            }},
            "position": {"overlayPosition": {
                "anchorCell": {"sheetId": sheet_id, "rowIndex": anchor, "columnIndex": column},
                "widthPixels": CHART_WIDTH_PIXELS, "heightPixels": CHART_HEIGHT_PIXELS,
            }},
        }}})
    return out


# --------------------------------------------------------------------------- template tabs


PROTECTION_DESCRIPTION = "sheets-escalation: columns the tool overwrites on every run"
_PIXELS_PER_CHARACTER = 7


def rgb(hex_color: str) -> dict[str, float]:
    return {
        name: int(hex_color[i:i + 2], 16) / 255
        for name, i in (("red", 0), ("green", 2), ("blue", 4))
    }


def _number_format(pattern: str) -> dict[str, str]:
    kind = {DATETIME_FORMAT: "DATE_TIME", DATE_FORMAT: "DATE"}.get(pattern, "NUMBER")
    return {"type": kind, "pattern": pattern}


def _freeze(cell: str) -> tuple[int, int]:
    """'B2' -> (1 frozen row, 1 frozen column)."""
    letters = "".join(ch for ch in cell if ch.isalpha())
    digits = "".join(ch for ch in cell if ch.isdigit())
    column = 0
    for ch in letters.upper():
        column = column * 26 + ord(ch) - 64
    return int(digits) - 1, column - 1


def _column(sheet_id: int, col: int, start_row: int = 1) -> dict[str, int]:
    # No endRowIndex: the range is unbounded below, so rows added later are covered too.
    return {"sheetId": sheet_id, "startRowIndex": start_row, "startColumnIndex": col,
            "endColumnIndex": col + 1}


def rule_signature(rule: dict[str, Any]) -> tuple[Any, ...]:
    ranges = tuple(sorted(
        (r.get("sheetId", 0), r.get("startRowIndex", 0), r.get("startColumnIndex", 0),
         r.get("endColumnIndex")) for r in rule.get("ranges", [])
    ))
    boolean = rule.get("booleanRule", {})
    condition = boolean.get("condition", {})
    values = tuple(v.get("userEnteredValue") for v in condition.get("values", []))
    fmt = boolean.get("format", {})
    colors = (
        _color_key(fmt.get("backgroundColor", {})),
        _color_key(fmt.get("textFormat", {}).get("foregroundColor", {})),
        bool(fmt.get("textFormat", {}).get("bold", False)),
    )
    return ranges, condition.get("type"), values, colors


def _color_key(color: dict[str, float]) -> tuple[tuple[str, float], ...]:
    # Google answers float32 colours and leaves zero components out.
    return tuple(sorted((k, round(v, 3)) for k, v in color.items() if v))


class Layout:
    """The requests laying one template tab out on one sheet."""

    def __init__(self, layout: TabLayout, sheet_id: int, header: Sequence[Value],
                 existing: dict[str, Any]) -> None:
        self.layout = layout
        self.sheet_id = sheet_id
        index = header_index(header)
        self.columns = {
            h: index[schema.normalize_header(h)] for h in layout.headers
            if schema.normalize_header(h) in index
        }
        self.existing_rules = {rule_signature(r) for r in existing.get("conditionalFormats", [])}
        self.our_protections = [
            p for p in existing.get("protectedRanges", [])
            if p.get("description") == PROTECTION_DESCRIPTION
        ]

    def requests(self, settings_rows: Sequence[Sequence[Value]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        layout, sheet_id = self.layout, self.sheet_id
        rows, cols = _freeze(layout.freeze)
        out.append({"updateSheetProperties": {
            "properties": {"sheetId": sheet_id,
                           "gridProperties": {"frozenRowCount": rows, "frozenColumnCount": cols}},
            "fields": "gridProperties.frozenRowCount,gridProperties.frozenColumnCount",
        }})
        for header, col in self.columns.items():
            owned = header in layout.owned
            out.append({"repeatCell": {
                "range": {"sheetId": sheet_id, "startRowIndex": 0, "endRowIndex": 1,
                          "startColumnIndex": col, "endColumnIndex": col + 1},
                "cell": {"userEnteredFormat": {
                    "backgroundColor": rgb(OWNED_HEADER_FILL if owned else HEADER_FILL),
                    "textFormat": {"bold": True, "foregroundColor": rgb(HEADER_FONT)},
                    "verticalAlignment": "TOP", "wrapStrategy": "WRAP",
                }},
                "fields": "userEnteredFormat(backgroundColor,textFormat,verticalAlignment,wrapStrategy)",
            }})
            out.append({"updateDimensionProperties": {
                "range": {"sheetId": sheet_id, "dimension": "COLUMNS",
                          "startIndex": col, "endIndex": col + 1},
                "properties": {"pixelSize": round(layout.width(header) * _PIXELS_PER_CHARACTER)},
                "fields": "pixelSize",
            }})
            body: dict[str, Any] = {}
            if owned:
                body["backgroundColor"] = rgb(OWNED_FILL)
            if header in layout.number_formats:
                body["numberFormat"] = _number_format(layout.number_formats[header])
            if header in layout.wrap:
                body["wrapStrategy"] = "WRAP"
                body["verticalAlignment"] = "TOP"
            if body:
                out.append({"repeatCell": {
                    "range": _column(sheet_id, col),
                    "cell": {"userEnteredFormat": body},
                    "fields": "userEnteredFormat(" + ",".join(body) + ")",
                }})
            dropdown = layout.dropdowns.get(header)
            if dropdown is not None:
                out.append({"setDataValidation": {
                    "range": _column(sheet_id, col),
                    "rule": {
                        "condition": {"type": "ONE_OF_LIST",
                                      "values": [{"userEnteredValue": v} for v in dropdown.values]},
                        "strict": dropdown.strict,
                        "showCustomUi": True,
                        "inputMessage": "Choose one of: " + ", ".join(dropdown.values),
                    },
                }})
            for color in layout.color_rules.get(header, ()):
                rule = {
                    "ranges": [_column(sheet_id, col)],
                    "booleanRule": {
                        "condition": {"type": "TEXT_EQ",
                                      "values": [{"userEnteredValue": color.value}]},
                        "format": {"backgroundColor": rgb(color.fill),
                                   "textFormat": {"foregroundColor": rgb(color.font),
                                                  "bold": color.bold}},
                    },
                }
                if rule_signature(rule) not in self.existing_rules:
                    self.existing_rules.add(rule_signature(rule))
                    out.append({"addConditionalFormatRule": {"rule": rule, "index": 0}})
        out.extend(self._last_run_format(settings_rows))
        out.extend(self._protections())
        return out

    def _last_run_format(self, rows: Sequence[Sequence[Value]]) -> list[dict[str, Any]]:
        if self.layout.title != schema.SETTINGS or "Value" not in self.columns:
            return []
        key_col = self.columns.get("Key", 0)
        for number, row in enumerate(rows):
            if key_col < len(row) and schema.normalize_header(row[key_col]) == "lastrun":
                col = self.columns["Value"]
                return [{"repeatCell": {
                    "range": {"sheetId": self.sheet_id, "startRowIndex": number,
                              "endRowIndex": number + 1, "startColumnIndex": col,
                              "endColumnIndex": col + 1},
                    "cell": {"userEnteredFormat": {"numberFormat": _number_format(DATETIME_FORMAT)}},
                    "fields": "userEnteredFormat.numberFormat",
                }}]
        return []

    def _protections(self) -> list[dict[str, Any]]:
        owned = sorted(col for header, col in self.columns.items() if header in self.layout.owned)
        blocks: list[list[int]] = []
        for col in owned:
            if blocks and col == blocks[-1][-1] + 1:
                blocks[-1].append(col)
            else:
                blocks.append([col])
        wanted = [{"sheetId": self.sheet_id, "startColumnIndex": b[0], "endColumnIndex": b[-1] + 1}
                  for b in blocks]
        have = [
            {"sheetId": p["range"].get("sheetId", 0), "startColumnIndex": p["range"].get("startColumnIndex", 0),
             "endColumnIndex": p["range"].get("endColumnIndex")}
            for p in self.our_protections
        ]
        if have == wanted and all(p.get("warningOnly") for p in self.our_protections):
            return []
        out: list[dict[str, Any]] = [
            {"deleteProtectedRange": {"protectedRangeId": p["protectedRangeId"]}}
            for p in self.our_protections
        ]
        out.extend(
            {"addProtectedRange": {"protectedRange": {
                "range": grid, "description": PROTECTION_DESCRIPTION, "warningOnly": True,
            }}}
            for grid in wanted
        )
        return out


def new_tab_requests(title: str, sheet_id: int, header: Sequence[Value]) -> list[dict[str, Any]]:
    """Given a tab a job creates (History on a first sync), return the requests giving it the
    look ``init`` gives it (header row, frozen panes, widths, date-time formats, so its dates
    read as dates rather than serial numbers); none for a tab the template does not have."""
    layout = TAB_LAYOUTS.get(title)
    if layout is None:
        return []
    return Layout(layout, sheet_id, header, {}).requests([])
