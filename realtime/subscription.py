"""One topic on one socket: the events held while the join is under way, then the socket's
position in the topic's stream.

A socket keeps a map of them (``Socket.subscriptions``, topic -> ``Subscription``), the way
centrifuge's client keeps its channel subscriptions beside its connection state.
"""

from .streams import Place, SocketPlace


class Subscription:
    """Held events: what the topic said between subscribing and the join's reply, passed on in
    order right after it. Position: from the reply on, what the socket has been sent."""

    __slots__ = ("epoch", "held", "place", "topic")  # one per socket and topic, for its lifetime

    def __init__(self, topic: int) -> None:
        self.topic = topic
        self.held: list[dict] | None = None
        self.place: SocketPlace | None = None
        self.epoch: str | None = None

    def hold(self) -> None:
        """From subscribing until the join's reply is out, events wait here."""
        self.held = []

    def holds(self, event: dict) -> bool:
        """Keep ``event`` for later if the reply is not out yet; True when kept."""
        if self.held is None:
            return False
        self.held.append(event)
        return True

    def start(self, position: int) -> list[dict]:
        """The reply is out at ``position``: returns what was held, in arrival order."""
        self.place = SocketPlace(position)
        held, self.held = self.held or [], None
        return held

    def drop_held(self) -> None:
        self.held = None

    def take(self, seq: int) -> Place:
        """Where a stream event at ``seq`` stands for this socket (``SocketPlace.take``)."""
        return self.place.take(seq)
