"""Three fixes to how daphne 4.2 writes to a WebSocket, applied from ``config/asgi.py``.

1. Server close codes. daphne hands an ASGI ``websocket.close`` code to autobahn's
   ``sendClose()``, which accepts only 1000 and 3000-4999 and raises for anything else, so a
   consumer closing with 1009 (message too big), 1011 (internal error) or 1013 (try again
   later) crashed inside daphne. RFC 6455 and the ASGI spec allow a server to send them;
   autobahn's lower-level ``sendCloseFrame()`` sends them unchanged.
2. Sends to a closing socket. Between a client's close frame and the application hearing
   ``websocket.disconnect``, a broadcast can still be sent to the socket; autobahn raises
   ``Disconnected`` for it. Such a frame has nowhere to go, so it is dropped quietly.
3. Readers that never read. Outgoing frames wait in Twisted's write buffer, which has no bound:
   a client that keeps its socket open but stops reading would make the server hold every
   broadcast for it. Past ``CHAT_MAX_SEND_BACKLOG_BYTES`` of unsent data the connection is
   aborted (a close frame could never reach a reader that does not read; the client sees 1006).

Checked against daphne 4.2.3 / autobahn 26.10 / Twisted 26.10; ``tests/e2e`` and
``tests/hostile`` catch a regression on upgrade.
"""

import logging

from django.conf import settings

SERVER_CLOSE_CODES = frozenset({1001, 1008, 1009, 1011, 1012, 1013})

logger = logging.getLogger("chat.sockets")


def unsent_bytes(transport) -> int:
    """Bytes queued in a Twisted transport and not yet written to the kernel."""
    buffered = len(getattr(transport, "dataBuffer", b"")) + getattr(transport, "_tempDataLen", 0)
    # TLS: the TLS protocol sits on a TCP transport that holds the encrypted backlog.
    lower = getattr(transport, "transport", None)
    return buffered + (unsent_bytes(lower) if lower is not None and lower is not transport else 0)


def apply_daphne_fixes() -> None:
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # served by another ASGI server
        return
    if getattr(WebSocketProtocol, "fixes_applied", False):
        return
    daphne_server_close = WebSocketProtocol.serverClose
    daphne_server_send = WebSocketProtocol.serverSend

    def server_close(self, code=None):
        if code in SERVER_CLOSE_CODES:
            self.sendCloseFrame(code=code, isReply=False)
        else:
            daphne_server_close(self, code=code)

    def server_send(self, content, binary=False):
        if self.state in (self.STATE_CLOSING, self.STATE_CLOSED):
            return
        if unsent_bytes(self.transport) > settings.CHAT_MAX_SEND_BACKLOG_BYTES:
            logger.warning(
                "socket aborted: unsent backlog over %s bytes (client not reading) ip=%s",
                settings.CHAT_MAX_SEND_BACKLOG_BYTES,
                self.client_addr[0] if self.client_addr else None,
            )
            self.dropConnection(abort=True)
            return
        daphne_server_send(self, content, binary)

    WebSocketProtocol.serverClose = server_close
    WebSocketProtocol.serverSend = server_send
    WebSocketProtocol.fixes_applied = True
