"""The one failure policy every socket shares, and its dispatch.

Whatever brought an event (a client frame, a channel-layer message, a topic event from
``realtime.fanout``), a bug in its handler closes that socket alone with 1011 and is logged
once, with its traceback; a channel layer unreachable before ``connect`` answers 1013.
"""

import logging

from channels.consumer import get_handler_name
from channels.db import aclose_old_connections
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from . import metrics
from .close_codes import CloseCode
from .errors import LAYER_ERRORS
from .protocol import SUBPROTOCOL

logger = logging.getLogger("chat.sockets")


class GuardedConsumer(AsyncWebsocketConsumer):
    """One failure policy for every event a socket handles, whatever brought it (a client frame,
    a channel-layer message, a topic event from ``realtime.fanout``): a bug in a handler closes
    that socket alone with 1011 and is logged once, with its traceback."""

    accepted = False
    subprotocols: tuple[str, ...] = (SUBPROTOCOL,)  # the protocols it speaks, preferred first

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
        offered = self.scope.get("subprotocols") or ()
        if subprotocol is None:
            subprotocol = next((name for name in self.subprotocols if name in offered), None)
        await super().accept(subprotocol, headers)
        self.accepted = True

    async def send(self, text_data=None, bytes_data=None, close=False) -> None:
        await super().send(text_data, bytes_data, close)
        metrics.record_frames_out()

    async def dispatch(self, message: dict) -> None:
        await self.guarded(self.handle, message)

    async def guarded(self, handler, message: dict) -> None:
        """Run ``handler(message)`` under the failure policy."""
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

    async def handle(self, message: dict) -> None:
        """channels' dispatch without its ``aclose_old_connections()`` before every handler: a
        thread-pool hop per frame and per event that a socket reaching the ORM only through
        ``database_sync_to_async`` (which closes stale connections itself) does not need."""
        handler = self.handler_for(get_handler_name(message))
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    def handler_for(self, name: str):
        return getattr(self, name, None)

    async def websocket_disconnect(self, message: dict) -> None:
        """channels' own, reordered so that nothing the layer does can skip ``disconnect``
        (presence, the process's socket count, the audit line): channels discards the groups
        first and turns a failure there into ``InvalidChannelLayerError`` before ``disconnect``
        runs. A group left behind costs a stray event; a skipped ``disconnect`` leaves a user
        online and a socket counted. channels' close of old database connections stays: its
        thread hop also spaces out a crowd's closes, which channels_redis's pub/sub layer,
        unsubscribing each socket's channel on one connection, does not take all at once."""
        try:
            await self.disconnect(message["code"])
        finally:
            for group in self.groups:
                try:
                    await self.channel_layer.group_discard(group, self.channel_name)
                except Exception as error:  # Redis gone mid-command, whatever redis-py raises
                    logger.warning("group not discarded at close: %s", type(error).__name__)
            await aclose_old_connections()
        raise StopConsumer()


class UnknownPathSocket(GuardedConsumer):
    """Every socket path that is not a topic: accepted only to be closed with 4004."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=CloseCode.ROOM_NOT_FOUND, reason="no_such_path")
