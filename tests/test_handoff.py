"""Handoff end to end through the CLI (SPEC §6): escalate, message, and the notifications
sync and escalate send, on golden workbooks, against real servers on loopback (an HTTP
server recording webhook and Slack posts, aiosmtpd receiving mail)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from sheets_escalation.adapters.xlsx.backend import XlsxBackend
from sheets_escalation.core import schema
from sheets_escalation.core.errors import SourceError
from tests.fixtures import (
    ACME,
    BY,
    GOLDEN_ROWS,
    L1_HOOK,
    L2_HOOK,
    L2_MAIL,
    L3_HOOK,
    NOW,
    SECRET_PATH,
    SLACK_PATH,
    Setup,
    cell,
    complete_row,
    history,
    l2_targets,
    make_setup,
    notified,
    notify_lines,
    run,
    set_templates,
    values,
)
from tests.servers import (
    Recorder,
    Smtp,
    crash_after_first_webhook,
    free_port,
)

# --- automatic escalation in sync ---------------------------------------------------------


def test_sync_announces_an_automatic_escalation_to_the_new_level_once(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    setup = make_setup(tmp_path, http, smtp, GOLDEN_ROWS, {2: l2_targets(http)})
    port = http.port

    code, out, err = setup.sync()

    assert (code, err) == (0, "")
    key = "ESC-0001/L2/escalated"
    assert notify_lines(out) == [
        f"notify {key} -> webhook 127.0.0.1:{port}/…/s2s2: sent",
        f"notify {key} -> email {L2_MAIL}: sent",
        f"notify {key} -> slack 127.0.0.1:{port}/…/L2x9: sent",
    ]
    assert setup.posts() == [(L2_HOOK, key), (SLACK_PATH, "slack")]
    assert setup.mails() == [([L2_MAIL], key)]
    webhook = http.posts[0]["json"]
    assert webhook["subject"] == "[L2] Medium escalation ESC-0001: Acme Bakery (Billing)"
    assert webhook["body"] == (
        "ESCALATION TO L2 (Specialist)\n"
        "Urgency: Medium\n"
        "Customer: Acme Bakery (ops@acme.test)\n"
        "Issue: Invoice charged twice\n"
        "Steps taken: Checked payment log\n"
        "Customer sentiment: Calm\n"
        "Triggers: Unresolved too long\n"
        "Why: open 13 business hours (limit 1 business day)\n"
        "Required action: our Specialist team (L2) will review it and respond by "
        "2026-11-24 17:00\n"
        "Deadline: 2026-11-24 17:00\n"
        "Previous handler: "
    )
    [(_, _, mail)] = smtp.mailbox.messages
    assert mail.get_content().splitlines() == webhook["body"].splitlines()
    assert http.posts[1]["json"]["text"].startswith(
        "*[L2] Medium escalation ESC-0001: Acme Bakery (Billing)*\nESCALATION TO L2")
    assert notified(setup.path) == [
        ("ESC-0001", "L2", key, f"webhook 127.0.0.1:{port}/…/s2s2"),
        ("ESC-0001", "L2", key, f"email {L2_MAIL}"),
        ("ESC-0001", "L2", key, f"slack 127.0.0.1:{port}/…/L2x9"),
        # L1 has no Notify target: the reminder is recorded, not sent.
        ("ESC-0006", "L1", "ESC-0006/L1/remind-50:resolution", "reminder (no channel)"),
    ]
    sent_rows = [r for r in history(setup.path) if r[2] == "notified"]
    assert {(r[0], r[6]) for r in sent_rows} == {(dt.datetime(2026, 11, 24, 15), BY)}
    # The webhook URLs are secrets: nothing shows them beyond the masked tail.
    shown = out + repr(history(setup.path)) + "".join(
        p.read_text() for p in setup.state.glob("*.jsonl"))
    assert L2_HOOK not in shown and SLACK_PATH not in shown

    again = setup.sync()
    later = setup.sync("2026-11-24T15:30:00")

    assert again[0] == later[0] == 0
    assert notify_lines(again[1]) == notify_lines(later[1]) == []
    assert len(http.posts) == 2 and len(smtp.mailbox.messages) == 1
    # and at 15:30 ESC-0006 has used 75% of its L1 resolution time: one more reminder.
    assert notified(setup.path)[4:] == [
        ("ESC-0006", "L1", "ESC-0006/L1/remind-75:resolution", "reminder (no channel)")]


def test_due_escalation_and_sla_states_notify_the_current_level_once_each(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    # Only a 1-hour flag trigger, so the L1 clocks run on without automatic escalation.
    triggers = [["Public complaint", "public_mention", "", "L1", "L2", "1 hour", "flag", "Yes"]]
    rows = [complete_row("ESC-0010", dt.datetime(2026, 11, 24, 14, 30), channel="Social")]
    setup = make_setup(tmp_path, http, smtp, rows,
                       {1: f"webhook:{http.base}{L1_HOOK}", 2: l2_targets(http)}, triggers)
    runs = [
        ("2026-11-24T15:00:00", "ESCALATE", ["ESC-0010/L1/escalate-due"]),
        ("2026-11-24T16:00:00", "ESCALATION OVERDUE", []),  # still the same escalation
        # L1 answers within 4 business hours: 3 of them (75%) have passed at Wed 09:30.
        ("2026-11-25T09:40:00", "ESCALATION OVERDUE", ["ESC-0010/L1/at-risk:response"]),
        ("2026-11-25T09:50:00", "ESCALATION OVERDUE", []),
        # Half of the 8-hour resolution target is used by then: the handler is reminded.
        ("2026-11-25T10:45:00", "ESCALATION OVERDUE", ["ESC-0010/L1/overdue:response",
                                                      "ESC-0010/L1/remind-50:resolution"]),
        ("2026-11-25T11:00:00", "ESCALATION OVERDUE", []),
    ]

    for now, flag, keys in runs:
        posts_before = len(http.posts)
        code, out, err = setup.sync(now)
        assert (code, err) == (0, "")
        assert cell(setup.path, "ESC-0010", "Flag") == flag
        assert [p[1] for p in setup.posts()[posts_before:]] == keys, now
        assert notify_lines(out) == [
            f"notify {k} -> webhook 127.0.0.1:{http.port}/…/f1f1: sent" for k in keys]

    assert {p[0] for p in setup.posts()} == {L1_HOOK}  # the current level, not L2
    assert smtp.mailbox.messages == []
    assert [(r[2], r[1]) for r in notified(setup.path)] == [
        ("ESC-0010/L1/escalate-due", "L1"),
        ("ESC-0010/L1/at-risk:response", "L1"),
        ("ESC-0010/L1/overdue:response", "L1"),
        ("ESC-0010/L1/remind-50:resolution", "L1"),
    ]
    first = http.posts[0]["json"]
    assert first["subject"] == "[L1] ESC-0010 must be escalated to L2 (due 2026-11-24 15:30)"
    assert "Why: Public complaint: public post on Social" in first["body"]


# --- allowlist ------------------------------------------------------------------------------


def test_targets_outside_the_allowlist_are_refused_and_reported_masked(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    notify = f"webhook:{http.base}{L2_HOOK}, webhook:{http.base}{SECRET_PATH}, boss@evil.test"
    setup = make_setup(tmp_path, http, smtp, [ACME], {2: notify})
    masked = f"webhook 127.0.0.1:{http.port}/…/9xYz"

    code, out, err = setup.sync()

    assert (code, err) == (0, "")
    key = "ESC-0001/L2/escalated"
    assert notify_lines(out) == [
        f"notify {key} -> webhook 127.0.0.1:{http.port}/…/s2s2: sent",
        f"notify {key} -> {masked}: refused: not in allowlist",
        f"notify {key} -> email boss@evil.test: refused: not in allowlist",
    ]
    assert setup.posts() == [(L2_HOOK, key)]
    assert smtp.mailbox.messages == []
    problems = (f"Notify L2 {masked} refused: not in allowlist; "
                "Notify L2 email boss@evil.test refused: not in allowlist")
    assert cell(setup.path, "ESC-0001", "Problems") == problems
    # Reported in the row, but not a problem with the row's input: the Flag is untouched.
    assert cell(setup.path, "ESC-0001", "Flag") == "OK"
    assert [r[3] for r in notified(setup.path)] == [f"webhook 127.0.0.1:{http.port}/…/s2s2"]
    escalations = values(setup.path, schema.ESCALATIONS)

    code, out, err = setup.sync()

    # Still refused, still reported; the rerun leaves the row as it was.
    assert code == 0
    assert notify_lines(out) == [
        f"notify {key} -> {masked}: refused: not in allowlist",
        f"notify {key} -> email boss@evil.test: refused: not in allowlist",
    ]
    assert values(setup.path, schema.ESCALATIONS) == escalations
    assert len(http.posts) == 1
    for text in (out, err, repr(history(setup.path)), repr(escalations),
                 *(p.read_text() for p in setup.state.glob("*.jsonl"))):
        assert "SeCrEtToKeN" not in text


def test_without_a_config_file_nothing_is_sent_and_every_target_is_refused(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    setup = make_setup(tmp_path, http, smtp, [ACME], {2: l2_targets(http)})
    setup.config.unlink()

    code, out, _ = setup.sync()

    assert code == 0
    assert [line.rsplit(": ", 1)[1] for line in notify_lines(out)] == ["not in allowlist"] * 3
    assert http.posts == [] and smtp.mailbox.messages == []
    assert notified(setup.path) == []


def test_sync_dry_run_shows_what_it_would_send_and_sends_nothing(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    setup = make_setup(tmp_path, http, smtp, [ACME], {2: l2_targets(http)})
    before = setup.path.read_bytes()

    code, out, _ = setup.sync(NOW, "--dry-run")

    assert code == 0
    assert [line.rsplit(": ", 1)[1] for line in notify_lines(out)] == ["would send"] * 3
    assert setup.path.read_bytes() == before
    assert http.posts == [] and smtp.mailbox.messages == []
    assert not setup.state.exists()


# --- sent once: crashes and failures --------------------------------------------------------


def test_crash_after_sending_before_history_is_written_is_recorded_from_the_journal(
    tmp_path: Path, http: Recorder, smtp: Smtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = make_setup(tmp_path, http, smtp, [ACME], {2: f"webhook:{http.base}{L2_HOOK}"})
    before = setup.path.read_bytes()
    real_write = XlsxBackend.write
    calls: list[int] = []

    def write_fails_once(self: XlsxBackend, plan: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise SourceError("cannot save log.xlsx: disk full")
        real_write(self, plan)

    monkeypatch.setattr(XlsxBackend, "write", write_fails_once)

    code, _, err = setup.sync()

    assert code == 1 and err == "error: cannot save log.xlsx: disk full\n"
    assert setup.path.read_bytes() == before  # the send happened, History never got it
    assert len(http.posts) == 1

    code, out, _ = setup.sync("2026-11-24T15:20:00")

    assert code == 0
    assert notify_lines(out) == [
        f"notify ESC-0001/L2/escalated -> webhook 127.0.0.1:{http.port}/…/s2s2: sent "
        "(recorded from the journal)"
    ]
    assert len(http.posts) == 1
    [sent] = [r for r in history(setup.path) if r[2] == "notified"]
    assert sent[0] == dt.datetime(2026, 11, 24, 15)  # when it was really sent
    assert sent[5] == "ESC-0001/L2/escalated"

    code, out, _ = setup.sync("2026-11-24T15:40:00")

    assert notify_lines(out) == [] and len(http.posts) == 1 and len(notified(setup.path)) == 1


def test_crash_right_after_a_send_repeats_that_send_at_most_once(
    tmp_path: Path, http: Recorder, smtp: Smtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = make_setup(tmp_path, http, smtp, [ACME], {2: f"webhook:{http.base}{L2_HOOK}"})
    crash_after_first_webhook(monkeypatch)

    assert setup.sync()[0] == 1
    code, out, _ = setup.sync()
    third = setup.sync("2026-11-24T15:30:00")

    assert code == 0 and third[0] == 0
    assert setup.posts() == [(L2_HOOK, "ESC-0001/L2/escalated")] * 2
    assert notify_lines(third[1]) == []
    assert [r[2] for r in notified(setup.path)] == ["ESC-0001/L2/escalated"]


def test_failed_sends_are_reported_without_stopping_the_sync_and_retried_next_run(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    setup = make_setup(tmp_path, http, smtp, [ACME],
                       {2: f"webhook:{http.base}{L2_HOOK}, {L2_MAIL}"})
    setup.write_config(smtp_port=free_port())  # the mail server is down
    http.statuses = [500]
    key = "ESC-0001/L2/escalated"

    code, out, err = setup.sync()

    assert (code, err) == (0, "")
    assert "escalated ESC-0001 L1 -> L2 (Unresolved too long)" in out
    webhook_failure = f"webhook 127.0.0.1:{http.port}/…/s2s2: HTTP 500 ok"
    mail_failure = f"email {L2_MAIL}: ConnectionRefusedError: [Errno 111] Connection refused"
    assert notify_lines(out) == [
        f"notify {key} -> webhook 127.0.0.1:{http.port}/…/s2s2: failed, will retry next run: "
        + webhook_failure,
        f"notify {key} -> email {L2_MAIL}: failed, will retry next run: " + mail_failure,
    ]
    assert cell(setup.path, "ESC-0001", "Level") == "L2"  # the escalation itself is written
    assert cell(setup.path, "ESC-0001", "Problems") == (
        f"Notify L2 webhook 127.0.0.1:{http.port}/…/s2s2 failed: {webhook_failure}; "
        f"Notify L2 email {L2_MAIL} failed: {mail_failure}")
    assert notified(setup.path) == []

    setup.write_config()  # the mail server is back
    code, out, _ = setup.sync("2026-11-24T15:10:00")

    assert code == 0
    assert notify_lines(out) == [
        f"notify {key} -> webhook 127.0.0.1:{http.port}/…/s2s2: sent",
        f"notify {key} -> email {L2_MAIL}: sent",
    ]
    assert [p["status"] for p in http.posts] == [500, 200]
    assert setup.mails() == [([L2_MAIL], key)]
    assert "Triggers: Unresolved too long" in http.posts[1]["json"]["body"]
    assert cell(setup.path, "ESC-0001", "Problems") is None
    assert cell(setup.path, "ESC-0001", "Flag") == "OK"
    assert len(notified(setup.path)) == 2

    assert notify_lines(setup.sync("2026-11-24T15:20:00")[1]) == []
    assert len(http.posts) == 2 and len(smtp.mailbox.messages) == 1


def test_a_failed_target_is_retried_even_if_its_mask_matches_a_sent_one(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    # Both URLs mask to "127.0.0.1:PORT/…" (paths this short show no tail).
    notify = f"webhook:{http.base}/hooks/a, webhook:{http.base}/hooks/b"
    setup = make_setup(tmp_path, http, smtp, [ACME], {2: notify})
    http.statuses = [500]

    setup.sync()
    setup.sync("2026-11-24T15:10:00")

    assert sorted(p["path"] for p in http.accepted()) == ["/hooks/a", "/hooks/b"]


def test_an_unsent_announcement_is_dropped_once_the_level_has_responded(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    setup = make_setup(tmp_path, http, smtp, [ACME], {2: f"webhook:{http.base}{L2_HOOK}"})
    http.statuses = [500]
    setup.sync()
    workbook = openpyxl.load_workbook(setup.path)
    sheet = workbook[schema.ESCALATIONS]
    header = [c.value for c in sheet[1]]
    sheet.cell(2, header.index("First response at") + 1).value = dt.datetime(2026, 11, 24, 15, 5)
    workbook.save(setup.path)

    code, out, _ = setup.sync("2026-11-24T15:10:00")

    assert code == 0 and notify_lines(out) == []
    assert len(http.posts) == 1


# --- escalate --------------------------------------------------------------------------------


def escalate_rows() -> list[list[Any]]:
    opened = dt.datetime(2026, 11, 24, 13, 0)
    return [
        complete_row("ESC-0020", opened, handler="Lee"),
        complete_row("ESC-0021", opened, contact=None, sentiment=None),
        complete_row("ESC-0022", opened, level="L2", escalated_at=dt.datetime(2026, 11, 24, 14),
                     first_response_at=dt.datetime(2026, 11, 24, 14, 10)),
        complete_row("ESC-0023", opened, level="L3", escalated_at=dt.datetime(2026, 11, 24, 14),
                     first_response_at=dt.datetime(2026, 11, 24, 14, 10)),
    ]


def test_escalate_sets_level_time_and_handler_records_history_and_notifies_once(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    setup = make_setup(tmp_path, http, smtp, escalate_rows(), {2: l2_targets(http)})
    key = "ESC-0020/L2/escalated"

    code, out, err = setup.escalate("ESC-0020", "--to", "L2", "--handler", "Sam",
                                    "--note", "refund above L1 authority")

    assert (code, err) == (0, "")
    assert out == (
        "escalated ESC-0020 L1 -> L2 (handler Sam)\n"
        f"notify {key} -> webhook 127.0.0.1:{http.port}/…/s2s2: sent\n"
        f"notify {key} -> email {L2_MAIL}: sent\n"
        f"notify {key} -> slack 127.0.0.1:{http.port}/…/L2x9: sent\n"
    )
    assert cell(setup.path, "ESC-0020", "Level") == "L2"
    assert cell(setup.path, "ESC-0020", "Escalated at") == dt.datetime(2026, 11, 24, 15)
    assert cell(setup.path, "ESC-0020", "Handler") == "Sam"
    assert cell(setup.path, "ESC-0020", "Response due") == dt.datetime(2026, 11, 24, 17)
    escalated = [r for r in history(setup.path) if r[2] == "escalated"]
    assert escalated == [[dt.datetime(2026, 11, 24, 15), "ESC-0020", "escalated", "L1", "L2",
                          "manual", "Sam", "refund above L1 authority"]]
    assert [r[2] for r in history(setup.path) if r[1] == "ESC-0020"] == [
        "escalated", "notified", "notified", "notified"]
    body = http.posts[0]["json"]["body"]
    assert "Triggers: manual escalation by Sam\nWhy: refund above L1 authority\n" in body
    assert "Deadline: 2026-11-24 17:00" in body
    assert setup.mails() == [([L2_MAIL], key)]

    code, out, _ = setup.sync("2026-11-24T15:10:00")

    assert code == 0 and notify_lines(out) == []
    assert len(http.posts) == 2 and len(smtp.mailbox.messages) == 1
    assert [r[2] for r in history(setup.path)].count("escalated") == 1


def test_escalate_refuses_when_required_info_is_missing_and_names_the_fields(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    setup = make_setup(tmp_path, http, smtp, escalate_rows(), {2: l2_targets(http)})
    before = setup.path.read_bytes()

    code, out, err = setup.escalate("ESC-0021", "--to", "L2")

    assert (code, out) == (1, "")
    assert err == "error: ESC-0021 cannot go to L2: fill Contact, Sentiment first (or pass --force)\n"
    assert setup.path.read_bytes() == before
    assert http.posts == [] and smtp.mailbox.messages == []


def test_escalate_force_goes_ahead_and_notes_what_was_missing(
    tmp_path: Path, http: Recorder, smtp: Smtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "alex")
    setup = make_setup(tmp_path, http, smtp, escalate_rows(), {3: f"webhook:{http.base}{L3_HOOK}"})

    code, out, _ = setup.escalate("ESC-0021", "--to", "L3", "--force", "--note", "legal letter")

    assert code == 0
    assert out.splitlines()[0] == "escalated ESC-0021 L1 -> L3"
    assert cell(setup.path, "ESC-0021", "Level") == "L3"
    assert cell(setup.path, "ESC-0021", "Missing info") == "Contact; Sentiment"
    [event] = [r for r in history(setup.path) if r[2] == "escalated"]
    assert event[1:] == ["ESC-0021", "escalated", "L1", "L3", "manual", "alex",
                         "legal letter (forced; missing Contact, Sentiment)"]
    assert setup.posts() == [(L3_HOOK, "ESC-0021/L3/escalated")]


def test_escalate_never_lowers_or_repeats_a_level(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    setup = make_setup(tmp_path, http, smtp, escalate_rows(), {2: l2_targets(http)})
    before = setup.path.read_bytes()

    same = setup.escalate("ESC-0022", "--to", "L2")
    lower = setup.escalate("ESC-0023", "--to", "L2")

    assert same == (1, "", "error: ESC-0022 is already at L2; escalate never lowers a level\n")
    assert lower == (1, "", "error: ESC-0023 is already at L3; escalate never lowers a level\n")
    assert setup.path.read_bytes() == before
    assert http.posts == []


def test_escalate_an_unknown_id_is_a_usage_error(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    setup = make_setup(tmp_path, http, smtp, escalate_rows(), {2: l2_targets(http)})

    assert setup.escalate("ESC-9999", "--to", "L2") == (
        2, "", 'error: no row with ID "ESC-9999" in Escalations\n')
    code, _, err = setup.escalate("ESC-0020", "--to", "L4")
    assert code == 2 and "Invalid value for '--to'" in err


def test_escalate_dry_run_writes_and_sends_nothing(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    setup = make_setup(tmp_path, http, smtp, escalate_rows(), {2: l2_targets(http)})
    before = setup.path.read_bytes()

    code, out, _ = setup.escalate("ESC-0020", "--to", "L2", "--dry-run")

    assert code == 0
    key = "ESC-0020/L2/escalated"
    assert out == (
        "would escalate ESC-0020 L1 -> L2\n"
        f"notify {key} -> webhook 127.0.0.1:{http.port}/…/s2s2: would send\n"
        f"notify {key} -> email {L2_MAIL}: would send\n"
        f"notify {key} -> slack 127.0.0.1:{http.port}/…/L2x9: would send\n"
    )
    assert setup.path.read_bytes() == before
    assert http.posts == [] and smtp.mailbox.messages == []
    assert not setup.state.exists()


def test_escalating_an_escalated_row_records_one_event_and_notifies_the_next_level(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    setup = make_setup(tmp_path, http, smtp, [ACME],
                       {2: f"webhook:{http.base}{L2_HOOK}", 3: f"webhook:{http.base}{L3_HOOK}"})
    assert setup.sync()[0] == 0  # ESC-0001 goes to L2 automatically

    code, _, _ = setup.escalate("ESC-0001", "--to", "L3", "--handler", "Kim",
                                now="2026-11-24T15:10:00")

    assert code == 0
    moves = [r[2:7] for r in history(setup.path) if r[2] in ("escalated", "level changed")]
    assert moves == [["escalated", "L1", "L2", "Unresolved too long", BY],
                     ["escalated", "L2", "L3", "manual", "Kim"]]
    assert setup.posts() == [(L2_HOOK, "ESC-0001/L2/escalated"),
                             (L3_HOOK, "ESC-0001/L3/escalated")]


# --- message ---------------------------------------------------------------------------------


def message(setup: Setup, identifier: str, *extra: str) -> tuple[int, str, str]:
    return run("message", str(setup.path), identifier, "--now", NOW, *extra)




def test_message_renders_the_default_customer_template_from_the_row(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    setup = make_setup(tmp_path, http, smtp, GOLDEN_ROWS, {})

    code, out, err = message(setup, "ESC-0001", "--template", "customer")

    assert (code, err) == (0, "")
    assert out == (
        "Subject: Your request ESC-0001 has been escalated\n"
        "\n"
        "Hello Acme Bakery,\n"
        "\n"
        "Thank you for your patience. We have escalated your request about \"Invoice charged "
        "twice\" to our Specialist team (L2), who will look at it as a priority.\n"
        "\n"
        "What happens next: our Specialist team (L2) will review it and respond by "
        "2026-11-24 17:00\n"
        "You can expect to hear from us by 2026-11-24 17:00.\n"
        "\n"
        "Your reference is ESC-0001. If anything changes in the meantime, just reply to this "
        "message.\n"
        "\n"
        "Kind regards,\n"
        "The support team\n"
    )


def test_message_renders_the_internal_template_for_a_pending_escalation(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    setup = make_setup(tmp_path, http, smtp, GOLDEN_ROWS, {})
    before = setup.path.read_bytes()

    # ESC-0006 (blank ID, assigned in the evaluation) must go to L3 for a legal threat.
    code, out, _ = message(setup, "ESC-0006", "--template", "internal")

    assert code == 0
    assert out == (
        "Subject: [L3] High escalation ESC-0006: Bolt Bikes (Shipping)\n"
        "\n"
        "ESCALATION TO L3 (Executive)\n"
        "Urgency: High\n"
        "Customer: Bolt Bikes (555-0100)\n"
        "Issue: Says he will call his lawyer about the delay\n"
        "Steps taken: Tracked parcel\n"
        "Customer sentiment: Angry\n"
        "Triggers: Legal threat\n"
        'Why: Legal threat: "lawyer" in Description\n'
        "Required action: our Executive team (L3) will review it and respond by "
        "2026-11-24 16:00\n"
        "Deadline: 2026-11-24 16:00\n"
        "Previous handler: \n"
    )
    assert setup.path.read_bytes() == before  # message writes nothing


def test_a_templates_row_overrides_the_default(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    setup = make_setup(tmp_path, http, smtp, GOLDEN_ROWS, {})
    set_templates(setup.path, [
        ["customer", "Update on {{ id }}",
         "Hi {{ customer }}, your {{ urgency | lower }} issue is now with {{ level_name }}."],
        ["apology", "", "Sorry, {{ customer }}."],
    ])

    assert message(setup, "ESC-0001") == (
        0, "Subject: Update on ESC-0001\n\nHi Acme Bakery, your medium issue is now with "
        "Specialist.\n", "")
    assert message(setup, "ESC-0001", "--template", "Apology")[1] == (
        "Subject: \n\nSorry, Acme Bakery.\n")
    # The default internal template is still there.
    assert message(setup, "ESC-0001", "--template", "internal")[1].startswith(
        "Subject: [L2] Medium escalation ESC-0001")


def test_an_unknown_placeholder_is_exit_2_naming_it(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    setup = make_setup(tmp_path, http, smtp, GOLDEN_ROWS, {})
    set_templates(setup.path, [["customer", "Re {{ id }}", "Ticket {{ ticket_no }} for {{ customer }}"]])

    code, out, err = message(setup, "ESC-0001")

    assert (code, out) == (2, "")
    assert "Templates: template 'customer' body uses unknown placeholder {{ ticket_no }}" in err
    code, _, err = message(setup, "ESC-0001", "--template", "nope")
    assert code == 2 and "no template named 'nope' (available: customer, internal)" in err


def test_templates_run_sandboxed_and_row_text_is_never_a_template(
    tmp_path: Path, http: Recorder, smtp: Smtp
) -> None:
    rows = [complete_row("ESC-0030", dt.datetime(2026, 11, 24, 14, 0),
                         description="{{ 7*7 }} {% for x in range(3) %}boom{% endfor %}")]
    setup = make_setup(tmp_path, http, smtp, rows, {})
    set_templates(setup.path, [["escape", "x", "{{ ''.__class__.__mro__[1].__subclasses__() }}"]])

    code, out, _ = message(setup, "ESC-0030", "--template", "internal")
    assert code == 0
    assert "Issue: {{ 7*7 }} {% for x in range(3) %}boom{% endfor %}\n" in out
    code, out, err = message(setup, "ESC-0030", "--template", "escape")
    assert (code, out) == (2, "")
    assert "not allowed" in err and "__subclasses__" not in out
