from django.urls import path

from . import api

urlpatterns = [
    path("rooms/", api.RoomListCreate.as_view(), name="api-rooms"),
    path("rooms/<slug:slug>/", api.RoomDestroy.as_view(), name="api-room"),
    path("rooms/<slug:slug>/messages/", api.MessageHistory.as_view(), name="api-messages"),
    path("rooms/<slug:slug>/read/", api.ReadPosition.as_view(), name="api-read"),
    path("rooms/<slug:slug>/members/", api.MemberListCreate.as_view(), name="api-members"),
    path(
        "rooms/<slug:slug>/members/<str:username>/",
        api.MemberDestroy.as_view(),
        name="api-member",
    ),
]
