"""Every patch this project makes to third-party server internals, in one place.

Each was written for, and is tested against, the release ranges in ``config.shim_versions``. At
startup ``apply_server_shims()`` refuses releases outside them with a clear error (or, when told to
allow untested versions, warns), and checks that the private fields the shims read still exist,
so an upgrade can never make one silently stop working. ``tests/unit/test_server_shims.py`` tests
each shim on a fake transport; ``tests/e2e`` and ``tests/hostile`` test them on the wire.

daphne's WebSocket protocol:

1. Server close codes. daphne hands an ASGI ``websocket.close`` code to autobahn's
   ``sendClose()``, which accepts only a plain ``int`` 1000 or 3000-4999 and raises for anything
   else, so a close with 1009 (message too big), 1011 (internal error), 1012 (service restart)
   or 1013 (try again later), or with an ``IntEnum`` member, crashed inside daphne. RFC 6455 and
   the ASGI spec allow them; autobahn's lower-level ``sendCloseFrame()`` sends them unchanged.
2. Sends to a closing socket. Between a client's close frame and the application hearing
   ``websocket.disconnect``, a broadcast can still be sent to the socket; autobahn raises
   ``Disconnected`` for it. Such a frame has nowhere to go, so it is dropped quietly.
3. Readers that never read. Outgoing frames wait in Twisted's write buffer, which has no bound:
   a client that keeps its socket open but stops reading would make the server hold every
   broadcast for it. Past ``max_send_backlog_bytes`` that the client has not taken (Twisted's
   buffer and the kernel's send queue) the connection is aborted (a close frame could never
   reach a reader that does not read; the client sees 1006).
13. Frames to the kernel at once, when nothing is buffered before them, instead of a reactor
    turn and two epoll changes per frame later (``config.twisted_writes``).

daphne's server:

4. Graceful drain (``config.drain``). On SIGTERM or SIGINT daphne cancels every application at
   once, so clients see 1006 (abnormal closure) and cannot tell a deploy from a crash, and a
   request whose sync code waits on the event loop (a broadcast after a REST write) can be left
   waiting on a loop that has stopped, so the process never exits. Before that, the server now
   stops listening, answers 503 to any new request on a kept-alive connection, sends every open
   socket ``drain_close_code`` (1012, service restart: "reconnect now") and waits up to
   ``drain_seconds`` for every application instance (sockets closing, requests in flight) to
   finish. The 1012s go out in even batches across ``drain_spread_seconds``, not at one
   instant: a process holding 5,000 sockets would otherwise send 5,000 reconnects into the
   surviving processes at once (Phoenix drains in batches for the same reason).

5. The WebSocket scope's scheme. daphne leaves ``scheme`` out of a WebSocket scope (ASGI then
   means "ws"), even on a TLS endpoint or behind a proxy that said ``X-Forwarded-Proto:
   https`` (with ``--proxy-headers``). The origin check compares the Origin's scheme with the
   socket's, so the scope now carries ``wss`` for those, ``ws`` otherwise.

8. Credentials in the access log. daphne's access log (``--access-log``, or stdout) is written
   by its action logger straight to a stream, outside ``logging``: an HTTP request line is
   written whole, query string included, so ``/healthz?token=...``, a REST call with
   ``?access_token=`` or a socket URL whose ``Upgrade`` header a proxy dropped put a credential
   there. Every path handed to the action logger now goes through
   ``config.logging.redact_tokens`` first.
9. ``Daphne-Root-Path``. daphne takes the ASGI ``root_path`` from this request header when a
   client sends it, so any client could choose the script prefix of the site's own redirects
   (``Location: /x/accounts/login/``), and a socket whose path does not start with it failed
   routing (HTTP 500). The scope's ``root_path`` is now always the server's own (``--root-path``,
   empty by default); the header is never read.
10. ``--proxy-headers`` and the client address. With that flag daphne puts the *leftmost*
    ``X-Forwarded-For`` entry (the client's own words) in the scope's ``client`` and its access
    log. The address now follows the project's one rule instead (``accounts.addresses``,
    ``TRUSTED_PROXY_COUNT``): with 0 the header is ignored and the TCP peer stands; with N the
    N-th entry from the right.
11. Handshakes refused before ``onConnect``. When autobahn refuses a handshake itself (a
    repeated ``Sec-WebSocket-Protocol`` entry, an unknown version), daphne's ``onClose`` still
    runs and reads ``self.server``, which only ``onConnect`` sets: an ``AttributeError`` logged
    as a CRITICAL "Unhandled Error" (with ``-v 2``). Such a socket never reached the server, so
    there is nothing to clean up: the close is now a no-op.
12. The handshake's URL, a ``?token=`` in it, lived as long as the socket in five copies
    (Twisted's request URI and ``args``, daphne's query string, autobahn's raw request, status
    line, URI and parameters). Each is emptied once nothing reads it (the request once upgraded,
    autobahn's once open); the scope's is the middleware's (``accounts.handshake``).

autobahn's handshake:

7. Debug lines nobody reads. For every new connection autobahn pretty-prints its ~40 protocol
   options into a debug log call, eagerly, whatever the log level: 6 % of the server's CPU in a
   reconnect storm, sampled with a profiler; and for every frame sent or received it colours
   the method's name, the peer and the length for another (4 % under fan-out). The text is
   now built only if a log observer formats that line.
"""

