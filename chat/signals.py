"""Membership and room changes reach the room's open sockets within one channel-layer hop,
whatever made them (REST API, admin, shell, ORM)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Membership, Room, room_group_name
from .realtime import group_send_after_commit


@receiver(post_save, sender=Membership)
def tell_room_of_role_change(sender, instance, **kwargs) -> None:
    group_send_after_commit(
        room_group_name(instance.room_id),
        {"type": "membership.changed", "user_id": instance.user_id, "role": instance.role},
    )


@receiver(post_delete, sender=Membership)
def tell_room_of_removed_member(sender, instance, origin=None, **kwargs) -> None:
    # A membership deleted by cascade (room or user deleted) is told by that deletion's own event,
    # with its own close code.
    if not _deleted_directly(origin):
        return
    group_send_after_commit(
        room_group_name(instance.room_id),
        {"type": "membership.changed", "user_id": instance.user_id, "role": None},
    )


@receiver(post_delete, sender=Room)
def tell_room_it_was_deleted(sender, instance, **kwargs) -> None:
    group_send_after_commit(room_group_name(instance.pk), {"type": "room.deleted"})


def _deleted_directly(origin) -> bool:
    model = getattr(origin, "model", None) or type(origin)
    return origin is None or (isinstance(model, type) and issubclass(model, Membership))
