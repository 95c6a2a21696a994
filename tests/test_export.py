"""Rendering the review: tab rows, the formatted openpyxl sheet and every export format,
each written and read back. Sheet text is hostile on purpose (formulas, markup, unicode)."""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from openpyxl.chart import BarChart, LineChart

from sheets_escalation.adapters.export import pdf as export_pdf
from sheets_escalation.adapters.export.formats import export
from sheets_escalation.adapters.export.sheet import write_review_sheet
from sheets_escalation.core.errors import UsageError
from sheets_escalation.core.review import Chart, Review, Section, build_review
from sheets_escalation.core.review_layout import review_rows, table_places
from tests.fixtures import LEVELS, TZ, golden_frames

FORMULA = '=HYPERLINK("http://evil.example","click")'
SCRIPT = "<script>alert(1)</script>"
UNICODE = "Zoë Ærøskøbing — 東京 😀"


@pytest.fixture
def golden() -> Review:
    log, result, history = golden_frames()
    return build_review(log, result, history, LEVELS, "2026-10", TZ)


@pytest.fixture
def hostile() -> Review:
    """A small review whose sheet text tries to be a formula, markup or a table break."""
    types = pd.DataFrame({
        "Issue type": [FORMULA, SCRIPT, "a|b\nc", UNICODE, "-5", "@SUM(A1)"],
        "Escalations": [3, 2, 1, 1, 1, 1],
        "Share": [3 / 9, 2 / 9, 1 / 9, 1 / 9, 1 / 9, 1 / 9],
    })
    levels = pd.DataFrame({
        "Level": ["L2 Specialist", "L3 Executive"],
        "Response within target": [0.75, None],
        "Median response hours": [1.25, float("nan")],
    })
    return Review(
        month="2026-10",
        title="Escalation review 2026-10",
        headline=[("Escalations", 9), ("Change vs previous month", -0.25), ("Trend", "down 25%")],
        sections=[
            Section("Issue types", types, {"Issue type": "text", "Escalations": "int", "Share": "pct"},
                    Chart("bar", "Issue type", ("Escalations",), "By issue type")),
            Section("Levels", levels,
                    {"Level": "text", "Response within target": "pct", "Median response hours": "hours"},
                    Chart("bar", "Level", ("Response within target",), "Within target", "pct"),
                    note="Within target = Met / judged."),
            Section("Breaches", pd.DataFrame(columns=["ID", "Level"]), {}, note="No breaches."),
        ],
        recommendations=[f"Empower L1 on {SCRIPT}.", f"Look at {UNICODE}."],
        empty=False,
        headline_formats={"Change vs previous month": "pct", "Trend": "text"},
    )


def test_review_rows_lay_out_headline_sections_and_recommendations(hostile):
    rows = review_rows(hostile)
    assert rows[:5] == [
        ["Escalation review 2026-10"], [],
        ["Escalations", 9], ["Change vs previous month", -0.25], ["Trend", "down 25%"],
    ]
    assert rows[5:9] == [[], ["Issue types"], ["Issue type", "Escalations", "Share"],
                         [FORMULA, 3, 0.3333]]
    assert ["L3 Executive", None, None] in rows
    assert rows[-3:] == [["Recommendations"], [f"Empower L1 on {SCRIPT}."], [f"Look at {UNICODE}."]]
    places = table_places(hostile)
    assert [(p.section, p.rows, p.columns) for p in places] == [(0, 6, 3), (1, 2, 3), (2, 0, 2)]
    for place, section in zip(places, hostile.sections, strict=True):
        assert rows[place.header_row] == list(section.table.columns)


def test_golden_rows_keep_percentages_as_fractions(golden):
    rows = review_rows(golden)
    assert ["Response within target", 0.7778] in rows
    assert ["L2 Specialist", 6, 6, 0.8333, 5, 0.8] in rows
    assert ["L2 Specialist", 1.25, 2.5, 28.0, 37.0] in rows


def reread_xlsx(path: Path) -> openpyxl.worksheet.worksheet.Worksheet:
    return openpyxl.load_workbook(path)["Review 2026-10"]


