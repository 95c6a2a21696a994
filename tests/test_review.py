"""The monthly review's numbers, pinned on a golden month worked out by hand.

Golden month: October 2026 in Europe/Berlin (CEST until Oct 25, then CET).
Escalations per local month: Jun 3, Jul 6, Aug 8, Sep 12, Oct 10, Nov 1.

October's ten escalations (ID, to-level, source, issue type):
  ESC-0001 L2 History "Unresolved too long", Sep 30 22:30 UTC = Oct 1 00:30 local; Billing, marked
  ESC-0002 L2 History "Unresolved too long"; Billing; resolved 1.5 h after escalation
  ESC-0003 L2 History "Manager requested"; Billing; resolved 0.5 h after escalation
  ESC-0004 L2 History "Repeat issue" (recorded twice, counted once); Login, LOGIN-500
  ESC-0005 L2 History "Repeat issue"; Login, login-500
  ESC-0006 L2 History "Repeat issue"; Login, LOGIN-500
  ESC-0007 L3 History "Legal threat"; Refund, marked
  ESC-0008 L3 log only (Level edited in the sheet; its "level changed" event is the same one); Refund, marked
  ESC-0009 L2 History "Financial loss"; closed and no longer in the log
  ESC-0010 L3 History "Beyond L2 authority" (its L2 escalation was in September); Shipping
Not October: Sep 30 21:30 UTC (23:30 local) and Oct 31 23:30 UTC (Nov 1 00:30 local).
"""

from __future__ import annotations

import pandas as pd
import pytest

from sheets_escalation.core.months import default_month, parse_month
from sheets_escalation.core.review import build_review
from sheets_escalation.core.review_answers import QUESTIONS
from tests.fixtures import LEVELS, TZ, golden_frames, ts


@pytest.fixture
def october():
    log, result, history = golden_frames()
    return build_review(log, result, history, LEVELS, "2026-10", TZ)


def section(review, title: str) -> pd.DataFrame:
    return next(s.table for s in review.sections if s.title == title)


def test_headline_counts_and_trend(october):
    assert not october.empty
    assert october.tab == "Review 2026-10"
    headline = dict(october.headline)
    assert headline["Escalations"] == 10
    assert headline["Previous month"] == 12
    assert headline["Change vs previous month"] == pytest.approx(-1 / 6)
    assert headline["Average of the 3 months before"] == pytest.approx(8.67)
    assert headline["Change vs the 3-month average"] == pytest.approx(4 / 26)
    assert headline["Trend"] == "up 15%"
    assert headline["Response within target"] == pytest.approx(7 / 9)
    assert headline["Resolution within target"] == pytest.approx(5 / 7)
    assert headline["SLA breaches"] == 5
    assert headline["Marked Could L1 resolve?"] == 3
    assert headline["Likely unnecessary (not marked)"] == 2
    assert october.headline_formats["Change vs previous month"] == "pct"


def test_trend_table(october):
    trend = section(october, "Escalations per month")
    assert trend["Month"].tolist() == ["2026-07", "2026-08", "2026-09", "2026-10"]
    assert trend["Escalations"].tolist() == [6, 8, 12, 10]
    # July's change over June's 3 escalations is left blank: a tiny base.
    assert trend["Change vs previous month"].tolist()[0] is None
    assert trend["Change vs previous month"].tolist()[1:] == pytest.approx([1 / 3, 0.5, -1 / 6])


def test_per_week_labels_span_real_dates(october):
    weeks = section(october, "Escalations per week")
    assert weeks["Week"].tolist() == ["Sep 28 – Oct 4", "Oct 5 – 11", "Oct 12 – 18",
                                      "Oct 19 – 25", "Oct 26 – Nov 1"]
    assert weeks["Escalations"].tolist() == [1, 5, 2, 2, 0]


