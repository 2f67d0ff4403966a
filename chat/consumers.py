"""The room socket. Thin: authentication happened in middleware, rules live in
``chat.permissions``, database work in ``chat.selectors``/``chat.services``, frames in
``chat.protocol``."""

import asyncio
import logging
from datetime import UTC, datetime

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError

from accounts.middleware import Credential, client_address
from accounts.tokens import AuthFailure

from . import permissions, selectors, services
from .close_codes import CloseCode, ErrorCode
from .fanout import room_fanout
from .models import room_group_name
from .presence import LAYER_ERRORS, ProcessSockets, presence_store
from .protocol import (
    DeleteMessage,
    ProtocolError,
    SendMessage,
    error_frame,
    message_new_frame,
    parse_client_frame,
    presence_frame,
    room_joined_frame,
)
from .ratelimit import KeyedBuckets, TokenBucket
from .realtime import user_group_name

logger = logging.getLogger("chat.sockets")


_failed_auth_buckets: KeyedBuckets | None = None


def failed_auth_allowed(address: str | None) -> bool:
    """Spend one of the address's failed-handshake tokens; False once they are gone."""
    global _failed_auth_buckets
    if _failed_auth_buckets is None or (
        _failed_auth_buckets.capacity != settings.CHAT_MAX_FAILED_AUTH_PER_ADDRESS
        or _failed_auth_buckets.per_seconds != settings.CHAT_FAILED_AUTH_WINDOW_SECONDS
    ):
        _failed_auth_buckets = KeyedBuckets(
            settings.CHAT_MAX_FAILED_AUTH_PER_ADDRESS, settings.CHAT_FAILED_AUTH_WINDOW_SECONDS
        )
    return _failed_auth_buckets.take(address or "unknown")


