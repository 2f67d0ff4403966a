"""``seed_demo`` creates the demo data once: a restart of ``make run`` logs nobody out."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from chat.management.commands.seed_demo import DEMO_ROOMS, DEMO_USERS
from chat.models import Membership, Role, Room

from ..factories import UserFactory

pytestmark = pytest.mark.django_db
DEMO_PASSWORD = "demo-pass-for-tests"


@pytest.fixture(autouse=True)
def _debug_on(settings):
    settings.DEBUG = True
    settings.DEMO_PASSWORD = DEMO_PASSWORD


def seed(*args: str) -> None:
    call_command("seed_demo", *args, stdout=None)


def test_first_run_creates_users_rooms_and_memberships():
    seed()
    users = {u.username: u for u in get_user_model().objects.filter(username__in=DEMO_USERS)}
    assert set(users) == set(DEMO_USERS)
    assert all(user.check_password(DEMO_PASSWORD) for user in users.values())
    assert users["alice"].is_staff
    assert users["alice"].is_superuser
    assert not users["bob"].is_staff
    assert set(Room.objects.values_list("slug", flat=True)) >= set(DEMO_ROOMS)
    assert Membership.objects.get(room__slug="lobby", user__username="dave").role == Role.READER


def test_second_run_keeps_password_hash_and_session():
    seed()
    client = Client()
    bob = get_user_model().objects.get(username="bob")
    assert bob.check_password(DEMO_PASSWORD)
    client.force_login(bob)
    hash_before = bob.password
    assert client.get("/").status_code == 200

    seed()

    assert get_user_model().objects.get(username="bob").password == hash_before
    # The session carries a hash of the password hash: a new hash would log bob out (302).
    assert client.get("/").status_code == 200


def test_existing_user_keeps_password_and_flags():
    UserFactory(username="alice", password="alices-own-password", is_staff=False)
    seed()
    alice = get_user_model().objects.get(username="alice")
    assert alice.check_password("alices-own-password")
    assert not alice.is_staff
    assert not alice.is_superuser


def test_changed_role_is_kept():
    seed()
    Membership.objects.filter(room__slug="lobby", user__username="bob").update(role=Role.READER)
    seed()
    assert Membership.objects.get(room__slug="lobby", user__username="bob").role == Role.READER


def test_reset_passwords_flag_resets_existing_users():
    UserFactory(username="bob", password="bobs-own-password")
    seed("--reset-passwords")
    assert get_user_model().objects.get(username="bob").check_password(DEMO_PASSWORD)


def test_refuses_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        seed()
    assert not get_user_model().objects.filter(username__in=DEMO_USERS).exists()
