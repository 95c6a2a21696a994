"""Reliability against what an owner may type into the policy tabs: durations too long for
any clock, hostile templates, malformed notification addresses and allowlist tricks. Each
case comes from an adversarial pass over the tool and ran wrong before it was fixed; the
fuzz tests for the same families live in tests/test_reliability_fuzz.py."""

from __future__ import annotations

import copy
import datetime as dt
import resource
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sheets_escalation.adapters.config import Config
from sheets_escalation.adapters.notify import messages
from sheets_escalation.adapters.notify.messages import TemplateError, render
from sheets_escalation.adapters.notify.outbox import Outbox
from sheets_escalation.adapters.notify.targets import is_allowed, mask, parse_target
from sheets_escalation.core import schema
from sheets_escalation.core.clock import BusinessCalendar, Duration, parse_duration
from sheets_escalation.core.notifications import Notification
from tests.both_backends import INPUT_HEADER, good_row, make_book, template_tabs
from tests.fixtures import (
    ACME,
    L2_HOOK,
    cell,
    make_setup,
    notify_lines,
    run,
    set_templates,
)
from tests.servers import Recorder, Smtp, free_port

NOW_UTC = dt.datetime(2026, 11, 24, 15, tzinfo=dt.UTC)
OPENED_AN_HOUR_AGO = {"Opened": "2026-11-24 14:00", "First response at": None}


def _tab(name: str, row: int, header: str, value: Any) -> list[list[Any]]:
    rows = copy.deepcopy(template_tabs()[name])
    rows[row - 1][rows[0].index(header)] = value
    return rows


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(("tab", "row", "header", "text", "cell"), [
    # auto-escalated a row opened an hour earlier ("limit 1000000000 days")
    (schema.TRIGGERS, 2, "Parameter", "1000000000 days", "C2"),
    # wrote Resolution due 1716-02-20 and Overdue
    (schema.LEVELS, 2, "Resolution target", "100000 days", "F2"),
    # "internal error: ValueError"
    (schema.LEVELS, 3, "Resolution target", "1000000 business days", "F3"),
    (schema.TRIGGERS, 2, "Parameter", "1000000 business days", "C2"),
    (schema.LEVELS, 2, "Response time", "99999999999 minutes", "E2"),
    (schema.TRIGGERS, 7, "Parameter", "3 customers in 1000000 hours", "C7"),
    (schema.TRIGGERS, 7, "Timeframe", "1000000000 hours", "F7"),
])
def test_a_duration_longer_than_ten_years_is_a_located_policy_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tab: str, row: int, header: str,
        text: str, cell: str) -> None:
    rows = [INPUT_HEADER, good_row(ID="ESC-0001", **OPENED_AN_HOUR_AGO)]
    book = make_book("xlsx", tmp_path, rows, monkeypatch, **{tab: _tab(tab, row, header, text)})
    before = book.path.read_bytes()

    for command in ("sync", "check"):
        run = book.sync() if command == "sync" else book.cli("check")
        assert run.code == 2, (command, run)
        problems = [line for line in run.err.splitlines() if line.startswith("  ")]
        assert len(problems) == 1 and problems[0].startswith(f"  {tab}!{cell}: "), problems
        assert "longer than 10 years" in problems[0]
    assert book.path.read_bytes() == before


def test_business_time_that_takes_over_ten_years_on_this_calendar_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 3,000 business days fit ten years of every-day work, not of one work day a week.
    levels = _tab(schema.LEVELS, 2, "Resolution target", "3000 business days")
    settings = copy.deepcopy(template_tabs()[schema.SETTINGS])
    for values in settings:
        if values[0] == "Work days":
            values[1] = "Mon"
    rows = [INPUT_HEADER, good_row(ID="ESC-0001")]
    book = make_book("xlsx", tmp_path, rows, monkeypatch, Levels=levels, Settings=settings)

    run = book.sync()

    assert run.code == 2
    assert "  Levels!F2: Resolution target: 3000 business days take about 57 years" in run.err


