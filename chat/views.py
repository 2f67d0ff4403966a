"""Browser pages (session login). Non-members get 404 for a room: no existence leak."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from . import permissions, selectors


@login_required
def room_list(request: HttpRequest) -> HttpResponse:
    memberships = selectors.rooms_for_user(user=request.user)
    return render(request, "chat/room_list.html", {"memberships": memberships})


@login_required
def room_detail(request: HttpRequest, slug: str) -> HttpResponse:
    membership = selectors.room_for_member(slug=slug, user=request.user)
    if membership is None or not permissions.can_view(membership.role):
        raise Http404("No such room.")
    context = {
        "room": membership.room,
        "role": membership.role,
        "can_send": permissions.can_send(membership.role),
        "messages": selectors.messages_recent(
            room_id=membership.room_id, limit=settings.CHAT_HISTORY_PAGE_SIZE
        ),
        "max_body_chars": settings.CHAT_MAX_BODY_CHARS,
    }
    return render(request, "chat/room.html", context)
