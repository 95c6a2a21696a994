"""Synthetic escalation logs, reproducible from a seed, for benchmarks and load tests.

The rows look like what a backend reads from a busy support team's sheet after ~2 years:
mostly resolved history at all three levels, a recent tail of open rows, dates typed as
text next to real date cells, descriptions with and without trigger words, repeat-issue
clusters (by Issue key and by near-identical descriptions), and the odd unreadable date,
junk amount and blank ID. Same ``(n, seed, now)``, same rows, on every machine.

CLI: ``python -m benchmarks.generate --rows 10000 --seed 1 out.xlsx``
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook

from sheets_escalation.adapters.xlsx.template import new_workbook
from sheets_escalation.core import schema

TIMEZONE = "America/New_York"
# The default evaluation instant: the sample's, so generated and sample runs line up.
DEFAULT_NOW = dt.datetime(2026, 11, 25, 15, 0, tzinfo=ZoneInfo(TIMEZONE))
HISTORY_DAYS = 730
RECENT_DAYS = 10
RECENT_BOOST_ROWS = 400  # at most this many extra rows in the last RECENT_DAYS

SETTINGS = {"Timezone": TIMEZONE, "Holiday country": "US"}
HOLIDAYS = ((dt.date(2025, 12, 24), "Christmas Eve"), (dt.date(2026, 11, 27), "Day after Thanksgiving"))

# Shares of rows carrying each feature (of all rows unless said otherwise).
P_TEXT_DATE = 0.12
P_BAD_DATE = 0.004
P_JUNK_MONEY = 0.004
P_BLANK_ID = 0.002
P_LEGAL = 0.01
P_SECURITY = 0.01
P_MANAGER = 0.03
P_PUBLIC = 0.02
P_BEYOND_L2 = 0.05  # of rows at L2
P_MONEY = 0.3
P_CLUSTER = 0.004  # chance a draw starts a repeat cluster of 3-4 reports
P_OPEN_OLD = 0.02  # old rows someone forgot to close
P_OPEN_RECENT = 0.6

HEADER: tuple[str, ...] = tuple(c.header for c in schema.ESCALATION_COLUMNS)
_COLUMN = {c.key: i for i, c in enumerate(schema.ESCALATION_COLUMNS)}

_FIRST = ("Maple", "Harbor", "Cedar", "Summit", "Riverside", "Granite", "Willow", "Bayview",
          "Copper", "Evergreen", "Lakeside", "Northwind", "Prairie", "Redwood", "Hillside",
          "Blue Heron", "Golden", "Oak", "Silver", "Pine", "Meadow", "Stone", "Bright", "Elm")
_SECOND = ("Street", "Valley", "Creek", "Ridge", "Point", "Park", "Hill", "Bay", "Grove", "Field")
_TRADE = ("Bakery", "Dental", "Plumbing", "Florist", "Hardware", "Yoga Studio", "Books",
          "Auto Repair", "Veterinary Clinic", "Coffee Roasters", "Print Shop", "Catering",
          "Pediatrics", "Bike Shop", "Tax Services", "Pharmacy", "Landscaping", "Motel",
          "Tutoring", "Accounting", "Brewing", "Outfitters", "Cleaning Services", "Deli")
_AGENTS = {1: ("Jamie Ortiz", "Priya Natarajan", "Chris Dunn", "Ana Ruiz"),
           2: ("Morgan Lee", "Sam Okafor"), 3: ("Dana Whitaker",)}

# Descriptions are composed (what, went wrong, context), so unrelated rows rarely read
# alike: a fixed list of phrases would make every busy day one giant "repeat issue".
_ISSUES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "Billing": (
        ("Monthly subscription", "Annual renewal", "Refund", "Invoice total", "Sales tax line",
         "Late fee", "Discount code", "Card payment", "Plan upgrade", "Receipt email"),
        ("charged twice", "not received", "does not match the quote", "applied in error",
         "declined although the bank approved it", "shows the wrong amount", "missing",
         "billed to an old card"),
        ("since the last update", "for the second month", "after cancelling", "on the March invoice",
         "for two locations", "after switching plans", "for a new employee seat",
         "on the yearly statement", "after a chargeback", "for the trial period"),
    ),
    "Login": (
        ("Two-factor code", "Password reset link", "Single sign-on", "Staff account",
         "Owner login", "Mobile app login", "Invite email", "Session"),
        ("never arrives", "expires immediately", "loops back to the sign-in page", "is locked",
         "shows an unknown error", "works on desktop only", "rejects the right password"),
        ("for the front desk", "on the new tablet", "after changing phones", "for a part-time employee",
         "since the weekend", "in Safari", "for the second location", "after the email change"),
    ),
    "Shipping": (
        ("Parcel", "Card reader", "Return label", "International order", "Bulk label order",
         "Gift card shipment", "Replacement device", "Label printer"),
        ("marked delivered but missing", "stuck in customs", "sent to the old address",
         "arrived damaged", "shows the wrong postage", "delayed by a week", "never shipped"),
        ("for a holiday order", "to a PO box", "for a wholesale client", "with tracking not updating",
         "after the address change", "with a signature required", "to Canada", "for the pop-up shop"),
    ),
    "Data export": (
        ("CSV export", "Year-end report", "Scheduled export", "Customer list", "Tax summary",
         "Sales report", "Inventory export", "Payroll file"),
        ("is missing columns", "is stuck on processing", "stopped running", "has garbled accents",
         "times out", "opens empty in Excel", "uses the wrong currency"),
        ("for the accountant", "since the last release", "for all locations", "for last quarter",
         "to Google Drive", "with more than a year of data", "for the audit", "after the time-zone change"),
    ),
    "Account": (
        ("Second user", "Account owner", "Business address", "Location", "Logo", "Staff role",
         "Notification setting", "Company name"),
        ("cannot be added", "needs changing", "keeps reverting", "is missing from invoices",
         "cannot be removed", "shows the old value"),
        ("before the tax deadline", "after the merger", "for the new branch", "on customer receipts",
         "since the rebrand", "for seasonal staff"),
    ),
}
_STEPS = ("Cleared the cache and retried", "Sent the help-center article", "Reproduced the problem",
          "Checked the payment history", "Asked the customer for screenshots", "Restarted the export")
_LEGAL = ("says their lawyer will be in touch", "threatens legal action", "mentions a lawsuit",
          "will take us to court", "has contacted an attorney")
_SECURITY = ("thinks the account was hacked", "reports unauthorized access", "received a phishing email",
             "worried about a data breach", "says customer data leaked")
_NOTES = ("Customer is calm", "Follow up on Monday", "Offered a courtesy credit",
          "Same issue as last month", "Called back twice")
# Near-identical wordings of one problem, for repeat clusters without an Issue key.
_VARIANTS: dict[str, tuple[str, ...]] = {
    "Login": ("Cannot log in after password reset", "can't log in after resetting password",
              "Cannot log in after password reset email", "cannot login after a password reset"),
    "Shipping": ("Tracking number not working", "tracking number is not working",
                 "Tracking number doesn't work"),
    "Billing": ("Charged twice this month", "charged twice this month!", "Was charged twice this month"),
}
_BAD_DATES = ("31/02/2026", "yesterday", "tbd", "13/13/2025", "last Tuesday")
_JUNK_MONEY = ("about 2k", "n/a", "lots", "?", "1.2.3")
_YES_SPELLINGS = ("Yes", "yes", "Y", "x", "TRUE", "1", "✓")
_CHANNELS = ("Email", "Email", "Chat", "Chat", "Phone", "Phone", "Other")
_SENTIMENTS = ("Calm", "Calm", "Frustrated", "Angry")
_URGENCIES = ("Low", "Medium", "Medium", "High", "Critical")


@dataclass
class _Spec:
    """One row before it is numbered: its true opening time sorts the log."""

    opened: dt.datetime
    cells: list[Any]


def customers(seed: int) -> list[str]:
    """Given a seed, return the customer names the generated log draws from."""
    rng = random.Random(f"customers-{seed}")
    names = {f"{rng.choice(_FIRST)} {rng.choice(_SECOND)} {rng.choice(_TRADE)}" for _ in range(3000)}
    return sorted(names)


def vip_customers(seed: int) -> list[str]:
    """Given a seed, return the customers the generated VIP tab lists."""
    return random.Random(f"vip-{seed}").sample(customers(seed), 12)


def _cell_time(rng: random.Random, moment: dt.datetime) -> Any:
    """Return a local time as a date cell (to the minute, as people type), or now and then
    as typed text."""
    moment = moment.replace(second=0, microsecond=0)
    if rng.random() < P_TEXT_DATE:
        layout = "%m/%d/%Y %H:%M" if rng.random() < 0.5 else "%Y-%m-%d %H:%M"
        return moment.strftime(layout)
    return moment


def _money(rng: random.Random) -> Any:
    if rng.random() >= P_MONEY:
        return None
    amount = round(rng.lognormvariate(5.0, 1.2), 2)
    style = rng.random()
    if style < 0.5:
        return amount
    if style < 0.8:
        return f"${amount:,.2f}"
    return f"USD {amount:.0f}"


def _description(rng: random.Random, issue_type: str) -> tuple[str, str, str]:
    """Return (description, steps tried, notes), sometimes carrying a trigger word."""
    what, wrong, context = _ISSUES[issue_type]
    description = f"{rng.choice(what)} {rng.choice(wrong)} {rng.choice(context)}"
    steps = rng.choice(_STEPS)
    notes = rng.choice(_NOTES) if rng.random() < 0.3 else ""
    draw = rng.random()
    if draw < P_LEGAL:
        where = rng.randrange(3)
        phrase = "Customer " + rng.choice(_LEGAL)
        if where == 0:
            description = f"{description}; {phrase.lower()}"
        elif where == 1:
            steps = f"{steps}. {phrase}"
        else:
            notes = phrase
    elif draw < P_LEGAL + P_SECURITY:
        notes = "Customer " + rng.choice(_SECURITY)
    return description, steps, notes


def _row(rng: random.Random, opened: dt.datetime, now_local: dt.datetime, names: Sequence[str],
         issue_type: str | None = None, issue_key: str = "", description: str | None = None,
         customer: str | None = None) -> list[Any]:
    """Return one row's cells (header order), opened at the local time ``opened``."""
    cells: list[Any] = [None] * len(HEADER)

    def put(key: str, value: Any) -> None:
        cells[_COLUMN[key]] = value

    issue_type = issue_type or rng.choice(tuple(_ISSUES))
    text, steps, notes = _description(rng, issue_type)
    age_days = (now_local - opened).total_seconds() / 86400
    open_share = P_OPEN_RECENT if age_days < RECENT_DAYS else P_OPEN_OLD
    is_open = rng.random() < open_share
    level = rng.choices((1, 2, 3), weights=(70, 22, 8))[0]

    put("opened", _cell_time(rng, opened))
    put("customer", customer or rng.choice(names))
    put("contact", f"({rng.randint(201, 989)}) 555-01{rng.randint(0, 99):02d}"
        if rng.random() < 0.4 else f"support{rng.randint(1, 999)}@customer.example")
    channel = "Social" if rng.random() < P_PUBLIC else rng.choice(_CHANNELS)
    put("channel", channel)
    put("issue_type", issue_type)
    put("issue_key", issue_key or None)
    put("description", description or text)
    put("steps_tried", steps)
    put("sentiment", rng.choice(_SENTIMENTS))
    put("urgency", rng.choice(_URGENCIES))
    put("financial_impact", _money(rng))
    if rng.random() < P_MANAGER:
        put("manager_requested", rng.choice(_YES_SPELLINGS))
    if rng.random() < P_PUBLIC:
        put("public_mention", rng.choice(_YES_SPELLINGS))
    if level == 2 and rng.random() < P_BEYOND_L2:
        put("beyond_l2", rng.choice(_YES_SPELLINGS))
    put("level", f"L{level}" if level > 1 or rng.random() < 0.5 else None)
    put("handler", rng.choice(_AGENTS[level]))

    horizon = now_local if is_open else opened + dt.timedelta(hours=rng.uniform(0.5, 120))
    horizon = min(horizon, now_local)
    start = opened
    if level > 1:
        start = opened + (horizon - opened) * rng.uniform(0.05, 0.6)
        put("escalated_at", _cell_time(rng, start))
    if rng.random() < 0.9:
        first = start + dt.timedelta(minutes=rng.uniform(5, 600))
        if not (is_open and first > now_local):
            put("first_response_at", _cell_time(rng, min(first, horizon)))
    if not is_open:
        put("resolved_at", _cell_time(rng, horizon))
        put("status", "Resolved")
        if level > 1 and rng.random() < 0.2:
            put("could_l1_resolve", rng.choice(("Yes", "No", "No")))
    else:
        put("status", "Pending customer" if rng.random() < 0.15 else "Open")
    put("notes", notes or None)
    return cells