def test_ten_years_is_still_a_duration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    triggers = _tab(schema.TRIGGERS, 2, "Parameter", "3650 days")
    levels = _tab(schema.LEVELS, 2, "Resolution target", "2000 business days")
    rows = [INPUT_HEADER, good_row(ID="ESC-0001", **OPENED_AN_HOUR_AGO)]
    book = make_book("xlsx", tmp_path, rows, monkeypatch, Triggers=triggers, Levels=levels)

    run = book.sync("--quiet")

    assert (run.code, run.err) == (0, "")
    record = book.by_id()["ESC-0001"]
    assert record["Triggers"] is None and record["Resolution SLA"] == "On track"
    assert record["Resolution due"].year == 2034


@pytest.mark.parametrize("business", [False, True])
def test_a_due_time_past_the_end_of_the_clock_is_missing_not_wrapped(business: bool) -> None:
    calendar = BusinessCalendar()
    start = pd.Series(pd.to_datetime(["2261-12-31 09:00", "2026-11-24 09:00"], utc=True))
    ten_years = calendar.seconds(Duration(3653, "business_day" if business else "day"))

    due = calendar.add(start, ten_years, business)

    assert due.isna().tolist() == [True, False]
    assert due.iat[1] > start.iat[1]


def test_rows_opened_a_century_apart_still_get_business_due_times() -> None:
    # "1926" typed for "2026": the clock's table spans a century before any search.
    start = pd.Series(pd.to_datetime(["1926-01-05 09:00", "2026-01-05 09:00"], utc=True))
    calendar = BusinessCalendar()

    due = calendar.add(start, calendar.seconds(Duration(10, "business_day")), True)

    assert [str(d.date()) for d in due] == ["1926-01-18", "2026-01-16"]


@pytest.mark.parametrize("text", ["3654 days", "87673 hours", "5260321 minutes",
                                  "3654 business days", "87673 business hours", "1e400 days"])
def test_parse_duration_refuses_more_than_ten_years(text: str) -> None:
    with pytest.raises(ValueError, match="longer than 10 years|cannot read"):
        parse_duration(text)


# --------------------------------------------------------------------------- addresses

MALFORMED = [
    ("webhook:https://h:abc/SeCrEt-x", 'the port "abc" is not a number from 1 to 65535'),
    ("https://hooks.slack.com:99999/services/T/B/SeCrEt-x", 'the port "99999" is not a number from 1 to 65535'),
    ("webhook:https://[::1/SeCrEt-x", "the host is not a valid address"),
    ("slack:https://[fe80::1%25eth0]:0/SeCrEt-x", 'the port "0" is not a number from 1 to 65535'),
    ("webhook:https://exa mple.com/SeCrEt-x", "the URL contains spaces or control characters"),
    ("webhook:https://evil.test\\@hooks.example.com/SeCrEt-x", "the URL contains a backslash"),
]


@pytest.mark.parametrize(("text", "problem"), MALFORMED)
def test_a_malformed_address_is_an_invalid_target_that_still_masks(text: str, problem: str) -> None:
    target = parse_target(text)

    assert (target.channel, target.problem) == ("invalid", problem)
    shown = mask(target)
    assert "/SeCrEt-x" not in shown.removesuffix("/…") and len(shown) <= 60


def test_a_malformed_address_is_refused_and_the_others_still_go_out(
        tmp_path: Path, http: Recorder, smtp: Smtp) -> None:
    bad = ", ".join(text for text, _ in MALFORMED)
    setup = make_setup(tmp_path, http, smtp, [ACME], {2: f"{bad}, webhook:{http.base}{L2_HOOK}"})

    code, out, err = setup.sync()

    assert (code, err) == (0, "")
    assert setup.posts() == [(L2_HOOK, "ESC-0001/L2/escalated")]
    problems = cell(setup.path, "ESC-0001", "Problems")
    for text, problem in MALFORMED:
        assert f"refused: {problem}" in problems, text
    assert len([line for line in notify_lines(out) if ": refused: " in line]) == len(MALFORMED)
    assert "/SeCrEt-x" not in out.replace("/…", "")

    code, out, err = run("check", str(setup.path))

    assert (code, err) == (0, "")
    listed = [line for line in out.splitlines() if line.startswith("Levels!G3: ")]
    assert [line.rsplit(": ", 1)[1] for line in listed] == [p for _, p in MALFORMED]
    assert "/SeCrEt-x" not in out.replace("/…", "")


# --------------------------------------------------------------------------- the allowlist

