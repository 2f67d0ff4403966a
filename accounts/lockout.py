"""Login lockout: which logins django-axes refuses, until when, and the answer they get.

axes counts failed passwords per (username, client address) pair (``AXES_LOCKOUT_PARAMETERS``),
so wrong passwords typed for one name lock that name from that address and nothing else:
everyone else behind the same office NAT keeps logging in, and the owner of the name keeps
logging in from their own address. An address gets a limit of its own on top,
``LOGIN_FAILURE_LIMIT_PER_ADDRESS``, far above the per-pair one, so one address cannot try a
few passwords against every name. Both limits count the same database rows, over the same
cool-off, at every login door (the HTML form, the admin, the API token endpoint).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from .addresses import request_client_address


@dataclass(frozen=True)
class Lockout:
    """A refusal in force: what it covers and when it ends."""

    scope: Literal["account", "address"]  # this name from this address, or every name
    username: str
    ends_at: datetime

    def seconds_left(self, now: datetime | None = None) -> int:
        left = (self.ends_at - (now or timezone.now())).total_seconds()
        return max(1, math.ceil(left))


def _cool_off() -> timedelta:
    return get_cool_off() or timedelta(0)


def _recent(address: str | None, since: datetime):
    return AccessAttempt.objects.filter(ip_address=address, attempt_time__gte=since)


def address_failures(address: str | None, since: datetime) -> int:
    """Failed passwords from ``address`` since ``since``, for any name."""
    total = _recent(address, since).aggregate(total=Sum("failures_since_start"))["total"]
    return total or 0


def _ends_at(attempts, limit: int, cool_off: timedelta) -> datetime | None:
    """When fewer than ``limit`` failures will be left within the cool-off.

    A row (one username, address and user agent) counts while its latest failure is younger
    than the cool-off, so the lock lasts until enough rows have aged out: newest first, the row
    that brings the sum to the limit is the last one whose ageing still matters.
    """
    total = 0
    for attempt_time, failures in attempts.order_by("-attempt_time").values_list(
        "attempt_time", "failures_since_start"
    ):
        total += failures
        if total >= limit:
            return attempt_time + cool_off
    return None


def lockout_for(request: HttpRequest, username: str | None) -> Lockout | None:
    """The lockout refusing ``username`` from this request's address now, if any.

    The per-address lock wins when both hold: it is the one that ends later or covers more.
    """
    cool_off = _cool_off()
    since = timezone.now() - cool_off
    address = request_client_address(request)
    recent = _recent(address, since)
    ends = _ends_at(recent, settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS, cool_off)
    if ends is not None:
        return Lockout("address", username or "", ends)
    ends = _ends_at(recent.filter(username=username), settings.LOGIN_FAILURE_LIMIT, cool_off)
    if ends is not None:
        return Lockout("account", username or "", ends)
    return None


class LoginLockoutHandler(AxesDatabaseHandler):
    """axes' database handler with the address's own, higher limit (``AXES_HANDLER``).

    axes compares one count with one limit; the pair's count is its own, and an address past
    ``LOGIN_FAILURE_LIMIT_PER_ADDRESS`` counts as at the limit for every name.
    """

    def get_failures(self, request, credentials: dict | None = None) -> int:
        failures = super().get_failures(request, credentials)
        since = timezone.now() - _cool_off()
        if address_failures(request.axes_ip_address, since) >= (
            settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS
        ):
            return max(failures, get_failure_limit(request, credentials))
        return failures


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """The page a locked-out form or admin login gets (``AXES_LOCKOUT_CALLABLE``): 429, what
    happened and when it ends, with ``Retry-After``."""
    username = get_client_username(request, credentials)
    lockout = lockout_for(request, username) or Lockout(
        "account", username or "", timezone.now() + _cool_off()
    )
    seconds = lockout.seconds_left()
    response = render(
        request,
        "registration/locked_out.html",
        {
            "lockout": lockout,
            "minutes_left": math.ceil(seconds / 60),
            "failure_limit": settings.LOGIN_FAILURE_LIMIT,
        },
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response
