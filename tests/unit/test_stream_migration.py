"""The migration that gives existing rooms their streams: messages numbered in id order per
room, tombstones after them, an epoch per room, and the rooms' counters where new events go on."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("chat", "0002_idempotent_sends_and_tombstones")]
AFTER = [("chat", "0003_room_streams")]


@pytest.fixture
def migrate_to(transactional_db):
    def migrate(target):
        executor = MigrationExecutor(connection)
        executor.migrate(target)
        return executor.loader.project_state(target).apps

    yield migrate
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_existing_rows_are_numbered_in_id_order_per_room(migrate_to):
    old = migrate_to(BEFORE)
    User = old.get_model("accounts", "User")
    Room, Message = old.get_model("chat", "Room"), old.get_model("chat", "Message")
    DeletedMessage = old.get_model("chat", "DeletedMessage")
    author = User.objects.create(username="author")
    first, second = (Room.objects.create(slug=slug, name=slug) for slug in ("one", "two"))
    ids = {room.slug: [] for room in (first, second)}
    for index in range(6):  # interleaved, so ids alone do not number either room
        room = (first, second)[index % 2]
        ids[room.slug].append(Message.objects.create(room=room, author=author, body="b").pk)
    deleted = Message.objects.create(room=first, author=author, body="gone")
    DeletedMessage.objects.create(room=first, message_id=deleted.pk, created_at=deleted.created_at)
    deleted.delete()

    new = migrate_to(AFTER)
    Room, Message = new.get_model("chat", "Room"), new.get_model("chat", "Message")
    DeletedMessage = new.get_model("chat", "DeletedMessage")
    for slug in ("one", "two"):
        numbered = Message.objects.filter(room__slug=slug).order_by("seq")
        assert [m.pk for m in numbered] == ids[slug]
        assert [m.seq for m in numbered] == [1, 2, 3]
    tombstone = DeletedMessage.objects.get()
    assert (tombstone.seq, tombstone.message_seq) == (4, 0)
    rooms = {room.slug: room for room in Room.objects.all()}
    assert (rooms["one"].seq, rooms["two"].seq) == (4, 3)
    assert rooms["one"].epoch != rooms["two"].epoch
