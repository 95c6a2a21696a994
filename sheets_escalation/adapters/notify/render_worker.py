"""The template renderer's own process (see messages.render): it renders what the
parent sends, one JSON line per template, under a memory limit, so a template from the
sheet can exhaust neither the sync's memory nor its time (the parent kills this process
when a render passes its deadline).

Protocol: the worker prints ``ready`` once, then for each line
``{"subject", "body", "context", "name"}`` answers ``{"ok": [subject, body]}`` or
``{"error": [message, ...]}`` (each message names the template).
"""

from __future__ import annotations

import json
import sys

from sheets_escalation.adapters.notify.messages import (
    TOO_MUCH_MEMORY,
    WORKER_MEMORY_BYTES,
    TemplateError,
    render_here,
)


def _limit_memory() -> None:
    try:
        import resource
    except ImportError:  # not on POSIX: the parent's deadline still bounds the time
        return
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))


def main() -> None:
    """Serve render requests from stdin until it closes."""
    _limit_memory()
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            answer: dict[str, object] = {"ok": render_here(
                request["subject"], request["body"], request["context"], request["name"])}
        except TemplateError as error:
            answer = {"error": [problem.message for problem in error.problems]}
        except MemoryError:
            answer = {"error": [f"template {request.get('name', '')!r}: {TOO_MUCH_MEMORY}"]}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
