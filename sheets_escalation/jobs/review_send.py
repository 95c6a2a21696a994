"""Delivering the monthly review to its stakeholders (``review --send``).

Who: the ``[review] send_to`` list of the local configuration, never the sheet, each entry
written like a Notify target and checked against the same allowlist. What: by email, the
PDF attached and the headline and charts inline in an HTML body (``cid:`` images) with a
plain-text alternative; to Slack and webhooks, the headline, the top triggers and a link
to the review tab when the source is a Google Sheet.

Sent once per month per recipient. The dedup key ``review/YYYY-MM`` and the recipient are
recorded in History as a ``review sent`` event, so a rerun or a retried cron job sends
nothing twice. Sending goes through :class:`~sheets_escalation.adapters.notify.outbox.Outbox` with a
journal of its own: a crash between sending and recording repeats at most one message,
and one after the journal line repeats nothing. A failed delivery is not recorded, so
the next run tries it again. ``--resend`` sends under a fresh key
(``review/YYYY-MM resent 2026-12-02 09:00``) that also counts as sent afterwards. A month
still in progress is sent under ``review/YYYY-MM so far YYYY-MM-DD``, so an early look
never stops the full month's review from going out.

What to send is computed first (:func:`plan_review_send`, data only), then executed
(:func:`execute_review_send`); ``--dry-run`` stops between the two.
"""

from __future__ import annotations

import html
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sheets_escalation.adapters.config import Config
from sheets_escalation.adapters.export.charts import chart_images
from sheets_escalation.adapters.export.formats import export
from sheets_escalation.adapters.notify.outbox import Outbox
from sheets_escalation.adapters.notify.senders import EmailSender, Sender, WebhookSender
from sheets_escalation.adapters.notify.targets import Target, mask, parse_targets
from sheets_escalation.core.events import TOOL, HistoryEvent, history_rows
from sheets_escalation.core.months import month_bounds
from sheets_escalation.core.notifications import DeliveryReport, Notification
from sheets_escalation.core.review import Review
from sheets_escalation.core.review_layout import headline_text, inert_review, section_text
from sheets_escalation.core.table import Backend, WritePlan
from sheets_escalation.core.text import local_minute
from sheets_escalation.jobs.sync import plan_history
from sheets_escalation.jobs.workbook import Workbook

REVIEW_SENT = "review sent"
TOP_TRIGGERS = 3
_RESENT = " resent "


