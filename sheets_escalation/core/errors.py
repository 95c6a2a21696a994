"""Domain errors. The library raises these; only the CLI turns them into exit codes."""

from __future__ import annotations

from sheets_escalation.core.problems import Problem


class EscalationError(Exception):
    """Base class of every error this package raises on purpose."""

    exit_code = 1


class ConfigError(EscalationError):
    """The policy, the headers or the local configuration are unusable (exit 2)."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem("", "", problems)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class UsageError(EscalationError):
    """The command line asks for something impossible (exit 2)."""

    exit_code = 2


class SourceError(EscalationError):
    """The source cannot be read or written (unreachable, not found, no access)."""


class NoAccessError(SourceError):
    """Google refuses the account access to the spreadsheet (HTTP 403)."""


class LockHeldError(EscalationError):
    """Another sync holds the lock on this source."""


class ConcurrentEditError(EscalationError):
    """The sheet changed between read and write so that a write could land on the wrong row."""


class RefusedError(EscalationError):
    """The command refuses to act (e.g. required info missing, parts the writer cannot keep)."""
