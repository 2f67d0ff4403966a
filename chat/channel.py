"""The room channel: what a socket's topic ``room.<id>`` decides (``realtime.channel``).

Join = authorize (the room and the role, read with the user row in one query) + presence +
replay; then the client's room commands (send, delete) and the room's events (messages,
deletions, presence, the stream breaking, the room's deletion, the member's role changing).
Rules live in ``chat.permissions``, database work in ``chat.selectors``/``chat.services``.
"""

import asyncio
import logging

from channels.db import database_sync_to_async
from django.db import DatabaseError

from realtime import presence_feed
from realtime.channel import Channel, Refused
from realtime.close_codes import CloseCode, ErrorCode
from realtime.errors import LAYER_ERRORS
from realtime.protocol import DeleteMessage, SendMessage, message_ack_frame, room_joined_frame
from realtime.revalidation import Verdict
from realtime.runtime import runtime
from realtime.streams import Place, Replay, StreamHead, resume_request

from . import permissions, selectors, services
from .models import Room
from .streams import replay_for

logger = logging.getLogger("chat.sockets")


class RoomChannel(Channel):
    """``/ws/rooms/<slug>/``: one member's presence in one room."""

    __slots__ = ("access", "online", "present", "replay", "role", "room", "snapshot_version")

    def __init__(self, socket, name: str) -> None:
        super().__init__(socket, name)
        self.access: selectors.ConnectAccess | None = None
        self.room: Room | None = None
        self.role: str | None = None
        self.online: list[str] | None = None  # who was online at the join, until room.joined
        self.replay: Replay | None = None  # read at connect, sent right after room.joined
        self.snapshot_version = 0  # presence changes up to this version are in the join's list
        self.present = False  # the presence store counts this socket (its slot, the room's list)

    @property
    def room_id(self) -> int | None:
        return self.room.pk if self.room is not None else None

    # Join ------------------------------------------------------------------------------------

    async def read(self, *, user_id, user_field: str = "pk", login_id: str | None = None):
        self.access = await database_sync_to_async(selectors.connect_access)(
            slug=self.name, user_id=user_id, user_field=user_field, login_id=login_id
        )
        return self.access.user

    async def authorize(self) -> None:
        access = self.access
        if access is None:
            # A cookie socket: its user came with the session; the room and the role, one query.
            access = await database_sync_to_async(selectors.connect_access)(
                slug=self.name, user_id=self.user.pk
            )
        if access.room is None or not permissions.can_view(access.role):
            # A room the user cannot see answers like no room at all (REST answers 404 alike).
            raise Refused(
                CloseCode.ROOM_NOT_FOUND,
                "room_not_found",
                log_reason="room_not_found" if access.room is None else "not_a_member",
            )
        self.access = None
        self.room, self.role = access.room, access.role
        self.subscription = self.socket.subscribe_to(self.room.pk)

    async def subscribe(self) -> bool:
        """Room fan-out, then socket slot and presence in one step (one round trip with Redis).
        False when the user already holds ``CHAT_MAX_SOCKETS_PER_USER`` sockets."""
        state = runtime()
        await state.fanout.join(self.room_id, self.socket)
        change = await state.presence.connect(
            room_id=self.room_id,
            username=self.user.get_username(),
            user_id=self.user.pk,
            channel=self.socket.channel_name,
            max_sockets=state.settings.max_sockets_per_user,
        )
        if change is None:
            return False
        self.present = True
        if change.changed:
            # The store took this version in the same step as the list: every change up to it
            # is in the list.
            self.snapshot_version = change.version
            self._announce_presence(online=True, version=change.version)
        self.online = change.online
        return True

    async def catch_up(self) -> None:
        """Where this socket starts in the room's stream, and what it missed (``?since=`` or
        ``?after=``): read *after* subscribing, so nothing falls between the replay and the live
        stream (``realtime.streams``)."""
        at = runtime().fanout.streams.position_for(
            self.room_id, head=StreamHead(seq=self.room.seq, epoch=self.room.epoch)
        )
        self.subscription.epoch = at.epoch
        resume = resume_request(self.socket.query_params() or {})
        try:
            self.replay = await replay_for(
                self.room_id, resume, at=at, limit=runtime().settings.resume_max_messages
            )
        except DatabaseError:
            logger.warning("resume not read", exc_info=True)
            self.replay = Replay(recovered=False, position=at.seq)

    async def joined(self) -> int:
        replay, online = self.replay, self.online
        self.replay = self.online = None  # the socket keeps no list
        await self.socket.send(
            text_data=room_joined_frame(
                room=self.name,
                role=self.role,
                online=online,
                seq=replay.position,
                epoch=self.subscription.epoch,
                recovered=replay.recovered,
            )
        )
        for frame in replay.frames:
            await self.socket.send(text_data=frame)
        return replay.position

    # Client commands -------------------------------------------------------------------------

    async def handle_command(self, command) -> None:
        match command:
            case SendMessage():
                await self._handle_send(command)
            case DeleteMessage():
                await self._handle_delete(command)

    async def _handle_send(self, command: SendMessage) -> None:
        if not permissions.can_send(self.role):
            await self.socket.send_error(
                ErrorCode.FORBIDDEN, "Your role in this room cannot send.", command.client_id
            )
            return
        # The room (this socket included) hears message.new from chat.signals after commit;
        # a resend of a client id already stored stores and broadcasts nothing.
        try:
            message, _ = await database_sync_to_async(services.message_create)(
                room=self.room, author=self.user, body=command.body, client_id=command.client_id
            )
        except services.MessageGone as gone:
            await self.socket.send_error(ErrorCode.NOT_FOUND, gone.detail, command.client_id)
            return
        except Room.DoesNotExist:  # deleted while this send waited on its lock
            await self.room_deleted({})
            return
        if command.client_id is not None:
            await self.socket.send(
                text_data=message_ack_frame(
                    client_id=command.client_id, message_id=message.pk, seq=message.seq
                )
            )

    async def _handle_delete(self, command: DeleteMessage) -> None:
        message = await database_sync_to_async(selectors.message_in_room)(
            room_id=self.room_id, message_id=command.message_id
        )
        if message is None:
            await self.socket.send_error(ErrorCode.NOT_FOUND, "No such message in this room.")
            return
        if not permissions.can_delete_message(
            self.role, author_id=message.author_id, user_id=self.user.pk
        ):
            await self.socket.send_error(
                ErrorCode.FORBIDDEN, "Your role cannot delete this message."
            )
            return
        # The room (this socket included) hears message.deleted from chat.signals after commit.
        await database_sync_to_async(services.message_delete)(message=message)

    # Events (chat.events; one handler per type) -----------------------------------------------

    async def message_new(self, event: dict) -> None:
        """``message.new`` and ``message.deleted``: the room's stream, in position order
        (``realtime.streams``); what the replay already sent is dropped."""
        match self.subscription.take(event["seq"]):
            case Place.OLD:
                return
            case Place.GAP:  # never expected: RoomStreams passes on no hole; resume, not skip
                logger.error(
                    "stream gap at socket: seq %s after %s", event["seq"], self.subscription.place
                )
                await self._close_stream_gap("socket_gap")
                return
        await self.socket.send(text_data=event["text"])  # serialized once for the whole room

    async def message_deleted(self, event: dict) -> None:
        await self.message_new(event)

    async def presence_changed(self, event: dict) -> None:
        # Changes room.joined's list already showed (this socket's own join, first of all) are
        # not news: the frame goes without them, or not at all.
        event = presence_feed.newer_than(event, self.snapshot_version)
        if event is not None:
            await self.socket.send(text_data=event["text"])

    async def stream_broken(self, event: dict) -> None:
        """This process could not continue the room's stream (``realtime.streams``): resume."""
        await self._close_stream_gap(event["reason"])

    async def room_deleted(self, event: dict) -> None:
        await self.socket.end(CloseCode.ROOM_NOT_FOUND, "room_deleted")

    async def _close_stream_gap(self, reason: str) -> None:
        self.socket.log("resume", code=CloseCode.STREAM_GAP, reason=reason)
        await self.socket.close(code=CloseCode.STREAM_GAP, reason="stream_gap")

    async def membership_changed(self, event: dict) -> None:
        if event["room_id"] != self.room_id:
            return  # the user's role changed in another room
        self.socket.authority_changed()
        self.role = event["role"]
        if not permissions.can_view(self.role):
            await self.socket.end(CloseCode.FORBIDDEN, "membership_removed")

    async def room_read(self, event: dict) -> None:
        """A read position moved: news for protocol 3 sockets only (they keep a room list)."""

    def differs(self, verdict: Verdict) -> bool:
        return not verdict.room_exists or verdict.role != self.role

    async def revalidated(self, verdict: Verdict) -> None:
        """The periodic re-check found what a lost event would have said."""
        if not verdict.room_exists:
            await self.room_deleted({})
        else:
            await self.membership_changed({"room_id": self.room_id, "role": verdict.role})

    # Leave -----------------------------------------------------------------------------------

    async def leave(self) -> None:
        try:
            await runtime().fanout.leave(self.room_id, self.socket)
        except LAYER_ERRORS as error:  # it left this process's room all the same
            logger.warning("room group not left: %s", type(error).__name__)
        change = await runtime().presence.disconnect(
            room_id=self.room_id,
            username=self.user.get_username(),
            user_id=self.user.pk,
            channel=self.socket.channel_name,
        )
        if change.changed:
            # Wait for the window's frame: a draining server must not stop before it is out.
            await asyncio.shield(self._announce_presence(online=False, version=change.version))

    async def leave_later(self) -> None:
        runtime().presence.depart_later(
            room_id=self.room_id,
            username=self.user.get_username(),
            user_id=self.user.pk,
            channel=self.socket.channel_name,
        )

    async def undo_subscribe(self) -> None:
        """Best effort after a failed connect; the layer may be the thing that is down.

        Releasing the socket slot is idempotent. The room's online count is not undone: a
        connect script that ran in Redis but timed out here leaves the user counted online until
        this process's lease lapses (its restart), the same window a crash leaves."""
        undo_steps = (
            runtime().presence.release_socket(
                user_id=self.user.pk, channel=self.socket.channel_name
            ),
            runtime().fanout.leave(self.room_id, self.socket),
        )
        for undo in undo_steps:
            try:
                async with asyncio.timeout(runtime().settings.layer_timeout):
                    await undo
            except LAYER_ERRORS:
                pass

    async def abandon(self) -> None:
        if not self.present:
            await self.undo_subscribe()
            return
        try:
            async with asyncio.timeout(runtime().settings.layer_timeout):
                await self.leave()
        except LAYER_ERRORS as error:
            logger.warning("abandoned connect not fully undone: %s", type(error).__name__)

    def _announce_presence(self, *, online: bool, version: int) -> asyncio.Future:
        """Batched per room (``realtime.presence_feed``); done when the frame is sent."""
        return runtime().presence_batcher.note(
            self.room_id, self.user.get_username(), online, version
        )
