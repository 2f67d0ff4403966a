"""``manage.py new_stream_epochs``: give every room's stream a new epoch, after restoring a
database backup (README "Deploys and crashes").

A restored database hands out stream positions again that clients already saw with other events
behind them; the positions are the same numbers, the events are not. With a new epoch, every
client's ``?since=&epoch=`` no longer matches: it is told ``recovered: false`` and reloads
history, and every open socket is closed 4009 within ``CHAT_STREAM_CHECK_SECONDS`` to resume.
"""

from django.core.management.base import BaseCommand

from chat.models import Room, new_epoch


class Command(BaseCommand):
    help = "Give every room's stream a new epoch (run after restoring a database backup)."

    def handle(self, *args, **options) -> None:
        rooms = list(Room.objects.only("pk"))
        for room in rooms:
            room.epoch = new_epoch()
        Room.objects.bulk_update(rooms, ["epoch"], batch_size=1000)
        self.stdout.write(f"{len(rooms)} room stream(s) have a new epoch.")
