"""The ``spreadsheets.batchUpdate`` requests that give tabs their look on Google Sheets.

The review tab (:func:`review_sheet_requests`) is laid out as the xlsx review is, from the
neutral layout in :mod:`sheets_escalation.core.review_layout`: bold titles, number formats,
column widths, a frozen first row and a native chart beside each table that has one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sheets_escalation.core.review_layout import (
    TablePlace,
    charts_first_row,
    review_rows,
    table_places,
)

if TYPE_CHECKING:
    from sheets_escalation.core.review import Review

# The review tab's look on Google Sheets, matching the xlsx review (export.py).
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