@dataclass(frozen=True)
class ReviewContent:
    """The review as every recipient gets it, rendered once.

    ``triggers`` are the most common triggers as (name, escalations, share) texts;
    ``charts`` (title, PNG) pairs; ``link`` opens the review tab (Google Sheets only).
    """

    month: str
    subject: str
    answers: tuple[tuple[str, str], ...]
    headline: tuple[tuple[str, str], ...]
    triggers: tuple[tuple[str, str, str], ...]
    recommendations: tuple[str, ...]
    charts: tuple[tuple[str, bytes], ...]
    pdf: bytes
    pdf_name: str
    link: str | None

    def summary(self) -> str:
        """The chat message (Slack, webhook ``body``): headline, top triggers, link."""
        lines = [f"{label}: {value}" for label, value in self.headline]
        if self.triggers:
            lines.append("Top triggers: " + "; ".join(
                f"{name} {count} ({share})" for name, count, share in self.triggers))
        if self.link:
            lines.append(f"Review tab: {self.link}")
        return "\n".join(lines)

    def mail_text(self) -> str:
        """The plain-text alternative of the email."""
        lines = [self.subject, ""]
        lines += [f"{question}: {answer}" for question, answer in self.answers]
        lines += [""] if self.answers else []
        lines += [f"{label}: {value}" for label, value in self.headline]
        if self.triggers:
            lines += ["", "Top triggers:"]
            lines += [f"  {name}: {count} ({share})" for name, count, share in self.triggers]
        lines += ["", "Recommendations:"]
        lines += [f"- {sentence}" for sentence in self.recommendations]
        lines.append("")
        if self.link:
            lines.append(f"Review tab: {self.link}")
        lines.append(f"The full review is attached: {self.pdf_name}")
        return "\n".join(lines) + "\n"

    def mail_html(self, cids: Sequence[str]) -> str:
        """The HTML body, showing chart ``n`` from the related part ``cids[n]``. Styles are
        inline because many mail clients drop style sheets."""
        escape = html.escape
        cell = 'style="border:1px solid #ccd;padding:4px 10px;text-align:left"'
        number = 'style="border:1px solid #ccd;padding:4px 10px;text-align:right"'
        head = 'style="border:1px solid #ccd;padding:4px 10px;text-align:left;background:#dde4ee"'
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(self.subject)}</title></head>",
            '<body style="font-family:Arial,Helvetica,sans-serif;color:#222;max-width:680px">',
            f'<h1 style="font-size:20px">{escape(self.subject)}</h1>',
        ]
        # The five answers lead, as in the tab and every export.
        parts += [f"<p><b>{escape(question)}:</b> {escape(answer)}</p>"
                  for question, answer in self.answers]
        parts.append('<table style="border-collapse:collapse">')
        parts += [f"<tr><th {head}>{escape(label)}</th><td {number}>{escape(value)}</td></tr>"
                  for label, value in self.headline]
        parts.append("</table>")
        if self.triggers:
            parts.append('<h2 style="font-size:16px">Top triggers</h2>')
            parts.append(f'<table style="border-collapse:collapse"><tr><th {head}>Trigger</th>'
                         f"<th {head}>Escalations</th><th {head}>Share</th></tr>")
            parts += [f"<tr><td {cell}>{escape(name)}</td><td {number}>{escape(count)}</td>"
                      f"<td {number}>{escape(share)}</td></tr>"
                      for name, count, share in self.triggers]
            parts.append("</table>")
        for (title, _), cid in zip(self.charts, cids, strict=True):
            parts.append(f'<p><img src="cid:{escape(cid)}" alt="{escape(title)}" width="640" '
                         'style="max-width:100%"></p>')
        parts.append('<h2 style="font-size:16px">Recommendations</h2><ul>')
        parts += [f"<li>{escape(sentence)}</li>" for sentence in self.recommendations]
        parts.append("</ul>")
        if self.link:
            parts.append(f'<p><a href="{escape(self.link)}">Open the review tab</a></p>')
        parts.append(f'<p style="color:#555">The full review is attached: '
                     f"{escape(self.pdf_name)}</p></body></html>")
        return "\n".join(parts) + "\n"


@dataclass(frozen=True)
class ReviewNotice(Notification):
    """The review as the Outbox handles it: one notification whose dedup key is ``key``."""

    key: str = ""

    @property
    def dedup_key(self) -> str:
        return self.key


@dataclass(frozen=True)
class Recipient:
    """One ``send_to`` entry: ``shown`` is its channel and masked address, ``sent_at`` when
    History records this month's review as sent to it (None: not yet)."""

    shown: str
    sent_at: pd.Timestamp | None


@dataclass(frozen=True)
class ReviewSendPlan:
    """What ``review --send`` will do, before anything is sent."""

    key: str
    notice: ReviewNotice
    content: ReviewContent
    recipients: tuple[Recipient, ...]
    recorded: frozenset[tuple[str, str]]
    resend: bool
    timezone: str

    def describe(self) -> list[str]:
        """What each channel gets, for people."""
        size = max(1, round(len(self.content.pdf) / 1024))
        charts = len(self.content.charts)
        return [f'email: "{self.content.subject}", {self.content.pdf_name} ({size} KB) '
                f"attached, the headline and {charts} chart{'s' * (charts != 1)} inline",
                "slack, webhook: the headline, the top triggers"
                + (" and a link to the review tab" if self.content.link else "")]


