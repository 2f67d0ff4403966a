"""Shim 10 of ``config.server_shims``: the client address of a request or socket behind
``--proxy-headers``, read by the project's one rule instead of daphne's leftmost entry."""

from collections.abc import Callable

ClientAddressRule = Callable[[str | None, str | None], str | None]


def peer_of(protocol) -> list | None:
    """The TCP peer ``[host, port]`` of a daphne HTTP request or WebSocket protocol (None on a
    unix socket)."""
    peer = getattr(protocol, "client", None)  # twisted.web Request
    if peer is None and getattr(protocol, "transport", None) is not None:
        peer = protocol.transport.getPeer()
    if hasattr(peer, "host") and hasattr(peer, "port"):
        return [str(peer.host), peer.port]
    return None


def scope_header(scope: dict, name: bytes) -> str | None:
    """Every value of header ``name`` in an ASGI scope, joined with commas as RFC 9110 joins
    repeated fields."""
    values = [value.decode("latin-1") for key, value in scope.get("headers", ()) if key == name]
    return ",".join(values) if values else None


def forwarded_client(protocol, scope: dict, rule: ClientAddressRule) -> list | None:
    """Shim 10: the scope's ``client`` under ``--proxy-headers``, by the project's address rule
    (``rule(peer_host, x_forwarded_for)``) rather than daphne's leftmost entry."""
    peer = peer_of(protocol)
    address = rule(peer[0] if peer else None, scope_header(scope, b"x-forwarded-for"))
    if address is None:
        return None
    if peer is not None and address == peer[0]:
        return peer
    daphne_client = scope.get("client")
    return [address, daphne_client[1] if daphne_client else 0]
