"""Membership, room and message changes reach the room's open sockets within one channel-layer
hop, whatever made them (REST API, admin, shell, ORM), after the transaction commits."""

from django.db.models import Model
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Membership, Message, Room, room_group_name
from .protocol import message_deleted_frame
from .realtime import group_send_after_commit


def _deleted_directly(origin, model: type[Model]) -> bool:
    """False for a row removed by cascade: the deletion that started it sends its own event
    (a deleted room closes its sockets with 4004, a deleted user's with 4001)."""
    if origin is None:
        return True
    origin_model = getattr(origin, "model", None) or type(origin)
    return isinstance(origin_model, type) and issubclass(origin_model, model)


@receiver(post_save, sender=Membership)
def tell_room_of_role_change(sender, instance, **kwargs) -> None:
    group_send_after_commit(
        room_group_name(instance.room_id),
        {
            "type": "membership.changed",
            "room_id": instance.room_id,
            "user_id": instance.user_id,
            "role": instance.role,
        },
    )


@receiver(post_delete, sender=Membership)
def tell_room_of_removed_member(sender, instance, origin=None, **kwargs) -> None:
    if _deleted_directly(origin, Membership):
        group_send_after_commit(
            room_group_name(instance.room_id),
            {
                "type": "membership.changed",
                "room_id": instance.room_id,
                "user_id": instance.user_id,
                "role": None,
            },
        )


@receiver(post_delete, sender=Room)
def tell_room_it_was_deleted(sender, instance, **kwargs) -> None:
    group_send_after_commit(
        room_group_name(instance.pk), {"type": "room.deleted", "room_id": instance.pk}
    )


@receiver(post_delete, sender=Message)
def tell_room_of_deleted_message(sender, instance, origin=None, **kwargs) -> None:
    if _deleted_directly(origin, Message):
        group_send_after_commit(
            room_group_name(instance.room_id),
            {
                "type": "message.deleted",
                "room_id": instance.room_id,
                "text": message_deleted_frame(message_id=instance.pk),
            },
        )