import logging
from pprint import pformat

from .drain import drain
from .forwarded import ClientAddressRule, forwarded_client
from .logging import redact_tokens
from .shim_versions import ServerShimError, installed_versions, version_problems
from .twisted_writes import check_twisted_fields, send_eagerly, unsent_bytes

logger = logging.getLogger("config.server_shims")

# Close codes autobahn's sendClose() refuses and RFC 6455 lets a server send.
SERVER_CLOSE_CODES = frozenset({1001, 1008, 1009, 1011, 1012, 1013})


def check_versions(installed: dict[str, str | None], *, allow_untested: bool) -> None:
    problems = version_problems(installed)
    if not problems:
        return
    untested = ", ".join(problems)
    message = (
        f"config/server_shims.py patches server internals and was not tested with {untested}. "
        "Read that module, run tests/e2e and tests/hostile against the new versions, then "
        "widen TESTED in config/shim_versions.py (or start anyway with "
        "SERVER_SHIMS_ALLOW_UNTESTED=true)."
    )
    if not allow_untested:
        raise ServerShimError(message)
    logger.warning(message)


# daphne ---------------------------------------------------------------------------------------


class DeferredText:
    """Shim 7: ``function(value)``, computed only when the log line is formatted."""

    __slots__ = ("function", "value")

    def __init__(self, function, value) -> None:
        self.function, self.value = function, value

    def __str__(self) -> str:
        return str(self.function(self.value))

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def deferred(function):
    def later(value) -> DeferredText:
        return DeferredText(function, value)

    later.deferred = function
    return later


def _patch_autobahn() -> None:
    from autobahn import util
    from autobahn.twisted import websocket
    from autobahn.websocket import protocol

    eager = {"pformat": pformat, "hltype": util.hltype, "hlval": util.hlval}
    for module, names in ((protocol, eager), (websocket, ("hltype", "hlval"))):
        for name in names:
            found = getattr(module, name, None)
            if getattr(found, "deferred", None) is eager[name]:
                continue
            if found is not eager[name]:
                raise ServerShimError(
                    f"{module.__name__} no longer imports {name}: shim 7 in "
                    "config/server_shims.py cannot apply. Check what its log lines now format."
                )
            setattr(module, name, deferred(found))


def server_close(protocol, original, code=None) -> None:
    """Shim 1: any RFC 6455 server code, IntEnum members included."""
    code = None if code is None else int(code)
    if code in SERVER_CLOSE_CODES:
        protocol.sendCloseFrame(code=code, isReply=False)
    else:
        original(protocol, code=code)


def server_send(protocol, original, content, binary: bool, *, max_backlog: int) -> None:
    """Shims 2 and 3: drop frames for closing sockets, abort readers that never read."""
    if protocol.state in (protocol.STATE_CLOSING, protocol.STATE_CLOSED):
        return
    if unsent_bytes(protocol.transport) > max_backlog:
        logger.warning(
            "socket aborted: unsent backlog over %s bytes (client not reading) ip=%s",
            max_backlog,
            protocol.client_addr[0] if protocol.client_addr else None,
        )
        protocol.dropConnection(abort=True)
        return
    original(protocol, content, binary)


def reached_server(protocol) -> bool:
    """Shim 11: did daphne's ``onConnect`` run for this socket (so ``onClose`` has state to
    clean up)?"""
    return "server" in vars(protocol)


def forget_upgraded_request(request) -> None:
    """Shim 12: what Twisted and daphne keep of a request handed to a WebSocket protocol."""
    request.uri, request.args, request.query_string = request.path, {}, b""


def forget_handshake(protocol) -> None:
    """Shim 12: an open socket's handshake (``request.path``, for daphne's log, has no query)."""
    protocol._raw_query_string = b""
    protocol.http_request_data = protocol.http_status_line = protocol.http_request_uri = None
    protocol.http_request_params = {}
    if getattr(protocol, "request", None) is not None:
        protocol.request.params = {}


def websocket_scheme(protocol) -> str:
    """Shim 5: ``wss`` when the client reached us over TLS, directly or through the proxy."""
    from twisted.internet.interfaces import ISSLTransport

    forwarded = getattr(protocol, "client_scheme", None)  # X-Forwarded-Proto, --proxy-headers
    if forwarded is not None:
        return "wss" if forwarded.lower() in ("https", "wss") else "ws"
    return "wss" if ISSLTransport.providedBy(protocol.transport) else "ws"


