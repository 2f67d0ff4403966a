from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1-50 lowercase letters, digits and inner hyphens.",
)


class Role(models.TextChoices):
    """A member's role in one room; what each may do lives in ``chat.permissions``."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    READER = "reader", "Reader"


class Room(models.Model):
    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="rooms"
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "room"], name="unique_membership"),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="membership_role_valid"
            ),
        ]
        ordering = ["room", "user"]

    def __str__(self) -> str:
        return f"{self.user} in {self.room} ({self.role})"


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages"
    )
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    client_id = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Chosen by the sending client; a resend with the same id stores nothing new.",
    )

    class Meta:
        indexes = [models.Index(fields=["room", "-created_at", "-id"], name="message_history")]
        ordering = ["-created_at", "-id"]
        constraints = [
            # Idempotent sends, across processes and races: one message per author and client id.
            models.UniqueConstraint(
                fields=["author", "client_id"],
                condition=~models.Q(client_id=""),
                name="message_client_id_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.author} in {self.room}: {self.body[:40]}"


class DeletedMessage(models.Model):
    """A tombstone per deleted message, so a socket resuming after a cut hears of deletes that
    happened while it was away (``message.deleted`` in the replay)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="deletions")
    message_id = models.BigIntegerField()
    created_at = models.DateTimeField(help_text="When the deleted message was created.")
    deleted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["room", "deleted_at"], name="deletion_replay")]

    def __str__(self) -> str:
        return f"message {self.message_id} deleted from {self.room}"
