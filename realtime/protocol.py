"""Parsing and validating what clients send, as a pure function (fuzzed by the test suite).

A client frame either becomes a typed command or raises ``ProtocolError``; nothing else escapes.
"""

import json
import unicodedata
from dataclasses import dataclass

from .close_codes import ErrorCode


class ProtocolError(Exception):
    """``client_id``: the refused send's own, when it carried a valid one (so the client can
    tell which of its pending sends was refused)."""

    def __init__(self, code: ErrorCode, detail: str, client_id: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.client_id = client_id


# Protocol 2: tickets and the Sec-WebSocket-Protocol bearer, in-band refresh, resume, client ids.
PROTOCOL_VERSION = 2
SUBPROTOCOL = "chat.v2"
MAX_CLIENT_ID_CHARS = 64


@dataclass(frozen=True, slots=True)
class SendMessage:
    body: str
    client_id: str | None = None
    frame_type = "message.send"


@dataclass(frozen=True, slots=True)
class DeleteMessage:
    message_id: int
    frame_type = "message.delete"


@dataclass(frozen=True, slots=True)
class RefreshAuth:
    token: str
    frame_type = "auth.refresh"

    def __repr__(self) -> str:  # never the token, in a log or a traceback
        return "RefreshAuth(token=[redacted])"


ClientCommand = SendMessage | DeleteMessage | RefreshAuth
# Every frame type a client may send: the metrics label frames by these, and by nothing else.
COMMAND_TYPES = tuple(command.frame_type for command in (SendMessage, DeleteMessage, RefreshAuth))


def parse_client_frame(text: str, *, max_body_chars: int) -> ClientCommand:
    """Turn one text frame into a command, or raise ``ProtocolError`` saying what is wrong."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise ProtocolError(ErrorCode.INVALID_JSON, "Frame is not valid JSON.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, 'Send a JSON object with a string "type".')
    if data["type"] == SendMessage.frame_type:
        client_id = _valid_client_id(data.get("client_id"))
        try:
            body = _valid_body(data.get("body"), max_body_chars=max_body_chars)
        except ProtocolError as error:
            raise ProtocolError(error.code, error.detail, client_id) from None
        return SendMessage(body=body, client_id=client_id)
    if data["type"] == DeleteMessage.frame_type:
        return DeleteMessage(message_id=_valid_id(data.get("id")))
    if data["type"] == RefreshAuth.frame_type:
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, '"token" must be an access token.')
        return RefreshAuth(token=token)
    raise ProtocolError(ErrorCode.UNKNOWN_TYPE, "Unknown message type.")


def _valid_body(body: object, *, max_body_chars: int) -> str:
    if not isinstance(body, str) or not body.strip():
        raise ProtocolError(ErrorCode.INVALID_BODY, '"body" must be a non-empty string.')
    if "\x00" in body or not _encodable(body):
        # A lone surrogate cannot be stored as UTF-8, and PostgreSQL text cannot hold NUL:
        # refuse here rather than fail at the database.
        raise ProtocolError(ErrorCode.INVALID_BODY, '"body" holds characters no database stores.')
    if len(body) > max_body_chars:
        raise ProtocolError(
            ErrorCode.MESSAGE_TOO_LONG, f'"body" is longer than {max_body_chars} characters.'
        )
    if not _visible(body):
        # Zero-width joiners, bidi marks, Hangul fillers: a message nobody can see is a way to
        # be in a room's history unnoticed, or to make a blank that looks like a glitch.
        raise ProtocolError(ErrorCode.INVALID_BODY, '"body" has nothing visible in it.')
    return body


# Characters that draw nothing on their own: controls, format characters (zero-width space and
# joiners, bidi controls, the BOM), separators and spaces, combining marks with no base.
_BLANK_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})
_INVISIBLE_CATEGORIES = _BLANK_CATEGORIES | {"Mn", "Me"}
# Letters and symbols that are blank glyphs anyway (Hangul fillers, the blank Braille pattern).
_BLANK_GLYPHS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _visible(body: str) -> bool:
    """Does ``body`` hold at least one character that draws something, and still does after
    NFKC normalization (which turns U+3000 and the other compatibility spaces into spaces)?"""
    return any(
        _draws(char, _INVISIBLE_CATEGORIES)
        # A spacing accent (U+00AF) decomposes to a space and a combining mark: still drawn.
        and any(_draws(part, _BLANK_CATEGORIES) for part in unicodedata.normalize("NFKC", char))
        for char in body
    )


def _draws(char: str, invisible: frozenset[str]) -> bool:
    return (
        not char.isspace()
        and char not in _BLANK_GLYPHS
        and unicodedata.category(char) not in invisible
    )


def _valid_client_id(value: object) -> str | None:
    """Absent, or 1-64 printable characters (no controls, no surrogates)."""
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_CLIENT_ID_CHARS
        or not value.isprintable()
        or not _encodable(value)
    ):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE,
            f'"client_id" must be 1-{MAX_CLIENT_ID_CHARS} printable characters.',
        )
    return value


def _valid_id(value: object) -> int:
    # bool is an int in Python; JSON true is not a message id.
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**63:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, '"id" must be a positive integer.')
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def message_new_frame(
    *,
    message_id: int,
    seq: int,
    room: str,
    author: str,
    body: str,
    created_at,
    client_id: str | None = None,
) -> str:
    """The ``message.new`` frame, serialized once per message and sent as-is to every socket;
    ``seq``: the message's position in the room's stream."""
    frame = {
        "type": "message.new",
        "id": message_id,
        "seq": seq,
        "room": room,
        "author": author,
        "body": body,
        "created_at": created_at.isoformat(),
    }
    if client_id is not None:
        frame["client_id"] = client_id
    return json.dumps(frame)


def message_ack_frame(*, client_id: str, message_id: int, seq: int) -> str:
    return json.dumps({"type": "message.ack", "client_id": client_id, "id": message_id, "seq": seq})


def error_frame(code: ErrorCode, detail: str, client_id: str | None = None) -> str:
    frame = {"type": "error", "code": code.value, "detail": detail}
    if client_id is not None:
        frame["client_id"] = client_id
    return json.dumps(frame)


def message_deleted_frame(*, message_id: int, seq: int) -> str:
    return json.dumps({"type": "message.deleted", "id": message_id, "seq": seq})


def room_joined_frame(
    *,
    room: str,
    role: str,
    online: list[str],
    seq: int,
    epoch: str,
    recovered: bool | None = None,
) -> str:
    """``seq``: the stream position the socket is at once the replay (if any) is out; live
    events follow from ``seq + 1``. ``recovered`` only when the client asked to resume
    (``?since=`` or ``?after=``)."""
    frame = {
        "type": "room.joined",
        "protocol": PROTOCOL_VERSION,
        "room": room,
        "role": role,
        "online": online,
        "seq": seq,
        "epoch": epoch,
    }
    if recovered is not None:
        frame["recovered"] = recovered
    return json.dumps(frame)


def presence_frame(*, joined: list[str], left: list[str]) -> str:
    """A change to the online list of ``room.joined``: add ``joined``, remove ``left``."""
    return json.dumps({"type": "presence", "joined": joined, "left": left})


def auth_expiring_frame(*, expires_at) -> str:
    return json.dumps({"type": "auth.expiring", "expires_at": expires_at.isoformat()})


def auth_refreshed_frame(*, expires_at) -> str:
    return json.dumps({"type": "auth.refreshed", "expires_at": expires_at.isoformat()})


def frame_exceeds(text: str | None, data: bytes | None, limit: int) -> bool:
    """Is a frame over ``limit`` bytes? Cheap for the common case: only long texts pay for an
    encode."""
    if text is None:
        return data is not None and len(data) > limit
    if len(text) > limit:
        return True
    return len(text) * 4 > limit and len(text.encode("utf-8")) > limit
