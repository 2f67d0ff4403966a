"""Shim 4 of ``config.server_shims``: the graceful drain that replaces daphne's cancel-all on
SIGTERM and SIGINT."""

import logging
import math

logger = logging.getLogger("config.server_shims")


def open_websockets(connections) -> list:
    from daphne.ws_protocol import WebSocketProtocol

    return [
        protocol
        for protocol in connections
        if isinstance(protocol, WebSocketProtocol) and protocol.state == protocol.STATE_OPEN
    ]


DRAIN_TICK_SECONDS = 0.05


def drain(
    server,
    original_kill,
    *,
    close_code: int,
    grace_seconds: float,
    spread_seconds: float = 0.0,
    clock,
    call_later,
):
    """Shim 4: stop listening, close every open socket with ``close_code`` in even batches
    across ``spread_seconds`` (one batch per ``DRAIN_TICK_SECONDS``; 0: all at once), wait for
    every application instance to finish (at most ``grace_seconds``), then let daphne cancel
    what is left. Returns what daphne's shutdown trigger waits on."""
    from twisted.internet import defer

    server.draining = True
    for port in getattr(server, "drain_ports", ()):
        port.stopListening()
    sockets = open_websockets(server.connections)
    if sockets:
        logger.info(
            "draining: sending %s to %s open sockets over %.2f s",
            close_code,
            len(sockets),
            spread_seconds,
        )
    batch = math.ceil(len(sockets) * DRAIN_TICK_SECONDS / spread_seconds) if spread_seconds else 0
    # Timers run late in a process busy closing sockets, so batches may fall behind; whatever is
    # left at the halfway point between the spread's end and the grace's goes at once, which
    # still leaves time for the closing handshakes: no socket is cut without its 1012.
    last_call = clock() + spread_seconds + (grace_seconds - spread_seconds) / 2

    def close_batch(start: int) -> None:
        end = len(sockets) if not batch or clock() >= last_call else start + batch
        for protocol in sockets[start:end]:
            # A socket that closed by itself meanwhile (its client left) needs no 1012.
            if protocol.state == protocol.STATE_OPEN:
                protocol.sendCloseFrame(code=close_code, isReply=False)
        if end < len(sockets):
            call_later(DRAIN_TICK_SECONDS, close_batch, end)

    if sockets:
        close_batch(0)
    done, deadline = defer.Deferred(), clock() + grace_seconds

    def check() -> None:
        running = [
            details["application_instance"]
            for details in list(server.connections.values())
            if details.get("application_instance") is not None
        ]
        if clock() >= deadline or all(instance.done() for instance in running):
            done.callback(None)
        else:
            call_later(0.05, check)

    check()
    done.addCallback(lambda _: original_kill(server))
    return done
