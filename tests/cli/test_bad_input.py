"""The bad-input catalogue: what people really type into a shared escalation log, run end to
end through the CLI on a local .xlsx and on the (fake) Google Sheet alike.

Each case says what the tool must read, or which clear message the row must carry, and that
no other row is affected: every workbook here also holds the same healthy control row, whose
results never change. Cell-level parsing is unit- and property-tested in tests/core/test_cells.py
(``test_parse_*_is_total``: reading any cell value never raises); the Triggers tab's
property test is tests/core/test_policy.py::test_any_triggers_tab_loads_or_raises_located_config_error.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from sheets_escalation.core import schema
from tests.support.both_backends import (
    HEADER,
    INPUT_HEADER,
    KINDS,
    NOW,
    Book,
    Formula,
    esc_row,
    good_row,
    make_book,
    serial,
)

CONTROL = good_row(ID="ESC-0100")
# The control row as the tool must leave it whatever the other rows hold: opened Tue 09:30,
# answered 10:00 (4 business hours allowed), resolution due Wed 09:30.
CONTROL_RESULT = {
    "Flag": "OK", "Triggers": None, "Problems": None, "Response SLA": "Met",
    "Resolution SLA": "On track", "Response due": dt.datetime(2026, 11, 24, 13, 30),
    "Resolution due": dt.datetime(2026, 11, 25, 9, 30), "Response hours": 0.5,
}


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def synced(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: list[list[Any]],
           header: list[str] | None = None, **tabs: list[list[Any]] | None) -> Book:
    """Create the workbook with ``rows`` after the control row, sync it (exit 0, nothing on
    stderr) and check the control row came out as it always does."""
    book = make_book(kind, tmp_path, [header or INPUT_HEADER, CONTROL, *rows], monkeypatch,
                     **tabs)
    run = book.sync("--quiet")
    assert (run.code, run.err) == (0, "")
    assert_control_untouched(book)
    return book


def assert_control_untouched(book: Book) -> None:
    control = book.by_id()["ESC-0100"]
    assert {k: control[k] for k in CONTROL_RESULT} == CONTROL_RESULT
    assert control["Customer"] == "Control Co"


# --------------------------------------------------------------------------- dates

TUESDAY_0930 = dt.datetime(2026, 11, 24, 9, 30)
DUE_1330 = dt.datetime(2026, 11, 24, 13, 30)
DATE_CASES: list[tuple[str, Any, dt.datetime | None, str | None]] = [
    # (case, Opened as typed, Response due it must give, problem it must give)
    ("date cell", TUESDAY_0930, DUE_1330, None),
    ("serial number", serial(TUESDAY_0930), DUE_1330, None),
    ("serial as text", str(round(serial(TUESDAY_0930), 6)), DUE_1330, None),
    ("month first", "11/24/2026 09:30", DUE_1330, None),
    ("am/pm", "11/24/2026 9:30 AM", DUE_1330, None),
    ("month name", "Nov 24, 2026 9:30", DUE_1330, None),
    ("day month name", "24 November 2026, 09:30", DUE_1330, None),
    ("ISO", "2026-11-24T09:30", DUE_1330, None),
    ("ISO with Z", "2026-11-24T09:30:00Z", DUE_1330, None),
    ("ISO with offset", "2026-11-24 10:30+01:00", DUE_1330, None),
    ("two-digit year", "11/24/26 09:30", DUE_1330, None),
    # a date without a time is midnight; the business clock starts at 09:00
    ("ISO date only", "2026-11-24", dt.datetime(2026, 11, 24, 13, 0), None),
    ("date only, two-digit year", "11/24/26", dt.datetime(2026, 11, 24, 13, 0), None),
    ("tomorrow", "tomorrow", None, 'Opened: cannot read "tomorrow" as a date'),
    ("impossible date", "31/02/2026", None, 'Opened: cannot read "31/02/2026" as a date'),
    ("month 13 both ways", "13/13/2026", None, 'Opened: cannot read "13/13/2026" as a date'),
    ("a boolean", True, None, 'Opened: cannot read "TRUE" as a date'),
    ("blank", None, None, "Opened: blank"),
]


def test_dates_in_every_form(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [good_row(ID=f"ESC-{n:04d}", Opened=opened, Customer=case)
            for n, (case, opened, _, _) in enumerate(DATE_CASES, start=1)]
    book = synced(kind, tmp_path, monkeypatch, rows)
    records = book.by_id()
    for n, (case, _, due, problem) in enumerate(DATE_CASES, start=1):
        record = records[f"ESC-{n:04d}"]
        assert record["Response due"] == due, case
        assert record["Problems"] == problem, case
        if problem:
            assert record["Flag"] == "CHECK INPUT", case


def test_a_day_first_date_under_mdy_is_read_and_reported(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Read as typed, and reported: it contradicts the Date order setting (MDY), which a
    # quiet run also says on stderr.
    book = make_book(kind, tmp_path, [INPUT_HEADER, CONTROL,
                                      good_row(ID="ESC-0001", Opened="24/11/2026 09:30")],
                     monkeypatch)
    run = book.sync("--quiet")
    assert run.code == 0
    assert run.err.startswith("warning: Settings Date order is MDY, but 1 row holds a date "
                              "that reads only day-first (Escalations!B3)")
    record = book.by_id()["ESC-0001"]
    assert record["Response due"] == DUE_1330
    assert record["Problems"] == ('Opened: "24/11/2026 09:30" reads only day-first '
                                  "(24 Nov 2026), but Settings Date order is MDY")
    assert record["Flag"] == "CHECK INPUT"


def test_an_opened_typed_as_a_dash_is_reported_blank(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = synced(kind, tmp_path, monkeypatch, [good_row(ID="ESC-0001", Opened="-")])
    assert book.by_id()["ESC-0001"]["Problems"] == "Opened: blank"


def test_day_first_sheets_read_ambiguous_dates_day_first(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = [["Key", "Value"], ["Date order", "DMY"], ["Timezone", "UTC"]]
    rows = [good_row(ID="ESC-0001", Opened="03/11/2026 09:30"),  # 3 November (a Tuesday)
            good_row(ID="ESC-0002", Opened="11/03/2026 09:30")]  # 11 March, long escalated
    book = make_book(kind, tmp_path, [INPUT_HEADER, *rows], monkeypatch, Settings=settings)
    assert book.cli("sync", "--quiet", "--now", "2026-11-03T15:00:00+00:00").code == 0
    records = book.by_id()
    assert records["ESC-0001"]["Response due"] == dt.datetime(2026, 11, 3, 13, 30)
    assert records["ESC-0001"]["Level"] is None
    assert records["ESC-0002"]["Level"] == "L2"


# --------------------------------------------------------------------------- money

MONEY_CASES: list[tuple[Any, bool, str | None]] = [
    # (Financial impact as typed, fires "Financial loss" (> 500), problem)
    ("1200", True, None),
    (1200, True, None),
    (1200.5, True, None),
    ("$1,200.50", True, None),
    ("USD 1200", True, None),
    ("1200 EUR", True, None),
    ("1.200,50 €", True, None),
    ("£ 600", True, None),
    ("2k", True, None),
    ("500", False, None),
    ("(700)", False, None),
    ("-700", False, None),
    ("499.99", False, None),
    ("n/a", False, None),
    (None, False, None),
    ("lots", False, 'Financial impact: cannot read "lots" as an amount'),
    ("12 apples", False, 'Financial impact: cannot read "12 apples" as an amount'),
    ("$", False, 'Financial impact: cannot read "$" as an amount'),
    ("1,2,3", False, 'Financial impact: cannot read "1,2,3" as an amount'),
    (True, False, 'Financial impact: cannot read "TRUE" as an amount'),
]


def test_money_in_every_form(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [good_row(ID=f"ESC-{n:04d}", **{"Financial impact": amount})
            for n, (amount, _, _) in enumerate(MONEY_CASES, start=1)]
    book = synced(kind, tmp_path, monkeypatch, rows)
    records = book.by_id()
    for n, (amount, fires, problem) in enumerate(MONEY_CASES, start=1):
        record = records[f"ESC-{n:04d}"]
        assert (record["Triggers"] == "Financial loss") is fires, amount
        assert record["Problems"] == problem, amount


# --------------------------------------------------------------------------- yes/no

YES = ["yes", "Yes", "Y", "TRUE", "true ", True, 1, "x", "X", "✓", "✔", "✅"]
NO = ["no", "N", "false", False, 0, "", "-", "n/a", None]
NEITHER = ["maybe", "2", "yes please", "oui"]


def test_yes_no_in_every_form(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = YES + NO + NEITHER
    rows = [good_row(ID=f"ESC-{n:04d}", **{"Manager requested": answer})
            for n, answer in enumerate(answers, start=1)]
    book = synced(kind, tmp_path, monkeypatch, rows)
    records = book.by_id()
    for n, answer in enumerate(answers, start=1):
        record = records[f"ESC-{n:04d}"]
        assert (record["Triggers"] == "Manager requested") is (answer in YES), answer
        if answer in NEITHER:
            assert record["Problems"] == f'Manager requested: cannot read "{answer}" as yes/no'
            assert record["Flag"] == "CHECK INPUT"
        else:
            assert record["Problems"] is None, answer


# --------------------------------------------------------------------------- IDs


def test_duplicate_ids_are_reported_and_each_row_keeps_its_own_results(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [
        good_row(ID="ESC-0007", Customer="Lawyer Ltd",
                 Description="Will call my lawyer", **{"First response at": None}),
        good_row(ID="esc-0007", Customer="Quiet Co"),
        good_row(ID="ESC-0007", Customer="Third Co", **{"Financial impact": 900}),
        good_row(ID=None, Customer="New Co"),
    ]
    book = synced(kind, tmp_path, monkeypatch, rows)
    body = book.records()[1:]
    assert [r["Customer"] for r in body] == ["Lawyer Ltd", "Quiet Co", "Third Co", "New Co"]
    assert [r["ID"] for r in body] == ["ESC-0007", "esc-0007", "ESC-0007", "ESC-0101"]
    assert body[0]["Triggers"] == "Legal threat" and body[0]["Problems"] is None
    assert body[1]["Triggers"] is None
    assert body[1]["Problems"] == "ID: duplicate of row 3"
    assert body[2]["Triggers"] == "Financial loss"
    assert body[2]["Problems"] == "ID: duplicate of row 3"
    assert body[3]["Problems"] is None


def test_rows_moving_while_duplicate_ids_are_written_refuses_the_whole_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [good_row(ID="ESC-0007", Customer="A"), good_row(ID="ESC-0007", Customer="B")]
    book = make_book("google", tmp_path, [INPUT_HEADER, CONTROL, *rows], monkeypatch)
    before = book.grid()

    def insert_a_row(fake: Any) -> None:
        # The second read (just before writing; a batchUpdate when it also grows grids)
        # sees a row someone inserted at the top.
        fake.before_next(":batch", lambda f: f.books[book_key(f)].sheet(
            schema.ESCALATIONS).insert_rows(1, [["ESC-0200", serial(TUESDAY_0930), "Typed now"]]))

    book.fake.before_next("values:batchGet", insert_a_row)
    run = book.sync("--quiet")
    assert run.code == 1
    assert "ID 'ESC-0007' is now on several rows; nothing was written" in run.err
    grid = book.grid()
    assert grid[0] == before[0] and grid[2:] == before[1:]  # only the person's row is new
    assert book.sync("--quiet").code == 0
    body = {r["Customer"]: r for r in book.records()}
    assert body["A"]["Problems"] is None and body["B"]["Problems"] == "ID: duplicate of row 4"
    assert_control_untouched(book)


def book_key(fake: Any) -> str:
    (key,) = fake.books
    return str(key)


# --------------------------------------------------------------------------- headers


def test_headers_in_any_case_spacing_and_order_are_found(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    header = ["  customer ", "OPENED", "id", "Financial   Impact", "level", "resolved AT",
              "First response at", "Description", "My own column"]
    rows = [esc_row(header, **{"  customer ": "Control Co", "OPENED": TUESDAY_0930,
                               "id": "ESC-0100", "First response at": dt.datetime(2026, 11, 24, 10),
                               "Description": "x", "My own column": "keep me"}),
            esc_row(header, **{"  customer ": "Big Co", "OPENED": TUESDAY_0930, "id": "ESC-0001",
                               "Financial   Impact": "$900", "My own column": "mine"})]
    book = make_book(kind, tmp_path, [header, *rows], monkeypatch)
    assert book.sync("--quiet").code == 0
    grid = book.grid()
    assert grid[0][: len(header)] == header  # people's headers are left as they typed them
    assert grid[0][len(header):] == [c.header for c in schema.OWNED_COLUMNS]
    records = {r["id"]: r for r in book.records()}
    assert records["ESC-0001"]["Triggers"] == "Financial loss"
    assert records["ESC-0001"]["My own column"] == "mine"
    assert records["ESC-0100"]["My own column"] == "keep me"
    assert (records["ESC-0100"]["Flag"], records["ESC-0100"]["Response SLA"]) == ("OK", "Met")


@pytest.mark.parametrize(("change", "messages"), [
    ({"Opened": "Opened on"}, ['Escalations!1:1: missing required header "Opened"']),
    ({"Customer": None, "ID": None},
     ['Escalations!1:1: missing required header "ID"',
      'Escalations!1:1: missing required header "Customer"']),
    ({"Notes": "customer"},
     ['Escalations!W1: header "customer" appears twice (also C1)']),
])
def test_renamed_missing_or_duplicated_headers_are_exit_2_and_write_nothing(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, str | None],
        messages: list[str]) -> None:
    header: list[Any] = [change.get(h, h) if h in change else h for h in INPUT_HEADER]
    book = make_book(kind, tmp_path, [header, CONTROL], monkeypatch)
    before = {tab: book.grid(tab) for tab in (schema.ESCALATIONS, schema.SETTINGS)}
    run = book.sync()
    assert run.code == 2
    assert run.err.splitlines() == ["error: the workbook's policy or headers need fixing:",
                                    *[f"  {m}" for m in messages], "nothing was written."]
    assert {tab: book.grid(tab) for tab in before} == before
    if kind == "google":
        assert not book.fake.calls("values.batchUpdate")


def test_optional_headers_may_be_missing_and_owned_ones_are_appended(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    header = ["ID", "Opened", "Customer", "Level", "Resolved at", "First response at"]
    rows = [esc_row(header, ID="ESC-0100", Opened=TUESDAY_0930, Customer="Control Co",
                    **{"First response at": dt.datetime(2026, 11, 24, 10)})]
    book = make_book(kind, tmp_path, [header, *rows], monkeypatch)
    assert book.sync("--quiet").code == 0
    assert book.grid()[0] == header + [c.header for c in schema.OWNED_COLUMNS]
    record = book.by_id()["ESC-0100"]
    assert (record["Flag"], record["Response SLA"]) == ("OK", "Met")
    assert record["Missing info"] is None  # asked only above L1 or with a pending escalation


def test_blank_header_cells_in_the_middle_keep_their_column_untouched(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    header = [*INPUT_HEADER[:3], None, *INPUT_HEADER[3:]]
    control = [*CONTROL[:3], "scratch note", *CONTROL[3:]]
    book = make_book(kind, tmp_path, [header, control], monkeypatch)
    assert book.sync("--quiet").code == 0
    grid = book.grid()
    assert grid[0][3] is None and grid[1][3] == "scratch note"
    assert grid[0][len(header):] == [c.header for c in schema.OWNED_COLUMNS]
    assert_control_untouched(book)


def test_values_under_a_blank_header_at_the_right_are_never_overwritten(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    control = [*CONTROL, "scratch note"]
    book = make_book(kind, tmp_path, [INPUT_HEADER, control], monkeypatch)
    assert book.sync("--quiet").code == 0
    assert book.grid()[1][len(INPUT_HEADER)] == "scratch note"


# --------------------------------------------------------------------------- empty tabs


@pytest.mark.parametrize("escalations", [None, []], ids=["no tab", "empty tab"])
def test_a_missing_or_empty_escalations_tab_is_exit_2(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        escalations: list[list[Any]] | None) -> None:
    book = make_book(kind, tmp_path, escalations, monkeypatch)
    run = book.sync()
    assert run.code == 2
    assert "  Escalations: tab is missing or empty" in run.err.splitlines()
    assert "nothing was written." in run.err


def test_header_only_evaluates_zero_rows_and_adds_the_owned_headers(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = make_book(kind, tmp_path, [INPUT_HEADER], monkeypatch)
    run = book.sync()
    assert run.code == 0
    assert "0 rows evaluated" in run.out and "No rows need attention." in run.out
    assert book.grid() == [HEADER]


# --------------------------------------------------------------------------- huge and foreign text

HUGE = 50_000
# An .xlsx cell holds at most 32,767 characters (Excel's limit, which openpyxl applies when
# the file is made); Google Sheets holds 50,000.
KEPT = {"xlsx": 32_767, "google": HUGE}


def test_fifty_thousand_character_cells(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    long_story = ("I will sue you. " + "The parcel never came. " * HUGE)[:HUGE]
    rows = [
        good_row(ID="ESC-0001", Description=long_story, Customer="C" * HUGE),
        good_row(ID="ESC-0002", Opened="9" * HUGE, **{"Financial impact": "1" * HUGE,
                                                      "Manager requested": "y" * HUGE}),
    ]
    book = synced(kind, tmp_path, monkeypatch, rows)
    records = book.by_id()
    first, second = records["ESC-0001"], records["ESC-0002"]
    assert first["Description"] == long_story[: KEPT[kind]]
    assert first["Customer"] == "C" * KEPT[kind]
    assert first["Triggers"] == "Legal threat" and first["Why"] == 'Legal threat: "sue" in Description'
    quoted = "9" * 79 + "…"
    assert second["Problems"] == (
        f'Opened: cannot read "{quoted}" as a date; '
        f'Financial impact: cannot read "{"1" * 79}…" as an amount; '
        f'Manager requested: cannot read "{"y" * 79}…" as yes/no')
    assert second["Flag"] == "CHECK INPUT"


UNICODE_ROWS = {
    "ESC-0001": {"Customer": "شركة الأمل للتجارة", "Description": "العميل غاضب جدا",
                 "Notes": "‏رقم الطلب 123‏"},
    "ESC-0002": {"Customer": "חברת אור", "Description": "הלקוח מאיים בעורך דין, lawyer"},
    "ESC-0003": {"Customer": "Café Zoë", "Description": "Cafe\u0301 says we were hacked 😡"},
    "ESC-0004": {"Customer": "株式会社テスト", "Description": "ログインできません",
                 "Steps tried": "パスワードをリセット"},
    "ESC-0005": {"Customer": "Zero\u200bWidth\u200dJoiner", "Description": "Ｌａｗｙｅｒ full width"},
}


def test_unicode_and_right_to_left_text_is_kept_and_read(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [good_row(ID=row_id, **values) for row_id, values in UNICODE_ROWS.items()]
    book = synced(kind, tmp_path, monkeypatch, rows)
    records = book.by_id()
    for row_id, values in UNICODE_ROWS.items():
        record = records[row_id]
        assert {k: record[k] for k in values} == values, row_id
        assert record["Problems"] is None, row_id
    assert records["ESC-0001"]["Flag"] == "OK"
    assert records["ESC-0002"]["Triggers"] == "Legal threat"
    assert records["ESC-0003"]["Triggers"] == "Security incident"
    message = book.cli("message", "ESC-0001", "--now", NOW)
    assert message.code == 0 and "Hello شركة الأمل للتجارة," in message.out


# --------------------------------------------------------------------------- merged cells


def test_merged_cells_never_stop_a_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [good_row(ID="ESC-0001", Customer="Twin A"), good_row(ID="ESC-0002", Customer="Twin B"),
            ["November"]]
    book = make_book("xlsx", tmp_path, [HEADER, CONTROL, *rows], monkeypatch)
    workbook = openpyxl.load_workbook(book.path)
    sheet = workbook[schema.ESCALATIONS]
    flag = HEADER.index("Flag") + 1
    sheet.merge_cells(start_row=3, start_column=flag, end_row=4, end_column=flag)  # two Flags
    sheet.merge_cells(start_row=3, start_column=5, end_row=4, end_column=5)  # two Channels
    sheet.merge_cells(start_row=5, start_column=1, end_row=5, end_column=len(HEADER))  # a banner
    workbook.save(book.path)

    run = book.sync("--quiet")
    assert (run.code, run.err) == (0, "")
    records = book.records()
    assert [r["Flag"] for r in records] == ["OK", "OK", "OK", "CHECK INPUT"]
    assert records[3]["ID"] == "November" and records[3]["Problems"] == "Opened: blank"
    assert_control_untouched(book)
    merged = {str(r) for r in openpyxl.load_workbook(book.path)[schema.ESCALATIONS].merged_cells.ranges}
    assert merged == {"E3:E4"}  # input cells the tool never writes keep their merge
    assert book.sync("--json").code == 0


# --------------------------------------------------------------------------- formulas

FORMULAS = {
    # header: (formula, cached value as the file stores it, cell type, value it must read as)
    "Opened": ("=DATE(2026,11,24)+TIME(9,30,0)", str(serial(TUESDAY_0930)), None, None),
    "Customer": ('="Formula"&" Co"', "Formula Co", "str", "Formula Co"),
    "Financial impact": ("=1000+500", "1500", None, None),
    "Manager requested": ("=1=1", "1", "b", None),
}


def _cache_formula_values(path: Path, row: int) -> None:
    """Store computed values for the formula cells of ``row``, as Excel would on saving."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    part = "xl/worksheets/sheet1.xml"
    xml = members[part]
    for header, (_, value, cell_type, _) in FORMULAS.items():
        ref = f"{openpyxl.utils.get_column_letter(INPUT_HEADER.index(header) + 1)}{row}"
        pattern = re.compile(rb'(<c r="' + ref.encode() + rb'"[^>]*)>(<f>[^<]*</f>)<v\s*/>')
        kind = b' t="' + cell_type.encode() + b'"' if cell_type else b""
        replacement = rb"\1" + kind + rb">\2<v>" + value.encode() + rb"</v>"
        xml, count = pattern.subn(replacement, xml)
        assert count == 1, header
    members[part] = xml
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_formulas_in_input_cells_are_read_by_value_and_kept(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    formula_row = good_row(ID="ESC-0001", **{h: Formula(f) for h, (f, *_) in FORMULAS.items()})
    book = make_book(kind, tmp_path, [INPUT_HEADER, CONTROL, formula_row], monkeypatch)
    if kind == "xlsx":
        _cache_formula_values(book.path, 3)
    else:
        sheet = book.fake.books[next(iter(book.fake.books))].sheet(schema.ESCALATIONS)
        computed = {"Opened": serial(TUESDAY_0930), "Customer": "Formula Co",
                    "Financial impact": 1500, "Manager requested": True}
        for header, value in computed.items():
            cell = sheet.cell(2, INPUT_HEADER.index(header))
            assert cell is not None
            cell.formula, cell.value = FORMULAS[header][0], value

    for _ in range(2):  # the second run must read the same values: nothing but Last run changes
        run = book.sync("--json")
        assert run.code == 0
        record = book.by_id()["ESC-0001"]
        assert record["Triggers"] == "Manager requested; Financial loss"
        assert record["Response due"] == DUE_1330
        assert record["Problems"] is None
        assert {h: record[h] for h in FORMULAS} == {h: f for h, (f, *_) in FORMULAS.items()}
    assert '"cells_written": 1,' in run.out
    assert_control_untouched(book)


# --------------------------------------------------------------------------- the Triggers tab

BROKEN_TRIGGERS: list[list[Any]] = [
    list(schema.TRIGGERS_HEADERS),
    ["Unresolved too long", "unresolved_for", "1 business day", "L1", "L2", "Automatic", "auto", "Yes"],
    ["Telepathy", "telepathy", "", "L1", "L2", "Immediate", "flag", "Yes"],
    ["Too long", "unresolved_for", "one day", "L1", "L2", "Automatic", "auto", "Yes"],
    ["Big loss", "financial_loss_over", "a lot", "L1", "L2", "Immediate", "flag", "Yes"],
    ["Repeat", "repeat_issue", "many customers", "L1", "L2", "1 hour", "flag", "Yes"],
    ["Lawyers", "mentions", "", "Any", "L3", "Immediate", "flag", "Yes"],
    ["From nowhere", "vip", "", "L7", "L2", "Immediate", "flag", "Yes"],
    ["Downwards", "vip", "", "L3", "L2", "Immediate", "flag", "Yes"],
    ["To nowhere", "vip", "", "L1", "L9", "Immediate", "flag", "Yes"],
    ["Slowly", "vip", "", "L1", "L2", "next week", "flag", "Yes"],
    ["Sometimes", "vip", "", "L1", "L2", "Immediate", "perhaps", "Yes"],
    ["Maybe on", "vip", "", "L1", "L2", "Immediate", "flag", "kind of"],
    ["unresolved TOO long", "vip", "", "L1", "L2", "Immediate", "flag", "Yes"],
    [None, "vip", "", "L1", "L2", "Immediate", "flag", "Yes"],
]
BROKEN_CELLS = ["B3", "C4", "C5", "C6", "C7", "D8", "E9", "E10", "F11", "G12", "H13", "A14", "A15"]


def test_a_triggers_tab_with_every_kind_of_mistake_locates_each_and_writes_nothing(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = make_book(kind, tmp_path, [INPUT_HEADER, CONTROL], monkeypatch,
                     Triggers=BROKEN_TRIGGERS)
    before = book.grid()
    for command in ("sync", "check"):
        run = book.cli(command, "--now", NOW) if command == "sync" else book.cli(command)
        assert run.code == 2, command
        lines = run.err.splitlines()
        assert lines[0] == "error: the workbook's policy or headers need fixing:"
        assert lines[-1] == "nothing was written."
        located = [re.match(r"  Triggers!([A-Z]+[0-9]+): ", line) for line in lines[1:-1]]
        assert all(located), lines
        assert sorted({m[1] for m in located if m}, key=_a1_order) == BROKEN_CELLS
    assert book.grid() == before
    if kind == "google":
        assert not book.fake.calls("values.batchUpdate")


def _a1_order(cell: str) -> tuple[int, str]:
    match = re.fullmatch(r"([A-Z]+)([0-9]+)", cell)
    assert match
    return int(match[2]), match[1]
