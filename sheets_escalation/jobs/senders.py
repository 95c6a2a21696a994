"""What sends a run's mail, built from the local configuration and the source: the Outbox
for sync's and escalate's notifications, the ReviewDelivery for the monthly review. The
allowlist and SMTP settings come from the local configuration only, never the workbook;
each source keeps its own journal of what was sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sheets_escalation.adapters.config import Config
from sheets_escalation.adapters.notify.outbox import Outbox
from sheets_escalation.adapters.sources import source_id
from sheets_escalation.core.errors import UsageError

if TYPE_CHECKING:
    from sheets_escalation.jobs.review_send import ReviewDelivery


def make_outbox(config: Config, backend: Any, dry_run: bool) -> Outbox:
    """Given the local config, the backend and --dry-run, return the Outbox that sends this
    run's notifications (the allowlist and SMTP settings come from the local config only)."""
    return Outbox(config, config.journal_path(source_id(backend)), dry_run=dry_run)


def make_review_delivery(config: Config, backend: Any, resend: bool,
                         dry_run: bool) -> ReviewDelivery:
    """Given the local config, the backend, --resend and --dry-run, return what delivers the
    review to the stakeholders of the local config. Raise UsageError if it names none."""
    # Imported here: the review's export (matplotlib, fpdf) is not every run's business.
    from sheets_escalation.jobs.review_send import ReviewDelivery

    if not config.review_to:
        raise UsageError(f"no stakeholders to send the review to: add [review] send_to = "
                         f'["someone@example.com", ...] to {config.path}; nothing was written')
    return ReviewDelivery(config, config.journal_path(source_id(backend), "review"),
                          resend=resend, dry_run=dry_run)