class CodedCloseConsumer(AsyncWebsocketConsumer):
    """Closes with our enum codes, and turns a bug in one handler into a 1011 for that socket
    alone (logged once, with its traceback) instead of an exception inside the server."""

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
        await super().accept(subprotocol, headers)
        self.accepted = True

    async def close(self, code: int | None = None, reason: str | None = None) -> None:
        # daphne's autobahn accepts only a plain int, not an IntEnum.
        await super().close(code=None if code is None else int(code), reason=reason)

    async def dispatch(self, message: dict) -> None:
        """channels' dispatch, minus its ``aclose_old_connections()`` before every handler: that
        is a thread-pool hop per received frame and per delivered event, and this consumer
        reaches the ORM only through ``database_sync_to_async``, which closes stale connections
        itself. Measured by ``make bench`` (README "Performance")."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        try:
            await handler(message)
        except StopConsumer:
            raise
        except Exception:
            logger.exception("socket handler failed on %s; closing 1011", message.get("type"))
            if message.get("type") == "websocket.disconnect":
                raise StopConsumer from None
            if not self.accepted:
                await self.accept()  # so the client reads 1011, not a bare HTTP 403
            await self.close(code=CloseCode.INTERNAL_ERROR, reason="internal_error")


class RoomConsumer(CodedCloseConsumer):
    """``/ws/rooms/<slug>/``: one member's live connection to one room."""

    room_id: int | None = None
    role: str | None = None
    joined = False
    held_events: list | None = None
    _expiry: asyncio.TimerHandle | None = None

    # Lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        self.slug: str = self.scope["url_route"]["kwargs"]["slug"]
        self.credential: Credential = self.scope["credential"]
        self.user = self.scope["user"]
        if ProcessSockets.open >= settings.CHAT_MAX_SOCKETS_PER_PROCESS:
            await self._refuse(CloseCode.TRY_AGAIN_LATER, "server_full")
            return
        if self.credential.failure is not None:
            if failed_auth_allowed(client_address(self.scope)):
                await self._refuse_credential(self.credential.failure)
            else:
                # Past the per-address budget: refuse before accept (daphne answers HTTP 403),
                # the cheapest answer there is.
                self._log("reject", code=None, reason="failed_auth_budget")
                await self.close()
            return
        access = await database_sync_to_async(selectors.room_access)(slug=self.slug, user=self.user)
        if access is None:
            await self._refuse(CloseCode.ROOM_NOT_FOUND, "room_not_found")
            return
        if not permissions.can_view(access.role):
            await self._refuse(CloseCode.FORBIDDEN, "not_a_member")
            return
        self.room_id, self.role = access.room_id, access.role
        try:
            async with asyncio.timeout(settings.CHAT_LAYER_TIMEOUT):
                if not await self._claim_user_socket():
                    await self._refuse(CloseCode.TOO_MANY_CONNECTIONS, "too_many_sockets")
                    return
                online = await self._join_room()
        except LAYER_ERRORS as error:
            logger.warning("channel layer unavailable at connect: %s", type(error).__name__)
            await self._undo_partial_join()
            await self._refuse(CloseCode.TRY_AGAIN_LATER, "layer_unavailable")
            return
        ProcessSockets.open += 1
        self.joined = True
        self.bucket = TokenBucket(
            settings.CHAT_RATE_LIMIT_MESSAGES, settings.CHAT_RATE_LIMIT_SECONDS
        )
        self.refused_in_row = 0
        await self.accept()
        await self.send(text_data=room_joined_frame(room=self.slug, role=self.role, online=online))
        held, self.held_events = self.held_events, None
        for event in held:  # what the room said while this socket was joining, in order
            await self.handle_room_event(event)
        if self.credential.expires_at is not None:
            # A timer handle, not a sleeping task: a fraction of the memory per idle socket.
            delay = (self.credential.expires_at - datetime.now(UTC)).total_seconds()
            self._expiry = asyncio.get_running_loop().call_later(max(delay, 0), self._on_expiry)
        self._log("connect", code=None)

    async def disconnect(self, code: int) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        if not self.joined:
            return
        self.joined = False
        ProcessSockets.open -= 1
        self._log("close", code=code)
        try:
            async with asyncio.timeout(settings.CHAT_LAYER_TIMEOUT):
                await room_fanout().leave(self.room_id, self)
                await self._release_user_socket()
                change = await presence_store().leave(
                    room_id=self.room_id, username=self.user.get_username()
                )
                if change.changed:
                    await self._announce_presence("offline", change.online)
        except LAYER_ERRORS as error:
            logger.warning("presence not updated at close: %s", type(error).__name__)
        # channels' websocket_disconnect discards self.groups after this returns.

    # Client commands -------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if bytes_data is not None and text_data is None:
            await self._send_error(ErrorCode.UNSUPPORTED_FRAME, "Send JSON text frames.")
            return
        if _utf8_length_exceeds(text_data, settings.CHAT_MAX_FRAME_BYTES):
            await self.close(code=CloseCode.MESSAGE_TOO_BIG)
            return
        if not self.bucket.take():
            await self._refuse_for_rate()
            return
        self.refused_in_row = 0
        try:
            command = parse_client_frame(text_data, max_body_chars=settings.CHAT_MAX_BODY_CHARS)
        except ProtocolError as error:
            await self._send_error(error.code, error.detail)
            return
        try:
            if isinstance(command, SendMessage):
                await self._handle_send(command)
            elif isinstance(command, DeleteMessage):
                await self._handle_delete(command)
        except DatabaseError:
            logger.warning("database unavailable for %s", type(command).__name__, exc_info=True)
            await self._send_error(ErrorCode.UNAVAILABLE, "Not stored; try again shortly.")

    async def _handle_send(self, command: SendMessage) -> None:
        if not permissions.can_send(self.role):
            await self._send_error(ErrorCode.FORBIDDEN, "Your role in this room cannot send.")
            return
        message = await database_sync_to_async(services.message_create)(
            room_id=self.room_id, author=self.user, body=command.body
        )
        frame = message_new_frame(
            message_id=message.pk,
            room=self.slug,
            author=self.user.get_username(),
            body=message.body,
            created_at=message.created_at,
        )
        await self.channel_layer.group_send(
            room_group_name(self.room_id),
            {"type": "message.new", "room_id": self.room_id, "text": frame},
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

    # Room and user events ----------------------------------------------------------------

    async def handle_room_event(self, event: dict) -> None:
        """Called by this process's ``RoomFanout`` for every event of this socket's room."""
        if self.held_events is not None:  # subscribed, but room.joined is not out yet
            self.held_events.append(event)
            return
        text = event.get("text")
        if text is not None:  # already serialized, once for the whole room
            await self.send(text_data=text)
        elif event["type"] == "membership.changed":
            await self.membership_changed(event)
        elif event["type"] == "room.deleted":
            await self.room_deleted(event)

    async def membership_changed(self, event: dict) -> None:
        if event["user_id"] != self.user.pk:
            return
        self.role = event["role"]
        if not permissions.can_view(self.role):
            self._log("revoke", code=CloseCode.FORBIDDEN, reason="membership_removed")
            await self.close(code=CloseCode.FORBIDDEN, reason="membership_removed")

    async def room_deleted(self, event: dict) -> None:
        self._log("revoke", code=CloseCode.ROOM_NOT_FOUND, reason="room_deleted")
        await self.close(code=CloseCode.ROOM_NOT_FOUND, reason="room_deleted")

    async def auth_revoked(self, event: dict) -> None:
        if event.get("method") and event["method"] != self.credential.method:
            return
        if event.get("session_key") and event["session_key"] != self.credential.session_key:
            return
        self._log("revoke", code=CloseCode.UNAUTHENTICATED, reason=event["failure"])
        await self._close_unauthenticated(AuthFailure(event["failure"]))

    # Helpers ---------------------------------------------------------------------------

    async def _undo_partial_join(self) -> None:
        """Best effort after a failed connect; the layer may be the thing that is down."""
        for undo in (self._release_user_socket(), room_fanout().leave(self.room_id, self)):
            try:
                async with asyncio.timeout(settings.CHAT_LAYER_TIMEOUT):
                    await undo
            except LAYER_ERRORS:
                pass

    async def _claim_user_socket(self) -> bool:
        count = await presence_store().add_user_socket(
            user_id=self.user.pk, channel=self.channel_name
        )
        if count > settings.CHAT_MAX_SOCKETS_PER_USER:
            await self._release_user_socket()
            return False
        return True

    async def _release_user_socket(self) -> None:
        await presence_store().remove_user_socket(user_id=self.user.pk, channel=self.channel_name)

    async def _join_room(self) -> list[str]:
        self.held_events = []
        self.groups = [user_group_name(self.user.pk)]
        await self.channel_layer.group_add(self.groups[0], self.channel_name)
        await room_fanout().join(self.room_id, self)
        change = await presence_store().join(
            room_id=self.room_id, username=self.user.get_username()
        )
        if change.changed:
            await self._announce_presence("online", change.online)
        return change.online

    async def _announce_presence(self, status: str, online: list[str]) -> None:
        frame = presence_frame(user=self.user.get_username(), status=status, online=online)
        await self.channel_layer.group_send(
            room_group_name(self.room_id),
            {"type": "presence.changed", "room_id": self.room_id, "text": frame},
        )

    async def _refuse_for_rate(self) -> None:
        self.refused_in_row += 1
        if self.refused_in_row > settings.CHAT_FLOOD_CLOSE_AFTER:
            self._log("reject", code=CloseCode.RATE_LIMITED, reason="flood")
            await self.close(code=CloseCode.RATE_LIMITED, reason="flood")
            return
        await self._send_error(ErrorCode.RATE_LIMITED, "Too many messages; slow down.")

    def _on_expiry(self) -> None:
        # Keep a reference: the event loop holds tasks only weakly.
        self._expiry_close = asyncio.ensure_future(self._close_expired())

    async def _close_expired(self) -> None:
        self._log("revoke", code=CloseCode.UNAUTHENTICATED, reason=AuthFailure.TOKEN_EXPIRED)
        await self._close_unauthenticated(AuthFailure.TOKEN_EXPIRED)

    async def _refuse_credential(self, failure: AuthFailure) -> None:
        """Accept first so the client can read 4001 (a close before accept is HTTP 403)."""
        await self.accept()
        self._log("reject", code=CloseCode.UNAUTHENTICATED, reason=failure)
        await self._close_unauthenticated(failure)

    async def _close_unauthenticated(self, failure: AuthFailure) -> None:
        # daphne drops close reasons, so the class also travels in a last error frame.
        await self.send(text_data=error_frame(ErrorCode.AUTH_FAILED, failure.value))
        await self.close(code=CloseCode.UNAUTHENTICATED, reason=failure.value)

    async def _refuse(self, code: CloseCode, reason: str) -> None:
        await self.accept()
        self._log("reject", code=code, reason=reason)
        await self.close(code=code, reason=reason)

    async def _send_error(self, code: ErrorCode, detail: str) -> None:
        await self.send(text_data=error_frame(code, detail))

    def _log(self, event: str, *, code: int | None, reason: str | None = None) -> None:
        """One structured audit line; never a token or a message body."""
        fields = {
            "event": event,
            "user_id": getattr(self.user, "pk", None),
            "room": self.slug,
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


def _utf8_length_exceeds(text: str, limit: int) -> bool:
    """Cheap for the common case: only long texts pay for an encode."""
    if len(text) > limit:
        return True
    return len(text) * 4 > limit and len(text.encode("utf-8")) > limit


class UnknownPathConsumer(CodedCloseConsumer):
    """Every socket path that is not a room: accepted only to be closed with 4004."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=CloseCode.ROOM_NOT_FOUND, reason="no_such_path")
