"""The local configuration file: location, defaults, validation, env overrides, warnings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sheets_escalation.adapters.config import (
    Config,
    SmtpConfig,
    default_config_path,
    default_state_dir,
    load_config,
)
from sheets_escalation.core.errors import ConfigError

EXAMPLE = """\
[notify]
allow = ["ops@example.com", "*@example.com", "https://hooks.slack.com/services/T000/*",
         "webhook:https://hooks.example.com/*"]
timeout = 5

[smtp]
host = "smtp.example.com"
port = 2525
starttls = false
username = "alerts@example.com"
password_env = "MY_SMTP_PASSWORD"
from = "Escalations <alerts@example.com>"
cafile = "/etc/ssl/private-ca.pem"

[state]
dir = "/var/lib/esc"
"""


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_default_path_prefers_explicit_variable_then_xdg_then_home() -> None:
    assert default_config_path({"SHEETS_ESCALATION_CONFIG": "/etc/esc.toml", "HOME": "/h"}) == Path(
        "/etc/esc.toml"
    )
    assert default_config_path({"XDG_CONFIG_HOME": "/x", "HOME": "/h"}) == Path(
        "/x/sheets-escalation/config.toml"
    )
    assert default_config_path({"HOME": "/h"}) == Path("/h/.config/sheets-escalation/config.toml")
    assert default_state_dir({"HOME": "/h"}) == Path("/h/.local/state/sheets-escalation")
    assert default_state_dir({"XDG_STATE_HOME": "/s", "HOME": "/h"}) == Path("/s/sheets-escalation")


def test_missing_file_gives_defaults_with_an_empty_allowlist(tmp_path: Path) -> None:
    config = load_config(None, {"HOME": str(tmp_path)})

    assert config == Config(
        path=tmp_path / ".config/sheets-escalation/config.toml",
        state_dir=tmp_path / ".local/state/sheets-escalation",
    )
    assert config.loaded is False
    assert config.allow == ()


def test_example_file_is_read_with_password_from_the_named_variable(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", EXAMPLE)

    config = load_config(path, {"MY_SMTP_PASSWORD": "s3cret", "HOME": str(tmp_path)})

    assert config.loaded
    assert config.allow == (
        "ops@example.com",
        "*@example.com",
        "https://hooks.slack.com/services/T000/*",
        "webhook:https://hooks.example.com/*",
    )
    assert config.http_timeout == 5.0
    assert config.smtp == SmtpConfig(
        host="smtp.example.com",
        port=2525,
        starttls=False,
        username="alerts@example.com",
        password="s3cret",
        sender="Escalations <alerts@example.com>",
        cafile="/etc/ssl/private-ca.pem",
    )
    assert config.state_dir == Path("/var/lib/esc")
    assert config.warnings == ()
    assert config.secrets() == ("s3cret",)


def test_environment_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", EXAMPLE)
    environ = {
        "SHEETS_ESCALATION_SMTP_HOST": "127.0.0.1",
        "SHEETS_ESCALATION_SMTP_PORT": "1025",
        "SHEETS_ESCALATION_SMTP_USER": "bot",
        "SHEETS_ESCALATION_SMTP_PASSWORD": "from-env",
        "SHEETS_ESCALATION_SMTP_FROM": "bot@example.org",
        "MY_SMTP_PASSWORD": "ignored",
    }

    smtp = load_config(path, environ).smtp

    assert (smtp.host, smtp.port, smtp.username, smtp.password, smtp.sender) == (
        "127.0.0.1",
        1025,
        "bot",
        "from-env",
        "bot@example.org",
    )


def test_environment_overrides_apply_without_a_file(tmp_path: Path) -> None:
    config = load_config(tmp_path / "none.toml", {"SHEETS_ESCALATION_SMTP_HOST": "mail.local"})

    assert config.smtp.host == "mail.local"
    assert config.loaded is False


def test_bad_port_in_environment_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SHEETS_ESCALATION_SMTP_PORT"):
        load_config(tmp_path / "none.toml", {"SHEETS_ESCALATION_SMTP_PORT": "smtp"})


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", "[notify]\nallow = [ops@example.com]\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path, {})

    message = str(caught.value)
    assert str(path) in message
    assert "line 2" in message
    assert caught.value.exit_code == 2


def test_every_type_problem_and_unknown_key_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path / "config.toml",
        '[notify]\nallow = "ops@example.com"\nalow = []\n'
        '[smtp]\nport = "587"\nstarttls = "yes"\nhost = 25\ntimeout = -1\n',
    )

    with pytest.raises(ConfigError) as caught:
        load_config(path, {})

    assert [p.message for p in caught.value.problems] == [
        "[notify] unknown key 'alow'",
        "[notify] allow must be a list of strings",
        "[smtp] port must be a whole number between 1 and 65535",
        "[smtp] starttls must be true or false",
        "[smtp] host must be a string",
        "[smtp] timeout must be a positive number of seconds",
    ]
    assert all(p.tab == str(path) for p in caught.value.problems)


def test_unknown_section_is_a_warning_not_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", "[google]\ncredentials = 'x.json'\n")

    config = load_config(path, {})

    assert config.warnings == (f"{path}: unknown section [google] ignored",)


def test_missing_password_variable_is_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", '[smtp]\npassword_env = "NOPE"\n')

    config = load_config(path, {})

    assert config.smtp.password == ""
    assert config.warnings == (f"{path}: [smtp] password_env NOPE is not set",)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_password_in_a_group_or_world_readable_file_is_warned_about(tmp_path: Path) -> None:
    text = '[smtp]\nhost = "mail"\npassword = "hunter2"\n'
    loose = write(tmp_path / "loose.toml", text, mode=0o644)
    tight = write(tmp_path / "tight.toml", text, mode=0o600)
    no_password = write(tmp_path / "plain.toml", '[smtp]\nhost = "mail"\n', mode=0o644)

    warnings = load_config(loose, {}).warnings

    assert len(warnings) == 1 and "chmod 600" in warnings[0] and "hunter2" not in warnings[0]
    assert load_config(tight, {}).warnings == ()
    assert load_config(no_password, {}).warnings == ()


def test_password_is_not_in_repr(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", '[smtp]\npassword = "hunter2"\n')

    assert "hunter2" not in repr(load_config(path, {}))


def test_each_source_gets_its_own_journal_under_the_state_dir(tmp_path: Path) -> None:
    config = Config(path=tmp_path / "c.toml", state_dir=tmp_path / "state")

    first = config.journal_path("/data/escalations.xlsx")
    second = config.journal_path("1AbCdEfGh")

    assert first.parent == tmp_path / "state" == second.parent
    assert first != second
    assert first == config.journal_path("/data/escalations.xlsx")
