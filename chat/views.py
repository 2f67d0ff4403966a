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
from realtime.protocol_v3 import SUBPROTOCOL as SUBPROTOCOL_V3

from . import permissions, selectors
from .models import Membership, Role


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


# The placeholder the page's script puts a room's slug in (a valid slug, so ``reverse`` takes it).
SLUG_PLACEHOLDER = "__slug__"


@login_required
def room_list(request: HttpRequest) -> HttpResponse:
    """``/``: the chat page with no room open (the sidebar lists the user's rooms)."""
    return render(request, "chat/app.html", _page_context(request, membership=None))


@login_required
def room_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """``/rooms/<slug>/``: the chat page with that room open, its last messages rendered."""
    membership = selectors.room_for_member(slug=slug, user=request.user)
    if membership is None or not permissions.can_view(membership.role):
        return not_found(request)
    return render(request, "chat/app.html", _page_context(request, membership=membership))


def _page_context(request: HttpRequest, *, membership: Membership | None) -> dict:
    """One page for every room: the sidebar (the user's rooms with their badges), the open room
    if any, and what the script needs to know (``chat-config``, ``protocol-guide``)."""
    context = {
        # Read before the open room's messages: a message stored in between is in the replay.
        "rooms": [
            {
                "slug": listed.slug,
                "name": listed.name,
                "role": listed.caller_role,
                "role_label": Role(listed.caller_role).label,
                "seq": listed.seq,
                "read_seq": listed.caller_read_seq,
                "unread": listed.unread,
            }
            for listed in selectors.rooms_with_role(user=request.user).order_by("slug")
        ],
        "room": None,
        "max_body_chars": settings.CHAT_MAX_BODY_CHARS,
        # What each close and error code asks of the page (app.js reads it; no copy there).
        "protocol_guide": client_guide(subprotocol=SUBPROTOCOL_V3),
        "chat_config": _script_config(request),
    }
    if membership is None:
        return context
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
    context.update(
        room=membership.room,
        role=role,
        role_label=membership.get_role_display(),
        can_send=permissions.can_send(role),
        messages_recent=recent,
    )
    return context


def _script_config(request: HttpRequest) -> dict:
    """What the page's script is told: who is logged in, URLs by slug, the per-user frame budgets,
    and what each role may do. Live messages and role changes arrive after the render: the
    script gets the answers the rules are made of instead of knowing them."""
    return {
        "username": request.user.get_username(),
        "home_url": reverse("chat:room-list"),
        "room_url": reverse("chat:room-detail", kwargs={"slug": SLUG_PLACEHOLDER}),
        "history_url": reverse("api-messages", kwargs={"slug": SLUG_PLACEHOLDER}),
        "login_url": reverse("login"),
        "frame_budgets": {
            "messages": {
                "capacity": settings.CHAT_RATE_LIMIT_MESSAGES,
                "per_seconds": settings.CHAT_RATE_LIMIT_SECONDS,
            },
            "rooms": {
                "capacity": settings.CHAT_RATE_LIMIT_ROOM_COMMANDS,
                "per_seconds": settings.CHAT_RATE_LIMIT_ROOM_SECONDS,
            },
        },
        "roles": {
            role.value: {
                "label": role.label,
                "can_send": permissions.can_send(role),
                "can_delete_own": permissions.can_delete_own_messages(role),
                "can_delete_others": permissions.can_delete_others_messages(role),
            }
            for role in Role
        },
    }


@require_GET
def protocol_guide(request: HttpRequest) -> JsonResponse:
    """``/protocol.json``: what a client should do after each close and error code, and the
    protocol name to offer; public, like the protocol itself (docs/codes.md)."""
    return JsonResponse(client_guide(subprotocol=SUBPROTOCOL))
