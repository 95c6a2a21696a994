"""The workbook template in openpyxl: the layout of :mod:`sheets_escalation.core.layout`
translated into worksheets (headers, widths, dropdowns, formats, colour rules, print setup),
for `init` of a ``.xlsx`` and for the committed ``sheet_template.xlsx``.

Run ``python -m sheets_escalation.adapters.xlsx.template sheet_template.xlsx`` to regenerate the committed
template. The output is byte-for-byte deterministic (fixed document dates and zip entry
times), so regenerating an unchanged template changes nothing in git.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.formatting.rule import CellIsRule, FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from sheets_escalation.adapters import files
from sheets_escalation.core import schema, staleness
from sheets_escalation.core.errors import RefusedError, SourceError, UsageError
from sheets_escalation.core.layout import (
    DATE_FORMAT,
    DATETIME_FORMAT,
    FONT_NAME,
    FONT_SIZE,
    HEADER_FILL,
    HEADER_FONT,
    INDICATOR_FONT,
    LAST_ROW,
    LINE_HEIGHT,
    OWNED_FILL,
    OWNED_HEADER_FILL,
    STALE_FILL,
    STALE_FONT,
    TAB_LAYOUTS,
    TabLayout,
    seeded_rows,
    wrapped_lines,
)

# Fixed document dates make the generated file reproducible byte for byte.
_FIXED_TIME = dt.datetime(2026, 1, 1)  # noqa: DTZ001 - naive UTC, as the xlsx core properties store it
_ZIP_TIME = (2026, 1, 1, 0, 0, 0)


def _font(color: str, bold: bool) -> Font:
    return Font(name=FONT_NAME, size=FONT_SIZE, bold=bold, color="FF" + color)


def fit_row_height(ws: Worksheet, row: int, lines: int) -> None:
    """Make ``row`` at least ``lines`` lines tall (rows never shrink: a taller row was set
    for another cell or by a person)."""
    needed = lines * LINE_HEIGHT + 3
    dimension = ws.row_dimensions[row]
    if lines > 1 and (dimension.height is None or dimension.height < needed):
        dimension.height = needed


def print_setup(ws: Worksheet) -> None:
    """Give a tab the tool creates or lays out a page setup that prints readably:
    landscape, fit to one page wide (as many pages tall as needed), the header row
    repeated on every page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_title_rows = "1:1"


def _fill(color: str) -> PatternFill:
    return PatternFill(fill_type="solid", start_color="FF" + color, end_color="FF" + color)


def style_header_cell(ws: Worksheet, column: int, header: str, owned: bool) -> None:
    """Given a 1-based column, give its header cell (row 1) the template's header look."""
    cell = ws.cell(row=1, column=column)
    cell.font = _font(HEADER_FONT, bold=True)
    cell.fill = _fill(OWNED_HEADER_FILL if owned else HEADER_FILL)
    cell.alignment = Alignment(vertical="top", wrap_text=True)


def style_column(ws: Worksheet, layout: TabLayout, header: str, column: int) -> None:
    """Given a header of ``layout`` at 1-based ``column`` of ``ws``, apply the template's
    look to that column: header cell, width, column fill and number format, dropdown and
    colour rules. Cells below the header are styled through the column, so rows people (or
    the tool) add later take the same look."""
    owned = header in layout.owned
    letter = get_column_letter(column)
    style_header_cell(ws, column, header, owned)
    dimension = ws.column_dimensions[letter]
    dimension.width = layout.width(header)
    fit_row_height(ws, 1, wrapped_lines(header, layout.width(header)))
    if owned:
        dimension.fill = _fill(OWNED_FILL)
    if header in layout.number_formats:
        dimension.number_format = layout.number_formats[header]
    if header in layout.wrap:
        dimension.alignment = Alignment(vertical="top", wrap_text=True)
    body = f"{letter}2:{letter}{LAST_ROW}"
    dropdown = layout.dropdowns.get(header)
    if dropdown is not None:
        validation = DataValidation(
            type="list",
            formula1='"' + ",".join(dropdown.values) + '"',
            allow_blank=True,
            showErrorMessage=True,
            errorStyle="stop" if dropdown.strict else "warning",
            errorTitle=header,
            error="Choose one of: " + ", ".join(dropdown.values),
        )
        validation.add(body)
        ws.add_data_validation(validation)
    for rule in layout.color_rules.get(header, ()):
        ws.conditional_formatting.add(
            body,
            CellIsRule(operator="equal", formula=[f'"{rule.value}"'],
                       fill=_fill(rule.fill), font=_font(rule.font, rule.bold)),
        )


