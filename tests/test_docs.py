"""The documentation that lives with the code: its links resolve, its examples run.

Every relative link and ``#anchor`` in README.md, CHANGELOG.md and docs/*.md must land on a
file inside the repository and, for an anchor, on a heading of that file as GitHub names
it. Every command's ``--help`` example runs against the sample workbook (a Google Sheet
example against the fake Sheets API seeded with it) and ends in exit 0 or the exit code
the documentation gives for that case.
"""

from __future__ import annotations

import re
import shlex
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from sheets_escalation.adapters.sources import parse_source_key
from sheets_escalation.cli import cli
from sheets_escalation.jobs.sample import sample_path
from tests.fake_sheets import FakeSheetsAPI

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])


@dataclass(frozen=True)
class Link:
    document: Path
    line: int
    target: str


FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """Given Markdown, return its numbered lines outside fenced code, code spans blanked."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)))
    return lines


def links_of(document: Path) -> list[Link]:
    return [Link(document, number, match.group(1))
            for number, line in prose_lines(document.read_text(encoding="utf-8"))
            for match in INLINE_LINK.finditer(line)]


def github_slug(heading: str) -> str:
    """Given a heading's Markdown, return the anchor GitHub gives it (before de-duplication).

    GitHub renders the heading, lower-cases the text, drops every character that is not a
    letter, digit, mark, underscore, space or hyphen, and turns each space into a hyphen.
    """
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text)
    text = text.replace("`", "")
    text = re.sub(r"(\*\*|__|\*|~~)", "", text)
    kept = [c for c in text.lower()
            if c in " -_" or unicodedata.category(c)[0] in ("L", "N", "M")]
    return "".join(kept).replace(" ", "-")


def anchors_of(document: Path) -> set[str]:
    """Given a Markdown file, return every anchor GitHub makes for its headings."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in _heading_lines(document.read_text(encoding="utf-8")):
        slug = github_slug(line)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _heading_lines(text: str) -> list[tuple[int, str]]:
    headings, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := HEADING.match(line)):
            headings.append((number, match.group(2)))
    return headings


def broken(link: Link) -> str | None:
    """Given a link, return why it does not resolve inside the repository, or None."""
    target = link.target
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
        return None if target.lower().startswith(("https:", "http:", "mailto:")) else \
            f"unexpected scheme in {target}"
    path_part, _, anchor = target.partition("#")
    destination = (link.document.parent / path_part).resolve() if path_part else link.document
    if not destination.is_relative_to(ROOT):
        return f"{target} leaves the repository"
    relative = destination.relative_to(ROOT).as_posix()
    if not destination.exists():
        return f"{target}: no such file"
    if anchor:
        if destination.suffix != ".md":
            return f"{target}: an anchor into a file that is not Markdown"
        if anchor not in anchors_of(destination):
            return f"{target}: no heading in {relative} has the anchor #{anchor}"
    return None


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_anchor_resolves(document: Path) -> None:
    failures = [f"{link.document.relative_to(ROOT)}:{link.line}: {why}"
                for link in links_of(document) if (why := broken(link)) is not None]
    assert failures == []


def test_the_docs_folder_and_the_front_door_are_all_checked() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in DOCUMENTS}
    assert {"README.md", "CHANGELOG.md", "docs/contract.md"} <= names
    assert all(links_of(ROOT / name) for name in ("README.md", "docs/contract.md"))


def test_the_readme_picture_is_in_the_repository() -> None:
    images = [link.target for link in links_of(ROOT / "README.md")
              if link.target.endswith(".png")]
    assert images and all((ROOT / image).is_file() for image in images)


@pytest.mark.parametrize(("heading", "slug"), [
    ("Local workbooks (xlsx)", "local-workbooks-xlsx"),
    ("`Escalations`: the log", "escalations-the-log"),
    ('What "engine time" measures', "what-engine-time-measures"),
    ("Guarantees (and the tests that prove them)", "guarantees-and-the-tests-that-prove-them"),
    ("Try it, and run the tests", "try-it-and-run-the-tests"),
    ("[Links](x.md) — *and* dashes", "links--and-dashes"),
    ("snake_case and Ünïcode", "snake_case-and-ünïcode"),
])
def test_anchors_follow_githubs_rules(heading: str, slug: str) -> None:
    assert github_slug(heading) == slug


def test_the_checker_catches_a_missing_file_a_wrong_anchor_and_a_link_out(tmp_path: Path) -> None:
    page = ROOT / "docs" / "contract.md"
    assert broken(Link(page, 1, "nowhere.md")) == "nowhere.md: no such file"
    assert "no heading" in (broken(Link(page, 1, "decisions.md#no-such-heading")) or "")
    assert "no heading" in (broken(Link(page, 1, "#sla-state")) or "")
    assert "leaves the repository" in (broken(Link(page, 1, "../../SPEC.md")) or "")
    assert broken(Link(page, 1, "#sla-states")) is None
    assert broken(Link(page, 1, "../README.md#commands")) is None


