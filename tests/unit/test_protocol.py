import json

import pytest

from chat.close_codes import ErrorCode
from chat.protocol import ProtocolError, SendMessage, parse_client_frame


def parse(text, max_body_chars=10):
    return parse_client_frame(text, max_body_chars=max_body_chars)


def test_valid_send():
    assert parse('{"type": "message.send", "body": "hi"}') == SendMessage(body="hi")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", ErrorCode.INVALID_JSON),
        ("", ErrorCode.INVALID_JSON),
        ("[" * 100_000, ErrorCode.INVALID_JSON),
        ("[1, 2]", ErrorCode.INVALID_MESSAGE),
        ('"message.send"', ErrorCode.INVALID_MESSAGE),
        ('{"body": "x"}', ErrorCode.INVALID_MESSAGE),
        ('{"type": 5}', ErrorCode.INVALID_MESSAGE),
        ('{"type": "message.explode"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type": "message.send"}', ErrorCode.INVALID_BODY),
        ('{"type": "message.send", "body": ""}', ErrorCode.INVALID_BODY),
        ('{"type": "message.send", "body": "   "}', ErrorCode.INVALID_BODY),
        ('{"type": "message.send", "body": 42}', ErrorCode.INVALID_BODY),
        ('{"type": "message.send", "body": ["a"]}', ErrorCode.INVALID_BODY),
        ('{"type": "message.send", "body": "12345678901"}', ErrorCode.MESSAGE_TOO_LONG),
    ],
)
def test_invalid_frames_raise_their_code(text, code):
    with pytest.raises(ProtocolError) as excinfo:
        parse(text)
    assert excinfo.value.code == code


def test_body_at_the_limit_is_accepted():
    assert parse(json.dumps({"type": "message.send", "body": "x" * 10})).body == "x" * 10


def test_huge_integer_is_invalid_json_not_a_crash():
    with pytest.raises(ProtocolError):
        parse('{"type": "message.send", "body": "x", "n": ' + "9" * 10_000 + "}")


def test_valid_delete():
    from chat.protocol import DeleteMessage

    assert parse('{"type": "message.delete", "id": 12}') == DeleteMessage(message_id=12)