@dataclass
class ReviewSendReport:
    """The outcome of a ``review --send`` run (or of its dry run)."""

    plan: ReviewSendPlan
    delivery: DeliveryReport

    @property
    def problems(self) -> int:
        """Deliveries that did not happen: failed (retried next run) or refused."""
        return len(self.delivery.failed) + len(self.delivery.refused)

    def lines(self) -> list[str]:
        """One line per recipient: sent, already sent, would send, failed or refused."""
        lines = [] if self.plan.resend else [
            f"{self.plan.key} -> {r.shown}: already sent"
            + ("" if pd.isna(r.sent_at) else
               f" {local_minute(r.sent_at, self.plan.timezone)}")
            for r in self.plan.recipients if r.sent_at is not None]
        return lines + self.delivery.lines()


def review_key(month: str, now: pd.Timestamp, timezone: str) -> str:
    """Given the month, the run's time and the Settings timezone, return the dedup key of
    the month's review: ``review/YYYY-MM``, or ``review/YYYY-MM so far YYYY-MM-DD`` while
    the month is not over."""
    if now >= month_bounds(month, timezone)[1]:
        return f"review/{month}"
    return f"review/{month} so far {now.tz_convert(timezone):%Y-%m-%d}"


def recorded_reviews(history: pd.DataFrame) -> dict[tuple[str, str], pd.Timestamp]:
    """Given the History frame, return (dedup key, detail) -> when it was last recorded,
    for every ``review sent`` event; a resent key also counts under the key it resent."""
    sent = history[history["event"].str.casefold() == REVIEW_SENT]
    recorded: dict[tuple[str, str], pd.Timestamp] = {}
    for at, key, detail in zip(sent["at"], sent["trigger"], sent["detail"], strict=True):
        for name in {key, key.partition(_RESENT)[0]}:
            earlier = recorded.get((name, detail))
            if earlier is None or (pd.notna(at) and (pd.isna(earlier) or at > earlier)):
                recorded[(name, detail)] = at
    return recorded


def render_review(review: Review, link: str | None) -> ReviewContent:
    """Given a review and the link to its tab (or None), return what recipients get."""
    review = inert_review(review)
    triggers: list[tuple[str, str, str]] = []
    for section in review.sections:
        columns, body = section_text(section)
        if columns[:1] == ["Trigger"] and {"Escalations", "Share"} <= set(columns):
            count, share = columns.index("Escalations"), columns.index("Share")
            triggers = [(row[0], row[count], row[share]) for row in body[:TOP_TRIGGERS]]
            break
    pdf_name = f"escalation-review-{review.month}.pdf"
    with tempfile.TemporaryDirectory(prefix="sheets-escalation-") as folder:
        path = Path(folder) / pdf_name
        export(review, path)
        pdf = path.read_bytes()
    return ReviewContent(review.month, review.title, tuple(review.answers),
                         tuple(headline_text(review)),
                         tuple(triggers), tuple(review.recommendations),
                         tuple(chart_images(review)), pdf, pdf_name, link)


def plan_review_send(review: Review, workbook: Workbook, stakeholders: Sequence[str],
                     link: str | None, *, resend: bool = False) -> ReviewSendPlan:
    """Given the month's review, the workbook it came from, the ``send_to`` entries and
    the link to the review tab, return what to send to whom; nothing is sent here."""
    timezone = workbook.policy.timezone
    now = workbook.now
    key = review_key(review.month, now, timezone)
    recorded = recorded_reviews(workbook.history)
    recipients = tuple(
        Recipient(shown, recorded.get((key, shown)))
        for target in parse_targets(stakeholders)
        for shown in [_shown(target)])
    content = render_review(review, link)
    send_key = f"{key}{_RESENT}{local_minute(now, timezone)}" if resend else key
    notice = ReviewNotice("", "", REVIEW_SENT, tuple(stakeholders), content.subject,
                          content.summary(), key=send_key)
    return ReviewSendPlan(key, notice, content, recipients, frozenset(recorded), resend,
                          timezone)


