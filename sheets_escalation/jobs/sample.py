"""The bundled sample workbook that ``demo`` copies and syncs.

A small online-invoicing business's support log in the week of US Thanksgiving 2026.
Every row is dated relative to :data:`SAMPLE_NOW`, the instant ``demo`` evaluates the
workbook at, so the demo shows the same flags on every machine and every day.

The calendar the rows are written against (America/New_York, work hours 09:00-17:00):

* Mon 23 Nov and Tue 24 Nov are full working days;
* Wed 25 Nov, 15:00 is :data:`SAMPLE_NOW` (6 business hours into the day);
* Thu 26 Nov is Thanksgiving (a US holiday from ``Holiday country``);
* Fri 27 Nov is a company closure listed in the ``Holidays`` tab;
* so the next opening after Wednesday 17:00 is Monday 30 Nov, 09:00.

Run ``python -m sheets_escalation.jobs.sample`` to regenerate ``data/sample.xlsx`` after
editing the rows below; ``tests/test_sample.py`` fails until the committed file agrees.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl.worksheet.worksheet import Worksheet

from sheets_escalation.adapters.xlsx.template import new_workbook, workbook_bytes
from sheets_escalation.core import schema
from sheets_escalation.core.events import TOOL, HistoryEvent

TIMEZONE = "America/New_York"
SAMPLE_NOW = dt.datetime(2026, 11, 25, 15, 0, tzinfo=ZoneInfo(TIMEZONE))

SETTINGS: Mapping[str, str] = {"Timezone": TIMEZONE, "Holiday country": "US"}

HOLIDAYS: tuple[tuple[dt.date, str], ...] = (
    (dt.date(2026, 11, 27), "Day after Thanksgiving (office closed)"),
    (dt.date(2026, 12, 24), "Christmas Eve (office closed)"),
)

VIP_CUSTOMERS: tuple[tuple[str, str], ...] = (
    ("Harbor & Pine Interiors", "Largest account; the owner expects a call back within the hour"),
    ("Westbrook Animal Hospital", "Enterprise plan, four locations"),
)

L1_AGENTS = ("Jamie Ortiz", "Priya Natarajan")
BILLING_SPECIALIST = "Morgan Lee"
TECH_SPECIALIST = "Sam Okafor"
SUPPORT_LEAD = "Dana Whitaker"


def _at(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    """Return a naive local time in the sample's timezone, as a person types it in a cell."""
    return dt.datetime(2026, month, day, hour, minute)  # noqa: DTZ001 - cells hold local wall time


