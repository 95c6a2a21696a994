"""The bundled sample workbook: committed file up to date, and every trigger kind present.

The coverage test reads the rows' fields with its own small readers (not the engine's), so
a sample that stops exercising a trigger kind fails here even if the engine changes.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import holidays
import pandas as pd
import pytest
from openpyxl import load_workbook
from rapidfuzz import fuzz

from sheets_escalation.core import schema
from sheets_escalation.core.table import Table
from sheets_escalation.jobs import sample

YES = {"yes", "y", "true", "1", "x", "✓"}


def _tabs(path: Path) -> dict[str, list[list[Any]]]:
    workbook = load_workbook(path)
    return {ws.title: [list(row) for row in ws.iter_rows(values_only=True)] for ws in workbook}


@pytest.fixture(scope="module")
def tabs() -> dict[str, list[list[Any]]]:
    return _tabs(sample.sample_path())


@pytest.fixture(scope="module")
def rows(tabs: dict[str, list[list[Any]]]) -> list[dict[str, Any]]:
    header, *body = tabs[schema.ESCALATIONS]
    keys = [schema.KEY_BY_NORMALIZED.get(schema.normalize_header(h)) for h in header]
    return [
        {key: value for key, value in zip(keys, row, strict=False) if key is not None}
        for row in body
        if any(v not in (None, "") for v in row)
    ]


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _yes(value: Any) -> bool:
    return _text(value).casefold() in YES


def _level(row: dict[str, Any]) -> int:
    return int(_text(row.get("level")).upper().removeprefix("L") or 1)


def _when(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    for layout in ("%m/%d/%Y %H:%M", "%Y-%m-%d %H:%M"):
        try:
            return dt.datetime.strptime(_text(value), layout)
        except ValueError:
            continue
    return None


def _money(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    digits = re.sub(r"^(USD|\$)\s*|,", "", _text(value))
    try:
        return float(digits)
    except ValueError:
        return None


def _is_open(row: dict[str, Any]) -> bool:
    return row.get("resolved_at") is None and _text(row.get("status")).casefold() != "resolved"


def _closed_days(tabs: dict[str, list[list[Any]]]) -> set[dt.date]:
    closed = set(holidays.country_holidays("US", years=[2026]))
    closed |= {r[0].date() if isinstance(r[0], dt.datetime) else r[0]
               for r in tabs[schema.HOLIDAYS][1:] if r and r[0] is not None}
    return closed


def _business_hours(start: dt.datetime, end: dt.datetime, closed: set[dt.date]) -> float:
    """Count 09:00-17:00 Mon-Fri time between two local times, minute by minute."""
    minutes = 0
    moment = start
    while moment < end:
        if moment.weekday() < 5 and moment.date() not in closed and 9 <= moment.hour < 17:
            minutes += 1
        moment += dt.timedelta(minutes=1)
    return minutes / 60


def _now_local() -> dt.datetime:
    return sample.SAMPLE_NOW.replace(tzinfo=None)


def _keywords(trigger_name: str) -> list[str]:
    parameter = next(t[2] for t in schema.DEFAULT_TRIGGERS if t[0] == trigger_name)
    return [word.strip() for word in parameter.split(",")]


def _mentions(row: dict[str, Any], words: list[str]) -> bool:
    text = " ".join(_text(row.get(k)) for k in ("description", "steps_tried", "notes"))
    return any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text, re.IGNORECASE) for w in words)


def _clusters(rows: list[dict[str, Any]], same: Any) -> list[list[dict[str, Any]]]:
    """Return groups of 3+ distinct customers whose rows are the same issue within 24 hours."""
    found = []
    for first in rows:
        start = _when(first.get("opened"))
        if start is None:
            continue
        group = [r for r in rows if same(first, r) and (w := _when(r.get("opened"))) is not None
                 and start <= w <= start + dt.timedelta(hours=24)]
        if len({_text(r["customer"]).casefold() for r in group}) >= 3:
            found.append(group)
    return found


def test_committed_sample_matches_what_build_sample_writes(tmp_path: Path) -> None:
    fresh = tmp_path / "sample.xlsx"
    sample.build_sample(fresh)
    assert _tabs(fresh) == _tabs(sample.sample_path()), (
        "data/sample.xlsx is stale: run python -m sheets_escalation.jobs.sample"
    )


def test_sample_has_every_template_tab_and_its_settings(tabs: dict[str, list[list[Any]]]) -> None:
    for title in (schema.ESCALATIONS, schema.LEVELS, schema.TRIGGERS, schema.SETTINGS,
                  schema.HOLIDAYS, schema.VIP, schema.HISTORY, schema.TEMPLATES):
        assert title in tabs
    settings = {_text(r[0]): _text(r[1]) for r in tabs[schema.SETTINGS][1:] if r[0]}
    assert settings["Timezone"] == "America/New_York" == str(sample.SAMPLE_NOW.tzinfo)
    assert settings["Holiday country"] == "US"
    assert len(tabs[schema.HOLIDAYS]) > 1
    assert sample.SAMPLE_NOW.weekday() == 2  # a Wednesday, the day before Thanksgiving


def test_sample_covers_every_trigger_kind(
    rows: list[dict[str, Any]], tabs: dict[str, list[list[Any]]]
) -> None:
    now = _now_local()
    closed = _closed_days(tabs)
    vip = {_text(r[0]).casefold() for r in tabs[schema.VIP][1:] if r and r[0]}
    open_rows = [r for r in rows if _is_open(r)]
    l1 = [r for r in open_rows if _level(r) == 1]
    l2 = [r for r in open_rows if _level(r) == 2]

    def opened_long_ago(row: dict[str, Any]) -> bool:
        opened = _when(row.get("opened"))
        return opened is not None and _business_hours(opened, now, closed) >= 8

    def l2_silent(row: dict[str, Any]) -> bool:
        start = _when(row.get("escalated_at"))
        return (row.get("first_response_at") is None and start is not None
                and _business_hours(start, now, closed) > 2)

    key_clusters = _clusters(
        l1, lambda a, b: _text(a.get("issue_key")) != "" and a["issue_key"] == b.get("issue_key"))
    fuzzy_clusters = _clusters(
        [r for r in l1 if not _text(r.get("issue_key"))],
        lambda a, b: a["issue_type"] == b["issue_type"]
        and fuzz.token_set_ratio(_text(a["description"]).casefold(),
                                 _text(b["description"]).casefold()) >= 80,
    )
    covered = {
        "unresolved_for": any(opened_long_ago(r) for r in l1),
        "manager_requested": any(_yes(r.get("manager_requested")) for r in l1),
        "financial_loss_over": sum((_money(r.get("financial_impact")) or 0) > 500 for r in l1) >= 3,
        "mentions": any(_mentions(r, _keywords("Legal threat")) for r in open_rows if _level(r) < 3)
        and any(_mentions(r, _keywords("Security incident")) for r in open_rows if _level(r) < 3),
        "repeat_issue": bool(key_clusters) and bool(fuzzy_clusters),
        "public_mention": any(_yes(r.get("public_mention"))
                              or _text(r.get("channel")) in ("Social", "Review") for r in l1),
        "beyond_authority": any(_yes(r.get("beyond_l2")) for r in l2),
        "vip": any(_text(r.get("customer")).casefold() in vip for r in l1),
        "no_response": any(l2_silent(r) for r in l2),
    }
    assert set(covered) == set(schema.TRIGGER_KINDS)
    assert [kind for kind, present in covered.items() if not present] == []


def test_sample_has_the_awkward_cells_people_type(rows: list[dict[str, Any]]) -> None:
    amounts = [r.get("financial_impact") for r in rows]
    assert {"$1,250.00", "USD 800", 640} <= set(amounts)
    assert any(_money(a) is None and a not in (None, "") for a in amounts)  # junk money
    opened = [r.get("opened") for r in rows]
    assert "31/02/2026" in opened
    assert {"11/23/2026 10:15", "2026-11-24 09:05"} <= set(opened)
    assert sum(isinstance(o, dt.datetime) for o in opened) > len(rows) // 2
    assert sum(_text(r.get("id")) == "" for r in rows) == 1
    assert any(not _is_open(r) for r in rows) and any(_is_open(r) for r in rows)
    required = [schema.KEY_BY_NORMALIZED[schema.normalize_header(h)]
                for h in schema.DEFAULT_REQUIRED_INFO]
    assert any(_level(r) > 1 and _is_open(r) and any(not _text(r.get(k)) for k in required)
               for r in rows)
    assert 35 <= len(rows) <= 50


def test_engine_fires_every_trigger_kind_on_the_sample(tabs: dict[str, list[list[Any]]]) -> None:
    from sheets_escalation.core import engine, policy
    from sheets_escalation.core.events import read_events
    from sheets_escalation.core.log import read_log

    tables = {title: Table(title, body) for title, body in tabs.items()}
    loaded = policy.load_policy(tables)
    log = read_log(tables[schema.ESCALATIONS], loaded).log
    history = read_events(tables[schema.HISTORY], loaded.timezone)
    evaluation = engine.evaluate(log, loaded, pd.Timestamp(sample.SAMPLE_NOW), history)

    kind_of = {rule.name: rule.kind for rule in loaded.triggers}
    # Automatic escalations show in History events; flagged ones in the Triggers column.
    fired = {name for cell in evaluation.result["triggers"] for name in cell.split("; ") if name}
    fired |= {event.trigger for event in evaluation.events if event.event == "escalated"}
    assert {kind_of[name] for name in fired} == set(schema.TRIGGER_KINDS)
    flags = set(evaluation.result["flag"])
    assert flags == set(schema.FLAGS)


@pytest.fixture(scope="module")
def demo_review(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`make demo` followed by `review --month 2026-11` at the sample's own time."""
    import shutil

    from sheets_escalation.adapters.xlsx.backend import XlsxBackend
    from sheets_escalation.jobs.review import run_review
    from sheets_escalation.jobs.sync import run_sync

    path = tmp_path_factory.mktemp("demo") / "escalations-demo.xlsx"
    shutil.copyfile(sample.sample_path(), path)
    now = pd.Timestamp(sample.SAMPLE_NOW)
    run_sync(XlsxBackend(path), now)
    return run_review(XlsxBackend(path), now, "2026-11", None, write_tab=False).review


