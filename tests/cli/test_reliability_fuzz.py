"""Fuzz tests (hypothesis) for what owners type into the policy: durations of every size
and unit, notification addresses of every shape, and templates built from the pieces of
known attacks. The hand-picked cases behind them are in tests/cli/test_reliability.py."""

from __future__ import annotations

import copy
import datetime as dt
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from urllib3.util import parse_url

from sheets_escalation.adapters.notify.messages import TemplateError, render
from sheets_escalation.adapters.notify.targets import Url, is_allowed, mask, parse_target
from sheets_escalation.adapters.notify.targets import parse_url as our_parse
from sheets_escalation.core import schema
from sheets_escalation.core.clock import (
    MAX_DURATION_DAYS,
    BusinessCalendar,
    Duration,
    parse_duration,
)
from sheets_escalation.core.errors import ConfigError
from sheets_escalation.core.policy import load_policy
from sheets_escalation.core.table import Table
from tests.support.both_backends import INPUT_HEADER, good_row, make_book, template_tabs

UNITS = ["m", "min", "mins", "minute", "minutes", "h", "hr", "hrs", "hour", "hours", "d", "day",
         "days", "bh", "business hour", "business hours", "businesshrs", "bd", "business day",
         "business  days", "BUSINESS DAYS", "fortnight", ""]
NUMBERS = st.one_of(
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=0, max_value=1e-6).map(lambda x: f"{x:.12f}"),
    st.sampled_from(["nan", "inf", "-inf", "1e9", "1e400", ".5", "5.", "-0", "+3", "0",
                     "9" * 400, "3653", "3654", "87672", "87673"]),
)
DURATION_TEXT = st.builds(lambda n, space, u: f"{n}{space}{u}", NUMBERS,
                          st.sampled_from(["", " ", "  "]), st.sampled_from(UNITS))
STARTS = st.datetimes(min_value=pd.Timestamp("1899-12-31").to_pydatetime(),
                      max_value=pd.Timestamp("2261-12-31").to_pydatetime())


@settings(max_examples=400, deadline=None)
@given(DURATION_TEXT)
def test_any_duration_text_is_read_within_the_bound_or_refused(text: str) -> None:
    try:
        duration = parse_duration(text)
    except ValueError as error:
        assert str(error)
        return
    assert math.isfinite(duration.amount) and duration.amount >= 0
    assert duration.least_days <= MAX_DURATION_DAYS


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True),
       st.sampled_from(["minute", "hour", "day", "business_hour", "business_day"]))
def test_a_duration_is_finite_non_negative_and_at_most_ten_years(amount: float, unit: str) -> None:
    try:
        duration = Duration(amount, unit)  # type: ignore[arg-type]
    except ValueError:
        assert not (math.isfinite(amount) and 0 <= amount) or amount > 3653
        return
    assert 0 <= duration.least_days <= MAX_DURATION_DAYS


CALENDARS = [
    lambda: BusinessCalendar(),
    lambda: BusinessCalendar("Europe/London", frozenset({0}), dt.time(9), dt.time(10)),
    lambda: BusinessCalendar("Pacific/Kiritimati", frozenset(range(7))),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STARTS, min_size=1, max_size=5),
       st.floats(min_value=0, max_value=MAX_DURATION_DAYS), st.booleans(),
       st.sampled_from(range(len(CALENDARS))))
def test_clock_arithmetic_never_wraps(starts: list[Any], days: float, business: bool,
                                      which: int) -> None:
    calendar = CALENDARS[which]()  # fresh: a calendar caches the span it has built
    unit = "business_day" if business else "day"
    start = pd.Series(pd.to_datetime(starts)).dt.tz_localize("UTC")
    seconds = calendar.seconds(Duration(days, unit))  # type: ignore[arg-type]

    due = calendar.add(start, seconds, business)

    # A due time is after its start, or missing where it would pass pandas' last instant.
    known = due.notna()
    assert (due[known] >= start[known]).all()
    duration = Duration(days, unit)  # type: ignore[arg-type]
    reach_days = calendar.span_days(duration) * 1.01 + 14
    room_days = (pd.Timestamp("2262-04-01", tz="UTC") - start[~known]).dt.days
    assert (room_days < reach_days).all()
    elapsed = calendar.elapsed(start[known], due[known], business)
    assert (elapsed >= 0).all()
    if not business:
        assert elapsed == pytest.approx(seconds, abs=1e-3)


