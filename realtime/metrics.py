"""Prometheus metrics of the real-time side and the helpers that record them (``GET /metrics``,
which serves them, is ``chat.ops.metrics_view``).

Every value is per server process: each daphne process counts its own sockets and frames and
serves them on its own ``/metrics`` (scrape every process, as with ``/ops/sockets/``; Prometheus
sums them with ``sum(...)``). The metrics live in prometheus-client's default registry, which also
carries the ``process_*`` and ``python_*`` series of the process.

Callers use the helpers, never the metric objects: label values stay a small fixed set (a client
cannot invent a new time series by sending an odd frame type), and the series exist at zero from
startup so ``rate()`` and alerts work before the first event.
"""

import time
from enum import StrEnum

from prometheus_client import Counter, Gauge, Histogram

from .close_codes import CloseCode
from .protocol import COMMAND_TYPES
from .protocol_v3 import COMMAND_TYPES as ROOM_COMMAND_TYPES

# Label values ---------------------------------------------------------------------------


class HandshakeOutcome(StrEnum):
    """How a WebSocket handshake to a room ended."""

    ACCEPTED = "accepted"
    """The socket joined the room."""

    REJECTED = "rejected"
    """Closed with a close code after accept, or refused before accept (HTTP 403)."""


class RateLimitKind(StrEnum):
    """Which abuse limit refused something."""

    MESSAGE = "message"
    """A frame over ``CHAT_RATE_LIMIT_MESSAGES``; the client got a ``rate_limited`` error frame."""

    ROOM_COMMANDS = "room_commands"
    """A ``room.join`` / ``room.leave`` / ``room.read`` over ``CHAT_RATE_LIMIT_ROOM_COMMANDS``: a
    ``room.refused`` (1013 ``too_many_joins``) or a ``rate_limited`` error frame."""

    FLOOD = "flood"
    """Kept sending past ``CHAT_FLOOD_CLOSE_AFTER`` refusals: closed 4008."""

    USER_SOCKETS = "user_sockets"
    """The user already holds ``CHAT_MAX_SOCKETS_PER_USER`` sockets: closed 4029."""

    PROCESS_SOCKETS = "process_sockets"
    """This process holds ``CHAT_MAX_SOCKETS_PER_PROCESS`` sockets: closed 1013."""

    HANDSHAKES = "handshakes"
    """The user opened ``CHAT_MAX_HANDSHAKES_PER_USER`` sockets within the window: closed 1013."""

    FAILED_AUTH = "failed_auth"
    """An address spent ``CHAT_MAX_FAILED_AUTH_PER_ADDRESS``: refused before accept (HTTP 403)."""


class LayerOperation(StrEnum):
    """What the server asked of the channel layer (or the presence store) when it failed."""

    JOIN = "join"
    """Joining the room and user groups, claiming a user socket, presence join at connect."""

    LEAVE = "leave"
    """The same undone at close."""

    SEND = "send"
    """A ``group_send`` (a message, a deletion, a presence change, a revocation)."""

    PROBE = "probe"
    """The ``/readyz`` round trip."""


# Frame types a client may send: the parsers' own sets; anything else counts as "invalid".
FRAME_TYPES_IN = COMMAND_TYPES + ROOM_COMMAND_TYPES
FRAME_TYPE_INVALID = "invalid"
# Close codes a handshake may end with: the server's own, plus 403 for a refusal before accept.
HANDSHAKE_REFUSED_BEFORE_ACCEPT = 403
HANDSHAKE_CODES = (
    *(str(int(code)) for code in CloseCode),
    str(HANDSHAKE_REFUSED_BEFORE_ACCEPT),
    "other",
)
NO_CODE = "none"

# Metrics ---------------------------------------------------------------------------------
# prometheus-client appends ``_total`` to counter names in the exposition.

