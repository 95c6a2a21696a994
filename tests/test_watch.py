"""The watched job: dead-man's-switch pings, run records and `status`, the run log."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sheets_escalation.adapters.config import LogConfig, load_config
from sheets_escalation.adapters.monitor import RunRecord, append_log, read_runs
from sheets_escalation.adapters.sources import open_source, source_id, source_identity
from sheets_escalation.core.errors import ConfigError
from tests.fixtures import GOLDEN_NOW, run, write_golden
from tests.servers import Pings, ping_server

UUID = "6f1c2a4e-9b7d-4e0a-8c3f-1d2e3f4a5b6c"


@pytest.fixture
def pings() -> Iterator[Pings]:
    with ping_server() as server:
        yield server


def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    monkeypatch.setenv("SHEETS_ESCALATION_CONFIG", str(path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return path


def monitored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pings: Pings,
              timeout: float = 2, allow: str | None = None) -> str:
    url = f"{pings.base}/ping/{UUID}"
    pattern = allow if allow is not None else f"webhook:{pings.base}/ping/*"
    configure(tmp_path, monkeypatch, f'[notify]\nallow = ["{pattern}"]\n\n'
              f'[monitor]\nping_url = "{url}"\ntimeout = {timeout}\n')
    return url




def test_a_sync_pings_start_then_success_with_a_summary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pings: Pings) -> None:
    monitored(tmp_path, monkeypatch, pings)
    path = write_golden(tmp_path / "log.xlsx")
    code, _, err = run("sync", str(path), "--now", GOLDEN_NOW, "--quiet")
    assert (code, err) == (0, "")
    assert [p for p, _ in pings.received] == [f"/ping/{UUID}/start", f"/ping/{UUID}"]
    assert pings.received[0][1] == ""
    assert pings.received[1][1] == (
        "exit 0: " + str(path) + ": 5 rows; flags ESCALATION OVERDUE 1, CHECK INPUT 1, OK 2, "
        "RESOLVED 1; 1 escalated; " + pings.received[1][1].split("escalated; ")[1])
    assert "cells written" in pings.received[1][1]


def test_a_failed_sync_pings_fail_with_the_exit_code_and_the_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pings: Pings) -> None:
    monitored(tmp_path, monkeypatch, pings)
    code, _, err = run("sync", str(tmp_path / "missing.xlsx"), "--quiet")
    assert code == 1
    assert [p for p, _ in pings.received] == [f"/ping/{UUID}/start", f"/ping/{UUID}/fail"]
    body = pings.received[1][1]
    assert body.startswith("exit 1: ")
    assert body[len("exit 1: "):] in err


def test_a_policy_error_pings_fail_with_exit_2_naming_the_cell(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pings: Pings) -> None:
    import openpyxl

    monitored(tmp_path, monkeypatch, pings)
    path = write_golden(tmp_path / "log.xlsx")
    book = openpyxl.load_workbook(path)
    book["Settings"]["B2"] = "Mars/Olympus"
    book.save(path)
    code, _, _ = run("sync", str(path), "--now", GOLDEN_NOW, "--quiet")
    assert code == 2
    assert pings.received[-1][0] == f"/ping/{UUID}/fail"
    assert pings.received[-1][1].startswith(
        "exit 2: the workbook's policy or headers need fixing: Settings!B2: Timezone")


def test_a_monitor_that_does_not_answer_never_fails_the_sync(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pings: Pings) -> None:
    url = monitored(tmp_path, monkeypatch, pings, timeout=0.3)
    pings.hang = {f"/ping/{UUID}/start", f"/ping/{UUID}"}
    path = write_golden(tmp_path / "log.xlsx")
    started = time.monotonic()
    code, _, err = run("sync", str(path), "--now", GOLDEN_NOW, "--quiet")
    assert code == 0
    assert time.monotonic() - started < pings.hang_seconds
    assert err.count("(cannot connect or timed out); the sync itself is unaffected") == 2
    assert url not in err and UUID not in err
    assert "127.0.0.1:" in err and "/…/" in err  # masked: host and the last characters only


def test_a_monitor_answering_an_error_is_a_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pings: Pings) -> None:
    monitored(tmp_path, monkeypatch, pings)
    pings.status = 500
    path = write_golden(tmp_path / "log.xlsx")
    code, _, err = run("sync", str(path), "--now", GOLDEN_NOW, "--quiet")
    assert code == 0
    assert err.count("HTTP 500; the sync itself is unaffected") == 2


def test_a_ping_url_outside_the_allowlist_is_never_pinged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pings: Pings) -> None:
    url = monitored(tmp_path, monkeypatch, pings, allow="webhook:https://hc-ping.com/*")
    path = write_golden(tmp_path / "log.xlsx")
    code, _, err = run("sync", str(path), "--now", GOLDEN_NOW, "--quiet")
    assert code == 0
    assert pings.received == []
    assert "is not in the [notify] allow list" in err
    assert url not in err


def test_a_dry_run_pings_and_records_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pings: Pings) -> None:
    monitored(tmp_path, monkeypatch, pings)
    path = write_golden(tmp_path / "log.xlsx")
    code, _, _ = run("sync", str(path), "--now", GOLDEN_NOW, "--dry-run", "--quiet")
    assert code == 0
    assert pings.received == []
    assert not (tmp_path / "state").exists()


def test_the_ping_url_is_a_secret_hidden_from_repr_and_scrubbed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pings: Pings) -> None:
    url = monitored(tmp_path, monkeypatch, pings)
    config = load_config(None, {"SHEETS_ESCALATION_CONFIG": str(tmp_path / "config.toml")})
    assert url in config.secrets()
    assert url not in repr(config)


def test_monitor_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"\[monitor\] timeout must be at most 10"):
        load_config(_file('[monitor]\nping_url = "https://hc-ping.com/x"\ntimeout = 30\n'), {})
    with pytest.raises(ConfigError, match=r"\[log\] backups must be a whole number"):
        load_config(_file('[log]\nfile = "x.log"\nbackups = -1\n'), {})
    with pytest.raises(ConfigError, match=r"\[monitor\] unknown key 'url'"):
        load_config(_file('[monitor]\nurl = "https://hc-ping.com/x"\n'), {})


_FILES: list[Path] = []


def _file(text: str) -> Path:
    import tempfile

    handle = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False, encoding="utf-8")
    handle.write(text)
    handle.close()
    _FILES.append(Path(handle.name))
    return Path(handle.name)


@pytest.fixture(autouse=True)
def _remove_files() -> Iterator[None]:
    yield
    while _FILES:
        _FILES.pop().unlink(missing_ok=True)


# -- status ---------------------------------------------------------------------------------


def _status(path: Path, *extra: str) -> tuple[int, str, str]:
    return run("status", str(path), *extra)


def _in(minutes: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).isoformat()


def test_status_after_a_good_run_is_ok_and_shows_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(tmp_path, monkeypatch, "")
    path = write_golden(tmp_path / "log.xlsx")
    assert run("sync", str(path), "--now", GOLDEN_NOW, "--quiet")[0] == 0
    code, out, _ = _status(path, "--now", _in(30))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"{path}: OK"
    assert lines[1].startswith("last run: ") and "(30 min ago), exit 0," in lines[1]
    assert lines[2] == "recent runs (newest first):"
    assert "exit 0: " in lines[3]
    assert lines[4].startswith("open rows by flag (run of ")
    assert lines[4].endswith("): ESCALATION OVERDUE 1, CHECK INPUT 1, OK 2")
    assert lines[5] == "notifications pending retry: 0"


def test_status_exits_1_when_the_last_run_is_stale(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(tmp_path, monkeypatch, "")
    path = write_golden(tmp_path / "log.xlsx")
    run("sync", str(path), "--now", GOLDEN_NOW, "--quiet")
    code, out, _ = _status(path, "--now", _in(180))
    assert code == 1
    assert out.splitlines()[0] == (f"{path}: ATTENTION: no run for 3 h (stale after 2 h): "
                                   "the hourly sync has stopped")
    assert _status(path, "--now", _in(180), "--stale-after", "4 hours")[0] == 0
    assert _status(path, "--now", _in(100), "--stale-after", "90 minutes")[0] == 1


def test_status_exits_1_when_the_last_run_failed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(tmp_path, monkeypatch, "")
    path = write_golden(tmp_path / "log.xlsx")
    run("sync", str(path), "--now", GOLDEN_NOW, "--quiet")
    moved = path.rename(tmp_path / "elsewhere.xlsx")
    code, _, err = run("sync", str(path), "--quiet")
    assert code == 1
    code, out, _ = _status(path)
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith(f"{path}: ATTENTION: the last run failed: exit 1: ")
    assert first.split("exit 1: ", 1)[1] in err
    # The open rows still come from the last run that succeeded.
    assert "): ESCALATION OVERDUE 1, CHECK INPUT 1, OK 2" in out
    moved.rename(path)
    run("sync", str(path), "--now", GOLDEN_NOW, "--quiet")
    assert _status(path)[0] == 0


def test_status_without_any_run_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(tmp_path, monkeypatch, "")
    code, out, _ = _status(tmp_path / "log.xlsx")
    assert (code, out) == (1, f"{tmp_path / 'log.xlsx'}: ATTENTION: no run recorded on this "
                              "machine\n")


def test_status_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(tmp_path, monkeypatch, "")
    path = write_golden(tmp_path / "log.xlsx")
    run("sync", str(path), "--now", GOLDEN_NOW, "--quiet")
    code, out, _ = _status(path, "--json", "--now", _in(150))
    assert code == 1
    data = json.loads(out)
    assert data["healthy"] is False
    assert data["problem"].startswith("no run for 2 h")
    assert 150 * 60 - 5 <= data["age_seconds"] <= 150 * 60 + 5
    assert data["stale_after_seconds"] == 7200
    assert data["open_rows_by_flag"] == {"ESCALATION OVERDUE": 1, "CHECK INPUT": 1, "OK": 2}
    assert data["pending_retry"] == []
    assert [r["exit_code"] for r in data["runs"]] == [0]
    assert set(data["runs"][0]) == {"at", "source", "exit_code", "duration_seconds", "counts",
                                    "flags", "pending_retry", "error", "warnings"}


def test_status_refuses_business_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(tmp_path, monkeypatch, "")
    code, _, err = _status(tmp_path / "log.xlsx", "--stale-after", "2 business hours")
    assert code == 2
    assert "use minutes, hours or days" in err


def test_status_finds_the_runs_of_the_same_workbook_as_sync(tmp_path: Path) -> None:
    path = tmp_path / "log.xlsx"
    assert source_identity(str(path)) == source_id(open_source(str(path)))
    key = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdEfGh"
    assert source_identity(f"https://docs.google.com/spreadsheets/d/{key}/edit") == key


def test_records_keep_the_last_runs_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sheets_escalation.adapters.monitor import KEEP_RUNS, record_run

    runs = tmp_path / "runs.jsonl"
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    for hour in range(2 * KEEP_RUNS + 1):
        record_run(runs, RunRecord(start + dt.timedelta(hours=hour), "x", 0, 1.0))
    kept = read_runs(runs)
    assert len(kept) == KEEP_RUNS
    assert kept[-1].at == start + dt.timedelta(hours=2 * KEEP_RUNS)


# -- the run log ----------------------------------------------------------------------------


def test_log_file_gets_one_json_line_per_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(tmp_path, monkeypatch, "")
    path = write_golden(tmp_path / "log.xlsx")
    log = tmp_path / "logs" / "sync.log"
    assert run("sync", str(path), "--now", GOLDEN_NOW, "--quiet", "--log-file", str(log))[0] == 0
    assert run("sync", str(tmp_path / "nope.xlsx"), "--quiet", "--log-file", str(log))[0] == 1
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [(r["source"], r["exit_code"]) for r in lines] == [
        (str(path), 0), (str(tmp_path / "nope.xlsx"), 1)]
    first = lines[0]
    assert first["counts"]["rows"] == 5 and first["counts"]["escalated"] == 1
    assert first["counts"]["cells_written"] > 0
    assert first["flags"] == {"ESCALATION OVERDUE": 1, "CHECK INPUT": 1, "OK": 2, "RESOLVED": 1}
    assert first["error"] == "" and first["duration_seconds"] > 0
    assert dt.datetime.fromisoformat(first["at"]).tzinfo is not None
    assert lines[1]["error"] and lines[1]["counts"] == {}


def test_log_file_from_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "sync.log"
    configure(tmp_path, monkeypatch, f'[log]\nfile = "{log}"\n')
    path = write_golden(tmp_path / "log.xlsx")
    run("sync", str(path), "--now", GOLDEN_NOW, "--quiet")
    assert len(log.read_text(encoding="utf-8").splitlines()) == 1


def test_log_file_is_rotated_by_size(tmp_path: Path) -> None:
    log = LogConfig(tmp_path / "sync.log", max_bytes=1_000, backups=2)
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    records = [RunRecord(start + dt.timedelta(hours=h), "x.xlsx", 0, 1.5,
                         warnings=["w" * 200]) for h in range(12)]
    for record in records:
        append_log(log, record)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["sync.log", "sync.log.1", "sync.log.2"]
    sizes = [(tmp_path / name).stat().st_size for name in files]
    assert all(size <= 1_000 for size in sizes)
    # Oldest in .2, newest last in the live file; nothing torn, the oldest ones dropped.
    read = [RunRecord.from_json(line) for name in reversed(files)
            for line in (tmp_path / name).read_text(encoding="utf-8").splitlines()]
    assert [r.at for r in read if r] == [r.at for r in records[-len(read):]]
    assert len(read) < len(records)


def test_the_run_summary_counts_in_words_people_read() -> None:
    from sheets_escalation.adapters.monitor import RunRecord

    record = RunRecord(dt.datetime(2026, 12, 4, 14, tzinfo=dt.UTC), "log.xlsx", 0, 1.0,
                       counts={"rows": 1, "escalated": 0, "cells_written": 1},
                       flags={"OK": 1}, pending_retry=["ESC-0001/L2 webhook"])
    assert record.summary() == ("exit 0: log.xlsx: 1 row; flags OK 1; 0 escalated; "
                                "1 cell written; 1 notification pending retry")
