from django.urls import path, re_path

from .consumers import RoomConsumer, SocketConsumer, UnknownPathConsumer

websocket_urlpatterns = [
    path("ws/rooms/<slug:slug>/", RoomConsumer.as_asgi()),
    path("ws/", SocketConsumer.as_asgi()),
    # Any other socket path gets a readable 4004 instead of an exception in the router.
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
