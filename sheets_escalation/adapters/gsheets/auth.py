"""Google credentials as Google users have them, always limited to the spreadsheets scope.

Without ``--oauth``, the first of these is used:

1. the file given with ``--credentials``;
2. the file ``GOOGLE_APPLICATION_CREDENTIALS`` names (what gcloud, google-github-actions/auth
   and most Google tooling set);
3. gspread's conventional key file, ``~/.config/gspread/service_account.json``;
4. Application Default Credentials: the file ``gcloud auth application-default login``
   writes (``~/.config/gcloud/application_default_credentials.json``, or under
   ``CLOUDSDK_CONFIG``), else the metadata server on Google Cloud (``google.auth.default``).

A file may hold any kind google-auth loads: a service-account key (``service_account``), a
gcloud user login (``authorized_user``), Workload Identity Federation (``external_account``,
what google-github-actions/auth writes) or an impersonated service account
(``impersonated_service_account``). With ``--oauth``, the user's own account signs in through
gspread's authorized-user flow, and ``--credentials`` names the OAuth client file (never
``GOOGLE_APPLICATION_CREDENTIALS``, which holds credentials, not an OAuth client).

Every mistake is one line naming the file and what was expected (:class:`SourceError`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import google.auth
import google.auth.exceptions
from google.auth import external_account, impersonated_credentials
from google.auth.credentials import Credentials
from google.auth.transport.requests import Request
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from sheets_escalation.core import errors

SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
KINDS = ("service_account", "authorized_user", "external_account",
         "impersonated_service_account")
KEY_PAGE = "https://console.cloud.google.com/iam-admin/serviceaccounts"
# The placeholders of the project's credentials.example.json.
_EXAMPLE_MARKERS = ("REPLACE-WITH-YOUR-KEY", "your-project-id")
_GCLOUD_FILE = "application_default_credentials.json"
_LABELS = {"service_account": "service-account key file",
           "authorized_user": "gcloud user login file",
           "external_account": "Workload Identity Federation file",
           "impersonated_service_account": "impersonated service-account file"}


def load_credentials(path: str | None, oauth: bool, environ: Mapping[str, str],
                     request: Request) -> Credentials:
    """Given ``--credentials``, ``--oauth`` and the environment, return credentials limited
    to the spreadsheets scope, found as the module doc says. ``request`` carries the token
    and metadata-server requests. Raise SourceError, one line, if none are found or a file
    is not what was expected."""
    if oauth:
        return _oauth_credentials(path)
    chosen = path or environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not chosen:
        from gspread import auth

        chosen = next((str(place) for place in (Path(auth.DEFAULT_SERVICE_ACCOUNT_FILENAME),
                                                 _gcloud_login(environ)) if place.is_file()), None)
    if chosen:
        return _from_file(chosen)
    try:
        # Only the metadata server is left (on Google Cloud): google.auth.default finds it.
        credentials, _ = google.auth.default(scopes=list(SCOPES), request=request)
    except google.auth.exceptions.DefaultCredentialsError:
        raise errors.SourceError(
            "no Google credentials: pass --credentials FILE, set GOOGLE_APPLICATION_CREDENTIALS,"
            " put a service-account key at ~/.config/gspread/service_account.json, run"
            " `gcloud auth application-default login`, or use --oauth"
        ) from None
    return credentials


def describe_account(credentials: Credentials) -> str:
    """Given loaded credentials, return who Google sees: the service account's address, or
    which user login is in use."""
    email = getattr(credentials, "service_account_email", None)
    if isinstance(email, str) and "@" in email:
        return email
    if isinstance(credentials, user_credentials.Credentials):
        return "your own Google account (a user login)"
    if isinstance(credentials, external_account.Credentials):
        return "a Workload Identity Federation identity (no service account impersonated)"
    return "the Application Default Credentials of this machine"


def _read_json(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise errors.SourceError(f"credentials file not found: {path}") from None
    except IsADirectoryError:
        raise errors.SourceError(f"{path} is a folder, not a credentials file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise errors.SourceError(f"cannot read credentials file {path}: {error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise errors.SourceError(
            f"{path} is not valid JSON (line {error.lineno} column {error.colno}): expected a"
            " Google credentials file such as a service-account key"
        ) from None


def _from_file(path: str) -> Credentials:
    info = _read_json(path)
    if not isinstance(info, dict):
        raise errors.SourceError(f"{path} is not a Google credentials file: expected a JSON object")
    kind = info.get("type")
    if kind == "service_account" and any(
            marker in str(info.get(field, "")) for marker in _EXAMPLE_MARKERS
            for field in ("private_key", "project_id")):
        raise errors.SourceError(
            f"{path} is the example credentials file: download your own service-account key"
            f" (JSON) from {KEY_PAGE}"
        )
    if kind is None and ("installed" in info or "web" in info):
        raise errors.SourceError(
            f"{path} is an OAuth client file, not credentials: use it with --oauth"
            f" --credentials {path}, or give a service-account key"
        )
    if kind not in KINDS:
        raise errors.SourceError(
            f"{path} is not a Google credentials file this tool uses: its \"type\" is"
            f" {json.dumps(kind)}, expected one of {', '.join(KINDS)}"
        )
    try:
        credentials = _LOADERS[kind](info)
    except (google.auth.exceptions.DefaultCredentialsError, ValueError, KeyError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise errors.SourceError(f"{path} is not a {_LABELS[kind]} ({reason})") from None
    return credentials


def _external_account(info: dict[str, Any]) -> Credentials:
    """Workload Identity Federation credentials, built as google-auth builds them but
    without looking up the project id, which would fetch a token while loading (and fail
    wherever the identity token is not there yet)."""
    source = info.get("credential_source") or {}
    if str(source.get("environment_id", "")).startswith("aws"):
        from google.auth import aws

        return aws.Credentials.from_info(info, scopes=list(SCOPES))
    if "executable" in source:
        from google.auth import pluggable

        return pluggable.Credentials.from_info(info, scopes=list(SCOPES))
    from google.auth import identity_pool

    return identity_pool.Credentials.from_info(info, scopes=list(SCOPES))


_LOADERS: dict[str, Callable[[dict[str, Any]], Credentials]] = {
    # One loader per kind, the kind checked first: google-auth's generic loader is deprecated
    # for trusting a file's "type" blindly.
    "service_account": lambda info: service_account.Credentials.from_service_account_info(
        info, scopes=list(SCOPES)),
    "authorized_user": lambda info: user_credentials.Credentials.from_authorized_user_info(
        info, scopes=list(SCOPES)),
    "external_account": _external_account,
    "impersonated_service_account": lambda info: (
        impersonated_credentials.Credentials.from_impersonated_service_account_info(
            info, scopes=list(SCOPES))),
}


def _gcloud_login(environ: Mapping[str, str]) -> Path:
    """Where `gcloud auth application-default login` writes its credentials."""
    if environ.get("CLOUDSDK_CONFIG"):
        return Path(environ["CLOUDSDK_CONFIG"]) / _GCLOUD_FILE
    if os.name == "nt" and environ.get("APPDATA"):
        return Path(environ["APPDATA"]) / "gcloud" / _GCLOUD_FILE
    return Path.home() / ".config" / "gcloud" / _GCLOUD_FILE


def _oauth_credentials(client_file: str | None) -> Credentials:
    """gspread's authorized-user flow: reuse the cached token, else sign in once and cache it."""
    from gspread import auth

    cached = Path(auth.DEFAULT_AUTHORIZED_USER_FILENAME)
    credentials = auth.load_credentials(filename=cached)
    if credentials is not None:
        return credentials
    secrets = Path(client_file) if client_file else Path(auth.DEFAULT_CREDENTIALS_FILENAME)
    if not secrets.is_file():
        raise errors.SourceError(
            f"OAuth client file not found: {secrets} (create an OAuth client of type Desktop"
            " app in the Google Cloud console and save its JSON there, or pass --credentials"
            " FILE)"
        )
    client_config = _read_json(str(secrets))
    if not isinstance(client_config, dict) or not ("installed" in client_config
                                                   or "web" in client_config):
        kind = client_config.get("type") if isinstance(client_config, dict) else None
        hint = " (it holds credentials: drop --oauth to use it)" if kind in KINDS else ""
        raise errors.SourceError(
            f"{secrets} is not an OAuth client file: expected the JSON of an OAuth client of"
            f" type Desktop app{hint}"
        )
    user = auth.local_server_flow(client_config=client_config, scopes=list(SCOPES))
    auth.store_credentials(user, filename=cached)
    return user
