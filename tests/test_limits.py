"""Texts the tool writes are shortened to a cell's limit with "… and N more"."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from sheets_escalation.cli import cli
from sheets_escalation.core.limits import fit_text
from sheets_escalation.core.table import CellWrite, WritePlan
from tests.fixtures import GOLDEN_NOW, row, write_golden


def test_a_text_that_fits_is_unchanged() -> None:
    assert fit_text("a, b, c", 7) == "a, b, c"


def test_a_long_list_keeps_its_first_items_and_counts_the_rest() -> None:
    text = "Repeat issue: 6 customers within 1 hour: " + ", ".join(f"ESC-{n}" for n in range(6))
    fitted = fit_text(text, 70)
    assert fitted == "Repeat issue: 6 customers within 1 hour: ESC-0, ESC-1 … and 4 more"
    assert len(fitted) <= 70


def test_only_the_longest_rule_text_is_shortened() -> None:
    cluster = "Repeat issue: 9 customers within 1 hour: " + ", ".join(f"E{n}" for n in range(9))
    text = f"Legal threat: \"lawyer\" in Description; {cluster}; VIP customer: Acme"
    fitted = fit_text(text, len(text) - 5)
    assert fitted.startswith('Legal threat: "lawyer" in Description; Repeat issue: ')
    assert fitted.endswith(": E0, E1, E2, E3 … and 5 more; VIP customer: Acme")
    assert len(fitted) <= len(text) - 5


def test_a_text_without_a_list_is_cut_with_the_count_of_characters() -> None:
    assert fit_text("x" * 100, 40) == "x" * 15 + " … and 85 more characters"


@given(st.lists(st.text(alphabet="ab;, ", max_size=30), min_size=1, max_size=40),
       st.integers(min_value=30, max_value=300))
def test_the_result_always_fits(items: list[str], limit: int) -> None:
    text = ", ".join(items)
    fitted = fit_text(text, limit)
    assert len(fitted) <= limit
    assert fitted == text or "… and" in fitted


def test_a_plan_is_fitted_everywhere_it_writes_text() -> None:
    long = ", ".join(f"ESC-{n:04d}" for n in range(100))
    plan = WritePlan(cells=[CellWrite("Escalations", 1, 2, long, "ESC-0001"), CellWrite("Escalations", 2, 2, 7)],
                     appends={"History": [["At", long]]}, new_tabs={"New": [[long]]},
                     replace_tabs={"Review": [[long, None]]})
    plan.fit(100)
    fitted = fit_text(long, 100)
    assert fitted.endswith(" more") and len(fitted) <= 100
    assert plan.cells == [CellWrite("Escalations", 1, 2, fitted, "ESC-0001"), CellWrite("Escalations", 2, 2, 7)]
    assert (plan.appends, plan.new_tabs, plan.replace_tabs) == (
        {"History": [["At", fitted]]}, {"New": [[fitted]]}, {"Review": [[fitted, None]]})


def test_an_xlsx_cell_stays_within_excels_limit(tmp_path: Path) -> None:
    opened = dt.datetime(2026, 11, 24, 10, 0)
    rows = [row(id=f"OUTAGE-{n:04d}-{'x' * 50}", opened=opened + dt.timedelta(seconds=n),
                customer=f"Customer {n}", issue_key="OUTAGE-7") for n in range(600)]
    path = write_golden(tmp_path / "log.xlsx", rows)

    result = CliRunner().invoke(cli, ["sync", str(path), "--now", GOLDEN_NOW, "--quiet"])

    assert (result.exit_code, result.stderr) == (0, "")
    texts = [v for ws in openpyxl.load_workbook(path) for r in ws.iter_rows(values_only=True)
             for v in r if isinstance(v, str)]
    assert 30_000 < max(map(len, texts)) <= 32_767
    assert any(t.endswith(" more") and "… and" in t for t in texts)
