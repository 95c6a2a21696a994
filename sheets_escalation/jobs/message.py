"""The message job: render one row's message from a template of the Templates tab, for
the level it is about (given, else the row's target level, else its level). Reads and
evaluates the workbook; writes and sends nothing.
"""

from __future__ import annotations

import pandas as pd

from sheets_escalation.core.errors import UsageError
from sheets_escalation.core.table import Backend
from sheets_escalation.jobs.handoff import (
    escalation_message,
    find_row,
    latest_move_reason,
    row_view,
    templates_of,
)
from sheets_escalation.jobs.workbook import load


class NoTemplateError(UsageError):
    """The Templates tab has no template of the name asked for."""


def render_message(backend: Backend, now: pd.Timestamp, identifier: str, name: str,
                   level: int | None) -> tuple[str, str]:
    """Given a backend, ``now``, a row's ID, a template name and the level the message is
    about (None: the row's target level, else its level), return the message's subject and
    body. Raise NoTemplateError if no template has that name."""
    workbook = load(backend, now)
    templates = templates_of(workbook.tabs)
    if name.strip().casefold() not in templates:
        raise NoTemplateError(
            f"no template named {name.strip()!r} (available: {', '.join(sorted(templates))})")
    position = find_row(workbook.result, identifier)
    view = row_view(workbook.log, workbook.result, position)
    target = view.result.get("target_level") or ""
    if level is None:
        level = int(target[1]) if target else int(view.result["level"])
    # Nothing firing at the row's level (it was just raised, by this evaluation or
    # before): the message names what raised it instead of empty Triggers and Why.
    reason = None if view.result.get("triggers") else latest_move_reason(
        view.result["id"], workbook.evaluation.events, workbook.history)
    return escalation_message(view, workbook.policy, level, templates, name,
                              workbook.now, reason)
