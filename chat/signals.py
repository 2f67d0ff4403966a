"""Every change a socket must hear of, whatever made it (socket, REST API, admin, shell, a
worker), turned into an event of ``chat.events`` and sent by ``realtime.bus`` after the
transaction commits."""

from django.db.models import Model
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.signals import credentials_revoked
from realtime import bus

from . import events, services
from .models import Membership, Message, Room


def _deleted_directly(origin, model: type[Model]) -> bool:
    """False for a row removed by cascade: the deletion that started it sends its own event
    (a deleted room closes its sockets with 4004, a deleted user's with 4001)."""
    if origin is None:
        return True
    origin_model = getattr(origin, "model", None) or type(origin)
    return isinstance(origin_model, type) and issubclass(origin_model, model)


@receiver(post_save, sender=Message)
def tell_room_of_new_message(sender, instance: Message, created: bool, **kwargs) -> None:
    if created:
        bus.to_room_after_commit(instance.room_id, events.message_new(instance))


@receiver(post_delete, sender=Message)
def tell_room_of_deleted_message(sender, instance: Message, origin=None, **kwargs) -> None:
    if _deleted_directly(origin, Message):
        tombstone = services.message_tombstone(message=instance)
        bus.to_room_after_commit(instance.room_id, events.message_deleted(tombstone))


@receiver(post_save, sender=Membership)
def tell_member_of_role_change(sender, instance: Membership, **kwargs) -> None:
    bus.to_user_after_commit(
        instance.user_id,
        events.membership_changed(
            room_id=instance.room_id, user_id=instance.user_id, role=instance.role
        ),
    )


@receiver(post_delete, sender=Membership)
def tell_member_of_removal(sender, instance: Membership, origin=None, **kwargs) -> None:
    if _deleted_directly(origin, Membership):
        bus.to_user_after_commit(
            instance.user_id,
            events.membership_changed(
                room_id=instance.room_id, user_id=instance.user_id, role=None
            ),
        )


@receiver(post_delete, sender=Room)
def tell_room_it_was_deleted(sender, instance: Room, **kwargs) -> None:
    bus.to_room_after_commit(instance.pk, events.room_deleted(room_id=instance.pk))


@receiver(credentials_revoked)
def close_sockets_of_revoked_credentials(
    sender, user_id: int, failure, method=None, session_keys=None, login_ids=None, **kwargs
) -> None:
    bus.to_user_after_commit(
        user_id,
        events.credentials_revoked(
            failure=str(failure),
            method=str(method) if method is not None else None,
            session_keys=session_keys,
            login_ids=login_ids,
        ),
    )
