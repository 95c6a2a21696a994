"""The review job: read -> evaluate -> build the monthly review -> write its tab / export."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sheets_escalation.adapters.export.formats import export
from sheets_escalation.adapters.export.sheet import write_review_sheet
from sheets_escalation.adapters.gsheets.layout import review_sheet_requests
from sheets_escalation.core.errors import UsageError
from sheets_escalation.core.months import resolve_month
from sheets_escalation.core.replay import MonthReplay
from sheets_escalation.core.review import Review, build_review
from sheets_escalation.core.review_layout import review_rows
from sheets_escalation.core.table import Backend, WritePlan
from sheets_escalation.jobs.review_send import ReviewDelivery, ReviewSendReport
from sheets_escalation.jobs.sync import Workbook, load


@dataclass
class ReviewResult:
    review: Review
    workbook: Workbook
    plan: WritePlan
    sent: ReviewSendReport | None = None


def review_for(workbook: Workbook, month: str | None) -> Review:
    """Given an evaluated workbook and --month (YYYY-MM, previous, last or current; None:
    the last full month), return the review. Raise UsageError for any other month text."""
    policy = workbook.policy
    try:
        chosen = resolve_month(month or "previous", workbook.now, policy.timezone)
    except ValueError as error:
        raise UsageError(str(error)) from error
    # The review reports what happened: an automatic escalation this evaluation would
    # apply is not in the sheet or History yet (the next sync records it), so those rows
    # keep the level and Escalated at the sheet shows.
    result = workbook.result
    pending = result["level_raised"].to_numpy(dtype=bool)
    if pending.any():
        result = result.assign(
            level=np.where(pending, workbook.log["level"].to_numpy(), result["level"].to_numpy()),
            escalated_at=result["escalated_at"].where(~pending, workbook.log["escalated_at"]))
    replay = MonthReplay(workbook.log.assign(id=result["id"]), policy, workbook.now, chosen)
    return build_review(workbook.log, result, workbook.history,
                        {n: lp.name for n, lp in policy.levels.items()}, chosen,
                        policy.timezone, replay, now=workbook.now, triggers=replay)


def run_review(backend: Backend, now: pd.Timestamp, month: str | None,
               export_path: Path | None, *, write_tab: bool = True, dry_run: bool = False,
               send: ReviewDelivery | None = None) -> ReviewResult:
    """Build the review of ``month``; replace only its tab, export it if asked, and with
    ``send`` deliver it to the stakeholders once the tab is written (so the link in the
    messages opens the new tab). With ``dry_run`` nothing is written, exported or sent."""
    if export_path is not None and export_path.suffix.lower() not in (
            ".xlsx", ".html", ".md", ".csv", ".pdf"):
        raise UsageError(f"cannot export to {export_path.name}: use .xlsx, .html, .md, "
                         ".csv or .pdf")
    with backend.lock():
        if not dry_run and (write_tab or send is not None):
            backend.check_writable()  # before the review is sent to anyone
        workbook = load(backend, now)
        review = review_for(workbook, month)
        plan = write_review_tab(backend, review) if write_tab and not dry_run else WritePlan()
        sent = send(backend, workbook, review) if send is not None else None
    if export_path is not None and not dry_run:
        export(review, export_path)
    return ReviewResult(review, workbook, plan, sent)


def write_review_tab(backend: Backend, review: Review) -> WritePlan:
    """Replace only ``review``'s tab in the source (values, then its layout and charts)."""
    plan = WritePlan()
    plan.replace_tabs[review.tab] = review_rows(review)
    plan.tab_formatters[review.tab] = ReviewLayout(review)
    backend.write(plan)
    return plan


@dataclass(frozen=True)
class ReviewLayout:
    """Lays the review tab out after its rows are written: called with an openpyxl
    worksheet by the xlsx backend; ``sheet_requests(sheet_id)`` gives the Google Sheets
    backend the batchUpdate requests for the same formats and native charts."""

    review: Review

    def __call__(self, worksheet: Any) -> None:
        write_review_sheet(worksheet, self.review)

    def sheet_requests(self, sheet_id: int) -> list[dict[str, Any]]:
        return review_sheet_requests(self.review, sheet_id)
