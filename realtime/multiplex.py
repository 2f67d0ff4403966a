"""One socket, many topics: protocol 3 at ``/ws/``, the way a Phoenix socket carries channels and
a centrifuge client its subscriptions.

``MultiSocket`` is a ``realtime.socket.Socket`` whose connect admits the user alone (capacity,
credential, the user's group) and says ``hello``; topics are joined and left by commands, each
through the same channel a one-topic socket uses. The channel sits on a ``TopicView``: the
socket as seen from one topic, so a channel's refusal, its end (a removal, a deletion) or a stream
gap becomes a ``room.refused`` / ``room.left`` frame about that topic while the socket and its other
topics carry on. Only connection-level reasons (the credential, caps, drain, a bug) close it.

The view is what the process's fan-out and the periodic re-check see, one per joined topic: a
revocation or a removal reaches it within one layer hop, and the sweep checks each topic.
"""

import asyncio
import logging
import time

from django.db import DatabaseError

from accounts.credentials import AuthFailure

from . import bus, metrics
from .channel import Refused
from .close_codes import CloseCode, ErrorCode
from .errors import LAYER_ERRORS
from .lease import Lease
from .metrics import HandshakeOutcome, LayerOperation, RateLimitKind
from .protocol import SUBPROTOCOL, error_frame
from .protocol_v3 import (
    SUBPROTOCOL as SUBPROTOCOL_V3,
)
from .protocol_v3 import (
    JoinRoom,
    LeaveRoom,
    ReadRoom,
    RoomCommand,
    about_room,
    hello_frame,
    membership_changed_frame,
    parse_multi_frame,
    room_left_frame,
    room_read_frame,
    room_refused_frame,
)
from .revalidation import Held, Verdict
from .runtime import runtime
from .socket import Socket
from .topic_view import TopicView

logger = logging.getLogger("chat.sockets")