def generate_rows(n: int, seed: int, now: dt.datetime) -> list[list[Any]]:
    """Given a row count, a seed and a tz-aware ``now``, return the Escalations tab as a
    backend reads it: the header row, then ``n`` rows oldest first (about two years back
    from ``now``). Raise ValueError if ``now`` is naive or ``n`` is negative."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if n < 0:
        raise ValueError("n must not be negative")
    rng = random.Random(seed)
    names = customers(seed)
    now_local = now.astimezone(ZoneInfo(TIMEZONE)).replace(tzinfo=None, second=0, microsecond=0)
    earliest = now_local - dt.timedelta(days=HISTORY_DAYS)
    span_seconds = (now_local - earliest).total_seconds()

    specs: list[_Spec] = []
    clusters = 0
    recent_share = min(0.25, RECENT_BOOST_ROWS / max(n, 1))

    def add_cluster(opened: dt.datetime, by_key: bool) -> None:
        nonlocal clusters
        clusters += 1
        issue_type = rng.choice(tuple(_VARIANTS))
        variants = _VARIANTS[issue_type]
        key = f"INC-{seed}-{clusters:04d}" if by_key else ""
        for position, member in enumerate(rng.sample(names, rng.randint(3, 4))):
            when = min(opened + dt.timedelta(hours=rng.uniform(0, 20)), now_local)
            text = None if by_key else variants[position % len(variants)]
            specs.append(_Spec(when, _row(rng, when, now_local, names, issue_type, key, text, member)))

    # One open cluster of each sort in the last days, so every size exercises both.
    if n >= 8:
        add_cluster(now_local - dt.timedelta(days=2), by_key=True)
        add_cluster(now_local - dt.timedelta(days=1), by_key=False)
    while len(specs) < n:
        # Recent days get extra rows so small logs have open work too, without turning a
        # 100,000-row log into thousands of tickets a day.
        if rng.random() < recent_share:
            back = rng.uniform(0, RECENT_DAYS * 86400)
        else:
            back = rng.uniform(0, span_seconds)
        opened = (now_local - dt.timedelta(seconds=back)).replace(second=0, microsecond=0)
        if rng.random() < P_CLUSTER and n - len(specs) >= 4:
            add_cluster(opened, by_key=rng.random() < 0.5)
        else:
            specs.append(_Spec(opened, _row(rng, opened, now_local, names)))

    specs.sort(key=lambda spec: spec.opened)
    rows = [list(HEADER)]
    for number, spec in enumerate(specs, start=1):
        spec.cells[_COLUMN["id"]] = f"ESC-{number:04d}"
        rows.append(spec.cells)
    _spoil(rng, rows[1:])
    return rows


def _spoil(rng: random.Random, body: list[list[Any]]) -> None:
    """Blank some IDs and put unreadable dates and junk amounts in a few rows: at least
    one of each whenever there are rows, so every size exercises them."""
    for share, key, values in ((P_BLANK_ID, "id", (None,)), (P_BAD_DATE, "opened", _BAD_DATES),
                               (P_JUNK_MONEY, "financial_impact", _JUNK_MONEY)):
        count = min(len(body), max(1, round(len(body) * share)))
        for position in rng.sample(range(len(body)), count):
            body[position][_COLUMN[key]] = rng.choice(values)


def side_tabs(seed: int) -> dict[str, list[list[Any]]]:
    """Return every non-Escalations tab of the template, with the generated settings."""
    template = new_workbook()
    tabs = {
        ws.title: [list(row) for row in ws.iter_rows(values_only=True)]
        for ws in template.worksheets
        if ws.title != schema.ESCALATIONS
    }
    for row in tabs[schema.SETTINGS][1:]:
        if row and row[0] in SETTINGS:
            row[1] = SETTINGS[row[0]]
    tabs[schema.HOLIDAYS].extend([list(h) for h in HOLIDAYS])
    tabs[schema.VIP].extend([[name, "Key account"] for name in vip_customers(seed)])
    return tabs


def write_workbook(path: Path, n: int, seed: int, now: dt.datetime) -> None:
    """Given a path, write a full workbook there (every template tab, ``n`` generated
    Escalations rows), replacing any file at ``path``. Written in openpyxl's write-only
    mode for speed; the result is an ordinary workbook (no template styling)."""
    rows = generate_rows(n, seed, now)
    workbook = Workbook(write_only=True)
    escalations = workbook.create_sheet(schema.ESCALATIONS)
    for row in rows:
        escalations.append(row)
    for title, body in side_tabs(seed).items():
        sheet = workbook.create_sheet(title)
        for row in body:
            sheet.append(row)
    workbook.save(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Write a generated workbook; see ``--help``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000, help="Escalations rows (default 1000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--now", type=dt.datetime.fromisoformat, default=DEFAULT_NOW,
                        help=f"tz-aware ISO time the history ends at (default {DEFAULT_NOW.isoformat()})")
    parser.add_argument("path", type=Path, help="the .xlsx to write")
    args = parser.parse_args(argv)
    if args.now.tzinfo is None:
        parser.error("--now needs a UTC offset, e.g. 2026-11-25T15:00-05:00")
    write_workbook(args.path, args.rows, args.seed, args.now)
    print(f"wrote {args.rows} rows to {args.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
