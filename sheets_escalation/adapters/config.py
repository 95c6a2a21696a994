"""The local configuration file: notification allowlist, SMTP settings, state directory.

The workbook is edited by many people, so anything that decides *where* messages go or
holds a secret lives here, on the machine that runs the tool, never in the sheet.

Location: ``$SHEETS_ESCALATION_CONFIG``, else ``$XDG_CONFIG_HOME/sheets-escalation/config.toml``,
else ``~/.config/sheets-escalation/config.toml``. A missing file means defaults: an empty
allowlist (nothing is sent; every target is reported as refused).

Example::

    [notify]
    allow = ["ops@example.com", "*@example.com",
             "https://hooks.slack.com/services/T000/*",
             "webhook:https://hooks.example.com/*"]
    timeout = 10                  # seconds, for Slack and webhook posts

    [smtp]
    host = "smtp.example.com"
    port = 587
    starttls = true
    username = "alerts@example.com"
    password_env = "SMTP_PASSWORD"   # or: password = "..." (then chmod 600 the file)
    from = "Support escalations <alerts@example.com>"
    cafile = ""                      # extra CA bundle for a private mail server
    timeout = 30

    [state]
    dir = "~/.local/state/sheets-escalation"   # notification journal and run records

    [monitor]                     # a dead-man's switch (healthchecks.io conventions)
    ping_url = "https://hc-ping.com/your-uuid"   # must match a webhook: pattern in allow
    timeout = 5                   # seconds per ping, at most 10

    [log]
    file = "~/.local/state/sheets-escalation/sync.log"   # one JSON line per run
    max_bytes = 1000000           # rotated to sync.log.1 … when it would grow past this
    backups = 3

    [review]
    # Who `review --send` delivers the monthly review to (the allowlist applies too).
    send_to = ["owner@example.com", "https://hooks.slack.com/services/T000/B000/XXXX"]

Environment overrides (highest precedence): ``SHEETS_ESCALATION_SMTP_HOST``, ``_PORT``,
``_USER``, ``_PASSWORD``, ``_FROM``.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sheets_escalation.core.errors import ConfigError
from sheets_escalation.core.problems import Problem

APP = "sheets-escalation"
CONFIG_ENV = "SHEETS_ESCALATION_CONFIG"
ENV_PREFIX = "SHEETS_ESCALATION_SMTP_"

_KNOWN_KEYS: dict[str, frozenset[str]] = {
    "notify": frozenset({"allow", "timeout"}),
    "smtp": frozenset(
        {
            "host",
            "port",
            "starttls",
            "username",
            "password",
            "password_env",
            "from",
            "cafile",
            "timeout",
        }
    ),
    "state": frozenset({"dir"}),
    "review": frozenset({"send_to"}),
    "monitor": frozenset({"ping_url", "timeout"}),
    "log": frozenset({"file", "max_bytes", "backups"}),
}
# A ping must never hold the hourly job up for long (borgmatic's hooks use a few seconds).
MAX_PING_TIMEOUT = 10.0


@dataclass(frozen=True)
class SmtpConfig:
    """How to reach the mail server. ``password`` is never shown by ``repr``."""

    host: str = ""
    port: int = 587
    starttls: bool = True
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str = ""
    cafile: str = ""
    timeout: float = 30.0


@dataclass(frozen=True)
class MonitorConfig:
    """Where the dead-man's-switch pings go (empty ``ping_url``: no pings).

    ``ping_url`` is a secret (anyone holding it can ping), so ``repr`` hides it."""

    ping_url: str = field(default="", repr=False)
    timeout: float = 5.0


@dataclass(frozen=True)
class LogConfig:
    """The run log: one JSON line per run appended to ``file`` (None: no log), rotated
    to ``file.1`` … ``file.<backups>`` before it would grow past ``max_bytes``."""

    file: Path | None = None
    max_bytes: int = 1_000_000
    backups: int = 3


@dataclass(frozen=True)
class Config:
    """The local configuration, with defaults filled in.

    ``path`` is where the file is (or would be); ``loaded`` says whether it existed;
    ``state_dir`` holds the notification journals. ``review_to`` names the stakeholders
    ``review --send`` delivers to, as typed (the same forms as a Notify cell).
    ``warnings`` are non-fatal findings to show the user (e.g. a readable password file).
    """

    path: Path
    state_dir: Path
    loaded: bool = False
    allow: tuple[str, ...] = ()
    http_timeout: float = 10.0
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    warnings: tuple[str, ...] = ()
    review_to: tuple[str, ...] = ()
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def journal_path(self, source: str, kind: str = "notify") -> Path:
        """Given a source identifier (path or sheet key), return its notification journal;
        ``kind`` "review" gives the journal of the review deliveries instead.

        Each workbook gets its own journal because dedup keys (``ESC-0012/L2/escalated``)
        are only unique within one workbook; review deliveries keep a journal of their own
        because a sync records every entry of its journal as a ``notified`` event.
        """
        digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
        return self.state_dir / f"{kind}-journal-{digest}.jsonl"

    def runs_path(self, source: str) -> Path:
        """Given a source identifier, return the file keeping its last runs (``status``)."""
        digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
        return self.state_dir / f"runs-{digest}.jsonl"

    def secrets(self) -> tuple[str, ...]:
        """Return the secret strings that must be scrubbed from any message."""
        return tuple(s for s in (self.smtp.password, self.monitor.ping_url) if s)


def default_config_path(environ: Mapping[str, str]) -> Path:
    """Given the environment, return where the configuration file is looked for."""
    explicit = environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    return _xdg_dir(environ, "XDG_CONFIG_HOME", ".config") / APP / "config.toml"


def default_state_dir(environ: Mapping[str, str]) -> Path:
    """Given the environment, return the default state directory (journal location)."""
    return _xdg_dir(environ, "XDG_STATE_HOME", ".local/state") / APP


def load_config(path: Path | None, environ: Mapping[str, str]) -> Config:
    """Given a config file path (None: the default location) and the environment, return
    the configuration. A missing file gives the defaults.

    Raise ConfigError naming the file (and line, for TOML syntax) if the file cannot be
    read, is not valid TOML, or holds unknown keys or values of the wrong type; every
    problem is reported at once.
    """
    path = Path(path).expanduser() if path is not None else default_config_path(environ)
    if not path.exists():
        return _finish(Config(path=path, state_dir=default_state_dir(environ)), {}, environ)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message carries "(at line N, column M)".
        raise ConfigError([Problem(str(path), "", f"invalid TOML: {exc}")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), "", f"cannot read: {exc}")]) from exc

    problems: list[str] = []
    warnings: list[str] = []
    for section, value in data.items():
        if section not in _KNOWN_KEYS:
            warnings.append(f"{path}: unknown section [{section}] ignored")
        elif not isinstance(value, dict):
            problems.append(f"[{section}] must be a table")
        else:
            problems.extend(
                f"[{section}] unknown key {key!r}"
                for key in value
                if key not in _KNOWN_KEYS[section]
            )
    notify = _table(data, "notify")
    smtp = _table(data, "smtp")
    state = _table(data, "state")

    allow = _strings(notify, "allow", "[notify]", problems)
    review_to = _strings(_table(data, "review"), "send_to", "[review]", problems)

    http_timeout = _number(notify, "timeout", 10.0, "[notify]", problems)
    password_env = _string(smtp, "password_env", "[smtp]", problems)
    file_password = _string(smtp, "password", "[smtp]", problems)
    password = file_password
    if password_env:
        if password_env in environ:
            password = environ[password_env]
        else:
            warnings.append(f"{path}: [smtp] password_env {password_env} is not set")
    port = smtp.get("port", 587)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        problems.append("[smtp] port must be a whole number between 1 and 65535")
        port = 587
    starttls = smtp.get("starttls", True)
    if not isinstance(starttls, bool):
        problems.append("[smtp] starttls must be true or false")
        starttls = True
    smtp_config = SmtpConfig(
        host=_string(smtp, "host", "[smtp]", problems),
        port=port,
        starttls=starttls,
        username=_string(smtp, "username", "[smtp]", problems),
        password=password,
        sender=_string(smtp, "from", "[smtp]", problems),
        cafile=_string(smtp, "cafile", "[smtp]", problems),
        timeout=_number(smtp, "timeout", 30.0, "[smtp]", problems),
    )
    state_dir_text = _string(state, "dir", "[state]", problems)
    monitor = _table(data, "monitor")
    ping_timeout = _number(monitor, "timeout", 5.0, "[monitor]", problems)
    if ping_timeout > MAX_PING_TIMEOUT:
        problems.append(f"[monitor] timeout must be at most {MAX_PING_TIMEOUT:g} seconds: "
                        "a ping must not hold the sync up")
    monitor_config = MonitorConfig(_string(monitor, "ping_url", "[monitor]", problems),
                                   ping_timeout)
    log = _table(data, "log")
    log_file = _string(log, "file", "[log]", problems)
    log_config = LogConfig(
        Path(log_file).expanduser() if log_file else None,
        _whole(log, "max_bytes", 1_000_000, 1_000, "[log]", problems),
        _whole(log, "backups", 3, 0, "[log]", problems),
    )
    if problems:
        raise ConfigError([Problem(str(path), "", p) for p in problems])

    if file_password and _readable_by_others(path):
        warnings.append(
            f"{path} holds the SMTP password and is readable by other users; run: chmod 600 {path}"
        )
    config = Config(
        path=path,
        loaded=True,
        allow=allow,
        review_to=review_to,
        http_timeout=http_timeout,
        smtp=smtp_config,
        state_dir=(
            Path(state_dir_text).expanduser() if state_dir_text else default_state_dir(environ)
        ),
        warnings=tuple(warnings),
        monitor=monitor_config,
        log=log_config,
    )
    return _finish(config, smtp, environ)


def _finish(config: Config, smtp: Mapping[str, Any], environ: Mapping[str, str]) -> Config:
    """Apply the environment overrides, which win over the file."""
    overrides = {
        "host": environ.get(ENV_PREFIX + "HOST"),
        "username": environ.get(ENV_PREFIX + "USER"),
        "password": environ.get(ENV_PREFIX + "PASSWORD"),
        "sender": environ.get(ENV_PREFIX + "FROM"),
    }
    values: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    port_text = environ.get(ENV_PREFIX + "PORT")
    if port_text is not None:
        if not port_text.strip().isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"{ENV_PREFIX}PORT must be a port number, not {port_text!r}")
        values["port"] = int(port_text)
    if not values:
        return config
    smtp_config = SmtpConfig(**{**config.smtp.__dict__, **values})
    return Config(**{**config.__dict__, "smtp": smtp_config})


def _xdg_dir(environ: Mapping[str, str], variable: str, fallback: str) -> Path:
    base = environ.get(variable)
    if base:
        return Path(base).expanduser()
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / fallback


def _table(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    return value if isinstance(value, dict) else {}


def _strings(table: Mapping[str, Any], key: str, section: str,
             problems: list[str]) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append(f"{section} {key} must be a list of strings")
        return ()
    return tuple(item.strip() for item in value if item.strip())


def _string(table: Mapping[str, Any], key: str, section: str, problems: list[str]) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        problems.append(f"{section} {key} must be a string")
        return ""
    return value.strip()


def _number(
    table: Mapping[str, Any], key: str, default: float, section: str, problems: list[str]
) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        problems.append(f"{section} {key} must be a positive number of seconds")
        return default
    return float(value)


def _whole(table: Mapping[str, Any], key: str, default: int, least: int, section: str,
           problems: list[str]) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        problems.append(f"{section} {key} must be a whole number of at least {least}")
        return default
    return value


def _readable_by_others(path: Path) -> bool:
    if os.name != "posix":
        return False
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
