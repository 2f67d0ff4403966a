"""config.server_shims on fakes: close codes, closing sockets, backlog bound, drain."""

from pprint import pformat

import pytest

from config import drain, server_shims
from config.forwarded import forwarded_client
from config.server_shims import server_close, server_send, unsent_bytes
from realtime.close_codes import CloseCode


class FakeTransport:
    def __init__(self, buffered: int = 0, lower=None) -> None:
        self.dataBuffer = b"x" * buffered
        self._tempDataLen = 0
        if lower is not None:
            self.transport = lower


class FakeProtocol:
    STATE_OPEN, STATE_CLOSING, STATE_CLOSED = 1, 2, 3

    def __init__(self, transport=None, state: int = 1) -> None:
        self.transport = transport or FakeTransport()
        self.state = state
        self.client_addr = ("127.0.0.1", 1234)
        self.calls: list = []

    def sendCloseFrame(self, code, isReply):
        self.calls.append(("close_frame", code))

    def dropConnection(self, abort):
        self.calls.append(("drop", abort))


def original_close(protocol, code=None):
    protocol.calls.append(("close", code))


def original_send(protocol, content, binary):
    protocol.calls.append(("send", content))


@pytest.mark.parametrize("code", [1009, 1011, 1012, 1013, CloseCode.TRY_AGAIN_LATER])
def test_server_codes_autobahn_refuses_go_out_as_close_frames(code):
    protocol = FakeProtocol()
    server_close(protocol, original_close, code)
    assert protocol.calls == [("close_frame", int(code))]
    assert type(protocol.calls[0][1]) is int


def test_application_codes_go_through_daphne_as_plain_ints():
    protocol = FakeProtocol()
    server_close(protocol, original_close, CloseCode.UNAUTHENTICATED)
    assert protocol.calls == [("close", 4001)]
    assert type(protocol.calls[0][1]) is int


@pytest.mark.parametrize("state", [FakeProtocol.STATE_CLOSING, FakeProtocol.STATE_CLOSED])
def test_sends_to_a_closing_socket_are_dropped(state):
    protocol = FakeProtocol(state=state)
    server_send(protocol, original_send, "hi", False, max_backlog=100)
    assert protocol.calls == []


def test_a_reader_that_never_reads_is_aborted_past_the_backlog():
    protocol = FakeProtocol(FakeTransport(buffered=101))
    server_send(protocol, original_send, "hi", False, max_backlog=100)
    assert protocol.calls == [("drop", True)]


def test_a_reader_within_the_backlog_gets_the_frame():
    protocol = FakeProtocol(FakeTransport(buffered=100))
    server_send(protocol, original_send, "hi", False, max_backlog=100)
    assert protocol.calls == [("send", "hi")]


def test_tls_backlog_counts_the_tcp_transport_below_once():
    from twisted.protocols.tls import TLSMemoryBIOProtocol

    # Twisted's wrapper answers for its transport's fields: counted once, at the bottom.
    wrapper = TLSMemoryBIOProtocol(None, FakeProtocol())
    wrapper.transport = FakeTransport(buffered=42)
    assert unsent_bytes(wrapper) == 42


class FakeInstance:
    finished = False

    def done(self) -> bool:
        return self.finished


class FakeServer:
    def __init__(self, connections) -> None:
        self.connections = {c: {"application_instance": FakeInstance()} for c in connections}
        self.drain_ports = [FakePort()]
        self.killed = False


class FakePort:
    listening = True

    def stopListening(self):
        self.listening = False


def kill(server):
    server.killed = True


class FakeClock:
    def __init__(self) -> None:
        self.now, self.pending = 0.0, []

    def call_later(self, delay, function, *args):
        self.pending.append((self.now + delay, lambda: function(*args)))

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [job for job in self.pending if job[0] <= self.now]
        self.pending = [job for job in self.pending if job[0] > self.now]
        for _, function in due:
            function()


def drain_with(server, clock, monkeypatch, grace=2.0, spread=0.0):
    monkeypatch.setattr(drain, "open_websockets", lambda connections: list(connections))
    return drain.drain(
        server, kill, close_code=1012, grace_seconds=grace, spread_seconds=spread,
        clock=lambda: clock.now, call_later=clock.call_later,
    )  # fmt: skip


def closed_count(sockets) -> int:
    return sum(("close_frame", 1012) in s.calls for s in sockets)


