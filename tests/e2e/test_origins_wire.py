"""The origin rule on the wire, as one matrix: which (credential, Origin) pairs a live daphne
admits. A refused pair is HTTP 403 at the handshake; an admitted one chats. The rule itself, host
by host, is tested in ``tests/unit/test_middleware.py``."""

import pytest
from websockets.asyncio.client import connect

from ..live import handshake_status, next_frame, session_cookie
from ..tokens import access_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SAME, OTHER_SCHEME = "same", "other-scheme"


@pytest.mark.parametrize(
    ("credential", "origin", "admitted"),
    [
        ("cookie", SAME, True),
        ("cookie", None, False),
        ("cookie", "null", False),
        ("cookie", "https://evil.example", False),
        ("cookie", "http://evil.example", False),
        ("cookie", "http://127.0.0.1:1", False),
        ("cookie", OTHER_SCHEME, False),
        ("cookie", "HTTP://127.0.0.1.evil.example", False),
        ("token", None, True),
        ("token", "https://evil.example", False),
        ("token", "http://evil.example", False),
        ("token", "null", False),
    ],
    ids=lambda value: str(value),
)
async def test_origin_rule_by_credential(live_daphne, lobby_users, credential, origin, admitted):
    url = f"{live_daphne.ws}/ws/rooms/lobby/"
    headers = {}
    if credential == "cookie":
        headers["Cookie"] = f"sessionid={session_cookie(live_daphne, 'bob')}"
    else:
        url += f"?token={access_token(lobby_users['bob'])}"
    if origin == SAME:
        headers["Origin"] = live_daphne.http
    elif origin == OTHER_SCHEME:  # an https page's cookie must not ride a plain ws:// socket
        headers["Origin"] = live_daphne.http.replace("http://", "https://")
    elif origin is not None:
        headers["Origin"] = origin
    if not admitted:
        assert await handshake_status(url, additional_headers=headers) == 403
        return
    async with connect(url, additional_headers=headers) as ws:
        assert (await next_frame(ws, "room.joined"))["role"] == "member"
        await ws.send('{"type": "message.send", "body": "origin ok"}')
        assert (await next_frame(ws))["body"] == "origin ok"
