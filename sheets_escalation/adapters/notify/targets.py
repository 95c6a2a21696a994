"""Where notifications may go: targets as typed in Notify cells, the URLs among them, the
allowlist that admits them, and how they are shown.

Who may be notified is decided by the allowlist in the local configuration, never by the
sheet: a ``Notify`` cell only *names* targets, and a target outside the allowlist is
refused and reported. Webhook URLs are secrets (anyone holding one can post), so they are
shown masked everywhere (:func:`mask`), and messages that might quote one are scrubbed
(:func:`scrub`).
"""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

Channel = Literal["slack", "webhook", "email", "invalid"]

SLACK_HOST = "hooks.slack.com"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*\.?")
# scheme://host[:port][/path] with wildcards; the host may be an [IPv6] literal.
_URL_PATTERN = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>\[[0-9A-Fa-f:.%]+\]|[^/:\[\]@]+)"
    r"(?::(?P<port>[0-9]{1,5}|\*))?(?P<path>/.*)?"
)
# Deliberately narrower than RFC 5322: no quoting, no comments, no spaces, so an
# address can neither smuggle a header nor trick an allowlist pattern.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


@dataclass(frozen=True)
class Target:
    """One place to send to. ``address`` is the URL (slack, webhook), the lower-cased
    address (email) or the text as typed (invalid, with ``problem`` saying why)."""

    channel: Channel
    address: str
    problem: str = ""

    @property
    def fingerprint(self) -> str:
        """A stable identity for the journal that does not reveal the address."""
        return hashlib.sha256(f"{self.channel} {self.address}".encode()).hexdigest()[:32]


def parse_target(text: str) -> Target:
    """Given one target as typed in a Notify cell, return it classified.

    ``https://hooks.slack.com/...`` and ``slack:URL`` (Slack-compatible services) are
    Slack; ``webhook:URL`` is a generic JSON webhook; ``name@domain`` is email; anything
    else, including a URL that cannot be posted to (see :func:`parse_url`), is an
    ``invalid`` target whose ``problem`` says why. Never raises.
    """
    text = text.strip()
    lowered = text.lower()
    if lowered.startswith(("webhook:", "slack:")):
        channel: Channel = "webhook" if lowered.startswith("webhook:") else "slack"
        url = text.split(":", 1)[1].strip()
        parsed = parse_url(url)
        return Target(channel, url) if isinstance(parsed, Url) else Target("invalid", text, parsed)
    if "://" in text:
        parsed = parse_url(text)
        if not isinstance(parsed, Url):
            return Target("invalid", text, parsed)
        if (parsed.scheme, parsed.host, parsed.port) != ("https", SLACK_HOST, 443):
            return Target(
                "invalid", text, "a URL must be a Slack webhook or be written webhook:URL"
            )
        return Target("slack", text)
    if _EMAIL.fullmatch(text):
        return Target("email", text.lower())
    return Target("invalid", text, "not an email address, Slack webhook or webhook:URL")


def parse_targets(cells: Iterable[str]) -> list[Target]:
    """Given Notify cells (comma-, semicolon- or newline-separated), return their targets,
    each once, in order."""
    targets: dict[Target, None] = {}
    for cell in cells:
        for part in re.split(r"[,;\n]", cell or ""):
            if part.strip():
                targets.setdefault(parse_target(part), None)
    return list(targets)


@dataclass(frozen=True)
class Url:
    """A URL that may be posted to, in the parts the allowlist compares: the scheme and
    host lower-cased (the host IDNA-encoded, an IPv6 address without brackets), the port
    (the scheme's default when the URL names none) and the path ("/" when empty)."""

    scheme: str
    host: str
    port: int
    path: str


def parse_url(url: str) -> Url | str:
    """Given a webhook URL as typed, return its parts, or why it cannot be posted to.

    Refused: anything but http(s); spaces, control characters or backslashes (parsers
    disagree on them); a user name or password; a port that is not 1-65535; a host that
    is not a valid name or address; a #fragment; ``.``/``..`` path segments (the server
    would resolve them to a path the allowlist never saw).
    """
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "the URL contains spaces or control characters"
    if "\\" in url:
        return "the URL contains a backslash"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the host is not a valid address"
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return "not an http(s) URL"
    if "@" in parts.netloc:
        return "a URL with a user name or password is not allowed"
    raw_port = _raw_port(parts.netloc)
    try:
        port = parts.port
    except ValueError:
        port = None
    if raw_port and not (port is not None and 1 <= port <= 65535):
        return f'the port "{raw_port}" is not a number from 1 to 65535'
    host = _normal_host(parts.hostname)
    if host is None:
        return "the host is not a valid address"
    if parts.fragment or url.endswith("#"):
        return "a URL with a #fragment is not allowed"
    if any(segment in (".", "..") for segment in unquote(parts.path).split("/")):
        return "the URL path contains . or .. segments"
    scheme = parts.scheme.lower()
    return Url(scheme, host, port or _DEFAULT_PORTS[scheme], parts.path or "/")


