"""A tab's raw rows as a frame of object columns, the shape the readers of tabs start from."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from pandas._libs import lib


def raw_frame(rows: list[list[Any]], positions: Iterable[int] | None = None) -> pd.DataFrame:
    """Given a tab's rows, return them as a frame of object columns, one per position in
    ``positions`` (every position when None) and labelled by it; short rows read as None
    there (sheets hand over ragged rows)."""
    if not rows:
        return pd.DataFrame()
    width = max(map(len, rows))
    wanted = range(width) if positions is None else sorted(set(positions))
    # pandas' own row-to-array routine (what DataFrame(rows) runs) fills short rows with
    # None in C; taking columns from it costs less than any per-cell Python loop.
    grid = lib.to_object_array(rows, min_width=width)  # type: ignore[attr-defined]  # untyped stub
    return pd.DataFrame(
        {position: grid[:, position].copy() if position < width
         else np.full(len(rows), None, dtype=object) for position in wanted},
        index=pd.RangeIndex(len(rows)),
    )
