"""What the commands share: the common options and arguments, reading --now, opening the
source and the local configuration with their warnings printed, and turning domain errors
into a message on stderr and an exit code (:func:`handle_errors`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
import pandas as pd

from sheets_escalation.adapters.sources import DEFAULT_SOURCE
from sheets_escalation.adapters.sources import open_source as open_backend
from sheets_escalation.cli.output import echo
from sheets_escalation.core.errors import ConfigError, EscalationError

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(function: F) -> F:
    """Turn domain errors into a message on stderr and the right exit code."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except ConfigError as error:
            echo("error: the workbook's policy or headers need fixing:", err=True)
            for problem in error.problems:
                echo(f"  {problem}", err=True)
            echo("nothing was written.", err=True)
            sys.exit(error.exit_code)
        except EscalationError as error:
            echo(f"error: {error}", err=True)
            sys.exit(error.exit_code)

    return wrapper  # type: ignore[return-value]


def parse_now(text: str | None) -> pd.Timestamp:
    """Given --now (ISO 8601; naive means the Settings timezone), return the run's time."""
    if not text:
        return pd.Timestamp.now(tz="UTC").floor("s")
    try:
        return pd.Timestamp(text)
    except ValueError as error:
        raise click.BadParameter(f'cannot read "{text}" as an ISO date-time',
                                 param_hint="'--now'") from error


source_argument = click.argument("source", required=False, default=DEFAULT_SOURCE)
credentials_option = click.option(
    "--credentials", type=click.Path(dir_okay=False),
    help="Google credentials JSON (a service-account key, a gcloud or Workload Identity "
    "Federation file). Default: $GOOGLE_APPLICATION_CREDENTIALS, then "
    "~/.config/gspread/service_account.json, then Application Default Credentials. "
    "With --oauth: the OAuth client file.")
oauth_option = click.option("--oauth", is_flag=True,
                            help="Use your own Google account (OAuth authorized-user flow).")
config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False),
    help="Local configuration (notification allowlist, SMTP). Default: "
    "$SHEETS_ESCALATION_CONFIG or ~/.config/sheets-escalation/config.toml.")
now_option = click.option(
    "--now", "now_text", metavar="ISO",
    help="Evaluate as of this time (ISO 8601; without a zone: Settings timezone).")
lossy_option = click.option(
    "--allow-lossy", is_flag=True,
    help="Save an .xlsx even though it holds charts, images or pivot tables that "
    "openpyxl cannot keep (they would be lost).")

ignore_open_option = click.option(
    "--ignore-open", is_flag=True,
    help="Write an .xlsx even though an Excel or LibreOffice lock file says it is open "
    "(that program's next save would replace what the tool writes).")


def open_source_warned(source: str | None, **options: Any) -> Any:
    """Open SOURCE's backend, printing any warning about it (e.g. a readable key file)."""
    return open_source(source, lambda message: echo(f"warning: {message}", err=True),
                       **options)


def open_source(source: str | None, warn: Callable[[str], None], **options: Any) -> Any:
    """Open SOURCE's backend, handing any warning about it to ``warn``."""
    return open_backend(source, warn=warn, **options)


def load_local_config(config_path: str | None) -> Any:
    """Given --config, return the local configuration, printing its warnings."""
    from sheets_escalation.adapters.config import load_config

    config = load_config(Path(config_path) if config_path else None, os.environ)
    for warning in config.warnings:
        echo(f"warning: {warning}", err=True)
    return config


def source_and_id(source: str | None, identifier: str | None) -> tuple[str, str]:
    """Given the one or two positional arguments, return (SOURCE, ID): SOURCE is optional
    before the ID, as everywhere else (``escalate ESC-0019 --to L2``)."""
    if identifier is None:
        if source is None:
            raise click.UsageError("Missing argument 'ID'.")
        return DEFAULT_SOURCE, source
    return source or DEFAULT_SOURCE, identifier


def check_export_folder(export_path: str | None) -> None:
    """Refuse (usage error, before anything is read) an --export into a missing folder."""
    if export_path is None:
        return
    folder = Path(export_path).parent
    if not folder.is_dir():
        raise click.BadParameter(f"folder {folder} does not exist", param_hint="'--export'")
