from django.urls import path

from . import ops, views

app_name = "chat"

urlpatterns = [
    path("", views.room_list, name="room-list"),
    path("rooms/<slug:slug>/", views.room_detail, name="room-detail"),
    path("protocol.json", views.protocol_guide, name="protocol-guide"),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("ops/sockets/", ops.open_sockets, name="open-sockets"),
]
