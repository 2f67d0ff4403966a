"""config.twisted_writes (shim 13) on Twisted's real TCP transport over a real socket pair; the
reactor is a recorder, so each test says exactly when Twisted was asked to watch the socket."""

import socket
import time

import pytest
from twisted.internet import main, tcp, unix
from twisted.protocols.tls import TLSMemoryBIOProtocol

from config import twisted_writes
from config.shim_versions import ServerShimError
from config.twisted_writes import EAGER, send_eagerly, unsent_bytes


class RecordingReactor:
    def __init__(self) -> None:
        self.writers: set = set()
        self.watch_requests = 0

    def addReader(self, reader) -> None:
        pass

    def removeReader(self, reader) -> None:
        pass

    def addWriter(self, writer) -> None:
        self.watch_requests += 1
        self.writers.add(writer)

    def removeWriter(self, writer) -> None:
        self.writers.discard(writer)


class Protocol:
    def makeConnection(self, transport) -> None:
        pass


def tcp_pair(reactor):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client_end = socket.create_connection(listener.getsockname())
        server_end, _ = listener.accept()
    return tcp.Server(server_end, Protocol(), ("127.0.0.1", 5000), None, 1, reactor), client_end


def unix_pair(reactor):  # the production layout: daphne -u behind nginx
    server_end, client_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return unix.Server(server_end, Protocol(), "daphne.sock", None, 1, reactor), client_end


@pytest.fixture(params=[tcp_pair, unix_pair], ids=["tcp", "unix"])
def pair(request):
    reactor = RecordingReactor()
    transport, client_end = request.param(reactor)
    client_end.settimeout(2)
    yield transport, client_end, reactor
    transport.socket.close()
    client_end.close()


def assert_nothing_arrived(client_end) -> None:
    client_end.setblocking(False)
    with pytest.raises(BlockingIOError):
        client_end.recv(10)


def in_twisted(transport) -> int:
    """What waits in Twisted's own buffer (``unsent_bytes`` adds the kernel's queue)."""
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


def received(client_end, size: int) -> bytes:
    data = b""
    while len(data) < size:
        data += client_end.recv(size - len(data))
    return data


def fill_kernel(transport) -> int:
    """Write until the kernel takes no more; the bytes it took."""
    chunk, taken = b"f" * 65536, 0
    while True:
        try:
            taken += transport.socket.send(chunk)
        except BlockingIOError:
            return taken


def test_a_frame_reaches_the_peer_without_the_reactor(pair):
    transport, client_end, reactor = pair
    assert send_eagerly(transport)
    transport.write(b"frame-1")
    transport.write(b"frame-2")
    assert received(client_end, 14) == b"frame-1frame-2"
    assert reactor.watch_requests == 0
    assert unsent_bytes(transport) == 0


def test_twisted_alone_waits_for_the_reactor(pair):
    transport, client_end, reactor = pair
    transport.write(b"frame-1")  # the stock transport: buffered until the socket is writable
    assert reactor.watch_requests == 1
    assert in_twisted(transport) == 7
    assert_nothing_arrived(client_end)


def test_what_the_kernel_does_not_take_waits_in_twisteds_buffer_in_order(pair):
    transport, client_end, reactor = pair
    send_eagerly(transport)
    taken = fill_kernel(transport)
    transport.write(b"A" * 1000)
    transport.write(b"B" * 10)  # must not overtake the A's
    assert in_twisted(transport) == 1010
    assert reactor.writers == {transport}
    assert received(client_end, taken) == b"f" * taken
    while in_twisted(transport):
        assert transport.doWrite() is None
    assert received(client_end, 1010) == b"A" * 1000 + b"B" * 10
    assert reactor.writers == set()


def test_a_partial_send_keeps_only_the_rest(pair):
    transport, client_end, _reactor = pair
    send_eagerly(transport)
    frame = bytes(range(256)) * 40_000  # larger than any socket buffer: the kernel takes a part
    transport.write(frame)
    assert 0 < in_twisted(transport) < len(frame)
    data = b""
    while len(data) < len(frame):
        data += client_end.recv(1 << 20)
        transport.doWrite()
    assert data == frame


