"""The benchmark table: ``python -m benchmarks.run --sizes 1000,10000,100000``.

Every measure is one function returning rows of the table; every time is compared with a
baseline measured in the same run on the same data, so the ratio means something on any
machine. A measure whose code is missing prints "not measured (reason)", never a figure.
A time over its target never fails the run (exit 0); exit 1 only if a measured code path
raised (the table is still printed, with the error in place of the figure).

Workbooks come from :mod:`benchmarks.generate` (seed ``--seed``, history ending at the
sample's ``SAMPLE_NOW``), and every sync evaluates at that same instant.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks import generate, sheets_process
from sheets_escalation.core import schema

NOW = generate.DEFAULT_NOW
API_FIRST_SYNC_LIMIT = 5
API_RERUN_REQUESTS = 4
GOOGLE_MEMORY_LIMIT_MB = 1536
# Google's ceiling at this width: a spreadsheet holds at most 10,000,000 cells, and a first
# sync of 37-column rows in a sheet laid out by `init --sheet` (six small tabs of 1,000 x 26)
# grows History to ~3.7% of the rows plus 500 rows of headroom (26 columns): 255,000 rows
# come to ~9.85 million cells after it, 260,000 to more than the limit, which the fake
# Sheets API enforces as Google does. The Google measure runs at the largest size, capped here.
GOOGLE_CEILING_ROWS = 255_000
ENGINE_LIMIT = 3.0
XLSX_SYNC_LIMIT = 1.3
XLSX_SYNC_ROWS = 10_000
MEMORY_LIMIT_MB = 600
MEMORY_ROWS = 100_000
# Above MEMORY_ROWS (Google's ceiling of 10 million cells is ~270,000 rows at this width).
LARGE_MEMORY_LIMIT_MB = 1200
# The hourly rerun of an unchanged .xlsx against its floor: calamine reading every tab of
# the file plus copying the file, measured in the same run.
RERUN_FLOOR_LIMIT = 2.5
# A growth line compares one timed run at each size; this much over linear is the spread
# between runs of the same code here, not growth.
GROWTH_SPREAD = 1.05
SHEET_KEY = sheets_process.SHEET_KEY


@dataclass
class Line:
    """One row of the table."""

    measure: str
    rows: str
    figure: str
    baseline: str = ""
    ratio: str = ""
    verdict: str = ""


@dataclass
class Context:
    sizes: list[int]
    seed: int
    workdir: Path
    files: dict[int, Path] = field(default_factory=dict)
    failed: bool = False
    started: float = field(default_factory=time.perf_counter)
    # Seconds of each .xlsx sync child by (run, rows), for the sync's growth lines.
    sync_seconds: dict[tuple[str, int], float] = field(default_factory=dict)
    # The hourly rerun's floor by rows (calamine reading every tab + copying the file).
    floor_seconds: dict[int, float] = field(default_factory=dict)

    def progress(self, message: str) -> None:
        """Say on stderr what is being measured: a 100,000-row run takes minutes."""
        print(f"[{time.perf_counter() - self.started:6.0f} s] {message}", file=sys.stderr, flush=True)

    def workbook(self, rows: int) -> Path:
        """Return a generated workbook of ``rows`` rows (written once, then copied from)."""
        if rows not in self.files:
            self.progress(f"generating a {rows:,}-row workbook")
            path = self.workdir / f"generated-{rows}.xlsx"
            generate.write_workbook(path, rows, self.seed, NOW)
            self.files[rows] = path
        return self.files[rows]

    def copy(self, rows: int, name: str) -> Path:
        target = self.workdir / f"{name}-{rows}.xlsx"
        shutil.copyfile(self.workbook(rows), target)
        return target


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _verdict(ok: bool) -> str:
    return "ok" if ok else "OVER"


def _not_measured(measure: str, rows: str, reason: str) -> Line:
    return Line(measure, rows, f"not measured ({reason})")


def _missing(*modules: str) -> str | None:
    """Return why the code under test is missing, or None when every module imports."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as error:
            return f"{name} is not importable: {error}"
    return None