# One dict per Escalations row, oldest first, keyed by schema column keys. "id" is filled
# in by position (ESC-0001 ...) unless the row says id="" (a row the tool must number).
_ROWS: tuple[dict[str, Any], ...] = (
    # ---- Resolved history: October and early November (feeds the monthly review). ----
    dict(
        opened=_at(10, 6, 10, 20), customer="Maple Street Bakery",
        contact="anna@maplestreetbakery.example", channel="Email", issue_type="Billing",
        description="Charged twice for the October subscription",
        steps_tried="Checked payment history, both charges visible",
        sentiment="Calm", urgency="Medium", level="L1", handler=L1_AGENTS[0],
        first_response_at=_at(10, 6, 10, 45), resolved_at=_at(10, 6, 13, 5),
        status="Resolved", notes="Duplicate charge refunded",
    ),
    dict(
        opened=_at(10, 14, 9, 5), customer="Brightline Dental",
        contact="frontdesk@brightlinedental.example", channel="Phone", issue_type="Login",
        description="Two-factor codes not arriving by SMS for any staff member",
        steps_tried="Confirmed phone numbers, resent codes, tried the authenticator app",
        sentiment="Frustrated", urgency="High", level="L2", handler=TECH_SPECIALIST,
        escalated_at=_at(10, 14, 13, 30), first_response_at=_at(10, 14, 14, 10),
        resolved_at=_at(10, 15, 11, 0), status="Resolved", could_l1_resolve="No",
        notes="SMS provider outage; codes delivered after failover",
    ),
    dict(
        opened=_at(10, 22, 15, 40), customer="Kowalski Plumbing",
        contact="(845) 555-0131", channel="Phone", issue_type="Data export",
        description="CSV export of invoices is missing the tax column",
        steps_tried="Re-ran the export with default settings",
        sentiment="Calm", urgency="Medium", level="L2", handler=TECH_SPECIALIST,
        escalated_at=_at(10, 23, 10, 0), first_response_at=_at(10, 23, 10, 30),
        resolved_at=_at(10, 27, 16, 0), status="Resolved", could_l1_resolve="Yes",
        notes="Tax column is opt-in under Export > Columns; help-center article exists",
    ),
    dict(
        # Raised by hand (Financial loss had fired), settled at L2 in 45 minutes: marked.
        opened=_at(11, 3, 11, 10), customer="Oakridge Hardware",
        contact="billing@oakridgehardware.example", channel="Chat", issue_type="Refund",
        description="Returned the spare card reader unopened; wants the $620 back",
        steps_tried="Confirmed the return arrived at the warehouse",
        sentiment="Calm", urgency="Low", financial_impact=620, level="L2",
        handler=BILLING_SPECIALIST, escalated_at=_at(11, 3, 11, 45),
        first_response_at=_at(11, 3, 11, 30), resolved_at=_at(11, 3, 12, 30),
        status="Resolved", could_l1_resolve="Yes",
        notes="Standard return refund; L1 can issue it from the returns screen",
    ),
    dict(
        # Raised by hand at 09:30 while no trigger had fired (the amount is under 500).
        opened=_at(11, 9, 10, 0), customer="Oakridge Hardware",
        contact="billing@oakridgehardware.example", channel="Email", issue_type="Billing",
        description="Refund for the cancelled annual plan never arrived",
        steps_tried="Confirmed cancellation date, checked the refund queue",
        sentiment="Frustrated", urgency="Medium", financial_impact=349, level="L2",
        handler=BILLING_SPECIALIST, escalated_at=_at(11, 10, 9, 30),
        first_response_at=_at(11, 10, 10, 15), resolved_at=_at(11, 11, 15, 0),
        status="Resolved", could_l1_resolve="No",
    ),
    dict(
        opened=_at(11, 12, 14, 30), customer="Sunrise Daycare Center",
        contact="director@sunrisedaycare.example", channel="Phone", issue_type="Login",
        description="Parent portal showed another family's invoices: possible data breach",
        steps_tried="Logged out all sessions, took screenshots for engineering",
        sentiment="Angry", urgency="Critical", level="L3", handler=SUPPORT_LEAD,
        escalated_at=_at(11, 12, 15, 0), first_response_at=_at(11, 12, 15, 20),
        resolved_at=_at(11, 13, 10, 0), status="Resolved", could_l1_resolve="No",
        notes="Caching bug, fixed in release 4.12.1; customer informed in writing",
    ),
    dict(
        # Escalated automatically (Unresolved too long); L2 found a how-to question: marked.
        opened=_at(11, 16, 9, 30), customer="Blue Heron Books",
        contact="orders@blueheronbooks.example", channel="Email", issue_type="Shipping",
        description="Label printing fails for international orders",
        steps_tried="Cleared the browser cache, tried a second printer",
        sentiment="Frustrated", urgency="High", level="L2", handler=TECH_SPECIALIST,
        escalated_at=_at(11, 17, 9, 30), first_response_at=_at(11, 17, 10, 0),
        resolved_at=_at(11, 17, 11, 0), status="Resolved", could_l1_resolve="Yes",
        notes="Customs form field was required; walked them through it",
    ),
    dict(
        # Raised by hand (Financial loss had fired), settled at L2 in 40 minutes: marked.
        opened=_at(11, 18, 13, 0), customer="Tran Family Chiropractic",
        contact="office@tranchiro.example", channel="Chat", issue_type="Refund",
        description="Billed for 12 seats but uses 9; wants the $540 difference refunded",
        steps_tried="Checked the seat count in the admin page", sentiment="Calm",
        urgency="Low", financial_impact="$540", level="L2", handler=BILLING_SPECIALIST,
        escalated_at=_at(11, 18, 13, 40), first_response_at=_at(11, 18, 13, 25),
        resolved_at=_at(11, 18, 14, 20), status="Resolved", could_l1_resolve="Yes",
    ),
    dict(
        opened=_at(11, 19, 10, 0), customer="Castillo Auto Repair",
        contact="(914) 555-0178", channel="Phone", issue_type="Data export",
        description="Needs the full customer list exported for their accountant",
        steps_tried="Sent the help-center article on exports",
        sentiment="Calm", urgency="Low", level="L1", handler=L1_AGENTS[0],
        first_response_at=_at(11, 20, 11, 0), resolved_at=_at(11, 20, 16, 0),
        status="Resolved", notes="Queue backlog after the release; both targets missed",
    ),
    dict(
        opened=_at(11, 20, 11, 0), customer="Pinecrest Veterinary Clinic",
        contact="manager@pinecrestvet.example", channel="Email", issue_type="Billing",
        description="Upgrade to the Pro plan charged full price instead of prorating",
        steps_tried="Recalculated the proration, confirmed the overcharge",
        sentiment="Frustrated", urgency="Medium", financial_impact="$212.40",
        manager_requested="Yes", level="L2", handler=BILLING_SPECIALIST,
        escalated_at=_at(11, 20, 15, 0), first_response_at=_at(11, 20, 15, 30),
        resolved_at=_at(11, 23, 10, 30), status="Resolved", could_l1_resolve="No",
    ),
    # ---- Still open: the rows the demo flags. ----
    dict(
        # Escalated automatically Monday 14:00 (Unresolved too long, 1 business day after
        # Friday 14:00); L2 resolution overdue: 2 business days ran out Wed 14:00.
        opened=_at(11, 20, 14, 0), customer="Lighthouse Print Shop",
        contact="(631) 555-0119", channel="Phone", issue_type="Shipping",
        description="Bulk order of 500 shipping labels never arrived",
        steps_tried="Tracking shows delivered; customer checked with their mailroom",
        sentiment="Frustrated", urgency="High", level="L2", handler=BILLING_SPECIALIST,
        escalated_at=_at(11, 23, 14, 0), first_response_at=_at(11, 23, 14, 30),
        status="Open", notes="Carrier claim opened",
    ),
    dict(
        # Unresolved too long: open at L1 since Monday morning, past 1 business day.
        opened="11/23/2026 10:15", customer="Riverside Florist",
        contact="riversideflorist@mailbox.example", channel="Email", issue_type="Email delivery",
        description="Order confirmation emails to their customers land in spam",
        steps_tried="Checked the sender settings, sent a test confirmation",
        sentiment="Frustrated", urgency="Medium", level="L1", handler=L1_AGENTS[0],
        first_response_at=_at(11, 23, 10, 40), status="Open",
    ),
    dict(
        opened=_at(11, 23, 13, 30), customer="Hillside Coffee Roasters",
        contact="ops@hillsidecoffee.example", channel="Chat", issue_type="Data export",
        description="Scheduled export to Google Drive stopped running last week",
        steps_tried="Reconnected the Drive integration, ran the export by hand (works)",
        sentiment="Calm", urgency="Medium", level="L1", handler=L1_AGENTS[1],
        first_response_at=_at(11, 23, 13, 50), status="Open",
    ),
    dict(
        # L2 resolution at risk: 13.5 of 16 business hours used. Raised by hand (VIP).
        opened=_at(11, 23, 16, 20), customer="Westbrook Animal Hospital",
        contact="accounts@westbrookvet.example", channel="Email", issue_type="Billing",
        description="Autopay ran twice for two of the four locations",
        steps_tried="Identified the two duplicate payments",
        sentiment="Frustrated", urgency="High", level="L2", handler=BILLING_SPECIALIST,
        escalated_at=_at(11, 24, 9, 30), first_response_at=_at(11, 24, 10, 0),
        status="Open",
    ),
    dict(
        # L3 resolution overdue: 24 hours since Tuesday 09:00.
        opened=_at(11, 23, 17, 30), customer="Granite State Brewing",
        contact="it@granitestatebrewing.example", channel="Phone", issue_type="Security",
        description="Unauthorized access to the admin account; two new users they did not add",
        steps_tried="Removed the unknown users, forced a password reset",
        sentiment="Angry", urgency="Critical", level="L3", handler=SUPPORT_LEAD,
        escalated_at=_at(11, 24, 9, 0), first_response_at=_at(11, 24, 9, 30),
        status="Open", notes="Audit log export sent to engineering",
    ),
    dict(
        # L2 silent: at L2 since Tuesday 10:00 with no first response (due Tue 12:00).
        # Raised with the escalate command after the customer asked for a manager.
        opened="2026-11-24 09:05", customer="Atlas Moving Co.",
        contact="payroll@atlasmoving.example", channel="Phone", issue_type="Billing",
        description="Card payment failed and the account is locked; payroll run is blocked",
        steps_tried="Retried the card, confirmed the bank approved it",
        sentiment="Angry", urgency="High", manager_requested="Yes", level="L2",
        handler=BILLING_SPECIALIST, escalated_at=_at(11, 24, 10, 0), status="Open",
    ),
    dict(
        # Legal threat in Steps tried, at L2 (Legal threat applies from Any level).
        opened=_at(11, 24, 10, 10), customer="Bayview Property Management",
        contact="ledger@bayviewpm.example", channel="Email", issue_type="Data export",
        description="Export of the tenant ledger times out",
        steps_tried="Tried smaller date ranges; customer says they will take legal action "
        "if the ledgers are not ready for Friday's audit",
        sentiment="Angry", urgency="High", level="L2", handler=TECH_SPECIALIST,
        escalated_at=_at(11, 25, 9, 30), first_response_at=_at(11, 25, 10, 0),
        status="Open",
    ),
    dict(
        # Beyond L2 authority: the refund asked for exceeds the specialist's credit limit.
        opened=_at(11, 24, 11, 20), customer="Northwind Catering",
        contact="accounts@northwindcatering.example", channel="Email", issue_type="Billing",
        description="Wants six months of fees refunded after last week's outage",
        steps_tried="Offered one month's credit; customer declined",
        sentiment="Frustrated", urgency="Medium", financial_impact="$1,980", beyond_l2="x",
        level="L2", handler=BILLING_SPECIALIST, escalated_at=_at(11, 24, 14, 0),
        first_response_at=_at(11, 24, 14, 30), status="Open",
        notes="Above the $500 L2 credit limit; needs owner approval",
    ),
    dict(
        # Financial loss (plain number). Opened 15:30, so 1 business day ends Wed 15:30.
        opened=_at(11, 24, 15, 30), customer="Bright Smiles Orthodontics",
        contact="billing@brightsmilesortho.example", channel="Email", issue_type="Data export",
        description="Invoices exported in the wrong currency; they refunded the difference to patients",
        steps_tried="Checked the currency setting, re-exported",
        sentiment="Frustrated", urgency="High", financial_impact=640, level="L1",
        handler=L1_AGENTS[1], first_response_at=_at(11, 24, 15, 50), status="Open",
    ),
    dict(
        # At risk on resolution: 7.25 of 8 business hours used.
        opened=_at(11, 24, 15, 45), customer="Cedar Creek Landscaping",
        contact="(518) 555-0164", channel="Phone", issue_type="Shipping",
        description="Change the delivery address for next week's equipment order",
        steps_tried="Address updated on the account; order already with the carrier",
        sentiment="Calm", urgency="Medium", level="L1", handler=L1_AGENTS[0],
        first_response_at=_at(11, 24, 16, 0), status="Open",
    ),
    dict(
        # Repeat issue by Issue key (report 1 of 3, within 24 hours).
        opened=_at(11, 24, 16, 10), customer="Copper Kettle Candles",
        contact="shop@copperkettlecandles.example", channel="Chat", issue_type="Shipping",
        issue_key="SHIP-RATES", description="Shipping labels show the wrong USPS rates",
        steps_tried="Refreshed the carrier rates", sentiment="Frustrated", urgency="Medium",
        level="L1", handler=L1_AGENTS[1], first_response_at=_at(11, 24, 16, 25),
        status="Open",
    ),
    dict(
        # L3, on track; the attorney mention is already at the level it needs.
        opened=_at(11, 25, 8, 30), customer="Westbrook Animal Hospital",
        contact="practice.manager@westbrookvet.example", channel="Email", issue_type="Account",
        description="Received a letter from a client's attorney about data retention",
        steps_tried="Forwarded the letter to the support lead",
        sentiment="Calm", urgency="High", level="L3", handler=SUPPORT_LEAD,
        escalated_at=_at(11, 25, 11, 0), first_response_at=_at(11, 25, 11, 20),
        status="Open",
    ),
    dict(
        # Security incident, with the evidence spread over Description, Steps tried, Notes.
        opened=_at(11, 25, 8, 40), customer="Lakeside Pediatrics",
        contact="admin@lakesidepeds.example", channel="Phone", issue_type="Login",
        description="Staff account hacked? Password changed without anyone here doing it",
        steps_tried="Locked the account and sent a reset link to the owner",
        sentiment="Angry", urgency="Critical", level="L1", handler=L1_AGENTS[0],
        first_response_at=_at(11, 25, 9, 5), status="Open",
        notes="Office manager clicked a phishing email yesterday",
    ),
    dict(
        # Financial loss typed with a dollar sign and thousands separator.
        opened=_at(11, 25, 9, 10), customer="Prairie Bike Shop",
        contact="owner@prairiebikes.example", channel="Email", issue_type="Billing",
        description="Annual renewal charged twice",
        steps_tried="Confirmed both charges in the payment log",
        sentiment="Frustrated", urgency="High", financial_impact="$1,250.00", level="L1",
        handler=L1_AGENTS[1], first_response_at=_at(11, 25, 9, 30), status="Open",
    ),
    dict(
        # Repeat issue by Issue key (report 2 of 3).
        opened=_at(11, 25, 9, 20), customer="Wildflower Soap Co.",
        contact="hello@wildflowersoap.example", channel="Email", issue_type="Shipping",
        issue_key="SHIP-RATES", description="USPS rates on labels are higher than on usps.com",
        steps_tried="Refreshed the carrier rates, compared with the USPS site",
        sentiment="Calm", urgency="Medium", level="L1", handler=L1_AGENTS[0],
        first_response_at=_at(11, 25, 9, 45), status="Open",
    ),
    dict(
        # Overdue: no first response within 4 business hours (due 13:30).
        opened=_at(11, 25, 9, 30), customer="Fernwood Accounting",
        contact="team@fernwoodcpa.example", channel="Email", issue_type="Data export",
        description="Year-end export has been stuck on 'processing' since this morning",
        steps_tried="Cancelled and restarted the export once",
        sentiment="Frustrated", urgency="High", level="L1", handler=L1_AGENTS[1],
        status="Open",
    ),
    dict(
        # Fuzzy repeat cluster (no Issue key), report 1 of 3.
        opened=_at(11, 25, 9, 50), customer="Dockside Marine Supply",
        contact="(207) 555-0102", channel="Phone", issue_type="Login",
        description="Cannot log in after password reset",
        steps_tried="Sent a second reset link", sentiment="Frustrated", urgency="Medium",
        level="L1", handler=L1_AGENTS[0], first_response_at=_at(11, 25, 10, 5),
        status="Open",
    ),
    dict(
        # At L2 but Contact and Urgency were never filled in: Missing info. Raised with
        # the escalate command once the owner asked for a manager.
        opened=_at(11, 25, 9, 55), customer="Ridgeview Motel", channel="Phone",
        issue_type="Login", manager_requested="Yes",
        description="Front desk cannot open the booking calendar",
        steps_tried="Reset the front-desk user, same error", sentiment="Frustrated",
        level="L2", handler=TECH_SPECIALIST, escalated_at=_at(11, 25, 12, 0),
        first_response_at=_at(11, 25, 12, 40), status="Open",
    ),
    dict(
        # Legal threat in Description.
        opened=_at(11, 25, 10, 5), customer="Summit Fitness Club",
        contact="gm@summitfitness.example", channel="Email", issue_type="Billing",
        description="Charged after cancelling; says their lawyer will send a letter "
        "if not refunded this week",
        steps_tried="Confirmed the cancellation date was before the charge",
        sentiment="Angry", urgency="High", financial_impact=189, level="L1",
        handler=L1_AGENTS[1], first_response_at=_at(11, 25, 10, 30), status="Open",
    ),
    dict(
        # Manager requested.
        opened=_at(11, 25, 10, 20), customer="Crescent Dry Cleaners",
        contact="(212) 555-0147", channel="Phone", issue_type="Billing",
        description="Disputes a late fee and wants to speak to a manager",
        steps_tried="Explained the late-fee policy, offered a payment plan",
        sentiment="Frustrated", urgency="Medium", manager_requested="Yes", level="L1",
        handler=L1_AGENTS[0], first_response_at=_at(11, 25, 10, 35), status="Open",
    ),
    dict(
        # Repeat issue by Issue key (report 3 of 3: the cluster fires here).
        opened=_at(11, 25, 10, 45), customer="Evergreen Outfitters",
        contact="support@evergreenoutfitters.example", channel="Chat", issue_type="Shipping",
        issue_key="SHIP-RATES", description="Wrong postage rates when buying USPS labels",
        steps_tried="Refreshed rates, tried another package size",
        sentiment="Frustrated", urgency="Medium", level="L1", handler=L1_AGENTS[1],
        first_response_at=_at(11, 25, 11, 0), status="Open",
    ),
    dict(
        # Financial loss typed with a currency code. Steps tried left blank: Missing info.
        opened=_at(11, 25, 11, 5), customer="Hudson Valley Tutoring",
        contact="director@hudsonvalleytutoring.example", channel="Email", issue_type="Shipping",
        description="Shipment of 40 printed gift cards lost in transit",
        sentiment="Frustrated", urgency="Medium", financial_impact="USD 800", level="L1",
        handler=L1_AGENTS[0], first_response_at=_at(11, 25, 11, 40), status="Open",
    ),
    dict(
        # Fuzzy repeat cluster, report 2 of 3.
        opened=_at(11, 25, 11, 30), customer="Hannah Whitfield Photography",
        contact="hannah@whitfieldphoto.example", channel="Chat", issue_type="Login",
        description="can't log in after resetting password",
        steps_tried="Cleared cookies, tried another browser", sentiment="Frustrated",
        urgency="Medium", level="L1", handler=L1_AGENTS[1],
        first_response_at=_at(11, 25, 11, 45), status="Open",
    ),
    dict(
        # At risk on response: 3.25 of 4 business hours without a first response.
        opened=_at(11, 25, 11, 45), customer="Greenway Cleaning Services",
        contact="office@greenwaycleaning.example", channel="Email", issue_type="Login",
        description="New employee cannot see the schedule page",
        steps_tried="Checked the employee's role", sentiment="Calm", urgency="Medium",
        level="L1", handler=L1_AGENTS[0], status="Open",
    ),
    dict(
        # Public complaint from the Social channel.
        opened=_at(11, 25, 12, 10), customer="Marcus Bell", contact="@marcusbell_nyc",
        channel="Social", issue_type="Billing",
        description="Posted on X that he has waited three weeks for a refund",
        steps_tried="Replied publicly and moved to DMs", sentiment="Angry", urgency="High",
        level="L1", handler=L1_AGENTS[1], first_response_at=_at(11, 25, 12, 30),
        status="Open",
    ),
    dict(
        # Healthy: "issue" must not match the keyword "sue".
        opened=_at(11, 25, 13, 15), customer="Elm Street Pharmacy",
        contact="(607) 555-0125", channel="Phone", issue_type="Billing",
        description="Question about sales tax on the invoice; customer says the issue is not urgent",
        steps_tried="Explained the tax settings", sentiment="Calm", urgency="Low",
        financial_impact="$120", level="L1", handler=L1_AGENTS[0],
        first_response_at=_at(11, 25, 13, 30), status="Pending customer",
    ),
    dict(
        # The Opened cell cannot be read as a date, and the amount is not money.
        opened="31/02/2026", customer="Quarry Hill Pottery",
        contact="studio@quarryhillpottery.example", channel="Email", issue_type="Billing",
        description="Says they were overcharged for two months",
        steps_tried="Asked for the invoice numbers", sentiment="Calm", urgency="Medium",
        financial_impact="about 2k", level="L1", handler=L1_AGENTS[1],
        first_response_at=_at(11, 25, 13, 50), status="Open",
    ),
    dict(
        # VIP customer (the VIP tab spells the name with a capital I).
        opened=_at(11, 25, 13, 40), customer="Harbor & Pine interiors",
        contact="(914) 555-0166", channel="Phone", issue_type="Billing",
        description="Asks why this month's invoice total changed",
        steps_tried="Walked through the line items", sentiment="Calm", urgency="Medium",
        level="L1", handler=L1_AGENTS[0], first_response_at=_at(11, 25, 13, 55),
        status="Open",
    ),
    dict(
        # Healthy: "courtesy" must not match the keyword "court".
        opened=_at(11, 25, 14, 10), customer="Maple Street Bakery",
        contact="anna@maplestreetbakery.example", channel="Chat", issue_type="Account",
        description="How to add a second user to the account",
        steps_tried="Sent the guide on user roles", sentiment="Calm", urgency="Low",
        level="L1", handler=L1_AGENTS[1], first_response_at=_at(11, 25, 14, 25),
        status="Open", notes="Offered a courtesy walkthrough on Monday",
    ),
    dict(
        # Fuzzy repeat cluster, report 3 of 3: its 1-hour timeframe is still running.
        opened=_at(11, 25, 14, 15), customer="Redwood Tax Services",
        contact="info@redwoodtax.example", channel="Email", issue_type="Login",
        description="Cannot log in after password reset email",
        steps_tried="Confirmed the reset email was used", sentiment="Frustrated",
        urgency="High", level="L1", handler=L1_AGENTS[1],
        first_response_at=_at(11, 25, 14, 30), status="Open",
    ),
    dict(
        # Public complaint from a review site, also ticked by the agent; 1 hour to escalate.
        opened=_at(11, 25, 14, 20), customer="Olive & Thyme Deli",
        contact="(718) 555-0190", channel="Review", issue_type="Shipping",
        description="1-star Google review: catering order supplies arrived a day late",
        steps_tried="Called the owner, apologised", sentiment="Angry", urgency="Medium",
        public_mention="Yes", level="L1", handler=L1_AGENTS[0],
        first_response_at=_at(11, 25, 14, 30), status="Open",
    ),
    dict(
        # Healthy, not answered yet (response due Monday 10:35 after the long weekend).
        opened=_at(11, 25, 14, 35), customer="Willow Creek Farm Stand",
        contact="willowcreekfarm@mailbox.example", channel="Email", issue_type="Data export",
        description="Wants the weekly sales report as an Excel file for bookkeeping",
        steps_tried="Pointed to Reports > Export", sentiment="Calm", urgency="Low",
        level="L1", handler=L1_AGENTS[0], status="Open",
    ),
    dict(
        # Typed in without an ID: the tool assigns the next free one.
        id="", opened=_at(11, 25, 14, 50), customer="Tidewater Kayak Rentals",
        contact="(757) 555-0133", channel="Phone", issue_type="Login",
        description="Locked out after too many sign-in attempts",
        steps_tried="Verified identity, unlock pending", sentiment="Calm", urgency="Medium",
        level="L1", handler=L1_AGENTS[1], status="Open",
    ),
)


