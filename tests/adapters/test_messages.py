"""Message templates: defaults, the Templates tab, placeholders and the sandbox."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from sheets_escalation.adapters.notify.messages import (
    TemplateError,
    get_template,
    message_context,
    render,
    templates_from_rows,
)
from sheets_escalation.core.errors import ConfigError
from sheets_escalation.core.schema import DEFAULT_TEMPLATES

ROW = {
    "id": "ESC-0012",
    "customer": "Acme Ltd",
    "contact": "jo@acme.test",
    "channel": "Email",
    "issue_type": "Billing",
    "issue_key": "",
    "description": "Charged twice for March",
    "steps_tried": "Checked invoice; refund not possible at L1",
    "sentiment": "Angry",
    "urgency": "High",
    "financial_impact": 1200.0,
    "opened": pd.Timestamp("2026-03-02 14:30", tz="UTC"),
    "resolved_at": pd.NaT,
    "handler": "Sam",
    "status": "Open",
    "notes": float("nan"),
}


def context(**row_changes: object) -> dict[str, str]:
    return message_context(
        {**ROW, **row_changes},
        "Specialist",
        "L2",
        "2026-03-03 11:00",
        "Review the double charge and call the customer",
        "Financial loss",
        "Financial impact 1200 > 500",
    )


def test_context_fills_every_documented_placeholder() -> None:
    assert context() == {
        "id": "ESC-0012",
        "customer": "Acme Ltd",
        "contact": "jo@acme.test",
        "channel": "Email",
        "urgency": "High",
        "issue": "Charged twice for March",
        "description": "Charged twice for March",
        "issue_type": "Billing",
        "issue_key": "",
        "steps_taken": "Checked invoice; refund not possible at L1",
        "steps_tried": "Checked invoice; refund not possible at L1",
        "sentiment": "Angry",
        "financial_impact": "1200",
        "opened": "2026-03-02 14:30",
        "status": "Open",
        "notes": "",
        "handler": "Sam",
        "level": "L2",
        "level_name": "Specialist",
        "deadline": "2026-03-03 11:00",
        "required_action": "Review the double charge and call the customer",
        "triggers": "Financial loss",
        "why": "Financial impact 1200 > 500",
    }


def test_context_shows_datetimes_in_the_given_timezone_and_blanks_as_empty() -> None:
    values = message_context(
        {"opened": dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC), "customer": None},
        "Executive",
        "L3",
        "",
        "",
        "",
        "",
        timezone="Europe/Paris",
    )

    assert values["opened"] == "2026-07-01 14:00"
    assert values["customer"] == ""
    assert values["id"] == ""


def test_default_internal_template_renders_the_procedure_message() -> None:
    subject, body = render(
        *get_template(templates_from_rows([]), "internal"), context(), "internal"
    )

    assert subject == "[L2] High escalation ESC-0012: Acme Ltd (Billing)"
    assert body == (
        "ESCALATION TO L2 (Specialist)\n"
        "Urgency: High\n"
        "Customer: Acme Ltd (jo@acme.test)\n"
        "Issue: Charged twice for March\n"
        "Steps taken: Checked invoice; refund not possible at L1\n"
        "Customer sentiment: Angry\n"
        "Triggers: Financial loss\n"
        "Why: Financial impact 1200 > 500\n"
        "Required action: Review the double charge and call the customer\n"
        "Deadline: 2026-03-03 11:00\n"
        "Previous handler: Sam"
    )


def test_default_customer_template_renders() -> None:
    subject, body = render(*get_template(templates_from_rows([]), "Customer"), context())

    assert subject == "Your request ESC-0012 has been escalated"
    assert body.startswith("Hello Acme Ltd,\n\n")
    assert 'about "Charged twice for March" to our Specialist team (L2)' in body
    assert "You can expect to hear from us by 2026-03-03 11:00." in body


def test_unknown_placeholder_is_an_error_naming_it_and_the_template() -> None:
    with pytest.raises(TemplateError) as caught:
        render(
            "Hi",
            "Dear {{ customer }}, your {{ ticket_no }} is due {{ deadline }}",
            context(),
            "apology",
        )

    message = str(caught.value)
    assert "template 'apology' body uses unknown placeholder {{ ticket_no }}" in message
    assert isinstance(caught.value, ConfigError) and caught.value.exit_code == 2


def test_syntax_error_names_the_template_and_line() -> None:
    with pytest.raises(TemplateError, match=r"template 'x' body: syntax error on line 2"):
        render("s", "ok\n{% if %}", context(), "x")


def test_customer_text_that_looks_like_a_template_stays_literal() -> None:
    values = context(customer="{{ 7*7 }}", description="{% for x in range(3) %}boom{% endfor %}")

    subject, body = render("{{ customer }}", "{{ issue }}", values)

    assert subject == "{{ 7*7 }}"
    assert body == "{% for x in range(3) %}boom{% endfor %}"


@pytest.mark.parametrize(
    "source",
    [
        "{{ customer.__class__.__mro__[1].__subclasses__() }}",
        "{{ customer.upper.__self__.__class__ }}",
        "{{ range.__globals__ }}",
        "{{ ''.__class__ }}",
        "{{ 'x' * 10000000 }}",
        "{{ 9 ** 999999 }}",
        "{{ lipsum(n=100000) }}",
    ],
)
def test_sandbox_blocks_escapes_and_resource_bombs(source: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render("s", source, context(), "evil")

    assert "template 'evil' body" in str(caught.value)


def test_plain_formatting_still_works_in_the_sandbox() -> None:
    _, body = render(
        "s", "{{ customer | upper }} {% if urgency == 'High' %}!{% endif %}", context()
    )

    assert body == "ACME LTD !"


def test_subject_is_one_line_and_text_is_not_html_escaped() -> None:
    subject, body = render("{{ issue }}", "{{ issue }}", context(description="A & B\n<b>x</b>"))

    assert subject == "A & B <b>x</b>"
    assert body == "A & B\n<b>x</b>"


def test_templates_tab_overrides_defaults_and_adds_new_ones() -> None:
    rows: list[list[object]] = [
        ["Name", "Subject", "Body", "Owner"],
        ["Internal", "", "Short: {{ id }}", "lead"],
        ["apology", "Sorry, {{ customer }}", "We are on it.", ""],
        [None, None, None],
        ["", "stray", "row"],
    ]

    templates = templates_from_rows(rows)

    assert templates["internal"] == (DEFAULT_TEMPLATES[1][1], "Short: {{ id }}")
    assert templates["customer"] == DEFAULT_TEMPLATES[0][1:]
    assert templates["apology"] == ("Sorry, {{ customer }}", "We are on it.")
    assert set(templates) == {"customer", "internal", "apology"}


def test_templates_headers_are_matched_by_name_in_any_order_and_case() -> None:
    templates = templates_from_rows([["body", " SUBJECT ", "name"], ["B", "S", "x"]])

    assert templates["x"] == ("S", "B")


def test_templates_tab_without_body_header_is_a_located_error() -> None:
    with pytest.raises(ConfigError) as caught:
        templates_from_rows([["Name", "Subject"]])

    assert str(caught.value) == "Templates!A1: missing header 'Body'"


def test_duplicate_template_name_is_a_located_error() -> None:
    rows = [["Notes", "Name", "Subject", "Body"], ["", "x", "a", "b"], ["", "X", "c", "d"]]

    with pytest.raises(ConfigError) as caught:
        templates_from_rows(rows)

    assert str(caught.value) == "Templates!B3: template 'x' is already defined in row 2"


def test_unknown_template_name_lists_the_available_ones() -> None:
    with pytest.raises(
        TemplateError, match=r"no template named 'nope' \(available: customer, internal\)"
    ):
        get_template(templates_from_rows([]), "nope")