def layout_header(layout: TabLayout, value: str) -> str | None:
    """Given a tab's layout and a header cell's text, return the layout's header it names
    (ignoring case and spaces), or None."""
    key = schema.normalize_header(value)
    return next((h for h in layout.headers if schema.normalize_header(h) == key), None)


def _format_seed_cell(ws: Worksheet, layout: TabLayout, header: str, row: int, column: int) -> None:
    # openpyxl does not let cells inherit the column style, so seeded cells get it explicitly.
    cell = ws.cell(row=row, column=column)
    # Top-aligned throughout, so a row made taller by one wrapped cell reads as one line.
    cell.alignment = Alignment(vertical="top", wrap_text=header in layout.wrap)
    if header in layout.owned:
        cell.fill = _fill(OWNED_FILL)


def build_tab(ws: Worksheet, layout: TabLayout, rows: Sequence[Sequence[object]] | None = None) -> None:
    """Given an empty worksheet, write ``layout``'s header and ``rows`` (its seed rows when
    None) and apply the template look. Blank strings are left as blank cells."""
    for column, header in enumerate(layout.headers, start=1):
        ws.cell(row=1, column=column, value=header)
        style_column(ws, layout, header, column)
    body = layout.rows if rows is None else rows
    for row_number, values in enumerate(body, start=2):
        for column, value in enumerate(values, start=1):
            if value is None or value == "":
                continue
            cell = ws.cell(row=row_number, column=column)
            cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"  # seed text is never a formula
            if column <= len(layout.headers):
                header = layout.headers[column - 1]
                _format_seed_cell(ws, layout, header, row_number, column)
                if header in layout.wrap:
                    fit_row_height(ws, row_number, wrapped_lines(value, layout.width(header)))
    ws.freeze_panes = layout.freeze
    print_setup(ws)


def add_staleness_indicator(ws: Worksheet, column: int, key_column: str = "A",
                            value_column: str = "B", settings_title: str = schema.SETTINGS) -> None:
    """Given the Escalations worksheet, put the staleness indicator (see
    :mod:`sheets_escalation.core.staleness`) in row 1 at 1-based ``column``, reading the Settings
    tab's Key and Value columns; while it says the sync has stopped, its text turns red and
    the header cells left of it white on red."""
    letter = get_column_letter(column)
    cell = ws.cell(row=1, column=column,
                   value=staleness.formula(key_column, value_column, settings_title))
    # Unwrapped, so the sentence runs on over the empty cells to its right; for the same
    # reason it turns red text rather than white on red (the overflow has no fill).
    cell.font = _font(INDICATOR_FONT, bold=True)
    cell.alignment = Alignment(vertical="top", wrap_text=False)
    rule = staleness.stale_condition(f"${letter}$1")
    ws.conditional_formatting.add(
        f"{letter}1", FormulaRule(formula=[rule], font=_font(STALE_FILL, True)))
    if column > 1:
        ws.conditional_formatting.add(
            f"A1:{get_column_letter(column - 1)}1",
            FormulaRule(formula=[rule], fill=_fill(STALE_FILL), font=_font(STALE_FONT, True)))


# Where people write the month first (glibc's d_fmt for these locales is %m/%d/%Y);
# everywhere else a typed short date starts with the day (or the year, which reads either way).
def new_workbook(settings: Mapping[str, str] | None = None) -> Workbook:
    """Return a new workbook holding every template tab, seeded with the defaults (the
    Settings values in ``settings`` replace the defaults of their keys)."""
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    workbook.remove(first)
    for layout in TAB_LAYOUTS.values():
        build_tab(workbook.create_sheet(layout.title), layout, seeded_rows(layout, settings))
    add_staleness_indicator(workbook[schema.ESCALATIONS], staleness.TEMPLATE_COLUMN)
    workbook.active = 0
    return workbook


def add_missing_tabs(workbook: Workbook, settings: Mapping[str, str] | None = None) -> list[str]:
    """Given a workbook, add the template tabs it lacks (matched by title, any case and
    spacing), seeded with the defaults (the Settings values in ``settings`` replace the
    defaults of their keys); return the titles added. Existing tabs are untouched."""
    present = {schema.normalize_header(title) for title in workbook.sheetnames}
    added: list[str] = []
    for layout in TAB_LAYOUTS.values():
        if schema.normalize_header(layout.title) in present:
            continue
        build_tab(workbook.create_sheet(layout.title), layout, seeded_rows(layout, settings))
        added.append(layout.title)
    return added