def test_xlsx_stores_sheet_text_as_text_with_formats_and_charts(hostile, tmp_path):
    path = tmp_path / "review.xlsx"
    export(hostile, path)
    sheet = reread_xlsx(path)
    cells = {cell.value: cell for row in sheet.iter_rows() for cell in row if cell.value is not None}
    for text in (FORMULA, "-5", "@SUM(A1)", SCRIPT, UNICODE):
        assert cells[text].data_type == "s"
    assert cells["Issue type"].font.b
    assert cells["Escalation review 2026-10"].font.b
    share = sheet.cell(row=cells[FORMULA].row, column=3)
    assert share.value == pytest.approx(0.3333)
    assert share.number_format == "0.0%"
    assert sheet.cell(row=4, column=2).number_format == "0.0%"  # headline change
    charts = sheet._charts
    assert [type(chart) for chart in charts] == [BarChart, BarChart]


def test_write_review_sheet_golden_charts(golden):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    write_review_sheet(sheet, golden)
    assert [type(chart) for chart in sheet._charts] == [LineChart, BarChart, BarChart, BarChart]
    assert sheet._charts[3].y_axis.number_format.formatCode == "0%"


def test_html_is_self_contained_with_inline_charts_and_escaped_text(hostile, tmp_path):
    path = tmp_path / "review.html"
    export(hostile, path)
    page = path.read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert UNICODE in page
    images = page.split('src="data:image/png;base64,')[1:]
    assert len(images) == 2
    assert base64.b64decode(images[0].split('"')[0]).startswith(b"\x89PNG")
    assert "http" not in page.replace("http://evil.example", "")  # nothing loaded from outside


def test_markdown_escapes_pipes_newlines_and_markup(hostile, tmp_path):
    path = tmp_path / "review.md"
    export(hostile, path)
    text = path.read_text(encoding="utf-8")
    assert "| a\\|b c | 1 | 11.1% |" in text
    assert "<script>" not in text
    assert "| Change vs previous month | -25.0% |" in text
    assert "| L3 Executive |  |  |" in text
    assert "*No breaches.*" in text


