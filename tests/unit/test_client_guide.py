"""What a client should do after each code is data the server owns (``client_guide``); the
shipped clients read it and keep no copy of the codes."""

import ast
import re
from pathlib import Path

import pytest
from django.urls import reverse

from realtime.close_codes import (
    CLOSE_ACTIONS,
    ERROR_ACTIONS,
    ClientAction,
    CloseCode,
    ErrorCode,
    client_guide,
)
from realtime.protocol import SUBPROTOCOL

ROOT = Path(__file__).resolve().parents[2]
# The page's script: its modules together (app.js, room.js, socket.js).
PAGE_JS = "\n".join(path.read_text() for path in sorted((ROOT / "static" / "chat").glob("*.js")))
# examples/client.py and the modules it imports.
EXAMPLE = "\n".join(path.read_text() for path in sorted((ROOT / "examples").glob("*.py")))
CODES = {int(code) for code in CloseCode}


def test_every_code_says_what_a_client_should_do():
    assert set(CLOSE_ACTIONS) == set(CloseCode)
    assert set(ERROR_ACTIONS) == set(ErrorCode)


def test_the_guide_is_the_enums_as_data():
    guide = client_guide(subprotocol=SUBPROTOCOL)
    assert guide["subprotocol"] == "chat.v2"
    assert guide["close"]["1012"] == {"name": "SERVICE_RESTART", "action": "retry_now"}
    assert guide["close"]["4001"]["action"] == ClientAction.REAUTHENTICATE
    assert guide["error"]["rate_limited"] == {"action": "retry_later"}
    assert len(guide["close"]) == len(CloseCode)


def test_the_page_script_copies_no_code_number():
    code = "\n".join(line.split("//")[0] for line in PAGE_JS.splitlines())
    assert {int(found) for found in re.findall(r"\b\d{4}\b", code)} & CODES == set()


def test_the_example_client_copies_no_code_number():
    numbers = {
        node.value
        for node in ast.walk(ast.parse(EXAMPLE))
        if isinstance(node, ast.Constant) and isinstance(node.value, int)
    }
    assert numbers & CODES == set()


def test_the_names_and_actions_the_page_script_uses_are_the_servers():
    names = set(re.findall(r'(?:close\.name === "|^  )([A-Z_]+)(?:"|:)', PAGE_JS, re.MULTILINE))
    assert names, "the page script names no close code"
    assert names <= {code.name for code in CloseCode}
    actions = set(re.findall(r'action === "([a-z_]+)"', PAGE_JS))
    assert actions <= {action.value for action in ClientAction}
    assert {"reauthenticate", "never", "retry_now", "retry_later"} <= actions


def test_the_example_client_names_only_the_servers_codes():
    says = re.search(r"SAYS = \{(.*?)\n\}", EXAMPLE, flags=re.DOTALL).group(1)
    assert set(re.findall(r'"([A-Z_]+)":', says)) <= {code.name for code in CloseCode}


@pytest.mark.django_db
def test_protocol_json_serves_the_guide(client):
    response = client.get(reverse("chat:protocol-guide"))
    assert response.status_code == 200
    assert response.json() == client_guide(subprotocol=SUBPROTOCOL)
