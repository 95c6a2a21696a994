"""The check job: read the workbook once and list every problem a sync would refuse or
report, each located in its tab and cell. Writes nothing."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from sheets_escalation.adapters.notify.targets import mask, parse_targets
from sheets_escalation.core import cells, schema
from sheets_escalation.core.errors import ConfigError
from sheets_escalation.core.log import read_header
from sheets_escalation.core.policy import Policy, load_policy
from sheets_escalation.core.problems import Problem
from sheets_escalation.core.table import Backend, Table, header_index
from sheets_escalation.jobs.handoff import templates_of
from sheets_escalation.jobs.workbook import ALL_TABS, Workbook, load


@dataclass
class CheckReport:
    """Everything `check` finds, each problem with its tab and cell: ``fatal`` stops a sync
    (exit 2); ``cells`` are rows' own problems and Notify targets no sync will use."""

    fatal: list[Problem]
    cells: list[Problem]
    notes: list[str]
    workbook: Workbook | None

    def as_json(self) -> dict[str, Any]:
        def listed(problems: list[Problem]) -> list[dict[str, str]]:
            return [{"tab": p.tab, "cell": p.cell, "message": p.message} for p in problems]

        summary: dict[str, Any] = {}
        if self.workbook is not None:
            policy = self.workbook.policy
            summary = {"levels": len(policy.levels),
                       "active_triggers": len(policy.active_triggers),
                       "timezone": policy.timezone, "date_order": policy.date_order,
                       "rows": len(self.workbook.log)}
        return {"ok": not self.fatal, "fatal": listed(self.fatal), "cells": listed(self.cells),
                "notes": self.notes, **summary}


def check_workbook(backend: Backend, now: pd.Timestamp) -> CheckReport:
    """Given a backend and ``now``, read the workbook once and return every problem a sync
    would refuse (policy tabs, Escalations headers, Templates) together with every
    unreadable cell and unusable Notify target, each located. Writes nothing."""
    tabs = backend.read(ALL_TABS)
    fatal: list[Problem] = []
    policy: Policy | None = None
    try:
        policy = load_policy(tabs, spreadsheet_timezone=backend.spreadsheet_timezone())
    except ConfigError as error:
        fatal += error.problems
    columns, header_problems = read_header(tabs.get(schema.ESCALATIONS))
    fatal += header_problems
    try:
        templates_of(tabs)
    except ConfigError as error:
        fatal += error.problems
    found = notify_problems(tabs.get(schema.LEVELS))
    if fatal or policy is None:
        return CheckReport(fatal, found, [*policy.notes, *policy.warnings] if policy else [],
                           None)
    workbook = load(backend, now, tabs=tabs, policy=policy)
    return CheckReport([], [*cell_problems(workbook), *found], workbook.notes, workbook)


def notify_problems(levels: Table | None) -> list[Problem]:
    """Given the Levels tab, return each Notify target no notification can go to (not an
    email address, Slack webhook or webhook:URL), located in its cell."""
    if levels is None or not levels.rows:
        return []
    position = header_index(levels.header).get(schema.normalize_header("Notify"))
    if position is None:
        return []
    found = []
    for offset, row in enumerate(levels.body, start=1):
        text = str(cells.parse_text(pd.Series([row[position] if position < len(row)
                                               else None], dtype=object)).iat[0])
        for target in parse_targets([text]):
            if target.channel == "invalid":
                found.append(Problem(schema.LEVELS, schema.a1(offset, position),
                                     f'Notify: "{mask(target)}": {target.problem}'))
    return found


def cell_problems(workbook: Workbook) -> list[Problem]:
    """Given an evaluated workbook, return each row's problems located in the cell of the
    column they name (the ID cell when they name no known column), row by row."""
    positions = {schema.COLUMN_BY_KEY[k].header: v
                 for k, v in workbook.log_read.columns.items()}
    fallback = positions.get("ID", 0)
    found = sorted([*workbook.log_read.problems, *workbook.evaluation.problems],
                   key=lambda problem: problem.row or 0)
    return [replace(problem, cell=schema.a1((problem.row or 1) - 1,
                                            positions.get(problem.header, fallback)))
            for problem in found]

