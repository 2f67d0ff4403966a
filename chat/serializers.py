from rest_framework import serializers

from .models import Membership, Message, Role, Room, slug_validator


class RoomSerializer(serializers.ModelSerializer):
    """A room as its member sees it: ``seq`` the stream head, ``read_seq`` the member's read
    position, ``unread`` the messages by others after it."""

    role = serializers.SerializerMethodField()
    read_seq = serializers.SerializerMethodField()
    unread = serializers.SerializerMethodField()

    class Meta:
        model = Room
        fields = ["slug", "name", "created_at", "role", "seq", "read_seq", "unread"]
        read_only_fields = ["created_at", "role", "seq", "read_seq", "unread"]
        # The format only: whether the slug is free is the database's answer, at insert time
        # (``services.room_create``), so two concurrent creators cannot both pass a check.
        extra_kwargs = {"slug": {"validators": [slug_validator]}}

    def get_role(self, room: Room) -> str | None:
        return getattr(room, "caller_role", None)

    def get_read_seq(self, room: Room) -> int:
        return getattr(room, "caller_read_seq", 0)

    def get_unread(self, room: Room) -> int:
        return getattr(room, "unread", 0)


class ReadPositionSerializer(serializers.Serializer):
    """``POST /api/rooms/<slug>/read/``: the stream position read up to."""

    seq = serializers.IntegerField(min_value=0, max_value=2**63 - 1)


class MessageSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)
    room = serializers.CharField(source="room.slug", read_only=True)

    class Meta:
        model = Message
        fields = ["id", "seq", "room", "author", "body", "created_at"]


class MembershipSerializer(serializers.ModelSerializer):
    """A member as the API shows one."""

    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["username", "role", "joined_at"]
        read_only_fields = fields


class MembershipChangeSerializer(serializers.Serializer):
    """What a client sends to add a member or change a role: the input only, no lookup.

    The username is resolved by ``services.membership_set`` after the caller's right to manage
    members has been checked; resolving it here would tell anyone whether a username exists.
    """

    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)
