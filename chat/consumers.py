"""The room socket. Authentication happened in middleware (``scope["credential"]``; for a token
or ticket the user row is still to be read, and ``connect`` reads it with the room and the role
in one query), rules live in ``chat.permissions``, database work in
``chat.selectors``/``chat.services``, frames in ``chat.protocol``, events in ``chat.events``,
presence batching in ``chat.presence_feed``, shared process state in ``chat.runtime``.

``RoomConsumer`` reads top to bottom: lifecycle, client commands, events.
"""

import asyncio
import dataclasses
import logging
import time
from datetime import UTC, datetime

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError

from accounts.credentials import AuthFailure, Credential
from accounts.middleware import client_address, pending_check, query_params, settle_user
from accounts.tokens import TokenRejected, UserCheck, decode_access_token, user_for_access_token
from config.server_shims import dispatch_to_handler

from . import events, metrics, permissions, presence_feed, selectors, services
from .close_codes import CloseCode, ErrorCode
from .metrics import HandshakeOutcome, LayerOperation, RateLimitKind
from .models import Room
from .presence import LAYER_ERRORS
from .protocol import (
    SUBPROTOCOL,
    DeleteMessage,
    ProtocolError,
    RefreshAuth,
    SendMessage,
    auth_expiring_frame,
    auth_refreshed_frame,
    error_frame,
    message_ack_frame,
    parse_client_frame,
    room_joined_frame,
)
from .revalidation import Verdict
from .runtime import runtime
from .selectors import StreamHead
from .streams import Place, Replay, SocketPlace, replay_for, resume_request

logger = logging.getLogger("chat.sockets")

MAX_LOGGED_SLUG = 64  # a room slug is at most 50 characters; anything longer is a client's junk


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
        failure: AuthFailure | None = None,
        limit: RateLimitKind | None = None,
    ) -> None:
        super().__init__(reason)
        self.code, self.reason, self.log_reason = code, reason, log_reason
        self.failure, self.limit = failure, limit


class GuardedConsumer(AsyncWebsocketConsumer):
    """One failure policy for every event a socket handles, whatever brought it (a client frame,
    a channel-layer message, a room event from ``chat.fanout``): a bug in a handler closes that
    socket alone with 1011 and is logged once, with its traceback."""

    accepted = False

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except LAYER_ERRORS as error:
            if getattr(self, "channel_name", None) is not None:
                raise
            # The layer was unreachable before connect() could run: channels' new_channel()
            # subscribes in Redis (pub/sub layer). Answer 1013, not an HTTP 500.
            logger.warning("channel layer unavailable at connect: %s", type(error).__name__)
            if (await receive())["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": int(CloseCode.TRY_AGAIN_LATER)})

    async def accept(self, subprotocol=None, headers=None) -> None:
        # A client that offered the protocol's name gets it back, as RFC 6455 requires (a
        # browser fails a handshake that selects none of what it offered); never the bearer.
        if subprotocol is None and SUBPROTOCOL in (self.scope.get("subprotocols") or ()):
            subprotocol = SUBPROTOCOL
        await super().accept(subprotocol, headers)
        self.accepted = True

    async def send(self, text_data=None, bytes_data=None, close=False) -> None:
        await super().send(text_data, bytes_data, close)
        metrics.record_frames_out()

    async def dispatch(self, message: dict) -> None:
        try:
            await dispatch_to_handler(self, message)
        except StopConsumer:
            raise
        except Exception:
            logger.exception("socket handler failed on %s; closing 1011", message.get("type"))
            if message.get("type") == "websocket.disconnect":
                raise StopConsumer from None
            if not self.accepted:
                await self.accept()  # so the client reads 1011, not a bare HTTP 403
            await self.close(code=CloseCode.INTERNAL_ERROR, reason="internal_error")


