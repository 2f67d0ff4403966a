"""ASGI entry point: HTTP goes to Django, WebSockets through the security stack to the consumer.

WebSocketOriginValidator          refuse cross-site sockets (HTTP 403 at the handshake)
  SessionUnlessTokenMiddleware    channels' AuthMiddlewareStack (cookie -> session -> user),
                                  skipped when a token, ticket or bearer decides alone
    QueryTokenAuthMiddleware      ticket / bearer / token -> scope["credential"], scope["user"]
                                  (token, ticket: PendingUser; the consumer reads the row)
      URLRouter                   /ws/rooms/<slug>/ -> RoomConsumer
"""

import logging
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# Django must be set up before importing code that touches models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from accounts.addresses import client_address  # noqa: E402
from accounts.middleware import (  # noqa: E402
    QueryTokenAuthMiddleware,
    SessionUnlessTokenMiddleware,
    WebSocketOriginValidator,
)
from chat.routing import websocket_urlpatterns  # noqa: E402
from config.drain import ON_DRAIN  # noqa: E402
from config.server_shims import apply_server_shims  # noqa: E402
from realtime.close_codes import CloseCode  # noqa: E402
from realtime.runtime import stop_presence_to_local_sockets  # noqa: E402

apply_server_shims(
    max_send_backlog_bytes=settings.CHAT_MAX_SEND_BACKLOG_BYTES,
    drain_close_code=int(CloseCode.SERVICE_RESTART),
    drain_seconds=settings.SERVER_DRAIN_SECONDS,
    drain_spread_seconds=settings.SERVER_DRAIN_SPREAD_SECONDS,
    allow_untested_versions=settings.SERVER_SHIMS_ALLOW_UNTESTED,
    client_address=client_address,
)
ON_DRAIN.append(stop_presence_to_local_sockets)


def warn_if_single_process_layer() -> None:
    """Once per server process (this module is imported once): say that the in-memory layer
    reaches only this process's sockets, so broadcasts and revocations skip the others."""
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    if backend.endswith(".InMemoryChannelLayer"):
        logging.getLogger("config.asgi").warning(
            "No Redis is configured: the in-memory channel layer serves this one process only. "
            "Run a single server process, or set REDIS_URL (or REDIS_SENTINELS and "
            "REDIS_SENTINEL_MASTER) so every process shares the layer."
        )


warn_if_single_process_layer()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": WebSocketOriginValidator(
            SessionUnlessTokenMiddleware(QueryTokenAuthMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
