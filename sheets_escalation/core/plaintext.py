"""Text from the sheet made safe to show: the one place that says which characters a
terminal, an export or a cell must not receive.

People paste anything into a shared sheet, and Excel keeps control characters (it stores
ESC as ``_x001B_``). Printed raw, ESC, CSI and OSC sequences retitle or clear a terminal;
written raw, they make openpyxl refuse the cell and XML readers refuse the file. Pure: no
I/O.
"""

from __future__ import annotations

import re

# C0 controls except tab and line feed, DEL, and the C1 controls (which terminals also act
# on: U+009B is CSI, U+009D is OSC).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def without_controls(text: str) -> str:
    """Given text, return it with line ends as line feeds (a lone carriage return would
    overwrite a terminal line) and every other control character removed; tabs stay."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)
