"""The review as text files: HTML (escaped, charts as inline images), Markdown (links,
markup and table breaks neutralised) and CSV (cells that a spreadsheet would read as a
formula get a leading quote).
"""

from __future__ import annotations

import base64
import csv
import html
import re
from collections.abc import Sequence
from pathlib import Path

from sheets_escalation.adapters.export import charts
from sheets_escalation.core.review import Review
from sheets_escalation.core.review_layout import (
    headline_text,
    review_rows,
    section_text,
)

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

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


def html_text(review: Review) -> str:
    """Given a review, return it as one HTML page, its charts inline."""
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
        png = charts.chart_png(section)
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


def markdown_text(review: Review) -> str:
    """Given a review, return it as Markdown."""
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


def _csv_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def export_csv(review: Review, path: Path) -> None:
    """Given a review and a path, write its rows there as CSV."""
    # utf-8-sig: Excel opens the file with the right encoding.
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        for row in review_rows(review):
            writer.writerow([_csv_cell(value) for value in row])
