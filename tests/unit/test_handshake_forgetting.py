"""A credential read at the handshake is not kept for the socket's lifetime: the scope's copy
(``accounts.handshake.forget_presented``) and the server's (``config.server_shims``, shim 12)."""

from types import SimpleNamespace

import pytest

from accounts.handshake import MAX_QUERY_STRING_BYTES, forget_presented
from config.server_shims import forget_handshake, forget_upgraded_request

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        (f"token={TOKEN}".encode(), b""),
        (f"token={TOKEN}&since=4&epoch=ab".encode(), b"since=4&epoch=ab"),
        (f"after=9&ticket={TOKEN}".encode(), b"after=9"),
        (f"%74oken={TOKEN}&since=1".encode(), b"since=1"),  # read as "token", so dropped
        (f"access_token={TOKEN}&token={TOKEN}".encode(), b""),
        (b"since=4&epoch=ab", b"since=4&epoch=ab"),
        (b"", b""),
    ],
)
def test_the_query_loses_its_credential_fields_and_keeps_the_rest(query, kept):
    scope = {"query_string": query}
    forget_presented(scope)
    assert scope["query_string"] == kept


def test_an_oversized_query_string_goes_whole():
    scope = {"query_string": b"since=1&" + b"x" * MAX_QUERY_STRING_BYTES}
    forget_presented(scope)
    assert scope["query_string"] == b""


def test_bearer_entries_leave_the_offered_subprotocols():
    scope = {"query_string": b"", "subprotocols": ["chat.v3", f"bearer.{TOKEN}"]}
    forget_presented(scope)
    assert scope["subprotocols"] == ["chat.v3"]


def test_an_upgraded_request_keeps_its_path_and_not_its_query():
    raw = f"/ws/rooms/lobby/?token={TOKEN}".encode()
    request = SimpleNamespace(
        uri=raw, path=b"/ws/rooms/lobby/", args={b"token": [TOKEN.encode()]},
        query_string=raw.split(b"?")[1],
    )  # fmt: skip
    forget_upgraded_request(request)
    assert (request.uri, request.args, request.query_string) == (b"/ws/rooms/lobby/", {}, b"")


def test_an_open_socket_keeps_no_handshake_text():
    params = {"token": [TOKEN]}
    protocol = SimpleNamespace(
        _raw_query_string=f"token={TOKEN}".encode(),
        http_request_data=f"GET /ws/?token={TOKEN} HTTP/1.1\r\n\r\n".encode(),
        http_status_line=f"GET /ws/?token={TOKEN} HTTP/1.1",
        http_request_uri=f"/ws/?token={TOKEN}",
        http_request_params=params,
        request=SimpleNamespace(path="/ws/", params=params),
    )
    forget_handshake(protocol)
    assert TOKEN not in repr(vars(protocol))
    assert protocol.request.path == "/ws/"  # daphne's access log reads it at close
