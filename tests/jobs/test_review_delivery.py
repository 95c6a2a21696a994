"""`review --month previous --send`: the monthly review delivered to the stakeholders of the
local config, once per month per recipient, against real servers on loopback (aiosmtpd
for mail, an HTTP server recording Slack and webhook posts), on a local .xlsx and on the
fake Google Sheet.

The workbook's History holds November 2026's escalations (seven: Legal threat 3, Manager
requested 2, VIP customer 1, Financial loss 1) and two in October; the run is on the 1st
of December, 07:00 in the Settings timezone (UTC).
"""

from __future__ import annotations

import datetime as dt
import email.message
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pypdf
import pytest

from sheets_escalation.adapters.config import load_config
from sheets_escalation.adapters.xlsx.backend import XlsxBackend
from sheets_escalation.core import schema
from sheets_escalation.core.errors import ConfigError, SourceError
from sheets_escalation.core.months import resolve_month
from tests.support.both_backends import INPUT_HEADER, KEY, KINDS, Book, good_row, make_book
from tests.support.fixtures import BY
from tests.support.servers import Recorder, Smtp, crash_after_first_webhook, free_port

NOW = "2026-12-01T07:00:00"
SLACK = "/services/T0/B0/ReviewSlack9"
HOOK = "/hooks/review-rv01"
OWNER, CFO = "owner@example.com", "cfo@example.com"
KEY_NOV = "review/2026-11"


def escalated(day: dt.datetime, identifier: str, to: str, trigger: str) -> list[Any]:
    return [day, identifier, "escalated", "L1", to, trigger, BY, ""]


HISTORY = [
    list(schema.HISTORY_HEADERS),
    escalated(dt.datetime(2026, 10, 5, 10), "ESC-0101", "L3", "Legal threat"),
    escalated(dt.datetime(2026, 10, 6, 10), "ESC-0102", "L2", "Manager requested"),
    escalated(dt.datetime(2026, 11, 3, 10), "ESC-0201", "L3", "Legal threat"),
    escalated(dt.datetime(2026, 11, 10, 10), "ESC-0202", "L3", "Legal threat"),
    escalated(dt.datetime(2026, 11, 17, 10), "ESC-0203", "L3", "Legal threat"),
    escalated(dt.datetime(2026, 11, 4, 10), "ESC-0204", "L2", "Manager requested"),
    escalated(dt.datetime(2026, 11, 12, 10), "ESC-0205", "L2", "Manager requested"),
    escalated(dt.datetime(2026, 11, 20, 10), "ESC-0206", "L2", "VIP customer"),
    escalated(dt.datetime(2026, 11, 21, 10), "ESC-0207", "L2", "Financial loss"),
]


@dataclass
class Setup:
    book: Book
    config: Path
    state: Path
    http: Recorder
    smtp: Smtp

    def review(self, *args: str, now: str = NOW) -> tuple[int, str, str]:
        run = self.book.cli("review", "--now", now, "--config", str(self.config), *args)
        return run.code, run.out, run.err

    def write_config(self, send_to: list[str], smtp_port: int | None = None) -> None:
        base = self.http.base
        listed = ", ".join(f'"{target}"' for target in send_to)
        self.config.write_text(
            "[notify]\n"
            f'allow = ["webhook:{base}/hooks/*", "slack:{base}/services/*", "*@example.com"]\n'
            "timeout = 5\n"
            "[smtp]\n"
            'host = "127.0.0.1"\n'
            f"port = {smtp_port or self.smtp.config.port}\n"
            "starttls = false\n"
            'from = "Support escalations <esc@example.com>"\n'
            "[state]\n"
            f'dir = "{self.state}"\n'
            "[review]\n"
            f"send_to = [{listed}]\n",
            encoding="utf-8",
        )

    def sent(self) -> list[tuple[Any, ...]]:
        """(At, ID, To, dedup key, By, Detail) of every `review sent` History row."""
        return [(r[0], r[1], r[4] if len(r) > 4 else None, r[5], r[6], r[7])
                for r in self.book.grid(schema.HISTORY)[1:] if r[2] == "review sent"]

    def mails(self) -> list[tuple[list[str], email.message.EmailMessage]]:
        return [(to, message) for _, to, message in self.smtp.mailbox.messages]

    def posts(self, path: str) -> list[dict[str, Any]]:
        return [p for p in self.http.posts if p["path"] == path]


