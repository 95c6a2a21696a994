"""The ten default triggers (SPEC §3, the trigger matrix): each fires exactly when the
contract says, at the level it says, with the fired-at time and evidence it says.

Week: Mon 2026-06-01 .. Sun 2026-06-07, UTC, 09:00-17:00, default policy unless stated.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from sheets_escalation.core import schema
from tests.fixtures import (
    at,
    basic,
    default_trigger,
    evaluate_rows,
    events,
    fired,
    policy_of,
    text,
    triggers_tab,
    utc,
)


def only(*names: str, **changes: dict[str, str]) -> Any:
    """A policy whose Triggers tab holds just the named default rows (with changes)."""
    return policy_of(Triggers=triggers_tab(
        *[default_trigger(n, **changes.get(n, {})) for n in names]))


def result_at(rows: list[list[Any]], now: pd.Timestamp, **kwargs: Any) -> pd.DataFrame:
    return evaluate_rows(rows, now, **kwargs).result


# ---------------------------------------------------------------------------------------
# The level filter (From / To / Any) and resolved rows


def test_from_level_filter_fires_only_at_the_from_level() -> None:
    rows = [
        basic(opened=at(1, 9), manager_requested="yes"),
        basic(opened=at(1, 9), manager_requested="yes", level="L2", escalated_at=at(1, 10)),
        basic(opened=at(1, 9), manager_requested="yes", level="L3", escalated_at=at(1, 10)),
    ]
    evaluation = evaluate_rows(rows, utc(1, 11))
    assert fired(evaluation, 0) == ["Manager requested"]
    assert fired(evaluation, 1) == []
    assert fired(evaluation, 2) == []


def test_any_fires_at_every_level_below_to() -> None:
    rows = [
        basic(opened=at(1, 9), description="we will call a lawyer"),
        basic(opened=at(1, 9), description="we will call a lawyer", level="L2",
              escalated_at=at(1, 10)),
        basic(opened=at(1, 9), description="we will call a lawyer", level="L3",
              escalated_at=at(1, 10)),
    ]
    evaluation = evaluate_rows(rows, utc(1, 11))
    assert fired(evaluation, 0) == ["Legal threat"]
    assert fired(evaluation, 1) == ["Legal threat"]
    assert fired(evaluation, 2) == []  # already at To
    assert list(evaluation.result["target_level"]) == ["L3", "L3", ""]


@pytest.mark.parametrize("resolution", [
    {"resolved_at": at(1, 10)},
    {"status": "Resolved", "resolved_at": at(1, 10)},
    {"status": " resolved "},
])
def test_resolved_rows_never_fire(resolution: dict[str, Any]) -> None:
    rows = [basic(opened=at(1, 9), manager_requested="yes", financial_impact=9000,
                  description="lawyer and data breach", channel="Social", **resolution)]
    evaluation = evaluate_rows(rows, utc(5, 12))
    assert fired(evaluation) == []
    assert evaluation.result["target_level"].iat[0] == ""
    assert events(evaluation, "escalated") == []


def test_disabled_trigger_never_fires() -> None:
    policy = only("Manager requested", **{"Manager requested": {"Enabled": "No"}})
    evaluation = evaluate_rows([basic(opened=at(1, 9), manager_requested="yes")], utc(1, 10), policy)
    assert fired(evaluation) == []


# ---------------------------------------------------------------------------------------
# Fired at + Timeframe = Escalate by


def test_immediate_escalate_by_is_level_start() -> None:
    rows = [
        basic(opened=at(1, 9, 30), manager_requested="yes"),
        basic(opened=at(1, 9), description="lawyer", level="L2", escalated_at=at(1, 11, 15)),
    ]
    result = result_at(rows, utc(1, 12))
    assert result["escalate_by"].iat[0] == utc(1, 9, 30)
    assert result["escalate_by"].iat[1] == utc(1, 11, 15)
    assert list(result["flag"]) == ["ESCALATION OVERDUE", "ESCALATION OVERDUE"]


def test_one_hour_timeframe_is_calendar_time() -> None:
    # Opened Friday 16:30: 1 calendar hour later is 17:30 the same day, not Monday.
    rows = [basic(opened=at(5, 16, 30), channel="Social")]
    result = result_at(rows, utc(5, 17))
    assert fired(evaluate_rows(rows, utc(5, 17))) == ["Public complaint"]
    assert result["escalate_by"].iat[0] == utc(5, 17, 30)
    assert result["flag"].iat[0] == "ESCALATE"
    assert result_at(rows, utc(5, 17, 31))["flag"].iat[0] == "ESCALATION OVERDUE"


def test_business_timeframe_counts_work_hours() -> None:
    policy = only("Public complaint", **{"Public complaint": {"Timeframe": "2 business hours"}})
    result = result_at([basic(opened=at(5, 16), channel="Review")], utc(5, 18), policy=policy)
    assert result["escalate_by"].iat[0] == utc(8, 10)


def test_escalate_by_is_the_earliest_of_the_fired_triggers() -> None:
    rows = [basic(opened=at(1, 9), channel="Social", manager_requested="yes")]
    result = result_at(rows, utc(1, 9, 30))
    assert result["escalate_by"].iat[0] == utc(1, 9)
    assert result["target_level"].iat[0] == "L2"


# ---------------------------------------------------------------------------------------
# unresolved_for: "Unresolved too long", 1 business day, auto L1 -> L2


def test_unresolved_for_fires_after_one_business_day() -> None:
    rows = [basic(opened=at(1, 10))]
    before = evaluate_rows(rows, utc(2, 9, 59))
    assert fired(before) == [] and events(before, "escalated") == []
    after = evaluate_rows(rows, utc(2, 10))
    [event] = events(after, "escalated")
    assert [event.from_level, event.to_level, event.trigger] == ["L1", "L2", "Unresolved too long"]
    assert event.by == "sheets-escalation"
    assert "open 8 business hours" in event.detail
    assert "1 business day" in event.detail


def test_unresolved_for_skips_the_weekend() -> None:
    rows = [basic(opened=at(5, 15))]  # Friday 15:00: 2h Friday + 6h Monday
    assert events(evaluate_rows(rows, utc(8, 14, 59)), "escalated") == []
    assert len(events(evaluate_rows(rows, utc(8, 15)), "escalated")) == 1


def test_unresolved_for_skips_a_holiday() -> None:
    holidays: list[list[Any]] = [["Date", "Name"], [at(8, 0).date(), "Closed"]]
    policy = policy_of(Holidays=holidays)
    rows = [basic(opened=at(5, 15))]
    assert events(evaluate_rows(rows, utc(9, 14, 59), policy), "escalated") == []
    assert len(events(evaluate_rows(rows, utc(9, 15), policy), "escalated")) == 1


def test_unresolved_for_skips_a_holiday_country_closure() -> None:
    # Thanksgiving 2026 is Thursday 26 November in the US.
    policy = policy_of(Settings=[["Key", "Value"], ["Holiday country", "US"]])
    opened = pd.Timestamp("2026-11-25 15:00").to_pydatetime()
    rows = [basic(opened=opened)]
    assert events(evaluate_rows(rows, pd.Timestamp("2026-11-27 14:59", tz="UTC"), policy),
                  "escalated") == []
    assert len(events(evaluate_rows(rows, pd.Timestamp("2026-11-27 15:00", tz="UTC"), policy),
                      "escalated")) == 1


def test_unresolved_for_counts_from_opened_not_level_start() -> None:
    policy = only("Unresolved too long", **{"Unresolved too long": {
        "From": "Any", "To": "L3", "Apply": "flag"}})
    rows = [basic(opened=at(1, 9), level="L2", escalated_at=at(2, 9))]
    result = result_at(rows, utc(2, 9), policy=policy)
    assert result["triggers"].iat[0] == "Unresolved too long"
    assert result["escalate_by"].iat[0] == utc(1, 17)


# ---------------------------------------------------------------------------------------
# manager_requested, financial_loss_over, beyond_authority


@pytest.mark.parametrize("answer", ["yes", "Y", "TRUE", "1", "x", "✓", True, 1])
def test_manager_requested_yes(answer: Any) -> None:
    evaluation = evaluate_rows([basic(opened=at(1, 9), manager_requested=answer)], utc(1, 9, 30))
    assert fired(evaluation) == ["Manager requested"]
    assert "manager" in text(evaluation, "why")


@pytest.mark.parametrize("answer", ["no", "", None, False, 0])
def test_manager_requested_no(answer: Any) -> None:
    assert fired(evaluate_rows([basic(opened=at(1, 9), manager_requested=answer)], utc(1, 9, 30))) == []


@pytest.mark.parametrize(("impact", "fires"), [
    (500, False), ("500.00", False), (500.01, True), ("$1,200.50", True), ("USD 1200", True),
    (None, False), ("", False), (-900, False),
])
def test_financial_loss_over_500(impact: Any, fires: bool) -> None:
    evaluation = evaluate_rows([basic(opened=at(1, 9), financial_impact=impact)], utc(1, 9, 30))
    assert (fired(evaluation) == ["Financial loss"]) is fires


def test_financial_loss_why_names_the_amount() -> None:
    evaluation = evaluate_rows([basic(opened=at(1, 9), financial_impact="$1,200.50")], utc(1, 9, 30))
    why = text(evaluation, "why")
    assert why.startswith("Financial loss: ")
    assert "1,200.50" in why and "500" in why


def test_beyond_authority_fires_only_at_l2() -> None:
    rows = [
        basic(opened=at(1, 9), beyond_l2="yes"),
        basic(opened=at(1, 9), beyond_l2="yes", level="L2", escalated_at=at(1, 10)),
        basic(opened=at(1, 9), beyond_l2="no", level="L2", escalated_at=at(1, 10)),
    ]
    evaluation = evaluate_rows(rows, utc(1, 10, 30))
    assert [fired(evaluation, i) for i in range(3)] == [[], ["Beyond L2 authority"], []]
    assert evaluation.result["target_level"].iat[1] == "L3"
    assert evaluation.result["escalate_by"].iat[1] == utc(1, 10)


# ---------------------------------------------------------------------------------------
# mentions: whole words or phrases, any case, in Description / Steps tried / Notes


@pytest.mark.parametrize(("field", "text"), [
    ("description", "They say they will SUE us"),
    ("description", "Sue."),
    ("steps_tried", "customer mentioned a lawsuit"),
    ("notes", "their Attorney called"),
    ("notes", "threatening legal   action"),
    ("description", "(court)"),
    ("description", "will take legal\naction"),
])
def test_legal_threat_matches_whole_words(field: str, text: str) -> None:
    evaluation = evaluate_rows([basic(opened=at(1, 9), **{field: text})], utc(1, 9, 30))
    assert fired(evaluation) == ["Legal threat"]


@pytest.mark.parametrize("text", [
    "a billing issue", "we will pursue it", "tissue order", "courtyard delivery",
    "lawyers' fees", "suede shoes", "legal", "action",
])
def test_legal_threat_ignores_words_inside_words(text: str) -> None:
    evaluation = evaluate_rows([basic(opened=at(1, 9), description=text, steps_tried=text, notes=text)],
                     utc(1, 9, 30))
    assert "Legal threat" not in fired(evaluation)


def test_mentions_ignores_other_columns() -> None:
    evaluation = evaluate_rows([basic(opened=at(1, 9), customer="Sue", issue_type="lawsuit",
                            handler="court")], utc(1, 9, 30))
    assert fired(evaluation) == []


def test_security_phrase_across_spaces_and_why_quotes_the_keyword() -> None:
    evaluation = evaluate_rows([basic(opened=at(1, 9), notes="possible DATA   Breach on account")],
                     utc(1, 9, 30))
    assert fired(evaluation) == ["Security incident"]
    assert text(evaluation, "why") == 'Security incident: "data breach" in Notes'
    assert evaluation.result["target_level"].iat[0] == "L3"


def test_both_mentions_rules_fire_and_why_lists_each() -> None:
    evaluation = evaluate_rows([basic(opened=at(1, 9), description="lawyer says we were hacked")],
                     utc(1, 9, 30))
    assert fired(evaluation) == ["Legal threat", "Security incident"]
    why = text(evaluation, "why")
    assert 'Legal threat: "lawyer" in Description' in why
    assert 'Security incident: "hacked" in Description' in why


# ---------------------------------------------------------------------------------------
# repeat_issue: "3 customers in 24 hours"


def _cluster(*specs: tuple[str, Any], key: str = "OUTAGE-7", **extra: Any) -> list[list[Any]]:
    return [basic(id=f"ESC-{n + 1:04d}", customer=customer, opened=opened, issue_key=key,
                  issue_type="Login", **extra)
            for n, (customer, opened) in enumerate(specs)]


def test_repeat_issue_three_customers_within_24h_fires_at_the_third() -> None:
    rows = _cluster(("Ann", at(1, 16)), ("Bob", at(1, 22)), ("Cy", at(2, 10)))
    evaluation = evaluate_rows(rows, utc(2, 10, 30))
    assert [fired(evaluation, i) for i in range(3)] == [["Repeat issue"]] * 3
    result = evaluation.result
    # Fired at = Opened of the 3rd report; Timeframe 1 hour.
    assert list(result["escalate_by"]) == [utc(2, 11)] * 3
    assert result["flag"].iat[0] == "ESCALATE"
    why = text(evaluation, "why")
    assert "ESC-0001, ESC-0002, ESC-0003" in why and "3 customers" in why


def test_repeat_issue_not_before_the_nth_report_is_opened() -> None:
    rows = _cluster(("Ann", at(1, 9)), ("Bob", at(1, 15)), ("Cy", at(2, 8)))
    evaluation = evaluate_rows(rows, utc(2, 7))
    assert all(fired(evaluation, i) == [] for i in range(3))


def test_repeat_issue_same_customer_thrice_does_not_fire() -> None:
    rows = _cluster(("Ann", at(1, 9)), ("ann ", at(1, 10)), ("ANN", at(1, 11)))
    evaluation = evaluate_rows(rows, utc(1, 12))
    assert all(fired(evaluation, i) == [] for i in range(3))


def test_repeat_issue_spread_over_30_hours_does_not_fire() -> None:
    rows = _cluster(("Ann", at(1, 9)), ("Bob", at(1, 23, 59)), ("Cy", at(2, 15)))
    evaluation = evaluate_rows(rows, utc(2, 16))
    assert all(fired(evaluation, i) == [] for i in range(3))


def test_repeat_issue_key_matches_any_case_and_spacing() -> None:
    rows = [basic(id="ESC-0001", customer="Ann", opened=at(1, 9), issue_key="Outage-7"),
            basic(id="ESC-0002", customer="Bob", opened=at(1, 10), issue_key=" outage-7 "),
            basic(id="ESC-0003", customer="Cy", opened=at(1, 11), issue_key="OUTAGE-7")]
    evaluation = evaluate_rows(rows, utc(1, 11, 30))
    assert all(fired(evaluation, i) == ["Repeat issue"] for i in range(3))


def test_repeat_issue_different_keys_do_not_cluster() -> None:
    rows = [basic(customer="Ann", opened=at(1, 9), issue_key="A", description="same words"),
            basic(customer="Bob", opened=at(1, 10), issue_key="B", description="same words"),
            basic(customer="Cy", opened=at(1, 11), issue_key="C", description="same words")]
    evaluation = evaluate_rows(rows, utc(1, 12))
    assert all(fired(evaluation, i) == [] for i in range(3))


def test_repeat_issue_resolved_reports_count_but_do_not_fire() -> None:
    rows = _cluster(("Ann", at(1, 9)), ("Bob", at(1, 10)), ("Cy", at(1, 11)))
    rows[0][schema.INPUT_COLUMNS.index(schema.COLUMN_BY_KEY["resolved_at"])] = at(1, 9, 30)
    evaluation = evaluate_rows(rows, utc(1, 11, 30))
    assert [fired(evaluation, i) for i in range(3)] == [[], ["Repeat issue"], ["Repeat issue"]]


def test_repeat_issue_only_fires_at_l1() -> None:
    rows = _cluster(("Ann", at(1, 9)), ("Bob", at(1, 10)), ("Cy", at(1, 11)))
    rows[1] = basic(id="ESC-0002", customer="Bob", opened=at(1, 10), issue_key="OUTAGE-7",
                    level="L2", escalated_at=at(1, 10, 30))
    evaluation = evaluate_rows(rows, utc(1, 11, 30))
    assert [fired(evaluation, i) for i in range(3)] == [["Repeat issue"], [], ["Repeat issue"]]


LOGIN_TEXTS = (
    "Cannot log in to the dashboard after the update",
    "cannot log in to the dashboard after update!",
    "Can not log in to the dashboard after the update",
)


def test_repeat_issue_fuzzy_descriptions_within_the_same_issue_type() -> None:
    rows = [basic(id=f"ESC-{n:04d}", customer=c, opened=at(1, 9 + n), issue_type="Login",
                  description=text)
            for n, (c, text) in enumerate(zip(("Ann", "Bob", "Cy"), LOGIN_TEXTS, strict=True))]
    rows.append(basic(customer="Dee", opened=at(1, 9), issue_type="Login",
                      description="Refund for a duplicate charge on my card"))
    evaluation = evaluate_rows(rows, utc(1, 12))
    assert [fired(evaluation, i) for i in range(4)] == [["Repeat issue"]] * 3 + [[]]
    assert evaluation.result["escalate_by"].iat[0] == utc(1, 12)


def test_repeat_issue_fuzzy_needs_the_same_issue_type() -> None:
    rows = [basic(customer=c, opened=at(1, 9 + n), issue_type=t, description=text)
            for n, (c, t, text) in enumerate(zip(("Ann", "Bob", "Cy"),
                                                 ("Login", "Billing", "Login"), LOGIN_TEXTS,
                                                 strict=True))]
    evaluation = evaluate_rows(rows, utc(1, 12))
    assert all(fired(evaluation, i) == [] for i in range(3))


def test_repeat_issue_keyed_rows_are_not_fuzzy_matched() -> None:
    rows = [basic(customer="Ann", opened=at(1, 9), issue_type="Login",
                  description=LOGIN_TEXTS[0], issue_key="K-1"),
            basic(customer="Bob", opened=at(1, 10), issue_type="Login",
                  description=LOGIN_TEXTS[1]),
            basic(customer="Cy", opened=at(1, 11), issue_type="Login",
                  description=LOGIN_TEXTS[2])]
    evaluation = evaluate_rows(rows, utc(1, 12))
    assert all(fired(evaluation, i) == [] for i in range(3))


# ---------------------------------------------------------------------------------------
# public_mention, vip


@pytest.mark.parametrize(("values", "fires"), [
    ({"channel": "Social"}, True),
    ({"channel": " review "}, True),
    ({"channel": "Email", "public_mention": "yes"}, True),
    ({"channel": "Email", "public_mention": "no"}, False),
    ({"channel": "Chat"}, False),
    ({"channel": "Social media"}, False),
])
def test_public_mention(values: dict[str, Any], fires: bool) -> None:
    evaluation = evaluate_rows([basic(opened=at(1, 9), **values)], utc(1, 9, 30))
    assert (fired(evaluation) == ["Public complaint"]) is fires
    if fires:
        assert evaluation.result["escalate_by"].iat[0] == utc(1, 10)
        assert text(evaluation, "why").startswith("Public complaint: ")


def test_vip_is_case_insensitive_and_exact() -> None:
    policy = policy_of(VIP=[["Customer", "Note"], ["  ACME Corp ", "key account"]])
    rows = [basic(opened=at(1, 9), customer="acme corp", description="refund"),
            basic(opened=at(1, 9), customer="Acme", description="login"),
            basic(opened=at(1, 9), customer="Acme Corp Ltd", description="export")]
    evaluation = evaluate_rows(rows, utc(1, 9, 30), policy)
    assert [fired(evaluation, i) for i in range(3)] == [["VIP customer"], [], []]


def test_vip_without_a_vip_tab_never_fires() -> None:
    assert fired(evaluate_rows([basic(opened=at(1, 9), customer="")], utc(1, 9, 30))) == []


# ---------------------------------------------------------------------------------------
# no_response: "L2 silent", auto L2 -> L3 at Response due (2 business hours)


def _l2(**values: Any) -> list[Any]:
    return basic(opened=at(1, 9), level="L2", escalated_at=at(1, 10), **values)


def test_no_response_fires_at_response_due() -> None:
    assert events(evaluate_rows([_l2()], utc(1, 11, 59)), "escalated") == []
    evaluation = evaluate_rows([_l2()], utc(1, 12))
    [event] = events(evaluation, "escalated")
    assert [event.from_level, event.to_level, event.trigger] == ["L2", "L3", "L2 silent"]
    assert "no first response by 2026-06-01 12:00" in event.detail


def test_no_response_answered_in_time_does_not_fire() -> None:
    evaluation = evaluate_rows([_l2(first_response_at=at(1, 11, 30))], utc(1, 15))
    assert events(evaluation, "escalated") == []
    assert fired(evaluation) == []


def test_no_response_earlier_response_at_l1_does_not_count() -> None:
    evaluation = evaluate_rows([_l2(first_response_at=at(1, 9, 15))], utc(1, 12))
    assert [e.trigger for e in events(evaluation, "escalated")] == ["L2 silent"]


def test_no_response_as_a_flag_reports_due_as_fired_at() -> None:
    policy = only("L2 silent", **{"L2 silent": {"Apply": "flag", "Timeframe": "1 hour"}})
    result = result_at([_l2()], utc(1, 12, 30), policy=policy)
    assert result["triggers"].iat[0] == "L2 silent"
    assert result["escalate_by"].iat[0] == utc(1, 13)
    assert result["flag"].iat[0] == "ESCALATE"
    assert result["level"].iat[0] == 2


def test_repeat_issue_sliding_window_drops_reports_that_fall_out() -> None:
    rows = _cluster(("Ann", at(1, 0)), ("Bob", at(1, 20)), ("Cy", at(2, 6)), ("Dee", at(2, 16)))
    policy = only("Repeat issue")
    evaluation = evaluate_rows(rows, utc(2, 17), policy)
    # Ann..Cy span 30 hours; Bob, Cy, Dee fall within 20 hours, so they fire at Dee's report.
    assert [fired(evaluation, i) for i in range(4)] == [[]] + [["Repeat issue"]] * 3
    assert list(evaluation.result["escalate_by"][1:]) == [utc(2, 17)] * 3
    assert "ESC-0002, ESC-0003, ESC-0004" in text(evaluation, "why", 1)


def test_repeat_issue_later_report_fires_at_its_own_opened() -> None:
    rows = _cluster(("Ann", at(1, 9)), ("Bob", at(1, 10)), ("Cy", at(1, 11)), ("Dee", at(1, 13)))
    evaluation = evaluate_rows(rows, utc(1, 14), only("Repeat issue"))
    assert list(evaluation.result["escalate_by"]) == [utc(1, 12)] * 3 + [utc(1, 14)]
    assert text(evaluation, "why", 3).startswith("Repeat issue: 4 customers within 24 hours")


def test_repeat_issue_clusters_are_counted_separately() -> None:
    rows = [*_cluster(("Ann", at(1, 9)), ("Bob", at(1, 10)), key="A"),
            *_cluster(("Cy", at(1, 11)), ("Dee", at(1, 12)), key="B")]
    evaluation = evaluate_rows(rows, utc(1, 13), only("Repeat issue"))
    assert all(fired(evaluation, i) == [] for i in range(4))


def test_repeat_issue_business_window() -> None:
    policy = only("Repeat issue", **{"Repeat issue": {
        "Parameter": "3 customers in 8 business hours"}})
    # Friday 16:00 to Monday 14:00 is 6 business hours (66 calendar hours).
    rows = _cluster(("Ann", at(5, 16)), ("Bob", at(8, 10)), ("Cy", at(8, 14)))
    evaluation = evaluate_rows(rows, utc(8, 14, 30), policy)
    assert all(fired(evaluation, i) == ["Repeat issue"] for i in range(3))
    late = _cluster(("Ann", at(5, 9)), ("Bob", at(8, 10)), ("Cy", at(8, 14)))
    evaluation = evaluate_rows(late, utc(8, 14, 30), policy)
    assert all(fired(evaluation, i) == [] for i in range(3))


def test_repeat_issue_fuzzy_clusters_do_not_change_when_a_row_moves_up_a_level() -> None:
    # Ann's open row matches Bob's resolved report; Bob's matches Cy's open row; Ann's and
    # Cy's do not match each other. Cy's row links the cluster whether it is at L1 or
    # already at L3, or a rerun after an escalation would drop Ann's repeat issue.
    texts = ("Printer jams on page two",  # Ann-Bob 100, Bob-Cy 90, Ann-Cy 80
             "Printer jams on page two, then scanner freezes",
             "Jams on page two, then scanner freezes with error")
    resolved_at = schema.INPUT_COLUMNS.index(schema.COLUMN_BY_KEY["resolved_at"])

    def rows(cy_level: str) -> list[list[Any]]:
        made = [basic(id="ESC-0001", customer="Ann", opened=at(1, 9), issue_type="Print",
                      description=texts[0]),
                basic(id="ESC-0002", customer="Bob", opened=at(1, 10), issue_type="Print",
                      description=texts[1]),
                basic(id="ESC-0003", customer="Cy", opened=at(1, 11), issue_type="Print",
                      description=texts[2], level=cy_level, escalated_at=at(1, 11, 30))]
        made[1][resolved_at] = at(1, 10, 30)
        return made

    low, high = evaluate_rows(rows("L1"), utc(1, 12)), evaluate_rows(rows("L3"), utc(1, 12))
    assert fired(low, 0) == fired(high, 0) == ["Repeat issue"]
    assert low.result["why"].iat[0] == high.result["why"].iat[0]


@pytest.mark.parametrize("chunk", [1_000_000, 7, 1])
def test_fuzzy_components_match_comparing_every_open_row_with_every_row_in_its_window(
        monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    import random

    import numpy as np
    from rapidfuzz import fuzz, utils

    from sheets_escalation.core import triggers

    rng = random.Random(7)
    words = ("printer", "jams", "page", "two", "scanner", "freezes", "login", "fails",
             "after", "update", "refund", "card", "charged", "twice")
    # A pool of wordings, each reported several times (an open text's rows form runs).
    pool = [" ".join(rng.choices(words, k=rng.randint(3, 6))) for _ in range(30)]
    descriptions = rng.choices(pool, k=300)
    # Bursts and quiet days, some rows on the same instant, window edges hit exactly.
    times = np.array([float(rng.choice([rng.uniform(0, 20 * 86400), 3 * 86400, 4 * 86400]))
                      for _ in descriptions])
    is_open = np.array([rng.random() < 0.2 for _ in descriptions])
    window = 86400.0

    # The definition, pair by pair: identical after normalisation, or close and one of the
    # two open and opened at most one window apart.
    parent = list(range(len(descriptions)))

    def root(row: int) -> int:
        while parent[row] != row:
            row = parent[row]
        return row

    normal = [utils.default_process(text) for text in descriptions]
    for a in range(len(descriptions)):
        for b in range(len(descriptions)):
            near = is_open[a] and abs(times[a] - times[b]) <= window
            if normal[a] == normal[b] or (near and fuzz.token_set_ratio(
                    normal[a], normal[b]) >= triggers.FUZZY_THRESHOLD):
                parent[root(a)] = root(b)

    def partition(labels: list[int]) -> set[frozenset[int]]:
        groups: dict[int, set[int]] = {}
        for row, label in enumerate(labels):
            groups.setdefault(label, set()).add(row)
        return {frozenset(g) for g in groups.values()}

    monkeypatch.setattr(triggers, "_PAIRS_PER_CHUNK", chunk)
    found = triggers._fuzzy_components(descriptions, times, is_open, window)
    expected = partition([root(row) for row in range(len(descriptions))])
    assert partition(found.tolist()) == expected
    assert 1 < len(expected) < len(descriptions) - 20  # clusters formed, not one blob


def test_a_report_between_two_windows_of_an_open_text_is_not_linked() -> None:
    import numpy as np

    from sheets_escalation.core import triggers

    day = 86400.0
    descriptions = ["printer jams on page two", "printer jams on page two again",
                    "printer jams on page two", "printer jams on page two today"]
    times = np.array([0.0, 1.25 * day, 2.5 * day, 3.5 * day])
    is_open = np.array([True, False, True, False])
    labels = triggers._fuzzy_components(descriptions, times, is_open, day).tolist()
    # Rows 0 and 2 share a text; row 3 is within a day of row 2; row 1 is 1.25 days
    # from both open rows, and resolved rows are not compared with each other.
    assert labels[0] == labels[2] == labels[3] != labels[1]


def test_fuzzy_components_without_an_open_row_group_only_identical_texts() -> None:
    import numpy as np

    from sheets_escalation.core import triggers

    labels = triggers._fuzzy_components(["cannot log in", "Cannot log in!", "cannot log in again"],
                                        np.array([0.0, 60.0, 120.0]),
                                        np.zeros(3, dtype=bool), 3600.0).tolist()
    assert labels[0] == labels[1] != labels[2]


def test_an_issue_type_whose_nearby_reports_are_all_resolved_does_not_stop_the_run() -> None:
    rows = [basic(id="ESC-0001", customer="Acme", opened=at(1, 10), issue_type="Billing",
                  description="invoice wrong"),
            basic(id="ESC-0002", customer="Beta", opened=at(1, 10, 5), issue_type="Login",
                  description="cannot log in", resolved_at=at(1, 11)),
            basic(id="ESC-0003", customer="Gamma", opened=at(1, 10, 6), issue_type="Login",
                  description="cannot log in again", resolved_at=at(1, 11))]
    assert list(evaluate_rows(rows, utc(1, 12)).result["flag"]) == ["OK", "RESOLVED", "RESOLVED"]