def escalation_rows() -> list[dict[str, Any]]:
    """Return the sample's Escalations rows, keyed by schema column keys, IDs filled in."""
    rows: list[dict[str, Any]] = []
    number = 0
    for source in _ROWS:
        row = dict(source)
        if "id" not in row:
            number += 1
            row["id"] = f"ESC-{number:04d}"
        rows.append(row)
    return rows


# How the rows above L1 got there, by ID, as History shows it. ``auto``: the tool escalated
# on its hourly run (trigger, why); ``command``: someone ran ``escalate`` (who, the note);
# ``sheet``: someone typed the higher Level and the next run noticed. Rows not listed were
# raised by hand before the tool first ran, so only the log tells.
_HOW_RAISED: Mapping[str, tuple[str, str, str]] = {
    "ESC-0007": ("auto", "Unresolved too long", "open 1 business day (since 2026-11-16 09:30)"),
    "ESC-0011": ("auto", "Unresolved too long", "open 1 business day (since 2026-11-20 14:00)"),
    "ESC-0015": ("command", SUPPORT_LEAD, "Account takeover; engineering paged"),
    "ESC-0016": ("command", L1_AGENTS[0], "Payroll blocked, customer asked for a manager"),
    "ESC-0017": ("sheet", "", ""),
    "ESC-0018": ("sheet", "", ""),
    "ESC-0022": ("sheet", "", ""),
    "ESC-0028": ("command", L1_AGENTS[0], "Owner asked for a manager; guests waiting"),
}


