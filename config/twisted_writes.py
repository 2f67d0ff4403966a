"""What the shims read and change in Twisted's TCP transport: its unsent bytes (shim 3's bound)
and when a WebSocket frame reaches the kernel (shim 13).

Shim 13. Twisted's TCP transport never writes in ``write()``: it appends the bytes to its buffer
and asks the reactor to watch the socket for writability. On daphne's asyncio reactor that is an
``add_writer`` (an epoll change and a handle), a loop turn, a ``doWrite`` through
``callWithLogger``, the ``send()``, and a ``remove_writer`` (a second epoll change), for every
frame to every socket, although a socket that keeps up always has room in its kernel buffer.
Under fan-out that bookkeeping was a fifth of the server's samples in a sampling profile.

An upgraded WebSocket's transport now tries the ``send()`` at once when nothing waits before it
and hands Twisted only what the kernel did not take; from there on it is Twisted's own path
(buffer, writability, the backlog bound, ``loseConnection`` flushing first). Order is kept: with
anything buffered, a write joins the buffer. Only WebSockets get this, on TCP (under TLS too)
and on unix sockets (the production layout): autobahn turns Nagle's algorithm off on a TCP
socket, so a small frame is never held back for an acknowledgement, while a plain HTTP response
still leaves in one coalesced write.
"""

import fcntl
import sys
import termios

from twisted.internet import tcp, unix
from twisted.internet.abstract import FileDescriptor
from twisted.protocols.policies import ProtocolWrapper

from .shim_versions import ServerShimError

# The transport fields the two shims read; check_twisted_fields() refuses a Twisted without them.
TRANSPORT_FIELDS = (
    "dataBuffer", "offset", "_tempDataLen", "_writeDisconnected", "disconnecting", "connected",
)  # fmt: skip


# Linux's SIOCOUTQ: the bytes in a socket's send queue that the peer has not yet acknowledged
# (TCP) or read (a unix socket). Elsewhere (a developer's macOS, where the same number is a
# terminal's ioctl) only the process's own buffer counts.
SEND_QUEUE_IOCTL = termios.TIOCOUTQ if sys.platform.startswith("linux") else None
_INT = bytes(4)


def kernel_unsent(sock) -> int:
    if SEND_QUEUE_IOCTL is None:
        return 0
    try:
        return int.from_bytes(fcntl.ioctl(sock.fileno(), SEND_QUEUE_IOCTL, _INT), sys.byteorder)
    except (OSError, ValueError):  # closed meanwhile
        return 0


def socket_transport(transport):
    """The transport that owns the socket. A wrapper (TLS) hands its bytes down, encrypted, and
    answers for its transport's fields (``ProtocolWrapper.__getattr__``): both shims act on the
    one below, once."""
    while isinstance(transport, ProtocolWrapper):
        transport = transport.transport
    return transport


def unsent_bytes(transport) -> int:
    """Bytes written to a Twisted transport that its client has not taken: the buffer of the
    socket's own transport and, under it, the kernel's send queue (shim 13 fills that first)."""
    transport = socket_transport(transport)
    buffered = len(getattr(transport, "dataBuffer", b"")) - getattr(transport, "offset", 0)
    buffered += getattr(transport, "_tempDataLen", 0)
    sock = getattr(transport, "socket", None)
    return buffered + (kernel_unsent(sock) if sock is not None else 0)


def check_twisted_fields() -> None:
    probe = FileDescriptor(reactor=object())
    missing = [name for name in TRANSPORT_FIELDS if not hasattr(probe, name)]
    missing += [name for name in ("_aborting",) if not hasattr(tcp.Server, name)]  # TCP's own
    if missing:
        raise ServerShimError(
            f"Twisted's transport no longer has {', '.join(missing)}: the "
            "unsent-backlog bound and the eager write in config/twisted_writes.py cannot work."
        )


class EagerWrites:
    """``write()`` that sends at once when nothing is buffered; mixed into Twisted's servers."""

    def write(self, data: bytes) -> None:
        if (
            self._tempDataLen
            or len(self.dataBuffer) > self.offset
            or type(data) is not bytes
            or not data
            or not self.connected
            or self.disconnecting
            or self._writeDisconnected
            or self._aborting
            or getattr(self, "_sendmsgQueue", None)  # file descriptors go with the buffer
        ):
            super().write(data)  # Twisted's own checks, buffering and errors
            return
        try:
            sent = self.socket.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            # A reset or a broken pipe: Twisted's doWrite meets the same error on its try and
            # closes the connection the way it always does.
            sent = 0
        if sent < len(data):
            super().write(data[sent:])


class EagerTCPServer(EagerWrites, tcp.Server):
    pass


class EagerUnixServer(EagerWrites, unix.Server):
    """The production layout's transport: daphne on a unix socket behind nginx."""


EAGER = {tcp.Server: EagerTCPServer, unix.Server: EagerUnixServer}


def send_eagerly(transport) -> bool:
    """Give an open socket's transport the eager ``write()``: under a TLS wrapper, the socket's
    own transport, which gets the encrypted frames. Any other transport (another reactor's, one
    closing) is left as it is: ``False``."""
    transport = socket_transport(transport)
    eager = EAGER.get(type(transport))
    if eager is None or transport.disconnecting:
        return False
    transport.__class__ = eager
    return True
