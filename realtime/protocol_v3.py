"""Protocol 3: one socket, many topics (``/ws/``). Parsing, as a pure function (fuzzed by the
test suite), and the frames that only this protocol has.

Every command names its room (``"room"``) except ``auth.refresh``; any command may carry a
``ref``, echoed on its reply. ``message.send``/``message.delete`` parse as in protocol 2
(``realtime.protocol``), with the room beside them.
"""

import json
import re
from dataclasses import dataclass

from .close_codes import ErrorCode
from .protocol import (
    ClientCommand,
    ProtocolError,
    RefreshAuth,
    parse_client_frame,
)

PROTOCOL_VERSION = 3
SUBPROTOCOL = "chat.v3"
MAX_REF_CHARS = 64
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,50}")
_EPOCH = re.compile(r"[a-z0-9]{1,16}")


@dataclass(frozen=True, slots=True)
class JoinRoom:
    since: int | None = None
    epoch: str | None = None
    frame_type = "room.join"


@dataclass(frozen=True, slots=True)
class LeaveRoom:
    frame_type = "room.leave"


@dataclass(frozen=True, slots=True)
class ReadRoom:
    seq: int
    frame_type = "room.read"


@dataclass(frozen=True, slots=True)
class RoomCommand:
    """A command about one room: ``command`` is a ``JoinRoom``, ``LeaveRoom``, ``ReadRoom`` or a
    protocol 2 room command (send, delete)."""

    room: str
    command: object
    ref: str | None = None

    @property
    def frame_type(self) -> str:
        return self.command.frame_type

    @property
    def client_id(self) -> str | None:
        return getattr(self.command, "client_id", None)


MultiCommand = RoomCommand | RefreshAuth
COMMAND_TYPES = ("room.join", "room.leave", "room.read")


def parse_multi_frame(text: str, *, max_body_chars: int) -> MultiCommand:
    """One protocol 3 text frame as a command, or ``ProtocolError`` saying what is wrong."""
    command: ClientCommand = None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict) or data.get("type") not in COMMAND_TYPES:
        command = parse_client_frame(text, max_body_chars=max_body_chars)
        if isinstance(command, RefreshAuth):
            return command
    ref = _valid_ref(data.get("ref"))
    room = data.get("room")
    if not isinstance(room, str) or not _SLUG.fullmatch(room):
        client_id = getattr(command, "client_id", None)
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, '"room" must be a room\'s slug.', client_id)
    if command is None:
        command = _room_command(data)
    return RoomCommand(room=room, command=command, ref=ref)


def _room_command(data: dict):
    match data["type"]:
        case "room.join":
            return _join(data.get("since"))
        case "room.leave":
            return LeaveRoom()
        case _:
            return ReadRoom(seq=_valid_seq(data.get("seq"), '"seq"'))


def _join(since: object) -> JoinRoom:
    if since is None:
        return JoinRoom()
    if (
        not isinstance(since, dict)
        or set(since) != {"seq", "epoch"}
        or not isinstance(since["epoch"], str)
        or not _EPOCH.fullmatch(since["epoch"])
    ):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE, '"since" must be {"seq": <number>, "epoch": "<epoch>"}.'
        )
    return JoinRoom(since=_valid_seq(since["seq"], '"since.seq"'), epoch=since["epoch"])


def _valid_seq(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"{name} must be an integer >= 0.")
    return value


def _valid_ref(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_REF_CHARS or not value.isprintable():
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE, f'"ref" must be 1-{MAX_REF_CHARS} printable characters.'
        )
    return value


def hello_frame(*, user: str, rooms: list[dict], more: bool) -> str:
    """The first frame: the user's memberships, at most ``CHAT_MAX_ROOMS_PER_SOCKET`` of them
    (by slug); ``more``: there are others, listed by ``GET /api/rooms/``."""
    return json.dumps(
        {"type": "hello", "protocol": PROTOCOL_VERSION, "user": user, "rooms": rooms, "more": more}
    )


def room_refused_frame(*, room: str, ref: str | None, code: int, reason: str) -> str:
    return json.dumps(
        {"type": "room.refused", "room": room, "ref": ref, "code": int(code), "reason": reason}
    )


def room_left_frame(*, room: str, ref: str | None, code: int, reason: str) -> str:
    return json.dumps(
        {"type": "room.left", "room": room, "ref": ref, "code": int(code), "reason": reason}
    )


def membership_changed_frame(entry: dict) -> str:
    """The user's place in a room changed: ``entry`` is ``hello``'s entry for it (``role`` None
    and nothing else: no longer a member)."""
    return json.dumps({"type": "membership.changed", **entry})


def room_read_frame(*, room: str, seq: int) -> str:
    return json.dumps({"type": "room.read", "room": room, "seq": seq})


def about_room(text: str, *, room: str, ref: str | None = None) -> str:
    """A protocol 2 frame a room's channel wrote, for this protocol: with ``room`` (and the
    command's ``ref``), ``room.joined`` saying protocol 3. Frames that have ``room`` already
    (``message.new``, serialized once for the whole room) pass as they are."""
    if ref is None and text.startswith('{"type": "message.new"'):
        return text
    frame = json.loads(text)
    frame["room"] = room
    if ref is not None:
        frame["ref"] = ref
    if frame["type"] == "room.joined":
        frame["protocol"] = PROTOCOL_VERSION
    return json.dumps(frame)
