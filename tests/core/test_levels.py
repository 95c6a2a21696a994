"""One Level parser: what each spelling reads as, everywhere (docs/decisions.md)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from sheets_escalation.core.levels import level_label, level_number, level_numbers

READINGS: list[tuple[Any, int | None]] = [
    ("L2", 2), ("l2", 2), ("2", 2), ("2.0", 2), (" L 2 ", 2), ("Level 2", 2), ("level2", 2),
    ("LEVEL 3", 3), ("Lvl 2", 2), ("lvl2", 2), ("Tier 2", 2), ("tier 1", 1), (2, 2),
    (2.0, 2), (3, 3), ("L4", None), ("0", None), ("4", None), ("L2 silent", None),
    ("Level", None), ("", None), (None, None), (True, None), ("2.5", None), ("two", None),
]


@pytest.mark.parametrize(("value", "expected"), READINGS)
def test_level_number_reads_every_spelling_people_use(value: Any, expected: int | None) -> None:
    assert level_number(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("L2 - Specialist", 2), ("2 (urgent)", 2), ("Tier 3: exec", 3), ("L2 silent", 2),
    ("L2", 2), ("L4 - Board", None),
])
def test_a_note_after_the_level_is_read_only_when_allowed(value: str, expected: int | None) -> None:
    assert level_number(value, note=True) == expected
    if value != "L2":
        assert level_number(value) is None


def test_level_numbers_reads_a_column_with_nan_for_no_level() -> None:
    numbers = level_numbers(pd.Series(["L1", "Tier 2", "", "L3", "L1"]))
    assert numbers.tolist()[:2] == [1.0, 2.0]
    assert pd.isna(numbers.iat[2]) and numbers.iat[3] == 3.0 and numbers.iat[4] == 1.0


def test_level_label() -> None:
    assert level_label(2) == "L2"