def redacted_details(details: dict) -> dict:
    """Shim 8: the action logger's details with every credential taken out of the path."""
    path = details.get("path")
    if not isinstance(path, str) or redact_tokens(path) == path:
        return details
    return {**details, "path": redact_tokens(path)}


def _patch_daphne_server(
    *,
    drain_close_code: int,
    drain_seconds: float,
    drain_spread_seconds: float,
    client_address: ClientAddressRule | None,
) -> None:
    import time

    from daphne.server import Server
    from daphne.ws_protocol import WebSocketProtocol
    from twisted.internet import reactor

    original_kill, original_listen_success = Server.kill_all_applications, Server.listen_success
    original_create, original_log_action = Server.create_application, Server.log_action

    def create_application(self, protocol, scope):
        if getattr(self, "draining", False) and scope["type"] == "http":
            # A kept-alive connection's next request while draining: no new work started.
            protocol.basic_error(503, b"Service Unavailable", "The server is restarting.")
            return None
        # daphne's own fresh dict and protocol: changed in place, no copy.
        if isinstance(protocol, WebSocketProtocol) and "scheme" not in scope:
            scope["scheme"] = websocket_scheme(protocol)
        scope["root_path"] = protocol.root_path = self.root_path  # shim 9
        if self.proxy_forwarded_address_header and client_address is not None:
            scope["client"] = protocol.client_addr = forwarded_client(
                protocol, scope, client_address
            )
        return original_create(self, protocol, scope)

    def log_action(self, protocol, action, details):
        return original_log_action(self, protocol, action, redacted_details(details))

    def remember_port(self, port):
        if not hasattr(self, "drain_ports"):
            self.drain_ports = []
        self.drain_ports.append(port)
        return original_listen_success(self, port)

    def drain_then_kill(self):
        return drain(
            self,
            original_kill,
            close_code=drain_close_code,
            grace_seconds=drain_seconds,
            spread_seconds=drain_spread_seconds,
            clock=time.monotonic,
            call_later=reactor.callLater,
        )

    Server.listen_success = remember_port
    Server.kill_all_applications = drain_then_kill
    Server.create_application = create_application
    Server.log_action = log_action


def _patch_daphne(
    max_send_backlog_bytes: int,
    *,
    drain_close_code: int,
    drain_seconds: float,
    drain_spread_seconds: float,
    client_address: ClientAddressRule | None,
) -> None:
    try:
        from daphne.http_protocol import WebRequest
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # served by another ASGI server
        return
    if getattr(WebSocketProtocol, "server_shims_applied", False):
        return
    check_twisted_fields()
    _patch_autobahn()
    _patch_daphne_server(
        drain_close_code=drain_close_code,
        drain_seconds=drain_seconds,
        drain_spread_seconds=drain_spread_seconds,
        client_address=client_address,
    )
    original_close, original_send = WebSocketProtocol.serverClose, WebSocketProtocol.serverSend
    original_on_close, original_on_open = WebSocketProtocol.onClose, WebSocketProtocol.onOpen
    original_process = WebRequest.process

    def patched_close(self, code=None):
        server_close(self, original_close, code)

    def patched_send(self, content, binary=False):
        server_send(self, original_send, content, binary, max_backlog=max_send_backlog_bytes)

    def patched_on_close(self, was_clean, code, reason):
        if not reached_server(self):
            return
        original_on_close(self, was_clean, code, reason)

    def patched_process(self):
        result = original_process(self)
        if self.transport is None:  # daphne handed the connection to a WebSocket protocol
            forget_upgraded_request(self)
        return result

    def patched_on_open(self):
        original_on_open(self)
        forget_handshake(self)
        send_eagerly(self.transport)  # shim 13

    WebRequest.process = patched_process
    WebSocketProtocol.onOpen = patched_on_open
    WebSocketProtocol.serverClose = patched_close
    WebSocketProtocol.serverSend = patched_send
    WebSocketProtocol.onClose = patched_on_close
    WebSocketProtocol.server_shims_applied = True


def apply_server_shims(
    *,
    max_send_backlog_bytes: int,
    drain_close_code: int,
    drain_seconds: float,
    allow_untested_versions: bool,
    drain_spread_seconds: float = 0.0,
    client_address: ClientAddressRule | None = None,
) -> None:
    """Called once per process from ``config/asgi.py``. ``client_address(peer_host,
    x_forwarded_for)`` is the project's reading of the client address (shim 10)."""
    check_versions(installed_versions(), allow_untested=allow_untested_versions)
    _patch_daphne(
        max_send_backlog_bytes,
        drain_close_code=drain_close_code,
        drain_seconds=drain_seconds,
        drain_spread_seconds=drain_spread_seconds,
        client_address=client_address,
    )