@pytest.mark.parametrize("state", ["disconnecting", "_writeDisconnected", "_aborting"])
def test_a_closing_transport_keeps_twisteds_order(pair, state):
    transport, client_end, _reactor = pair
    send_eagerly(transport)
    setattr(transport, state, True)
    transport.write(b"late")
    assert_nothing_arrived(client_end)


def test_a_reset_peer_is_left_to_twisteds_error_path(pair):
    transport, client_end, _reactor = pair
    send_eagerly(transport)
    client_end.close()
    transport.write(b"x")  # TCP: the kernel takes it and the peer answers with a reset
    for _ in range(200):
        transport.write(b"y")  # raises nothing here, whatever the kernel says
        if in_twisted(transport):
            break
        time.sleep(0.01)
    assert in_twisted(transport) > 0, "the refused bytes wait for Twisted's doWrite"
    assert transport.doWrite() is main.CONNECTION_LOST


def test_non_bytes_are_refused_as_twisted_refuses_them(pair):
    transport, _, _ = pair
    send_eagerly(transport)
    with pytest.raises(TypeError):
        transport.write("text")


def test_only_a_plain_open_socket_transport_is_changed(pair):
    transport, _, _ = pair
    stock = type(transport)
    assert not send_eagerly(object())
    transport.disconnecting = True
    assert not send_eagerly(transport)
    assert type(transport) is stock
    transport.disconnecting = False
    assert send_eagerly(transport)
    assert type(transport) is EAGER[stock]
    assert isinstance(transport, stock)
    assert not send_eagerly(transport)  # already changed


def test_under_tls_the_sockets_own_transport_writes_at_once(pair):
    transport, _, _ = pair
    stock = type(transport)
    wrapper = TLSMemoryBIOProtocol(None, Protocol())
    wrapper.transport = transport  # as TLS endpoints stack them
    assert send_eagerly(wrapper)
    assert type(transport) is EAGER[stock]
    assert type(wrapper) is TLSMemoryBIOProtocol


def test_file_descriptors_queued_on_a_unix_socket_keep_twisteds_path():
    reactor = RecordingReactor()
    transport, client_end = unix_pair(reactor)
    send_eagerly(transport)
    transport._sendmsgQueue.append(0)  # as sendFileDescriptor() leaves it
    transport.write(b"with-fd")
    assert in_twisted(transport) == 7
    transport.socket.close()
    client_end.close()


def test_a_twisted_without_the_fields_read_here_is_refused(monkeypatch):
    twisted_writes.check_twisted_fields()  # the installed release has them
    monkeypatch.setattr(twisted_writes, "TRANSPORT_FIELDS", ("dataBuffer", "_renamedBuffer"))
    with pytest.raises(ServerShimError, match="_renamedBuffer"):
        twisted_writes.check_twisted_fields()


def test_the_backlog_counts_what_the_kernel_holds_for_a_reader_that_does_not_read():
    """Shim 13 fills the kernel's queue before Twisted's buffer, so shim 3's bound must see both:
    on a unix socket every byte the peer has not read is in the send queue."""
    reactor = RecordingReactor()
    transport, client_end = unix_pair(reactor)
    send_eagerly(transport)
    transport.write(b"z" * 3000)
    assert in_twisted(transport) == 0  # all of it in the kernel, which charges its own overhead
    held = unsent_bytes(transport)
    assert held >= 3000
    received(client_end, 3000)
    assert unsent_bytes(transport) == 0 < held
    transport.socket.close()
    client_end.close()


def test_a_tcp_reader_that_stopped_reading_shows_in_the_backlog(pair):
    transport, _client_end, _reactor = pair
    send_eagerly(transport)
    taken = fill_kernel(transport)
    transport.write(b"B" * 1000)
    assert in_twisted(transport) == 1000
    assert unsent_bytes(transport) > 1000  # and what the kernel still holds
    assert taken > 0


def test_a_closed_socket_counts_only_twisteds_buffer(pair):
    transport, _, _ = pair
    transport.write(b"queued")  # the stock transport: buffered
    transport.socket.close()
    assert unsent_bytes(transport) == 6


def test_without_the_linux_ioctl_only_twisteds_buffer_counts(pair, monkeypatch):
    transport, _, _ = pair
    send_eagerly(transport)
    fill_kernel(transport)
    transport.write(b"B" * 1000)
    monkeypatch.setattr(twisted_writes, "SEND_QUEUE_IOCTL", None)
    assert unsent_bytes(transport) == 1000
