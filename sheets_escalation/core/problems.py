"""Problems found in a workbook or a local file, each with its place.

A :class:`Problem` names its tab (or file) and A1 cell; a problem of an Escalations row
also names the column it is about (``header``) and its sheet ``row``, so ``check`` can
point at the cell without reading the text back. The text people see is ``message``
(for a row's problem it starts with the header, as the Problems column shows it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Problem:
    """One problem, located by tab and A1 cell (cell may be empty for a whole tab)."""

    tab: str
    cell: str
    message: str
    header: str = ""  # the column a row's problem is about
    row: int | None = None  # the sheet row (1-based) of a row's problem

    def __str__(self) -> str:
        where = f"{self.tab}!{self.cell}" if self.cell else self.tab
        return f"{where}: {self.message}"


def row_problems(tab: str, parts: Sequence[tuple[str, pd.Series]],
                 sheet_rows: Sequence[int]) -> list[Problem]:
    """Given a tab, per-row problem texts by column header (``""`` where a row has none,
    rows matched by position) and each row's sheet row, return the problems row by row,
    within a row in the order of ``parts``, not yet placed in a cell."""
    found: list[tuple[int, int, Problem]] = []
    for order, (header, texts) in enumerate(parts):
        values = texts.to_numpy(dtype=object, na_value="")
        for position in np.flatnonzero(values != "").tolist():
            found.append((position, order, Problem(tab, "", str(values[position]), header,
                                                   int(sheet_rows[position]))))
    found.sort(key=lambda item: (item[0], item[1]))
    return [problem for _, _, problem in found]
