"""REST API for rooms, history and members. Reads go through ``chat.selectors``, writes through
``chat.services``, rules come from ``chat.permissions``. A room the caller is not a member of is
a 404, so the API never tells whether it exists; a client's mistake is a 4xx, never a 500."""

import binascii
import re
from base64 import b64decode
from datetime import UTC
from urllib.parse import parse_qs

from django.conf import settings
from django.http import Http404
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import permissions, selectors, services
from .models import Membership, Role
from .serializers import (
    MembershipChangeSerializer,
    MembershipSerializer,
    MessageSerializer,
    ReadPositionSerializer,
    RoomSerializer,
)

# A message id: ASCII digits only (str.isdigit() also accepts "²" and "٣"), below 2**63.
_MESSAGE_ID = re.compile(r"[0-9]{1,18}")
_MAX_CURSOR_CHARS = 200


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."
    default_code = "conflict"


def _membership_or_404(request: Request, slug: str) -> Membership:
    membership = selectors.room_for_member(slug=slug, user=request.user)
    if membership is None or not permissions.can_view(membership.role):
        raise Http404
    return membership


def _api_error(error: services.ServiceError) -> Exception:
    """The HTTP answer for a service's refusal: one table, so every view answers alike."""
    if isinstance(error, services.NotAMember | services.MemberNotFound):
        return Http404()
    if isinstance(error, services.NotAllowed):
        return PermissionDenied(error.detail)
    if isinstance(error, services.UserNotFound):
        return ValidationError({"username": [error.detail]})
    if isinstance(error, services.SlugUnavailable):
        return Conflict(error.detail, code="slug_unavailable")
    if isinstance(error, services.LastOwner):
        return Conflict(error.detail, code="last_owner")
    return Conflict(error.detail)


class RoomListCreate(generics.ListCreateAPIView):
    """``GET`` the caller's rooms with their role; ``POST`` creates one owned by the caller.

    A slug already in use answers 409 ``slug_unavailable``, whoever's room it is
    (docs/security.md)."""

    serializer_class = RoomSerializer
    pagination_class = None

    def get_queryset(self):
        return selectors.rooms_with_role(user=self.request.user)

    @extend_schema(responses={201: RoomSerializer, 409: None})
    def post(self, request: Request, *args, **kwargs) -> Response:
        return super().post(request, *args, **kwargs)

    def perform_create(self, serializer: RoomSerializer) -> None:
        try:
            room = services.room_create(
                slug=serializer.validated_data["slug"],
                name=serializer.validated_data["name"],
                owner=self.request.user,
            )
        except services.ServiceError as error:
            raise _api_error(error) from error
        room.caller_role = Role.OWNER
        serializer.instance = room


class RoomDestroy(APIView):
    """``DELETE`` the room (owners): 204; its open sockets close 4004. Not a member: 404; a
    member who is not an owner: 403."""

    @extend_schema(responses={204: None, 403: None, 404: None})
    def delete(self, request: Request, slug: str) -> Response:
        actor = _membership_or_404(request, slug)
        try:
            services.room_delete(room_id=actor.room_id, actor=request.user)
        except services.ServiceError as error:
            raise _api_error(error) from error
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReadPosition(APIView):
    """``POST {"seq": n}``: the caller read the room up to ``n`` (capped at the room's head;
    never moves back); answers the position. The caller's ``/ws/`` sockets hear ``room.read``.
    Not a member: 404."""

    @extend_schema(request=ReadPositionSerializer, responses={200: ReadPositionSerializer})
    def post(self, request: Request, slug: str) -> Response:
        membership = _membership_or_404(request, slug)
        serializer = ReadPositionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        position = services.read_position_move(
            user_id=request.user.pk,
            room_id=membership.room_id,
            seq=serializer.validated_data["seq"],
        )
        return Response({"seq": position})


class StrictCursorPagination(CursorPagination):
    """DRF's cursor pagination, except that a cursor the server did not write is a 400.

    DRF decodes the cursor leniently and hands its position to the ORM as it is, so a forged
    position (``abc`` where an id belongs, a date in year 10000) failed in the database: a 500.
    Every part of the cursor is checked here before any query.
    """

    def get_page_size(self, request: Request) -> int:
        return settings.CHAT_HISTORY_PAGE_SIZE

    def decode_cursor(self, request: Request) -> Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            if len(encoded) > _MAX_CURSOR_CHARS:
                raise ValueError
            text = b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
            tokens = parse_qs(text, keep_blank_values=True, max_num_fields=3)
            offset = _ascii_int(tokens.get("o", ["0"])[-1], maximum=self.offset_cutoff)
            reverse = {"0": False, "1": True}[tokens.get("r", ["0"])[-1]]
            position = tokens.get("p", [None])[-1]
            if position is not None and not self.valid_position(position):
                raise ValueError
        except (ValueError, KeyError, binascii.Error) as exc:
            raise ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from exc
        return Cursor(offset=offset, reverse=reverse, position=position)

    def valid_position(self, position: str) -> bool:
        raise NotImplementedError


