"""Export a :class:`~sheets_escalation.core.review.Review` to a stakeholder file in the format
its suffix names (.xlsx, .html, .md, .csv, .pdf); each format is drawn by its own module
(sheet, text, pdf; charts as images by charts).

Text that came from the sheet is never allowed to become a formula or markup: xlsx cells
are stored as text, CSV cells starting with = + - @ tab or CR get a leading quote, HTML is
escaped, Markdown cells have | [ ] < > and line breaks neutralised (no live link survives),
the PDF uses a Unicode font. Every renderer starts from :func:`inert_review`, so no control
character typed in the sheet reaches a file (or makes openpyxl refuse a cell).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sheets_escalation.adapters.export import pdf, sheet, text
from sheets_escalation.core.errors import UsageError
from sheets_escalation.core.review import Review
from sheets_escalation.core.review_layout import (
    inert_review,
)

SUFFIXES = (".xlsx", ".html", ".md", ".csv", ".pdf")


def _write_text(render: Callable[[Review], str]) -> Callable[[Review, Path], None]:
    def write(review: Review, path: Path) -> None:
        path.write_text(render(review), encoding="utf-8")

    return write


_EXPORTERS: dict[str, Callable[[Review, Path], None]] = {
    ".xlsx": sheet.export_xlsx,
    ".html": _write_text(text.html_text),
    ".md": _write_text(text.markdown_text),
    ".csv": text.export_csv,
    ".pdf": pdf.export_pdf,
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




