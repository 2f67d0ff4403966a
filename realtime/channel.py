"""A channel: what one topic decides on a socket, the way a Phoenix channel sits on its socket.

The socket (``realtime.socket``) owns the connection; a channel decides whether the socket may
have its topic (``read``, ``authorize``, ``subscribe``, ``catch_up``), answers the client's
commands for it (``handle_command``), handles the topic's events (one method per event type,
``message.new`` -> ``message_new``) and ends with ``leave``. ``chat.channel.RoomChannel`` is one.
"""

from abc import ABC, abstractmethod

from .close_codes import CloseCode
from .metrics import RateLimitKind
from .protocol import ClientCommand
from .revalidation import Verdict
from .subscription import Subscription


class Refused(Exception):
    """A connect step said no. ``reason`` goes on the wire; ``log_reason`` (if different) only to
    the audit log, so a client cannot tell apart what the log may. ``limit``: the abuse limit
    that said no, for the metrics."""

    def __init__(
        self,
        code: CloseCode | None,
        reason: str,
        *,
        log_reason: str | None = None,
        failure=None,
        limit: RateLimitKind | None = None,
    ) -> None:
        super().__init__(reason)
        self.code, self.reason, self.log_reason = code, reason, log_reason
        self.failure, self.limit = failure, limit


class Channel(ABC):
    """Base of a topic's channel; ``socket`` is the ``realtime.socket.Socket`` it sits on,
    ``name`` the topic as the client named it (for the audit log and a ticket's topic),
    ``subscription`` the socket's subscription to it, once authorized. One per socket and topic
    for the socket's lifetime: subclasses declare their fields in ``__slots__`` too."""

    __slots__ = ("name", "socket", "subscription")

    def __init__(self, socket, name: str) -> None:
        self.socket = socket
        self.name = name
        self.subscription: Subscription | None = None

    @property
    def user(self):
        return self.socket.user

    @abstractmethod
    async def read(self, *, user_id, user_field: str = "pk", login_id: str | None = None):
        """Read what ``authorize`` needs; the user row as well (one query), which is returned;
        ``login_id``: the login the credential belongs to (its row must say it has not ended)."""

    @abstractmethod
    async def authorize(self) -> None:
        """May this user have the topic? Sets ``subscription``, or raises ``Refused``."""

    @abstractmethod
    async def subscribe(self) -> bool:
        """Join the topic's fan-out (and its presence); False when a cap says no."""

    @abstractmethod
    async def catch_up(self) -> None:
        """After subscribing: read what the reply sends (a resume's replay)."""

    @abstractmethod
    async def joined(self) -> int:
        """Send the join's reply; returns the stream position it left the socket at (held
        events follow it)."""

    @abstractmethod
    async def handle_command(self, command: ClientCommand) -> None:
        """A client command for this topic (the socket handles its own, ``auth.refresh``)."""

    @abstractmethod
    async def leave(self) -> None:
        """The socket closes: leave the topic's fan-out and presence."""

    @abstractmethod
    async def undo_subscribe(self) -> None:
        """Best effort after a subscribe that failed half-way."""

    @abstractmethod
    async def abandon(self) -> None:
        """A connect that ended after ``subscribe``: leave as a closing socket leaves."""

    @abstractmethod
    async def leave_later(self) -> None:
        """``leave`` failed on the layer: have it done once the layer answers."""

    def differs(self, verdict: Verdict) -> bool:
        """Does the periodic re-check's ``verdict`` change anything for this topic?"""
        return False

    @abstractmethod
    async def revalidated(self, verdict: Verdict) -> None:
        """Apply a ``verdict`` that ``differs``."""
