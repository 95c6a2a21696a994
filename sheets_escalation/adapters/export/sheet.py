"""The review as an openpyxl sheet laid out for people: headline first, bold headers,
percent and hour number formats, column widths, and native charts in a column to the right
of the tables. Every text cell is stored as text, so sheet text never becomes a formula.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.label import DataLabelList
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from sheets_escalation.adapters.xlsx.template import fit_row_height, print_setup
from sheets_escalation.core.layout import DEFAULT_WIDTH, FONT_NAME, FONT_SIZE, wrapped_lines
from sheets_escalation.core.review import Review
from sheets_escalation.core.review_layout import (
    TablePlace,
    charts_first_row,
    headline_text,
    inert_review,
    rows_and_places,
    section_text,
)

_NUMBER_FORMATS = {"pct": "0.0%", "hours": "0.0#", "int": "0"}

_CHART_ROWS = 18  # rows of sheet each chart takes in the chart column

_HEADER_FILL = PatternFill("solid", fgColor="DDE4EE")


def _named_font(bold: bool = False, italic: bool = False, size: float = FONT_SIZE,
                color: str | None = None) -> Font:
    """A font naming its typeface, so LibreOffice does not fall back to a serif one."""
    return Font(name=FONT_NAME, size=size, bold=bold, italic=italic, color=color)


def write_review_sheet(ws: Worksheet, review: Review) -> None:
    """Given an empty openpyxl worksheet and a review, lay the review out for people:
    headline first, bold headers, percent and hour number formats, column widths, and
    native openpyxl charts in a column to the right of the tables. Every text cell is
    stored as text, so sheet text such as "=HYPERLINK(...)" never becomes a formula."""
    review = inert_review(review)
    rows, places = rows_and_places(review)
    for row_index, row in enumerate(rows, start=1):
        for column_index, value in enumerate(row, start=1):
            cell = ws.cell(row=row_index, column=column_index, value=value)
            if isinstance(value, str):
                cell.data_type = "s"
    ws.cell(row=1, column=1).font = _named_font(bold=True, size=14)
    for offset in range(len(review.answers)):
        ws.cell(row=3 + offset, column=1).font = _named_font(bold=True)
        # The answer spills right over the empty cells beside it, on one line.
        ws.cell(row=3 + offset, column=2).alignment = Alignment(wrap_text=False)
    first = 3 + (len(review.answers) + 1 if review.answers else 0)
    for offset, (label, _) in enumerate(review.headline):
        ws.cell(row=first + offset, column=1).font = _named_font(bold=True)
        fmt = review.headline_formats.get(label, "text")
        if fmt in _NUMBER_FORMATS:
            ws.cell(row=first + offset, column=2).number_format = _NUMBER_FORMATS[fmt]
    width = max([2, *(place.columns for place in places)])
    for place, section in zip(places, review.sections, strict=True):
        header = place.header_row + 1
        title_row = header - (2 if section.note else 1)
        ws.cell(row=title_row, column=1).font = _named_font(bold=True, size=12)
        if section.note:
            ws.cell(row=header - 1, column=1).font = _named_font(italic=True, color="555555")
        for column_index, column in enumerate(section.table.columns, start=1):
            head = ws.cell(row=header, column=column_index)
            head.font = _named_font(bold=True)
            head.fill = _HEADER_FILL
            head.alignment = Alignment(wrap_text=True, vertical="top")
            fmt = section.formats.get(str(column), "text")
            for row_index in range(header + 1, header + 1 + place.rows):
                if fmt in _NUMBER_FORMATS:
                    ws.cell(row=row_index, column=column_index).number_format = _NUMBER_FORMATS[fmt]
    recommendations_row = len(rows) - len(review.recommendations)
    ws.cell(row=recommendations_row, column=1).font = _named_font(bold=True, size=12)
    _set_widths(ws, review, places, width)
    for place, section in zip(places, review.sections, strict=True):
        # Tall enough for the wrapped table headers, which would overlap the first row.
        fit_row_height(ws, place.header_row + 1, max(
            (wrapped_lines(column, ws.column_dimensions[get_column_letter(index)].width
                           or DEFAULT_WIDTH)
             for index, column in enumerate(section.table.columns, start=1)), default=1))
    _add_charts(ws, review, places, width + 2)
    ws.freeze_panes = "A2"


def _set_widths(ws: Worksheet, review: Review, places: list[TablePlace], width: int) -> None:
    # Headline labels and table cells set the widths; titles, notes and sentences may spill.
    lengths = [0] * width
    for question, _ in review.answers:
        lengths[0] = max(lengths[0], len(question))
    for label, value in headline_text(review):
        lengths[0] = max(lengths[0], len(label))
        lengths[1] = max(lengths[1], len(value))
    for section in review.sections:
        columns, body = section_text(section)
        for index, column in enumerate(columns):
            longest_word = max((len(word) for word in column.split()), default=0)
            cells = [len(row[index]) for row in body]
            lengths[index] = max([lengths[index], longest_word + 2, *cells])
    for index, length in enumerate(lengths, start=1):
        ws.column_dimensions[get_column_letter(index)].width = min(max(length + 2, 10), 50)


def _add_charts(ws: Worksheet, review: Review, places: list[TablePlace], column: int) -> None:
    anchor_row = charts_first_row(review) + 1
    for place, section in zip(places, review.sections, strict=True):
        chart_spec = section.chart
        if chart_spec is None or place.rows == 0:
            continue
        chart: BarChart | LineChart = LineChart() if chart_spec.kind == "line" else BarChart()
        chart.title = chart_spec.title
        chart.height, chart.width = 8, 16
        header = place.header_row + 1
        columns = [str(c) for c in section.table.columns]
        for name in chart_spec.values:
            index = columns.index(name) + 1
            data = Reference(ws, min_col=index, min_row=header, max_row=header + place.rows)
            chart.add_data(data, titles_from_data=True)
        category = columns.index(chart_spec.category) + 1
        chart.set_categories(
            Reference(ws, min_col=category, min_row=header + 1, max_row=header + place.rows)
        )
        if chart_spec.value_format == "pct":
            chart.y_axis.number_format = "0%"
            chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, 1
        # Counts never go below zero, and a smoothed line would suggest they do.
        chart.y_axis.scaling.min = 0
        if isinstance(chart, LineChart):
            for series in chart.series:
                series.smooth = False
        else:
            # Only the value: LibreOffice otherwise adds series and category names.
            chart.dataLabels = DataLabelList(showVal=True, showSerName=False,
                                             showCatName=False, showLegendKey=False,
                                             showPercent=False)
        # Without this, recent Excel versions hide both axes of openpyxl charts.
        chart.x_axis.delete = False
        chart.y_axis.delete = False
        if len(chart_spec.values) == 1:
            chart.legend = None
        ws.add_chart(chart, f"{get_column_letter(column)}{anchor_row}")
        anchor_row += _CHART_ROWS


def export_xlsx(review: Review, path: Path) -> None:
    """Given a review and a path, write a workbook holding only the review sheet there."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new Workbook always has its first sheet
    sheet.title = review.tab
    write_review_sheet(sheet, review)
    print_setup(sheet)
    workbook.save(path)