def _history_events(rows: Sequence[Mapping[str, Any]]) -> list[HistoryEvent]:
    """Return the History of the rows already above L1 (see :data:`_HOW_RAISED`), each
    ``at`` a local time as the sample's cells hold it."""
    events: list[HistoryEvent] = []
    for row in rows:
        how = _HOW_RAISED.get(row["id"])
        if how is None or row.get("level") not in ("L2", "L3"):
            continue
        kind, name, detail = how
        at, level = row["escalated_at"], row["level"]
        if kind == "auto":
            events.append(HistoryEvent(at, row["id"], "escalated", "L1", level, name, TOOL, detail))
        elif kind == "command":
            events.append(HistoryEvent(at, row["id"], "escalated", "L1", level, "manual", name,
                                       detail))
        else:
            # The hourly run after the edit records it.
            noticed = at.replace(minute=0) + dt.timedelta(hours=1)
            events.append(HistoryEvent(noticed, row["id"], "level changed", "L1", level, "",
                                       "sheet", "Level edited in the sheet"))
    events.sort(key=lambda event: event.at)
    return events


def _columns_by_key(sheet: Worksheet) -> dict[str, int]:
    """Given a tab with a header row, return column key -> 1-based column number."""
    columns: dict[str, int] = {}
    for cell in sheet[1]:
        key = schema.KEY_BY_NORMALIZED.get(schema.normalize_header(cell.value))
        if key is not None and key not in columns:
            columns[key] = cell.column
    return columns


