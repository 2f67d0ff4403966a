"""REST API for rooms, history and members. Rules come from ``chat.permissions``; a room the
caller is not a member of is a 404, so the API never tells whether it exists."""

from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import permissions, selectors, services
from .models import Membership, Room
from .serializers import MembershipSerializer, MessageSerializer, RoomSerializer


def _membership_or_404(request: Request, slug: str) -> Membership:
    membership = selectors.room_for_member(slug=slug, user=request.user)
    if membership is None:
        raise Http404
    return membership


class RoomListCreate(generics.ListCreateAPIView):
    """``GET`` the caller's rooms with their role; ``POST`` creates one owned by the caller."""

    serializer_class = RoomSerializer
    pagination_class = None

    def get_queryset(self):
        role = Membership.objects.filter(room=OuterRef("pk"), user=self.request.user).values("role")
        return Room.objects.filter(memberships__user=self.request.user).annotate(
            caller_role=Subquery(role[:1])
        )

    def perform_create(self, serializer: RoomSerializer) -> None:
        room = services.room_create(
            slug=serializer.validated_data["slug"],
            name=serializer.validated_data["name"],
            owner=self.request.user,
        )
        room.caller_role = "owner"
        serializer.instance = room


class HistoryPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50


class CatchUpPagination(CursorPagination):
    ordering = ("id",)
    page_size = 50


class MessageHistory(generics.ListAPIView):
    """Newest first, cursor-paginated; members only.

    ``?after=<id>``: the messages after that id, oldest first, so a client that reconnects
    replays exactly what it missed.
    """

    serializer_class = MessageSerializer

    @property
    def paginator(self):
        if not hasattr(self, "_paginator"):
            after = "after" in self.request.query_params
            self._paginator = CatchUpPagination() if after else HistoryPagination()
        return self._paginator

    def get_queryset(self):
        membership = _membership_or_404(self.request, self.kwargs["slug"])
        messages = membership.room.messages.select_related("author", "room")
        if "after" in self.request.query_params:
            messages = messages.filter(pk__gt=self._after_id())
        return messages

    def _after_id(self) -> int:
        value = self.request.query_params["after"]
        if not value.isdigit() or len(value) > 18:
            raise ValidationError({"after": "A message id (a non-negative integer)."})
        return int(value)


class MemberListCreate(APIView):
    """``GET`` lists members (any member); ``POST`` adds or re-roles one (owners, admins)."""

    serializer_class = MembershipSerializer  # documents the schema for drf-spectacular

    def get(self, request: Request, slug: str) -> Response:
        membership = _membership_or_404(request, slug)
        if not permissions.can_list_members(membership.role):
            raise PermissionDenied
        members = membership.room.memberships.select_related("user").order_by("user__username")
        return Response(MembershipSerializer(members, many=True).data)

    def post(self, request: Request, slug: str) -> Response:
        actor = _membership_or_404(request, slug)
        serializer = MembershipSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target_user = serializer.validated_data["user"]
        current = Membership.objects.filter(room=actor.room, user=target_user).first()
        new_role = serializer.validated_data["role"]
        if not permissions.can_manage_member(actor.role, current and current.role, new_role):
            raise PermissionDenied("Your role cannot give this user this role.")
        membership = services.membership_set(room=actor.room, user=target_user, role=new_role)
        code = status.HTTP_200_OK if current else status.HTTP_201_CREATED
        return Response(MembershipSerializer(membership).data, status=code)


class MemberDestroy(APIView):
    """``DELETE`` removes a member (owners, admins); their open sockets close with 4003."""

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, username: str) -> Response:
        actor = _membership_or_404(request, slug)
        target_user = get_object_or_404(get_user_model(), username=username)
        target = get_object_or_404(Membership, room=actor.room, user=target_user)
        if not permissions.can_manage_member(actor.role, target.role, None):
            raise PermissionDenied("Your role cannot remove this member.")
        target.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
