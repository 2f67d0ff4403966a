import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from chat.events import room_group
from chat.models import Role, Room

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