def test_drain_sends_1012_in_even_batches_across_the_spread(monkeypatch):
    sockets = [FakeProtocol() for _ in range(100)]
    server, clock = FakeServer(sockets), FakeClock()
    drain_with(server, clock, monkeypatch, spread=0.5)  # 10 ticks of 0.05 s: 10 a tick
    counts = [closed_count(sockets)]
    for _ in range(12):
        clock.advance(0.05)
        counts.append(closed_count(sockets))
    assert counts == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 100, 100, 100]
    assert all(s.calls == [("close_frame", 1012)] for s in sockets)  # each once


def test_drain_spread_skips_sockets_that_closed_meanwhile(monkeypatch):
    sockets = [FakeProtocol() for _ in range(4)]
    server, clock = FakeServer(sockets), FakeClock()
    drain_with(server, clock, monkeypatch, spread=0.1)  # 2 ticks: 2, then 2
    sockets[3].state = FakeProtocol.STATE_CLOSED  # its client left before its batch
    clock.advance(0.05)
    assert [closed_count([s]) for s in sockets] == [1, 1, 1, 0]


def test_drain_without_a_spread_closes_every_socket_at_once(monkeypatch):
    sockets = [FakeProtocol() for _ in range(7)]
    server, clock = FakeServer(sockets), FakeClock()
    drain_with(server, clock, monkeypatch, spread=0.0)
    assert closed_count(sockets) == 7


def test_drain_stops_listening_sends_1012_and_kills_once_all_finished(monkeypatch):
    sockets = [FakeProtocol(), FakeProtocol()]
    server, clock = FakeServer(sockets), FakeClock()
    drain_with(server, clock, monkeypatch)
    assert not server.drain_ports[0].listening
    assert all(s.calls == [("close_frame", 1012)] for s in sockets)
    assert not server.killed  # still waiting for the closing handshakes
    instances = [details["application_instance"] for details in server.connections.values()]
    instances[0].finished = True
    clock.advance(0.05)
    assert not server.killed  # one application (a socket, a request in flight) still runs
    instances[1].finished = True
    clock.advance(0.05)
    assert server.killed


def test_drain_gives_up_on_silent_clients_after_the_grace(monkeypatch):
    server, clock = FakeServer([FakeProtocol()]), FakeClock()
    drain_with(server, clock, monkeypatch, grace=1.0)
    for _ in range(19):
        clock.advance(0.05)
    assert not server.killed
    clock.advance(0.1)
    assert server.killed


def test_autobahn_formats_its_handshake_options_only_for_a_written_line():
    from autobahn.websocket import protocol

    options = [("openHandshakeTimeout", 5, "Factory"), ("autoPingInterval", 0, "Factory")]
    server_shims._patch_autobahn()  # as config.asgi does at startup; twice changes nothing
    server_shims._patch_autobahn()
    deferred = protocol.pformat(options)
    assert isinstance(deferred, server_shims.DeferredText)
    assert str(deferred) == pformat(options)
    assert f"\n{deferred}" == "\n" + pformat(options)  # Twisted's formatting
    assert protocol.pformat.deferred is pformat


@pytest.mark.parametrize(
    "module_name", ["autobahn.websocket.protocol", "autobahn.twisted.websocket"]
)
def test_autobahn_colours_a_frames_log_arguments_only_for_a_written_line(module_name):
    import importlib

    from autobahn import util

    module = importlib.import_module(module_name)
    server_shims._patch_autobahn()
    method = FakeProtocol.sendCloseFrame
    for name, value in (("hlval", 1234), ("hltype", method)):
        text = getattr(module, name)(value)
        assert isinstance(text, server_shims.DeferredText)  # an object: nothing coloured yet
        assert f"{text}" == getattr(util, name)(value)


def test_an_autobahn_that_formats_differently_is_refused(monkeypatch):
    from autobahn.twisted import websocket

    server_shims._patch_autobahn()
    monkeypatch.setattr(websocket, "hltype", lambda obj: "renamed")
    with pytest.raises(server_shims.ServerShimError, match="hltype"):
        server_shims._patch_autobahn()


# Shim 8: the access log's path ----------------------------------------------------------------


def test_access_log_details_lose_the_credential_and_keep_the_rest():
    details = {"path": "/healthz?x=1&token=SECRET", "status": 200, "client": "1.2.3.4:5"}
    redacted = server_shims.redacted_details(details)
    assert redacted == {**details, "path": "/healthz?x=1&token=[redacted]"}
    assert details["path"].endswith("SECRET")  # daphne's own dict is left alone


def test_access_log_details_without_a_credential_are_passed_as_they_are():
    details = {"path": "/api/rooms/?page=2", "status": 200}
    assert server_shims.redacted_details(details) is details


# Shim 10: the client address under --proxy-headers ---------------------------------------------


class Peer:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port


class PeerTransport:
    def getPeer(self):
        return Peer("10.0.0.1", 4000)