def test_csv_prefixes_formula_like_text(hostile, tmp_path):
    path = tmp_path / "review.csv"
    export(hostile, path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    cells = [cell for row in rows for cell in row]
    assert "'" + FORMULA in cells
    assert "'-5" in cells
    assert "'@SUM(A1)" in cells
    assert ["Change vs previous month", "-0.25"] in rows  # numbers are not text
    assert FORMULA not in cells


def test_pdf_prints_unicode_customer_text(hostile, tmp_path, monkeypatch):
    class Uncompressed(export_pdf._Pdf):
        def __init__(self, review: Review) -> None:
            super().__init__(review)
            self.compress = False

    monkeypatch.setattr(export_pdf, "_Pdf", Uncompressed)
    path = tmp_path / "review.pdf"
    export(hostile, path)
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    assert b"<00EB>" in data  # ë reaches the font's Unicode map
    assert data.count(b"/Subtype /Image") == 2


def test_pdf_of_golden_review(golden, tmp_path):
    path = tmp_path / "review.pdf"
    export(golden, path)
    assert path.read_bytes().startswith(b"%PDF")


def test_empty_review_exports_everywhere(tmp_path):
    log, result, history = golden_frames()
    review = build_review(log, result, history, LEVELS, "2026-12", TZ)
    for suffix in (".xlsx", ".html", ".md", ".csv", ".pdf"):
        export(review, tmp_path / f"review{suffix}")
    assert "no escalations in December 2026" in (tmp_path / "review.md").read_text(encoding="utf-8")
    sheet = openpyxl.load_workbook(tmp_path / "review.xlsx")["Review 2026-12"]
    assert sheet["A1"].value.startswith("Escalation review 2026-12")


def test_unknown_suffix_is_a_usage_error(golden, tmp_path):
    with pytest.raises(UsageError, match=r"\.xlsx, \.html, \.md, \.csv, \.pdf"):
        export(golden, tmp_path / "review.docx")
    assert not (tmp_path / "review.docx").exists()


def test_the_five_answers_come_first_in_the_tab_and_every_export(golden, tmp_path):
    first_question, first_answer = golden.answers[0]
    last_answer = golden.answers[-1][1]
    rows = review_rows(golden)
    assert rows[2:2 + len(golden.answers)] == [list(pair) for pair in golden.answers]
    assert rows[2 + len(golden.answers)] == []
    assert rows[3 + len(golden.answers)] == ["Escalations", 10]
    for suffix in (".html", ".md", ".csv"):
        path = tmp_path / f"review{suffix}"
        export(golden, path)
        text = path.read_text(encoding="utf-8-sig")
        if suffix == ".html":
            text = html.unescape(text)
        if suffix == ".csv":
            text = "\n".join(" ".join(row) for row in csv.reader(io.StringIO(text)))
        for question, answer in golden.answers:
            assert question in text and answer in text, suffix
        # Before the headline figures and every table.
        assert text.index(last_answer) < text.index("Previous month") < text.index(
            "Escalations per month"), suffix
    export(golden, tmp_path / "review.xlsx")
    sheet = reread_xlsx(tmp_path / "review.xlsx")
    assert (sheet["A3"].value, sheet["B3"].value) == (first_question, first_answer)
    assert sheet["A3"].font.b
    assert sheet.cell(row=4 + len(golden.answers), column=1).value == "Escalations"


def test_xlsx_charts_straight_line_from_zero_and_labelled_bars(golden, tmp_path):
    export(golden, tmp_path / "review.xlsx")
    charts = reread_xlsx(tmp_path / "review.xlsx")._charts
    line, *bars = charts
    assert isinstance(line, LineChart)
    assert [series.smooth for series in line.series] == [False]
    assert line.y_axis.scaling.min == 0
    for bar in bars:
        labels = bar.dataLabels
        assert labels is not None and labels.showVal
        assert not (labels.showSerName or labels.showCatName or labels.showLegendKey)
    # The chart column starts below the answers, whose sentences spill to the right.
    assert min(chart.anchor._from.row for chart in charts) == 2 + len(golden.answers) + 1


class _Recording(export_pdf._Pdf):
    """The PDF as laid out: every text block and image with the page it landed on."""

    def __init__(self, review: Review) -> None:
        super().__init__(review)
        self.placed: list[tuple[int, str, str]] = []  # page, text or "<image>", align

    def multi_cell(self, w, h=None, text="", *args, **kwargs):  # type: ignore[no-untyped-def]
        if not kwargs.get("dry_run"):
            self.placed.append((self.page, text, str(kwargs.get("align", "J"))))
        return super().multi_cell(w, h, text, *args, **kwargs)

    def image(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.placed.append((self.page, "<image>", ""))
        return super().image(*args, **kwargs)


@pytest.mark.parametrize("filler", range(0, 48, 3))
def test_pdf_title_left_and_a_heading_never_ends_a_page_without_its_chart(
        golden, tmp_path, monkeypatch, filler):
    made: list[_Recording] = []

    def recording(review: Review) -> _Recording:
        made.append(_Recording(review))
        return made[-1]

    monkeypatch.setattr(export_pdf, "_Pdf", recording)
    # Rows before the charted sections push their headings to every height on the page.
    padding = Section("Padding", pd.DataFrame({"Row": [f"row {n}" for n in range(filler)]}),
                      {"Row": "text"})
    review = Review(golden.month, golden.title, golden.headline,
                    [padding, *golden.sections], golden.recommendations, False,
                    golden.headline_formats, answers=golden.answers)
    export(review, tmp_path / "review.pdf")
    placed = made[0].placed
    assert placed[0][1:] == (golden.title, "L")
    charted = {s.title for s in golden.sections if s.chart is not None}
    for position, (page, text, align) in enumerate(placed):
        if text in charted:
            assert align == "L"
            image_page = next(p for p, t, _ in placed[position:] if t == "<image>")
            assert image_page == page, text


def test_review_tab_names_its_font_and_fits_wrapped_headers(golden, tmp_path):
    # An unnamed font falls back to a serif one in LibreOffice; a wrapped header in a row
    # of default height overlaps the first row of its table.
    export(golden, tmp_path / "review.xlsx")
    sheet = reread_xlsx(tmp_path / "review.xlsx")
    styled = [cell for row in sheet.iter_rows() for cell in row
              if cell.value is not None and (cell.font.b or cell.font.i)]
    assert styled and {cell.font.name for cell in styled} == {"Calibri"}
    wrapped = set()
    for place in table_places(golden):
        row = place.header_row + 1
        for cell in sheet[row]:
            width = sheet.column_dimensions[cell.column_letter].width or 13
            if cell.value is not None and len(str(cell.value)) > width:
                wrapped.add(row)
    assert wrapped
    assert all((sheet.row_dimensions[row].height or 0) > 15 for row in wrapped)
