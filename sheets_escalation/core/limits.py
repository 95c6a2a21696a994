"""How long a cell the tool writes may be, and how a longer text is shortened to fit.

Google Sheets refuses a whole write when one cell holds over 50,000 characters, and Excel
does not open a cell over 32,767; the texts the tool composes (Why, Triggers, Missing info,
History details) are lists whose length grows with the log (a repeat-issue cluster lists
every report's ID). Such a text is shortened, not refused: the longest list in it keeps its
first items and ends with "… and N more". Pure: no I/O.
"""

from __future__ import annotations

GOOGLE_CELL_CHARACTERS = 50_000
XLSX_CELL_CHARACTERS = 32_767

_PARTS = "; "  # between the texts of several rules (engine._append)
_ITEMS = ", "  # between the items of one list


def fit_text(text: str, limit: int) -> str:
    """Given a text and a cell's character limit, return the text unchanged if it fits,
    else with its longest "; "-separated part shortened to its first ", "-separated items
    and "… and N more" (N the items left out), the other parts kept whole. A text with no
    list that fits is cut and ends with "… and N more characters"."""
    if len(text) <= limit:
        return text
    parts = text.split(_PARTS)
    longest = max(range(len(parts)), key=lambda i: len(parts[i]))
    room = limit - (len(text) - len(parts[longest]))
    if room > 0:
        shortened = _shorten_list(parts[longest], room)
        if shortened is not None:
            parts[longest] = shortened
            return _PARTS.join(parts)
    return _shorten_list(text, limit) or _cut(text, limit)


def _shorten_list(text: str, room: int) -> str | None:
    """The first items of the list ``text`` that fit in ``room`` with the "… and N more"
    ending, or None if not even one item fits."""
    items = text.split(_ITEMS)
    if len(items) < 2:
        return None
    length = -len(_ITEMS)
    kept = 0
    for item in items:
        ending = len(f" … and {len(items) - kept - 1} more")
        if length + len(_ITEMS) + len(item) + ending > room:
            break
        length += len(_ITEMS) + len(item)
        kept += 1
    if kept == 0:
        return None
    return f"{_ITEMS.join(items[:kept])} … and {len(items) - kept} more"


def _cut(text: str, limit: int) -> str:
    for digits in range(1, 12):
        # The ending's length depends on the count it states: find the one that fits.
        keep = limit - len(" … and  more characters") - digits
        if len(str(len(text) - keep)) <= digits:
            return f"{text[:max(keep, 0)]} … and {len(text) - max(keep, 0)} more characters"
    return text[:limit]
