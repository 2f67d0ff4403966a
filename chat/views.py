"""Browser pages (session login). Non-members get 404 for a room: no existence leak."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from . import permissions, selectors

# A primary key no user has (autoincrement starts at 1): "a message somebody else wrote".
_SOMEONE_ELSE = 0


@login_required
def room_list(request: HttpRequest) -> HttpResponse:
    memberships = selectors.rooms_for_user(user=request.user)
    return render(request, "chat/room_list.html", {"memberships": memberships})


@login_required
def room_detail(request: HttpRequest, slug: str) -> HttpResponse:
    membership = selectors.room_for_member(slug=slug, user=request.user)
    if membership is None or not permissions.can_view(membership.role):
        raise Http404("No such room.")
    role, user_id = membership.role, request.user.pk
    recent = selectors.messages_recent(
        room_id=membership.room_id, limit=settings.CHAT_HISTORY_PAGE_SIZE
    )
    for message in recent:
        message.can_delete = permissions.can_delete_message(
            role, author_id=message.author_id, user_id=user_id
        )
    context = {
        "room": membership.room,
        "role": role,
        "role_label": membership.get_role_display(),
        "can_send": permissions.can_send(role),
        # Live messages arrive after this render: the script asks these two answers of the
        # same rule instead of knowing it.
        "can_delete_own": permissions.can_delete_message(role, author_id=user_id, user_id=user_id),
        "can_delete_others": permissions.can_delete_message(
            role, author_id=_SOMEONE_ELSE, user_id=user_id
        ),
        "messages_recent": recent,
        "history_url": reverse("api-messages", kwargs={"slug": membership.room.slug}),
        "max_body_chars": settings.CHAT_MAX_BODY_CHARS,
    }
    return render(request, "chat/room.html", context)


# Flash messages for the stock auth views (django.contrib.auth.urls). Connected when the URLconf
# imports this module, which happens before any request can log in or out. fail_silently: a
# login without a browser request (test client, shell) has no message storage.


@receiver(user_logged_in, dispatch_uid="chat.views.flash_logged_in")
def flash_logged_in(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if request is not None:
        messages.success(request, f"Welcome, {user.get_username()}.", fail_silently=True)


@receiver(user_logged_out, dispatch_uid="chat.views.flash_logged_out")
def flash_logged_out(sender, request: HttpRequest | None, user, **kwargs) -> None:
    # The session is flushed right after this signal; the default FallbackStorage keeps the
    # message in a cookie first, so it survives into the login page.
    if request is not None:
        messages.info(request, "You have been logged out.", fail_silently=True)
