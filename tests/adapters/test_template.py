"""The workbook template: tabs, seeds, look, init's refusal, and the committed file."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from sheets_escalation.adapters.xlsx import template
from sheets_escalation.core import layout as tab_layout
from sheets_escalation.core import schema, staleness
from sheets_escalation.core.errors import RefusedError, SourceError, UsageError

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "sheet_template.xlsx"


def _column(ws: Worksheet, header: str) -> str:
    for cell in ws[1]:
        if cell.value == header:
            return str(cell.column_letter)
    raise AssertionError(f"{header} not in {ws.title}")


def _validations(ws: Worksheet) -> dict[str, tuple[str, str]]:
    """sqref -> (list formula, error style)."""
    return {str(v.sqref): (v.formula1, v.errorStyle) for v in ws.data_validations.dataValidation}


def _fill_of(rule: Any) -> str:
    """The rule's fill colour; "" for one that colours only the text (the indicator's)."""
    return str(rule.dxf.fill.fgColor.rgb) if rule.dxf.fill is not None else ""


def _color_rules(ws: Worksheet) -> dict[str, list[tuple[str, str, str]]]:
    """sqref -> [(value, fill, font colour)] in priority order."""
    rules: dict[str, list[tuple[str, str, str]]] = {}
    for area in ws.conditional_formatting:
        for rule in area.rules:
            rules.setdefault(str(area.sqref), []).append(
                (rule.formula[0].strip('"'), _fill_of(rule)[2:], rule.dxf.font.color.rgb[2:])
            )
    return rules


def describe(workbook: Workbook) -> dict[str, Any]:
    """Everything a person sees in the workbook, as plain data comparable with ==."""
    out: dict[str, Any] = {"tabs": workbook.sheetnames}
    for ws in workbook.worksheets:
        cells = {
            cell.coordinate: (cell.value, cell.data_type, cell.font.b, cell.font.color and cell.font.color.rgb,
                              cell.fill.fill_type, cell.fill.fgColor.rgb, cell.number_format,
                              cell.alignment.wrap_text)
            for row in ws.iter_rows() for cell in row if cell.value is not None or cell.has_style
        }
        columns = {
            key: (dim.min, dim.max, dim.width, dim.fill.fgColor.rgb, dim.number_format,
                  dim.alignment.wrap_text)
            for key, dim in ws.column_dimensions.items()
        }
        validations = [
            (str(v.sqref), v.type, v.formula1, v.errorStyle, v.allow_blank, v.error)
            for v in ws.data_validations.dataValidation
        ]
        formats = [
            (str(area.sqref), rule.type, rule.operator, tuple(rule.formula), rule.priority,
             _fill_of(rule), rule.dxf.font.color.rgb, rule.dxf.font.b)
            for area in ws.conditional_formatting for rule in area.rules
        ]
        out[ws.title] = {"freeze": ws.freeze_panes, "cells": cells, "columns": columns,
                         "validations": validations, "formats": formats}
    return out


@pytest.fixture(scope="module")
def workbook() -> Workbook:
    return template.new_workbook()


def test_tabs_in_order_with_schema_headers(workbook: Workbook) -> None:
    assert workbook.sheetnames == [
        "Escalations", "Levels", "Triggers", "Settings", "Holidays", "VIP", "History", "Templates",
    ]
    expected = {
        # The staleness indicator sits in the header row right of the last template column.
        schema.ESCALATIONS: (*(c.header for c in schema.ESCALATION_COLUMNS),
                             staleness.formula("A", "B")),
        schema.LEVELS: schema.LEVELS_HEADERS,
        schema.TRIGGERS: schema.TRIGGERS_HEADERS,
        schema.SETTINGS: schema.SETTINGS_HEADERS,
        schema.HOLIDAYS: schema.HOLIDAYS_HEADERS,
        schema.VIP: schema.VIP_HEADERS,
        schema.HISTORY: schema.HISTORY_HEADERS,
        schema.TEMPLATES: schema.TEMPLATES_HEADERS,
    }
    for title, headers in expected.items():
        assert tuple(c.value for c in workbook[title][1]) == headers


@pytest.mark.parametrize(
    ("title", "seeds"),
    [
        (schema.LEVELS, schema.DEFAULT_LEVELS),
        (schema.TRIGGERS, schema.DEFAULT_TRIGGERS),
        (schema.SETTINGS, schema.DEFAULT_SETTINGS),
        (schema.TEMPLATES, schema.DEFAULT_TEMPLATES),
    ],
)
def test_seed_rows_are_the_schema_defaults(workbook: Workbook, title: str, seeds: Any) -> None:
    ws = workbook[title]
    width = len(seeds[0])
    body = [tuple(c.value for c in row[:width]) for row in ws.iter_rows(min_row=2)]
    assert body == [tuple(v if v != "" else None for v in seed) for seed in seeds]


def test_escalations_and_history_start_empty(workbook: Workbook) -> None:
    for title in (schema.ESCALATIONS, schema.HOLIDAYS, schema.VIP, schema.HISTORY):
        assert workbook[title].max_row == 1


def test_dropdowns(workbook: Workbook) -> None:
    escalations = workbook[schema.ESCALATIONS]
    rules = _validations(escalations)
    level = _column(escalations, "Level")
    assert rules[f"{level}2:{level}1048576"] == ('"L1,L2,L3"', "stop")
    yes_no = _column(escalations, "Manager requested")
    assert rules[f"{yes_no}2:{yes_no}1048576"] == ('"Yes,No"', "warning")
    channel = _column(escalations, "Channel")
    assert rules[f"{channel}2:{channel}1048576"][0] == '"' + ",".join(schema.CHANNELS) + '"'
    triggers = workbook[schema.TRIGGERS]
    kind = _column(triggers, "Kind")
    assert _validations(triggers)[f"{kind}2:{kind}1048576"] == (
        '"' + ",".join(schema.TRIGGER_KINDS) + '"', "stop")
    source = _column(triggers, "From")
    assert _validations(triggers)[f"{source}2:{source}1048576"][0] == '"Any,L1,L2,L3"'


def test_flag_and_sla_colour_rules(workbook: Workbook) -> None:
    ws = workbook[schema.ESCALATIONS]
    rules = _color_rules(ws)
    flag = _column(ws, "Flag")
    flag_rules = rules[f"{flag}2:{flag}1048576"]
    assert [value for value, _, _ in flag_rules] == list(schema.FLAGS)
    assert flag_rules[0] == ("ESCALATION OVERDUE", "8B0000", "FFFFFF")
    sla = _column(ws, "Resolution SLA")
    assert {value for value, _, _ in rules[f"{sla}2:{sla}1048576"]} == set(schema.SLA_STATES)
    assert _column(ws, "Description") + "2:" + _column(ws, "Description") + "1048576" not in rules


def test_owned_columns_are_shaded_and_inputs_are_not(workbook: Workbook) -> None:
    ws = workbook[schema.ESCALATIONS]
    for column in schema.OWNED_COLUMNS:
        letter = _column(ws, column.header)
        assert ws[f"{letter}1"].fill.fgColor.rgb == "FF" + tab_layout.OWNED_HEADER_FILL
        assert ws.column_dimensions[letter].fill.fgColor.rgb == "FF" + tab_layout.OWNED_FILL
    for column in schema.INPUT_COLUMNS:
        letter = _column(ws, column.header)
        assert ws[f"{letter}1"].fill.fgColor.rgb == "FF" + tab_layout.HEADER_FILL
        assert ws.column_dimensions[letter].fill.fill_type is None


def test_datetime_columns_and_widths(workbook: Workbook) -> None:
    ws = workbook[schema.ESCALATIONS]
    datetime_headers = {c.header for c in schema.ESCALATION_COLUMNS if c.kind == "datetime"}
    assert set(tab_layout.TAB_LAYOUTS[schema.ESCALATIONS].datetime_columns) == datetime_headers
    for header in datetime_headers:
        assert ws.column_dimensions[_column(ws, header)].number_format == "yyyy-mm-dd hh:mm"
    assert ws.column_dimensions[_column(ws, "Description")].width == 44
    assert workbook[schema.HISTORY].column_dimensions["A"].number_format == "yyyy-mm-dd hh:mm"


def test_frozen_header_row_and_first_column_on_escalations(workbook: Workbook) -> None:
    assert workbook[schema.ESCALATIONS].freeze_panes == "B2"
    for title in tab_layout.TAB_ORDER[1:]:
        assert workbook[title].freeze_panes == "A2"


def test_layout_data_names_only_headers_of_its_tab() -> None:
    for layout in tab_layout.TAB_LAYOUTS.values():
        named = (set(layout.widths) | set(layout.dropdowns) | set(layout.number_formats)
                 | set(layout.owned) | set(layout.wrap) | set(layout.color_rules))
        assert named <= set(layout.headers), layout.title
        for row in layout.rows:
            assert len(row) <= len(layout.headers)


def test_output_is_deterministic() -> None:
    assert template.workbook_bytes(template.new_workbook()) == template.workbook_bytes(
        template.new_workbook())


def test_committed_template_matches_the_generator() -> None:
    committed = openpyxl.load_workbook(COMMITTED)
    generated = openpyxl.load_workbook(io.BytesIO(template.workbook_bytes(template.new_workbook())))
    assert describe(committed) == describe(generated), (
        "sheet_template.xlsx is stale: run `make template`")


def test_main_regenerates_the_file(tmp_path: Path) -> None:
    target = tmp_path / "t.xlsx"
    assert template.main([str(target)]) == 0
    assert target.read_bytes() == template.workbook_bytes(template.new_workbook())
    assert template.main([]) == 2


def test_init_creates_a_new_workbook(tmp_path: Path) -> None:
    target = tmp_path / "new.xlsx"
    created = template.init_xlsx(target)
    assert created == list(tab_layout.TAB_ORDER)
    assert openpyxl.load_workbook(target).sheetnames == created
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.xlsx"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_init_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "mine.xlsx"
    target.write_bytes(b"precious")
    with pytest.raises(RefusedError, match="already exists"):
        template.init_xlsx(target)
    assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.xlsx"]


def test_init_refuses_a_path_appearing_during_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "race.xlsx"
    original = template.workbook_bytes

    def appear_meanwhile(workbook: Workbook) -> bytes:
        target.write_bytes(b"someone else's")
        return original(workbook)

    monkeypatch.setattr(template, "workbook_bytes", appear_meanwhile)
    with pytest.raises(RefusedError):
        template.init_xlsx(target)
    assert target.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.xlsx"]


def test_init_rejects_other_suffixes_and_missing_folders(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=".xlsx"):
        template.init_xlsx(tmp_path / "book.xls")
    with pytest.raises(SourceError, match="not found"):
        template.init_xlsx(tmp_path / "missing" / "book.xlsx")


def test_add_missing_tabs_adds_only_what_is_missing() -> None:
    workbook = openpyxl.Workbook()
    first = workbook.active
    assert first is not None
    first.title = "escalations"  # another case: still the Escalations tab
    first["A1"] = "My own header"
    workbook.create_sheet("Notes")["B2"] = "keep me"
    added = template.add_missing_tabs(workbook)
    assert added == list(tab_layout.TAB_ORDER[1:])
    assert first["A1"].value == "My own header" and first.max_column == 1
    assert workbook["Notes"]["B2"].value == "keep me"
    assert workbook["Levels"]["A2"].value == "L1"
    assert template.add_missing_tabs(workbook) == []
