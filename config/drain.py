"""Shim 4 of ``config.server_shims``: the graceful drain that replaces daphne's cancel-all on
SIGTERM and SIGINT."""

import logging
import math
from collections import Counter

logger = logging.getLogger("config.server_shims")


def open_websockets(connections) -> list:
    from daphne.ws_protocol import WebSocketProtocol

    return [
        protocol
        for protocol in connections
        if isinstance(protocol, WebSocketProtocol) and protocol.state == protocol.STATE_OPEN
    ]


DRAIN_TICK_SECONDS = 0.05
# Called once as a drain starts, before the first 1012 (``config/asgi.py`` registers the
# real-time core's: no presence diffs to sockets that are all about to leave).
ON_DRAIN: list = []
BUSIEST_WINDOW_SECONDS = 0.1


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
    """Shim 4: stop listening, close every open socket with ``close_code`` evenly across
    ``spread_seconds`` (a batch per ``DRAIN_TICK_SECONDS``; 0: all at once), wait for
    every application instance to finish (at most ``grace_seconds``), then let daphne cancel
    what is left. Returns what daphne's shutdown trigger waits on."""
    from twisted.internet import defer

    server.draining = True
    for hook in ON_DRAIN:
        try:
            hook()
        except Exception:  # a hook's bug must not stop the drain itself
            logger.exception("a drain hook failed")
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
    # Paced by the clock, not by counting ticks: a process busy closing sockets runs its timers
    # late, and a tick that comes late closes what fell due meanwhile, so the 1012s keep to the
    # spread instead of piling up for its end; by the spread's end every socket has its 1012,
    # and the grace that follows is for the closing handshakes.
    started = clock()
    sent_per_window: Counter = Counter()

    def due(now: float) -> int:
        if not spread_seconds:
            return len(sockets)
        share = (now - started + DRAIN_TICK_SECONDS) / spread_seconds
        return min(len(sockets), math.ceil(round(len(sockets) * share, 6)))

    def close_batch(start: int) -> None:
        now = clock()
        end = max(due(now), start)
        for protocol in sockets[start:end]:
            # A socket that closed by itself meanwhile (its client left) needs no 1012.
            if protocol.state == protocol.STATE_OPEN:
                protocol.sendCloseFrame(code=close_code, isReply=False)
        sent_per_window[int((now - started) / BUSIEST_WINDOW_SECONDS)] += end - start
        if end < len(sockets):
            call_later(DRAIN_TICK_SECONDS, close_batch, end)
        else:
            # How even the wave was, on this process's clock: what the others will take.
            logger.info(
                "draining: %s sent to %s sockets in %.2f s; busiest 100 ms: %s",
                close_code,
                len(sockets),
                now - started,
                max(sent_per_window.values()),
            )

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
