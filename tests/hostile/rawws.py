"""A WebSocket client on a bare socket, for what well-behaved client libraries refuse to send:
non-ASCII request targets, invalid UTF-8 in text frames, hand-fragmented messages, ping floods,
byte-by-byte handshakes, and never reading at all.
"""

import base64
import os
import socket
import struct
import time

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def request_bytes(target: bytes, port: int, headers: dict[str, str] | None = None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        b"GET " + target + b" HTTP/1.1",
        f"Host: 127.0.0.1:{port}".encode(),
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}".encode(),
        b"Sec-WebSocket-Version: 13",
        *(f"{name}: {value}".encode() for name, value in (headers or {}).items()),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """One client frame (masked, as RFC 6455 requires of clients)."""
    mask = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | opcode])
    length = len(payload)
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 2**16:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return head + mask + masked


class RawSocket:
    """One connection; ``status`` is the handshake's HTTP status."""

    def __init__(self, port: int, *, rcvbuf: int | None = None, timeout: float = 5) -> None:
        self.sock = socket.socket()
        if rcvbuf is not None:  # before connect, so the window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.port = port
        self.buffer = b""
        self.status: int | None = None

    def handshake(self, target: bytes, headers: dict[str, str] | None = None) -> int:
        self.sock.sendall(request_bytes(target, self.port, headers))
        return self.read_status()

    def read_status(self) -> int:
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                self.status = 0  # the server dropped the connection without answering
                return 0
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ", 2)[1])
        return self.status

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("closed by the server")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def read_frame(self) -> tuple[int, bytes]:
        first, second = self._exactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._exactly(8))
        return first & 0x0F, self._exactly(length)

    def close_code(self, deadline: float = 5) -> int:
        """Read until the server's close frame: its code; 1006 when the TCP connection ends
        without one (what a browser reports)."""
        end = time.monotonic() + deadline
        try:
            while time.monotonic() < end:
                opcode, payload = self.read_frame()
                if opcode == OP_CLOSE:
                    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        except (ConnectionResetError, BrokenPipeError):
            return 1006
        raise TimeoutError("no close within the deadline")

    def text_frames(self, count: int) -> list[bytes]:
        """The next ``count`` text frames' payloads (control frames answered or skipped)."""
        texts: list[bytes] = []
        while len(texts) < count:
            opcode, payload = self.read_frame()
            if opcode == OP_TEXT:
                texts.append(payload)
            elif opcode == OP_CLOSE:
                raise ConnectionResetError(f"closed: {payload[:2].hex()}")
        return texts

    def close(self) -> None:
        self.sock.close()
