"""Every credential Google users have loads, limited to the spreadsheets scope; every mistake
is one line naming the file. The files are made here; nothing reaches the network (token and
metadata-server requests go to the fake, tests/fake_sheets.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gspread
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import external_account, impersonated_credentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from sheets_escalation.adapters.gsheets import http as gsheets
from sheets_escalation.adapters.gsheets.auth import describe_account
from sheets_escalation.adapters.gsheets.backend import GoogleSheetsBackend
from sheets_escalation.adapters.gsheets.http import open_client
from sheets_escalation.cli import cli
from sheets_escalation.core import errors
from tests.fake_sheets import FakeSheetsAPI
from tests.fixtures import seed

SCOPE = ["https://www.googleapis.com/auth/spreadsheets"]
KEY = "1CredentialsTestKey0123456789abcdefghijkl"
BOT = "escalations-bot@acme-support.iam.gserviceaccount.com"
USER = {"type": "authorized_user", "client_id": "id.apps.googleusercontent.com",
        "client_secret": "secret", "refresh_token": "refresh"}
IMPERSONATE = ("https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"
               f"{BOT}:generateAccessToken")
FEDERATED = {
    # What google-github-actions/auth writes for Workload Identity Federation.
    "type": "external_account",
    "audience": "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/github/providers/acme",
    "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
    "token_url": "https://sts.googleapis.com/v1/token",
    "credential_source": {"file": "/tmp/github-oidc-token", "format": {"type": "text"}},
    "service_account_impersonation_url": IMPERSONATE,
}
IMPERSONATED = {"type": "impersonated_service_account", "service_account_impersonation_url": IMPERSONATE,
                "source_credentials": USER, "delegates": []}


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials anywhere but where a test puts them."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setattr(gspread.auth, "DEFAULT_SERVICE_ACCOUNT_FILENAME", tmp_path / "gspread" / "service_account.json")
    monkeypatch.setattr(gspread.auth, "DEFAULT_AUTHORIZED_USER_FILENAME", tmp_path / "gspread" / "authorized_user.json")
    monkeypatch.setattr(gspread.auth, "DEFAULT_CREDENTIALS_FILENAME", tmp_path / "gspread" / "credentials.json")


def _key(path: Path) -> Path:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return _write(path, {"type": "service_account", "project_id": "acme-support",
                         "private_key_id": "0" * 40, "private_key": pem, "client_email": BOT,
                         "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token"})


def _write(path: Path, content: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    path.chmod(0o600)
    return path


def _loaded(client: gspread.Client) -> Any:
    return client.http_client.session.credentials  # type: ignore[attr-defined]


@pytest.mark.parametrize(("content", "kind", "account"), [
    (USER, user_credentials.Credentials, "your own Google account (a user login)"),
    (FEDERATED, external_account.Credentials, BOT),
    (IMPERSONATED, impersonated_credentials.Credentials, BOT),
])
def test_every_kind_of_credentials_file_loads_with_the_spreadsheets_scope_only(
        tmp_path: Path, content: dict[str, Any], kind: type, account: str) -> None:
    path = _write(tmp_path / "credentials.json", content)
    credentials = _loaded(open_client(str(path), oauth=False, session=FakeSheetsAPI().session()))
    assert isinstance(credentials, kind)
    scopes = getattr(credentials, "_target_scopes", None) or credentials.scopes
    assert list(scopes) == SCOPE
    assert describe_account(credentials) == account


def test_a_gcloud_user_login_reads_the_sheet(tmp_path: Path) -> None:
    fake = FakeSheetsAPI()
    fake.add_spreadsheet(KEY, {"Escalations": [["ID"]]})
    path = _write(tmp_path / "adc.json", USER)
    backend = GoogleSheetsBackend(KEY, open_client(str(path), oauth=False, session=fake.session()),
                                  lock_dir=tmp_path)
    assert backend.read(["Escalations"])["Escalations"].header == ["ID"]
    assert fake.token_requests == 1


@pytest.mark.parametrize("where", ["environment", "gspread", "gcloud"])
def test_without_credentials_option_the_usual_places_are_searched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    if where == "environment":
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(_key(tmp_path / "env-key.json")))
        environ = None
    elif where == "gspread":
        _key(tmp_path / "gspread" / "service_account.json")
        environ = {}
    else:
        # `gcloud auth application-default login` writes this; google.auth.default finds it.
        _write(tmp_path / "gcloud" / "application_default_credentials.json", USER)
        environ = {"CLOUDSDK_CONFIG": str(tmp_path / "gcloud")}
    credentials = _loaded(open_client(None, oauth=False, session=FakeSheetsAPI().session(),
                                      environ=environ))
    kind = user_credentials.Credentials if where == "gcloud" else service_account.Credentials
    assert isinstance(credentials, kind) and list(credentials.scopes) == SCOPE


def test_no_credentials_anywhere_lists_where_to_put_them() -> None:
    with pytest.raises(errors.SourceError) as caught:
        open_client(None, oauth=False, session=FakeSheetsAPI().session(), environ={})
    assert str(caught.value) == (
        "no Google credentials: pass --credentials FILE, set GOOGLE_APPLICATION_CREDENTIALS,"
        " put a service-account key at ~/.config/gspread/service_account.json, run"
        " `gcloud auth application-default login`, or use --oauth")


def _example() -> str:
    return (Path(__file__).resolve().parents[1] / "credentials.example.json").read_text()


@pytest.mark.parametrize(("content", "message"), [
    ('{"type": "service_account",', "{path} is not valid JSON (line 1 column 28): expected a"
     " Google credentials file such as a service-account key"),
    (_example(), "{path} is the example credentials file: download your own service-account key"
     " (JSON) from https://console.cloud.google.com/iam-admin/serviceaccounts"),
    ({"installed": {"client_id": "x", "client_secret": "y"}},
     "{path} is an OAuth client file, not credentials: use it with --oauth --credentials {path},"
     " or give a service-account key"),
    ({"type": "api_key", "key": "x"}, '{path} is not a Google credentials file this tool uses: its'
     ' "type" is "api_key", expected one of service_account, authorized_user, external_account,'
     ' impersonated_service_account'),
    (["not", "an", "object"], "{path} is not a Google credentials file: expected a JSON object"),
    ({"type": "service_account", "client_email": BOT}, "{path} is not a service-account key file ("),
    ({"type": "external_account"}, "{path} is not a Workload Identity Federation file ("),
])
def test_a_wrong_credentials_file_is_one_line_naming_it(tmp_path: Path, content: Any, message: str) -> None:
    path = _write(tmp_path / "key.json", content)
    with pytest.raises(errors.SourceError) as caught:
        open_client(str(path), oauth=False, session=FakeSheetsAPI().session())
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(message.format(path=path))


def test_oauth_never_reads_google_application_credentials_as_a_client_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(_key(tmp_path / "key.json")))
    result = CliRunner().invoke(cli, ["check", f"https://docs.google.com/spreadsheets/d/{KEY}/edit", "--oauth"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: OAuth client file not found: {tmp_path / 'gspread' / 'credentials.json'} (create an"
        " OAuth client of type Desktop app in the Google Cloud console and save its JSON there,"
        " or pass --credentials FILE)\n")


def test_oauth_with_a_service_account_key_says_to_drop_oauth(tmp_path: Path) -> None:
    path = _key(tmp_path / "key.json")
    with pytest.raises(errors.SourceError) as caught:
        open_client(str(path), oauth=True, session=FakeSheetsAPI().session())
    assert str(caught.value) == (
        f"{path} is not an OAuth client file: expected the JSON of an OAuth client of type"
        " Desktop app (it holds credentials: drop --oauth to use it)")


@pytest.mark.parametrize(("url", "message"), [
    ("https://docs.google.com/document/d/1AbCdEfGhIjKlMnOpQrStUvWxYz0123/edit",
     "https://docs.google.com/document/d/1AbCdEfGhIjKlMnOpQrStUvWxYz0123/edit is not a Google"
     " Sheets URL: expected https://docs.google.com/spreadsheets/d/… (or a local .xlsx path)"),
    ("https://drive.google.com/file/d/1AbCdEfGhIjKlMnOpQrStUvWxYz0123/view",
     "https://drive.google.com/file/d/1AbCdEfGhIjKlMnOpQrStUvWxYz0123/view is a Google Drive file"
     " link, not a Google Sheet: open the file in Google Sheets (an uploaded .xlsx: File > Save"
     " as Google Sheets) and use the address it shows, https://docs.google.com/spreadsheets/d/…"),
])
@pytest.mark.parametrize("command", ["check", "sync", "init"])
def test_a_docs_or_drive_url_is_named_as_typed(url: str, message: str, command: str) -> None:
    result = CliRunner().invoke(cli, [command, url])
    assert (result.exit_code, result.stderr) == (1, f"error: {message}\n")


# --------------------------------------------------------------------------- check


@pytest.mark.parametrize("read_only", [False, True])
def test_check_on_a_google_sheet_names_the_account_and_whether_it_can_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_only: bool) -> None:
    from tests.fixtures import write_golden

    fake = FakeSheetsAPI(caller_email=BOT)
    real_open_client = gsheets.open_client
    monkeypatch.setattr(gsheets, "open_client",
                        lambda c, o: real_open_client(c, o, session=fake.session()))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    book = seed(fake, write_golden(tmp_path / "log.xlsx"))
    book.read_only = read_only
    key = _key(tmp_path / "key.json")

    result = CliRunner().invoke(cli, ["check", f"https://docs.google.com/spreadsheets/d/{book.key}/edit",
                                      "--credentials", str(key)])

    assert (result.exit_code, result.stderr) == (0, "")
    last = result.stdout.splitlines()[-1]
    if read_only:
        assert last == (f"Google account: {BOT}; it can only view the sheet: share it with {BOT}"
                        " as Editor, or sync cannot write.")
    else:
        assert last == f"Google account: {BOT}; it can edit the sheet."
    assert book.title == "Untitled spreadsheet"