def test_by_level_and_by_trigger_most_common_first(october):
    by_level = section(october, "By level")
    assert by_level.values.tolist() == [["L2", "Specialist", 7, 0.7], ["L3", "Executive", 3, 0.3]]
    by_trigger = section(october, "By trigger")
    assert by_trigger["Trigger"].tolist() == [
        "Repeat issue", "Unresolved too long", "Beyond L2 authority", "Financial loss",
        "Legal threat", "Level edited in the sheet", "Manager requested",
    ]
    assert by_trigger["Escalations"].tolist() == [3, 2, 1, 1, 1, 1, 1]
    assert by_trigger["Share"].tolist() == pytest.approx([0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1])
    assert by_trigger["Automatic"].tolist() == [3, 2, 1, 1, 1, 0, 1]
    assert by_trigger["Raised by hand"].tolist() == [0, 0, 0, 0, 0, 1, 0]


def test_within_target_and_hours_per_level(october):
    targets = section(october, "Within target by level")
    assert targets["Level"].tolist() == ["L2 Specialist", "L3 Executive"]
    assert targets["Escalated rows"].tolist() == [6, 3]
    assert targets["Response judged"].tolist() == [6, 3]
    assert targets["Response within target"].tolist() == pytest.approx([5 / 6, 2 / 3])
    assert targets["Resolution judged"].tolist() == [5, 2]
    assert targets["Resolution within target"].tolist() == pytest.approx([0.8, 0.5])
    hours = section(october, "Hours by level")
    assert hours["Median response hours"].tolist() == pytest.approx([1.25, 0.35])
    assert hours["P90 response hours"].tolist() == pytest.approx([2.5, 0.47])
    assert hours["Median resolution hours"].tolist() == pytest.approx([28.0, 36.0])
    assert hours["P90 resolution hours"].tolist() == pytest.approx([37.0, 55.2])


def test_breaches_from_history_and_states(october):
    assert section(october, "SLA breaches").values.tolist() == [
        ["ESC-0004", "L2", "Response", "Missed"],
        ["ESC-0005", "L2", "Resolution", "Overdue"],
        ["ESC-0008", "L3", "Response", "Overdue"],
        ["ESC-0009", "L2", "Resolution", "Recorded in History"],
        ["ESC-0010", "L3", "Resolution", "Missed"],
    ]


def test_unnecessary_marked_and_candidates(october):
    assert section(october, "Marked Could L1 resolve?").values.tolist() == [
        ["ESC-0001", "Billing", "L2", "Unresolved too long (automatic)"],
        ["ESC-0007", "Refund", "L3", "Legal threat (automatic)"],
        ["ESC-0008", "Refund", "L3", "Level edited in the sheet"],
    ]
    assert section(october, "Likely unnecessary (not marked)").values.tolist() == [
        ["ESC-0002", "Billing", "L2", "Billing: 4 of 4 L2 escalations resolved within 2 h"],
        ["ESC-0003", "Billing", "L2", "Resolved 0.5 h after escalation to L2"],
    ]


def test_root_cause_candidates(october):
    assert section(october, "Issue types").values.tolist() == [
        ["Billing", 3, 0.3, 1, 2],
        ["Login", 3, 0.3, 0, 0],
        ["Refund", 2, 0.2, 2, 0],
        ["(no longer in the log)", 1, 0.1, 0, 0],
        ["Shipping", 1, 0.1, 0, 0],
    ]
    assert section(october, "Repeat issues (issue keys)").values.tolist() == [
        ["LOGIN-500", 3, 4, 4, "ESC-0004, ESC-0005, ESC-0006, ESC-0012"],
        ["INVOICE-PDF", 2, 1, 2, "ESC-0001, ESC-0002"],
    ]


def test_recommendations(october):
    # Each names its rows; the Billing and Refund ones replace the former "Empower L1"
    # sentences (same rule, now with the IDs and what each row shows).
    assert october.recommendations == [
        "Train L1 on Billing (a runbook, and the access to act): 3 of 3 Billing escalations "
        "needed little once escalated — resolved within 2 h at L2: ESC-0001, ESC-0002, "
        "ESC-0003; marked Could L1 resolve?: ESC-0001.",
        "Train L1 on Refund (a runbook, and the access to act): 2 of 2 Refund escalations "
        "needed little once escalated — marked Could L1 resolve?: ESC-0007, ESC-0008.",
        'Fix the product behind "LOGIN-500": it caused 3 of 10 escalations (30%) from 4 '
        "customers (ESC-0004, ESC-0005, ESC-0006).",
        'Write a knowledge-base article for "INVOICE-PDF" so L1 can answer it directly: '
        "2 escalations (ESC-0001, ESC-0002) and 1 report opened this month.",
        "L3 Executive met its response target on only 67% of judged escalations (2 of 3); "
        "review staffing or the response target for that level.",
        "L3 Executive met its resolution target on only 50% of judged escalations (1 of 2); "
        "review staffing or the resolution target for that level.",
    ]