def stakeholders(http: Recorder) -> list[str]:
    return [OWNER, CFO, f"slack:{http.base}{SLACK}", f"webhook:{http.base}{HOOK}"]


def make_setup(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http: Recorder,
               smtp: Smtp, send_to: list[str] | None = None) -> Setup:
    book = make_book(kind, tmp_path, [INPUT_HEADER, good_row(ID="ESC-0300")], monkeypatch,
                     History=HISTORY)
    setup = Setup(book, tmp_path / "config.toml", tmp_path / "state", http, smtp)
    setup.write_config(stakeholders(http) if send_to is None else send_to)
    return setup


# --------------------------------------------------------------------------- config


def test_the_config_names_the_stakeholders_and_keeps_their_journal_apart(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[review]\nsend_to = [" owner@example.com ", "", "webhook:https://h.test/x"]\n',
                    encoding="utf-8")

    config = load_config(path, {"HOME": str(tmp_path)})

    assert config.review_to == ("owner@example.com", "webhook:https://h.test/x")
    review, notify = config.journal_path("book.xlsx", "review"), config.journal_path("book.xlsx")
    assert review.name.startswith("review-journal-") and review.parent == notify.parent
    assert review.name.removeprefix("review") == notify.name.removeprefix("notify")


@pytest.mark.parametrize("value", ['"owner@example.com"', "[1, 2]"])
def test_send_to_must_be_a_list_of_strings(tmp_path: Path, value: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[review]\nsend_to = {value}\n", encoding="utf-8")

    with pytest.raises(ConfigError, match=r"\[review\] send_to must be a list of strings"):
        load_config(path, {"HOME": str(tmp_path)})


def send_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("send ")]


def shown(http: Recorder, channel: str) -> str:
    tail = "…/ack9" if channel == "slack" else "…/rv01"
    return f"{channel} 127.0.0.1:{http.port}/{tail}"


def lines_for(http: Recorder, state: str, key: str = KEY_NOV) -> list[str]:
    return [f"send {key} -> {target}: {state}" for target in (
        f"email {OWNER}", f"email {CFO}", shown(http, "slack"), shown(http, "webhook"))]


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


# --------------------------------------------------------------------------- month words


@pytest.mark.parametrize(("text", "now", "timezone", "month"), [
    ("previous", "2026-12-01T07:00:00+00:00", "UTC", "2026-11"),
    ("last", "2026-12-01T07:00:00+00:00", "UTC", "2026-11"),
    (" Previous ", "2027-01-15T12:00:00+00:00", "UTC", "2026-12"),  # across the year
    ("current", "2026-12-01T07:00:00+00:00", "UTC", "2026-12"),
    ("CURRENT", "2027-01-31T23:30:00+00:00", "UTC", "2027-01"),
    # 23:30 UTC on Oct 31 is already Nov 1 in Berlin: the Settings timezone decides.
    ("previous", "2026-10-31T23:30:00+00:00", "Europe/Berlin", "2026-10"),
    ("current", "2026-10-31T23:30:00+00:00", "Europe/Berlin", "2026-11"),
    ("previous", "2026-10-31T23:30:00+00:00", "UTC", "2026-09"),
    ("2026-03", "2026-12-01T07:00:00+00:00", "UTC", "2026-03"),
])
def test_month_words_are_read_against_the_runs_now_in_the_settings_timezone(
        text: str, now: str, timezone: str, month: str) -> None:
    assert resolve_month(text, pd.Timestamp(now), timezone) == month


@pytest.mark.parametrize("text", ["next", "2026-13", "11/2026", "prev"])
def test_other_month_text_is_refused_with_the_words_it_accepts(text: str) -> None:
    with pytest.raises(ValueError, match=r"write YYYY-MM \(e.g. 2026-10\), previous \(or "
                                         r"last\) or current"):
        resolve_month(text, pd.Timestamp("2026-12-01T07:00:00+00:00"), "UTC")


def test_review_month_previous_builds_last_months_tab(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http: Recorder, smtp: Smtp) -> None:
    setup = make_setup("xlsx", tmp_path, monkeypatch, http, smtp)

    code, out, err = setup.review("--month", "previous")
    bad = setup.review("--month", "next")

    assert (code, err) == (0, "")
    assert out.startswith("wrote tab Review 2026-11 to book.xlsx\n"
                          "How many, and which way: 7 escalations in November 2026, "
                          "against 2 in October")
    assert "\nEscalations: 7\nPrevious month: 2\n" in out
    assert bad[0] == 2 and 'cannot read "next" as a month' in bad[2]