class RoomConsumer(GuardedConsumer):
    """``/ws/rooms/<slug>/``: one member's live connection to one room."""

    room_id: int | None = None
    role: str | None = None
    joined = False
    held_events: list | None = None
    online: list[str] | None = None  # who was online at the join, until room.joined is out
    replay: Replay | None = None  # read at connect, sent right after room.joined
    place: SocketPlace | None = None  # this socket's position in the room's stream
    epoch: str | None = None
    snapshot_version = 0  # presence changes up to this version are in room.joined's list
    _deadline_timer: asyncio.TimerHandle | None = None  # the warning, then the expiry
    deadline: datetime | None = None
    authority_changed_at = 0.0  # monotonic time of the last role event or refresh
    reserved = False  # holds one of the process's connecting places
    subscribed = False  # the join's layer and presence steps ran (some or all)
    present = False  # the presence store counts this socket (its slot and the room's list)

    # Lifecycle -------------------------------------------------------------------------------

    async def connect(self) -> None:
        self.slug: str = self.scope["url_route"]["kwargs"]["slug"]
        self.access: selectors.ConnectAccess | None = None
        self.credential: Credential = self.scope["credential"]
        self.user = None  # known once the user row is read
        try:
            self._reserve_capacity()
            await self._read_user()
            await self._check_credential()
            await self._authorize()
            await self._join()
            await self._read_replay()
        except Refused as refusal:
            self._release_capacity()
            await self._refuse(refusal)
            return
        except BaseException:
            # Cancelled (the client left and daphne gave up on a connect stuck on the database)
            # or a bug: nothing this connect claimed may outlive it.
            self._release_capacity()
            if self.subscribed:
                await asyncio.shield(self._abandon_join())
            raise
        self._release_capacity()
        await self._go_live()

    async def disconnect(self, code: int) -> None:
        self._cancel_deadline()
        if not self.joined:
            return
        self.joined = False
        runtime().open_sockets -= 1
        self._log("close", code=code)
        try:
            async with asyncio.timeout(settings.CHAT_LAYER_TIMEOUT):
                await self._leave()
        except LAYER_ERRORS as error:
            logger.warning("presence not updated at close: %s", type(error).__name__)
            metrics.record_channel_layer_error(LayerOperation.LEAVE)
            runtime().presence.depart_later(
                room_id=self.room_id,
                username=self.user.get_username(),
                user_id=self.user.pk,
                channel=self.channel_name,
            )
        # channels' websocket_disconnect discards self.groups after this returns.

    # Connect steps: each returns, or raises Refused. -----------------------------------------

    async def _read_user(self) -> None:
        check = pending_check(self.scope)
        if check is not None:
            # A token or ticket socket: its user row (exists, active, token not revoked) is read
            # with the room and the role, one query in one thread hop. First, so every step
            # below sees the user (or the failure) just as when the middleware read it.
            self.access = await database_sync_to_async(selectors.connect_access)(
                slug=self.slug, user_id=check.value, user_field=check.field, login_id=check.login_id
            )
            settle_user(self.scope, self.access.user)
        self.credential = self.scope["credential"]
        self.user = self.scope["user"]

    def _reserve_capacity(self) -> None:
        """Counted from the first step, not at go-live: concurrent handshakes on a cold process
        cannot overshoot ``CHAT_MAX_SOCKETS_PER_PROCESS`` while each waits on the database."""
        state = runtime()
        if state.open_sockets + state.connecting >= settings.CHAT_MAX_SOCKETS_PER_PROCESS:
            raise Refused(
                CloseCode.TRY_AGAIN_LATER, "server_full", limit=RateLimitKind.PROCESS_SOCKETS
            )
        state.connecting += 1
        self.reserved = True

    def _release_capacity(self) -> None:
        if self.reserved:
            self.reserved = False
            runtime().connecting -= 1

    async def _check_credential(self) -> None:
        failure = self.credential.failure
        if failure is None:
            if not await runtime().handshake_budget.allow(f"user:{self.user.pk}"):
                raise Refused(
                    CloseCode.TRY_AGAIN_LATER, "too_many_handshakes", limit=RateLimitKind.HANDSHAKES
                )
            return
        if await runtime().failed_auth_budget.allow(client_address(self.scope) or "unknown"):
            raise Refused(CloseCode.UNAUTHENTICATED, failure.value, failure=failure)
        # Past the per-address budget: refuse before accept (daphne answers HTTP 403), the
        # cheapest answer there is.
        raise Refused(None, "failed_auth_budget", limit=RateLimitKind.FAILED_AUTH)

    async def _authorize(self) -> None:
        if self.credential.room is not None and self.credential.room != self.slug:
            failure = AuthFailure.TICKET_WRONG_ROOM
            raise Refused(CloseCode.UNAUTHENTICATED, failure.value, failure=failure)
        access = self.access
        if access is None:
            # A cookie socket: its user came with the session; the room and the role, one query.
            access = await database_sync_to_async(selectors.connect_access)(
                slug=self.slug, user_id=self.user.pk
            )
        if access.room is None or not permissions.can_view(access.role):
            # A room the user cannot see answers like no room at all (REST answers 404 alike).
            raise Refused(
                CloseCode.ROOM_NOT_FOUND,
                "room_not_found",
                log_reason="room_not_found" if access.room is None else "not_a_member",
            )
        self.room, self.room_id, self.role = access.room, access.room.pk, access.role

    async def _join(self) -> None:
        """Subscribe, claim a socket slot and go online; undone in full if any part fails."""
        try:
            async with asyncio.timeout(settings.CHAT_LAYER_TIMEOUT):
                self.online = await self._subscribe()
        except LAYER_ERRORS as error:
            logger.warning("channel layer unavailable at connect: %s", type(error).__name__)
            metrics.record_channel_layer_error(LayerOperation.JOIN)
            await self._undo_partial_join()
            raise Refused(CloseCode.TRY_AGAIN_LATER, "layer_unavailable") from None
        if self.online is None:
            await self._undo_partial_join()
            raise Refused(
                CloseCode.TOO_MANY_CONNECTIONS, "too_many_sockets", limit=RateLimitKind.USER_SOCKETS
            )

    async def _read_replay(self) -> None:
        """Where this socket starts in the room's stream, and what it missed (``?since=`` or
        ``?after=``): read *after* subscribing, so nothing falls between the replay and the live
        stream (``chat.streams``)."""
        at = runtime().fanout.streams.position_for(
            self.room_id, head=StreamHead(seq=self.room.seq, epoch=self.room.epoch)
        )
        self.epoch = at.epoch
        resume = resume_request(query_params(self.scope) or {})
        try:
            self.replay = await replay_for(
                self.room_id, resume, at=at, limit=settings.CHAT_RESUME_MAX_MESSAGES
            )
        except DatabaseError:
            logger.warning("resume not read", exc_info=True)
            self.replay = Replay(recovered=False, position=at.seq)

    async def _go_live(self) -> None:
        runtime().open_sockets += 1
        self.joined = True
        self.refused_in_row = 0
        await self.accept()
        replay, online, self.online = self.replay, self.online, None  # the socket keeps no list
        self.replay = None
        await self.send(
            text_data=room_joined_frame(
                room=self.slug,
                role=self.role,
                online=online,
                seq=replay.position,
                epoch=self.epoch,
                recovered=replay.recovered,
            )
        )
        for frame in replay.frames:
            await self.send(text_data=frame)
        self.place = SocketPlace(replay.position)
        held, self.held_events = self.held_events, None
        for event in held:  # what the room said while this socket was joining, in order
            await self.dispatch(event)
        self._schedule_deadline(self.credential.expires_at)
        runtime().revalidator.ensure_running()
        self._log("connect", code=None)
        metrics.record_handshake(HandshakeOutcome.ACCEPTED)

    # Client commands -------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Every frame counts against the size cap and the user's budget, binary ones too.
        if _frame_exceeds(text_data, bytes_data, settings.CHAT_MAX_FRAME_BYTES):
            await self.close(code=CloseCode.MESSAGE_TOO_BIG)
            return
        if not await runtime().message_budget.allow(f"user:{self.user.pk}"):
            await self._refuse_for_rate()
            return
        self.refused_in_row = 0
        if text_data is None:
            metrics.record_frame_in(None)
            await self._send_error(ErrorCode.UNSUPPORTED_FRAME, "Send JSON text frames.")
            return
        try:
            command = parse_client_frame(text_data, max_body_chars=settings.CHAT_MAX_BODY_CHARS)
        except ProtocolError as error:
            metrics.record_frame_in(None)
            await self._send_error(error.code, error.detail, error.client_id)
            return
        metrics.record_frame_in(command.frame_type)
        try:
            if isinstance(command, SendMessage):
                await self._handle_send(command)
            elif isinstance(command, DeleteMessage):
                await self._handle_delete(command)
            elif isinstance(command, RefreshAuth):
                await self._handle_refresh(command)
        except DatabaseError:
            logger.warning("database unavailable for %s", type(command).__name__, exc_info=True)
            await self._send_error(
                ErrorCode.UNAVAILABLE,
                "Not stored; try again shortly.",
                getattr(command, "client_id", None),
            )

    async def _handle_send(self, command: SendMessage) -> None:
        if not permissions.can_send(self.role):
            await self._send_error(
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
            await self._send_error(ErrorCode.NOT_FOUND, gone.detail, command.client_id)
            return
        except Room.DoesNotExist:  # deleted while this send waited on its lock
            await self.room_deleted({})
            return
        if command.client_id is not None:
            await self.send(
                text_data=message_ack_frame(
                    client_id=command.client_id, message_id=message.pk, seq=message.seq
                )
            )

    async def _handle_delete(self, command: DeleteMessage) -> None:
        message = await database_sync_to_async(selectors.message_in_room)(
            room_id=self.room_id, message_id=command.message_id
        )
        if message is None:
            await self._send_error(ErrorCode.NOT_FOUND, "No such message in this room.")
            return
        if not permissions.can_delete_message(
            self.role, author_id=message.author_id, user_id=self.user.pk
        ):
            await self._send_error(ErrorCode.FORBIDDEN, "Your role cannot delete this message.")
            return
        # The room (this socket included) hears message.deleted from chat.signals after commit.
        await database_sync_to_async(services.message_delete)(message=message)

    async def _handle_refresh(self, command: RefreshAuth) -> None:
        """A new access token over the open socket: validated exactly like a handshake's, for
        the same user; the deadline moves. Anything else closes 4001 with the reason."""
        if not self.credential.refreshable:
            await self._send_error(
                ErrorCode.INVALID_MESSAGE,
                "Cookie sockets follow their session; nothing to refresh.",
            )
            return
        try:
            claims = decode_access_token(command.token)
            user = await database_sync_to_async(user_for_access_token)(claims)
        except TokenRejected as rejected:
            await self._revoke(rejected.failure)
            return
        if user.pk != self.user.pk:
            await self._revoke(AuthFailure.TOKEN_WRONG_USER)
            return
        # The socket follows the new token from now on (its expiry and its password claim).
        self.credential = dataclasses.replace(
            self.credential,
            expires_at=claims.expires_at,
            revoke_claim=UserCheck.for_access_token(claims).revoke_claim,
            login_id=claims.login_id,
        )
        self.authority_changed_at = time.monotonic()
        self._schedule_deadline(claims.expires_at)
        await self.send(text_data=auth_refreshed_frame(expires_at=claims.expires_at))

    # Events (chat.events; one handler per type) -----------------------------------------------

    async def deliver(self, event: dict) -> None:
        """A room event from this process's ``RoomFanout``; held until ``room.joined`` is out."""
        if self.held_events is not None:
            self.held_events.append(event)
            return
        await self.dispatch(event)

    async def message_new(self, event: dict) -> None:
        """``message.new`` and ``message.deleted``: the room's stream, in position order
        (``chat.streams``); what the replay already sent is dropped."""
        match self.place.take(event["seq"]):
            case Place.OLD:
                return
            case Place.GAP:  # never expected: RoomStreams passes on no hole; resume, not skip
                logger.error("stream gap at socket: seq %s after %s", event["seq"], self.place)
                await self._close_stream_gap("socket_gap")
                return
        await self.send(text_data=event["text"])  # serialized once for the whole room

    message_deleted = message_new

    async def presence_changed(self, event: dict) -> None:
        # Changes room.joined's list already showed (this socket's own join, first of all) are
        # not news: the frame goes without them, or not at all.
        event = presence_feed.newer_than(event, self.snapshot_version)
        if event is not None:
            await self.send(text_data=event["text"])

    async def stream_broken(self, event: dict) -> None:
        """This process could not continue the room's stream (``chat.streams``): resume."""
        await self._close_stream_gap(event["reason"])

    async def room_deleted(self, event: dict) -> None:
        self._log("revoke", code=CloseCode.ROOM_NOT_FOUND, reason="room_deleted")
        await self.close(code=CloseCode.ROOM_NOT_FOUND, reason="room_deleted")

    async def _close_stream_gap(self, reason: str) -> None:
        self._log("resume", code=CloseCode.STREAM_GAP, reason=reason)
        await self.close(code=CloseCode.STREAM_GAP, reason="stream_gap")

    async def membership_changed(self, event: dict) -> None:
        if event["room_id"] != self.room_id:
            return  # the user's role changed in another room
        self.authority_changed_at = time.monotonic()
        self.role = event["role"]
        if not permissions.can_view(self.role):
            self._log("revoke", code=CloseCode.FORBIDDEN, reason="membership_removed")
            await self.close(code=CloseCode.FORBIDDEN, reason="membership_removed")

    async def auth_revoked(self, event: dict) -> None:
        if event["method"] is not None and event["method"] != self.credential.follows:
            return  # a ticket's socket ends with the credential that asked for the ticket
        if event["session_keys"] is not None and (
            self.credential.session_key not in event["session_keys"]
        ):
            return
        login_ids = event.get("login_ids")
        if login_ids is not None and self.credential.login_id not in login_ids:
            return
        await self._revoke(AuthFailure(event["failure"]))

    async def revalidated(self, verdict: Verdict, *, read_at: float) -> None:
        """The periodic re-check (``chat.revalidation``) read the database at ``read_at``: it
        ends the socket as the lost event would have."""
        if not self.joined or self.authority_changed_at > read_at:
            return
        if verdict.failure is not None:
            await self._revoke(verdict.failure)
        elif not verdict.room_exists:
            await self.room_deleted({})
        elif verdict.role != self.role:
            await self.membership_changed({"room_id": self.room_id, "role": verdict.role})

    # Helpers ---------------------------------------------------------------------------------

    async def _subscribe(self) -> list[str] | None:
        """User group, room fan-out, then socket slot and presence in one step (one round trip
        with Redis); room events arriving meanwhile are held. Returns the online list, or None
        when the user already holds ``CHAT_MAX_SOCKETS_PER_USER`` sockets."""
        self.held_events = []
        self.subscribed = True
        self.groups = [events.user_group(self.user.pk)]
        await self.channel_layer.group_add(self.groups[0], self.channel_name)
        await runtime().fanout.join(self.room_id, self)
        change = await runtime().presence.connect(
            room_id=self.room_id,
            username=self.user.get_username(),
            user_id=self.user.pk,
            channel=self.channel_name,
            max_sockets=settings.CHAT_MAX_SOCKETS_PER_USER,
        )
        if change is None:
            return None
        self.present = True
        if change.changed:
            # The store took this version in the same step as the list: every change up to it
            # is in the list.
            self.snapshot_version = change.version
            self._announce_presence(online=True, version=change.version)
        return change.online

    async def _leave(self) -> None:
        try:
            await runtime().fanout.leave(self.room_id, self)
        except LAYER_ERRORS as error:  # it left this process's room all the same
            logger.warning("room group not left: %s", type(error).__name__)
        change = await runtime().presence.disconnect(
            room_id=self.room_id,
            username=self.user.get_username(),
            user_id=self.user.pk,
            channel=self.channel_name,
        )
        if change.changed:
            # Wait for the window's frame: a draining server must not stop before it is out.
            await asyncio.shield(self._announce_presence(online=False, version=change.version))

    async def _undo_partial_join(self) -> None:
        """Best effort after a failed connect; the layer may be the thing that is down.

        Releasing the socket slot is idempotent. The room's online count is not undone: a
        connect script that ran in Redis but timed out here leaves the user counted online until
        this process's lease lapses (its restart), the same window a crash leaves."""
        undo_steps = (
            runtime().presence.release_socket(user_id=self.user.pk, channel=self.channel_name),
            runtime().fanout.leave(self.room_id, self),
        )
        for undo in undo_steps:
            try:
                async with asyncio.timeout(settings.CHAT_LAYER_TIMEOUT):
                    await undo
            except LAYER_ERRORS:
                pass

    async def _abandon_join(self) -> None:
        """A connect that ended after its join: leave as a closing socket leaves (presence,
        slot, fan-out, user group), so neither the user's cap nor the room's list keeps it."""
        self.held_events = None
        if not self.present:
            await self._undo_partial_join()
        try:
            async with asyncio.timeout(settings.CHAT_LAYER_TIMEOUT):
                if self.present:
                    await self._leave()
                await self.channel_layer.group_discard(self.groups[0], self.channel_name)
        except LAYER_ERRORS as error:
            logger.warning("abandoned connect not fully undone: %s", type(error).__name__)

    def _announce_presence(self, *, online: bool, version: int) -> asyncio.Future:
        """Batched per room (``chat.presence_feed``); done when the frame is sent."""
        return runtime().presence_batcher.note(
            self.room_id, self.user.get_username(), online, version
        )

    async def _refuse_for_rate(self) -> None:
        self.refused_in_row += 1
        if self.refused_in_row > settings.CHAT_FLOOD_CLOSE_AFTER:
            metrics.record_rate_limited(RateLimitKind.FLOOD)
            self._log("reject", code=CloseCode.RATE_LIMITED, reason="flood")
            await self.close(code=CloseCode.RATE_LIMITED, reason="flood")
            return
        metrics.record_rate_limited(RateLimitKind.MESSAGE)
        await self._send_error(ErrorCode.RATE_LIMITED, "Too many messages; slow down.")

    def _schedule_deadline(self, expires_at: datetime | None) -> None:
        """Close at ``expires_at``; token sockets hear ``auth.expiring`` early enough to refresh.

        One timer handle at a time (the warning's, then the expiry's), not a sleeping task: a
        fraction of the memory per idle socket."""
        self._cancel_deadline()
        self.deadline = expires_at
        if expires_at is None:
            return
        left = max((expires_at - datetime.now(UTC)).total_seconds(), 0)
        if self.credential.refreshable:
            # Warn WARNING seconds ahead, or halfway for a credential shorter than twice that.
            ahead = min(settings.CHAT_AUTH_EXPIRY_WARNING_SECONDS, left / 2)
            self._set_timer(left - ahead, self._warn_expiring)
        else:
            self._set_timer(left, self._close_expired)

    def _set_timer(self, delay: float, coroutine_function) -> None:
        loop = asyncio.get_running_loop()
        self._deadline_timer = loop.call_later(delay, self._in_task, coroutine_function)

    def _cancel_deadline(self) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None

    def _in_task(self, coroutine_function) -> None:
        # Keep a reference: the event loop holds tasks only weakly.
        self._timer_task = asyncio.ensure_future(coroutine_function())

    async def _warn_expiring(self) -> None:
        left = max((self.deadline - datetime.now(UTC)).total_seconds(), 0)
        self._set_timer(left, self._close_expired)
        await self.send(text_data=auth_expiring_frame(expires_at=self.deadline))

    async def _close_expired(self) -> None:
        await self._revoke(self.credential.expiry_failure)

    async def _revoke(self, failure: AuthFailure) -> None:
        """The credential ended while connected: 4001, the class in a last error frame."""
        self._log("revoke", code=CloseCode.UNAUTHENTICATED, reason=failure)
        await self._close_unauthenticated(failure)

    async def _refuse(self, refusal: Refused) -> None:
        self._log("reject", code=refusal.code, reason=refusal.log_reason or refusal.reason)
        metrics.record_handshake(HandshakeOutcome.REJECTED, refusal.code)
        if refusal.limit is not None:
            metrics.record_rate_limited(refusal.limit)
        if refusal.code is None:
            await self.close()  # before accept: daphne answers HTTP 403
            return
        await self.accept()  # first, so the client can read the code
        if refusal.failure is not None:
            await self._close_unauthenticated(refusal.failure)
        else:
            await self.close(code=refusal.code, reason=refusal.reason)

    async def _close_unauthenticated(self, failure: AuthFailure) -> None:
        # daphne drops close reasons, so the class also travels in a last error frame.
        await self.send(text_data=error_frame(ErrorCode.AUTH_FAILED, failure.value))
        await self.close(code=CloseCode.UNAUTHENTICATED, reason=failure.value)

    async def _send_error(self, code: ErrorCode, detail: str, client_id: str | None = None) -> None:
        await self.send(text_data=error_frame(code, detail, client_id))

    def _user_id_for_log(self):
        """The user, also for a refusal before the row was read (a full server): a token's
        verified claim, or the session's user."""
        if self.user is not None:
            return getattr(self.user, "pk", None)
        check = pending_check(self.scope)
        if check is not None:
            return int(check.value) if str(check.value).isdigit() else check.value
        return getattr(self.scope.get("user"), "pk", None)

    def _log(self, event: str, *, code: int | None, reason: str | None = None) -> None:
        """One structured audit line; never a token or a message body."""
        fields = {
            "event": event,
            "user_id": self._user_id_for_log(),
            "room": self.slug[:MAX_LOGGED_SLUG],  # a client-sent path: bounded in the log
            "auth": self.credential.method.value,
            "code": int(code) if code is not None else None,
            "reason": str(reason) if reason is not None else None,
            "client_ip": client_address(self.scope),
        }
        logger.info(
            "socket %s user=%s room=%s code=%s reason=%s ip=%s",
            event,
            fields["user_id"],
            fields["room"],
            fields["code"],
            fields["reason"],
            fields["client_ip"],
            extra=fields,
        )


def _frame_exceeds(text: str | None, data: bytes | None, limit: int) -> bool:
    """Cheap for the common case: only long texts pay for an encode."""
    if text is None:
        return data is not None and len(data) > limit
    if len(text) > limit:
        return True
    return len(text) * 4 > limit and len(text.encode("utf-8")) > limit


class UnknownPathConsumer(GuardedConsumer):
    """Every socket path that is not a room: accepted only to be closed with 4004."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=CloseCode.ROOM_NOT_FOUND, reason="no_such_path")
