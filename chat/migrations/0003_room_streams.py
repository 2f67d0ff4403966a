"""Room streams: each room's events (messages created, messages deleted) get positions.

Existing messages take positions 1..n in id order, room by room; existing tombstones follow them
(deletion order), with creation position 0 (unknown). Every room gets an epoch of its own."""

import secrets

from django.db import migrations, models

import chat.models

BATCH = 1000


def number_existing_events(apps, schema_editor):
    Room = apps.get_model("chat", "Room")
    Message = apps.get_model("chat", "Message")
    DeletedMessage = apps.get_model("chat", "DeletedMessage")
    for room in Room.objects.all().only("pk").iterator():
        seq = 0
        for model, order, fields in (
            (Message, "pk", ["seq"]),
            (DeletedMessage, "deleted_at", ["seq", "message_seq"]),
        ):
            rows = model.objects.filter(room_id=room.pk).order_by(order, "pk").only("pk")
            batch = []
            for row in rows.iterator(chunk_size=BATCH):
                seq += 1
                row.seq = seq
                if model is DeletedMessage:
                    row.message_seq = 0
                batch.append(row)
                if len(batch) == BATCH:
                    model.objects.bulk_update(batch, fields)
                    batch = []
            if batch:
                model.objects.bulk_update(batch, fields)
        Room.objects.filter(pk=room.pk).update(seq=seq, epoch=secrets.token_hex(4))


class Migration(migrations.Migration):
    dependencies = [("chat", "0002_idempotent_sends_and_tombstones")]

    operations = [
        migrations.AddField(
            model_name="room",
            name="seq",
            field=models.PositiveBigIntegerField(
                default=0,
                help_text="The position of the room's newest stored event (0: none yet).",
            ),
        ),
        migrations.AddField(
            model_name="room",
            name="epoch",
            field=models.CharField(
                default=chat.models.new_epoch,
                help_text="Names the room's stream; a new one means positions of the old one are void.",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="seq",
            field=models.PositiveBigIntegerField(
                editable=False,
                null=True,
                help_text="The room's stream position of this message's creation.",
            ),
        ),
        migrations.AddField(
            model_name="deletedmessage",
            name="seq",
            field=models.PositiveBigIntegerField(
                null=True, help_text="The deletion's stream position."
            ),
        ),
        migrations.AddField(
            model_name="deletedmessage",
            name="message_seq",
            field=models.PositiveBigIntegerField(
                null=True,
                help_text="The deleted message's creation position (0: unknown, deleted before "
                "positions existed).",
            ),
        ),
        migrations.RunPython(number_existing_events, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="message",
            name="seq",
            field=models.PositiveBigIntegerField(
                editable=False, help_text="The room's stream position of this message's creation."
            ),
        ),
        migrations.AlterField(
            model_name="deletedmessage",
            name="seq",
            field=models.PositiveBigIntegerField(help_text="The deletion's stream position."),
        ),
        migrations.AlterField(
            model_name="deletedmessage",
            name="message_seq",
            field=models.PositiveBigIntegerField(
                help_text="The deleted message's creation position (0: unknown, deleted before "
                "positions existed)."
            ),
        ),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(fields=("room", "seq"), name="message_seq_once"),
        ),
        migrations.AddConstraint(
            model_name="deletedmessage",
            constraint=models.UniqueConstraint(fields=("room", "seq"), name="deletion_seq_once"),
        ),
        migrations.AddIndex(
            model_name="deletedmessage",
            index=models.Index(fields=["room", "message_seq"], name="deletion_creation"),
        ),
    ]
