"""Let daphne send the RFC 6455 server close codes this project documents.

daphne hands an ASGI ``websocket.close`` code to autobahn's ``sendClose()``, which accepts only
1000 and 3000-4999 and raises for anything else, so a consumer closing with 1009 (message too
big), 1011 (internal error) or 1013 (try again later) crashes inside daphne and the client sees a
different code. The ASGI spec and RFC 6455 allow a server to send them; autobahn's lower-level
``sendCloseFrame()`` sends them unchanged. Every other code takes daphne's own path.

Checked against daphne 4.2.3 / autobahn 26.10; ``tests/e2e`` catch a regression on upgrade.
"""

SERVER_CLOSE_CODES = frozenset({1001, 1008, 1009, 1011, 1012, 1013})


def allow_server_close_codes() -> None:
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # served by another ASGI server
        return
    if getattr(WebSocketProtocol.serverClose, "allows_server_codes", False):
        return
    daphne_server_close = WebSocketProtocol.serverClose

    def server_close(self, code=None):
        if code in SERVER_CLOSE_CODES:
            self.sendCloseFrame(code=code, isReply=False)
        else:
            daphne_server_close(self, code=code)

    server_close.allows_server_codes = True
    WebSocketProtocol.serverClose = server_close
