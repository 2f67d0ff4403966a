"""The chat page (``/`` and ``/rooms/<slug>/``) as the server renders it: the sidebar with each
room's badge, and what the script is told (no rule or code copied into it)."""

import json
import re

import pytest

from chat import permissions
from chat.models import Role
from realtime.close_codes import client_guide
from realtime.protocol_v3 import SUBPROTOCOL

from ..factories import MessageFactory

pytestmark = pytest.mark.django_db
INLINE = re.compile(r"<script(?![^>]*(\bsrc=|application/json))|\sstyle=|\son\w+=", re.IGNORECASE)


def script_data(html: str, element_id: str) -> dict:
    found = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html)
    return json.loads(found.group(1))


def test_both_urls_render_the_sidebar_with_unread_counts(client, lobby):
    room, users = lobby
    MessageFactory(room=room, author=users["alice"], body="for bob")
    client.force_login(users["bob"])
    for url in ("/", "/rooms/lobby/"):
        html = client.get(url).content.decode()
        item = re.search(r'<li data-room="lobby"[^>]*>', html).group(0)
        assert 'data-role="member"' in item
        assert 'data-unread="1"' in item
        assert 'data-read-seq="0"' in item
        assert not INLINE.search(html), "the CSP would refuse it"
    assert 'id="room" class="room" aria-labelledby="room-title" hidden' in client.get("/").text


def test_the_script_gets_the_rules_and_the_code_table_from_the_server(client, lobby, settings):
    _, users = lobby
    client.force_login(users["dave"])
    html = client.get("/rooms/lobby/").content.decode()
    assert script_data(html, "protocol-guide") == client_guide(subprotocol=SUBPROTOCOL)
    config = script_data(html, "chat-config")
    assert config["username"] == "dave"
    assert config["frame_budgets"] == {
        "messages": {
            "capacity": settings.CHAT_RATE_LIMIT_MESSAGES,
            "per_seconds": settings.CHAT_RATE_LIMIT_SECONDS,
        },
        "rooms": {
            "capacity": settings.CHAT_RATE_LIMIT_ROOM_COMMANDS,
            "per_seconds": settings.CHAT_RATE_LIMIT_ROOM_SECONDS,
        },
    }
    for role in Role:
        assert config["roles"][role.value] == {
            "label": role.label,
            "can_send": permissions.can_send(role),
            "can_delete_own": permissions.can_delete_own_messages(role),
            "can_delete_others": permissions.can_delete_others_messages(role),
        }
    assert config["room_url"].replace("__slug__", "lobby") == "/rooms/lobby/"