def mask(target: Target) -> str:
    """Given a target, return how it may be shown: emails as they are, URLs as host plus
    the last 4 characters (``hooks.slack.com/…/x9Zq``), so no usable secret is printed.
    Never raises, whatever the target holds."""
    if target.channel == "email":
        return target.address
    text = target.address
    if "://" in text:
        address = text.split("://", 1)[1]
        host, _, rest = address.partition("/")
        # A user name or password before @ is a secret; the host follows the last @.
        host = host.rpartition("@")[2]
        parsed = parse_url(text.split(":", 1)[1] if target.channel == "invalid"
                           and text.lower().startswith(("webhook:", "slack:")) else text)
        if isinstance(parsed, Url):
            parts = urlsplit(parsed.scheme + "://" + address)
            rest = parts.path + ("?" + parts.query if parts.query else "")
    elif "/" in text:
        host, rest = text.split("/", 1)
    else:
        return _printable(text[:60])
    host, rest = _printable(host[:60]), rest.strip("/")
    return f"{host}/…/{_printable(rest[-4:])}" if len(rest) > 8 else f"{host}/…"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Given a message and the secrets it must not show (a webhook URL or its path, a
    password), return it with every secret longer than one character replaced by
    ``***``. For text from outside (an error, a server's answer) that may quote one."""
    for secret in secrets:
        if secret and len(secret) > 1:
            text = text.replace(secret, "***")
    return text


def is_allowed(target: Target, patterns: Iterable[str]) -> bool:
    """Given a target and allowlist patterns, return whether it may be used.

    A pattern applies to one channel only, so an email pattern such as ``*@example.com``
    can never admit a URL that happens to end in ``@example.com``: ``webhook:PATTERN``
    matches webhooks, ``slack:PATTERN`` or a pattern with ``://`` matches Slack URLs, any
    other pattern matches email addresses (fnmatch style, case-insensitive).

    A URL pattern ``scheme://host[:port][/path]`` is compared part by part with the
    parsed URL, so no wildcard reaches past its own part: the scheme equal; the host
    (IDNA-encoded, any case) matching, where ``*`` stands for any run of host characters;
    the port equal (left out: the scheme's default; ``*``: any); the path matching when
    the pattern has one (left out: any path). A pattern that cannot be read matches nothing.
    """
    if target.channel == "invalid":
        return False
    url = parse_url(target.address) if target.channel != "email" else None
    for pattern in patterns:
        channel, body = _pattern_channel(pattern.strip())
        if channel != target.channel:
            continue
        if channel == "email":
            if fnmatch.fnmatchcase(target.address.casefold(), body.casefold()):
                return True
        elif isinstance(url, Url) and _url_matches(url, body):
            return True
    return False


def _pattern_channel(pattern: str) -> tuple[Channel, str]:
    lowered = pattern.lower()
    if lowered.startswith("webhook:"):
        return "webhook", pattern.split(":", 1)[1].strip()
    if lowered.startswith("slack:"):
        return "slack", pattern.split(":", 1)[1].strip()
    if "://" in pattern:
        return "slack", pattern
    return "email", pattern


def _raw_port(netloc: str) -> str:
    """Return the port of ``host[:port]`` as typed ("" when there is none)."""
    host_port = netloc.rpartition("@")[2]
    if host_port.startswith("["):
        host_port = host_port.partition("]")[2]
    return host_port.partition(":")[2] if ":" in host_port else ""


def _normal_host(host: str) -> str | None:
    """Return ``host`` as it is looked up (IDNA ASCII, lower case; IPv6 as is), or None
    if it is no valid host name."""
    if ":" in host:
        try:
            return str(ipaddress.IPv6Address(host.partition("%")[0]))
        except ValueError:
            return None
    try:
        encoded = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    return encoded if _HOST_NAME.fullmatch(encoded) else None


def _url_matches(url: Url, pattern: str) -> bool:
    match = _URL_PATTERN.fullmatch(pattern)
    if match is None:
        return False
    scheme = match["scheme"].lower()
    if scheme != url.scheme or scheme not in _DEFAULT_PORTS:
        return False
    host = match["host"]
    if host.startswith("["):
        wanted = _normal_host(host[1:-1])
        if wanted is None or wanted != url.host:
            return False
    else:
        labels = [label if any(c in label for c in "*?[") else _normal_host(label)
                  for label in host.casefold().split(".")]
        if any(label is None for label in labels):
            return False
        if not fnmatch.fnmatchcase(url.host, ".".join(str(label) for label in labels)):
            return False
    port = match["port"]
    if port != "*" and int(port or _DEFAULT_PORTS[scheme]) != url.port:
        return False
    path = match["path"]
    return path is None or fnmatch.fnmatchcase(url.path, path)


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)