def _levels_with(text: str) -> Table:
    rows = copy.deepcopy(template_tabs()[schema.LEVELS])
    rows[1][rows[0].index("Resolution target")] = text
    return Table(schema.LEVELS, rows)


@settings(max_examples=150, deadline=None)
@given(DURATION_TEXT)
def test_a_policy_with_any_duration_loads_or_names_its_cell(text: str) -> None:
    try:
        policy = load_policy({schema.LEVELS: _levels_with(text)})
    except ConfigError as error:
        assert [(p.tab, p.cell) for p in error.problems] == [(schema.LEVELS, "F2")]
        return
    assert policy.calendar.span_days(policy.levels[1].resolution) <= MAX_DURATION_DAYS


# --------------------------------------------------------------------------- addresses

HOSTS = st.one_of(
    st.sampled_from(["hooks.example.com", "HOOKS.Example.COM", "a.hooks.example.com",
                     "evil.test", "example.com.evil.test", "127.0.0.1", "[::1]", "[::1",
                     "::1]", "[fe80::1%25eth0]", "bücher.example.com", "xn--bcher-kva.example.com",
                     "hooks.example.com.", "", "exa mple.com", "h\x1b]0;x\x07", "*.example.com",
                     "hooks..example.com", "-x.example.com", "hooks.example.com\\@evil.test"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
)
PORTS = st.one_of(st.just(""), st.sampled_from([":", ":443", ":0", ":65535", ":65536", ":99999",
                                                ":abc", ":-1", ": 80", ":８０", ":4 43"]),
                  st.integers(min_value=0, max_value=10**6).map(lambda p: f":{p}"))
USERS = st.sampled_from(["", "user@", "user:pw@", "hooks.example.com@", "@", "a@b@"])
PATHS = st.one_of(
    st.sampled_from(["", "/", "/hook/SeCrEt", "/a/../b", "/%2e%2e/x", "/.0.0.1:443/x",
                     "/#.example.com/x", "?.example.com/x", "/x#frag", "/x?y=1", "/ü/ß",
                     "/x\\y", "/x y", "//double"]),
    st.text(max_size=20).map(lambda t: "/" + t),
)
SCHEMES = st.sampled_from(["https://", "http://", "HTTPS://", "ftp://", "https:/", "https:", "//",
                           "javascript:", ""])
PREFIXES = st.sampled_from(["webhook:", "slack:", "", "WEBHOOK: "])
WILD = st.builds(lambda *parts: "".join(parts), PREFIXES, SCHEMES, USERS, HOSTS, PORTS, PATHS)
# Near misses of allowed addresses, so the allowlist's yes is exercised as much as its no.
NEAR = st.builds(
    lambda *parts: "".join(parts), st.sampled_from(["webhook:", "slack:", ""]),
    st.sampled_from(["https://", "HTTPS://", "http://"]), st.sampled_from(["", "", "", "u@"]),
    st.sampled_from(["hooks.example.com", "A.Hooks.Example.com", "hooks.slack.com",
                     "bücher.example.com", "example.com", "hooks.example.com.evil.test",
                     "evil.test"]),
    st.sampled_from(["", "", ":443", ":8443", ":80", ":99999", ":x"]),
    st.sampled_from(["/hook/SeCrEt", "/services/T/B/SeCrEt", "/hook/../x", "/x#.example.com",
                     "/.example.com:443/x", "", "/hook/%2e%2e/x"]),
)
ADDRESSES = st.one_of(WILD, NEAR)
PATTERNS = ("webhook:https://*.example.com/*", "webhook:https://hooks.example.com:8443/hook/*",
            "slack:https://hooks.slack.com/services/*", "*@example.com")


@settings(max_examples=1500, deadline=None)
@given(ADDRESSES)
def test_any_address_is_classified_masked_and_matched_without_raising(text: str) -> None:
    target = parse_target(text)
    shown = mask(target)
    allowed = is_allowed(target, PATTERNS)

    assert (target.channel == "invalid") == bool(target.problem)
    assert "SeCrEt" not in shown and shown.isprintable()
    if not allowed:
        return
    # What the allowlist admitted is where requests (urllib3's parser) would post.
    assert target.channel in ("webhook", "slack")
    theirs = parse_url(target.address)
    ours = our_parse(target.address)
    assert isinstance(ours, Url)
    assert theirs.scheme == "https" and theirs.auth is None
    assert (theirs.host or "").lower() == ours.host or (theirs.host or "").lower().encode(
        "idna").decode() == ours.host
    assert ours.host.endswith(".example.com") or ours.host == "hooks.slack.com"
    assert (theirs.port or 443) == ours.port
    assert ours.port in (443, 8443)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("addresses")


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(ADDRESSES.filter(lambda t: t.isprintable() and "," not in t and ";" not in t),
                min_size=1, max_size=4))
def test_any_notify_cell_leaves_check_and_sync_running(
        fuzz_dir: Path, monkeypatch: pytest.MonkeyPatch, addresses: list[str]) -> None:
    levels = copy.deepcopy(template_tabs()[schema.LEVELS])
    levels[2][levels[0].index("Notify")] = ", ".join(addresses)
    directory = fuzz_dir / str(time.monotonic_ns())
    directory.mkdir()
    rows = [INPUT_HEADER, good_row(ID="ESC-0001", Opened="2026-11-23 09:00",
                                   **{"First response at": None})]
    book = make_book("xlsx", directory, rows, monkeypatch, Levels=levels)

    checked = book.cli("check")
    synced = book.sync("--quiet")

    assert checked.code == 0 and "internal error" not in checked.err, checked
    assert (synced.code, synced.err) == (0, ""), synced
    assert book.by_id()["ESC-0001"]["Level"] == "L2"


# --------------------------------------------------------------------------- templates

PIECES = st.sampled_from([
    "{{ id }}", "{{ issue|center(N) }}", "{{ '{:>N}'.format(id) }}", "{{ '%Ns'|format(id) }}",
    "{{ (id ~ '\\n')|indent(N) }}", "{{ issue * 50 }}", "{{ 9 ** 99 ** 2 }}",
    "{{ (7 ** 99) ** 99 }}", "{{ issue|wordwrap(N) }}", "{{ [issue] * N }}",
])
LOOPS = st.sampled_from([("{% for a in range(N) %}", "{% endfor %}"),
                         ("{% for a in issue %}", "{% endfor %}"),
                         ("{% macro m() %}", "{{ m() }}{% endmacro %}{{ m() }}"), ("", "")])


@st.composite
def hostile_templates(draw: st.DrawFn) -> str:
    text = draw(PIECES)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        opening, closing = draw(LOOPS)
        text = opening + text + closing
    return text.replace("N", str(draw(st.sampled_from([10, 1000, 10**5, 10**9]))))


@settings(max_examples=25, deadline=None)
@given(hostile_templates())
def test_any_template_renders_or_is_refused_within_a_second(source: str) -> None:
    values = {"id": "ESC-0001", "issue": "x" * 500}
    render("s", "{{ id }}", values, "warm-up")

    started = time.monotonic()
    try:
        _, body = render("s", source, values, "fuzz")
    except TemplateError as error:
        assert str(error).startswith("Templates: template 'fuzz'")
    else:
        assert len(body) <= 100_000
    assert time.monotonic() - started < 1.0