def complete_workbook(workbook: Workbook,
                      seed: Mapping[str, str] | None = None) -> list[str]:
    """Given an existing workbook, add what the template has and it lacks, changing no cell,
    tab or part it holds: the missing template tabs (an existing but empty one is laid out
    like a new one), the staleness indicator in the first column of the Escalations header
    row right of every column in use, and a ``Stale after`` row below the last Settings
    row. A Settings tab it adds or lays out takes the values in ``seed`` (the machine's
    time zone and date order) over the defaults. Return what was added, in words (empty when nothing was
    missing)."""
    added = [f"tab {title}" for title in add_missing_tabs(workbook, seed)]
    for layout in TAB_LAYOUTS.values():
        title = _title_in(workbook, layout.title)
        if not _used_columns(workbook[title]):
            build_tab(workbook[title], layout, seeded_rows(layout, seed))
            added.append(f"tab {title} (it was empty)")
    settings = workbook[_title_in(workbook, schema.SETTINGS)]
    key_column, value_column = _settings_columns(settings)
    escalations = workbook[_title_in(workbook, schema.ESCALATIONS)]
    if not any(staleness.is_indicator(value) for value in _row(escalations, 1).values()):
        column = _used_columns(escalations) + 1
        add_staleness_indicator(escalations, column, get_column_letter(key_column),
                                get_column_letter(value_column), settings.title)
        added.append(f"staleness indicator ({escalations.title}!{get_column_letter(column)}1)")
    wanted = schema.normalize_header(staleness.STALE_AFTER_KEY)
    keys = [cell.value for (row, column), cell in settings._cells.items()
            if row > 1 and column == key_column]
    if not any(isinstance(key, str) and schema.normalize_header(key) == wanted for key in keys):
        row = last_nonblank_row(settings) + 1
        settings.cell(row=row, column=key_column, value=staleness.STALE_AFTER_KEY)
        settings.cell(row=row, column=value_column, value=staleness.DEFAULT_STALE_AFTER)
        added.append(f"{settings.title} row {staleness.STALE_AFTER_KEY}")
    return added


def _title_in(workbook: Workbook, title: str) -> str:
    wanted = schema.normalize_header(title)
    return next(t for t in workbook.sheetnames if schema.normalize_header(t) == wanted)


def _settings_columns(settings: Worksheet) -> tuple[int, int]:
    """The 1-based Key and Value columns of Settings, found by header (A and B if absent)."""
    header = {schema.normalize_header(value): column
              for column, value in _row(settings, 1).items() if isinstance(value, str)}
    return header.get(schema.normalize_header("Key"), 1), header.get(schema.normalize_header("Value"), 2)


def _row(ws: Worksheet, row: int) -> dict[int, object]:
    """The 1-based row's values by 1-based column, creating no cell."""
    # The cell store is read directly: openpyxl's row iterators create the cells they visit,
    # and a created cell would be saved into a tab init must leave as it is.
    return {column: cell.value for (number, column), cell in ws._cells.items() if number == row}


def _used_columns(ws: Worksheet) -> int:
    """The 1-based number of the last column holding a value in any row (0 when none)."""
    return max((column for (_, column), cell in ws._cells.items()
                if cell.value is not None and cell.value != ""), default=0)


def last_nonblank_row(ws: Worksheet) -> int:
    """Given a worksheet, return the 1-based number of the last row holding a value (0 for
    an empty tab)."""
    # The cell store is read directly: openpyxl's row iterators create the cells they visit.
    return max((row for (row, _), cell in ws._cells.items()
                if cell.value is not None and cell.value != ""), default=0)