OPEN_SOCKETS = Gauge(
    "chat_open_sockets",
    "Room WebSocket connections open (joined) in this server process.",
)
"""Read at each scrape from the runtime's own count (``realtime.runtime`` sets its function), so
it can never drift from what the per-process cap and ``/ops/sockets/`` read."""
HANDSHAKES = Counter(
    "chat_handshakes",
    "Room WebSocket handshakes by outcome (accepted/rejected) and close code "
    "('none' when accepted, '403' when refused before accept).",
    ["outcome", "code"],
)
FRAMES_RECEIVED = Counter(
    "chat_frames_received",
    "Frames received from clients on room sockets, by command type ('invalid' when the frame "
    "was not JSON, not an object or named no known command).",
    ["type"],
)
FRAMES_SENT = Counter(
    "chat_frames_sent",
    "Frames sent to clients on room sockets (messages, presence, errors, notices).",
)
RATE_LIMITED = Counter(
    "chat_rate_limited",
    "Frames or handshakes refused by an abuse limit, by limit kind.",
    ["kind"],
)
CHANNEL_LAYER_ERRORS = Counter(
    "chat_channel_layer_errors",
    "Failed or timed-out calls to the channel layer or the presence store, by operation.",
    ["operation"],
)
BROADCAST_LATENCY = Histogram(
    "chat_broadcast_latency_seconds",
    "Seconds from a room event's creation (any process) to its delivery to a socket of this "
    "process.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# Every labelled series exists from startup, at zero.
HANDSHAKES.labels(outcome=HandshakeOutcome.ACCEPTED, code=NO_CODE)
for _code in HANDSHAKE_CODES:
    HANDSHAKES.labels(outcome=HandshakeOutcome.REJECTED, code=_code)
for _type in (*FRAME_TYPES_IN, FRAME_TYPE_INVALID):
    FRAMES_RECEIVED.labels(type=_type)
for _kind in RateLimitKind:
    RATE_LIMITED.labels(kind=_kind)
for _operation in LayerOperation:
    CHANNEL_LAYER_ERRORS.labels(operation=_operation)


# Helpers the consumer calls --------------------------------------------------------------


def record_handshake(outcome: HandshakeOutcome, code: int | None = None) -> None:
    """Once per handshake, when it is decided: accepted (``code=None``), or rejected with the
    close code sent (``None`` or 403 when refused before accept, which daphne sends as HTTP 403).
    """
    if outcome == HandshakeOutcome.ACCEPTED:
        label = NO_CODE
    elif code is None:
        label = str(HANDSHAKE_REFUSED_BEFORE_ACCEPT)
    else:
        label = str(int(code)) if str(int(code)) in HANDSHAKE_CODES else "other"
    HANDSHAKES.labels(outcome=HandshakeOutcome(outcome), code=label).inc()


def record_frame_in(frame_type: str | None) -> None:
    """Once per frame received on a joined socket within the user's budget, with its ``type``
    as sent (``None`` or an unknown value for a frame that did not parse). Frames over the budget
    count in ``chat_rate_limited_total`` instead."""
    label = frame_type if frame_type in FRAME_TYPES_IN else FRAME_TYPE_INVALID
    FRAMES_RECEIVED.labels(type=label).inc()


def record_frames_out(count: int = 1) -> None:
    """After sending ``count`` frames to a client."""
    FRAMES_SENT.inc(count)


def record_rate_limited(kind: RateLimitKind) -> None:
    """When a limit refuses a frame or a handshake."""
    RATE_LIMITED.labels(kind=RateLimitKind(kind)).inc()


def record_channel_layer_error(operation: LayerOperation) -> None:
    """When a channel-layer or presence call raises one of ``LAYER_ERRORS`` or times out."""
    CHANNEL_LAYER_ERRORS.labels(operation=LayerOperation(operation)).inc()


def event_timestamp() -> float:
    """The creation time to put in a room event (``"at"``, ``chat.events``): wall-clock seconds,
    so that a process on another host can compare it with its own clock."""
    return time.time()


def record_broadcast_delivered(sent_at: float) -> None:
    """When a room event built with ``event_timestamp()`` reaches this process (once per event
    and process, in ``realtime.fanout``). Clock skew between hosts never records a negative
    latency."""
    BROADCAST_LATENCY.observe(max(time.time() - sent_at, 0.0))
