"""``accounts.addresses.client_address``: the rightmost-N rule every per-address limit uses."""

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.addresses import client_address

PEER = "192.0.2.10"


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (0, None, PEER),
        (0, "203.0.113.5", PEER),  # no proxy: the header is the client's own words
        (0, "203.0.113.5, 198.51.100.1", PEER),
        (1, None, PEER),
        (1, "", PEER),
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "6.6.6.6, 203.0.113.5", "203.0.113.5"),  # forged left part ignored
        (1, "6.6.6.6,203.0.113.5", "203.0.113.5"),
        (2, "6.6.6.6, 203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (2, "203.0.113.5", PEER),  # shorter than the proxy chain: did not come through it
        (1, "6.6.6.6, not-an-ip", PEER),
        (1, "6.6.6.6, 2001:DB8::0001", "2001:db8::1"),  # normalized
        (1, "6.6.6.6,  203.0.113.5  ", "203.0.113.5"),
    ],
)
def test_rightmost_n_rule(count, forwarded, expected):
    assert client_address(PEER, forwarded, trusted_proxies=count) == expected


def test_count_comes_from_the_setting(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_address(PEER, "6.6.6.6, 203.0.113.5") == "203.0.113.5"
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(PEER, "6.6.6.6, 203.0.113.5") == PEER


@pytest.mark.parametrize("peer", [None, "", "unix-socket", "1.2.3.4:5678"])
def test_no_usable_peer_is_none(peer):
    assert client_address(peer, None, trusted_proxies=0) is None


@given(forwarded=st.text(max_size=200), count=st.integers(min_value=0, max_value=3))
def test_a_client_cannot_choose_its_address_beyond_what_proxies_append(forwarded, count):
    """Whatever the client puts in the header, the answer is the peer or one of the last
    ``count`` entries (those our proxies wrote), and always an IP address or None."""
    address = client_address(PEER, forwarded, trusted_proxies=count)
    entries = forwarded.split(",")
    if count == 0 or len(entries) < count:
        assert address == PEER
    else:
        assert address in (PEER, normalized(entries[-count]))


def normalized(entry: str) -> str | None:
    try:
        return str(ipaddress.ip_address(entry.strip().partition("%")[0]))
    except ValueError:
        return None


def test_an_ipv6_zone_is_dropped():
    assert client_address("fe80::1%eth0", None, trusted_proxies=0) == "fe80::1"
