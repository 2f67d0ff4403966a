"""Candidate hot-path changes, applied by monkeypatching, so their gain is measured before anyone
edits the app. Used only by ``bench.patched_asgi`` and the layers named in ``bench.settings``.

dispatch  channels' ``AsyncConsumer.dispatch`` runs ``aclose_old_connections`` (a thread-pool hop)
          before every event handler, once per delivered message per socket. The project touches
          the ORM only through ``database_sync_to_async``, which closes stale connections itself.
session   channels' ``InstanceSessionWrapper.send`` inspects the lazy session on every outgoing
          frame; only ``http.response.start`` can ever save a session.
tokenfirst  channels' ``AuthMiddleware`` loads the session user (a thread-pool hop) even for a
          ``?token=`` socket, whose user the token alone decides.
registry  remember each joined ``RoomConsumer`` by room group in this process (LocalFanoutLayer).

ThrottledCleanLayer  ``InMemoryChannelLayer._clean_expired`` walks every channel and every group
          member on every ``receive`` and ``group_send``: O(sockets) per delivery, O(n^2) per
          broadcast. Once a second is enough for expiry.
LocalFanoutLayer     ``message.new`` goes straight to the room's sockets in this process (one
          frame written to each socket), not one layer message, queue and dispatch per socket.
"""

import time
from collections import defaultdict

from channels.layers import InMemoryChannelLayer

LOCAL_GROUPS: dict[str, set] = defaultdict(set)


class ThrottledCleanLayer(InMemoryChannelLayer):
    clean_interval = 1.0
    _cleaned_at = 0.0

    def _clean_expired(self):
        now = time.monotonic()
        if now - self._cleaned_at >= self.clean_interval:
            self._cleaned_at = now
            super()._clean_expired()


class LocalFanoutLayer(ThrottledCleanLayer):
    async def group_send(self, group, message):
        members = LOCAL_GROUPS.get(group)
        if message.get("type") != "message.new" or not members:
            return await super().group_send(group, message)
        frame = {"type": "websocket.send", "text": message["text"]}
        for consumer in list(members):
            await consumer.base_send(frame)
        return None


def apply(names: set[str]) -> None:
    if "dispatch" in names:
        import channels.consumer

        async def no_thread_hop() -> None:
            return None

        channels.consumer.aclose_old_connections = no_thread_hop

    if "session" in names:
        from channels.sessions import InstanceSessionWrapper

        full_send = InstanceSessionWrapper.send

        async def send(self, message):
            if message["type"] not in self.save_message_types:
                return await self.real_send(message)
            return await full_send(self, message)

        InstanceSessionWrapper.send = send

    if "tokenfirst" in names:
        from channels.auth import AuthMiddleware
        from django.contrib.auth.models import AnonymousUser

        from accounts.middleware import query_token_values

        resolve_scope = AuthMiddleware.resolve_scope

        async def token_first(self, scope):
            if query_token_values(scope) is not None:
                scope["user"]._wrapped = AnonymousUser()
                return
            await resolve_scope(self, scope)

        AuthMiddleware.resolve_scope = token_first

    if "registry" in names:
        from chat.consumers import RoomConsumer
        from chat.models import room_group_name

        connect, disconnect = RoomConsumer.connect, RoomConsumer.disconnect

        async def registered_connect(self):
            await connect(self)
            if self.joined:
                LOCAL_GROUPS[room_group_name(self.room_id)].add(self)

        async def registered_disconnect(self, code):
            if self.room_id is not None:
                LOCAL_GROUPS[room_group_name(self.room_id)].discard(self)
            await disconnect(self, code)

        RoomConsumer.connect = registered_connect
        RoomConsumer.disconnect = registered_disconnect
