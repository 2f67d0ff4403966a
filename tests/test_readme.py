"""README is the front door and docs/ the reference: their tables must list every code the server
can send and every variable the settings read, and neither may tell the project's history."""

import re
from pathlib import Path

import pytest

from accounts.credentials import AuthFailure
from realtime.close_codes import CLOSE_ACTIONS, ERROR_ACTIONS, CloseCode, ErrorCode

from .repo_files import conflicted

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"


def table_keys(text: str) -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE))


@pytest.mark.parametrize("member", [*CloseCode, *ErrorCode, *AuthFailure], ids=str)
def test_every_code_is_in_a_table_of_the_codes_page(member):
    assert str(member.value) in table_keys((DOCS / "codes.md").read_text())


def test_the_codes_page_gives_each_code_its_servers_action():
    text = (DOCS / "codes.md").read_text()
    documented = dict(re.findall(r"^\| `([^`]+)` \| (?:`[A-Z_]+` \| )?`([a-z_]+)` \|", text, re.M))
    assert documented == {
        **{str(int(code)): action.value for code, action in CLOSE_ACTIONS.items()},
        **{code.value: action.value for code, action in ERROR_ACTIONS.items()},
    }


def test_readme_opens_with_the_two_commands():
    head = README[: README.index("## What the template gives you")]
    assert "make run" in head
    assert "make test" in head


SETTINGS_DIR = ROOT / "config" / "settings"


def test_every_environment_variable_is_in_the_settings_table():
    read = set()
    for path in SETTINGS_DIR.glob("*.py"):
        read |= set(re.findall(r"\benv(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]+)\"", path.read_text()))
    assert read - table_keys((DOCS / "settings.md").read_text()) == set()


def markdown_pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "tests" / "README.md", *sorted(DOCS.glob("*.md"))]


def test_every_relative_link_in_the_docs_leads_to_a_file():
    broken = []
    for page in markdown_pages():
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


# How history creeps into a description of the present.
HISTORY = re.compile(
    r"issue #\d+|this round|last round|this release|used to (?:hang|cost|send|be)"
    r"|before the change|no longer|found by this suite",
    flags=re.IGNORECASE,
)


def test_no_page_tells_the_projects_history():
    told = [
        f"{page.relative_to(ROOT)}: {match.group(0)!r}"
        for page in markdown_pages()
        for match in HISTORY.finditer(page.read_text())
    ]
    assert told == []


def test_no_tracked_file_holds_a_merge_conflict_marker():
    """A half-done merge ships both sides of a sentence and breaks `copier update` downstream."""
    assert conflicted(ROOT) == []
