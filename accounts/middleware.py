"""WebSocket middleware: fills ``scope["user"]`` and ``scope["credential"]``, never closes.

The socket reads ``scope["credential"]`` to decide (and to close with a code the client can
read: a close before ``accept`` becomes a bare HTTP 403 in daphne). What each class reads of the
handshake is in ``accounts.handshake``, parsed once per handshake; the origin rule in
``accounts.origins``.
"""

from channels.auth import AuthMiddlewareStack
from channels.middleware import BaseMiddleware
from channels.security.websocket import WebsocketDenier

from .handshake import (
    authenticate_scope_now,
    authenticate_ticket,
    has_session_cookie,
    header,
    presented_credential,
)
from .origins import origin_allowed


class QueryTokenAuthMiddleware(BaseMiddleware):
    """The non-cookie credentials, for API and mobile clients; runs inside
    ``AuthMiddlewareStack``:

    - ``?ticket=<one-time ticket>`` from ``POST /api/auth/ws-ticket/`` (preferred: nothing
      long-lived in a URL);
    - ``Sec-WebSocket-Protocol: <the protocol's name>, bearer.<access JWT>`` (the socket
      selects the protocol's name, ``realtime.protocol.SUBPROTOCOL``);
    - ``?token=<access JWT>`` (still accepted).

    None of them: the session user stands. One present decides alone, so a bad credential can
    never fall back to an ambient cookie. A credential that passes its checks leaves a
    ``PendingUser`` in ``scope["user"]``; a refused one ``AnonymousUser``, the failure in
    ``scope["credential"]``.
    """

    _asgi_single_callable = True  # a plain __call__ that returns the application's awaitable

    def __call__(self, scope, receive, send):
        # In place: the scope is this socket's own dict (daphne's, or channels' session
        # middleware's copy), and a copy here would live, unused, as long as the socket. Not a
        # coroutine: it returns the inner application's, so no frame of this middleware stays
        # for the socket's lifetime (only a ticket's redemption waits, in a frame of its own).
        ticket = authenticate_scope_now(scope)
        if ticket is None:
            return self.inner(scope, receive, send)
        return self._after_ticket(ticket, scope, receive, send)

    async def _after_ticket(self, ticket: str, scope, receive, send):
        await authenticate_ticket(scope, ticket)
        return await self.inner(scope, receive, send)


class SessionUnlessTokenMiddleware:
    """Channels' ``AuthMiddlewareStack`` (cookie -> session -> user) only for sockets that have
    no other credential: a token, ticket or bearer decides alone, so loading the session and
    its user (a thread hop and a query or two per handshake) would be work thrown away."""

    _asgi_single_callable = True  # a plain __call__ that returns the application's awaitable

    def __init__(self, inner) -> None:
        self.inner = inner
        self.with_session = AuthMiddlewareStack(inner)

    def __call__(self, scope, receive, send):
        # The chosen application's awaitable, not a coroutine of its own: nothing of this
        # middleware stays for the socket's lifetime.
        if presented_credential(scope) is not None:
            return self.inner(scope, receive, send)
        return self.with_session(scope, receive, send)


class WebSocketOriginValidator:
    """Refuses cross-site sockets at the handshake (daphne answers HTTP 403).

    Cross-site WebSocket hijacking rides on ambient cookies. A socket that carries a query token
    authenticates by that token alone (the session is ignored), so a CLI, mobile or server client,
    which sends no ``Origin``, is admitted; channels' stock validator would lock it out. A socket
    with no credential and no Origin is admitted too, so the consumer closes it 4001
    ``not_authenticated`` as documented. A foreign or ``null`` Origin is refused either way, and
    so is a session-cookie socket without Origin.
    """

    _asgi_single_callable = True  # a plain __call__ that returns the application's awaitable

    def __init__(self, application) -> None:
        self.application = application

    def __call__(self, scope, receive, send):
        # Returns the application's awaitable (no frame of its own for the socket's lifetime).
        if scope["type"] != "websocket":
            raise ValueError("WebSocketOriginValidator only guards WebSocket connections")
        origin = header(scope, b"origin")
        if origin is None:
            # No Origin: no browser page opened it. A token, ticket or bearer socket (CLI,
            # mobile, server) goes on; so does one with no credential at all, to hear 4001
            # not_authenticated from the consumer. Only a session cookie without Origin is
            # refused: nothing vouches for where it came from.
            allowed = presented_credential(scope) is not None or not has_session_cookie(scope)
        else:
            allowed = origin_allowed(
                origin, host=header(scope, b"host"), scheme=scope.get("scheme") or "ws"
            )
        if allowed:
            return self.application(scope, receive, send)
        return WebsocketDenier()(scope, receive, send)