class HistoryPagination(StrictCursorPagination):
    ordering = ("-created_at", "-id")

    def valid_position(self, position: str) -> bool:
        """A timestamp the server wrote: aware, ISO 8601, in a year the database can hold."""
        try:
            moment = parse_datetime(position) if position.isascii() else None
            return (
                moment is not None
                and moment.tzinfo is not None
                and 2000 <= moment.astimezone(UTC).year <= 9000
            )
        except (ValueError, OverflowError):
            return False


class CatchUpPagination(StrictCursorPagination):
    ordering = ("id",)

    def valid_position(self, position: str) -> bool:
        return _MESSAGE_ID.fullmatch(position) is not None


class StreamPagination(CatchUpPagination):
    ordering = ("seq",)


def _ascii_int(value: str, *, maximum: int) -> int:
    if _MESSAGE_ID.fullmatch(value) is None or int(value) > maximum:
        raise ValueError(value)
    return int(value)


class MessageHistory(generics.ListAPIView):
    """Newest first, cursor-paginated (``CHAT_HISTORY_PAGE_SIZE`` a page); members only.

    ``?since=<seq>``: the messages after that position of the room's stream, in position
    order, so a client reloading after ``recovered: false`` pages forward from where it was.
    ``?after=<id>``: the messages after that id, oldest first (protocol 2 before positions).
    """

    serializer_class = MessageSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("since", OpenApiTypes.INT, description="A stream position (seq)."),
            OpenApiParameter("after", OpenApiTypes.INT, description="A message id."),
        ]
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @property
    def paginator(self):
        if not hasattr(self, "_paginator"):
            params = self.request.query_params
            if "since" in params:
                self._paginator = StreamPagination()
            elif "after" in params:
                self._paginator = CatchUpPagination()
            else:
                self._paginator = HistoryPagination()
        return self._paginator

    def get_queryset(self):
        # A malformed parameter is a 400 even for an outsider.
        after_id = self._position("after", "A message id (ASCII digits, at most 18).")
        since_seq = self._position("since", "A stream position (ASCII digits, at most 18).")
        if after_id is not None and since_seq is not None:
            raise ValidationError({"since": ["Give since or after, not both."]})
        membership = _membership_or_404(self.request, self.kwargs["slug"])
        return selectors.messages_history(
            room_id=membership.room_id, after_id=after_id, since_seq=since_seq
        )

    def _position(self, name: str, problem: str) -> int | None:
        if name not in self.request.query_params:
            return None
        value = self.request.query_params[name]
        if _MESSAGE_ID.fullmatch(value) is None:
            raise ValidationError({name: [problem]})
        return int(value)


class MemberListCreate(APIView):
    """``GET`` lists members (any member); ``POST`` adds or re-roles one (owners, admins)."""

    serializer_class = MembershipSerializer  # documents the schema for drf-spectacular

    def get(self, request: Request, slug: str) -> Response:
        membership = _membership_or_404(request, slug)
        members = selectors.memberships_of_room(room_id=membership.room_id)
        return Response(MembershipSerializer(members, many=True).data)

    @extend_schema(
        request=MembershipChangeSerializer,
        responses={200: MembershipSerializer, 201: MembershipSerializer, 409: None},
    )
    def post(self, request: Request, slug: str) -> Response:
        actor = _membership_or_404(request, slug)
        change = MembershipChangeSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        try:
            membership, created = services.membership_set(
                room_id=actor.room_id,
                actor=request.user,
                username=change.validated_data["username"],
                role=change.validated_data["role"],
            )
        except services.ServiceError as error:
            raise _api_error(error) from error
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(MembershipSerializer(membership).data, status=code)


class MemberDestroy(APIView):
    """``DELETE`` removes a member (owners, admins); their open sockets close with 4003."""

    @extend_schema(responses={204: None, 409: None})
    def delete(self, request: Request, slug: str, username: str) -> Response:
        actor = _membership_or_404(request, slug)
        try:
            services.membership_remove(room_id=actor.room_id, actor=request.user, username=username)
        except services.ServiceError as error:
            raise _api_error(error) from error
        return Response(status=status.HTTP_204_NO_CONTENT)
