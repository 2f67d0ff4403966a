"""What a WebSocket handshake carried, read once: the presented credential, the client's address,
and the user it names (``scope["user"]``, ``scope["credential"]``).

Token and ticket sockets are checked here without the database (signature, algorithm, expiry,
type; a ticket used up in the cache). Their user row is read by the socket, which needs the
database anyway: ``scope["user"]`` is a ``PendingUser`` until then, and the room socket reads
the row with the room and the role in one query (``chat.selectors.connect_access``), then
``settle_user``. Any other consumer calls ``await resolve_user(scope)`` first. The middleware
classes that call this are in ``accounts.middleware``.
"""

import asyncio
import dataclasses
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import parse_cookie
from django.utils.functional import LazyObject, empty

from config.query_params import is_credential_name, parse_query

from . import addresses, tickets
from .credentials import AuthFailure, AuthMethod, Credential
from .tokens import TokenRejected, UserCheck, decode_access_token

# Past this the query string is garbage; parse nothing of it.
MAX_QUERY_STRING_BYTES = 4096
# Sec-WebSocket-Protocol: the prefix of the entry that carries an access JWT (browsers cannot set
# any other header).
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


# Where the first reader leaves the parsed credential for the next ones;
# ``authenticate_scope_now`` takes it out, so the token is not referenced for the socket's lifetime.
PRESENTED_KEY = "accounts.presented_credential"


def presented_credential(scope: dict) -> PresentedCredential | None:
    """The non-cookie credential of a handshake, or None when there is none (the cookie rules);
    parsed once per handshake, whichever middleware asks first.

    An oversized or unparsable query string, or more than one kind at once, counts as a present,
    malformed token, so it can never fall back to the session.
    """
    if PRESENTED_KEY not in scope:
        scope[PRESENTED_KEY] = _parse_presented(scope)
    return scope[PRESENTED_KEY]


def _parse_presented(scope: dict) -> PresentedCredential | None:
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
            'scope["user"] is not read yet: await accounts.handshake.resolve_user(scope) first.'
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


def credential_from_token(value: str) -> tuple[object, Credential]:
    """An access JWT: one pure check, no waiting; the user row is the consumer's to read."""
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


def authenticate_scope_now(scope: dict) -> str | None:
    """Sets ``scope["user"]`` and ``scope["credential"]`` for every credential but a one-time
    ticket, whose value it returns for ``authenticate_ticket`` (redeeming waits on the cache).
    Nothing is awaited, so the middleware keeps no frame for the socket's lifetime; the
    credential leaves the scope once read (``forget_presented``)."""
    presented = presented_credential(scope)
    del scope[PRESENTED_KEY]
    forget_presented(scope)
    if presented is not None:
        method = AuthMethod.TICKET if presented.kind == "ticket" else AuthMethod.JWT
        if len(presented.values) != 1:
            ticket = method == AuthMethod.TICKET
            failure = AuthFailure.TICKET_INVALID if ticket else AuthFailure.TOKEN_MALFORMED
            scope["user"], scope["credential"] = AnonymousUser(), Credential(method, failure)
        elif method == AuthMethod.TICKET:
            return presented.values[0]
        else:
            scope["user"], scope["credential"] = credential_from_token(presented.values[0])
        return None
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
    return None


async def authenticate_ticket(scope: dict, ticket: str) -> None:
    """The ticket ``authenticate_scope_now`` left: redeemed, ``scope["user"]`` and
    ``scope["credential"]`` set."""
    scope["user"], scope["credential"] = await credential_from_ticket(ticket)


def forget_presented(scope: dict) -> None:
    """Once read, the credential leaves the scope (in place: the server's dict and every copy made
    after this one): its query fields and bearer entries would otherwise live as long as the
    socket. What else the query carries (``since``, ``after``) stays for the consumer; an
    oversized query string, which nothing parses, goes whole."""
    raw = scope.get("query_string", b"")
    if len(raw) > MAX_QUERY_STRING_BYTES:
        scope["query_string"] = b""
    elif raw:
        kept = [
            field
            for field in raw.split(b"&")
            if not is_credential_name(field.split(b"=", 1)[0].decode("latin-1"))
        ]
        if len(kept) < raw.count(b"&") + 1:
            scope["query_string"] = b"&".join(kept)
    subprotocols = scope.get("subprotocols")
    if subprotocols and any(entry.startswith(BEARER_PREFIX) for entry in subprotocols):
        scope["subprotocols"] = [e for e in subprotocols if not e.startswith(BEARER_PREFIX)]


def header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def has_session_cookie(scope: dict) -> bool:
    cookies = parse_cookie(header(scope, b"cookie") or "")
    return bool(cookies.get(settings.SESSION_COOKIE_NAME))


def client_address(scope: dict) -> str | None:
    """The client's IP, read by the same rule as every HTTP request (``TRUSTED_PROXY_COUNT``)."""
    client = scope.get("client")
    return addresses.client_address(
        client[0] if client else None, header(scope, b"x-forwarded-for")
    )
