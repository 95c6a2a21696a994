"""The review laid out as neutral data: the review tab as rows of plain values, where each
section's table lands in them, and every value as people read it. Every renderer (the
openpyxl sheet, Google's batchUpdate, the stakeholder files, the emailed review) starts
here, so they agree cell for cell.

Text that came from the sheet is made inert first (:func:`inert_review`): no control
character typed in the sheet reaches a tab or a file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from pandas.api.types import is_numeric_dtype

from sheets_escalation.core.plaintext import without_controls
from sheets_escalation.core.review import Format, Review, Section


@dataclass(frozen=True)
class TablePlace:
    """Where section ``section``'s table sits in :func:`review_rows`: its header row
    (0-based), how many data rows follow it, and how many columns it has (from column 0)."""

    section: int
    header_row: int
    rows: int
    columns: int


def review_rows(review: Review) -> list[list[object]]:
    """Given a review, return the review tab as rows of plain values (what a backend
    writes RAW): ints, floats (percentages as fractions), str or None."""
    return rows_and_places(review)[0]


def table_places(review: Review) -> list[TablePlace]:
    """Given a review, return where each section's table lands in :func:`review_rows`,
    so a backend can anchor the section's chart (e.g. Google Sheets addChart)."""
    return rows_and_places(review)[1]


def inert_review(review: Review) -> Review:
    """Given a review, return it with every text (titles, notes, table cells, sentences)
    free of control characters; numbers and column names stay as they are."""

    def clean(value: object) -> object:
        return without_controls(value) if isinstance(value, str) else value

    sections = [
        replace(section, title=without_controls(section.title),
                note=without_controls(section.note),
                table=section.table.apply(
                    lambda column: column if is_numeric_dtype(column) else column.map(clean)))
        for section in review.sections
    ]
    return replace(review, title=without_controls(review.title),
                   headline=[(without_controls(label), clean(value))
                             for label, value in review.headline],
                   sections=sections,
                   recommendations=[without_controls(s) for s in review.recommendations],
                   answers=[(without_controls(question), without_controls(answer))
                            for question, answer in review.answers])


def rows_and_places(review: Review) -> tuple[list[list[object]], list[TablePlace]]:
    """Given a review, return the review tab's rows and where each section's table sits."""
    review = inert_review(review)
    rows: list[list[object]] = [[review.title], []]
    if review.answers:
        rows += [[question, answer] for question, answer in review.answers]
        rows.append([])
    for label, value in review.headline:
        rows.append([label, plain_value(value, review.headline_formats.get(label, "text"))])
    places = []
    for index, section in enumerate(review.sections):
        rows += [[], [section.title]]
        if section.note:
            rows.append([section.note])
        columns = list(section.table.columns)
        places.append(TablePlace(index, len(rows), len(section.table), len(columns)))
        rows.append([str(c) for c in columns])
        for record in section.table.itertuples(index=False):
            rows.append([
                plain_value(value, section.formats.get(str(column), "text"))
                for column, value in zip(columns, record, strict=True)
            ])
    rows += [[], ["Recommendations"]]
    rows += [[sentence] for sentence in review.recommendations]
    return rows, places


def charts_first_row(review: Review) -> int:
    """The 0-based row of :func:`review_rows` where the chart column starts: below the
    answers, whose sentences spill to the right over empty cells."""
    return 2 + len(review.answers) + 1 if review.answers else 0


def plain_value(value: object, fmt: Format) -> object:
    """A cell value as a backend writes it: None for blank, rounded floats, plain ints."""
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return "Yes" if value else "No"
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        if fmt == "int" and float(value).is_integer():
            return int(value)
        return round(float(value), 4 if fmt == "pct" else 2)
    return str(value)


def display_value(value: object, fmt: Format) -> str:
    """A cell value as people read it in text formats."""
    plain = plain_value(value, fmt)
    if plain is None:
        return ""
    if isinstance(plain, float | int) and fmt == "pct":
        return f"{plain:.1%}"
    if isinstance(plain, float) and fmt == "hours":
        return f"{plain:.2f}".rstrip("0").rstrip(".")
    return str(plain)


def headline_text(review: Review) -> list[tuple[str, str]]:
    """Given a review, return its headline as (label, value as people read it) pairs, the
    way every export shows them ("n/a" where a value does not apply)."""
    return [
        (label, display_value(value, review.headline_formats.get(label, "text")) or "n/a")
        for label, value in review.headline
    ]


def section_text(section: Section) -> tuple[list[str], list[list[str]]]:
    """Given a review section, return its column names and its rows as people read them."""
    columns = [str(c) for c in section.table.columns]
    body = [
        [display_value(value, section.formats.get(column, "text"))
         for column, value in zip(columns, record, strict=True)]
        for record in section.table.itertuples(index=False)
    ]
    return columns, body