def _best(repeat: int, action: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


# --------------------------------------------------------------------------- Sheets API


def measure_api_requests(ctx: Context) -> list[Line]:
    """Sheets API requests of a first sync at 10 rows (fake Sheets API, in this process);
    then, at the largest size, the first sync and the rerun on the unchanged sheet through
    the real client in a fresh process against the fake served from another
    (:mod:`benchmarks.sheets_process`): requests, what the rerun writes, the client's peak
    memory and its time apart from the fake's."""
    name = "Sheets API requests per sync"
    reason = _missing("tests.support.fake_sheets", "sheets_escalation.adapters.gsheets.backend",
                      "sheets_escalation.jobs.sync")
    if reason:
        return [_not_measured(name, "10 / largest", reason),
                _not_measured("cells written by a rerun", "largest", reason)]
    import pandas as pd

    from sheets_escalation.adapters.gsheets.backend import GoogleSheetsBackend
    from sheets_escalation.adapters.gsheets.http import client_with_session
    from sheets_escalation.jobs.sync import run_sync

    lines: list[Line] = []
    if max(ctx.sizes) != 10:
        ctx.progress("sync against the fake Sheets API, 10 rows")
        fake = sheets_process.fake_sheet(10, ctx.seed)
        backend = GoogleSheetsBackend(SHEET_KEY, client_with_session(fake.session()),
                                      lock_dir=ctx.workdir / "locks")
        run_sync(backend, pd.Timestamp(NOW))
        calls = [{"kind": call.kind, "bytes": len(json.dumps(call.body, separators=(",", ":")))
                  if call.body else 0} for call in fake.log]
        lines.append(_requests_line(f"{name}, first sync", 10, calls))
    return lines + _google_at_scale(ctx, min(max(ctx.sizes), GOOGLE_CEILING_ROWS))


def _requests_line(measure: str, rows: int, calls: Sequence[dict[str, Any]]) -> Line:
    largest = max((call["bytes"] for call in calls), default=0)
    return Line(measure, f"{rows:,}",
                f"{len(calls)} ({', '.join(call['kind'] for call in calls)}); largest body "
                f"{largest / 2**20:.1f} MiB", f"<= {API_FIRST_SYNC_LIMIT}",
                f"{len(calls) / API_FIRST_SYNC_LIMIT:.2f}",
                _verdict(len(calls) <= API_FIRST_SYNC_LIMIT))


_CHILD_GOOGLE = "from benchmarks.sheets_process import client_main; raise SystemExit(client_main())"


def _google_at_scale(ctx: Context, rows: int) -> list[Line]:
    """First sync and rerun of ``rows`` rows, each in a fresh client process, against the
    fake Sheets API in a process of its own."""
    ctx.progress(f"fake Sheets API holding {rows:,} rows, in a process of its own")
    with sheets_process.served(ctx.workdir, rows, ctx.seed) as (address, authkey):
        ctx.progress(f"first sync against the fake Sheets API, {rows:,} rows (fresh process)")
        first = _child(_CHILD_GOOGLE, address, authkey.hex(), str(ctx.workdir / "locks"))
        ctx.progress(f"rerun against the fake Sheets API, {rows:,} rows (fresh process)")
        rerun = _child(_CHILD_GOOGLE, address, authkey.hex(), str(ctx.workdir / "locks"))
    label = f"{rows:,}" + (" (Google's ceiling)" if rows == GOOGLE_CEILING_ROWS else "")
    lines = [_requests_line("Sheets API requests per sync, first sync", rows, first["requests"])]
    lines[0].rows = label
    calls = rerun["requests"]
    ranges = [written for call in calls for written in call["ranges"]]
    lines.append(Line("Sheets API requests per sync, rerun (unchanged sheet)", label,
                      f"{len(calls)} ({', '.join(call['kind'] for call in calls)})",
                      f"{API_RERUN_REQUESTS}", f"{len(calls) / API_RERUN_REQUESTS:.2f}",
                      _verdict(len(calls) <= API_RERUN_REQUESTS)))
    lines.append(Line("cells written by a rerun (unchanged sheet, Sheets)", label,
                      f"{len(ranges)} range(s) in {len(calls)} requests; {rerun['changes']}",
                      "<= 1 range (Last run)", f"{len(ranges):.2f}", _verdict(len(ranges) <= 1)))
    for what, run in (("first sync", first), ("rerun", rerun)):
        peak = run["peak_mib"]
        lines.append(Line(f"peak memory of the Google sync client (child peak RSS), {what}",
                          label, f"{peak:.0f} MB", f"<= {GOOGLE_MEMORY_LIMIT_MB:,} MB",
                          f"{peak / GOOGLE_MEMORY_LIMIT_MB:.2f}",
                          _verdict(peak <= GOOGLE_MEMORY_LIMIT_MB)))
    for what, run in (("first sync", first), ("rerun", rerun)):
        client = run["seconds"] - run["fake_seconds"]
        lines.append(Line(f"  Google sync time, {what}: the client's (no target)", label,
                          f"{_seconds(client)} (sync {_seconds(run['seconds'])} - fake "
                          f"{_seconds(run['fake_seconds'])}; passing bodies between "
                          f"processes {_seconds(run['transport_seconds'])} of it)",
                          f"fake's handling {_seconds(run['fake_seconds'])}",
                          f"{client / run['seconds']:.2f} of the sync", ""))
    return lines


def _tail(value: Any, width: int = 32) -> str:
    # Rewritten cells usually differ at the end (a list of IDs grew), so show the end.
    text = str(value)
    return repr(text if len(text) <= width else "..." + text[-width:])


def describe_changes(changes: Sequence[Any]) -> str:
    """Given a sync report's changes, return which columns changed, with one example."""
    if not changes:
        return "no cell changes besides Last run"
    counts = Counter(change.header for change in changes)
    by_column = ", ".join(f"{header} x{count}" for header, count in counts.most_common())
    first = changes[0]
    return (f"{by_column} (e.g. row {first.sheet_row} {first.header}: "
            f"{_tail(first.old)} -> {_tail(first.new)})")


def ranges_written(log: Sequence[Any]) -> list[str]:
    """Return the A1 ranges the logged requests wrote (values updates and appends)."""
    written: list[str] = []
    for call in log:
        if call.kind == "values.batchUpdate":
            written.extend(str(item.get("range")) for item in call.body.get("data", []))
        elif call.kind in ("values.update", "values.append"):
            written.append(call.path.rsplit("/", 1)[-1])
        elif call.kind == "batchUpdate":
            written.extend(next(iter(r)) for r in call.body.get("requests", []))
    return written


# --------------------------------------------------------------------------- engine


def measure_engine(ctx: Context) -> list[Line]:
    """The engine (evaluate the policy on an already-read table) against pandas building
    a DataFrame from the same raw cell values, at every size; the read before it
    (read_log: raw cells to the typed table) reported beside it; then how each grows."""
    name = "engine time (evaluate on the read table)"
    reason = _missing("sheets_escalation.core.engine", "sheets_escalation.core.log",
                      "sheets_escalation.core.policy")
    if reason:
        return [_not_measured(name, "all", reason)]
    import pandas as pd

    from sheets_escalation.core import engine, policy
    from sheets_escalation.core.events import read_events
    from sheets_escalation.core.log import read_log
    from sheets_escalation.core.table import Table

    tables = {title: Table(title, body) for title, body in generate.side_tabs(ctx.seed).items()}
    loaded = policy.load_policy(tables)
    history = read_events(tables.get(schema.HISTORY), loaded.timezone)
    now = pd.Timestamp(NOW)
    lines: list[Line] = []
    stages: dict[str, dict[int, float]] = {"read_log": {}, "evaluate": {}}
    for rows in ctx.sizes:
        ctx.progress(f"engine, {rows:,} rows")
        raw = generate.generate_rows(rows, ctx.seed, NOW)
        table = Table(schema.ESCALATIONS, raw)
        log = read_log(table, loaded).log
        # Best of three each: one slow pass (a page fault, a neighbour) says nothing.
        read = _best(3, partial(read_log, table, loaded))
        evaluated = _best(3, partial(engine.evaluate, log, loaded, now, history))

        def baseline(raw: list[list[Any]] = raw) -> None:
            pd.DataFrame(raw[1:], columns=raw[0])

        base = _best(3, baseline)
        stages["read_log"][rows], stages["evaluate"][rows] = read, evaluated
        largest = rows == max(ctx.sizes)
        lines.append(Line(name, f"{rows:,}", _seconds(evaluated), f"pandas DataFrame {_seconds(base)}",
                          f"{evaluated / base:.2f}x",
                          (_verdict(evaluated <= ENGINE_LIMIT * base)
                           + f" (target <= {ENGINE_LIMIT:g}x)") if largest
                          else "(target at largest size only)"))
        lines.append(Line("  read_log before it (raw cells -> typed table; no target)",
                          f"{rows:,}", f"{_seconds(read)}; read_log + evaluate "
                          f"{_seconds(read + evaluated)} = {(read + evaluated) / base:.2f}x",
                          f"pandas DataFrame {_seconds(base)}", f"{read / base:.2f}x", ""))
        if largest:
            rerun = _best(3, partial(engine.evaluate, *_hourly_rerun(log, loaded, now, history)))
            lines.append(Line("  evaluate on the hourly rerun (History + columns of a first run)",
                              f"{rows:,}", _seconds(rerun), f"pandas DataFrame {_seconds(base)}",
                              f"{rerun / base:.2f}x",
                              _verdict(rerun <= ENGINE_LIMIT * base)
                              + f" (target <= {ENGINE_LIMIT:g}x)"))
    small, large = min(ctx.sizes), max(ctx.sizes)
    if large > small:
        for stage, timings in stages.items():
            growth = timings[large] / timings[small]
            share = growth / (large / small)
            lines.append(Line(f"engine growth {small:,} -> {large:,} rows: {stage}", "",
                              f"x{growth:.1f}", f"rows x{large / small:g}",
                              f"{share:.2f} of linear",
                              _growth_verdict(share)))
    return lines


def _hourly_rerun(log: Any, loaded: Any, now: Any, history: Any) -> tuple[Any, ...]:
    """Return evaluate's arguments for the next hourly run after a first one at ``now``:
    the log with the columns a sync writes back (ID, Level, Escalated at) and the History
    holding the first run's events, read back as a sync would find them."""
    from sheets_escalation.core import engine
    from sheets_escalation.core.events import history_rows, read_events
    from sheets_escalation.core.table import Table

    first = engine.evaluate(log, loaded, now, history)
    rows = history_rows(first.events, loaded.timezone)
    recorded = read_events(Table(schema.HISTORY, [list(schema.HISTORY_HEADERS), *rows]),
                           loaded.timezone)
    written = log.assign(id=first.result["id"], level=first.result["level"],
                         escalated_at=first.result["escalated_at"])
    return written, loaded, now, recorded


# --------------------------------------------------------------------------- xlsx sync


def peak_rss_mib() -> float:
    """Return this process's peak resident set size in MiB.

    On Linux this is VmHWM from /proc/self/status: getrusage's ru_maxrss (RUSAGE_SELF in the
    child as well as RUSAGE_CHILDREN in the parent) keeps the high-water mark of the
    process that forked the child, so a child of a big benchmark process would report the
    parent's size. Elsewhere, ru_maxrss it is (KiB on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


_CHILD_SYNC = """
import json, sys, time
import pandas as pd
from pathlib import Path
from benchmarks.run import NOW, describe_changes, peak_rss_mib
from sheets_escalation.adapters.xlsx.backend import XlsxBackend
from sheets_escalation.jobs.sync import run_sync
start = time.perf_counter()
report = run_sync(XlsxBackend(Path(sys.argv[1])), pd.Timestamp(NOW))
took = time.perf_counter() - start
print(json.dumps({"seconds": took, "peak_mib": peak_rss_mib(), "cells": len(report.plan.cells),
                  "appended": sum(len(v) for v in report.plan.appends.values()),
                  "changes": describe_changes(report.changes)}))
"""

_CHILD_OPENPYXL = """
import json, sys, time
from openpyxl import load_workbook
from benchmarks.run import peak_rss_mib
start = time.perf_counter()
workbook = load_workbook(sys.argv[1])
workbook.save(sys.argv[2])
took = time.perf_counter() - start
print(json.dumps({"seconds": took, "peak_mib": peak_rss_mib()}))
"""


def _child(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter and return the JSON it prints last."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          check=False, cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip()
                           else f"child exited {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _sync_rows(ctx: Context, target: int) -> int:
    """The size a fixed-size measure runs at: ``target`` if reached, else the largest."""
    return target if max(ctx.sizes) >= target else max(ctx.sizes)


def measure_xlsx_sync(ctx: Context) -> list[Line]:
    """First sync of a local .xlsx (fresh process) against openpyxl loading and saving the
    same file (fresh process), at 10,000 rows (or the largest size if smaller); then a
    rerun on the synced file, which should write only the Last run stamp."""
    name = "local .xlsx sync (first run)"
    rows = _sync_rows(ctx, XLSX_SYNC_ROWS)
    reason = _missing("sheets_escalation.adapters.xlsx.backend", "sheets_escalation.jobs.sync")
    if reason:
        return [_not_measured(name, f"{rows:,}", reason)]
    path = ctx.copy(rows, "xlsx-sync")
    ctx.progress(f"local .xlsx sync, first run and rerun, {rows:,} rows")
    base = _child(_CHILD_OPENPYXL, str(ctx.copy(rows, "openpyxl")),
                  str(ctx.workdir / f"openpyxl-saved-{rows}.xlsx"))
    first = _child(_CHILD_SYNC, str(path))
    # The hourly case: a rerun on the synced file, against openpyxl on that same file (it
    # now holds the tool's columns too, so it is larger than the one first synced).
    synced = ctx.workdir / f"openpyxl-synced-{rows}.xlsx"
    shutil.copyfile(path, synced)
    rerun_base = _child(_CHILD_OPENPYXL, str(synced),
                        str(ctx.workdir / f"openpyxl-synced-saved-{rows}.xlsx"))
    rerun = _child(_CHILD_SYNC, str(path))
    ctx.sync_seconds[("first sync", rows)] = first["seconds"]
    ctx.sync_seconds[("rerun", rows)] = rerun["seconds"]
    small = min(ctx.sizes)
    if small < rows:
        ctx.progress(f"local .xlsx sync, first run and rerun, {small:,} rows (for growth)")
        small_path = ctx.copy(small, "xlsx-sync")
        ctx.sync_seconds[("first sync", small)] = _child(_CHILD_SYNC, str(small_path))["seconds"]
        ctx.sync_seconds[("rerun", small)] = _child(_CHILD_SYNC, str(small_path))["seconds"]
    ratio = first["seconds"] / base["seconds"]
    rerun_ratio = rerun["seconds"] / rerun_base["seconds"]
    label = f"{rows:,}" + ("" if rows == XLSX_SYNC_ROWS else f" (target size {XLSX_SYNC_ROWS:,})")
    return [
        Line(name, label, _seconds(first["seconds"]),
             f"openpyxl load+save {_seconds(base['seconds'])}", f"{ratio:.2f}x",
             _verdict(ratio <= XLSX_SYNC_LIMIT) + f" (target <= {XLSX_SYNC_LIMIT:g}x)"),
        Line("local .xlsx sync (rerun, unchanged)", label, _seconds(rerun["seconds"]),
             f"openpyxl load+save of the synced file {_seconds(rerun_base['seconds'])}",
             f"{rerun_ratio:.2f}x",
             _verdict(rerun_ratio <= XLSX_SYNC_LIMIT) + f" (target <= {XLSX_SYNC_LIMIT:g}x)"),
        Line("cells written by a rerun (unchanged sheet, .xlsx)", label,
             f"{rerun['cells']} cell(s), {rerun['appended']} appended row(s): {rerun['changes']}",
             "<= 1 range (Last run)", f"{rerun['cells'] + rerun['appended']:.2f}",
             _verdict(rerun["cells"] + rerun["appended"] <= 1)),
    ]


_CHILD_FLOOR = """
import json, shutil, sys, time
import python_calamine
from benchmarks.run import peak_rss_mib
start = time.perf_counter()
with open(sys.argv[1], "rb") as stream:
    workbook = python_calamine.CalamineWorkbook.from_filelike(stream)
    for title in workbook.sheet_names:
        list(workbook.get_sheet_by_name(title).iter_rows())
    workbook.close()
shutil.copyfile(sys.argv[1], sys.argv[2])
took = time.perf_counter() - start
print(json.dumps({"seconds": took, "peak_mib": peak_rss_mib()}))
"""


def _memory_limit(rows: int) -> int:
    return MEMORY_LIMIT_MB if rows <= MEMORY_ROWS else LARGE_MEMORY_LIMIT_MB


def measure_memory(ctx: Context) -> list[Line]:
    """Peak memory of a sync at the largest size (and at 100,000 rows too when larger,
    for the growth): the peak resident set size of a fresh child process that only runs
    the sync (see :func:`peak_rss_mib`); openpyxl load+save of the 100,000-row file (or
    the largest if smaller) for scale. At the largest size, the hourly rerun of the
    unchanged file against its floor: calamine reading every tab plus copying the file."""
    name = "peak memory of sync (child peak RSS)"
    largest = max(ctx.sizes)
    sizes = sorted({_sync_rows(ctx, MEMORY_ROWS), largest})
    reason = _missing("sheets_escalation.adapters.xlsx.backend", "sheets_escalation.jobs.sync")
    if reason:
        return [_not_measured(name, f"{largest:,}", reason)]
    lines: list[Line] = []
    peaks: dict[tuple[str, int], float] = {}
    base_rows = sizes[0]
    ctx.progress(f"openpyxl load+save, {base_rows:,} rows (memory for scale)")
    base = _child(_CHILD_OPENPYXL, str(ctx.copy(base_rows, "memory-openpyxl")),
                  str(ctx.workdir / f"memory-openpyxl-saved-{base_rows}.xlsx"))
    for rows in sizes:
        memory_copy = ctx.copy(rows, "memory")
        ctx.progress(f"peak memory of a sync, first sync and rerun, {rows:,} rows")
        sync = _child(_CHILD_SYNC, str(memory_copy))
        # The hourly case: the synced file is larger (it holds the tool's columns now).
        rerun = _child(_CHILD_SYNC, str(memory_copy))
        label = f"{rows:,}" + ("" if rows >= MEMORY_ROWS
                               else f" (target size {MEMORY_ROWS:,})")
        limit = _memory_limit(rows)
        for what, run in (("first sync", sync), ("rerun", rerun)):
            peak = run["peak_mib"]
            ctx.sync_seconds[(what, rows)] = run["seconds"]
            peaks[(what, rows)] = peak
            lines.append(Line(f"{name}, {what}", label,
                              f"{peak:.0f} MB (sync took {_seconds(run['seconds'])})",
                              f"<= {limit} MB; openpyxl load+save {base['peak_mib']:.0f} MB"
                              + ("" if base_rows == rows else f" at {base_rows:,}"),
                              f"{peak / limit:.2f}", _verdict(peak <= limit)))
        if rows == largest or rows >= MEMORY_ROWS:
            lines.append(_rerun_floor(ctx, memory_copy, rows, rerun["seconds"]))
    return lines + _sync_growth(ctx) + _memory_growth(peaks)


def _rerun_floor(ctx: Context, synced: Path, rows: int, first_rerun: float) -> Line:
    """The hourly rerun of the unchanged synced file (best of two fresh processes, the
    memory measure's rerun included) against its floor measured now: calamine reading
    every tab of that file plus copying it (best of two)."""
    ctx.progress(f"hourly rerun against its floor, {rows:,} rows")
    floors, reruns = [], [first_rerun]
    for attempt in range(2):
        floors.append(_child(_CHILD_FLOOR, str(synced),
                             str(ctx.workdir / f"floor-copy-{rows}-{attempt}.xlsx"))["seconds"])
        if attempt == 0:
            reruns.append(_child(_CHILD_SYNC, str(synced))["seconds"])
    rerun, floor = min(reruns), min(floors)
    # The growth lines compare the best reruns, each beside its own floor.
    ctx.sync_seconds[("rerun", rows)] = rerun
    ctx.floor_seconds[rows] = floor
    ratio = rerun / floor
    return Line("hourly rerun of an unchanged .xlsx (fresh process)", f"{rows:,}",
                _seconds(rerun), f"calamine read of every tab + file copy {_seconds(floor)}",
                f"{ratio:.2f}x",
                # Fixed costs (imports aside: policy, calendars) dominate a small file.
                _verdict(ratio <= RERUN_FLOOR_LIMIT) + f" (target <= {RERUN_FLOOR_LIMIT:g}x)"
                if rows >= MEMORY_ROWS else f"(target at {MEMORY_ROWS:,} rows or more)")


def _growth_verdict(share: float) -> str:
    """Given a stage's growth as a share of linear, say whether it is linear or better.
    One timed run at each size: two runs of the same code on this machine gave 0.98 and
    1.01 for the same line, so within GROWTH_SPREAD of linear counts as linear."""
    if share <= 1.0:
        return "linear or better"
    return "linear (within run-to-run spread)" if share <= GROWTH_SPREAD else "WORSE than linear"


def _memory_growth(peaks: dict[tuple[str, int], float]) -> list[Line]:
    """How the peak memory of a sync grows from 100,000 rows to the largest size."""
    lines = []
    for what in ("first sync", "rerun"):
        measured = {rows: peak for (run, rows), peak in peaks.items() if run == what}
        if len(measured) < 2:
            continue
        small, large = min(measured), max(measured)
        growth = measured[large] / measured[small]
        share = growth / (large / small)
        lines.append(Line(f"memory growth {small:,} -> {large:,} rows: .xlsx {what}", "",
                          f"x{growth:.2f} ({measured[small]:.0f} MB -> {measured[large]:.0f} MB)",
                          f"rows x{large / small:.2f}", f"{share:.2f} of linear",
                          _growth_verdict(share)))
    return lines


def _sync_growth(ctx: Context) -> list[Line]:
    """How the .xlsx sync's time grows from the smallest to the largest size synced."""
    lines = []
    for what in ("first sync", "rerun"):
        timed = {rows: seconds for (run, rows), seconds in ctx.sync_seconds.items()
                 if run == what}
        if len(timed) < 2:
            continue
        large = max(timed)
        # From the smallest size and, when larger sizes ran, from 100,000 rows too.
        for small in sorted({min(timed), *(r for r in timed if r == MEMORY_ROWS)}):
            if small >= large:
                continue
            growth = timed[large] / timed[small]
            share = growth / (large / small)
            lines.append(Line(f"sync growth {small:,} -> {large:,} rows: .xlsx {what}", "",
                              f"x{growth:.1f} ({_seconds(timed[small])} -> "
                              f"{_seconds(timed[large])})",
                              f"rows x{large / small:.3g}", f"{share:.2f} of linear",
                              _growth_verdict(share)))
            floors = ctx.floor_seconds
            if what == "rerun" and small in floors and large in floors:
                # What the rerun starts from: calamine reading the file, and copying it.
                floor_growth = floors[large] / floors[small]
                lines.append(Line(f"  its floor's growth {small:,} -> {large:,} rows (no target)",
                                  "", f"x{floor_growth:.1f} ({_seconds(floors[small])} -> "
                                  f"{_seconds(floors[large])})", f"rows x{large / small:.3g}",
                                  f"{floor_growth / (large / small):.2f} of linear", ""))
    return lines


MEASURES: tuple[Callable[[Context], list[Line]], ...] = (
    measure_api_requests, measure_engine, measure_xlsx_sync, measure_memory,
)


def _print_table(lines: Sequence[Line]) -> None:
    header = Line("measure", "rows", "figure", "baseline", "ratio", "within target")
    table = [header, *lines]
    columns = ("measure", "rows", "figure", "baseline", "ratio", "verdict")
    widths = [max(len(getattr(line, c)) for line in table) for c in columns]
    for position, line in enumerate(table):
        print(" | ".join(getattr(line, c).ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
        if position == 0:
            print("-+-".join("-" * w for w in widths))


def main(argv: Sequence[str] | None = None) -> int:
    """Run every measure and print one table. Exit 0 unless a measured code path raised."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000",
                        help="comma-separated row counts (default 1000,10000,100000)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    args = parser.parse_args(argv)
    try:
        sizes = sorted({int(size) for size in args.sizes.split(",") if size.strip()})
    except ValueError:
        parser.error("--sizes takes comma-separated whole numbers, e.g. 1000,10000")
    if not sizes or sizes[0] < 1:
        parser.error("--sizes needs at least one positive row count")

    lines: list[Line] = []
    with tempfile.TemporaryDirectory(prefix="sheets-escalation-bench-") as workdir:
        ctx = Context(sizes, args.seed, Path(workdir))
        for measure in MEASURES:
            try:
                lines.extend(measure(ctx))
            except Exception as error:  # noqa: BLE001 - one broken measure must not hide the others
                ctx.failed = True
                traceback.print_exc(file=sys.stderr)
                name = (measure.__doc__ or measure.__name__).split("\n")[0]
                lines.append(_not_measured(name, "", f"error: {type(error).__name__}: {error}"))
    print(f"sheets-escalation benchmarks: sizes {', '.join(f'{s:,}' for s in sizes)} rows, "
          f"seed {args.seed}, now {NOW.isoformat()}, python {sys.version.split()[0]}")
    _print_table(lines)
    print(f"(total {time.perf_counter() - ctx.started:.0f} s; memory is peak RSS (VmHWM) of a "
          "fresh child process running only the sync or only openpyxl)")
    return 1 if ctx.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
