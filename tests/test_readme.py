"""README is the front door: its tables must list every code the server can send."""

import re
from pathlib import Path

import pytest

from accounts.credentials import AuthFailure
from chat.close_codes import CloseCode, ErrorCode

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def table_keys() -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", README, flags=re.MULTILINE))


@pytest.mark.parametrize("member", [*CloseCode, *ErrorCode, *AuthFailure], ids=str)
def test_every_code_is_in_a_readme_table(member):
    assert str(member.value) in table_keys()


def test_readme_opens_with_the_two_commands():
    head = README[: README.index("## What the template gives you")]
    assert "make run" in head
    assert "make test" in head


SETTINGS_DIR = Path(__file__).resolve().parents[1] / "config" / "settings"


def test_every_environment_variable_is_in_the_settings_table():
    read = set()
    for path in SETTINGS_DIR.glob("*.py"):
        read |= set(re.findall(r"\benv(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]+)\"", path.read_text()))
    assert read - table_keys() == set()
