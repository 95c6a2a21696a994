"""Render docs/synced-sheet.png, the README's picture of a synced sheet, from the demo.

Run from the repository root: ``.venv/bin/python docs/render_picture.py``. Needs LibreOffice
(``soffice``) and poppler (``pdftoppm``). The demo is synced at the sample's own reference
time, so the picture only changes when the sample or the tool's output does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import openpyxl
from openpyxl.utils import get_column_letter
from PIL import Image, ImageChops

SHOWN = ("ID", "Customer", "Issue type", "Level", "Flag", "Triggers", "Escalate by",
         "Response SLA", "Resolution SLA")
ROWS = 18
OUT = Path(__file__).parent / "synced-sheet.png"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        sys.exit(f"{name} is not installed")
    return path


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        subprocess.run([sys.executable, "-m", "sheets_escalation.cli", "demo"],  # noqa: S603
                       cwd=work, check=True, stdout=subprocess.DEVNULL)
        book = openpyxl.load_workbook(work / "escalations-demo.xlsx")
        for name in book.sheetnames:
            if name != "Escalations":
                del book[name]
        sheet = book["Escalations"]
        headers = [cell.value for cell in sheet[1]]
        for position, header in enumerate(headers, start=1):
            letter = get_column_letter(position)
            sheet.column_dimensions[letter].hidden = header not in SHOWN
        widths = {"Triggers": 36, "Customer": 26, "Flag": 21, "Escalate by": 17}
        for position, header in enumerate(headers, start=1):
            if header in SHOWN:
                sheet.column_dimensions[get_column_letter(position)].width = widths.get(
                    header, 14)
        flag = headers.index("Flag")
        shown = 0
        for row in range(2, sheet.max_row + 1):
            # The open rows are the ones a support lead looks at.
            keep = shown < ROWS and sheet.cell(row, flag + 1).value != "RESOLVED"
            shown += keep
            sheet.row_dimensions[row].hidden = not keep
        sheet.page_setup.orientation = "landscape"
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 1
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
        sheet.print_options.gridLines = True
        book.save(work / "picture.xlsx")
        # Fixed argument lists of two local tools: nothing here comes from input.
        convert = [_tool("soffice"), "--headless", "--convert-to", "pdf", "--outdir", str(work),
                   str(work / "picture.xlsx")]
        subprocess.run(convert, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
        rasterise = [_tool("pdftoppm"), "-png", "-r", "150", "-singlefile",
                     str(work / "picture.pdf"), str(work / "picture")]
        subprocess.run(rasterise, check=True)  # noqa: S603
        image = Image.open(work / "picture.png").convert("RGB")
        background = Image.new("RGB", image.size, (255, 255, 255))
        box = ImageChops.difference(image, background).getbbox()
        if box is not None:
            margin = 12
            image = image.crop((max(box[0] - margin, 0), max(box[1] - margin, 0),
                                min(box[2] + margin, image.width),
                                min(box[3] + margin, image.height)))
        image.save(OUT, optimize=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
