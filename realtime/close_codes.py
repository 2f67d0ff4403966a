"""Every WebSocket close code and error-frame code this server sends, and what a client should do
after each one (``ClientAction``).

The tables in docs/codes.md are checked against these enums by the test suite; no bare numbers
elsewhere. Clients read the actions from the server (``client_guide()``: rendered into the room
page, served as ``/protocol.json``), never from a copy of their own.
"""

from enum import IntEnum, StrEnum


class CloseCode(IntEnum):
    """Close codes the server ends a socket with. 4xxx are this application's own."""

    MESSAGE_TOO_BIG = 1009
    """A single WebSocket message exceeded ``CHAT_MAX_FRAME_BYTES``. Do not resend it."""

    INTERNAL_ERROR = 1011
    """The server failed while handling this socket (logged with a traceback); every other
    socket is unaffected. Reconnect with backoff."""

    SERVICE_RESTART = 1012
    """The server is shutting down for a deploy or restart (SIGTERM or Ctrl-C). Reconnect at
    once, without backoff, and resume from the last message you have."""

    TRY_AGAIN_LATER = 1013
    """The server is at capacity (``CHAT_MAX_SOCKETS_PER_PROCESS``) or its channel layer is
    unreachable. Reconnect with backoff."""

    UNAUTHENTICATED = 4001
    """No valid credential, or it ended while connected (token expired or revoked, logout,
    user deactivated). The reason (and an error frame sent just before) names the class.
    Refresh the token or log in again, then reconnect."""

    FORBIDDEN = 4003
    """Authenticated but not a member of the room, or the membership was removed. Do not retry."""

    ROOM_NOT_FOUND = 4004
    """No room with that slug (or no such socket path), or the room was deleted. Do not retry."""

    RATE_LIMITED = 4008
    """Kept sending after ``CHAT_FLOOD_CLOSE_AFTER`` consecutive ``rate_limited`` errors.
    Reconnect later and slow down."""

    STREAM_GAP = 4009
    """The server could not pass on every event of the room in order (events lost in its
    channel layer and not readable from the database in time, or the room's stream epoch
    changed). Reconnect at once, resuming with ``?since=<last seq>&epoch=<epoch>``."""

    TOO_MANY_CONNECTIONS = 4029
    """This user already holds ``CHAT_MAX_SOCKETS_PER_USER`` open sockets (across every room and
    server process). Close one first."""


class ErrorCode(StrEnum):
    """Codes of ``{"type": "error", "code": ..., "detail": ...}`` frames; the socket stays open
    (except for the 4001 notice sent just before a close)."""

    INVALID_JSON = "invalid_json"
    """The text frame is not valid JSON (or nests absurdly deep)."""

    INVALID_MESSAGE = "invalid_message"
    """Valid JSON, but not an object with a string ``type``, or a delete without a positive
    integer ``id``."""

    UNKNOWN_TYPE = "unknown_type"
    """``type`` names no command this server accepts."""

    INVALID_BODY = "invalid_body"
    """``body`` is missing, not a string, or blank."""

    MESSAGE_TOO_LONG = "message_too_long"
    """``body`` is longer than ``CHAT_MAX_BODY_CHARS`` characters."""

    FORBIDDEN = "forbidden"
    """Your role does not allow this command (a reader sending, deleting another's message)."""

    NOT_FOUND = "not_found"
    """No message with that id in this room (it may be in another room, or already deleted)."""

    RATE_LIMITED = "rate_limited"
    """Over ``CHAT_RATE_LIMIT_MESSAGES`` frames per ``CHAT_RATE_LIMIT_SECONDS``; the frame was
    dropped (not saved, not broadcast). Slow down."""

    UNAVAILABLE = "unavailable"
    """The database could not store the message; nothing was saved or broadcast. Resend later."""

    UNSUPPORTED_FRAME = "unsupported_frame"
    """A binary frame; this protocol is JSON text only."""

    NOT_JOINED = "not_joined"
    """Protocol 3: a command for a room this socket has not joined; nothing was stored. Join
    the room first."""

    ALREADY_JOINED = "already_joined"
    """Protocol 3: a ``room.join`` for a room this socket has joined already; nothing changed
    (no second delivery, no second presence)."""

    AUTH_FAILED = "auth_failed"
    """Sent just before a 4001 close; ``detail`` holds the failure class (daphne drops close
    reasons, so this frame is how every client learns it)."""


class ClientAction(StrEnum):
    """What a client should do after a close (with its connection) or an error frame (with the
    command it refused), like centrifuge's ``Temporary`` flag with the delay spelled out."""

    RETRY_NOW = "retry_now"
    """Reconnect at once, without backoff, resuming from the last position."""

    RETRY_LATER = "retry_later"
    """Reconnect (or send the refused command again, with its same ``client_id``) later, with
    backoff."""

    REAUTHENTICATE = "reauthenticate"
    """Get a new credential (refresh the token, or log in again), then reconnect."""

    NEVER = "never"
    """Do not retry: the same request gets the same answer."""


CLOSE_ACTIONS: dict[CloseCode, ClientAction] = {
    CloseCode.MESSAGE_TOO_BIG: ClientAction.RETRY_LATER,
    CloseCode.INTERNAL_ERROR: ClientAction.RETRY_LATER,
    CloseCode.SERVICE_RESTART: ClientAction.RETRY_NOW,
    CloseCode.TRY_AGAIN_LATER: ClientAction.RETRY_LATER,
    CloseCode.UNAUTHENTICATED: ClientAction.REAUTHENTICATE,
    CloseCode.FORBIDDEN: ClientAction.NEVER,
    CloseCode.ROOM_NOT_FOUND: ClientAction.NEVER,
    CloseCode.RATE_LIMITED: ClientAction.RETRY_LATER,
    CloseCode.STREAM_GAP: ClientAction.RETRY_NOW,
    CloseCode.TOO_MANY_CONNECTIONS: ClientAction.NEVER,
}

ERROR_ACTIONS: dict[ErrorCode, ClientAction] = {
    ErrorCode.INVALID_JSON: ClientAction.NEVER,
    ErrorCode.INVALID_MESSAGE: ClientAction.NEVER,
    ErrorCode.UNKNOWN_TYPE: ClientAction.NEVER,
    ErrorCode.INVALID_BODY: ClientAction.NEVER,
    ErrorCode.MESSAGE_TOO_LONG: ClientAction.NEVER,
    ErrorCode.FORBIDDEN: ClientAction.NEVER,
    ErrorCode.NOT_FOUND: ClientAction.NEVER,
    ErrorCode.RATE_LIMITED: ClientAction.RETRY_LATER,
    ErrorCode.UNAVAILABLE: ClientAction.RETRY_LATER,
    ErrorCode.UNSUPPORTED_FRAME: ClientAction.NEVER,
    ErrorCode.NOT_JOINED: ClientAction.NEVER,
    ErrorCode.ALREADY_JOINED: ClientAction.NEVER,
    ErrorCode.AUTH_FAILED: ClientAction.REAUTHENTICATE,
}


def client_guide(*, subprotocol: str) -> dict:
    """The one table both shipped clients read: each close code (by number) with its name and
    action, each error code with its action, and the protocol name to offer."""
    return {
        "subprotocol": subprotocol,
        "close": {
            str(int(code)): {"name": code.name, "action": action.value}
            for code, action in CLOSE_ACTIONS.items()
        },
        "error": {code.value: {"action": action.value} for code, action in ERROR_ACTIONS.items()},
    }