def _set_settings(sheet: Worksheet, values: Mapping[str, str]) -> None:
    """Overwrite the Value of each Key in ``values``, appending keys the tab lacks."""
    rows_by_key = {
        str(row[0].value).strip().casefold(): row[0].row
        for row in sheet.iter_rows(min_row=2)
        if row[0].value is not None
    }
    for key, value in values.items():
        row_number = rows_by_key.get(key.casefold())
        if row_number is None:
            sheet.append([key, value])
        else:
            sheet.cell(row=row_number, column=2, value=value)


def build_sample(path: Path) -> None:
    """Given a path, write the sample workbook there (overwriting any file at that path)."""
    workbook = new_workbook()
    rows = escalation_rows()

    escalations = workbook[schema.ESCALATIONS]
    columns = _columns_by_key(escalations)
    for offset, row in enumerate(rows):
        for key, value in row.items():
            if value not in (None, ""):
                escalations.cell(row=2 + offset, column=columns[key], value=value)

    _set_settings(workbook[schema.SETTINGS], SETTINGS)
    for holiday in HOLIDAYS:
        workbook[schema.HOLIDAYS].append(list(holiday))
    for vip in VIP_CUSTOMERS:
        workbook[schema.VIP].append(list(vip))
    for event in _history_events(rows):
        workbook[schema.HISTORY].append(event.values())

    path.parent.mkdir(parents=True, exist_ok=True)
    # Fixed document dates: regenerating an unchanged sample changes nothing in git.
    path.write_bytes(workbook_bytes(workbook))


def sample_path() -> Path:
    """Return the path of the bundled sample workbook (``data/sample.xlsx``)."""
    return Path(str(importlib.resources.files("sheets_escalation") / "data" / "sample.xlsx"))


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the bundled sample (or write it to the path given as the only argument)."""
    args = list(sys.argv[1:] if argv is None else argv)
    target = Path(args[0]) if args else sample_path()
    build_sample(target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