A, B = 8001, 8002
BYPASSES = [
    # the host wildcard ran across the port and into the path
    f"webhook:http://127.0.0.1:{B}/.0.0.1:{A}/x",
    f"webhook:http://127.0.0.1:{B}/#.0.0.1:{A}/x",
    f"webhook:http://127.0.0.1:{B}?.0.0.1:{A}/x",
    f"webhook:http://evil.test/.0.0.1:{A}/x",
    # user info: everything before @ is a user name, the host is evil.test
    f"webhook:http://127.0.0.1:{A}@evil.test/x",
    f"webhook:http://127.0.0.1:{A}/x#frag",
    f"webhook:https://127.0.0.1:{A}/x",
    "webhook:http://127.0.0.1/x",
    f"webhook:http://127.0.0.1:{A}/hooks/../admin",
    f"webhook:http://127.0.0.1:{A}/hooks/%2e%2e/admin",
]


@pytest.mark.parametrize("text", BYPASSES)
def test_host_wildcards_cannot_be_stretched_over_port_path_or_user(text: str) -> None:
    allow = (f"webhook:http://*.0.0.1:{A}/*", f"webhook:http://127.0.0.1:{A}/hooks/*")

    assert not is_allowed(parse_target(text), allow)


@pytest.mark.parametrize(("text", "pattern"), [
    (f"webhook:http://127.0.0.1:{A}/x", f"webhook:http://*.0.0.1:{A}/*"),
    (f"webhook:HTTP://127.0.0.1:{A}/hooks/a?token=1", f"webhook:http://127.0.0.1:{A}/hooks/*"),
    ("webhook:https://Hooks.EXAMPLE.com/a", "webhook:https://*.example.com/*"),
    ("webhook:https://hooks.example.com:443/a", "webhook:https://hooks.example.com/*"),
    ("webhook:https://hooks.example.com/a", "webhook:https://hooks.example.com:443/*"),
    ("webhook:https://hooks.xn--bcher-kva.example/a", "webhook:https://*.BÜCHER.example/*"),
    ("webhook:https://hooks.bücher.example/a", "webhook:https://*.xn--bcher-kva.example/*"),
    (f"webhook:http://127.0.0.1:{B}/any/path", "webhook:http://127.0.0.1:*"),
    ("webhook:https://[::1]:8443/x", "webhook:https://[::1]:8443/*"),
    ("https://hooks.slack.com/services/T0/B0/x", "slack:https://hooks.slack.com/services/T0/*"),
])
def test_the_allowlist_matches_scheme_host_port_and_path_separately(
        text: str, pattern: str) -> None:
    assert is_allowed(parse_target(text), (pattern,))


def test_a_refused_bypass_never_reaches_the_server(tmp_path: Path, http: Recorder) -> None:
    other = free_port()
    config = Config(path=tmp_path / "c.toml", state_dir=tmp_path / "state", loaded=True,
                    allow=(f"webhook:http://*.0.0.1:{http.port}/*",))
    tricks = [f"webhook:http://127.0.0.1:{other}/.0.0.1:{http.port}/x",
              f"webhook:http://127.0.0.1:{http.port}@127.0.0.2:{other}/x"]
    notification = Notification("ESC-0001", "L2", "escalated",
                                (*tricks, f"webhook:{http.base}/ok"), "s", "b")

    report = Outbox(config, tmp_path / "journal.jsonl").deliver([notification], set(), NOW_UTC)

    assert [d.status for d in report.refused] == ["refused", "refused"]
    assert [p["path"] for p in http.posts] == ["/ok"]


# --------------------------------------------------------------------------- templates

