"""WebSocket authentication: fills ``scope["user"]`` and ``scope["credential"]``, never closes.

The consumer reads ``scope["credential"]`` to decide (and to close with a code the client can read:
a close before ``accept`` becomes a bare HTTP 403 in daphne).
"""

from urllib.parse import urlparse

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import split_domain_port, validate_host

from config.query_params import parse_query

from . import addresses
from .credentials import AuthFailure, AuthMethod, Credential
from .tokens import TokenRejected, decode_access_token, user_for_access_token

# Past this the query string is garbage; parse nothing of it.
MAX_QUERY_STRING_BYTES = 4096


def query_token_values(scope: dict) -> list[str] | None:
    """Every ``token`` value in the query string, or None when the parameter is absent.

    An oversized or unparsable query string counts as a present, malformed token so it can
    never fall back to the session.
    """
    raw = scope.get("query_string", b"")
    if len(raw) > MAX_QUERY_STRING_BYTES:
        return [""]
    try:
        params = parse_query(raw.decode("latin-1"))
    except ValueError:
        return [""]
    return params.get("token")


async def credential_from_token_values(values: list[str]) -> tuple[object, Credential]:
    """Authenticate a query-token socket: one pure check, then one query for the user."""
    if len(values) != 1:
        return AnonymousUser(), Credential(AuthMethod.JWT, AuthFailure.TOKEN_MALFORMED)
    try:
        claims = decode_access_token(values[0])
        user = await database_sync_to_async(user_for_access_token)(claims)
    except TokenRejected as rejected:
        return AnonymousUser(), Credential(AuthMethod.JWT, rejected.failure)
    return user, Credential(AuthMethod.JWT, expires_at=claims.expires_at)


class QueryTokenAuthMiddleware(BaseMiddleware):
    """``?token=<access JWT>`` for API and mobile clients; runs inside ``AuthMiddlewareStack``.

    No ``token`` parameter: the session user stands. A ``token`` present decides alone, so a
    bad token can never fall back to an ambient cookie.
    """

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        values = query_token_values(scope)
        if values is None:
            user = scope.get("user") or AnonymousUser()
            if user.is_authenticated:
                session = scope.get("session")
                credential = Credential(
                    AuthMethod.SESSION,
                    session_key=getattr(session, "session_key", None),
                    # accounts.sessions keeps the row's expiry; other engines leave it unknown.
                    expires_at=getattr(session, "expires_at", None),
                )
            else:
                credential = Credential(AuthMethod.NONE, AuthFailure.NOT_AUTHENTICATED)
        else:
            user, credential = await credential_from_token_values(values)
            scope["user"] = user
        scope["credential"] = credential
        return await self.inner(scope, receive, send)


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def origin_allowed(origin: str, *, host: str | None) -> bool:
    """Same-origin (Origin's host:port equals the Host the socket was opened on, and that host
    is in ``ALLOWED_HOSTS``) or listed exactly in ``CSRF_TRUSTED_ORIGINS``.

    Stricter than channels' ``AllowedHostsOriginValidator``, which ignores ports, so a page on
    ``http://127.0.0.1:9999`` could open sockets to a site on ``127.0.0.1:8000`` with its cookie.
    """
    parsed = urlparse(origin.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return False  # includes the opaque "null" origin of sandboxed pages and file:// URLs
    normalized = f"{parsed.scheme}://{parsed.netloc}".lower()
    if normalized in (trusted.lower() for trusted in settings.CSRF_TRUSTED_ORIGINS):
        return True
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
    which sends no ``Origin``, is admitted; channels' stock validator would lock it out. A
    foreign or ``null`` Origin is refused either way, and so is a cookie socket without Origin.
    """

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            raise ValueError("WebSocketOriginValidator only guards WebSocket connections")
        origin = _header(scope, b"origin")
        if origin is None:
            allowed = query_token_values(scope) is not None
        else:
            allowed = origin_allowed(origin, host=_header(scope, b"host"))
        if allowed:
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


def client_address(scope: dict) -> str | None:
    """The client's IP, read by the same rule as every HTTP request (``TRUSTED_PROXY_COUNT``)."""
    client = scope.get("client")
    return addresses.client_address(
        client[0] if client else None, _header(scope, b"x-forwarded-for")
    )
