import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realtime.close_codes import ErrorCode
from realtime.protocol import ProtocolError, SendMessage, parse_client_frame


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
    from realtime.protocol import DeleteMessage

    assert parse('{"type": "message.delete", "id": 12}') == DeleteMessage(message_id=12)


# Invisible bodies ---------------------------------------------------------------------------

INVISIBLE = [
    "\u200b",  # zero-width space
    "\u200b\u200d",  # zero-width space + joiner
    "\u200c\u200e\u200f\u2060\ufeff",  # non-joiner, bidi marks, word joiner, BOM
    "\u202e\u202d\u2066\u2069",  # bidi overrides and isolates
    "\u3000\u00a0\u2003",  # ideographic, no-break and em spaces (NFKC: plain spaces)
    "\u3164",  # Hangul filler
    "\u2800",  # blank Braille pattern
    "\u0301\u0302",  # combining marks with nothing to sit on
    "\u00ad",  # soft hyphen
    "\ufe0f\U000e0020",  # variation selector, tag space
    "\x01\x1f\x7f",  # controls
    " \u200b\n\t\u200d ",
]


def send(body: str) -> str:
    return json.dumps({"type": "message.send", "body": body})


@pytest.mark.parametrize("body", INVISIBLE)
def test_invisible_body_is_invalid_body(body):
    with pytest.raises(ProtocolError) as excinfo:
        parse(send(body))
    assert excinfo.value.code == ErrorCode.INVALID_BODY


@pytest.mark.parametrize(
    "body",
    ["a", "\u200bhi", "\U0001f600", "\u00e9", "e\u0301", "\u4e2d", ".", "\u2764\ufe0f", "\ue000"],
)
def test_a_body_with_something_visible_is_kept_verbatim(body):
    assert parse(send(body)) == SendMessage(body=body)


INVISIBLE_CHARS = st.characters(
    categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me"], exclude_characters="\x00"
) | st.sampled_from("\u115f\u1160\u3164\uffa0\u2800")


@given(st.text(INVISIBLE_CHARS, min_size=1, max_size=10))
def test_any_mix_of_invisible_characters_is_refused(body):
    with pytest.raises(ProtocolError) as excinfo:
        parse(send(body))
    assert excinfo.value.code == ErrorCode.INVALID_BODY


@given(
    st.text(INVISIBLE_CHARS, max_size=4),
    st.characters(
        categories=["L", "N", "P", "S"], exclude_characters="\u115f\u1160\u3164\uffa0\u2800"
    ),
    st.text(INVISIBLE_CHARS, max_size=4),
)
def test_one_visible_character_among_invisible_ones_is_accepted(before, visible, after):
    body = before + visible + after
    assert parse(send(body)) == SendMessage(body=body)
