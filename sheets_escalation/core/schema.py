"""The workbook contract (SPEC §3): tab names, headers, column kinds and seed defaults.

Every other module names columns through the ``key`` of a :class:`Column`, never by the
header text, because people may rename case and spacing and reorder columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ESCALATIONS = "Escalations"
LEVELS = "Levels"
TRIGGERS = "Triggers"
SETTINGS = "Settings"
HOLIDAYS = "Holidays"
VIP = "VIP"
HISTORY = "History"
TEMPLATES = "Templates"

Kind = Literal["text", "datetime", "money", "yesno", "level", "number"]


def normalize_header(header: object) -> str:
    """Given a header cell, return the form headers are matched by (no case, no spaces)."""
    if header is None:
        return ""
    return re.sub(r"\s+", "", str(header)).casefold()


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    kind: Kind = "text"


INPUT_COLUMNS: tuple[Column, ...] = (
    Column("ID", "id"),
    Column("Opened", "opened", "datetime"),
    Column("Customer", "customer"),
    Column("Contact", "contact"),
    Column("Channel", "channel"),
    Column("Issue type", "issue_type"),
    Column("Issue key", "issue_key"),
    Column("Description", "description"),
    Column("Steps tried", "steps_tried"),
    Column("Sentiment", "sentiment"),
    Column("Urgency", "urgency"),
    Column("Financial impact", "financial_impact", "money"),
    Column("Manager requested", "manager_requested", "yesno"),
    Column("Public mention", "public_mention", "yesno"),
    Column("Beyond L2", "beyond_l2", "yesno"),
    Column("Level", "level", "level"),
    Column("Handler", "handler"),
    Column("Escalated at", "escalated_at", "datetime"),
    Column("First response at", "first_response_at", "datetime"),
    Column("Resolved at", "resolved_at", "datetime"),
    Column("Status", "status"),
    Column("Could L1 resolve?", "could_l1_resolve", "yesno"),
    Column("Notes", "notes"),
)

OWNED_COLUMNS: tuple[Column, ...] = (
    Column("Flag", "flag"),
    Column("Triggers", "triggers"),
    Column("Why", "why"),
    Column("Target level", "target_level"),
    Column("Escalate by", "escalate_by", "datetime"),
    Column("Response due", "response_due", "datetime"),
    Column("Resolution due", "resolution_due", "datetime"),
    Column("Response SLA", "response_sla"),
    Column("Resolution SLA", "resolution_sla"),
    Column("Response hours", "response_hours", "number"),
    Column("Resolution hours", "resolution_hours", "number"),
    Column("Paused hours", "paused_hours", "number"),
    Column("Missing info", "missing_info"),
    Column("Problems", "problems"),
)

ESCALATION_COLUMNS: tuple[Column, ...] = INPUT_COLUMNS + OWNED_COLUMNS
COLUMN_BY_KEY: dict[str, Column] = {c.key: c for c in ESCALATION_COLUMNS}
KEY_BY_NORMALIZED: dict[str, str] = {normalize_header(c.header): c.key for c in ESCALATION_COLUMNS}

# Headers a workbook must have for the tool to evaluate anything at all.
REQUIRED_INPUT_KEYS: tuple[str, ...] = ("id", "opened", "customer", "level", "resolved_at")

# Input columns the tool writes (SPEC: ID assignment, automatic escalation).
TOOL_SET_INPUT_KEYS: tuple[str, ...] = ("id", "level", "escalated_at")

LEVEL_NAMES: tuple[str, ...] = ("L1", "L2", "L3")
FLAGS: tuple[str, ...] = (
    "ESCALATION OVERDUE",
    "ESCALATE",
    "OVERDUE",
    "CHECK INPUT",
    "AT RISK",
    "OK",
    "RESOLVED",
)
SLA_STATES: tuple[str, ...] = ("On track", "At risk", "Overdue", "Met", "Missed", "Paused")

CHANNELS: tuple[str, ...] = ("Email", "Chat", "Phone", "Social", "Review", "Other")
SENTIMENTS: tuple[str, ...] = ("Calm", "Frustrated", "Angry")
URGENCIES: tuple[str, ...] = ("Critical", "High", "Medium", "Low")
STATUSES: tuple[str, ...] = ("Open", "Pending customer", "Resolved")
PENDING_CUSTOMER = "Pending customer"  # the Status that stops the resolution clock
YES_NO: tuple[str, ...] = ("Yes", "No")

LEVELS_HEADERS: tuple[str, ...] = (
    "Level", "Name", "Handled by", "Scope", "Response time", "Resolution target", "Notify",
)
TRIGGERS_HEADERS: tuple[str, ...] = (
    "Trigger", "Kind", "Parameter", "From", "To", "Timeframe", "Apply", "Enabled",
)
SETTINGS_HEADERS: tuple[str, ...] = ("Key", "Value")
HOLIDAYS_HEADERS: tuple[str, ...] = ("Date", "Name")
VIP_HEADERS: tuple[str, ...] = ("Customer", "Note")
# History columns: the frame read from the tab (and every HistoryEvent) names them by key.
HISTORY_COLUMNS: tuple[Column, ...] = (
    Column("At", "at", "datetime"),
    Column("ID", "id"),
    Column("Event", "event"),
    Column("From", "from_level"),
    Column("To", "to_level"),
    Column("Trigger", "trigger"),
    Column("By", "by"),
    Column("Detail", "detail"),
)
HISTORY_HEADERS: tuple[str, ...] = tuple(c.header for c in HISTORY_COLUMNS)
HISTORY_KEYS: tuple[str, ...] = tuple(c.key for c in HISTORY_COLUMNS)
TEMPLATES_HEADERS: tuple[str, ...] = ("Name", "Subject", "Body")

HISTORY_EVENTS: tuple[str, ...] = (
    "escalated", "level changed", "notified", "breached", "id assigned", "status changed",
)

DEFAULT_LEVELS: tuple[tuple[str, ...], ...] = (
    ("L1", "Front Line", "Support agents", "Standard questions, known fixes, first contact",
     "4 business hours", "1 business day", ""),
    ("L2", "Specialist", "Senior support / product specialists",
     "Technical or account issues beyond L1 knowledge or authority",
     "2 business hours", "2 business days", ""),
    ("L3", "Executive", "Support lead / owner",
     "Legal, security, major financial loss, VIP or public reputation risk",
     "1 hour", "24 hours", ""),
)

DEFAULT_TRIGGERS: tuple[tuple[str, ...], ...] = (
    ("Unresolved too long", "unresolved_for", "1 business day", "L1", "L2", "Automatic", "auto", "Yes"),
    ("Manager requested", "manager_requested", "", "L1", "L2", "Immediate", "flag", "Yes"),
    ("Financial loss", "financial_loss_over", "500", "L1", "L2", "Immediate", "flag", "Yes"),
    ("Legal threat", "mentions",
     "lawyer, attorney, legal action, lawsuit, sue, court, solicitor",
     "Any", "L3", "Immediate", "flag", "Yes"),
    ("Security incident", "mentions",
     "data breach, breach, hacked, leaked, unauthorized access, compromised, phishing",
     "Any", "L3", "Immediate", "flag", "Yes"),
    ("Repeat issue", "repeat_issue", "3 customers in 24 hours", "L1", "L2", "1 hour", "flag", "Yes"),
    ("Public complaint", "public_mention", "", "L1", "L2", "1 hour", "flag", "Yes"),
    ("Beyond L2 authority", "beyond_authority", "", "L2", "L3", "Immediate", "flag", "Yes"),
    ("VIP customer", "vip", "", "L1", "L2", "Immediate", "flag", "Yes"),
    ("L2 silent", "no_response", "", "L2", "L3", "Automatic", "auto", "Yes"),
)

TRIGGER_KINDS: tuple[str, ...] = (
    "unresolved_for", "manager_requested", "financial_loss_over", "mentions", "repeat_issue",
    "public_mention", "beyond_authority", "vip", "no_response",
)

DEFAULT_REQUIRED_INFO: tuple[str, ...] = (
    "Customer", "Contact", "Description", "Steps tried", "Sentiment", "Urgency",
)

DEFAULT_SETTINGS: tuple[tuple[str, str], ...] = (
    ("Timezone", "UTC"),
    ("Work days", "Mon-Fri"),
    ("Work hours", "09:00-17:00"),
    ("Holiday country", ""),
    ("At risk at", "75%"),
    ("Date order", "MDY"),
    ("Required info", ", ".join(DEFAULT_REQUIRED_INFO)),
    ("Last run", ""),
    ("Remind at", "50%, 75%, 90%"),
    ("Stale after", "2 hours"),
)

DEFAULT_TEMPLATES: tuple[tuple[str, str, str], ...] = (
    (
        "customer",
        "Your request {{ id }} has been escalated",
        "Hello {{ customer }},\n\n"
        "Thank you for your patience. We have escalated your request about "
        "\"{{ issue }}\" to our {{ level_name }} team ({{ level }}), who will look at it as "
        "a priority.\n\n"
        "What happens next: {{ required_action }}\n"
        "You can expect to hear from us by {{ deadline }}.\n\n"
        "Your reference is {{ id }}. If anything changes in the meantime, just reply to "
        "this message.\n\nKind regards,\nThe support team",
    ),
    (
        "internal",
        "[{{ level }}] {{ urgency }} escalation {{ id }}: {{ customer }} ({{ issue_type }})",
        "ESCALATION TO {{ level }} ({{ level_name }})\n"
        "Urgency: {{ urgency }}\n"
        "Customer: {{ customer }} ({{ contact }})\n"
        "Issue: {{ issue }}\n"
        "Steps taken: {{ steps_taken }}\n"
        "Customer sentiment: {{ sentiment }}\n"
        "Triggers: {{ triggers }}\n"
        "Why: {{ why }}\n"
        "Required action: {{ required_action }}\n"
        "Deadline: {{ deadline }}\n"
        "Previous handler: {{ handler }}",
    ),
)


def column_letter(col: int) -> str:
    """Given a 0-based column index, return its A1 letters (0 -> A, 26 -> AA)."""
    letters = ""
    col += 1
    while col:
        col, remainder = divmod(col - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def a1(row: int, col: int) -> str:
    """Given a 0-based row and column, return the A1 reference (0, 0 -> A1)."""
    return f"{column_letter(col)}{row + 1}"
