"""The query-token middleware and the origin rule, called directly as ASGI apps."""

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.credentials import AuthFailure, AuthMethod
from accounts.handshake import (
    MAX_QUERY_STRING_BYTES,
    pending_check,
    query_token_values,
    resolve_user,
)
from accounts.middleware import QueryTokenAuthMiddleware
from accounts.origins import origin_allowed

from ..factories import UserFactory
from ..queries import every_query
from ..tokens import access_token, bad_tokens, unsigned_token


async def run_middleware(query: bytes, session_user=None) -> dict:
    seen = {}

    async def inner(scope, receive, send):
        seen.update(scope)

    scope = {"type": "websocket", "query_string": query, "user": session_user or AnonymousUser()}
    await QueryTokenAuthMiddleware(inner)(scope, None, None)
    return seen


@pytest.mark.django_db(transaction=True)
async def test_valid_token_sets_user_and_expiry():
    from asgiref.sync import sync_to_async

    user = await sync_to_async(UserFactory)()
    token = await sync_to_async(access_token)(user)
    with every_query() as queries:
        scope = await run_middleware(f"token={token}".encode())
    assert queries == []  # the user row is the consumer's to read, with its own query
    assert pending_check(scope).value == str(user.pk)
    assert scope["credential"].method == AuthMethod.JWT
    assert scope["credential"].failure is None
    assert scope["credential"].expires_at is not None
    assert await resolve_user(scope) is None
    assert scope["user"] == user
    assert pending_check(scope) is None


@pytest.mark.django_db(transaction=True)
async def test_resolving_a_refused_row_leaves_the_failure_in_the_scope():
    from asgiref.sync import sync_to_async

    user = await sync_to_async(UserFactory)(is_active=False)
    token = await sync_to_async(access_token)(user)
    scope = await run_middleware(f"token={token}".encode())
    assert scope["credential"].failure is None  # nothing the middleware can see without a query
    assert await resolve_user(scope) == AuthFailure.USER_INACTIVE
    assert not scope["user"].is_authenticated
    assert scope["credential"].failure == AuthFailure.USER_INACTIVE
    assert await resolve_user(scope) == AuthFailure.USER_INACTIVE  # settled: no second read


@pytest.mark.django_db(transaction=True)
async def test_an_unread_user_raises_in_the_event_loop_and_reads_itself_in_a_thread():
    """A sync consumer's handlers run in a thread: the row is read there, as
    ``request.user`` would be; async code must resolve it first."""
    from asgiref.sync import sync_to_async

    user = await sync_to_async(UserFactory)()
    scope = await run_middleware(f"token={await sync_to_async(access_token)(user)}".encode())
    with pytest.raises(ValueError, match="resolve_user"):
        _ = scope["user"].pk
    assert await sync_to_async(lambda: scope["user"].pk)() == user.pk
    assert pending_check(scope) is None


@pytest.mark.django_db(transaction=True)
async def test_a_ticket_is_redeemed_without_a_query():
    from asgiref.sync import sync_to_async

    from ..tokens import ticket_for_token

    user = await sync_to_async(UserFactory)()
    ticket = await sync_to_async(ticket_for_token)(user, room="lobby")
    with every_query() as queries:
        scope = await run_middleware(f"ticket={ticket}".encode())
    assert queries == []
    assert (scope["credential"].method, scope["credential"].room) == (AuthMethod.TICKET, "lobby")
    assert pending_check(scope).value == user.pk
    assert await resolve_user(scope) is None
    assert scope["user"] == user


@pytest.mark.django_db(transaction=True)
async def test_each_bad_token_class_is_named():
    from asgiref.sync import sync_to_async

    user = await sync_to_async(UserFactory)()
    tokens = await sync_to_async(bad_tokens)(user)
    tokens["token_invalid_none"] = await sync_to_async(unsigned_token)(user)
    for expected, token in tokens.items():
        scope = await run_middleware(f"token={token}".encode())
        assert not scope["user"].is_authenticated
        assert scope["credential"].failure == expected.removesuffix("_none"), expected


@pytest.mark.parametrize(
    "query",
    [b"token=", b"token=a&token=b", b"token=" + b"x" * MAX_QUERY_STRING_BYTES, b"&" * 5000],
)
async def test_malformed_query_tokens(query):
    scope = await run_middleware(query, session_user=AnonymousUser())
    assert scope["credential"].failure == AuthFailure.TOKEN_MALFORMED


@pytest.mark.django_db(transaction=True)
async def test_bad_token_never_falls_back_to_the_session():
    from asgiref.sync import sync_to_async

    session_user = await sync_to_async(UserFactory)()
    scope = await run_middleware(b"token=garbage", session_user=session_user)
    assert not scope["user"].is_authenticated
    assert scope["credential"].failure == AuthFailure.TOKEN_MALFORMED


async def test_no_token_and_no_session_is_not_authenticated():
    scope = await run_middleware(b"")
    assert scope["credential"].method == AuthMethod.NONE
    assert scope["credential"].failure == AuthFailure.NOT_AUTHENTICATED


def test_query_token_values():
    assert query_token_values({"query_string": b""}) is None
    assert query_token_values({"query_string": b"other=1"}) is None
    assert query_token_values({"query_string": b"token=abc&x=1"}) == ["abc"]


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://localhost:8000", "localhost:8000", True),
        ("https://evil.example", "127.0.0.1:8000", False),
        ("http://127.0.0.1:9999", "127.0.0.1:8000", False),  # another port is another origin
        ("null", "127.0.0.1:8000", False),
        ("file://", "127.0.0.1:8000", False),
        ("http://evil.example", "evil.example", False),  # Host not in ALLOWED_HOSTS
        ("http://127.0.0.1:8000", None, False),
    ],
)
def test_origin_rule(origin, host, allowed):
    assert origin_allowed(origin, host=host) is allowed


def test_csrf_trusted_origins_are_allowed(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com"]
    assert origin_allowed("https://app.example.com", host="api.example.com")
    assert not origin_allowed("http://app.example.com", host="api.example.com")


@pytest.mark.django_db(transaction=True)
async def test_token_sockets_skip_the_session_lookup():
    """A token decides alone: the cookie's session is never loaded (one read saved per connect)."""
    from accounts.middleware import SessionUnlessTokenMiddleware

    seen = {}

    async def inner(scope, receive, send):
        seen.update(scope)

    stack = SessionUnlessTokenMiddleware(inner)
    headers = [(b"cookie", b"sessionid=whatever")]
    await stack({"type": "websocket", "query_string": b"token=abc", "headers": headers}, None, None)
    assert "session" not in seen
    seen.clear()
    await stack({"type": "websocket", "query_string": b"", "headers": headers}, None, None)
    assert "session" in seen


@pytest.mark.parametrize(
    ("origin", "scheme", "allowed"),
    [
        ("http://localhost:8000", "ws", True),
        ("https://localhost:8000", "wss", True),
        ("https://localhost:8000", "ws", False),
        ("http://localhost:8000", "wss", False),
    ],
)
def test_origin_scheme_must_match_the_sockets(origin, scheme, allowed, settings):
    settings.ALLOWED_HOSTS = ["localhost"]
    assert origin_allowed(origin, host="localhost:8000", scheme=scheme) is allowed


def test_daphne_websocket_scope_gets_its_scheme():
    from config.server_shims import websocket_scheme

    class Protocol:
        client_scheme = None
        transport = object()

    assert websocket_scheme(Protocol()) == "ws"
    Protocol.client_scheme = "https"  # X-Forwarded-Proto through --proxy-headers
    assert websocket_scheme(Protocol()) == "wss"
