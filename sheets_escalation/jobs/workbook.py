"""The workbook as one run sees it: every tab read from a source, the policy, the log and
its evaluation as of ``now``. Every job starts from :func:`load`; nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from sheets_escalation.core import schema
from sheets_escalation.core.engine import Evaluation, evaluate
from sheets_escalation.core.events import read_events
from sheets_escalation.core.log import LogRead, date_order_note, read_log
from sheets_escalation.core.policy import Policy, load_policy
from sheets_escalation.core.table import Backend, Table

ALL_TABS: tuple[str, ...] = (
    schema.ESCALATIONS, schema.LEVELS, schema.TRIGGERS, schema.SETTINGS, schema.HOLIDAYS,
    schema.VIP, schema.HISTORY, schema.TEMPLATES,
)


@dataclass(frozen=True)
class Workbook:
    """Everything read from a source and evaluated, before anything is written. A job
    that changes what it holds (an escalation, a run's deliveries) makes a new one."""

    tabs: dict[str, Table]
    policy: Policy
    log_read: LogRead
    history: pd.DataFrame
    evaluation: Evaluation
    now: pd.Timestamp
    # The backend's most characters per cell: texts are compared as they will be written.
    cell_limit: int

    def release_raw(self) -> Workbook:
        """Return this workbook without the raw Escalations cells (kept for planning only):
        once nothing holds this one, they can go."""
        table = self.tabs[schema.ESCALATIONS]
        return replace(self, tabs={**self.tabs,
                                   schema.ESCALATIONS: Table(table.title, table.rows[:1])},
                       log_read=replace(self.log_read, raw=self.log_read.raw.iloc[:0]))

    @property
    def notes(self) -> list[str]:
        """Advice that does not stop the run: defaults in use, triggers that cannot fire."""
        return [*self.policy.notes, *self.warnings]

    @property
    def warnings(self) -> list[str]:
        """The notes that change results (a blank Timezone, dates contradicting the Date
        order, triggers that cannot fire): said even by a quiet run."""
        date_note = date_order_note(self.log_read, self.policy.date_order)
        return [*self.policy.warnings, *([date_note] if date_note else []),
                *blind_triggers(self.policy, self.log_read.columns)]

    @property
    def log(self) -> pd.DataFrame:
        return self.log_read.log

    @property
    def result(self) -> pd.DataFrame:
        return self.evaluation.result


# The Escalations columns each trigger kind reads (any one of them is enough).
TRIGGER_INPUTS: dict[str, tuple[str, ...]] = {
    "manager_requested": ("manager_requested",),
    "financial_loss_over": ("financial_impact",),
    "mentions": ("description", "steps_tried", "notes"),
    "repeat_issue": ("issue_key", "description"),
    "public_mention": ("public_mention", "channel"),
    "beyond_authority": ("beyond_l2",),
    "no_response": ("first_response_at",),
}


def blind_triggers(policy: Policy, columns: dict[str, int]) -> list[str]:
    """Given the policy and the Escalations columns found, return a note for each enabled
    trigger that cannot fire because the columns it reads are missing (a renamed header)."""
    notes = []
    for rule in policy.active_triggers:
        needed = TRIGGER_INPUTS.get(rule.kind, ())
        if needed and not any(key in columns for key in needed):
            headers = " or ".join(f'"{schema.COLUMN_BY_KEY[k].header}"' for k in needed)
            notes.append(f'trigger "{rule.name}" cannot fire: {schema.ESCALATIONS} has no '
                         f"{headers} column")
    return notes


def load(backend: Backend, now: pd.Timestamp, *, tabs: dict[str, Table] | None = None,
         policy: Policy | None = None) -> Workbook:
    """Given a backend and ``now`` (and the tabs and policy when already read), read and
    evaluate the workbook. Raise ConfigError (exit 2) for a broken policy or missing
    headers; nothing has been written then."""
    if tabs is None:
        tabs = backend.read(ALL_TABS)
    if policy is None:
        policy = load_policy(tabs, spreadsheet_timezone=backend.spreadsheet_timezone())
    now = pd.Timestamp(now)
    if now.tzinfo is None:
        now = now.tz_localize(policy.timezone)
    log_read = read_log(tabs.get(schema.ESCALATIONS), policy)
    history = read_events(tabs.get(schema.HISTORY), policy.timezone)
    evaluation = evaluate(log_read.log, policy, now, history)
    return Workbook(tabs, policy, log_read, history, evaluation, now, backend.max_cell_characters)
