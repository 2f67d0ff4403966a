"""An API logout ends every socket of that login: token sockets, ticket sockets the login asked
for, at once by event and by the periodic re-check when the event is lost; its tokens open no
new socket and refresh none. The user's other logins keep their sockets."""

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from accounts.credentials import AuthFailure
from realtime import bus
from realtime.close_codes import CloseCode

from ..factories import PASSWORD
from .test_revalidation import assert_closed, sweep

pytestmark = pytest.mark.django_db(transaction=True)


def login(user) -> dict:
    """An access/refresh pair from ``POST /api/auth/token/``, as an API client logs in."""
    return (
        APIClient().post("/api/auth/token/", {"username": user.username, "password": PASSWORD}).data
    )


def logout(pair: dict) -> None:
    status = APIClient().post("/api/auth/token/blacklist/", {"refresh": pair["refresh"]})
    assert status.status_code == 200


def ticket(pair: dict) -> str:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    return client.post("/api/auth/ws-ticket/", {}).data["ticket"]


async def joined(make_client, query: str):
    client = await make_client("lobby", query=query)
    await client.join()
    return client


async def two_logins(make_client, user):
    """Two API logins of ``user`` (a phone and a laptop): the phone's login and its token and
    ticket sockets, and the laptop's token socket."""
    phone, laptop = await sync_to_async(login)(user), await sync_to_async(login)(user)
    phone_token = await joined(make_client, f"?token={phone['access']}")
    phone_ticket = await joined(make_client, f"?ticket={await sync_to_async(ticket)(phone)}")
    laptop_token = await joined(make_client, f"?token={laptop['access']}")
    return phone, phone_token, phone_ticket, laptop_token


async def test_logout_closes_the_logins_token_and_ticket_sockets_only(make_client, room_with_roles):
    _, users = room_with_roles
    phone, phone_token, phone_ticket, laptop_token = await two_logins(make_client, users["bob"])
    await sync_to_async(logout)(phone)
    await assert_closed(phone_token, CloseCode.UNAUTHENTICATED, AuthFailure.TOKEN_LOGGED_OUT)
    await assert_closed(phone_ticket, CloseCode.UNAUTHENTICATED, AuthFailure.TOKEN_LOGGED_OUT)
    assert await laptop_token.nothing_received()


async def test_a_lost_logout_event_closes_the_sockets_at_the_next_check(
    make_client, room_with_roles, monkeypatch
):
    _, users = room_with_roles
    phone, phone_token, phone_ticket, laptop_token = await two_logins(make_client, users["bob"])
    monkeypatch.setattr(bus, "_send_after_commit", lambda group, event: None)
    await sync_to_async(logout)(phone)
    assert await phone_token.nothing_received()  # the event is lost: nothing happens by itself
    assert await sweep() == 2
    await assert_closed(phone_token, CloseCode.UNAUTHENTICATED, AuthFailure.TOKEN_LOGGED_OUT)
    await assert_closed(phone_ticket, CloseCode.UNAUTHENTICATED, AuthFailure.TOKEN_LOGGED_OUT)
    assert await laptop_token.nothing_received()


async def test_a_logged_out_access_token_opens_no_socket(make_client, room_with_roles):
    _, users = room_with_roles
    pair = await sync_to_async(login)(users["bob"])
    await sync_to_async(logout)(pair)
    for query in (f"?token={pair['access']}",):
        client = await make_client("lobby", query=query)
        assert await client.connect()
        await assert_closed(client, CloseCode.UNAUTHENTICATED, AuthFailure.TOKEN_LOGGED_OUT)


async def test_a_ticket_issued_before_the_logout_opens_no_socket(make_client, room_with_roles):
    _, users = room_with_roles
    pair = await sync_to_async(login)(users["bob"])
    unused = await sync_to_async(ticket)(pair)
    await sync_to_async(logout)(pair)
    client = await make_client("lobby", query=f"?ticket={unused}")
    assert await client.connect()
    await assert_closed(client, CloseCode.UNAUTHENTICATED, AuthFailure.TOKEN_LOGGED_OUT)


async def test_a_socket_cannot_refresh_with_a_logged_out_logins_token(make_client, room_with_roles):
    _, users = room_with_roles
    laptop, phone = (
        await sync_to_async(login)(users["bob"]),
        await sync_to_async(login)(users["bob"]),
    )
    socket = await joined(make_client, f"?token={laptop['access']}")
    await sync_to_async(logout)(phone)
    assert await socket.nothing_received()  # another login's logout
    await socket.send({"type": "auth.refresh", "token": phone["access"]})
    await assert_closed(socket, CloseCode.UNAUTHENTICATED, AuthFailure.TOKEN_LOGGED_OUT)


async def test_a_socket_refreshed_into_another_login_follows_that_login(
    make_client, room_with_roles
):
    _, users = room_with_roles
    first, second = (
        await sync_to_async(login)(users["bob"]),
        await sync_to_async(login)(users["bob"]),
    )
    socket = await joined(make_client, f"?token={first['access']}")
    await socket.send({"type": "auth.refresh", "token": second["access"]})
    assert (await socket.receive(skip=("presence",)))["type"] == "auth.refreshed"
    await sync_to_async(logout)(first)
    assert await socket.nothing_received()
    await sync_to_async(logout)(second)
    await assert_closed(socket, CloseCode.UNAUTHENTICATED, AuthFailure.TOKEN_LOGGED_OUT)