def test_five_answers_one_sentence_each(october):
    assert october.answers == [
        ("How many, and which way", "10 escalations in October 2026, down 17% on September "
         "(12) and up 15% on the 3-month average (8.7)."),
        ("Most common trigger", '"Repeat issue", behind 3 of 10 escalations (3 automatic).'),
        ("Resolved within target", "Response on 7 of 9 judged (78%), resolution on 5 of 7 "
         "judged (71%); 5 SLA breaches (ESC-0004, ESC-0005, ESC-0008, ESC-0009, ESC-0010)."),
        ("Preventable by L1 training or documentation", "Billing, 3 of 3 escalations needed "
         "little once escalated (ESC-0001, ESC-0002, ESC-0003); Refund, 2 of 2 escalations "
         "needed little once escalated (ESC-0007, ESC-0008); the product fault behind "
         '"LOGIN-500" (3 escalations: ESC-0004, ESC-0005, ESC-0006); a knowledge-base '
         'article for "INVOICE-PDF" (2 escalations: ESC-0001, ESC-0002).'),
        ("Unnecessary", "3 of 10 marked Could L1 resolve? (ESC-0001, ESC-0007, ESC-0008); "
         "2 more look unnecessary (ESC-0002, ESC-0003)."),
    ]


def test_charts_name_their_section_columns(october):
    charts = {s.title: s.chart for s in october.sections if s.chart}
    assert set(charts) == {
        "Escalations per month", "Escalations per week", "By trigger", "Within target by level",
    }
    for s in october.sections:
        if s.chart:
            assert s.chart.category in s.table.columns
            assert set(s.chart.values) <= set(s.table.columns)
    assert charts["Within target by level"].value_format == "pct"


def test_rising_month_recommends_the_top_trigger():
    log, result, history = golden_frames()
    extra = pd.DataFrame(
        [(ts(f"2026-10-{day:02d}T15:00"), f"NEW-{day}", "escalated", "L1", "L2", "Repeat issue",
          "sheets-escalation", "") for day in range(1, 5)],
        columns=history.columns,
    )
    review = build_review(log, result, pd.concat([history, extra]), LEVELS, "2026-10", TZ)
    assert dict(review.headline)["Escalations"] == 14
    assert review.recommendations[-1] == (
        "Escalations rose 62% against the average of the 3 months before; start with the "
        'most common trigger, "Repeat issue" (7 this month).'
    )


def test_month_without_escalations_is_a_short_review():
    log, result, history = golden_frames()
    review = build_review(log, result, history, LEVELS, "2026-12", TZ)
    assert review.empty
    assert dict(review.headline)["Escalations"] == 0
    # November's single escalation is too small a base for a percentage.
    assert dict(review.headline)["Change vs previous month"] is None
    assert dict(review.headline)["Trend"] == "down 100%"
    assert review.answers[0] == ("How many, and which way", "0 escalations in December 2026, "
                                 "against 1 in November and down 100% on the 3-month "
                                 "average (7.7).")
    assert [question for question, _ in review.answers] == list(QUESTIONS)
    assert [s.title for s in review.sections] == ["Escalations per month"]
    assert section(review, "Escalations per month")["Escalations"].tolist() == [12, 10, 1, 0]
    assert review.recommendations == [
        "There were no escalations in December 2026, so there is nothing to change."
    ]


def test_empty_frames_give_an_empty_review():
    history = pd.DataFrame(columns=["at", "id", "event", "from_level", "to_level", "trigger"])
    review = build_review(pd.DataFrame(), pd.DataFrame(), history, LEVELS, "2026-10", "UTC")
    assert review.empty
    assert dict(review.headline)["Change vs previous month"] is None
    assert dict(review.headline)["Trend"] == "new (no escalations before)"


