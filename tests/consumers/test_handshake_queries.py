"""What a connect costs: a token socket reads its user row together with the room and the role,
one query in one thread hop; a cookie socket whose session is cached makes two of each. The row
checks are simplejwt's: an inactive, deleted or password-changed user is 4001 with its class, and
the audit line names the user the credential named."""

import logging

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.models import Session
from django.core.cache import cache

from accounts.credentials import AuthFailure
from accounts.middleware import QueryTokenAuthMiddleware, SessionUnlessTokenMiddleware
from accounts.sessions import SessionStore
from chat.routing import websocket_urlpatterns
from realtime.close_codes import CloseCode, ErrorCode
from realtime.protocol import SUBPROTOCOL

from ..queries import every_query, every_thread_hop
from ..tokens import (
    USER_CHANGES,
    access_token,
    change_user,
    foreign_key_token,
    ticket_for_token,
)

pytestmark = pytest.mark.django_db(transaction=True)

# The stack below the origin check, cookies and sessions included.
application = SessionUnlessTokenMiddleware(
    QueryTokenAuthMiddleware(URLRouter(websocket_urlpatterns))
)


async def first_frame(path: str, *, cookie: str | None = None, subprotocols=None):
    """Connect, read the first frame; (the frame, the close code if it closed, queries, hops)
    counted from the handshake to that frame."""
    headers = [(b"cookie", f"sessionid={cookie}".encode())] if cookie else []
    communicator = WebsocketCommunicator(application, path, headers, subprotocols)
    with every_query() as queries, every_thread_hop() as hops:
        await communicator.connect()
        frame = await communicator.receive_json_from(timeout=2)
    code = None
    if frame["type"] == "error":
        code = (await communicator.receive_output(timeout=2)).get("code")
    await communicator.disconnect()
    return frame, code, queries, hops


async def closed_without_frame(path: str):
    """Connect to a socket that is closed at once; (the close code, queries) until then."""
    communicator = WebsocketCommunicator(application, path)
    with every_query() as queries:
        await communicator.connect()
        close = await communicator.receive_output(timeout=2)
    return close["code"], queries


def saved_session(user) -> str:
    """A session row as the login view leaves it (and, like it, in the cache)."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session.session_key


async def token_for(user) -> str:
    return await sync_to_async(access_token)(user)


async def test_jwt_connect_is_one_query_in_one_hop(room_with_roles):
    _, users = room_with_roles
    frame, _, queries, hops = await first_frame(
        f"/ws/rooms/lobby/?token={await token_for(users['bob'])}"
    )
    assert (frame["type"], frame["role"]) == ("room.joined", "member")
    assert len(queries) == 1, queries
    assert hops == ["connect_access"]


async def test_bearer_connect_is_one_query_in_one_hop(room_with_roles):
    _, users = room_with_roles
    token = await token_for(users["dave"])
    frame, _, queries, hops = await first_frame(
        "/ws/rooms/lobby/", subprotocols=[SUBPROTOCOL, f"bearer.{token}"]
    )
    assert (frame["type"], frame["role"]) == ("room.joined", "reader")
    assert (len(queries), hops) == (1, ["connect_access"])


async def test_ticket_connect_is_one_query_and_one_cache_hop(room_with_roles):
    _, users = room_with_roles
    ticket = await sync_to_async(ticket_for_token)(users["bob"], room="lobby")
    frame, _, queries, hops = await first_frame(f"/ws/rooms/lobby/?ticket={ticket}")
    assert frame["type"] == "room.joined"
    assert len(queries) == 1, queries
    assert hops == ["_redeem", "connect_access"]  # the cache (single use), then the database


async def test_cookie_connect_with_a_cached_session_is_two_queries_in_two_hops(room_with_roles):
    _, users = room_with_roles
    cookie = await sync_to_async(saved_session)(users["bob"])
    frame, _, queries, hops = await first_frame("/ws/rooms/lobby/", cookie=cookie)
    assert frame["type"] == "room.joined"
    assert len(queries) == 2, queries  # the session user (channels' get_user), the room and role
    assert "django_session" not in " ".join(queries)
    assert hops == ["get_user", "connect_access"]


async def test_cookie_connect_without_the_cache_reads_the_session_row_and_caches_it(
    room_with_roles,
):
    _, users = room_with_roles
    cookie = await sync_to_async(saved_session)(users["bob"])
    await sync_to_async(cache.clear)()
    frame, _, queries, hops = await first_frame("/ws/rooms/lobby/", cookie=cookie)
    assert frame["type"] == "room.joined"
    assert len(queries) == 3, queries
    assert "django_session" in queries[0]
    assert hops == ["get_user", "connect_access"]
    _, _, queries, _ = await first_frame("/ws/rooms/lobby/", cookie=cookie)
    assert len(queries) == 2, queries


async def test_a_deleted_session_is_not_served_from_the_cache(room_with_roles):
    """Revocation holds for the next handshake too: the row's deletion empties the cache."""
    _, users = room_with_roles
    cookie = await sync_to_async(saved_session)(users["bob"])
    assert (await first_frame("/ws/rooms/lobby/", cookie=cookie))[0]["type"] == "room.joined"
    await sync_to_async(Session.objects.filter(session_key=cookie).delete)()
    frame, code, _, _ = await first_frame("/ws/rooms/lobby/", cookie=cookie)
    assert (frame["detail"], code) == (AuthFailure.NOT_AUTHENTICATED, CloseCode.UNAUTHENTICATED)


