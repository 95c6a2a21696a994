"""Render the staleness indicator as LibreOffice shows it, to look at by eye.

Writes two workbooks from the template into OUT (default ``build/staleness``): one whose
``Last run`` is 3 hours old (the indicator must read "Flags last refreshed 3 h ago — the
hourly sync has stopped", white on red, with the header row red) and one synced 20 minutes
ago (a quiet grey "Flags up to date"), then converts each to PDF with LibreOffice headless
and the first page to PNG with pdftoppm. Only the Escalations tab is printed, and only the
columns from Missing info to just past the indicator's sentence.

    python scripts/render_staleness.py [OUT]

``Last run`` is written in this machine's local time, which is what the spreadsheet's NOW()
uses when LibreOffice opens the file.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
from pathlib import Path

from openpyxl.utils import get_column_letter

from sheets_escalation.adapters.xlsx.template import new_workbook
from sheets_escalation.core import schema, staleness

CASES = {"stale": dt.timedelta(hours=3, minutes=5), "fresh": dt.timedelta(minutes=20)}


def write_case(path: Path, age: dt.timedelta) -> None:
    workbook = new_workbook()
    local_now = dt.datetime.now().astimezone().replace(tzinfo=None)
    settings = workbook[schema.SETTINGS]
    for row in settings.iter_rows(min_row=2):
        if row[0].value == "Last run":
            row[1].value = (local_now - age).replace(microsecond=0)
    escalations = workbook[schema.ESCALATIONS]
    escalations.append(["ESC-0001", local_now - dt.timedelta(hours=5), "Acme Bakery"])
    first = [c.header for c in schema.ESCALATION_COLUMNS].index("Missing info") + 1
    last = get_column_letter(staleness.TEMPLATE_COLUMN + 7)
    escalations.print_area = f"{get_column_letter(first)}1:{last}3"
    escalations.page_setup.orientation = "landscape"
    escalations.page_setup.fitToWidth = 1
    escalations.sheet_properties.pageSetUpPr.fitToPage = True
    for sheet in workbook.worksheets:
        if sheet is not escalations:
            sheet.sheet_state = "hidden"
    workbook.save(path)


def render(path: Path, out: Path, profile: Path) -> Path:
    # A profile of its own: LibreOffice refuses to start while another instance holds one.
    # Fixed programs on PATH with our own arguments: running this machine's tools is the point.
    convert = ["soffice", f"-env:UserInstallation=file://{profile}", "--headless",
               "--convert-to", "pdf", "--outdir", str(out), str(path)]
    subprocess.run(convert, check=True, capture_output=True, timeout=180)  # noqa: S603
    pdf = out / (path.stem + ".pdf")
    picture = ["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", str(pdf),
               str(out / path.stem)]
    subprocess.run(picture, check=True, timeout=60)  # noqa: S603
    return out / (path.stem + ".png")


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "build/staleness").resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        for name, age in CASES.items():
            path = out / f"staleness-{name}.xlsx"
            write_case(path, age)
            print(render(path, out, Path(profile)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