class MultiSocket(Socket):
    """``/ws/``: a user's connection to any of their topics. A subclass names the
    ``channel_class`` and reads ``read_user``, ``hello_rooms`` and ``store_read``."""

    subprotocols = (SUBPROTOCOL_V3, SUBPROTOCOL)
    ending = False  # a revocation is closing the socket

    async def connect(self) -> None:
        self.opened_at = time.monotonic()
        self.conf = runtime().settings
        self.credential = self.scope["credential"]
        self.subscriptions = {}
        self.topics: dict[str, TopicView] = {}
        self.lease = Lease(self, warning_seconds=self.conf.auth_expiry_warning_seconds)
        try:
            self._reserve_capacity()
            await self._read_user()
            await self._check_credential()
            if self.credential.room is not None:  # a ticket for one room opens that room's socket
                failure = AuthFailure.TICKET_WRONG_ROOM
                raise Refused(CloseCode.UNAUTHENTICATED, failure.value, failure=failure)
            await self._join_user_group()
            rooms, more = await self.hello_rooms(limit=self.conf.max_rooms_per_socket)
        except Refused as refusal:
            self._release_capacity()
            await self._refuse(refusal)
            return
        finally:
            self._release_capacity()
        runtime().open_sockets += 1
        runtime().many_topic_sockets.add(self)
        self.joined = True
        self.refused_in_row = 0
        await self.accept()
        await self.send(
            text_data=hello_frame(user=self.user.get_username(), rooms=rooms, more=more)
        )
        self.lease.schedule(self.credential.expires_at)
        runtime().revalidator.ensure_running()
        self.log("connect", code=None)
        metrics.record_handshake(HandshakeOutcome.ACCEPTED)

    async def _join_user_group(self) -> None:
        try:
            async with asyncio.timeout(self.conf.layer_timeout):
                self.groups = [bus.user_group(self.user.pk)]
                await self.channel_layer.group_add(self.groups[0], self.channel_name)
        except LAYER_ERRORS as error:
            logger.warning("channel layer unavailable at connect: %s", type(error).__name__)
            metrics.record_channel_layer_error(LayerOperation.JOIN)
            raise Refused(CloseCode.TRY_AGAIN_LATER, "layer_unavailable") from None

    async def disconnect(self, code: int) -> None:
        self.lease.cancel()
        if not self.joined:
            return
        self.joined = False
        runtime().open_sockets -= 1
        runtime().many_topic_sockets.discard(self)
        self.log("close", code=code)
        for view in list(self.topics.values()):
            await self._leave(view)

    # What the domain provides ------------------------------------------------------------------

    async def read_user(self, *, user_id, user_field: str, login_id: str | None):
        raise NotImplementedError

    async def hello_rooms(self, *, limit: int) -> tuple[list[dict], bool]:
        """The user's topics for ``hello`` (at most ``limit``), and whether there are more."""
        raise NotImplementedError

    async def store_read(self, view: TopicView, seq: int) -> int:
        """Move the read position in ``view``'s topic to ``seq`` (never back); returns it."""
        raise NotImplementedError

    async def membership_entry(self, topic_id: int) -> dict | None:
        """The ``membership.changed`` frame's body for the topic with that id, as it stands now
        (``hello``'s entry, or ``{"room": ..., "role": None}`` when the user is not a member);
        None when the topic no longer exists."""
        raise NotImplementedError

    # Client commands ---------------------------------------------------------------------------

    def parse(self, text: str):
        return parse_multi_frame(text, max_body_chars=self.conf.max_body_chars)

    def budget_for(self, command: RoomCommand):
        """Messages spend the message budget; the room list's own commands the room-command
        budget (a join at its admission, to answer ``room.refused`` about its room)."""
        match getattr(command, "command", None):
            case JoinRoom():
                return None
            case LeaveRoom() | ReadRoom():
                return runtime().room_command_budget
        return runtime().message_budget

    async def handle_command(self, command: RoomCommand) -> None:
        view = self.topics.get(command.room)
        if isinstance(command.command, JoinRoom):
            await self._join_room(command, view)
            return
        if view is None:
            await self._send_about(
                command,
                error_frame(ErrorCode.NOT_JOINED, "Join the room first.", command.client_id),
            )
            return
        match command.command:
            case LeaveRoom():
                await self._leave(view)
                await self.send(
                    text_data=room_left_frame(
                        room=view.name, ref=command.ref, code=1000, reason="left"
                    )
                )
            case ReadRoom(seq=seq):
                position = await self.store_read(view, seq)
                await self._send_about(command, room_read_frame(room=view.name, seq=position))
            case _:
                view.ref = command.ref
                try:
                    await view.channel.handle_command(command.command)
                finally:
                    view.ref = None

    async def _join_room(self, command: RoomCommand, existing: TopicView | None) -> None:
        if existing is not None:
            detail = "Already joined; nothing changed."
            await self._send_about(command, error_frame(ErrorCode.ALREADY_JOINED, detail))
            return
        view = TopicView(self, command.room, ref=command.ref, join=command.command)
        view.channel = self.channel_class(view, command.room)
        try:
            await self._admit(view)
        except Refused as refusal:
            self.log(
                "reject",
                code=refusal.code,
                reason=refusal.log_reason or refusal.reason,
                topic=view.name,
            )
            if refusal.limit is not None:
                metrics.record_rate_limited(refusal.limit)
            await self.send(
                text_data=room_refused_frame(
                    room=view.name, ref=command.ref, code=refusal.code, reason=refusal.reason
                )
            )
            return
        self.topics[view.name] = view
        view.live = True
        position = await view.channel.joined()
        view.ref = None
        for event in view.channel.subscription.start(position):
            await view.dispatch(event)
        view.log("join", code=None)

    async def _admit(self, view: TopicView) -> None:
        """Every step a one-topic socket's connect takes for its topic; ``Refused`` undone."""
        if len(self.topics) >= self.conf.max_rooms_per_socket:
            raise Refused(CloseCode.TOO_MANY_CONNECTIONS, "too_many_rooms")
        # A join spends the room-command budget here, so its refusal is about its room.
        if not await runtime().room_command_budget.allow(f"user:{self.user.pk}"):
            raise Refused(
                CloseCode.TRY_AGAIN_LATER, "too_many_joins", limit=RateLimitKind.ROOM_COMMANDS
            )
        channel = view.channel
        await channel.authorize()
        channel.subscription.hold()
        try:
            try:
                async with asyncio.timeout(self.conf.layer_timeout):
                    admitted = await channel.subscribe()
            except LAYER_ERRORS as error:
                logger.warning("channel layer unavailable at join: %s", type(error).__name__)
                metrics.record_channel_layer_error(LayerOperation.JOIN)
                await channel.undo_subscribe()
                raise Refused(CloseCode.TRY_AGAIN_LATER, "layer_unavailable") from None
            if not admitted:
                await channel.undo_subscribe()
                raise Refused(
                    CloseCode.TOO_MANY_CONNECTIONS,
                    "too_many_sockets",
                    limit=RateLimitKind.USER_SOCKETS,
                )
            await channel.catch_up()
        except Refused:
            self.subscriptions.pop(channel.subscription.topic, None)
            raise
        except BaseException:
            self.subscriptions.pop(channel.subscription.topic, None)
            channel.subscription.drop_held()
            await asyncio.shield(channel.abandon())
            raise

    async def _leave(self, view: TopicView) -> None:
        """Leave one topic's fan-out and presence (the socket closing, a leave, a removal)."""
        view.live = False
        self.topics.pop(view.name, None)
        self.subscriptions.pop(view.channel.subscription.topic, None)
        try:
            async with asyncio.timeout(self.conf.layer_timeout):
                await view.channel.leave()
        except LAYER_ERRORS as error:
            logger.warning("presence not updated at leave: %s", type(error).__name__)
            metrics.record_channel_layer_error(LayerOperation.LEAVE)
            await view.channel.leave_later()

    async def drop(self, view: TopicView, code: CloseCode, reason: str) -> None:
        """The channel ended ``view``'s topic: ``room.left`` with the one-topic socket's code."""
        if not view.live:
            return
        view.log("leave", code=code, reason=reason)
        await self._leave(view)
        await self.send(
            text_data=room_left_frame(room=view.name, ref=None, code=code, reason=reason)
        )

    async def _send_about(self, command: RoomCommand, text: str) -> None:
        await self.send(text_data=about_room(text, room=command.room, ref=command.ref))

    # Events --------------------------------------------------------------------------------------

    def handler_for(self, name: str):
        return getattr(self, name, None)

    async def membership_changed(self, event: dict) -> None:
        """A role changed, a membership began or ended: a joined topic re-checks (a removal
        leaves it with ``room.left``), and the client's room list hears of it either way."""
        for view in list(self.topics.values()):
            if view.channel.subscription.topic == event["room_id"]:
                await view.channel.membership_changed(event)
        try:
            entry = await self.membership_entry(event["room_id"])
        except DatabaseError as error:  # the list is behind until the next hello; no close
            logger.warning("membership change not read: %s", type(error).__name__)
            return
        if entry is not None and self.joined:
            await self.send(text_data=membership_changed_frame(entry))

    async def room_read(self, event: dict) -> None:
        """Another socket of this user moved a read position: every tab's badge agrees."""
        if event["channel"] != self.channel_name:
            await self.send(text_data=room_read_frame(room=event["room"], seq=event["seq"]))

    def log(
        self, event: str, *, code: int | None, reason: str | None = None, topic: str | None = None
    ) -> None:
        """One audit line; the socket's own events name no room (``*``)."""
        super().log(event, code=code, reason=reason, topic=topic or "*")

    # The periodic re-check judges the socket's credential (its rooms are judged by their views,
    # so a socket that has joined none is re-checked all the same).

    @property
    def authority(self) -> Held:
        return (self.user.pk, None, self.credential)

    def differs(self, verdict: Verdict) -> bool:
        return verdict.failure is not None

    async def revalidated(self, verdict: Verdict, *, read_at: float) -> None:
        if self.joined and self.authority_changed_at <= read_at and verdict.failure is not None:
            await self.revoke(verdict.failure)

    async def revoke(self, failure: AuthFailure) -> None:
        if not self.ending:
            self.ending = True
            await super().revoke(failure)
