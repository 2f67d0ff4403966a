"""Every WebSocket close code and error-frame code this server sends.

README's tables are checked against these enums by the test suite; no bare numbers elsewhere.
"""

from enum import IntEnum, StrEnum


class CloseCode(IntEnum):
    """Close codes the server ends a socket with. 4xxx are this application's own."""

    MESSAGE_TOO_BIG = 1009
    """A single WebSocket message exceeded ``CHAT_MAX_FRAME_BYTES``. Do not resend it."""

    UNAUTHENTICATED = 4001
    """No valid credential, or it ended while connected (token expired or revoked, logout,
    user deactivated). The reason (and an error frame sent just before) names the class.
    Refresh the token or log in again, then reconnect."""

    FORBIDDEN = 4003
    """Authenticated but not a member of the room, or the membership was removed. Do not retry."""

    ROOM_NOT_FOUND = 4004
    """No room with that slug, or the room was deleted. Do not retry."""


class ErrorCode(StrEnum):
    """Codes of ``{"type": "error", "code": ..., "detail": ...}`` frames; the socket stays open
    (except for the 4001 notice sent just before a close)."""

    INVALID_JSON = "invalid_json"
    """The text frame is not valid JSON (or nests absurdly deep)."""

    INVALID_MESSAGE = "invalid_message"
    """Valid JSON, but not an object with a string ``type``."""

    UNKNOWN_TYPE = "unknown_type"
    """``type`` names no command this server accepts."""

    INVALID_BODY = "invalid_body"
    """``body`` is missing, not a string, or blank."""

    MESSAGE_TOO_LONG = "message_too_long"
    """``body`` is longer than ``CHAT_MAX_BODY_CHARS`` characters."""

    FORBIDDEN = "forbidden"
    """Your role does not allow this command (a reader sending)."""

    UNSUPPORTED_FRAME = "unsupported_frame"
    """A binary frame; this protocol is JSON text only."""

    AUTH_FAILED = "auth_failed"
    """Sent just before a 4001 close; ``detail`` holds the failure class (daphne drops close
    reasons, so this frame is how every client learns it)."""
