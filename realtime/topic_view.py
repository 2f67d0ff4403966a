"""A topic on a many-topic socket (``realtime.multiplex``): the socket as that topic's channel
sees it. The channel calls it as it would call a one-topic socket; what would close that socket
(a removal, a deletion, a stream gap) ends the topic instead, and a frame the channel writes gets
the topic's name. The fan-out delivers to it and the periodic re-check judges it, one per topic.
"""

from channels.consumer import get_handler_name

from .close_codes import CloseCode, ErrorCode
from .protocol import error_frame
from .protocol_v3 import JoinRoom, about_room
from .revalidation import Held, Verdict


class TopicView:
    """The socket (a ``realtime.multiplex.MultiSocket``) as one topic's channel sees it.
    ``ref``: the join's, echoed on its reply."""

    def __init__(self, socket, name: str, *, ref: str | None, join: JoinRoom):
        self.socket, self.name, self.ref = socket, name, ref
        self.resume = (
            {} if join.since is None else {"since": [str(join.since)], "epoch": [join.epoch]}
        )
        self.channel = None
        self.live = False  # joined and not yet left

    @property
    def user(self):
        return self.socket.user

    @property
    def channel_name(self) -> str:
        """The presence store's name for this topic on this socket; the part before ``#`` is
        the socket, which the per-user cap counts once whatever its topics."""
        return f"{self.socket.channel_name}#{self.name}"

    @property
    def authority_changed_at(self) -> float:
        return self.socket.authority_changed_at

    def authority_changed(self) -> None:
        self.socket.authority_changed()

    def subscribe_to(self, topic: int):
        return self.socket.subscribe_to(topic)

    def query_params(self) -> dict[str, list[str]]:
        """The join's ``since``, as a one-topic socket's query string carries it."""
        return self.resume

    async def send(self, text_data: str) -> None:
        await self.socket.send(text_data=about_room(text_data, room=self.name, ref=self.ref))

    async def send_error(self, code: ErrorCode, detail: str, client_id: str | None = None):
        await self.send(error_frame(code, detail, client_id))

    @property
    def opened_at(self) -> float:
        return self.socket.opened_at

    async def end(self, code: CloseCode, reason: str, *, event: str = "revoke") -> None:
        """The channel ended this topic (removed, deleted): ``room.left``, the socket stays.
        Over the per-user cap (found after Redis lost its counts) is the socket's own end."""
        if event == "over_cap":
            await self.socket.end(code, reason, event=event)
        else:
            await self.socket.drop(self, code, reason)

    async def close(self, code: CloseCode, reason: str) -> None:
        """A stream gap: the topic is left (``room.left`` 4009); the client joins it again with
        its position."""
        await self.socket.drop(self, code, reason)

    def log(self, event: str, *, code: int | None, reason: str | None = None) -> None:
        self.socket.log(event, code=code, reason=reason, topic=self.name)

    # What the fan-out and the periodic re-check call -------------------------------------------

    async def deliver(self, event: dict) -> None:
        if not self.channel.subscription.holds(event):
            await self.dispatch(event)

    async def dispatch(self, event: dict) -> None:
        handler = getattr(self.channel, get_handler_name(event))
        await self.socket.guarded(handler, event)

    @property
    def authority(self) -> Held:
        return (self.user.pk, self.channel.subscription.topic, self.socket.credential)

    def differs(self, verdict: Verdict) -> bool:
        return verdict.failure is not None or self.channel.differs(verdict)

    async def revalidated(self, verdict: Verdict, *, read_at: float) -> None:
        if not self.live or self.socket.authority_changed_at > read_at:
            return
        if verdict.failure is not None:
            await self.socket.revoke(verdict.failure)
        elif self.channel.differs(verdict):
            await self.channel.revalidated(verdict)
