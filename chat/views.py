"""Browser pages (session login). Non-members get 404 for a room: no existence leak."""

from csp.constants import HEADER as CSP_HEADER
from csp.utils import build_policy
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from realtime.close_codes import client_guide
from realtime.protocol import SUBPROTOCOL

from . import permissions, selectors


def not_found(request: HttpRequest) -> HttpResponse:
    """The site's own 404 page, also under DEBUG.

    ``raise Http404`` would show Django's technical 404 page when DEBUG is on: unstyled (the CSP
    refuses its inline styles) and listing every URL pattern to someone who may not see the room.
    django-csp leaves 404s without the header under DEBUG (for that technical page); ours needs
    no exemption, so it carries the site's policy in every mode.
    """
    response = render(request, "404.html", status=404)
    response[CSP_HEADER] = build_policy()
    return response


@login_required
def room_list(request: HttpRequest) -> HttpResponse:
    memberships = selectors.rooms_for_user(user=request.user)
    return render(request, "chat/room_list.html", {"memberships": memberships})


@login_required
def room_detail(request: HttpRequest, slug: str) -> HttpResponse:
    membership = selectors.room_for_member(slug=slug, user=request.user)
    if membership is None or not permissions.can_view(membership.role):
        return not_found(request)
    role, user_id = membership.role, request.user.pk
    # The room (and its stream position, data-seq) was read before the messages: the page's
    # socket resumes from that position, so a message stored in between comes by the replay.
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
        # Live messages arrive after this render: the script gets the two answers the rule is
        # made of instead of knowing it.
        "can_delete_own": permissions.can_delete_own_messages(role),
        "can_delete_others": permissions.can_delete_others_messages(role),
        "messages_recent": recent,
        "history_url": reverse("api-messages", kwargs={"slug": membership.room.slug}),
        "max_body_chars": settings.CHAT_MAX_BODY_CHARS,
        # What each close and error code asks of the page (room.js reads it; no copy there).
        "protocol_guide": client_guide(subprotocol=SUBPROTOCOL),
    }
    return render(request, "chat/room.html", context)


@require_GET
def protocol_guide(request: HttpRequest) -> JsonResponse:
    """``/protocol.json``: what a client should do after each close and error code, and the
    protocol name to offer; public, like the protocol itself (docs/codes.md)."""
    return JsonResponse(client_guide(subprotocol=SUBPROTOCOL))
