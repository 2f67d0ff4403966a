"""A resend racing the deletion of its original is a documented answer, never a 1011."""

import pytest
from django.db import IntegrityError

from chat import services
from chat.models import Message

from ..factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_resend_whose_original_was_deleted_meanwhile_is_message_gone(monkeypatch):
    room, author = RoomFactory(), UserFactory()

    def original_committed_then_deleted(**kwargs):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(Message.objects, "create", original_committed_then_deleted)
    with pytest.raises(services.MessageGone):
        services.message_create(room=room, author=author, body="again", client_id="c1")


def test_a_resend_of_a_stored_message_returns_it_and_stores_nothing():
    room, author = RoomFactory(), UserFactory()
    first, created = services.message_create(room=room, author=author, body="x", client_id="c2")
    again, created_again = services.message_create(
        room=room, author=author, body="x", client_id="c2"
    )
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert Message.objects.filter(author=author).count() == 1
