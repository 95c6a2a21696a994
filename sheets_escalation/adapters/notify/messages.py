"""Message templates (SPEC §6): the `Templates` tab rendered with values from a row.

Templates come from a sheet many people edit, so they are rendered in Jinja2's sandbox
with StrictUndefined: a template can only format the values it is given, and a
placeholder that is not one of them is an error naming it. Values from the row are data,
never templates: a description reading ``{{ 7*7 }}`` is printed as typed.

A template edited in the sheet may still loop for hours, recurse, or build a gigabyte
string (``{{ id|center(10**9) }}``), and the sandbox cannot interrupt a running loop.
So such templates render in a separate process (render_worker.py, started once and
reused) with a memory limit, and the caller waits for each at most RENDER_SECONDS before
killing it; the result is capped at MAX_MESSAGE_LENGTH characters. The built-in
templates are trusted and render in this process.

Placeholders (all strings, "" when blank):

===================  =============================================================
``id``               the row's ID
``customer``         Customer
``contact``          Contact
``channel``          Channel
``level``            the level the message is about (``L2``)
``level_name``       that level's name from the Levels tab (``Specialist``)
``urgency``          Urgency
``issue``            Description (alias: ``description``)
``issue_type``       Issue type
``issue_key``        Issue key
``steps_taken``      Steps tried (alias: ``steps_tried``)
``sentiment``        Sentiment
``financial_impact`` Financial impact, as typed in the log (``1200.5``)
``opened``           Opened (``YYYY-MM-DD HH:MM``)
``status``           Status
``notes``            Notes
``handler``          Handler (the row's handler when the message is rendered)
``required_action``  what the new level must do
``deadline``         when (the new level's response due)
``triggers``         the triggers that fired
``why``              their evidence
===================  =============================================================
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import math
import operator
import os
import select
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from jinja2 import meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from sheets_escalation.core.errors import ConfigError
from sheets_escalation.core.problems import Problem
from sheets_escalation.core.schema import DEFAULT_TEMPLATES, TEMPLATES, normalize_header

# Templates are untrusted: cap what one expression may build so a template cannot
# exhaust memory ("{{ 'x' * 10**10 }}").
MAX_RESULT_LENGTH = 100_000
MAX_EXPONENT = 100
# A message longer than this is a template running away, not a message anyone reads.
MAX_MESSAGE_LENGTH = 100_000
# A real template renders in about a millisecond; the bound leaves room for a busy machine.
RENDER_SECONDS = 0.5
# Starting the renderer (a Python with Jinja2) may take a while on a loaded machine.
START_SECONDS = 30.0
# The renderer's address space: Python and Jinja2 take about 40 MB of it.
WORKER_MEMORY_BYTES = 256 * 1024 * 1024
TOO_MUCH_MEMORY = "needs more memory than a message may use (256 MB)"
_DEFAULT_TEXTS = frozenset((subject, body) for _, subject, body in DEFAULT_TEMPLATES)

ROW_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", "id"),
    ("customer", "customer"),
    ("contact", "contact"),
    ("channel", "channel"),
    ("urgency", "urgency"),
    ("issue", "description"),
    ("description", "description"),
    ("issue_type", "issue_type"),
    ("issue_key", "issue_key"),
    ("steps_taken", "steps_tried"),
    ("steps_tried", "steps_tried"),
    ("sentiment", "sentiment"),
    ("financial_impact", "financial_impact"),
    ("opened", "opened"),
    ("status", "status"),
    ("notes", "notes"),
    ("handler", "handler"),
)


class TemplateError(ConfigError):
    """A message template cannot be rendered (unknown placeholder, syntax, blocked operation)."""


Template = tuple[str, str]  # (subject, body)


def message_context(
    row: Mapping[str, object],
    policy_level_name: str,
    level: str,
    deadline: str,
    required_action: str,
    triggers: str,
    why: str,
    *,
    timezone: str = "UTC",
) -> dict[str, str]:
    """Given a log row (column keys, as in the parsed log frame), the name and code of
    the level the message is about, and the escalation's deadline, required action,
    triggers and evidence as display strings, return the placeholder values (see the
    module docstring). Datetimes in the row are shown in ``timezone``.

    The result is a plain dict; callers may add their own keys before rendering.
    """
    context = {name: _display(row.get(key), timezone) for name, key in ROW_FIELDS}
    context.update(
        level=level,
        level_name=policy_level_name,
        deadline=deadline,
        required_action=required_action,
        triggers=triggers,
        why=why,
    )
    return context


def render(
    template_subject: str, template_body: str, context: Mapping[str, object], name: str = ""
) -> tuple[str, str]:
    """Given a template's subject and body, the placeholder values and the template's
    name (for messages), return the rendered (subject, body). The subject is one line.

    Raise TemplateError naming the template (and the placeholder) if the template uses a
    placeholder not in ``context``, has a syntax error, tries something the sandbox
    forbids, or exceeds a bound: RENDER_SECONDS of time, WORKER_MEMORY_BYTES of memory,
    MAX_MESSAGE_LENGTH characters of output, or Python's recursion limit.
    """
    if (template_subject, template_body) in _DEFAULT_TEXTS:
        return render_here(template_subject, template_body, context, name)
    return _RENDERER.render(template_subject, template_body, context, name)


def render_here(
    template_subject: str, template_body: str, context: Mapping[str, object], name: str = ""
) -> tuple[str, str]:
    """Render as :func:`render` does, in this process: bounded in output and recursion,
    but not in time or memory, so only for trusted templates and inside the renderer."""
    label = f"template {name!r}" if name else "template"
    subject = _render_one(template_subject, context, f"{label} subject")
    body = _render_one(template_body, context, f"{label} body")
    return " ".join(subject.split()), body


class _Renderer:
    """The render_worker process, started on first use and again after it is killed."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.buffer = b""
        # Templates this process had to kill, by text: a run with many escalations would
        # otherwise wait out the deadline (and restart the worker) for every one of them.
        self.stopped: dict[tuple[str, str], str] = {}

    def render(self, subject: str, body: str, context: Mapping[str, object],
               name: str) -> tuple[str, str]:
        label = f"template {name!r}" if name else "template"
        if (subject, body) in self.stopped:
            raise _error(f"{label}: {self.stopped[subject, body]}")
        if self.process is None or self.process.poll() is not None:
            self._start(label)
        assert self.process is not None and self.process.stdin is not None
        request = {"subject": subject, "body": body, "name": name,
                   "context": {str(k): v for k, v in context.items()}}
        try:
            self.process.stdin.write(json.dumps(request, default=str).encode() + b"\n")
            self.process.stdin.flush()
        except OSError:
            self.stop()
            raise _error(f"{label}: the template renderer stopped unexpectedly") from None
        line = self._read_line(RENDER_SECONDS)
        if line is None:
            reason = (TOO_MUCH_MEMORY if self.process.poll() is not None else
                      f"took longer than {RENDER_SECONDS:g} s to render, so it was stopped")
            self.stop()
            self.stopped[subject, body] = reason
            raise _error(f"{label}: {reason}")
        answer = json.loads(line)
        if "error" in answer:
            if any(TOO_MUCH_MEMORY in text for text in answer["error"]):
                # What the refused template took may stay in the worker's heap and starve
                # the next, ordinary template: the next render starts a fresh worker.
                self.stop()
            raise TemplateError([Problem(TEMPLATES, "", text) for text in answer["error"]])
        rendered_subject, rendered_body = answer["ok"]
        return str(rendered_subject), str(rendered_body)

    def _start(self, label: str) -> None:
        self.stop()
        self.process = subprocess.Popen(
            # -P: a directory named sheets_escalation where cron runs must not be imported.
            [sys.executable, "-P", "-m", "sheets_escalation.adapters.notify.render_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        if self._read_line(START_SECONDS) != b"ready":
            self.stop()
            raise _error(f"{label}: the template renderer did not start")

    def _read_line(self, timeout: float) -> bytes | None:
        """Return the worker's next line, or None if it sends none within ``timeout``."""
        assert self.process is not None and self.process.stdout is not None
        descriptor = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([descriptor], [], [], remaining)[0]:
                return None
            chunk = os.read(descriptor, 1 << 16)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def stop(self) -> None:
        """Kill the worker, if any (a template was too slow, or the process is ending)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout):
                if stream is not None:
                    stream.close()
        self.process = None
        self.buffer = b""


_RENDERER = _Renderer()
atexit.register(_RENDERER.stop)


def templates_from_rows(rows: Sequence[Sequence[object]]) -> dict[str, Template]:
    """Given the Templates tab as rows (``rows[0]`` is the header; ``[]`` when the tab is
    missing), return name -> (subject, body), names casefolded.

    The defaults (``customer``, ``internal``) are used for names the tab does not define;
    in a row that redefines a default, a blank Subject or Body keeps the default's.
    Raise ConfigError (located) if the header lacks Name, Subject or Body, or a name is
    defined twice.
    """
    templates: dict[str, Template] = {
        name: (subject, body) for name, subject, body in DEFAULT_TEMPLATES
    }
    if not rows:
        return templates
    header = [normalize_header(cell) for cell in rows[0]]
    missing = [h for h in ("Name", "Subject", "Body") if normalize_header(h) not in header]
    if missing:
        raise ConfigError([Problem(TEMPLATES, "A1", f"missing header {h!r}") for h in missing])
    columns = [header.index(normalize_header(h)) for h in ("Name", "Subject", "Body")]
    seen: dict[str, int] = {}
    problems: list[Problem] = []
    for row_number, row in enumerate(rows[1:], start=2):
        name, subject, body = (_cell(row, c) for c in columns)
        key = name.strip().casefold()
        if not key:
            continue
        if key in seen:
            cell = f"{_column_letter(columns[0])}{row_number}"
            problems.append(
                Problem(TEMPLATES, cell, f"template {key!r} is already defined in row {seen[key]}")
            )
            continue
        seen[key] = row_number
        default_subject, default_body = templates.get(key, ("", ""))
        templates[key] = (subject or default_subject, body or default_body)
    if problems:
        raise ConfigError(problems)
    return templates


def get_template(templates: Mapping[str, Template], name: str) -> Template:
    """Given the templates and a name (any case), return (subject, body).

    Raise TemplateError listing the available names if there is no such template.
    """
    try:
        return templates[name.strip().casefold()]
    except KeyError:
        available = ", ".join(sorted(templates))
        raise TemplateError(
            [Problem(TEMPLATES, "", f"no template named {name!r} (available: {available})")]
        ) from None


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(
        self, context: jinja2.runtime.Context, operator_name: str, left: Any, right: Any
    ) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponent {right} is too large")
            return left**right
        for sized, count in ((left, right), (right, left)):
            if isinstance(sized, str | list | tuple) and isinstance(count, int):
                if len(sized) * count > MAX_RESULT_LENGTH:
                    raise SecurityError("repetition result is too large")
        return operator.mul(left, right)


_ENVIRONMENT = _Sandbox(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
)
# Templates format values; helpers such as lipsum() only add ways to burn time and memory.
for _helper in ("lipsum", "cycler", "joiner", "namespace"):
    _ENVIRONMENT.globals.pop(_helper, None)


def _render_one(source: str, context: Mapping[str, object], label: str) -> str:
    try:
        parsed = _ENVIRONMENT.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise _error(f"{label}: syntax error on line {exc.lineno}: {exc.message}") from exc
    unknown = sorted(meta.find_undeclared_variables(parsed) - set(context))
    if unknown:
        names = ", ".join("{{ " + u + " }}" for u in unknown)
        known = ", ".join(sorted(context))
        raise _error(f"{label} uses unknown placeholder {names} (known: {known})")
    try:
        return _capped(_ENVIRONMENT.from_string(source).generate(dict(context)), label)
    except TemplateError:
        raise
    except MemoryError:
        raise _error(f"{label}: {TOO_MUCH_MEMORY}") from None
    except RecursionError:
        raise _error(f"{label}: calls itself too deeply (a macro calling itself?)") from None
    except SecurityError as exc:
        raise _error(f"{label}: not allowed: {exc}") from exc
    except jinja2.UndefinedError as exc:
        raise _error(f"{label}: {exc.message}") from exc
    except jinja2.TemplateError as exc:
        raise _error(f"{label}: {exc}") from exc
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise _error(f"{label}: {type(exc).__name__}: {exc}") from exc


def _capped(pieces: Any, label: str) -> str:
    """Join rendered pieces, stopping as soon as they pass MAX_MESSAGE_LENGTH."""
    out: list[str] = []
    length = 0
    for piece in pieces:
        length += len(piece)
        if length > MAX_MESSAGE_LENGTH:
            raise _error(f"{label}: renders more than {MAX_MESSAGE_LENGTH:,} characters")
        out.append(piece)
    return "".join(out)


def _error(message: str) -> TemplateError:
    return TemplateError([Problem(TEMPLATES, "", message)])


def _display(value: object, timezone: str) -> str:
    """Return a cell value as people would read it in a message."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, dt.datetime):
        # pandas' NaT is a datetime subclass whose fields are unusable.
        if value != value:  # NaT is the only datetime unequal to itself
            return ""
        if value.tzinfo is not None:
            value = value.astimezone(ZoneInfo(timezone))
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value).strip()


def _cell(row: Sequence[object], column: int) -> str:
    value = row[column] if column < len(row) else None
    return "" if value is None else str(value).strip()


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters
