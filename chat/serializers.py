from django.contrib.auth import get_user_model
from rest_framework import serializers

from .models import Membership, Message, Role, Room, slug_validator


class RoomSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Room
        fields = ["slug", "name", "created_at", "role"]
        read_only_fields = ["created_at", "role"]
        extra_kwargs = {"slug": {"validators": [slug_validator]}}

    def get_role(self, room: Room) -> str | None:
        return getattr(room, "caller_role", None)

    def validate_slug(self, slug: str) -> str:
        if Room.objects.filter(slug=slug).exists():
            raise serializers.ValidationError("A room with this slug already exists.")
        return slug


class MessageSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)
    room = serializers.CharField(source="room.slug", read_only=True)

    class Meta:
        model = Message
        fields = ["id", "room", "author", "body", "created_at"]


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.SlugRelatedField(
        source="user", slug_field="username", queryset=get_user_model().objects.all()
    )
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)

    class Meta:
        model = Membership
        fields = ["username", "role", "joined_at"]
        read_only_fields = ["joined_at"]
