"""Render a :class:`~sheets_escalation.core.review.Review`: the review tab (plain rows for any
backend, or a formatted openpyxl sheet with native charts) and stakeholder files by suffix
(.xlsx, .html, .md, .csv, .pdf).

Text that came from the sheet is never allowed to become a formula or markup: xlsx cells
are stored as text, CSV cells starting with = + - @ tab or CR get a leading quote, HTML is
escaped, Markdown cells have | [ ] < > and line breaks neutralised (no live link survives),
the PDF uses a Unicode font. Every renderer starts from :func:`inert_review`, so no control
character typed in the sheet reaches a file (or makes openpyxl refuse a cell).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter
from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.label import DataLabelList
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from sheets_escalation.adapters.xlsx.template import fit_row_height, print_setup
from sheets_escalation.core.errors import UsageError
from sheets_escalation.core.layout import DEFAULT_WIDTH, FONT_NAME, FONT_SIZE, wrapped_lines
from sheets_escalation.core.review import Review, Section
from sheets_escalation.core.review_layout import (
    TablePlace,
    charts_first_row,
    headline_text,
    inert_review,
    plain_value,
    review_rows,
    rows_and_places,
    section_text,
)

SUFFIXES = (".xlsx", ".html", ".md", ".csv", ".pdf")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_FORMATS = {"pct": "0.0%", "hours": "0.0#", "int": "0"}
_CHART_ROWS = 18  # rows of sheet each chart takes in the chart column
_HEADER_FILL = PatternFill("solid", fgColor="DDE4EE")
_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_CHART_SIZE = (7.0, 3.2)  # inches, for every chart image
_CHART_ASPECT = _CHART_SIZE[1] / _CHART_SIZE[0]
_PDF_CHART_SHARE = 0.85  # of the page's text width


# -- xlsx ----------------------------------------------------------------------------------


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


def _export_xlsx(review: Review, path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new Workbook always has its first sheet
    sheet.title = review.tab
    write_review_sheet(sheet, review)
    print_setup(sheet)
    workbook.save(path)


# -- charts as images ----------------------------------------------------------------------


def _chart_png(section: Section) -> bytes | None:
    """The section's chart drawn by matplotlib (Agg) as PNG bytes; None without one."""
    spec = section.chart
    if spec is None or section.table.empty:
        return None
    # Sheet text such as "$5 refunds" must not be read as TeX; a character the font lacks
    # is drawn as a box, which is not worth a warning on the user's terminal.
    with matplotlib.rc_context({"text.parse_math": False}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure = Figure(figsize=_CHART_SIZE, dpi=110)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        labels = [str(v) for v in section.table[spec.category]]
        positions = np.arange(len(labels))
        series = [
            [np.nan if plain_value(v, spec.value_format) is None else float(v)
             for v in section.table[name]]
            for name in spec.values
        ]
        if spec.kind == "line":
            for name, values in zip(spec.values, series, strict=True):
                axes.plot(positions, values, marker="o", label=name)
            axes.set_ylim(bottom=0)
        else:
            bar = 0.8 / len(series)
            for offset, (name, values) in enumerate(zip(spec.values, series, strict=True)):
                bars = axes.bar(positions + (offset - (len(series) - 1) / 2) * bar, values,
                                bar, label=name)
                axes.bar_label(bars, fmt="{:.0%}" if spec.value_format == "pct" else "{:g}",
                               fontsize=8, padding=2)
            axes.margins(y=0.15)
        axes.set_xticks(positions, labels, rotation=20 if len(labels) > 4 else 0, ha="right"
                        if len(labels) > 4 else "center", fontsize=8)
        axes.set_title(spec.title, loc="left")
        if spec.value_format == "pct":
            # Room above 100% for the bars' labels; the ticks stop at 100%.
            axes.set_ylim(0, 1.12)
            axes.set_yticks(np.linspace(0, 1, 6))
            axes.yaxis.set_major_formatter(PercentFormatter(1.0))
        else:
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        if len(spec.values) > 1:
            # Above the plot, right of the left-aligned title: never over a bar.
            axes.legend(fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2,
                        frameon=False)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()


# -- html ----------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 60rem; color: #222; line-height: 1.4; padding: 0 1rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ccd; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #dde4ee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
p.note { color: #555; font-style: italic; margin: 0.2rem 0; }
img { max-width: 100%; }
dl.answers dt { font-weight: bold; margin-top: 0.4rem; }
dl.answers dd { margin: 0 0 0 1.2rem; }
"""


def _html(review: Review) -> str:
    escape = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(review.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(review.title)}</h1>",
    ]
    if review.answers:
        parts.append('<dl class="answers">')
        for question, answer in review.answers:
            parts.append(f"<dt>{escape(question)}</dt><dd>{escape(answer)}</dd>")
        parts.append("</dl>")
    parts += [
        '<table class="headline"><tbody>',
    ]
    for label, value in headline_text(review):
        parts.append(f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>")
    parts.append("</tbody></table>")
    for section in review.sections:
        parts.append(f"<h2>{escape(section.title)}</h2>")
        if section.note:
            parts.append(f'<p class="note">{escape(section.note)}</p>')
        png = _chart_png(section)
        if png is not None and section.chart is not None:
            data = base64.b64encode(png).decode("ascii")
            parts.append(
                f'<img alt="{escape(section.chart.title)}" src="data:image/png;base64,{data}">'
            )
        columns, body = section_text(section)
        if body:
            numeric = [section.formats.get(c, "text") != "text" for c in columns]
            parts.append("<table><thead><tr>")
            parts += [f"<th>{escape(c)}</th>" for c in columns]
            parts.append("</tr></thead><tbody>")
            for row in body:
                cells = [
                    f'<td class="num">{escape(v)}</td>' if is_number else f"<td>{escape(v)}</td>"
                    for v, is_number in zip(row, numeric, strict=True)
                ]
                parts.append("<tr>" + "".join(cells) + "</tr>")
            parts.append("</tbody></table>")
    parts.append("<h2>Recommendations</h2><ul>")
    parts += [f"<li>{escape(sentence)}</li>" for sentence in review.recommendations]
    parts.append("</ul></body></html>")
    return "\n".join(parts) + "\n"


# -- markdown ------------------------------------------------------------------------------


_MARKDOWN_SYNTAX = re.compile(r"([\\|\[\]`])")


def _md_escape(text: str) -> str:
    """Sheet text made inert in Markdown: no table breaks, line breaks, raw HTML, code
    spans or links (an escaped bracket opens no link, image or link definition)."""
    flat = " ".join(_MARKDOWN_SYNTAX.sub(r"\\\1", text).splitlines())
    return flat.replace("<", "&lt;").replace(">", "&gt;")


def _md_table(columns: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md_escape(c) for c in columns) + " |"]
    lines.append("|" + "|".join(" --- " for _ in columns) + "|")
    lines += ["| " + " | ".join(_md_escape(v) for v in row) + " |" for row in body]
    return lines


def _markdown(review: Review) -> str:
    lines = [f"# {_md_escape(review.title)}", ""]
    if review.answers:
        lines += [f"- **{_md_escape(question)}:** {_md_escape(answer)}"
                  for question, answer in review.answers]
        lines.append("")
    lines += _md_table(["Figure", "Value"], headline_text(review))
    for section in review.sections:
        lines += ["", f"## {_md_escape(section.title)}", ""]
        if section.note:
            lines += [f"*{_md_escape(section.note)}*", ""]
        columns, body = section_text(section)
        if body:
            lines += _md_table(columns, body)
    lines += ["", "## Recommendations", ""]
    lines += [f"- {_md_escape(sentence)}" for sentence in review.recommendations]
    return "\n".join(lines) + "\n"


# -- csv -----------------------------------------------------------------------------------


def _csv_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _export_csv(review: Review, path: Path) -> None:
    # utf-8-sig: Excel opens the file with the right encoding.
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        for row in review_rows(review):
            writer.writerow([_csv_cell(value) for value in row])


# -- pdf -----------------------------------------------------------------------------------


class _Pdf(FPDF):
    def __init__(self, review: Review) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.review_title = review.title
        # DejaVu ships with matplotlib, so customer text in any Latin, Greek or Cyrillic
        # script prints; other characters are replaced (see _pdf_text), never a crash.
        self.add_font("DejaVu", "", str(_FONT_DIR / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(_FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.add_font("DejaVu", "I", str(_FONT_DIR / "DejaVuSans-Oblique.ttf"))
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title(review.title)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", "", 8)
        self.cell(0, 6, f"{self.review_title} · page {self.page_no()}", align="C")


def _pdf_text(pdf: FPDF, text: str) -> str:
    """Characters the font has no glyph for become "?" so fpdf never fails on them."""
    font = pdf.current_font
    cmap = getattr(font, "cmap", None)
    if not cmap:
        return text
    return "".join(ch if ord(ch) in cmap or ch in "\n\t" else "?" for ch in text)


def _export_pdf(review: Review, path: Path) -> None:
    pdf = _Pdf(review)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    pdf.multi_cell(0, 9, _pdf_text(pdf, review.title), align="L", new_x=XPos.LMARGIN,
                   new_y=YPos.NEXT)
    pdf.ln(2)
    for question, answer in review.answers:
        pdf.set_font("DejaVu", "B", 10)
        pdf.multi_cell(0, 5.5, _pdf_text(pdf, question), align="L", new_x=XPos.LMARGIN,
                       new_y=YPos.NEXT)
        pdf.set_font("DejaVu", "", 10)
        pdf.multi_cell(0, 5.5, _pdf_text(pdf, answer), align="L", new_x=XPos.LMARGIN,
                       new_y=YPos.NEXT)
        pdf.ln(1)
    pdf.ln(2)
    pdf.set_font("DejaVu", "", 10)
    _pdf_table(pdf, ["Figure", "Value"], [list(pair) for pair in headline_text(review)], [False, True])
    for section in review.sections:
        png = _chart_png(section)
        # A heading never ends a page: the title, its note and the chart (or the first
        # table rows) move to the next page together.
        pdf.set_font("DejaVu", "I", 9)
        lines = pdf.multi_cell(0, 5, _pdf_text(pdf, section.note), dry_run=True,
                               output="LINES") if section.note else []
        note_lines = len(lines) if isinstance(lines, list) else 1
        needed = 3 + 7 + 5 * note_lines + (_PDF_CHART_SHARE * pdf.epw * _CHART_ASPECT
                                           if png is not None else 20)
        if pdf.get_y() + needed > pdf.page_break_trigger:
            pdf.add_page()
        else:
            pdf.ln(3)
        pdf.set_font("DejaVu", "B", 13)
        pdf.multi_cell(0, 7, _pdf_text(pdf, section.title), align="L", new_x=XPos.LMARGIN,
                       new_y=YPos.NEXT)
        if section.note:
            pdf.set_font("DejaVu", "I", 9)
            pdf.multi_cell(0, 5, _pdf_text(pdf, section.note), align="L", new_x=XPos.LMARGIN,
                           new_y=YPos.NEXT)
        if png is not None:
            pdf.image(io.BytesIO(png), w=pdf.epw * _PDF_CHART_SHARE)
        columns, body = section_text(section)
        if body:
            pdf.set_font("DejaVu", "", 9)
            numeric = [section.formats.get(c, "text") != "text" for c in columns]
            _pdf_table(pdf, columns, body, numeric)
    pdf.ln(3)
    pdf.set_font("DejaVu", "B", 13)
    pdf.cell(0, 7, "Recommendations", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("DejaVu", "", 10)
    for sentence in review.recommendations:
        pdf.multi_cell(0, 5.5, _pdf_text(pdf, "• " + sentence), align="L",
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1)
    pdf.output(str(path))


def _pdf_table(
    pdf: FPDF, columns: Sequence[str], body: Sequence[Sequence[str]], numeric: Sequence[bool]
) -> None:
    aligns = tuple("RIGHT" if is_number else "LEFT" for is_number in numeric)
    with pdf.table(text_align=aligns, line_height=5, width=pdf.epw) as table:
        for values in [list(columns), *body]:
            row = table.row()
            for value in values:
                row.cell(_pdf_text(pdf, value))


# -- dispatch ------------------------------------------------------------------------------


def _write_text(render: Callable[[Review], str]) -> Callable[[Review, Path], None]:
    def write(review: Review, path: Path) -> None:
        path.write_text(render(review), encoding="utf-8")

    return write


_EXPORTERS: dict[str, Callable[[Review, Path], None]] = {
    ".xlsx": _export_xlsx,
    ".html": _write_text(_html),
    ".md": _write_text(_markdown),
    ".csv": _export_csv,
    ".pdf": _export_pdf,
}


def export(review: Review, path: Path) -> None:
    """Given a review and a file path, write the review in the format its suffix names
    (.xlsx, .html, .md, .csv or .pdf), replacing the file. Raise UsageError for any other
    suffix."""
    exporter = _EXPORTERS.get(path.suffix.lower())
    if exporter is None:
        raise UsageError(
            f'cannot export the review to "{path.name}": use a file ending in '
            + ", ".join(SUFFIXES)
        )
    exporter(inert_review(review), path)


# -- pieces for other renderers (the emailed review) -----------------------------------------


def chart_images(review: Review) -> list[tuple[str, bytes]]:
    """Given a review, return (chart title, PNG bytes) for each chart the exports draw, in
    the order of the sections."""
    return [(section.chart.title, png) for section in review.sections
            if section.chart is not None and (png := _chart_png(section)) is not None]
