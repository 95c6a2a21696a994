"""The what-if job: read the workbook and the proposed policy, replay the month under both
(core/whatif.py), write the `What-if YYYY-MM` tab and export it if asked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sheets_escalation.adapters.export.formats import SUFFIXES, export
from sheets_escalation.core.errors import ConfigError, UsageError
from sheets_escalation.core.months import default_month, parse_month
from sheets_escalation.core.policy import load_policy
from sheets_escalation.core.review import Review
from sheets_escalation.core.table import Backend, WritePlan
from sheets_escalation.core.whatif import (
    POLICY_TABS,
    apply_set,
    build_what_if,
    policy_changes,
    policy_tables,
    relocate,
)
from sheets_escalation.jobs.review import write_review_tab
from sheets_escalation.jobs.sync import load


@dataclass
class SimulateResult:
    review: Review
    plan: WritePlan
    month: str


def run_simulate(backend: Backend, now: pd.Timestamp, month: str | None, *,
                 sets: Sequence[str] = (), other: Backend | None = None,
                 export_path: Path | None = None, write_tab: bool = True,
                 dry_run: bool = False) -> SimulateResult:
    """Replay ``month`` (None: the last full month) under the policy of ``other`` (its
    Levels, Triggers, Settings, Holidays and VIP tabs; tabs it lacks are today's) with
    ``sets`` applied on top, against today's policy; write only the `What-if YYYY-MM`
    tab (unless not ``write_tab``) and export it if asked. Raise UsageError (no proposal,
    a bad --set, month or export suffix) or ConfigError (the proposal's policy is
    broken); nothing is written then. With ``dry_run`` nothing is written or exported."""
    if not sets and other is None:
        raise UsageError("give the proposed policy: --policy OTHER.xlsx and/or --set "
                         '"L1.Response time=2 business hours"')
    if export_path is not None and export_path.suffix.lower() not in SUFFIXES:
        raise UsageError(f"cannot export to {export_path.name}: use "
                         + ", ".join(SUFFIXES))
    with backend.lock():
        workbook = load(backend, now)
        try:
            chosen = parse_month(month) if month else default_month(workbook.now,
                                                                    workbook.policy.timezone)
        except ValueError as error:
            raise UsageError(str(error)) from error
        today_tables = policy_tables(workbook.tabs)
        proposed_tabs = dict(workbook.tabs)
        where = ""
        labels = []
        if other is not None:
            read = other.read(POLICY_TABS)
            proposed_tabs.update({t: read[t] for t in POLICY_TABS if t in read})
            where = f"[{other.name}]"
            labels.append(f"the policy in {other.name}")
        proposed_tables = policy_tables(proposed_tabs)
        for text in sets:
            apply_set(proposed_tables, text)
        if sets:
            labels.append("; ".join(sets))
        proposed_tabs.update(proposed_tables)
        try:
            proposed = load_policy(proposed_tabs,
                                   spreadsheet_timezone=backend.spreadsheet_timezone())
        except ConfigError as error:
            raise relocate(error, where, sets) from error
        review = build_what_if(workbook.log, workbook.history, workbook.policy, proposed,
                               chosen, workbook.now, " with ".join(labels),
                               policy_changes(today_tables, proposed_tables))
        plan = write_review_tab(backend, review) if write_tab and not dry_run else WritePlan()
    if export_path is not None and not dry_run:
        export(review, export_path)
    return SimulateResult(review, plan, chosen)