ATTACKS = {
    "center": "{{ id|center(10**9) }}",
    "format width": "{{ '{:>1000000000}'.format(id) }}",
    "percent width": "{{ '%1000000000s'|format(id) }}",
    "indent": "{{ (id ~ '\\n')|indent(10**9) }}",
    "nested loops": "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in "
                    "range(100000) %}{% endfor %}{% endfor %}{% endfor %}",
    "loops over the row": "{% for a in issue %}{% for b in issue %}{% for c in issue %}"
                          "{{ c }}{% endfor %}{% endfor %}{% endfor %}",
    "power tower": "{{ ((((7**99)**99)**99)**99)**99 }}",
    "squaring": "{% macro sq(x, n) %}{% if n %}{{ sq(x * x, n - 1) }}{% else %}{{ x > 0 }}"
                "{% endif %}{% endmacro %}{{ sq(7**99, 40) }}",
    "recursive macro": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "wide macro tree": "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% else %}x"
                       "{% endif %}{% endmacro %}{{ f(40) }}",
    "long output": "{% for a in range(99999) %}{{ issue }}{% endfor %}",
}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("source", ATTACKS.values(), ids=ATTACKS.keys())
def test_a_hostile_template_is_stopped_within_a_second_and_a_small_memory_budget(
        source: str) -> None:
    values = {"id": "ESC-0001", "issue": "x" * 2000}
    render("s", "{{ id }}", values, "warm-up")  # the renderer starts once per process
    peak_before = _peak_rss_mb()

    started = time.monotonic()
    with pytest.raises(TemplateError, match=r"^Templates: template 'evil'"):
        render("s", source, values, "evil")
    elapsed = time.monotonic() - started

    assert elapsed < 1.0
    assert _peak_rss_mb() - peak_before < 50
    # The renderer still serves the next template, and a template it had to stop is not
    # waited for again (a run may owe many messages).
    assert render("Re {{ id }}", "ok", values, "next") == ("Re ESC-0001", "ok")
    started = time.monotonic()
    with pytest.raises(TemplateError, match=r"^Templates: template 'evil'"):
        render("s", source, values, "evil")
    assert time.monotonic() - started < 0.2


def test_a_renderer_that_ran_out_of_memory_is_replaced_before_the_next_template() -> None:
    """Memory a refused template took may stay in the worker's heap, and the next
    template (an ordinary one) then fails for want of it: a fresh worker serves it."""
    values = {"id": "ESC-0001", "issue": "x" * 2000}
    render("s", "{{ id }}", values, "warm-up")
    with pytest.raises(TemplateError, match="needs more memory"):
        render("s", ATTACKS["format width"], values, "evil")
    assert messages._RENDERER.process is None

    assert render("Re {{ id }}", "ok", values, "next") == ("Re ESC-0001", "ok")


def test_a_hostile_template_is_a_problem_in_its_row_and_the_sync_completes(
        tmp_path: Path, http: Recorder, smtp: Smtp) -> None:
    setup = make_setup(tmp_path, http, smtp, [ACME], {2: f"webhook:{http.base}{L2_HOOK}"})
    set_templates(setup.path, [["internal", "[{{ level }}] {{ id }}", ATTACKS["nested loops"]]])

    started = time.monotonic()
    code, out, err = setup.sync()

    assert (code, err) == (0, "")
    assert time.monotonic() - started < 20
    # The level still hears of the escalation, in the built-in words.
    assert setup.posts() == [(L2_HOOK, "ESC-0001/L2/escalated")]
    assert http.posts[0]["json"]["body"].startswith("ESCALATION TO L2 (Specialist)\n")
    problems = cell(setup.path, "ESC-0001", "Problems")
    assert problems.startswith("Templates: template 'internal': took longer than 0.5 s")
    assert "sent the built-in internal message instead" in problems
    assert cell(setup.path, "ESC-0001", "Level") == "L2"
    # The lock was released: the next run proceeds, and the announcement is not repeated.
    assert setup.sync()[0] == 0
    assert len(http.posts) == 1


# --------------------------------------------------------------------------- open workbooks

def test_a_workbook_open_in_excel_announces_nothing_it_cannot_write(
        tmp_path: Path, http: Recorder, smtp: Smtp) -> None:
    # The write is refused while Excel holds the workbook; sending first would tell L2 of
    # an escalation the sheet never shows.
    setup = make_setup(tmp_path, http, smtp, [ACME], {2: f"webhook:{http.base}{L2_HOOK}"})
    (tmp_path / "~$log.xlsx").write_bytes(b"\x03Sam")
    before = setup.path.read_bytes()

    code, out, err = setup.sync()

    assert code == 1 and "open in Excel" in err, err
    assert setup.posts() == [] and setup.path.read_bytes() == before
    (tmp_path / "~$log.xlsx").unlink()
    assert setup.sync()[0] == 0
    assert setup.posts() == [(L2_HOOK, "ESC-0001/L2/escalated")]
