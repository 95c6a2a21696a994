"""What-if replay (`simulate`) end to end on a golden workbook, and the monthly review's
threshold suggestion computed by the same replay.

October 2026, UTC, work hours 09:00-17:00, no holidays. Today's policy is the template's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from sheets_escalation.core import schema
from sheets_escalation.core.engine import read_log
from sheets_escalation.core.replay import MonthReplay
from sheets_escalation.core.review_answers import ThresholdOption, threshold_suggestions
from sheets_escalation.core.table import Table
from tests.fixtures import HEADERS, policy_of, row, run, write_golden

NOW = "2026-11-02T12:00"
TAB = "What-if 2026-10"


def at(day: int, hour: int, minute: int = 0, month: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute)


def complete(identifier: str, opened: dt.datetime, **values: Any) -> list[Any]:
    fields: dict[str, Any] = dict(
        id=identifier, opened=opened, customer=f"Customer {identifier}",
        contact="c@example.com", issue_type="Billing", description="Question about a charge",
        steps_tried="Checked the account", sentiment="Calm", urgency="Low")
    return row(**{**fields, **values})


ROWS = [
    # 600 > 500: Financial loss escalates it at once today; not with 800.
    complete("ESC-0001", at(1, 10), financial_impact=600, first_response_at=at(1, 10, 30),
             resolved_at=at(1, 14)),
    # 1500: escalated under both.
    complete("ESC-0002", at(5, 9), financial_impact=1500, first_response_at=at(5, 9, 30),
             resolved_at=at(5, 15)),
    # Quiet and quick.
    complete("ESC-0003", at(6, 9), first_response_at=at(6, 9, 20), resolved_at=at(6, 16)),
    # Open past one business day: Unresolved too long escalates it at Oct 7 17:00; L2 does
    # not answer by Oct 8 11:00, so L2 silent takes it on to L3.
    complete("ESC-0004", at(7, 9), first_response_at=at(7, 12, 30), resolved_at=at(8, 12)),
    # Answered after 3 business hours: Met within 4, Missed within 2.
    complete("ESC-0005", at(8, 9), first_response_at=at(8, 12), resolved_at=at(8, 15)),
    # Opened in September: not replayed for October.
    complete("ESC-0006", at(30, 10, month=9), financial_impact=600, resolved_at=at(30, 11, month=9)),
]




def tabs(path: Path) -> dict[str, list[list[Any]]]:
    book = openpyxl.load_workbook(path)
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in book}


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return write_golden(tmp_path / "log.xlsx", rows=ROWS)


def test_simulate_with_set_writes_only_the_what_if_tab(workbook: Path) -> None:
    before = tabs(workbook)

    code, out, err = run("simulate", str(workbook), "--month", "2026-10", "--now", NOW,
                         "--set", "Financial loss.Parameter=800")

    assert (code, err) == (0, "")
    assert out == (
        f"wrote tab {TAB} to log.xlsx\n"
        "Rows opened in the month: 5\n"
        "Proposed: Financial loss.Parameter=800\n"
        "Escalations today: 3\n"
        "Escalations proposed: 2\n"
        "SLA breaches today: 0\n"
        "SLA breaches proposed: 0\n"
        "Resolution within target today: 100%\n"
        "Resolution within target proposed: 100%\n"
        "Rows whose outcome changes: 1\n"
        "- In October 2026 the proposed policy gives 1 fewer escalations (3 → 2) and the "
        "same SLA breaches (0); 1 of 5 rows change outcome.\n"
    )
    after = tabs(workbook)
    assert list(after) == [*before, TAB]
    assert {name: rows for name, rows in after.items() if name != TAB} == before
    what_if = after[TAB]
    assert what_if[0][0] == ("What-if 2026-10 (October 2026): today's policy vs "
                             "Financial loss.Parameter=800")
    firsts = [r[0] for r in what_if]
    # The section's title is the last cell so named (the headline has one too).
    changed = what_if[len(firsts) - firsts[::-1].index("Rows whose outcome changes"):]
    assert changed[0][:6] == ["ID", "Customer", "Issue type", "Today", "Proposed", "Why"]
    assert changed[1][:5] == ["ESC-0001", "Customer ESC-0001", "Billing",
                              "L2 by Financial loss; response Met; resolution Met",
                              "L1; response Met; resolution Met"]
    assert changed[1][5] == ("today Financial loss escalates it to L2 at 2026-10-01 10:00; "
                             "proposed: it stays at L1 (no trigger escalates it before it is "
                             "resolved)")
    policy_rows = what_if[[r[0] for r in what_if].index("Policy changes") + 1:][:2]
    assert policy_rows == [["What", "Today", "Proposed", None, None, None],
                           ["Triggers: Financial loss · Parameter", "500", "800", None, None,
                            None]]

    # A rerun replaces the tab rather than adding another.
    assert run("simulate", str(workbook), "--month", "2026-10", "--now", NOW,
               "--set", "Financial loss.Parameter=800")[0] == 0
    assert list(tabs(workbook)) == [*before, TAB]


def test_simulate_dry_run_writes_and_exports_nothing_and_says_what_it_would(
        workbook: Path, tmp_path: Path) -> None:
    before = workbook.read_bytes()
    export = tmp_path / "what-if.md"

    code, out, err = run("simulate", str(workbook), "--month", "2026-10", "--now", NOW,
                         "--set", "Financial loss.Parameter=800", "--export", str(export),
                         "--dry-run")

    assert (code, err) == (0, "")
    assert out == (
        "dry run, nothing written\n"
        f"would write tab {TAB} to log.xlsx\n"
        f"would export {export}\n"
        "Rows opened in the month: 5\n"
        "Proposed: Financial loss.Parameter=800\n"
        "Escalations today: 3\n"
        "Escalations proposed: 2\n"
        "SLA breaches today: 0\n"
        "SLA breaches proposed: 0\n"
        "Resolution within target today: 100%\n"
        "Resolution within target proposed: 100%\n"
        "Rows whose outcome changes: 1\n"
        "- In October 2026 the proposed policy gives 1 fewer escalations (3 → 2) and the "
        "same SLA breaches (0); 1 of 5 rows change outcome.\n"
    )
    assert workbook.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.xlsx"]


def test_simulate_with_another_policy_workbook_and_export(workbook: Path, tmp_path: Path) -> None:
    other = write_golden(tmp_path / "proposal.xlsx", rows=[])
    book = openpyxl.load_workbook(other)
    book[schema.LEVELS]["E2"] = "2 business hours"  # L1 Response time
    for name in [n for n in book.sheetnames if n not in (schema.LEVELS, schema.TRIGGERS)]:
        del book[name]
    book.save(other)
    export = tmp_path / "what-if.md"
    before = tabs(workbook)

    code, out, err = run("simulate", str(workbook), "--month", "2026-10", "--now", NOW,
                         "--policy", str(other), "--export", str(export), "--no-tab")

    assert (code, err) == (0, "")
    assert "Proposed: the policy in proposal.xlsx\n" in out
    assert "SLA breaches today: 0\nSLA breaches proposed: 1\n" in out
    assert f"exported {export}\n" in out
    assert tabs(workbook) == before  # --no-tab: nothing written
    text = export.read_text(encoding="utf-8")
    assert "| Levels: L1 · Response time | 4 business hours | 2 business hours |" in text
    assert ("| ESC-0005 | Customer ESC-0005 | Billing | L1; response Met; resolution Met | "
            "L1; response Missed; resolution Met | response Met → Missed: due 2026-10-08 13:00 "
            "→ 2026-10-08 11:00, answered 2026-10-08 12:00 |") in text
    assert "| Response breaches | 0 | 1 | 1 |" in text
    assert "| Escalations to L3 | 1 | 1 | 0 |" in text  # ESC-0004: L2 silent after the auto L2


@pytest.mark.parametrize("suffix", [".xlsx", ".html", ".csv", ".pdf"])
def test_simulate_exports_every_format(workbook: Path, tmp_path: Path, suffix: str) -> None:
    export = tmp_path / f"what-if{suffix}"
    code, _, err = run("simulate", str(workbook), "--month", "2026-10", "--now", NOW,
                       "--set", "At risk at=50%", "--export", str(export))
    assert (code, err) == (0, "")
    assert export.stat().st_size > 0
    if suffix == ".xlsx":
        assert openpyxl.load_workbook(export).sheetnames == [TAB]


@pytest.mark.parametrize(("text", "message"), [
    ("Nope.Parameter=1", 'no trigger called "Nope" in Triggers'),
    ("L1.Colour=red", 'Levels has no column "Colour"'),
    ("Financial loss=800", 'no level, trigger or setting called "Financial loss"'),
    ("L2 response", "write it as WHAT=VALUE"),
])
def test_a_bad_set_is_exit_2_naming_it(workbook: Path, text: str, message: str) -> None:
    before = workbook.read_bytes()
    code, out, err = run("simulate", str(workbook), "--month", "2026-10", "--now", NOW,
                         "--set", "At risk at=80%", "--set", text)
    assert (code, out) == (2, "")
    assert err.startswith(f'error: --set "{text}": {message}')
    assert workbook.read_bytes() == before


def test_a_set_that_breaks_the_policy_is_located(workbook: Path) -> None:
    before = workbook.read_bytes()
    code, _, err = run("simulate", str(workbook), "--month", "2026-10", "--now", NOW,
                       "--set", "Financial loss.Parameter=lots")
    assert code == 2
    assert ('Triggers!C4: cannot read "lots" as an amount (e.g. 500) '
            "(with --set 'Financial loss.Parameter=lots')") in err
    assert workbook.read_bytes() == before


def test_a_broken_other_policy_is_exit_2_naming_its_workbook(workbook: Path,
                                                             tmp_path: Path) -> None:
    other = write_golden(tmp_path / "proposal.xlsx", rows=[], triggers=[
        ["Oops", "telepathy", "", "L1", "L2", "Immediate", "flag", "Yes"]])
    before = workbook.read_bytes()
    code, _, err = run("simulate", str(workbook), "--month", "2026-10", "--now", NOW,
                       "--policy", str(other))
    assert code == 2
    assert '[proposal.xlsx]Triggers!B2: unknown kind "telepathy"' in err
    assert workbook.read_bytes() == before


def test_simulate_needs_a_proposal(workbook: Path) -> None:
    code, _, err = run("simulate", str(workbook), "--month", "2026-10")
    assert code == 2 and "--policy" in err and "--set" in err


def test_a_month_without_rows_gives_a_short_tab(workbook: Path) -> None:
    code, out, _ = run("simulate", str(workbook), "--month", "2026-07", "--now", NOW,
                       "--set", "L2.Resolution target=3 business days")
    assert code == 0
    assert "Rows opened in the month: 0\n" in out
    assert "- No rows were opened in July 2026: there is nothing to replay.\n" in out


# --- the review's threshold suggestion ---------------------------------------------------


def escalated(identifier: str, day: int, amount: float, marked: bool) -> list[Any]:
    """An L2 row escalated (in the sheet) an hour after it came in, resolved soon after."""
    return complete(identifier, at(day, 10), financial_impact=amount, level="L2",
                    escalated_at=at(day, 11), first_response_at=at(day, 11, 15),
                    resolved_at=at(day, 13), could_l1_resolve="yes" if marked else None)


def test_the_review_suggests_the_threshold_that_avoids_marked_escalations(
        tmp_path: Path) -> None:
    rows = [escalated(f"ESC-00{n + 10}", n + 1, amount, marked) for n, (amount, marked) in
            enumerate([(600, True), (650, True), (700, True), (750, True), (1200, True),
                       (2500, True), (2000, False)])]
    path = write_golden(tmp_path / "log.xlsx", rows=rows)
    code, out, err = run("review", str(path), "--month", "2026-10", "--now", NOW)
    assert (code, err) == (0, "")
    assert ("- Financial loss over 500 → 1,200 would have avoided 5 of 6 unnecessary "
            "escalations and kept every needed one.\n") in out


def test_no_suggestion_when_most_escalations_were_needed(tmp_path: Path) -> None:
    rows = [escalated(f"ESC-00{n + 10}", n + 1, amount, marked) for n, (amount, marked) in
            enumerate([(600, True), (650, False), (700, False)])]
    path = write_golden(tmp_path / "log.xlsx", rows=rows)
    code, out, _ = run("review", str(path), "--month", "2026-10", "--now", NOW)
    assert code == 0
    assert "would have avoided" not in out


class FakeReplay:
    def __init__(self, attribution: Mapping[str, tuple[str, ...]],
                 options: Mapping[str, Sequence[ThresholdOption]]) -> None:
        self._attribution = attribution
        self._options = options

    def attribution(self) -> Mapping[str, tuple[str, ...]]:
        return self._attribution

    def options(self, trigger: str) -> Sequence[ThresholdOption]:
        return self._options.get(trigger, [])


def test_suggestion_weighs_needed_escalations_lost() -> None:
    events = pd.DataFrame({"id": ["A", "B", "C", "D"],
                           "could_l1_resolve": [True, True, True, False]})
    replay = FakeReplay(
        {"a": ("Repeat issue",), "b": ("Repeat issue",), "c": ("Repeat issue",),
         "d": ("Repeat issue",)},
        {"Repeat issue": [
            ThresholdOption("Repeat issue at 3 → 4 customers in 24 hours",
                            frozenset({"b", "c"})),
            ThresholdOption("Repeat issue at 3 → 5 customers in 24 hours", frozenset()),
        ]})
    assert threshold_suggestions(events, replay) == [
        "Repeat issue at 3 → 5 customers in 24 hours would have avoided 3 of 3 unnecessary "
        "escalations, but also 1 of 1 needed ones."]


def test_month_replay_tries_longer_durations_for_unresolved_for() -> None:

    policy = policy_of()
    # Opened 09:00, resolved at 11:00 the next day: 10 business hours, over 1 business day.
    rows = [complete(f"ESC-000{n}", at(5 + n, 9), resolved_at=at(6 + n, 11)) for n in (1, 2)]
    rows.append(complete("ESC-0009", at(5, 9), resolved_at=at(5, 12)))  # quick: never
    log = read_log(Table(schema.ESCALATIONS, [HEADERS, *rows]), policy).log
    replay = MonthReplay(log, policy, pd.Timestamp(NOW, tz="UTC"), "2026-10")

    assert replay.attribution() == {"esc-0001": ("Unresolved too long",),
                                    "esc-0002": ("Unresolved too long",)}
    options = replay.options("Unresolved too long")
    assert [o.change for o in options] == [
        "Unresolved too long after 1 business day → 1.5 business days",
        "Unresolved too long after 1 business day → 2 business days",
        "Unresolved too long after 1 business day → 3 business days"]
    assert [o.escalated for o in options] == [frozenset()] * 3
    assert replay.options("Legal threat") == []  # keywords, not a threshold


def test_month_replay_names_the_triggers_fired_before_each_move() -> None:
    policy = policy_of()
    rows = [
        # Financial loss fired when opened (Oct 5 10:00); raised by hand at 11:00.
        complete("ESC-0001", at(5, 10), financial_impact=900, level="L2",
                 escalated_at=at(5, 11)),
        # Legal threat and Financial loss fired at opening; Unresolved too long only at
        # Oct 7 09:00, after the 15:00 move by hand.
        complete("ESC-0002", at(6, 9), financial_impact=700, level="L2",
                 escalated_at=at(6, 15), steps_tried="Customer will call their lawyer"),
        # Nothing fired by the move at 10:00.
        complete("ESC-0003", at(7, 9), level="L2", escalated_at=at(7, 10)),
        # At L2 since Oct 8 09:00 without a first response: L2 silent fired at 11:00,
        # before the move to L3 at 14:00.
        complete("ESC-0004", at(8, 8), level="L3", escalated_at=at(8, 14)),
    ]
    log = read_log(Table(schema.ESCALATIONS, [HEADERS, *rows]), policy).log
    replay = MonthReplay(log, policy, pd.Timestamp(NOW, tz="UTC"), "2026-10")
    moves = pd.DataFrame({
        "id": ["ESC-0001", "ESC-0002", "ESC-0003", "ESC-0004", "ESC-0099"],
        "from_level": [1, 1, 1, 2, 1],
        "at": pd.to_datetime([at(5, 11), at(6, 15), at(7, 10), at(8, 14), at(9, 9)], utc=True),
        "start": pd.to_datetime([None, None, None, at(8, 9), None], utc=True),
    })
    assert replay.fired_before(moves) == [
        ("Financial loss",),
        ("Financial loss", "Legal threat"),
        (),
        ("L2 silent",),
        (),  # no longer in the log
    ]
    # A moment earlier than the trigger fired names nothing.
    earlier = moves.assign(at=pd.to_datetime([at(5, 9, 59)] * 5, utc=True)).iloc[:1]
    assert replay.fired_before(earlier) == [()]