def test_the_demo_review_answers_the_five_questions(demo_review: Any) -> None:
    assert dict(demo_review.answers) == {
        "How many, and which way": "17 escalations in November 2026 so far (25 of 30 days), "
        "against 2 in October and a 3-month average of 0.7; the month is not over.",
        "Most common trigger": '"Unresolved too long", behind 4 of 17 escalations '
        "(4 automatic); 1 had no trigger fired when it moved up.",
        "Resolved within target": "Response on 13 of 13 judged (100%), resolution on 6 of 8 "
        "judged (75%); 3 SLA breaches (ESC-0011, ESC-0015, ESC-0026).",
        "Preventable by L1 training or documentation": "Refund, 2 of 2 escalations needed "
        "little once escalated (ESC-0004, ESC-0008).",
        "Unnecessary": "3 of 17 marked Could L1 resolve? (ESC-0004, ESC-0007, ESC-0008); "
        "1 more looks unnecessary, raised by a person with no trigger fired (ESC-0005).",
    }
    by_trigger = next(s.table for s in demo_review.sections if s.title == "By trigger")
    assert by_trigger.values.tolist() == [
        ["Unresolved too long", 4, pytest.approx(4 / 17), 4, 0, 0],
        ["Financial loss", 3, pytest.approx(3 / 17), 0, 0, 3],
        ["Manager requested", 3, pytest.approx(3 / 17), 0, 2, 1],
        ["Legal threat", 2, pytest.approx(2 / 17), 0, 0, 2],
        ["Security incident", 2, pytest.approx(2 / 17), 0, 1, 1],
        ["VIP customer", 2, pytest.approx(2 / 17), 0, 0, 2],
        ["L2 silent", 1, pytest.approx(1 / 17), 1, 0, 0],
        ["No trigger had fired", 1, pytest.approx(1 / 17), 0, 0, 1],
    ]


