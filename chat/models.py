from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models, transaction

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


def lock_rooms(queryset) -> None:
    """Lock the rooms' rows (``SELECT ... FOR UPDATE``, in id order) for the transaction.

    Every writer that must not race a room's deletion takes this lock first: membership changes
    (``chat.services``), message writes, and the deletion itself, before Django's cascade
    collects the room's messages. Without it a message committed between the collection and the
    room's ``DELETE`` made the deletion fail at commit (foreign-key violation, a 500); with it the
    message's writer waits, then finds the room gone.
    """
    list(queryset.select_for_update().order_by("pk").values_list("pk", flat=True))


class RoomQuerySet(models.QuerySet):
    def delete(self):
        """The admin's bulk delete and ``Room.objects.filter(...).delete()``: locked first."""
        with transaction.atomic(using=self.db):
            lock_rooms(self.model.objects.using(self.db).filter(pk__in=self.values("pk")))
            return super().delete()


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

    objects = RoomQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def delete(self, using=None, keep_parents=False):
        """``room.delete()`` (the admin's delete page, the shell): locked first, like every
        other deletion path (``lock_rooms``)."""
        using = using or "default"
        with transaction.atomic(using=using):
            lock_rooms(Room.objects.using(using).filter(pk=self.pk))
            return super().delete(using=using, keep_parents=keep_parents)


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
