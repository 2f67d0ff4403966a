"""Property-based: the frame parser and the query-token reader on arbitrary input.

Protection guarded: ``realtime.protocol.parse_client_frame`` (and protocol 3's
``realtime.protocol_v3.parse_multi_frame``) turns every input into a valid command or a
``ProtocolError`` (the consumer catches only that); ``query_token_values`` never raises on
a client-chosen query string (it runs before any consumer, where an exception would be a crash).
"""

import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.handshake import query_token_values
from realtime.protocol import DeleteMessage, ProtocolError, SendMessage, parse_client_frame
from realtime.protocol_v3 import JoinRoom, LeaveRoom, ReadRoom, RoomCommand, parse_multi_frame

from .ledger import LEDGER

MAX_BODY = 40  # small, so the generator reaches both sides of the limit

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

commands = st.fixed_dictionaries(
    {"type": st.sampled_from(["message.send", "message.delete", "MESSAGE.SEND", ""])},
    optional={
        "body": json_values | st.text(max_size=MAX_BODY + 5),
        "id": json_values | st.integers(min_value=-(2**70), max_value=2**70),
        "__proto__": json_values,
        "constructor": json_values,
    },
)

HOSTILE = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_frame(text: str) -> None:
    LEDGER.case("parser: generated frames")
    try:
        command = parse_client_frame(text, max_body_chars=MAX_BODY)
    except ProtocolError as error:
        refused = error
    else:
        refused = None
    if refused is not None:
        assert refused.code  # every refusal names its error code
        return
    if isinstance(command, SendMessage):
        assert isinstance(command.body, str)
        assert command.body.strip()
        assert len(command.body) <= MAX_BODY
        command.body.encode("utf-8")  # storable text: no lone surrogates
    else:
        assert isinstance(command, DeleteMessage)
        assert type(command.message_id) is int
        assert 0 < command.message_id < 2**63


@HOSTILE
@given(json_values | commands)
def test_any_json_value_is_a_valid_command_or_a_protocol_error(value):
    check_frame(json.dumps(value))


@HOSTILE
@given(st.text())
def test_any_string_is_a_valid_command_or_a_protocol_error(text):
    check_frame(text)


# JSON's \\uXXXX escapes can spell lone surrogates, which no database column can store.
surrogate_text = st.text(
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=[])
    | st.characters(),
    min_size=1,
)


@HOSTILE
@given(surrogate_text)
def test_a_body_with_lone_surrogates_is_never_accepted(body):
    check_frame(json.dumps({"type": "message.send", "body": body}))


@HOSTILE
@given(st.integers(min_value=1, max_value=20_000))
def test_deep_nesting_of_any_depth_is_a_protocol_error(depth):
    check_frame("[" * depth + "]" * depth)
    check_frame('{"a":' * depth + "1" + "}" * depth)


@HOSTILE
@given(st.binary(max_size=6000))
def test_query_token_values_never_raises_on_arbitrary_bytes(raw):
    LEDGER.case("middleware: generated query strings")
    values = query_token_values({"query_string": raw})
    assert values is None or all(isinstance(value, str) for value in values)


@HOSTILE
@given(st.lists(st.sampled_from([b"token=", b"&", b";", b"%", b"=", b"a", b"\xff", b"%00"])))
def test_query_token_values_never_raises_on_separator_soup(parts):
    LEDGER.case("middleware: generated query strings")
    values = query_token_values({"query_string": b"".join(parts * 40)})
    assert values is None or isinstance(values, list)


# Protocol 3 (``/ws/``): the same promise, with rooms, refs and positions. ----------------------

commands_v3 = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["room.join", "room.leave", "room.read", "message.send", "message.delete", "Room.join"]
        )
    },
    optional={
        "room": json_values | st.sampled_from(["lobby", "a" * 51, "lob by", "lobby\n"]),
        "ref": json_values | st.text(max_size=70),
        "seq": json_values | st.integers(min_value=-(2**70), max_value=2**70),
        "since": json_values
        | st.fixed_dictionaries({"seq": json_values, "epoch": json_values | st.text(max_size=20)}),
        "body": st.text(max_size=MAX_BODY + 5),
        "id": st.integers(min_value=-5, max_value=5),
    },
)


def check_frame_v3(text: str) -> None:
    LEDGER.case("parser: generated protocol 3 frames")
    try:
        command = parse_multi_frame(text, max_body_chars=MAX_BODY)
    except ProtocolError as error:
        refused = error
    else:
        refused = None
    if refused is not None:
        assert refused.code  # every refusal names its error code
        return
    assert isinstance(command, RoomCommand)
    assert re.fullmatch(r"[-a-zA-Z0-9_]{1,50}", command.room)
    assert command.ref is None or (0 < len(command.ref) <= 64 and command.ref.isprintable())
    match command.command:
        case ReadRoom(seq=seq):
            assert type(seq) is int
            assert 0 <= seq < 2**63
        case JoinRoom(since=since, epoch=epoch):
            assert (since is None) == (epoch is None)
            assert since is None or (type(since) is int and since >= 0)
        case inner:
            assert isinstance(inner, LeaveRoom | SendMessage | DeleteMessage)


@HOSTILE
@given(json_values | commands_v3)
def test_any_json_value_is_a_valid_protocol_3_command_or_a_protocol_error(value):
    check_frame_v3(json.dumps(value))


@HOSTILE
@given(st.text())
def test_any_string_is_a_valid_protocol_3_command_or_a_protocol_error(text):
    check_frame_v3(text)
