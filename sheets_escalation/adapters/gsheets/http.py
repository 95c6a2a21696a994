"""The one road to Google: gspread's HTTP client with every retry in one place.

Every request the Google Sheets backend and ``init --sheet`` send goes through
:class:`RetryingHTTPClient`: bounded retries with backoff, one-line domain errors (never a
token or a traceback), and bodies as compact JSON, whose size (:func:`json_size`) is what
the payload split counts against Google's cap. :func:`open_client` loads the credentials
(:mod:`~sheets_escalation.adapters.gsheets.auth`) and takes an injectable session, so tests
run this very client against a fake Sheets API.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import google.auth.exceptions
import gspread
import requests
from google.auth.credentials import Credentials
from google.auth.transport.requests import AuthorizedSession, Request
from gspread.http_client import HTTPClient

from sheets_escalation.adapters.gsheets.auth import load_credentials
from sheets_escalation.core import errors

_KEY_IN_ENDPOINT = re.compile(r"/spreadsheets/([^/:?]+)")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _api_message(response: requests.Response) -> str:
    try:
        return _one_line(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return _one_line(response.reason or "")


def _retry_after(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    header = response.headers.get("Retry-After")
    if header is None:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        return None  # an HTTP-date: rare from Google; fall back to the backoff


class RetryingHTTPClient(HTTPClient):
    """gspread's HTTP client with bounded retries and one-line domain errors.

    500, 502, 503, 504, timeouts and dropped connections are retried up to ``attempts``
    tries in all, sleeping ``uniform(0, min(cap, base * 2**n))`` (full jitter) or the
    server's ``Retry-After`` when longer. A 429 is the per-minute quota: it is retried until
    ``quota_window`` seconds of waiting in all, the last wait shortened to end the window.
    Every other failure, and the last retry, raises :class:`SourceError` with a one-line
    reason (never a token or a traceback). ``sleep`` is replaceable, so tests do not wait.
    """

    attempts = 5
    base_delay = 1.0
    max_delay = 32.0
    # One quota minute, plus the few seconds Google's counters lag behind.
    quota_window = 70.0
    sleep: Callable[[float], None] = staticmethod(time.sleep)
    jitter: Callable[[float, float], float] = staticmethod(random.uniform)  # noqa: S311

    def __init__(self, auth: Credentials | None, session: requests.Session | None = None) -> None:
        super().__init__(auth, session)  # type: ignore[arg-type]
        # A hung connection must end in a retry, not hang the hourly job.
        self.timeout = (10.0, 60.0)

    def account(self) -> str | None:
        """The service account's e-mail address, or None for OAuth user credentials."""
        credentials = getattr(self.session, "credentials", None)
        email = getattr(credentials, "service_account_email", None)
        return email if isinstance(email, str) and "@" in email else None

    def request(
        self,
        method: str,
        endpoint: str,
        params: MutableMapping[str, Any] | None = None,
        data: bytes | None = None,
        json: Mapping[str, Any] | None = None,
        files: Any = None,
        headers: MutableMapping[str, str] | None = None,
    ) -> requests.Response:
        last_reason = ""
        if json is not None:
            # Compact JSON (requests would put a space after every comma and colon): a first
            # sync's write is a few MB of cells, and Google caps a request body at 10 MiB.
            data = compact_json(json).encode("ascii")
            json = None
            headers = {**(headers or {}), "Content-Type": "application/json"}
        attempt, slept = 0, 0.0
        while True:
            response: requests.Response | None = None
            try:
                response = self.session.request(
                    method=method, url=endpoint, json=json, params=params, data=data,
                    files=files, headers=headers, timeout=self.timeout,
                )
            except requests.Timeout:
                last_reason = "timed out"
            except (requests.ConnectionError, google.auth.exceptions.TransportError):
                last_reason = "connection failed"
            except google.auth.exceptions.RefreshError as error:
                reason = _one_line(error.args[0]) if error.args else "refresh failed"
                raise errors.SourceError(
                    f"could not get a Google access token ({reason}): check the credentials"
                    " (with --oauth, delete gspread's cached authorized_user.json to sign in"
                    " again)"
                ) from None
            else:
                if response.ok:
                    return response
                if response.status_code not in RETRY_STATUSES:
                    raise self._error(response, endpoint) from None
                last_reason = f"HTTP {response.status_code} {_api_message(response)}".strip()
            attempt += 1
            backoff = self.jitter(0.0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))
            hint = _retry_after(response)
            if response is not None and response.status_code == 429:
                delay = min(max(backoff, hint or 0.0), self.quota_window - slept)
                if delay <= 0:
                    break
            elif attempt < self.attempts:
                delay = max(backoff, min(hint, 2 * self.max_delay)) if hint else backoff
            else:
                break
            self.sleep(delay)
            slept += delay
        raise errors.SourceError(
            f"Google Sheets did not answer after {attempt} attempts (last: {last_reason});"
            " nothing more was written, the next run retries"
        )

    def _error(self, response: requests.Response, endpoint: str) -> errors.SourceError:
        match = _KEY_IN_ENDPOINT.search(endpoint)
        key = match.group(1) if match else "?"
        message = _api_message(response)
        status = response.status_code
        if status == 403:
            if "has not been used" in message or "is disabled" in message:
                return errors.SourceError(
                    "the Google Sheets API is disabled for the credentials' Cloud project:"
                    " enable sheets.googleapis.com in the Google Cloud console"
                )
            who = self.account() or "the Google account you signed in with (--oauth)"
            return errors.NoAccessError(
                f"no access to spreadsheet {key}: share the sheet with {who} (Editor)"
            )
        if status == 404:
            return errors.SourceError(
                f"spreadsheet {key} not found: check the URL or key (and that it is a Google"
                " Sheet, not an uploaded .xlsx)"
            )
        if status == 401:
            return errors.SourceError(
                "Google rejected the credentials (401): check the credentials file, or sign"
                " in again with --oauth"
            )
        return errors.SourceError(f"Google Sheets refused the request (HTTP {status}): {message}")


def open_client(
    credentials: str | None,
    oauth: bool,
    session: requests.Session | None = None,
    environ: Mapping[str, str] | None = None,
) -> gspread.Client:
    """Given ``--credentials`` and ``--oauth``, return a gspread client limited to the
    spreadsheets scope that retries on its own; the credentials are found as
    :mod:`~sheets_escalation.adapters.gsheets.auth` says (``environ`` defaults to the process's).

    ``session`` replaces the network (tests mount a fake Sheets API on it); token and
    metadata-server requests go through it too. With ``oauth`` True, ``credentials`` names
    the OAuth client file. Raise SourceError if no credentials are found or they cannot be
    loaded.
    """
    env = os.environ if environ is None else environ
    transport = session or requests.Session()
    creds = load_credentials(credentials, oauth, env, Request(transport))
    authorized = AuthorizedSession(creds, auth_request=Request(transport))
    for prefix, adapter in transport.adapters.items():
        authorized.mount(prefix, adapter)
    return client_with_session(authorized)


def client_with_session(session: requests.Session) -> gspread.Client:
    """Given a ready session (authorized, or a test transport), return a retrying client."""
    return gspread.Client(None, session=session, http_client=RetryingHTTPClient)  # type: ignore[arg-type]


def compact_json(value: Any) -> str:
    """``value`` as the JSON body the client sends: no spaces, ASCII only. Raise ValueError
    for NaN or infinity (not JSON)."""
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def json_size(value: Any) -> int:
    """Bytes of ``value`` as the client sends it (ASCII only, so one byte per character).
    Raise ValueError for NaN or infinity."""
    return len(compact_json(value))