# --------------------------------------------------------------------------- sending


@pytest.mark.parametrize("kind", KINDS)
def test_send_delivers_the_review_to_every_stakeholder_once(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http: Recorder,
        smtp: Smtp) -> None:
    setup = make_setup(kind, tmp_path, monkeypatch, http, smtp)

    code, out, err = setup.review("--month", "previous", "--send")

    assert (code, err) == (0, "")
    assert send_lines(out) == lines_for(http, "sent")
    link = ""
    if kind == "google":
        tab = setup.book.fake.books[KEY].sheet("Review 2026-11")
        link = f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid={tab.sheet_id}"
        # The review's three requests, then History's re-read and the RAW values write.
        assert [c.kind for c in setup.book.fake.log] == [
            "get", "values.batchGet", "batchUpdate", "values.batchGet", "values.batchUpdate"]

    # Email: the PDF attached, the numbers and charts inline, a plain-text alternative.
    assert [to for to, _ in setup.mails()] == [[OWNER], [CFO]]
    for _, mail in setup.mails():
        assert mail["Subject"].startswith("Escalation review 2026-11 (November 2026")
        assert mail["X-Sheets-Escalation-Key"] == KEY_NOV
        assert mail.get_content_type() == "multipart/mixed"
        plain = mail.get_body(preferencelist=("plain",))
        html_part = mail.get_body(preferencelist=("html",))
        assert plain is not None and html_part is not None
        text = plain.get_content().replace("\r\n", "\n")  # SMTP lines end in CRLF
        assert "Escalations: 7\nPrevious month: 2\n" in text
        # The five answers lead the email as they lead the tab and every export.
        answers = [line for line in text.splitlines() if line.startswith(
            ("How many, and which way:", "Most common trigger:"))]
        assert len(answers) == 2 and text.index(answers[0]) < text.index("Escalations: 7")
        assert "  Legal threat: 3 (42.9%)\n  Manager requested: 2 (28.6%)\n" in text
        html = html_part.get_content().replace("\r\n", "\n")
        assert re.search(r"<th [^>]*>Escalations</th><td [^>]*>7</td>", html)
        assert html.index("<b>How many, and which way:</b>") < html.index(">Escalations</th>")
        assert re.search(r"<td [^>]*>Legal threat</td><td [^>]*>3</td><td [^>]*>42.9%</td>",
                         html)
        assert (f'href="{link}"' in html) == bool(link)
        related = {part["Content-ID"]: part for part in mail.walk()
                   if part.get_content_type() == "image/png"}
        cids = re.findall(r'src="cid:([^"]+)"', html)
        assert len(cids) == 4  # per month, per week, by trigger, within target
        assert sorted(f"<{cid}>" for cid in cids) == sorted(related)
        assert all(part.get_content().startswith(b"\x89PNG") for part in related.values())
        [attachment] = list(mail.iter_attachments())
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_filename() == "escalation-review-2026-11.pdf"
        pdf = attachment.get_content()
        assert pdf.startswith(b"%PDF")
        words = pdf_text(pdf)
        assert "Escalation review 2026-11" in words and "Legal threat" in words
        assert re.search(r"Escalations\s+7\b", words)

    # Slack and webhook: the headline, the top triggers, the link on Google.
    [slack] = setup.posts(SLACK)
    text = slack["json"]["text"]
    assert text.startswith("*Escalation review 2026-11 (November 2026, times in UTC)*\n"
                           "Escalations: 7\nPrevious month: 2\n")
    assert "\nTop triggers: Legal threat 3 (42.9%); Manager requested 2 (28.6%); " in text
    assert text.endswith(f"\nReview tab: {link}") if link else "Review tab" not in text
    [hook] = setup.posts(HOOK)
    assert hook["headers"]["Idempotency-Key"] == KEY_NOV
    payload = hook["json"]
    assert (payload["month"], payload["event"], payload["link"]) == (
        "2026-11", "review sent", link or None)
    assert payload["headline"]["Escalations"] == "7"
    assert payload["top_triggers"][:2] == [
        {"trigger": "Legal threat", "escalations": "3", "share": "42.9%"},
        {"trigger": "Manager requested", "escalations": "2", "share": "28.6%"}]
    assert payload["body"] == text.split("\n", 1)[1]

    at = dt.datetime(2026, 12, 1, 7)
    assert setup.sent() == [(at, None, None, KEY_NOV, BY, target) for target in (
        f"email {OWNER}", f"email {CFO}", shown(http, "slack"), shown(http, "webhook"))]

    # A rerun (a retried cron job, the next day's run) sends nothing twice.
    code, out, err = setup.review("--month", "previous", "--send", now="2026-12-02T07:00:00")

    assert (code, err) == (0, "")
    assert send_lines(out) == lines_for(http, "already sent 2026-12-01 07:00")
    assert len(setup.mails()) == 2 and len(http.posts) == 2
    assert len(setup.sent()) == 4


