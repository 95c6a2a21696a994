"""The sheet watches itself: the staleness indicator's formula, computed by the spreadsheet.

A dead job cannot report that it is dead, so the template carries one cell the spreadsheet
computes with its own ``NOW()`` from Settings' ``Last run`` and ``Stale after``: it keeps
working when the tool, its machine or its credentials are gone. It is the only formula the
tool ever writes (``init`` writes it once; ``sync`` never writes a formula).

Where it lives, and why there: in the Escalations header row, in the first column right of
every column in use (``AL1`` in the template, right of Problems). Headers are matched by
name, so its text is simply an unknown header, like a column people add; it always shows
text, so the column counts as in use and owned columns the tool has to re-add go to its
right. A banner row above the headers would move the header row every reader relies on;
the Settings tab, which a sync re-reads before writing ``Last run``, would see its text
change under the run. While the sync is healthy the text is constant (no age in it), so
Google Sheets' recalculation cannot make the header row look edited between a sync's read
and its write; when the sync has stopped the text changes at most once an hour.

When stale, the cell (and the header row, by a colour rule keyed on the cell's text) turns
red, so the alarm shows whatever column a person scrolled to.
"""

from __future__ import annotations

STALE_AFTER_KEY = "Stale after"
DEFAULT_STALE_AFTER = "2 hours"
LAST_RUN_KEY = "Last run"
STOPPED = "the hourly sync has stopped"
FRESH_TEXT = "Flags up to date: the hourly sync is running"
NEVER_TEXT = "Flags not refreshed yet: the sync has not run"
UNREADABLE_TEXT = "Flags: cannot read Last run in Settings"
# The template's own place: right of the last template column (Problems, AL).
TEMPLATE_COLUMN = 38  # 1-based, AL


def formula(key_column: str, value_column: str, settings_title: str = "Settings") -> str:
    """Given the Settings tab's Key and Value column letters, return the indicator formula
    (valid in Excel, LibreOffice and Google Sheets; no function newer than Excel 2007).

    The threshold is Settings ``Stale after`` as ``<number> <unit>`` with minutes, hours or
    days; a missing or unreadable one counts as 2 hours.
    """
    tab = _quoted(settings_title)

    def setting(key: str) -> str:
        return (f'INDEX({tab}!${value_column}:${value_column},'
                f'MATCH("{key}",{tab}!${key_column}:${key_column},0))')

    last = f'IFERROR({setting(LAST_RUN_KEY)},"")'
    age = f"(NOW()-{last})"
    stale_text = setting(STALE_AFTER_KEY)
    unit = f'LOWER(LEFT(TRIM(MID({stale_text}&" ",FIND(" ",{stale_text}&" "),99)),1))'
    threshold = (f'IFERROR(VALUE(LEFT({stale_text},FIND(" ",{stale_text}&" ")-1))'
                 f'/IF({unit}="m",1440,IF({unit}="d",1,24)),2/24)')
    shown_age = (f'IF({age}*24<2,INT({age}*1440)&" min",'
                 f'IF({age}<2,INT({age}*24)&" h",INT({age})&" days"))')
    return (f'=IFERROR(IF({last}="","{NEVER_TEXT}",IF({age}>{threshold},'
            f'"Flags last refreshed "&{shown_age}&" ago — {STOPPED}","{FRESH_TEXT}")),'
            f'"{UNREADABLE_TEXT}")')


def stale_condition(cell: str) -> str:
    """Given the indicator's absolute A1 reference (``$AL$1``), return the colour rules'
    formula: true while the indicator says the sync has stopped."""
    return f'RIGHT({cell},{len("stopped")})="stopped"'


def is_indicator(value: object) -> bool:
    """Given a cell's formula text, return whether it is the staleness indicator."""
    return isinstance(value, str) and value.startswith("=") and STOPPED in value


def _quoted(title: str) -> str:
    if title.replace("_", "").isalnum() and not title[0].isdigit():
        return title
    return "'" + title.replace("'", "''") + "'"
