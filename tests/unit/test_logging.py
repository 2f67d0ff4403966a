import logging
import string

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from config.logging import (
    RedactingFormatter,
    RedactingJsonFormatter,
    RedactTokensFilter,
    redact_tokens,
)
from config.query_params import CREDENTIAL_QUERY_PARAMS, parse_query


def test_redacts_query_token():
    line = '127.0.0.1 - "GET /ws/rooms/lobby/?token=eyJhbGc.eyJzdWIi.sig&x=1 HTTP/1.1" 101'
    redacted = redact_tokens(line)
    assert "eyJ" not in redacted
    assert "token=[redacted]&x=1" in redacted


def test_filter_rewrites_formatted_records():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s "%s"',
        ("1.2.3.4", "/ws/?token=secret"),
        None,
    )
    RedactTokensFilter().filter(record)
    assert "secret" not in record.getMessage()


# Any spelling the parser reads as a credential is redacted -----------------------------------
# The middleware reads ``parse_qs(raw.decode("latin-1"))`` (config.query_params.parse_query): a
# name is %-decoded there, so the redactor must decode it the same way before it compares.

SECRET = "S3CR3T"
CREDENTIAL_VALUE_CHARS = string.ascii_letters + string.digits + "-_."
OTHER_CHARS = string.ascii_lowercase + string.digits


def spell_char(draw, char: str) -> str:
    """One character of a name, literally (either case) or as a %-escape (either hex case)."""
    escape = f"%{ord(char):02X}"
    return draw(st.sampled_from([char, char.upper(), escape, escape.lower()]))


@st.composite
def credential_names(draw) -> str:
    name = draw(st.sampled_from(CREDENTIAL_QUERY_PARAMS))
    spelled = "".join(spell_char(draw, char) for char in name)
    return spelled + draw(st.sampled_from(["", "", "[]", "%5B%5D"]))


@st.composite
def credential_values(draw) -> str:
    tail = draw(st.text(CREDENTIAL_VALUE_CHARS, min_size=1, max_size=40))
    escaped = draw(st.sampled_from(["", "%2E", "%41%42", "+"]))
    return SECRET + escaped + tail


other_fields = st.builds(
    "{}={}".format, st.text(OTHER_CHARS, min_size=1, max_size=6), st.text(OTHER_CHARS, max_size=6)
)


@st.composite
def query_strings(draw) -> str:
    """A query with a credential, spelled any way, among other fields."""
    name, value = draw(credential_names()), draw(credential_values())
    before = draw(st.lists(other_fields, max_size=3))
    after = draw(st.lists(other_fields, max_size=3))
    return "&".join([*before, f"{name}={value}", *after])


LINE_SHAPES = [
    '127.0.0.1:5000 - "GET /ws/rooms/lobby/?{q} HTTP/1.1" 101',
    "WebSocket /ws/rooms/lobby/?{q} [accepted]",
    "scope query_string=b'{q}'",
    '{{"path": "/ws/", "query": "{q}"}}',
    "handshake path=/ws/?{q} client=1.2.3.4",
    "{q}",
]


@given(query=query_strings(), shape=st.sampled_from(LINE_SHAPES))
@hypothesis_settings(max_examples=500)
def test_no_spelling_of_a_credential_name_lets_its_value_through(query, shape):
    assert SECRET not in redact_tokens(shape.format(q=query))


@given(query=query_strings())
def test_the_reader_and_the_redactor_agree_on_names(query):
    """The spellings above are the ones the reader takes for a credential (case aside)."""
    read = {key.lower().removesuffix("[]") for key in parse_query(query)}
    assert read & set(CREDENTIAL_QUERY_PARAMS)


@pytest.mark.parametrize(
    "query",
    [
        "token=SECRET",
        "%74oken=SECRET",
        "to%6Ben=SECRET",
        "%54%4F%4B%45%4E=SECRET",
        "TOKEN=SECRET",
        "token[]=SECRET",
        "ticket=SECRET",
        "access_token=SECRET",
        "access%5Ftoken=SECRET",
        "x=1&token=SECRET&y=2",
        "a=/ws/?token=SECRET",
        "token=SECRET&token=SECRET",
    ],
)
def test_known_bypasses_are_redacted(query):
    assert "SECRET" not in redact_tokens(f'"GET /ws/?{query} HTTP/1.1" 101')


@pytest.mark.parametrize("line", ["tokens=keep", "mytoken=keep", "token_type=keep", "x=keep"])
def test_other_parameters_are_kept(line):
    assert redact_tokens(line) == line


def test_filter_catches_encoded_names():
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, "%s", ("/ws/?%74oken=s",), None
    )
    RedactTokensFilter().filter(record)
    assert record.getMessage() == "/ws/?%74oken=[redacted]"


@pytest.mark.parametrize("settings_module", ["config.settings.local", "config.settings.test"])
def test_a_django_request_warning_is_printed_once(settings_module, tmp_path):
    """Django's default logging gives the "django" logger a console handler of its own (under
    DEBUG) besides the root's: each 404 or 401 line came out twice under ``make run``."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    script = (
        "import django, logging; django.setup(); "
        "logging.getLogger('django.request').warning('Not Found: /probe-once')"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module, "DJANGO_DEBUG": "true"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert output.count("Not Found: /probe-once") == 1, output
    assert "AXES: BEGIN" not in output


# The bearer subprotocol --------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        'duplicate protocol "bearer.SECRET.x.y" specified in HTTP Sec-WebSocket-Protocol header',
        "Sec-WebSocket-Protocol: chat.v2, bearer.SECRET.x.y",
        "subprotocols=['chat.v2', 'bearer.SECRET.x.y']",
        "chat.v2,Bearer.SECRET",
        "chat.v2, bearer%2ESECRET",  # daphne %-decodes the header before the middleware reads it
        "chat.v2, %62EARER%2eSECRET",
        'bearer."SECRET',
    ],
)
def test_bearer_subprotocol_values_are_redacted(line):
    redacted = redact_tokens(line)
    assert "SECRET" not in redacted
    assert "[redacted]" in redacted


def test_other_subprotocols_are_kept():
    assert redact_tokens("chat.v2, bearer., bearerish.x") == "chat.v2, bearer., bearerish.x"


# The formatters redact the whole line: message, extra fields, traceback ----------------------


def record_with_request_and_traceback() -> logging.LogRecord:
    try:
        raise ValueError("bad /ws/?ticket=SECRET")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", ("/x",), exc_info
    )
    record.request = "<ASGIRequest: GET '/x?token=SECRET'>"
    return record


def test_the_plain_formatter_redacts_tracebacks():
    line = RedactingFormatter("%(message)s").format(record_with_request_and_traceback())
    assert "ValueError: bad /ws/?ticket=[redacted]" in line
    assert "SECRET" not in line


def test_the_json_formatter_redacts_extra_fields():
    line = RedactingJsonFormatter("%(message)s").format(record_with_request_and_traceback())
    assert "SECRET" not in line
    assert '"request": "<ASGIRequest: GET \'/x?token=[redacted]' in line