def test_quiet_prints_nothing_when_everything_went_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http: Recorder, smtp: Smtp) -> None:
    setup = make_setup("xlsx", tmp_path, monkeypatch, http, smtp)

    assert setup.review("--month", "previous", "--send", "--quiet") == (0, "", "")
    assert len(setup.sent()) == 4


def test_dry_run_prints_what_would_go_where_and_writes_and_sends_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http: Recorder, smtp: Smtp) -> None:
    setup = make_setup("xlsx", tmp_path, monkeypatch, http, smtp,
                       [*stakeholders(http), "boss@elsewhere.org"])
    before = setup.book.path.read_bytes()

    code, out, err = setup.review("--month", "previous", "--send", "--dry-run")

    assert (code, err) == (0, "")
    assert out.startswith("dry run, nothing written or sent\n"
                          "would write tab Review 2026-11 to book.xlsx\n"
                          "How many, and which way: 7 escalations")
    assert "\nEscalations: 7\n" in out
    [mail_line, chat_line] = [line for line in out.splitlines() if line.startswith("would send")]
    assert re.fullmatch(r'would send by email: "Escalation review 2026-11 \(November 2026, '
                        r'times in UTC\)", escalation-review-2026-11\.pdf \(\d+ KB\) attached, '
                        r"the headline and 4 charts inline", mail_line)
    assert chat_line == "would send by slack, webhook: the headline, the top triggers"
    assert send_lines(out) == [*lines_for(http, "would send"),
                               f"send {KEY_NOV} -> email boss@elsewhere.org: refused: not in "
                               "allowlist"]
    assert setup.book.path.read_bytes() == before
    assert setup.mails() == [] and http.posts == []
    assert not setup.state.exists()  # not even a journal


def test_the_allowlist_refuses_a_stakeholder_and_the_others_still_get_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http: Recorder, smtp: Smtp) -> None:
    setup = make_setup("xlsx", tmp_path, monkeypatch, http, smtp,
                       [OWNER, "boss@elsewhere.org", f"webhook:{http.base}/elsewhere/x1x1"])

    code, out, err = setup.review("--month", "previous", "--send")

    assert code == 1
    assert send_lines(out) == [
        f"send {KEY_NOV} -> email {OWNER}: sent",
        f"send {KEY_NOV} -> email boss@elsewhere.org: refused: not in allowlist",
        f"send {KEY_NOV} -> webhook 127.0.0.1:{http.port}/…/x1x1: refused: not in allowlist",
    ]
    assert err == ("error: 2 review deliveries did not go out (failed ones are retried by the "
                   "next run; refused ones need the allowlist or [review] send_to fixed)\n")
    assert [to for to, _ in setup.mails()] == [[OWNER]] and http.posts == []
    assert [row[5] for row in setup.sent()] == [f"email {OWNER}"]

    code, out, err = setup.review("--month", "previous", "--send", "--quiet")

    assert code == 1 and out == ""
    assert err.splitlines()[0] == (f"send {KEY_NOV} -> email boss@elsewhere.org: refused: "
                                   "not in allowlist")
    assert len(setup.mails()) == 1 and len(setup.sent()) == 1


def test_a_failed_delivery_is_reported_and_sent_by_the_next_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http: Recorder, smtp: Smtp) -> None:
    setup = make_setup("xlsx", tmp_path, monkeypatch, http, smtp)
    http.statuses = [503]  # Slack, the first post, is down once

    code, out, err = setup.review("--month", "previous", "--send")

    assert code == 1
    assert send_lines(out)[-1] == (f"send {KEY_NOV} -> {shown(http, 'slack')}: failed, will "
                                  "retry next run: slack 127.0.0.1:"
                                  f"{http.port}/…/ack9: HTTP 503 ok")
    assert "error: 1 review delivery did not go out" in err
    assert len(setup.sent()) == 3

    code, out, err = setup.review("--month", "previous", "--send", now="2026-12-01T08:00:00")

    assert (code, err) == (0, "")
    assert send_lines(out) == [
        *(line for line in lines_for(http, "already sent 2026-12-01 07:00") if "slack" not in line),
        f"send {KEY_NOV} -> {shown(http, 'slack')}: sent"]
    assert len(setup.posts(SLACK)) == 2 and len(http.accepted(SLACK)) == 1
    assert len(setup.mails()) == 2 and len(setup.posts(HOOK)) == 1
    assert sorted(row[0] for row in setup.sent())[-1] == dt.datetime(2026, 12, 1, 8)
    assert len(setup.sent()) == 4


