"""The review as a PDF (fpdf2), in a Unicode font that ships with matplotlib; characters
the font lacks print as "?", never a crash.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from sheets_escalation.adapters.export import charts
from sheets_escalation.core.review import Review
from sheets_escalation.core.review_layout import (
    headline_text,
    section_text,
)

_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"

_PDF_CHART_SHARE = 0.85  # of the page's text width


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


def export_pdf(review: Review, path: Path) -> None:
    """Given a review and a path, write it there as an A4 PDF."""
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
        png = charts.chart_png(section)
        # A heading never ends a page: the title, its note and the chart (or the first
        # table rows) move to the next page together.
        pdf.set_font("DejaVu", "I", 9)
        lines = pdf.multi_cell(0, 5, _pdf_text(pdf, section.note), dry_run=True,
                               output="LINES") if section.note else []
        note_lines = len(lines) if isinstance(lines, list) else 1
        needed = 3 + 7 + 5 * note_lines + (_PDF_CHART_SHARE * pdf.epw * charts.CHART_ASPECT
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
