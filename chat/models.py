import secrets

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import connections, models, router, transaction

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


def new_epoch() -> str:
    """A fresh name for a room's stream: 8 hex digits, never reused in practice."""
    return secrets.token_hex(4)


class RoomManager(models.Manager.from_queryset(RoomQuerySet)):
    def stream_advance(self, room_id: int) -> int:
        """Take the room's next stream position; call inside the transaction that stores the
        event (``transaction.atomic``).

        One ``UPDATE ... RETURNING`` statement: it takes the room row's lock (on PostgreSQL the
        lock ``select_for_update(no_key=True)`` takes; SQLite has one writer at a time) and
        keeps it until the transaction ends, so the next writer of this room waits for this
        commit (or rollback) before taking its own position: positions are handed out in commit
        order, and a rolled-back one is handed out again. One round trip, not a lock then an
        update: the lock is held for the insert and the commit only (README "Performance" has
        what it costs). Raises ``Room.DoesNotExist`` when the room is gone (deleted by a
        concurrent transaction, which the lock waited for).
        """
        using = router.db_for_write(self.model)
        meta = self.model._meta
        connection = connections[using]
        quote = connection.ops.quote_name
        seq = quote(meta.get_field("seq").column)
        # Identifiers only, from _meta and quoted by the backend; the value is a parameter.
        sql = (
            f"UPDATE {quote(meta.db_table)} SET {seq} = {seq} + 1 "  # noqa: S608
            f"WHERE {quote(meta.pk.column)} = %s RETURNING {seq}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [room_id])
            row = cursor.fetchone()
        if row is None:
            raise self.model.DoesNotExist(f"room {room_id} is gone")
        return row[0]


class Room(models.Model):
    """A chat room, and the head of its event stream (``seq``, ``epoch``; README "Wire
    protocol"): every stored event of the room takes the next ``seq`` through
    ``Room.objects.stream_advance`` in the transaction that stores it."""

    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="rooms"
    )
    seq = models.PositiveBigIntegerField(
        default=0, help_text="The position of the room's newest stored event (0: none yet)."
    )
    epoch = models.CharField(
        max_length=16,
        default=new_epoch,
        help_text="Names the room's stream; a new one means positions of the old one are void.",
    )

    objects = RoomManager()

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
    # The room's stream position the member has read up to (never moves back).
    read_seq = models.PositiveBigIntegerField(default=0)

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
    seq = models.PositiveBigIntegerField(
        editable=False, help_text="The room's stream position of this message's creation."
    )

    class Meta:
        indexes = [models.Index(fields=["room", "-created_at", "-id"], name="message_history")]
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_seq_once"),
            # Idempotent sends, across processes and races: one message per author and client id.
            models.UniqueConstraint(
                fields=["author", "client_id"],
                condition=~models.Q(client_id=""),
                name="message_client_id_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.author} in {self.room}: {self.body[:40]}"

    def save(self, *args, **kwargs) -> None:
        """A new message takes the room's next stream position in the transaction that inserts
        it, whatever code path saves it (a socket, the REST API, the admin, the shell).
        ``bulk_create`` bypasses this and is refused by the database (``seq`` is required)."""
        if not self._state.adding or self.seq is not None:
            super().save(*args, **kwargs)
            return
        with transaction.atomic(using=kwargs.get("using") or router.db_for_write(Message)):
            self.seq = Room.objects.stream_advance(self.room_id)
            try:
                super().save(*args, **kwargs)
            except BaseException:
                self.seq = None  # the position was rolled back with the insert
                raise


class DeletedMessage(models.Model):
    """A tombstone per deleted message: the deletion's own event in the room's stream (``seq``),
    so a socket resuming after a cut, or a process filling a gap, hears of it
    (``message.deleted``). ``message_seq`` is the deleted message's creation position: a message
    created and deleted after a client's position need not be replayed at all."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="deletions")
    message_id = models.BigIntegerField()
    created_at = models.DateTimeField(help_text="When the deleted message was created.")
    deleted_at = models.DateTimeField(auto_now_add=True)
    seq = models.PositiveBigIntegerField(help_text="The deletion's stream position.")
    message_seq = models.PositiveBigIntegerField(
        help_text="The deleted message's creation position (0: unknown, deleted before "
        "positions existed)."
    )

    class Meta:
        indexes = [
            models.Index(fields=["room", "deleted_at"], name="deletion_replay"),
            models.Index(fields=["room", "message_seq"], name="deletion_creation"),
        ]
        constraints = [models.UniqueConstraint(fields=["room", "seq"], name="deletion_seq_once")]

    def __str__(self) -> str:
        return f"message {self.message_id} deleted from {self.room}"
