"""WebSocket authentication: fills ``scope["user"]`` and ``scope["credential"]``, never closes.

The consumer reads ``scope["credential"]`` to decide (and to close with a code the client can read:
a close before ``accept`` becomes a bare HTTP 403 in daphne).

Token and ticket sockets are checked here without the database (signature, algorithm, expiry,
type; a ticket used up in the cache). Their user row is read by the consumer, which needs the
database anyway: ``scope["user"]`` is a ``PendingUser`` until then, and ``RoomConsumer`` reads
the row with the room and the role in one query (``chat.selectors.connect_access``). Any other
consumer calls ``await resolve_user(scope)`` first.
"""

import asyncio
import dataclasses
from dataclasses import dataclass
from urllib.parse import urlparse

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import parse_cookie
from django.http.request import split_domain_port, validate_host
from django.utils.functional import LazyObject, empty

from config.query_params import parse_query

from . import addresses, tickets
from .credentials import AuthFailure, AuthMethod, Credential
from .tokens import TokenRejected, UserCheck, decode_access_token

# Past this the query string is garbage; parse nothing of it.
MAX_QUERY_STRING_BYTES = 4096
# Sec-WebSocket-Protocol: the application protocol a client may ask for, and the prefix of the
# entry that carries its access JWT (browsers cannot set any other header).
SUBPROTOCOL = "chat.v2"
BEARER_PREFIX = "bearer."


@dataclass(frozen=True, slots=True)
class PresentedCredential:
    """What the handshake carried besides a cookie: ``kind`` is ``token`` (query), ``bearer``
    (subprotocol) or ``ticket`` (query); ``values`` every value of it (one is valid)."""

    kind: str
    values: list[str]


def query_params(scope: dict) -> dict[str, list[str]] | None:
    """The query string's fields, or None when it is oversized or unparsable."""
    raw = scope.get("query_string", b"")
    if len(raw) > MAX_QUERY_STRING_BYTES:
        return None
    try:
        return parse_query(raw.decode("latin-1"))
    except ValueError:
        return None


def presented_credential(scope: dict) -> PresentedCredential | None:
    """The non-cookie credential of a handshake, or None when there is none (the cookie rules).

    An oversized or unparsable query string, or more than one kind at once, counts as a present,
    malformed token, so it can never fall back to the session.
    """
    params = query_params(scope)
    if params is None:
        return PresentedCredential("token", [""])
    found = [
        PresentedCredential(kind, values)
        for kind, values in (
            ("token", params.get("token")),
            ("ticket", params.get("ticket")),
            ("bearer", _bearer_values(scope)),
        )
        if values
    ]
    if len(found) > 1:
        return PresentedCredential("token", [""])
    return found[0] if found else None


def query_token_values(scope: dict) -> list[str] | None:
    """Every value of the non-cookie credential, or None when the socket has none."""
    presented = presented_credential(scope)
    return presented.values if presented is not None else None


def _bearer_values(scope: dict) -> list[str]:
    return [
        entry.removeprefix(BEARER_PREFIX)
        for entry in scope.get("subprotocols") or ()
        if entry.startswith(BEARER_PREFIX)
    ]


