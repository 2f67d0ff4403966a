"""The origin rule of cookie sockets: same origin, host *and* port, or a trusted origin."""

from urllib.parse import urlparse

from django.conf import settings
from django.http.request import split_domain_port, validate_host


def origin_allowed(origin: str, *, host: str | None, scheme: str = "ws") -> bool:
    """Same-origin (Origin's scheme matches the socket's, ``https`` for ``wss`` and ``http`` for
    ``ws``, its host:port equals the Host the socket was opened on, and that host is in
    ``ALLOWED_HOSTS``) or listed exactly in ``CSRF_TRUSTED_ORIGINS``.

    Stricter than channels' ``AllowedHostsOriginValidator``, which ignores ports, so a page on
    ``http://127.0.0.1:9999`` could open sockets to a site on ``127.0.0.1:8000`` with its cookie.
    """
    parsed = urlparse(origin.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return False  # includes the opaque "null" origin of sandboxed pages and file:// URLs
    normalized = f"{parsed.scheme}://{parsed.netloc}".lower()
    if normalized in (trusted.lower() for trusted in settings.CSRF_TRUSTED_ORIGINS):
        return True
    if parsed.scheme != ("https" if scheme in ("wss", "https") else "http"):
        return False  # an https page's cookie must not ride a plain ws:// socket, nor vice versa
    if host is None or parsed.netloc.lower() != host.strip().lower():
        return False
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, _allowed_hosts())


def _allowed_hosts() -> list[str]:
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return ["localhost", "127.0.0.1", "[::1]"]
    return settings.ALLOWED_HOSTS
