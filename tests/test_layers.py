"""The shape of the house (docs/architecture.md): imports point down only, the core is
pure, nothing imports in a circle, no module borrows another's private names, a long
module says at its top why it is one piece, and the tests mirror the layers and share
helpers only through tests/support.

Read from the source with ``ast`` (imports inside functions count too), so a new module
is held to the rules the day it is added.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sheets_escalation"
NAME = "sheets_escalation"

#: Libraries that reach outside the process (files, network, terminal, processes): the
#: adapters' business, never the core's.
OUTSIDE = {"gspread", "google", "openpyxl", "python_calamine", "click", "requests", "smtplib",
           "subprocess", "socket", "filelock", "jinja2", "matplotlib", "fpdf", "tomllib",
           "zipfile", "tempfile", "shutil", "os", "io", "pathlib", "glob", "urllib"}
#: Calls that read the clock: the core is handed ``now``.
CLOCK_READS = {"now", "today", "utcnow", "time", "monotonic", "perf_counter"}
LONG = 600


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Given a module's file, return every module it imports (absolute names)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names
                         if f"{node.module}.{alias.name}" in MODULES)
    return names


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _own(names: set[str]) -> set[str]:
    return {name for name in names if name in MODULES and name != NAME}


@pytest.mark.parametrize("module", [m for m in MODULES if _layer(m) == "core"])
def test_the_core_is_pure(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text())
    imported = _imports(MODULES[module])
    outside = sorted(name for name in imported if name.split(".")[0] in OUTSIDE)
    upward = sorted(name for name in _own(imported) if _layer(name) != "core")
    clock = sorted(
        ast.unparse(node) for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr in CLOCK_READS and not node.args
        and ast.unparse(node.func.value).split(".")[-1] in {"dt", "datetime", "Timestamp", "date",
                                                            "time", "pd"})
    assert (outside, upward, clock) == ([], [], [])


ALLOWED = {"cli": {"cli", "jobs", "adapters", "core", ""},
           "jobs": {"jobs", "adapters", "core"},
           "adapters": {"adapters", "core"},
           "core": {"core"}}


@pytest.mark.parametrize("module", [m for m in MODULES if _layer(m) in ALLOWED])
def test_imports_point_down(module: str) -> None:
    allowed = ALLOWED[_layer(module)]
    upward = sorted(name for name in _own(_imports(MODULES[module]))
                    if _layer(name) not in allowed)
    assert upward == []


def test_only_the_cli_imports_click() -> None:
    importers = sorted(module for module, path in MODULES.items()
                       if any(name.split(".")[0] == "click" for name in _imports(path)))
    assert importers and all(_layer(module) == "cli" for module in importers), importers


def _cycles() -> list[list[str]]:
    graph = {module: sorted(_own(_imports(path)) - {module}) for module, path in MODULES.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in graph[module]:
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module)
    return cycles


def test_no_import_circles() -> None:
    assert _cycles() == []


def test_no_module_borrows_another_modules_private_names() -> None:
    """A name used by another module is part of its contract: it goes without the
    leading underscore, so reading a module says what others rely on."""
    borrowed = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(NAME):
                borrowed += [f"{module} imports {node.module}.{alias.name}"
                             for alias in node.names
                             if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert borrowed == []


@pytest.mark.parametrize("module", list(MODULES))
def test_a_long_module_says_why_it_is_one_piece(module: str) -> None:
    text = MODULES[module].read_text()
    lines = text.count("\n")
    docstring = ast.get_docstring(ast.parse(text)) or ""
    assert lines <= LONG or "One piece:" in docstring, (
        f"{module} has {lines} lines; split it, or say at its top (\"One piece: ...\") why not")


TESTS = PACKAGE.parent / "tests"
#: Tests of the whole house rather than of one layer stay at the top of tests/.
WHOLE_HOUSE = {"test_docs.py", "test_layers.py", "test_generate.py"}


def test_tests_mirror_the_layers() -> None:
    misplaced = sorted(
        str(path.relative_to(TESTS)) for path in TESTS.rglob("test_*.py")
        if (path.parent.name not in ALLOWED or path.parent.parent != TESTS)
        and not (path.parent == TESTS and path.name in WHOLE_HOUSE))
    assert misplaced == []


def test_no_test_module_imports_another() -> None:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.relative_to(TESTS)} imports {name}" for name in names
                      if name.startswith("tests.") and name.split(".")[-1].startswith("test_")]
    assert found == []