class PendingUser(LazyObject):
    """``scope["user"]`` of a token or ticket socket whose credential passed every check that
    needs no database; the user row (exists, active, token not revoked: a ``UserCheck``) is still
    to be read.

    ``settle_user`` resolves it in place (``RoomConsumer`` does, with the row it read along with
    the room); ``resolve_user`` reads the row alone. Like Django's lazy ``request.user`` it reads
    the row itself when first used in a synchronous thread (a ``SyncConsumer`` handler); in the
    event loop, where that would block, using it before it is resolved raises, like channels'
    ``UserLazyObject``.
    """

    def __init__(self, check: UserCheck) -> None:
        super().__init__()
        # Underscored: the proxy must not shadow an attribute of the user it stands for.
        self.__dict__["_check"] = check

    def _setup(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            user = self._check.read()
            self._wrapped = user if self._check.failure(user) is None else AnonymousUser()
            return
        raise ValueError(
            'scope["user"] is not read yet: await accounts.middleware.resolve_user(scope) first.'
        )


def pending_check(scope: dict) -> UserCheck | None:
    """The user row check a socket still owes (token and ticket sockets, until settled)."""
    user = scope.get("user")
    # type(), not isinstance(): that would look up __class__ and so resolve the proxy.
    if type(user) is PendingUser and user._wrapped is empty:
        return user._check
    return None


def settle_user(scope: dict, user: AbstractBaseUser | None) -> AuthFailure | None:
    """Apply the pending check to the row read for it (None: no such row); afterwards
    ``scope["user"]`` is that user, or ``AnonymousUser`` and ``scope["credential"]`` carries the
    failure, exactly as if the middleware had read the row."""
    pending = scope["user"]
    failure = pending._check.failure(user)
    if failure is None:
        pending._wrapped = user
    else:
        pending._wrapped = AnonymousUser()
        scope["credential"] = dataclasses.replace(scope["credential"], failure=failure)
    return failure


async def resolve_user(scope: dict) -> AuthFailure | None:
    """For consumers that have no query of their own to read the user with: one query, one
    thread hop; nothing when the user is already known."""
    check = pending_check(scope)
    if check is None:
        return scope["credential"].failure
    return settle_user(scope, await database_sync_to_async(check.read)())


async def credential_from_token(value: str) -> tuple[object, Credential]:
    """An access JWT: one pure check; the user row is the consumer's to read."""
    try:
        claims = decode_access_token(value)
    except TokenRejected as rejected:
        return AnonymousUser(), Credential(AuthMethod.JWT, rejected.failure)
    check = UserCheck.for_access_token(claims)
    credential = Credential(
        AuthMethod.JWT,
        expires_at=claims.expires_at,
        revoke_claim=check.revoke_claim,
        login_id=claims.login_id,
    )
    return PendingUser(check), credential


async def credential_from_ticket(value: str) -> tuple[object, Credential]:
    """A one-time ticket: redeemed (single use) in the shared cache; the user row is the
    consumer's to read."""
    try:
        grant = await tickets.redeem_ticket(value)
    except TokenRejected as rejected:
        return AnonymousUser(), Credential(AuthMethod.TICKET, rejected.failure)
    issuer = grant.issuer
    user = PendingUser(
        UserCheck.for_follower(
            grant.user_id,
            follows=issuer.method,
            revoke_claim=issuer.revoke_claim,
            session_hash=issuer.session_hash,
            login_id=issuer.login_id,
        )
    )
    return user, Credential(
        AuthMethod.TICKET,
        expires_at=issuer.expires_at,
        room=grant.room,
        source=issuer.method,
        session_key=issuer.session_key,
        session_hash=issuer.session_hash,
        revoke_claim=issuer.revoke_claim,
        login_id=issuer.login_id,
    )


async def credential_from_presented(presented: PresentedCredential) -> tuple[object, Credential]:
    method = AuthMethod.TICKET if presented.kind == "ticket" else AuthMethod.JWT
    if len(presented.values) != 1:
        ticket = method == AuthMethod.TICKET
        failure = AuthFailure.TICKET_INVALID if ticket else AuthFailure.TOKEN_MALFORMED
        return AnonymousUser(), Credential(method, failure)
    if method == AuthMethod.TICKET:
        return await credential_from_ticket(presented.values[0])
    return await credential_from_token(presented.values[0])


class QueryTokenAuthMiddleware(BaseMiddleware):
    """The non-cookie credentials, for API and mobile clients; runs inside
    ``AuthMiddlewareStack``:

    - ``?ticket=<one-time ticket>`` from ``POST /api/auth/ws-ticket/`` (preferred: nothing
      long-lived in a URL);
    - ``Sec-WebSocket-Protocol: chat.v2, bearer.<access JWT>`` (the consumer selects
      ``chat.v2``);
    - ``?token=<access JWT>`` (still accepted).

    None of them: the session user stands. One present decides alone, so a bad credential can
    never fall back to an ambient cookie. A credential that passes its checks leaves a
    ``PendingUser`` in ``scope["user"]``; a refused one ``AnonymousUser``, the failure in
    ``scope["credential"]``.
    """

    async def __call__(self, scope, receive, send):
        # In place: the scope is this socket's own dict (daphne's, or channels' session
        # middleware's copy), and a copy here would live, unused, as long as the socket.
        await authenticate_scope(scope)
        return await self.inner(scope, receive, send)


async def authenticate_scope(scope: dict) -> None:
    """Sets ``scope["user"]`` and ``scope["credential"]``. A function of its own so that
    nothing it reads (the token among it) stays referenced for the socket's lifetime."""
    presented = presented_credential(scope)
    if presented is not None:
        scope["user"], scope["credential"] = await credential_from_presented(presented)
        return
    user = scope.get("user") or AnonymousUser()
    if user.is_authenticated:
        session = scope.get("session")
        scope["credential"] = Credential(
            AuthMethod.SESSION,
            session_key=getattr(session, "session_key", None),
            # accounts.sessions keeps the row's expiry; other engines leave it unknown.
            expires_at=getattr(session, "expires_at", None),
            session_hash=session.get(HASH_SESSION_KEY) if session is not None else None,
        )
    else:
        scope["user"] = user
        scope["credential"] = Credential(AuthMethod.NONE, AuthFailure.NOT_AUTHENTICATED)


class SessionUnlessTokenMiddleware:
    """Channels' ``AuthMiddlewareStack`` (cookie -> session -> user) only for sockets that have
    no other credential: a token, ticket or bearer decides alone, so loading the session and
    its user (a thread hop and a query or two per handshake) would be work thrown away."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.with_session = AuthMiddlewareStack(inner)

    async def __call__(self, scope, receive, send):
        if presented_credential(scope) is not None:
            return await self.inner(scope, receive, send)
        return await self.with_session(scope, receive, send)


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _has_session_cookie(scope: dict) -> bool:
    cookies = parse_cookie(_header(scope, b"cookie") or "")
    return bool(cookies.get(settings.SESSION_COOKIE_NAME))


def origin_allowed(origin: str, *, host: str | None, scheme: str = "ws") -> bool:
    """Same-origin (Origin's scheme matches the socket's, ``https`` for ``wss`` and ``http`` for
    ``ws``, its host:port equals the Host the socket was opened on, and that host is in
    ``ALLOWED_HOSTS``) or listed exactly in ``CSRF_TRUSTED_ORIGINS``.

    Stricter than channels' ``AllowedHostsOriginValidator``, which ignores ports, so a page on
    ``http://127.0.0.1:9999`` could open sockets to a site on ``127.0.0.1:8000`` with its cookie.
    """
    parsed = urlparse(origin.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return False  # includes the opaque "null" origin of sandboxed pages and file:// URLs
    normalized = f"{parsed.scheme}://{parsed.netloc}".lower()
    if normalized in (trusted.lower() for trusted in settings.CSRF_TRUSTED_ORIGINS):
        return True
    if parsed.scheme != ("https" if scheme in ("wss", "https") else "http"):
        return False  # an https page's cookie must not ride a plain ws:// socket, nor vice versa
    if host is None or parsed.netloc.lower() != host.strip().lower():
        return False
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, _allowed_hosts())


def _allowed_hosts() -> list[str]:
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return ["localhost", "127.0.0.1", "[::1]"]
    return settings.ALLOWED_HOSTS


class WebSocketOriginValidator:
    """Refuses cross-site sockets at the handshake (daphne answers HTTP 403).

    Cross-site WebSocket hijacking rides on ambient cookies. A socket that carries a query token
    authenticates by that token alone (the session is ignored), so a CLI, mobile or server client,
    which sends no ``Origin``, is admitted; channels' stock validator would lock it out. A socket
    with no credential and no Origin is admitted too, so the consumer closes it 4001
    ``not_authenticated`` as documented. A foreign or ``null`` Origin is refused either way, and
    so is a session-cookie socket without Origin.
    """

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            raise ValueError("WebSocketOriginValidator only guards WebSocket connections")
        origin = _header(scope, b"origin")
        if origin is None:
            # No Origin: no browser page opened it. A token, ticket or bearer socket (CLI,
            # mobile, server) goes on; so does one with no credential at all, to hear 4001
            # not_authenticated from the consumer. Only a session cookie without Origin is
            # refused: nothing vouches for where it came from.
            allowed = query_token_values(scope) is not None or not _has_session_cookie(scope)
        else:
            allowed = origin_allowed(
                origin, host=_header(scope, b"host"), scheme=scope.get("scheme") or "ws"
            )
        if allowed:
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


def client_address(scope: dict) -> str | None:
    """The client's IP, read by the same rule as every HTTP request (``TRUSTED_PROXY_COUNT``)."""
    client = scope.get("client")
    return addresses.client_address(
        client[0] if client else None, _header(scope, b"x-forwarded-for")
    )