class ReviewEmailSender(EmailSender):
    """Sends the review by email: text and HTML alternatives, charts as related images,
    the PDF attached."""

    def __init__(self, config: Config, content: ReviewContent) -> None:
        super().__init__(config.smtp)
        self.content = content

    def send(self, target: Target, notification: Notification) -> None:
        """Send the review to ``target``; raise NotifyError if the send fails."""
        content = self.content
        message = self.envelope(target, notification)
        cids = [f"chart{number}.{content.month}@sheets-escalation"
                for number in range(1, len(content.charts) + 1)]
        message.set_content(content.mail_text())
        message.add_alternative(content.mail_html(cids), subtype="html")
        body = message.get_body(preferencelist=("html",))
        assert body is not None  # the alternative just added
        for cid, (title, png) in zip(cids, content.charts, strict=True):
            body.add_related(png, "image", "png", cid=f"<{cid}>",
                             filename=f"{title.lower().replace(' ', '-')}.png")
        message.add_attachment(content.pdf, maintype="application", subtype="pdf",
                               filename=content.pdf_name)
        self.transmit(target, message)


class ReviewWebhookSender(WebhookSender):
    """Posts the review's summary as JSON, with its parts as fields a program can read."""

    def __init__(self, config: Config, content: ReviewContent) -> None:
        super().__init__(timeout=config.http_timeout)
        self.content = content

    def payload(self, notification: Notification) -> dict[str, object]:
        content = self.content
        return {
            **super().payload(notification),
            "month": content.month,
            "headline": dict(content.headline),
            "top_triggers": [{"trigger": name, "escalations": count, "share": share}
                             for name, count, share in content.triggers],
            "link": content.link,
        }


def review_senders(config: Config, content: ReviewContent) -> dict[str, Sender]:
    """The senders of the review's channels (Slack posts the summary as it is)."""
    return {"email": ReviewEmailSender(config, content),
            "webhook": ReviewWebhookSender(config, content)}


def execute_review_send(plan: ReviewSendPlan, outbox: Outbox, backend: Backend,
                        workbook: Workbook, *, dry_run: bool) -> ReviewSendReport:
    """Send what ``plan`` says through ``outbox`` and record each send in History (with
    ``dry_run``: neither). Raise JournalError or LockHeldError from the outbox, or what
    the backend raises when writing History; the sends are in the journal then, and the
    next run records them without sending again."""
    delivery = outbox.deliver([plan.notice], plan.recorded, workbook.now.to_pydatetime())
    if dry_run or not delivery.sent:
        return ReviewSendReport(plan, delivery)
    events = [HistoryEvent(pd.Timestamp(d.at), "", REVIEW_SENT, "", "", d.dedup_key, TOOL, d.detail)
              for d in delivery.sent]
    history = WritePlan()
    plan_history(workbook, history, history_rows(events, plan.timezone))
    backend.write(history)
    return ReviewSendReport(plan, delivery)


@dataclass(frozen=True)
class ReviewDelivery:
    """``review --send`` as the review job runs it, inside the source's lock, after the
    review tab is written: plan, then (unless ``dry_run``) send and record."""

    config: Config
    journal: Path
    resend: bool = False
    dry_run: bool = False

    def __call__(self, backend: Backend, workbook: Workbook,
                 review: Review) -> ReviewSendReport:
        tab_url = getattr(backend, "tab_url", None)
        link = tab_url(review.tab) if tab_url is not None else None
        plan = plan_review_send(review, workbook, self.config.review_to, link,
                                resend=self.resend)
        outbox = Outbox(self.config, self.journal, review_senders(self.config, plan.content),
                        dry_run=self.dry_run)
        return execute_review_send(plan, outbox, backend, workbook, dry_run=self.dry_run)


def _shown(target: Target) -> str:
    channel = target.channel if target.channel != "invalid" else "target"
    return f"{channel} {mask(target)}"