def test_every_demo_recommendation_cites_rows_that_exist(
        demo_review: Any, rows: list[dict[str, Any]]) -> None:
    ids = {_text(r.get("id")) for r in rows}
    assert demo_review.recommendations[:5] == [
        "Train L1 on Refund (a runbook, and the access to act): 2 of 2 Refund escalations "
        "needed little once escalated — resolved within 2 h at L2: ESC-0004, ESC-0008; "
        "marked Could L1 resolve?: ESC-0004, ESC-0008.",
        "Call Oakridge Hardware about their account: 2 of their issues were escalated this "
        "month (ESC-0004, ESC-0005); one owner for the account can catch the shared cause.",
        "Call Westbrook Animal Hospital about their account: 2 of their issues were "
        "escalated this month (ESC-0014, ESC-0022); one owner for the account can catch the "
        "shared cause.",
        'Review the "Financial loss" trigger: 2 of 3 escalations it was behind were marked '
        "Could L1 resolve? (ESC-0004, ESC-0008); raise its threshold or let L1 handle those "
        "cases first.",
        "Ask about ESC-0005: raised by a person while no trigger had fired. Either L1 could "
        "have kept it, or the Triggers tab lacks a rule people already follow.",
    ]
    for sentence in demo_review.recommendations:
        assert set(re.findall(r"ESC-\d{4}", sentence)) <= ids, sentence
    # Three reports of SHIP-RATES but no escalation: nothing to recommend about it.
    assert not any("SHIP-RATES" in s for s in demo_review.recommendations)
    assert "Manual (escalate command)" not in str(demo_review.sections)