async def test_a_password_change_refuses_the_cached_sessions_next_handshake(room_with_roles):
    """The session comes from the cache, the user row never does: its hash decides."""
    _, users = room_with_roles
    cookie = await sync_to_async(saved_session)(users["bob"])
    await sync_to_async(change_user)(users["bob"], "password_changed_after_issue")
    frame, code, _, _ = await first_frame("/ws/rooms/lobby/", cookie=cookie)
    assert (frame["detail"], code) == (AuthFailure.NOT_AUTHENTICATED, CloseCode.UNAUTHENTICATED)


async def test_a_refused_token_costs_no_query(room_with_roles):
    _, users = room_with_roles
    token = await sync_to_async(foreign_key_token)(users["bob"])
    frame, code, queries, hops = await first_frame(f"/ws/rooms/lobby/?token={token}")
    assert (frame["detail"], code) == (AuthFailure.TOKEN_INVALID, CloseCode.UNAUTHENTICATED)
    assert (queries, hops) == ([], [])


@pytest.mark.parametrize(("change", "failure"), list(USER_CHANGES.items()))
async def test_the_row_checks_hold_in_the_one_query(room_with_roles, caplog, change, failure):
    _, users = room_with_roles
    token = await token_for(users["bob"])
    await sync_to_async(change_user)(users["bob"], change)
    caplog.set_level(logging.INFO, logger="chat.sockets")
    frame, code, queries, _ = await first_frame(f"/ws/rooms/lobby/?token={token}")
    assert frame == {"type": "error", "code": ErrorCode.AUTH_FAILED, "detail": failure}
    assert code == CloseCode.UNAUTHENTICATED
    assert len(queries) == 1
    [line] = [r for r in caplog.records if r.name == "chat.sockets"]
    assert (line.event, line.user_id, line.code, line.reason, line.auth) == (
        "reject",
        None,
        CloseCode.UNAUTHENTICATED,
        failure,
        "jwt",
    )


async def test_a_ticket_of_a_deactivated_user_is_refused(room_with_roles):
    _, users = room_with_roles
    ticket = await sync_to_async(ticket_for_token)(users["bob"])
    await sync_to_async(change_user)(users["bob"], "user_deactivated_after_issue")
    frame, code, _, _ = await first_frame(f"/ws/rooms/lobby/?ticket={ticket}")
    assert (frame["detail"], code) == (AuthFailure.USER_INACTIVE, CloseCode.UNAUTHENTICATED)


@pytest.mark.parametrize(
    ("slug", "log_reason"), [("nowhere", "room_not_found"), ("staff", "not_a_member")]
)
async def test_a_room_out_of_sight_is_4004_from_the_same_query(
    room_with_roles, caplog, slug, log_reason
):
    _, users = room_with_roles
    caplog.set_level(logging.INFO, logger="chat.sockets")
    code, queries = await closed_without_frame(
        f"/ws/rooms/{slug}/?token={await token_for(users['bob'])}"
    )
    assert code == CloseCode.ROOM_NOT_FOUND
    assert len(queries) == 1
    [line] = [r for r in caplog.records if r.name == "chat.sockets"]
    assert (line.user_id, line.reason) == (users["bob"].pk, log_reason)


async def test_a_full_server_logs_the_token_user_as_before(room_with_roles, caplog, settings):
    _, users = room_with_roles
    settings.CHAT_MAX_SOCKETS_PER_PROCESS = 0
    caplog.set_level(logging.INFO, logger="chat.sockets")
    code, _ = await closed_without_frame(f"/ws/rooms/lobby/?token={await token_for(users['bob'])}")
    assert code == CloseCode.TRY_AGAIN_LATER
    [line] = [r for r in caplog.records if r.name == "chat.sockets"]
    assert (line.user_id, line.reason) == (users["bob"].pk, "server_full")


async def test_other_paths_never_read_the_user(room_with_roles):
    """UnknownPathConsumer does not look at the user: a valid token costs it no query."""
    _, users = room_with_roles
    code, queries = await closed_without_frame(
        f"/ws/nowhere/?token={await token_for(users['bob'])}"
    )
    assert code == CloseCode.ROOM_NOT_FOUND
    assert queries == []