def test_repeated_headings_get_numbered_anchors(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Notes\n\n```\n# not a heading\n```\n\n## Notes\n\n## Notes\n")
    assert anchors_of(page) == {"notes", "notes-1", "notes-2"}


# ---- every test the documentation names exists

NAMED_TEST = re.compile(r"`(tests/[\w/]+\.py)?(?:::([\w*]+))?`")


def named_tests(text: str) -> list[tuple[str, str | None]]:
    """Given Markdown, return (file, test name or pattern) for each test it names in code.

    A name written ``::test_x`` belongs to the file named last before it, as in a table
    cell listing several tests of one file.
    """
    named, current = [], None
    for match in NAMED_TEST.finditer(text):
        path, test = match.groups()
        if path is None and test is None:
            continue
        current = path or current
        assert current is not None, f"::{test} names no file"
        named.append((current, test))
    return named


def test_every_test_the_docs_name_exists() -> None:
    missing = []
    for document in DOCUMENTS:
        for path, test in named_tests(document.read_text(encoding="utf-8")):
            source = ROOT / path
            if not source.is_file():
                missing.append(f"{document.name}: {path}")
            elif test is not None:
                pattern = re.escape(test).replace(r"\*", r"\w*")
                if not re.search(rf"^def {pattern}\(", source.read_text(), re.M):
                    missing.append(f"{document.name}: {path}::{test}")
    assert missing == []


def test_the_guarantees_name_their_tests() -> None:
    named = named_tests((ROOT / "docs" / "guarantees.md").read_text(encoding="utf-8"))
    assert len([test for _, test in named if test]) >= 30
    assert named_tests("`tests/a.py::test_x`, `::test_y`") == [
        ("tests/a.py", "test_x"), ("tests/a.py", "test_y")]


# ---- every command's --help example runs against the sample

# A documented exit code other than 0, per command, with the case the docs give it for.
DOCUMENTED_EXIT = {
    # The example escalates ESC-0012 to L2; in the sample that row is already at L2, and
    # escalating to the level a row already has is refused with exit 1 (docs/notifications.md).
    "escalate": {1},
    # The cron example sends with --send; the sample folder has no local config naming
    # stakeholders, which is a configuration error (exit 2, docs/review-delivery.md).
    "review": {2},
    # status reads the runs recorded on this machine; a fresh sample folder has none, which
    # is what status exits 1 for (docs/scheduling.md).
    "status": {1},
}


def _put_the_sample_on(api: FakeSheetsAPI, key: str) -> None:
    workbook = openpyxl.load_workbook(sample_path())
    book = api.add_spreadsheet(key, {ws.title: [] for ws in workbook.worksheets})
    for ws in workbook.worksheets:
        book.sheet(ws.title).type_values([list(r) for r in ws.iter_rows(values_only=True)])


def help_examples() -> list[tuple[str, list[str]]]:
    """Return (command, arguments) for every example line in every command's --help."""
    examples = []
    for name in sorted(cli.commands):
        text = CliRunner().invoke(cli, [name, "--help"], terminal_width=200).output
        block = re.search(r"^\s*Example[^\n]*:\n(.*?)(?:\n\s*\n|\Z)", text, re.M | re.S)
        assert block, f"{name} --help has no example"
        joined = re.sub(r"\\\n\s*", " ", block.group(1))
        for line in joined.splitlines():
            _, found, rest = line.partition("sheets-escalation ")
            if found:
                examples.append((name, shlex.split(rest)))
    return examples


EXAMPLES = help_examples()


def test_every_command_has_a_runnable_example() -> None:
    assert {name for name, _ in EXAMPLES} == set(cli.commands)


@pytest.mark.parametrize(("command", "args"), EXAMPLES, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else v)
def test_every_help_example_runs_against_the_sample(
        command: str, args: list[str], tmp_workdir: Path, request: pytest.FixtureRequest) -> None:
    assert args[0] == command
    source = next((a for a in args[1:] if not a.startswith("-")), None)
    inputs = [source] if command != "init" else []
    if "--policy" in args:
        inputs.append(args[args.index("--policy") + 1])
    for name in filter(None, inputs):
        key = parse_source_key(name) if not name.endswith((".xlsx", ".xlsm")) else None
        if key is not None:
            _put_the_sample_on(request.getfixturevalue("fake"), key)
        else:
            shutil.copyfile(sample_path(), tmp_workdir / name)
    if command == "init" and source is not None and not source.endswith(".xlsx"):
        request.getfixturevalue("fake").add_spreadsheet(parse_source_key(source) or source)
    result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in {0} | DOCUMENTED_EXIT.get(command, set()), result.output