def test_a_mail_server_that_is_down_fails_the_mails_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http: Recorder, smtp: Smtp) -> None:
    setup = make_setup("xlsx", tmp_path, monkeypatch, http, smtp)
    setup.write_config(stakeholders(http), smtp_port=free_port())

    code, out, _ = setup.review("--month", "previous", "--send")

    assert code == 1
    assert [line.split(": ", 2)[1] for line in send_lines(out)] == [
        "sent", "sent", "failed, will retry next run", "failed, will retry next run"]
    assert f"email {OWNER}: ConnectionRefusedError" in send_lines(out)[2]
    setup.write_config(stakeholders(http))

    code, out, _ = setup.review("--month", "previous", "--send")

    assert code == 0
    assert [to for to, _ in setup.mails()] == [[OWNER], [CFO]]
    assert len(http.posts) == 2 and len(setup.sent()) == 4


# --------------------------------------------------------------------------- crashes


def test_a_crash_between_sending_and_recording_is_recorded_from_the_journal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http: Recorder, smtp: Smtp) -> None:
    setup = make_setup("xlsx", tmp_path, monkeypatch, http, smtp)
    real_write = XlsxBackend.write
    failures: list[int] = []

    def history_write_fails_once(self: XlsxBackend, plan: Any) -> None:
        if schema.HISTORY in plan.appends and not failures:
            failures.append(1)
            raise SourceError("cannot save book.xlsx: disk full")
        real_write(self, plan)

    monkeypatch.setattr(XlsxBackend, "write", history_write_fails_once)

    code, _, err = setup.review("--month", "previous", "--send")

    assert code == 1 and err == "error: cannot save book.xlsx: disk full\n"
    assert len(setup.mails()) == 2 and len(http.posts) == 2
    assert setup.sent() == []  # sent, but History never got it

    code, out, err = setup.review("--month", "previous", "--send", now="2026-12-01T08:00:00")

    assert (code, err) == (0, "")
    assert send_lines(out) == lines_for(http, "sent (recorded from the journal)")
    assert len(setup.mails()) == 2 and len(http.posts) == 2  # nothing sent twice
    assert {row[0] for row in setup.sent()} == {dt.datetime(2026, 12, 1, 7)}  # when sent

    code, out, _ = setup.review("--month", "previous", "--send", now="2026-12-01T09:00:00")

    assert code == 0 and send_lines(out) == lines_for(http, "already sent 2026-12-01 07:00")
    assert len(setup.sent()) == 4


def test_a_crash_right_after_a_send_repeats_that_send_at_most_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http: Recorder, smtp: Smtp) -> None:
    setup = make_setup("xlsx", tmp_path, monkeypatch, http, smtp)
    crash_after_first_webhook(monkeypatch)

    assert setup.review("--month", "previous", "--send")[0] == 1
    code, out, _ = setup.review("--month", "previous", "--send")
    third = setup.review("--month", "previous", "--send", now="2026-12-01T09:00:00")

    assert code == 0 and third[0] == 0
    assert send_lines(out) == [*lines_for(http, "sent (recorded from the journal)")[:3],
                               lines_for(http, "sent")[3]]
    assert len(setup.mails()) == 2 and len(setup.posts(SLACK)) == 1
    assert len(setup.posts(HOOK)) == 2  # the one repeat
    assert len(setup.sent()) == 4


# --------------------------------------------------------------------------- resend, months


