"""The client's address, read one way by every per-address rule (login lockout, API throttles,
WebSocket handshake budgets).

``X-Forwarded-For`` is a list each proxy appends to: ``client, proxy1, proxy2``. Only the entries
written by proxies we run can be trusted; anything to their left came from the client. With
``TRUSTED_PROXY_COUNT`` = N proxies in front of the app, the N-th entry from the right is the
address our outermost proxy saw: the client. With N = 0 (the default) the header is ignored.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(
    remote_addr: str | None, forwarded_for: str | None, *, trusted_proxies: int | None = None
) -> str | None:
    """The client's IP address, normalized, or None when there is no usable one.

    ``remote_addr`` is the TCP peer; ``forwarded_for`` the ``X-Forwarded-For`` header (repeated
    headers joined with commas). ``trusted_proxies`` defaults to ``TRUSTED_PROXY_COUNT``. A
    header shorter than N entries, or whose N-th entry from the right is not an IP address, did
    not come through all our proxies: the peer is used then.
    """
    count = settings.TRUSTED_PROXY_COUNT if trusted_proxies is None else trusted_proxies
    if count > 0 and forwarded_for:
        entries = forwarded_for.split(",")
        if len(entries) >= count:
            address = _ip(entries[-count])
            if address is not None:
                return address
    return _ip(remote_addr)


def request_client_address(request: HttpRequest) -> str | None:
    """``client_address`` of a Django or DRF request (``AXES_CLIENT_IP_CALLABLE`` uses it)."""
    return client_address(request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR"))


def _ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        # The zone of a link-local IPv6 address (``fe80::1%eth0``) is not part of the client's
        # identity, and PostgreSQL's inet (axes stores the address) refuses it.
        return str(ipaddress.ip_address(value.strip().partition("%")[0]))
    except ValueError:
        return None
