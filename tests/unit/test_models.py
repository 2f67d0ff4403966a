import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction

from chat import services
from chat.models import Message, Role, Room
from realtime.bus import room_group

from ..factories import MembershipFactory, RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("slug", ["lobby", "a", "team-7", "x" * 50])
def test_valid_slugs(slug):
    Room(slug=slug, name="n").full_clean()


@pytest.mark.parametrize(
    "slug", ["", "Lobby", "-lead", "trail-", "has space", "a_b", "x" * 51, "é"]
)
def test_invalid_slugs_are_refused(slug):
    with pytest.raises(ValidationError):
        Room(slug=slug, name="n").full_clean()


def test_membership_is_unique_per_user_and_room():
    membership = MembershipFactory()
    with pytest.raises(IntegrityError):
        MembershipFactory(user=membership.user, room=membership.room)


def test_unknown_role_is_refused_by_the_database():
    with pytest.raises(IntegrityError):
        MembershipFactory(role="superhero")


def test_group_name_is_stable_across_slug_changes():
    room = RoomFactory()
    before = room_group(room.pk)
    room.slug = "renamed"
    room.save()
    assert room_group(Room.objects.get(slug="renamed").pk) == before


def test_roles_are_the_four_documented():
    assert set(Role.values) == {"owner", "admin", "member", "reader"}


def test_room_create_makes_the_creator_owner():
    from chat.services import room_create

    user = UserFactory()
    room = room_create(slug="new-room", name="New", owner=user)
    assert room.memberships.get().role == Role.OWNER


def test_stream_positions_have_no_holes_after_a_rollback_or_a_resend(lobby):
    room, users = lobby
    first, _ = services.message_create(room=room, author=users["bob"], body="1", client_id="c1")

    def store_then_fail() -> None:
        with transaction.atomic():
            Message.objects.create(room=room, author=users["bob"], body="rolled back")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        store_then_fail()
    again, created = services.message_create(
        room=room, author=users["bob"], body="1", client_id="c1"
    )  # a resend stores nothing and takes no position
    second, _ = services.message_create(room=room, author=users["bob"], body="2")
    second.delete()
    room.refresh_from_db()
    assert (first.seq, again.seq, created, second.seq) == (1, 1, False, 2)
    assert room.seq == 3  # the deletion's own position
    assert list(room.deletions.values_list("seq", "message_seq")) == [(3, 2)]


def test_bulk_create_without_positions_is_refused(lobby):
    room, users = lobby
    with pytest.raises(IntegrityError):
        Message.objects.bulk_create([Message(room=room, author=users["bob"], body="x")])


def test_new_stream_epochs_renames_every_rooms_stream(lobby):
    before = dict(Room.objects.values_list("slug", "epoch"))
    call_command("new_stream_epochs", stdout=io.StringIO())
    after = dict(Room.objects.values_list("slug", "epoch"))
    assert set(after) == set(before) == {"lobby", "staff"}
    assert all(after[slug] != before[slug] for slug in after)
    assert len(set(after.values())) == len(after)