def test_resend_sends_again_and_counts_as_sent_afterwards(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http: Recorder, smtp: Smtp) -> None:
    setup = make_setup("xlsx", tmp_path, monkeypatch, http, smtp)
    assert setup.review("--month", "previous", "--send")[0] == 0

    code, out, err = setup.review("--month", "2026-11", "--resend", now="2026-12-02T09:15:00")

    assert (code, err) == (0, "")
    resent = f"{KEY_NOV} resent 2026-12-02 09:15"
    assert send_lines(out) == lines_for(http, "sent", resent)
    assert len(setup.mails()) == 4 and len(http.posts) == 4
    assert [row[3] for row in setup.sent()] == [KEY_NOV] * 4 + [resent] * 4
    assert setup.mails()[-1][1]["X-Sheets-Escalation-Key"] == resent

    code, out, _ = setup.review("--month", "previous", "--send", now="2026-12-03T07:00:00")

    assert code == 0 and send_lines(out) == lines_for(http, "already sent 2026-12-02 09:15")
    assert len(setup.mails()) == 4 and len(http.posts) == 4


def test_a_resend_is_the_first_send_for_a_new_stakeholder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http: Recorder, smtp: Smtp) -> None:
    setup = make_setup("xlsx", tmp_path, monkeypatch, http, smtp, [OWNER])
    assert setup.review("--month", "previous", "--resend")[0] == 0
    setup.write_config([OWNER, CFO])

    code, out, _ = setup.review("--month", "previous", "--send", now="2026-12-01T08:00:00")

    assert code == 0
    assert send_lines(out) == [f"send {KEY_NOV} -> email {OWNER}: already sent 2026-12-01 07:00",
                               f"send {KEY_NOV} -> email {CFO}: sent"]
    assert [to for to, _ in setup.mails()] == [[OWNER], [CFO]]


def test_a_look_at_the_month_in_progress_does_not_stop_the_full_review(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http: Recorder, smtp: Smtp) -> None:
    setup = make_setup("xlsx", tmp_path, monkeypatch, http, smtp, [OWNER])

    early = setup.review("--month", "current", "--send", now="2026-11-20T12:00:00")
    same_day = setup.review("--month", "current", "--send", now="2026-11-20T13:00:00")
    full = setup.review("--month", "previous", "--send")

    so_far = "review/2026-11 so far 2026-11-20"
    assert send_lines(early[1]) == [f"send {so_far} -> email {OWNER}: sent"]
    assert send_lines(same_day[1]) == [
        f"send {so_far} -> email {OWNER}: already sent 2026-11-20 12:00"]
    assert send_lines(full[1]) == [f"send {KEY_NOV} -> email {OWNER}: sent"]
    assert [mail["X-Sheets-Escalation-Key"] for _, mail in setup.mails()] == [so_far, KEY_NOV]


def test_send_without_stakeholders_is_a_config_error_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http: Recorder, smtp: Smtp) -> None:
    setup = make_setup("xlsx", tmp_path, monkeypatch, http, smtp, [])
    before = setup.book.path.read_bytes()

    code, out, err = setup.review("--month", "previous", "--send")

    assert (code, out) == (2, "")
    assert err == ('error: no stakeholders to send the review to: add [review] send_to = '
                   f'["someone@example.com", ...] to {setup.config}; nothing was written\n')
    assert setup.book.path.read_bytes() == before


def test_a_review_sent_row_with_an_unreadable_time_still_counts_as_sent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http: Recorder, smtp: Smtp) -> None:
    book = make_book("xlsx", tmp_path, [INPUT_HEADER, good_row(ID="ESC-0300")], monkeypatch,
                     History=[*HISTORY, ["soon", None, "review sent", None, None, KEY_NOV, BY,
                                         f"email {OWNER}"]])
    setup = Setup(book, tmp_path / "config.toml", tmp_path / "state", http, smtp)
    setup.write_config([OWNER])

    code, out, _ = setup.review("--month", "previous", "--send")

    assert code == 0
    assert send_lines(out) == [f"send {KEY_NOV} -> email {OWNER}: already sent"]
    assert setup.mails() == []


def test_nothing_is_sent_while_the_workbook_is_open_in_excel(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http: Recorder, smtp: Smtp) -> None:
    setup = make_setup("xlsx", tmp_path, monkeypatch, http, smtp)
    office_lock = setup.book.path.parent / f"~${setup.book.path.name}"
    office_lock.write_bytes(b"\x03Sam")

    for extra in ((), ("--no-tab",)):
        code, _, err = setup.review("--month", "previous", "--send", *extra)
        assert code == 1 and "open in Excel" in err, err
    assert setup.sent() == [] and setup.mails() == [] and setup.http.posts == []
    office_lock.unlink()
    assert setup.review("--month", "previous", "--send")[0] == 0
    assert len(setup.sent()) == 4