def test_history_only_month_has_no_sla_rows_but_counts():
    log, result, history = golden_frames()
    review = build_review(log.iloc[0:0], result.iloc[0:0], history, LEVELS, "2026-10", TZ)
    headline = dict(review.headline)
    # Nine escalated events plus ESC-0008's upward "level changed" event.
    assert headline["Escalations"] == 10
    assert headline["Response within target"] is None


@pytest.mark.parametrize(
    ("now", "timezone", "month"),
    [
        ("2026-10-31T23:30:00+00:00", "Europe/Berlin", "2026-10"),
        ("2026-10-31T23:30:00+00:00", "UTC", "2026-09"),
        ("2026-01-15T12:00:00+00:00", "UTC", "2025-12"),
        ("2026-03-01T04:00:00+00:00", "America/New_York", "2026-01"),
    ],
)
def test_default_month_is_last_full_month_in_timezone(now, timezone, month):
    assert default_month(pd.Timestamp(now), timezone) == month


def test_parse_month():
    assert parse_month(" 2026-10 ") == "2026-10"
    for bad in ("2026-13", "2026-1", "10/2026", "", "2026-00"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            parse_month(bad)


def test_manual_and_multiple_triggers_are_named_for_people():
    history = pd.DataFrame(
        [(ts("2026-10-05T10:00"), "ESC-0001", "escalated", "L1", "L2", "manual", "Sam", ""),
         (ts("2026-10-06T10:00"), "ESC-0002", "escalated", "L1", "L2",
          "Financial loss; VIP customer", "sheets-escalation", "")],
        columns=["at", "id", "event", "from_level", "to_level", "trigger", "by", "detail"],
    )
    review = build_review(pd.DataFrame(), pd.DataFrame(), history, LEVELS, "2026-10", "UTC")
    by_trigger = section(review, "By trigger")
    # Without a replay to ask, a command escalation is named for how it happened.
    assert by_trigger.values.tolist() == [
        ["Financial loss", 1, 0.5, 1, 0, 0], ["Manual (escalate command)", 1, 0.5, 0, 1, 0],
        ["VIP customer", 1, 0.5, 1, 0, 0],
    ]
    assert section(review, "Issue types").values.tolist() == [["(no longer in the log)", 2, 1.0, 0, 0]]


def escalated(at: str, id_: str, to: str, trigger: str, by: str = "sheets-escalation",
              event: str = "escalated", from_: str = "L1") -> tuple[object, ...]:
    return (ts(at), id_, event, from_, to, trigger, by, "")


HISTORY_COLUMNS = ["at", "id", "event", "from_level", "to_level", "trigger", "by", "detail"]


def test_a_tiny_base_is_said_in_counts_not_percent():
    history = pd.DataFrame(
        [escalated("2026-09-10T10:00", "OLD-1", "L2", "VIP customer"),
         escalated("2026-09-11T10:00", "OLD-2", "L2", "VIP customer")]
        + [escalated(f"2026-10-{day:02d}T10:00", f"NEW-{day}", "L2", "Repeat issue")
           for day in range(1, 15)],
        columns=HISTORY_COLUMNS)
    review = build_review(pd.DataFrame(), pd.DataFrame(), history, LEVELS, "2026-10", "UTC")
    headline = dict(review.headline)
    assert headline["Trend"] == "14, up from a 3-month average of 0.7"
    assert headline["Change vs previous month"] is None
    assert headline["Change vs the 3-month average"] is None
    assert review.answers[0][1] == ("14 escalations in October 2026, against 2 in September "
                                    "and a 3-month average of 0.7.")
    assert not any("%" in sentence for sentence in review.recommendations)
    assert review.recommendations[-1] == (
        "Escalations rose to 14 from the average of the 3 months before (0.7); start with "
        'the most common trigger, "Repeat issue" (14 this month).')


def test_the_month_in_progress_says_so():
    history = pd.DataFrame([escalated("2026-12-02T10:00", "ESC-0001", "L2", "VIP customer")],
                           columns=HISTORY_COLUMNS)
    now = pd.Timestamp("2026-12-04T15:00", tz="UTC")
    review = build_review(pd.DataFrame(), pd.DataFrame(), history, LEVELS, "2026-12", "UTC",
                          now=now)
    assert "December 2026 so far: 4 of 31 days" in review.title
    assert review.answers[0][1].startswith("1 escalation in December 2026 so far (4 of 31 "
                                           "days)")
    assert review.answers[0][1].endswith("; the month is not over.")
    finished = build_review(pd.DataFrame(), pd.DataFrame(), history, LEVELS, "2026-11", "UTC",
                            now=now)
    assert "so far" not in finished.title + finished.answers[0][1]


class FiredBefore:
    """Answers as the replay would: the triggers that had fired per (ID, from-level)."""

    def __init__(self, fired: dict[tuple[str, int], tuple[str, ...]]) -> None:
        self.fired = fired
        self.asked: list[pd.DataFrame] = []

    def fired_before(self, moves: pd.DataFrame) -> list[tuple[str, ...]]:
        self.asked.append(moves)
        return [self.fired.get((ident, int(level)), ())
                for ident, level in zip(moves["id"], moves["from_level"], strict=True)]


def attribution_frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Five October escalations: one automatic, one by the escalate command, one Level
    typed by hand and seen by a run, one typed by hand before any run (log only), and
    that last row's later L2 -> L3 move by hand."""
    log = pd.DataFrame({
        "id": ["ESC-0001", "ESC-0002", "ESC-0003", "ESC-0004"],
        "customer": ["Acme", "Bolt", "Acme", "Cora"],
        "issue_type": ["Billing", "Billing", "Login", "Refund"],
        "issue_key": ["", "", "", ""],
        "opened": [ts("2026-10-05T08:00")] * 4,
        "escalated_at": [ts("2026-10-05T10:00"), ts("2026-10-06T10:00"),
                         ts("2026-10-07T10:00"), ts("2026-10-09T10:00")],
        "resolved_at": [pd.NaT] * 4,
        "level": [2, 2, 2, 3],
        "could_l1_resolve": [False, True, False, False],
    })
    result = log[["id", "level", "escalated_at"]].assign(
        response_sla="", resolution_sla="", response_hours=None, resolution_hours=None)
    history = pd.DataFrame([
        escalated("2026-10-05T10:00", "ESC-0001", "L2", "Unresolved too long"),
        escalated("2026-10-06T10:00", "ESC-0002", "L2", "manual", by="Sam"),
        escalated("2026-10-07T10:00", "ESC-0003", "L2", "", by="sheet", event="level changed"),
        escalated("2026-10-08T10:00", "ESC-0004", "L2", "", by="sheet", event="level changed"),
    ], columns=HISTORY_COLUMNS)
    return log, result, history


def test_escalations_people_made_are_attributed_to_the_triggers_fired_then():
    log, result, history = attribution_frames()
    replay = FiredBefore({("ESC-0002", 1): ("Financial loss",),
                          ("ESC-0004", 1): ("Legal threat", "VIP customer"),
                          ("ESC-0004", 2): ("Legal threat",)})
    review = build_review(log, result, history, LEVELS, "2026-10", "UTC", triggers=replay)
    # Automatic escalations keep History's trigger; only people's moves are replayed,
    # each from the level it left and when it reached that level.
    (asked,) = replay.asked
    assert asked[["id", "from_level"]].values.tolist() == [
        ["ESC-0002", 1], ["ESC-0003", 1], ["ESC-0004", 1], ["ESC-0004", 2]]
    assert asked["start"].tolist()[:3] == [pd.NaT] * 3
    assert asked["start"].iloc[3] == ts("2026-10-08T10:00")
    assert section(review, "By trigger").values.tolist() == [
        ["Legal threat", 2, 0.4, 0, 0, 2],
        ["Financial loss", 1, 0.2, 0, 1, 0],
        ["Unresolved too long", 1, 0.2, 1, 0, 0],
        ["VIP customer", 1, 0.2, 0, 0, 1],
        ["No trigger had fired", 1, 0.2, 0, 0, 1],
    ]
    assert section(review, "Marked Could L1 resolve?").values.tolist() == [
        ["ESC-0002", "Billing", "L2", "Financial loss (escalate command)"]]
    # Raised by hand with no trigger fired: the first likely unnecessary candidate.
    assert section(review, "Likely unnecessary (not marked)").values.tolist()[0] == [
        "ESC-0003", "Login", "L2", "Raised by a person with no trigger fired"]
    answers = dict(review.answers)
    assert answers["Most common trigger"] == (
        '"Legal threat", behind 2 of 5 escalations (2 raised by hand); 1 had no trigger '
        "fired when it moved up.")
    assert answers["Unnecessary"] == ("1 of 5 marked Could L1 resolve? (ESC-0002); 1 more "
                                      "looks unnecessary, raised by a person with no trigger "
                                      "fired (ESC-0003).")
    gone = build_review(log[log["id"] != "ESC-0003"], result[result["id"] != "ESC-0003"],
                        history, LEVELS, "2026-10", "UTC", triggers=FiredBefore({}))
    # ESC-0003 has left the log: not replayed, so not called "no trigger had fired".
    assert "Level edited in the sheet" in section(gone, "By trigger")["Trigger"].tolist()
    candidates = section(gone, "Likely unnecessary (not marked)")
    assert "ESC-0003" not in candidates["ID"].tolist()
    assert ("Ask about ESC-0003: raised by a person while no trigger had fired. Either L1 "
            "could have kept it, or the Triggers tab lacks a rule people already follow."
            in review.recommendations)
    # Acme has two escalated issues; ESC-0004's two moves are one issue of Cora's.
    calls = [s for s in review.recommendations if s.startswith("Call ")]
    assert calls == ["Call Acme about their account: 2 of their issues were escalated this "
                     "month (ESC-0001, ESC-0003); one owner for the account can catch the "
                     "shared cause."]


def test_recommendations_never_fire_on_zero():
    log, result, history = attribution_frames()
    # Three reports of one key, none escalated; one trigger marked on its only escalation.
    reports = pd.DataFrame({
        "id": ["ESC-0011", "ESC-0012", "ESC-0013"], "customer": ["D", "E", "F"],
        "issue_type": ["Shipping"] * 3, "issue_key": ["SHIP-RATES"] * 3,
        "opened": [ts("2026-10-12T08:00")] * 3, "escalated_at": [pd.NaT] * 3,
        "resolved_at": [pd.NaT] * 3, "level": [1] * 3, "could_l1_resolve": [False] * 3})
    log = pd.concat([log, reports], ignore_index=True)
    result = log[["id", "level", "escalated_at"]].assign(
        response_sla="", resolution_sla="", response_hours=None, resolution_hours=None)
    review = build_review(log, result, history, LEVELS, "2026-10", "UTC",
                          triggers=FiredBefore({("ESC-0002", 1): ("Financial loss",)}))
    keys = section(review, "Repeat issues (issue keys)")
    assert keys.values.tolist() == [["SHIP-RATES", 0, 3, 3, "ESC-0011, ESC-0012, ESC-0013"]]
    text = " ".join(review.recommendations) + " ".join(a for _, a in review.answers)
    assert "SHIP-RATES" not in text
    assert "Financial loss" not in " ".join(review.recommendations)  # 1 marked: not "mostly"
    # ESC-0004's two moves by hand are one issue: no training pattern, no repeated customer.
    assert "Train L1" not in text
    assert "Cora" not in text


def test_long_id_lists_are_cut_in_sentences_and_sorted_naturally():
    history = pd.DataFrame(
        [escalated(f"2026-10-{1 + n % 28:02d}T10:00", f"ESC-{number}", "L2", "Repeat issue")
         for n, number in enumerate([10000, *range(9990, 9999)])],
        columns=HISTORY_COLUMNS)
    history["detail"] = ""
    breached = history.assign(event="breached", from_level="L2", to_level="",
                              trigger="Response SLA")
    review = build_review(pd.DataFrame(), pd.DataFrame(), pd.concat([history, breached]),
                          LEVELS, "2026-10", "UTC")
    assert dict(review.answers)["Resolved within target"].endswith(
        "10 SLA breaches (ESC-9990, ESC-9991, ESC-9992, ESC-9993, ESC-9994, ESC-9995, "
        "ESC-9996, ESC-9997 and 2 more).")
    assert section(review, "SLA breaches")["ID"].tolist()[-1] == "ESC-9998"  # table: all