def with_cached_indicator(data: bytes) -> bytes:
    """Given a saved .xlsx package, return it with the staleness indicator's cached value
    filled in where it has none (see :func:`_cache_indicator`), every other part as it is."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            part = source.read(info.filename)
            if info.filename.startswith("xl/worksheets/"):
                part = _cache_indicator(part)
            target.writestr(info, part)
    return out.getvalue()


# What openpyxl gives a cell assigned a datetime or date: the sheet shows no seconds.
_OPENPYXL_DATETIME_FORMATS = frozenset({"yyyy-mm-dd h:mm:ss", "General"})
_OPENPYXL_DATE_FORMATS = frozenset({"yyyy-mm-dd", "General"})


def _times_without_seconds(workbook: Workbook) -> None:
    """Show every date-time cell as ``yyyy-mm-dd hh:mm`` (and dates as ``yyyy-mm-dd``)
    unless it was given a format of its own."""
    for ws in workbook.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, dt.datetime):
                    if cell.number_format in _OPENPYXL_DATETIME_FORMATS:
                        cell.number_format = DATETIME_FORMAT
                elif isinstance(cell.value, dt.date) and \
                        cell.number_format in _OPENPYXL_DATE_FORMATS:
                    cell.number_format = DATE_FORMAT


def workbook_bytes(workbook: Workbook) -> bytes:
    """Given a workbook, return its .xlsx bytes with fixed document dates and zip entry
    times, so the same workbook always yields the same bytes."""
    workbook.properties.created = _FIXED_TIME
    _times_without_seconds(workbook)
    raw = io.BytesIO()
    workbook.save(raw)
    stamp = _FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.startswith("xl/worksheets/"):
                data = _cache_indicator(data)
            if info.filename == "docProps/core.xml":
                # openpyxl stamps "modified" with the wall clock while saving.
                data = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>" + stamp.encode() + rb"\g<2>",
                    data,
                )
            entry = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            target.writestr(entry, data)
    return out.getvalue()


_INDICATOR_CELL = re.compile(rb'<c (?P<attrs>[^>]*)><f>(?P<formula>[^<]*' +
                             re.escape(staleness.STOPPED.encode()) + rb'[^<]*)</f><v\s*/?>(?:</v>)?</c>')


def _cache_indicator(xml: bytes) -> bytes:
    """Give the staleness indicator the value it shows in a workbook that never ran.

    openpyxl saves formulas without a value; a reader that takes cached values (the tool's
    own, calamine) would see a blank header cell and could put a new owned column over it.
    Excel, LibreOffice and Google Sheets recompute it (NOW() is volatile) when they open it.
    """
    def cached(match: re.Match[bytes]) -> bytes:
        attrs = re.sub(rb'\s*t="[^"]*"', b"", match.group("attrs"))
        return (b"<c " + attrs + b' t="str"><f>' + match.group("formula") + b"</f><v>"
                + staleness.NEVER_TEXT.encode() + b"</v></c>")

    return _INDICATOR_CELL.sub(cached, xml)


def write_template(path: Path) -> None:
    """Write the template workbook to ``path``, replacing any file there (the generator of
    the committed sheet_template.xlsx; `init` uses :func:`init_xlsx`, which never replaces)."""
    path.write_bytes(workbook_bytes(new_workbook()))


def init_xlsx(path: Path, settings: Mapping[str, str] | None = None, *,
              dry_run: bool = False) -> list[str]:
    """Given a path that does not exist yet, create the template workbook there (with
    ``settings`` in place of the default Settings values) and return the titles of its tabs. Raise RefusedError if something exists at ``path`` (a file is
    never overwritten), UsageError if it is not an ``.xlsx`` path, SourceError if it cannot
    be written. With ``dry_run`` the checks are made and nothing is written."""
    if path.suffix.lower() != ".xlsx":
        raise UsageError(f"{path}: a new local workbook must be an .xlsx file")
    if path.exists() or path.is_symlink():
        raise RefusedError(
            f"{path} already exists; init never overwrites a workbook "
            "(choose a new path, or run sync on the existing one)"
        )
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise SourceError(f"cannot create {path}: folder {directory} not found")
    workbook = new_workbook(settings)
    if dry_run:
        return list(workbook.sheetnames)
    data = workbook_bytes(workbook)
    try:
        files.publish(path, lambda stream: stream.write(data), 0o666 & ~_umask(),
                      overwrite=False)
    except FileExistsError as error:
        raise RefusedError(f"{path} already exists; init never overwrites a workbook") from error
    except OSError as error:
        raise SourceError(f"cannot create {path}: {error.strerror or error}") from error
    return list(workbook.sheetnames)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def main(argv: Sequence[str]) -> int:
    """Regenerate the template workbook at the path given as the only argument."""
    if len(argv) != 1:
        print("usage: python -m sheets_escalation.adapters.xlsx.template PATH.xlsx", file=sys.stderr)
        return 2
    write_template(Path(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