class ForwardedProtocol:
    transport = PeerTransport()


def rule(count: int):
    from accounts.addresses import client_address

    return lambda peer, forwarded: client_address(peer, forwarded, trusted_proxies=count)


def forwarded_scope(*values: str) -> dict:
    # What daphne --proxy-headers leaves: the leftmost entry as the client.
    return {
        "client": ["6.6.6.6", 443],
        "headers": [(b"x-forwarded-for", value.encode()) for value in values],
    }


def test_with_no_trusted_proxy_the_forwarded_header_is_ignored():
    scope = forwarded_scope("6.6.6.6, 192.0.2.9")
    assert forwarded_client(ForwardedProtocol(), scope, rule(0)) == ["10.0.0.1", 4000]


def test_with_one_trusted_proxy_the_rightmost_entry_is_the_client():
    scope = forwarded_scope("6.6.6.6", "192.0.2.9")  # repeated headers count as one list
    assert forwarded_client(ForwardedProtocol(), scope, rule(1)) == ["192.0.2.9", 443]


def test_a_unix_socket_peer_with_no_trusted_proxy_has_no_client():
    class UnixTransport:
        def getPeer(self):
            return object()  # a UNIXAddress has no host

    class UnixProtocol:
        transport = UnixTransport()

    scope = forwarded_scope("6.6.6.6")
    assert forwarded_client(UnixProtocol(), scope, rule(0)) is None


# Shim 11: a socket autobahn refused before daphne saw it ---------------------------------------


def test_only_sockets_that_reached_daphnes_on_connect_are_cleaned_up():
    protocol = FakeProtocol()
    assert not server_shims.reached_server(protocol)
    protocol.server = object()
    assert server_shims.reached_server(protocol)


def test_drain_spread_keeps_to_the_clock_when_its_timers_run_late(monkeypatch):
    # A process busy closing sockets runs its timers late: a late tick closes what fell due
    # meanwhile, so nothing piles up for the end of the spread.
    sockets = [FakeProtocol() for _ in range(100)]
    server, clock = FakeServer(sockets), FakeClock()
    drain_with(server, clock, monkeypatch, grace=2.0, spread=1.0)
    assert closed_count(sockets) == 5  # 20 ticks of 5
    clock.advance(0.3)  # one timer 0.25 s late: what was due by 0.35 s
    assert closed_count(sockets) == 35
    for _ in range(13):  # on time again: 5 a tick
        clock.advance(0.05)
    assert closed_count(sockets) == 100  # t = 0.95: the spread's last tick
    assert all(s.calls == [("close_frame", 1012)] for s in sockets)  # each once
    assert not server.killed


def test_drain_runs_its_hooks_once_before_the_first_1012_even_past_a_failing_one(monkeypatch):
    sockets, seen = [FakeProtocol() for _ in range(3)], []

    def broken() -> None:
        raise RuntimeError("a hook's bug")

    monkeypatch.setattr(drain, "ON_DRAIN", [broken, lambda: seen.append(closed_count(sockets))])
    server, clock = FakeServer(sockets), FakeClock()
    drain_with(server, clock, monkeypatch)
    assert seen == [0]  # before any socket heard its 1012
    assert closed_count(sockets) == 3


def test_drain_logs_how_even_its_wave_was(monkeypatch, caplog):
    sockets = [FakeProtocol() for _ in range(100)]
    server, clock = FakeServer(sockets), FakeClock()
    with caplog.at_level("INFO", logger="config.server_shims"):
        drain_with(server, clock, monkeypatch, grace=2.0, spread=1.0)
        for _ in range(6):  # on time: 5 a tick, two ticks per 100 ms
            clock.advance(0.05)
        clock.advance(0.5)  # t = 0.8, a tick 0.45 s late: the 50 that fell due meanwhile
        for _ in range(3):  # t = 0.85, in the same 100 ms: 5 more
            clock.advance(0.05)
    assert closed_count(sockets) == 100
    assert "1012 sent to 100 sockets in 0.95 s; busiest 100 ms: 55" in caplog.text


def test_drain_spread_timer_that_misses_the_whole_spread_closes_everything_left(monkeypatch):
    sockets = [FakeProtocol() for _ in range(100)]
    server, clock = FakeServer(sockets), FakeClock()
    drain_with(server, clock, monkeypatch, grace=2.0, spread=1.0)
    assert closed_count(sockets) == 5
    clock.advance(1.2)  # the next tick, 1.15 s late: past the spread, in the grace
    assert closed_count(sockets) == 100
    assert all(s.calls == [("close_frame", 1012)] for s in sockets)
    assert not server.killed  # the grace is for the closing handshakes
