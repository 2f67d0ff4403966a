"""Fixtures of the wire tests; the live-server helpers are in ``tests/live.py``."""

import pytest


@pytest.fixture
def lobby_users(lobby):
    """The demo's users (alice owner, bob member, dave reader, carol outside), committed."""
    return lobby[1]


@pytest.fixture
def tokens(lobby_users):
    """Access tokens of alice (owner) and bob (member) of lobby."""
    from ..tokens import access_token

    return access_token(lobby_users["alice"]), access_token(lobby_users["bob"])
