"""Synthetic workbooks: reproducible from a seed, and 1,000 rows carry every feature."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from benchmarks import generate
from sheets_escalation.core import schema

NOW = generate.DEFAULT_NOW
COLUMN = {c.key: i for i, c in enumerate(schema.ESCALATION_COLUMNS)}
LEGAL = next(t[2] for t in schema.DEFAULT_TRIGGERS if t[0] == "Legal threat").split(", ")
SECURITY = next(t[2] for t in schema.DEFAULT_TRIGGERS if t[0] == "Security incident").split(", ")


@pytest.fixture(scope="module")
def rows() -> list[list[Any]]:
    return generate.generate_rows(1000, 1, NOW)


def _get(row: list[Any], key: str) -> Any:
    return row[COLUMN[key]]


def _mentions(row: list[Any], words: list[str]) -> bool:
    text = " ".join(str(_get(row, k) or "") for k in ("description", "steps_tried", "notes"))
    return any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text, re.IGNORECASE) for w in words)


def _when(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    for layout in ("%m/%d/%Y %H:%M", "%Y-%m-%d %H:%M"):
        try:
            return dt.datetime.strptime(str(value), layout)
        except ValueError:
            continue
    return None


def _has_cluster(groups: dict[Any, list[list[Any]]]) -> bool:
    for group in groups.values():
        times = sorted((t, _get(r, "customer")) for r in group if (t := _when(_get(r, "opened"))))
        for start, _ in times:
            window = {c for t, c in times if start <= t <= start + dt.timedelta(hours=24)}
            if len(window) >= 3:
                return True
    return False


def test_same_seed_gives_identical_rows_and_another_seed_does_not() -> None:
    first = generate.generate_rows(300, 7, NOW)
    assert first == generate.generate_rows(300, 7, NOW)
    assert first != generate.generate_rows(300, 8, NOW)


def test_header_and_size(rows: list[list[Any]]) -> None:
    assert rows[0] == [c.header for c in schema.ESCALATION_COLUMNS]
    assert len(rows) == 1001
    assert generate.generate_rows(0, 1, NOW) == [rows[0]]


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        generate.generate_rows(10, 1, dt.datetime(2026, 1, 1))


def test_thousand_rows_carry_every_feature(rows: list[list[Any]]) -> None:
    body = rows[1:]
    date_cells = [_get(r, k) for r in body
                  for k in ("opened", "escalated_at", "first_response_at", "resolved_at")]
    opened = [_when(_get(r, "opened")) for r in body]
    known = [t for t in opened if t is not None]
    money = [_get(r, "financial_impact") for r in body]
    levels = {_get(r, "level") for r in body}
    by_key: dict[Any, list[list[Any]]] = defaultdict(list)
    by_wording: dict[Any, list[list[Any]]] = defaultdict(list)
    for row in body:
        if _get(row, "issue_key"):
            by_key[_get(row, "issue_key")].append(row)
        elif any(_get(row, "description") in v for v in generate._VARIANTS.values()):
            by_wording[_get(row, "issue_type")].append(row)

    features = {
        "datetime cells": any(isinstance(v, dt.datetime) for v in date_cells),
        "M/D/Y text dates": any(isinstance(v, str) and "/" in v and _when(v) for v in date_cells),
        "ISO text dates": any(isinstance(v, str) and "-" in v and _when(v) for v in date_cells),
        "unreadable dates": any(v in generate._BAD_DATES for v in date_cells),
        "junk money": any(v in generate._JUNK_MONEY for v in money),
        "plain amounts": any(isinstance(v, float) for v in money),
        "dollar amounts": any(isinstance(v, str) and v.startswith("$") for v in money),
        "USD amounts": any(isinstance(v, str) and v.startswith("USD ") for v in money),
        "blank IDs": any(_get(r, "id") is None for r in body),
        "all levels and blank": {None, "L1", "L2", "L3"} <= levels,
        "open rows": any(_get(r, "resolved_at") is None for r in body),
        "resolved rows": any(_get(r, "resolved_at") is not None for r in body),
        "legal words": any(_mentions(r, LEGAL) for r in body),
        "security words": any(_mentions(r, SECURITY) for r in body),
        "plain descriptions": sum(not _mentions(r, LEGAL + SECURITY) for r in body) > 900,
        "manager requested": any(_get(r, "manager_requested") for r in body),
        "public mention": any(_get(r, "public_mention") or _get(r, "channel") == "Social"
                              for r in body),
        "beyond L2": any(_get(r, "beyond_l2") and _get(r, "level") == "L2" for r in body),
        "repeat by key": _has_cluster(by_key),
        "repeat by wording": _has_cluster(by_wording),
        "two years of history": (max(known) - min(known)).days >= 700,
        "recent rows": max(known) >= NOW.replace(tzinfo=None) - dt.timedelta(days=1),
    }
    assert [name for name, present in features.items() if not present] == []
    assert len({_get(r, "id") for r in body if _get(r, "id")}) == sum(1 for r in body if _get(r, "id"))


def test_write_workbook_is_an_ordinary_workbook_with_every_tab(tmp_path: Path) -> None:
    path = tmp_path / "bench.xlsx"
    generate.write_workbook(path, 50, 3, NOW)
    workbook = load_workbook(path)
    assert workbook.sheetnames[0] == schema.ESCALATIONS
    assert set(workbook.sheetnames) >= {schema.LEVELS, schema.TRIGGERS, schema.SETTINGS,
                                        schema.HOLIDAYS, schema.VIP, schema.HISTORY,
                                        schema.TEMPLATES}
    escalations = [list(r) for r in workbook[schema.ESCALATIONS].iter_rows(values_only=True)]
    assert escalations == generate.generate_rows(50, 3, NOW)
    settings = {r[0]: r[1] for r in workbook[schema.SETTINGS].iter_rows(values_only=True)}
    assert settings["Timezone"] == generate.TIMEZONE
    vip = [r[0] for r in workbook[schema.VIP].iter_rows(min_row=2, values_only=True)]
    assert vip == generate.vip_customers(3)
    workbook.save(tmp_path / "again.xlsx")
    assert load_workbook(tmp_path / "again.xlsx")[schema.ESCALATIONS].max_row == 51


def test_cli_writes_the_requested_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "out.xlsx"
    assert generate.main(["--rows", "20", "--seed", "2", str(path)]) == 0
    assert "wrote 20 rows" in capsys.readouterr().out
    assert load_workbook(path)[schema.ESCALATIONS].max_row == 21
