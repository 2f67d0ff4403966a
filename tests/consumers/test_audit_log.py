"""Audit lines: structured fields, JSON in production format, never a token or a body."""

import json
import logging

import pytest
from asgiref.sync import sync_to_async
from pythonjsonlogger.json import JsonFormatter

from ..tokens import access_token

pytestmark = pytest.mark.django_db(transaction=True)


async def test_connect_reject_close_lines_carry_fields_but_no_secrets(
    make_client, room_with_roles, caplog
):
    _, users = room_with_roles
    token = await sync_to_async(access_token)(users["bob"])
    caplog.set_level(logging.INFO, logger="chat.sockets")
    bob = await make_client("lobby", query=f"?token={token}")
    await bob.join()
    await bob.send({"type": "message.send", "body": "a private body"})
    await bob.receive()
    await bob.disconnect()
    carol = await make_client("lobby", users["carol"])
    await carol.connect()
    await carol.close_code()
    records = [r for r in caplog.records if r.name == "chat.sockets"]
    events = [(r.event, r.user_id, r.code, r.reason, r.auth) for r in records]
    assert ("connect", users["bob"].pk, None, None, "jwt") in events
    assert ("close", users["bob"].pk, 1000, None, "jwt") in events
    assert ("reject", users["carol"].pk, 4004, "not_a_member", "session") in events
    formatter = JsonFormatter("%(levelname)s %(name)s %(message)s")
    for record in records:
        line = formatter.format(record)
        assert json.loads(line)["event"] == record.event
        assert token not in line
        assert "a private body" not in line
