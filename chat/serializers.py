from rest_framework import serializers

from .models import Membership, Message, Role, Room, slug_validator


class RoomSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Room
        fields = ["slug", "name", "created_at", "role"]
        read_only_fields = ["created_at", "role"]
        # The format only: whether the slug is free is the database's answer, at insert time
        # (``services.room_create``), so two concurrent creators cannot both pass a check.
        extra_kwargs = {"slug": {"validators": [slug_validator]}}

    def get_role(self, room: Room) -> str | None:
        return getattr(room, "caller_role", None)


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
