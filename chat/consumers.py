"""The room socket. Thin: authentication happened in middleware, rules live in
``chat.permissions``, database work in ``chat.selectors``/``chat.services``."""

import asyncio
import logging
from datetime import UTC, datetime

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from accounts.middleware import Credential
from accounts.tokens import AuthFailure

from . import permissions, selectors, services
from .close_codes import CloseCode, ErrorCode
from .models import room_group_name
from .protocol import ProtocolError, SendMessage, error_frame, message_new_frame, parse_client_frame
from .realtime import user_group_name

logger = logging.getLogger("chat.sockets")


class CodedCloseConsumer(AsyncWebsocketConsumer):
    """Closes with our enum codes; daphne's autobahn accepts only a plain ``int``."""

    async def close(self, code: int | None = None, reason: str | None = None) -> None:
        await super().close(code=None if code is None else int(code), reason=reason)


class RoomConsumer(CodedCloseConsumer):
    """``/ws/rooms/<slug>/``: one member's live connection to one room."""

    room_id: int | None = None
    role: str | None = None
    _expiry_task: asyncio.Task | None = None

    # Lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        self.slug: str = self.scope["url_route"]["kwargs"]["slug"]
        self.credential: Credential = self.scope["credential"]
        self.user = self.scope["user"]
        if self.credential.failure is not None:
            await self._refuse_credential(self.credential.failure)
            return
        access = await database_sync_to_async(selectors.room_access)(slug=self.slug, user=self.user)
        if access is None:
            await self._refuse(CloseCode.ROOM_NOT_FOUND, "room_not_found")
            return
        if not permissions.can_view(access.role):
            await self._refuse(CloseCode.FORBIDDEN, "not_a_member")
            return
        self.room_id, self.role = access.room_id, access.role
        self.groups = [room_group_name(self.room_id), user_group_name(self.user.pk)]
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        if self.credential.expires_at is not None:
            self._expiry_task = asyncio.create_task(self._close_when_expired())
        self._log("connect", code=None)

    async def disconnect(self, code: int) -> None:
        if self._expiry_task is not None:
            self._expiry_task.cancel()
        if self.room_id is not None:
            self._log("close", code=code)
        # channels' websocket_disconnect discards self.groups after this returns.

    # Client commands -------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self._send_error(ErrorCode.UNSUPPORTED_FRAME, "Send JSON text frames.")
            return
        if _utf8_length_exceeds(text_data, settings.CHAT_MAX_FRAME_BYTES):
            await self.close(code=CloseCode.MESSAGE_TOO_BIG)
            return
        try:
            command = parse_client_frame(text_data, max_body_chars=settings.CHAT_MAX_BODY_CHARS)
        except ProtocolError as error:
            await self._send_error(error.code, error.detail)
            return
        if isinstance(command, SendMessage):
            await self._handle_send(command)

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
            room_group_name(self.room_id), {"type": "message.new", "text": frame}
        )

    # Group events ----------------------------------------------------------------------

    async def message_new(self, event: dict) -> None:
        await self.send(text_data=event["text"])

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

    async def _close_when_expired(self) -> None:
        delay = (self.credential.expires_at - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(max(delay, 0))
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
        client = self.scope.get("client") or (None, None)
        fields = {
            "event": event,
            "user_id": getattr(self.user, "pk", None),
            "room": self.slug,
            "auth": self.credential.method.value,
            "code": int(code) if code is not None else None,
            "reason": str(reason) if reason is not None else None,
            "client_ip": client[0],
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
