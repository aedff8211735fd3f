"""A small blocking RESP2 client over a raw socket, with pipelining.

Only what the harness needs: send commands (one or a batch), read replies.
Replies decode as: simple string -> str, error -> RespError (returned, not
raised, so a pipeline keeps its order), integer -> int, bulk -> bytes or None,
array -> list or None. RESP3 null (`_`) is accepted as None for robustness.
"""

from __future__ import annotations

import socket


class RespError(Exception):
    """An error reply from the server (`-ERR ...`)."""


class ProtocolError(Exception):
    """The server sent bytes that are not RESP, or closed the connection."""


def encode(*args: bytes | str | int) -> bytes:
    """Encode one command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


class Reader:
    """Incremental RESP reply reader over a socket."""

    def __init__(self, sock: socket.socket, recv_size: int = 1 << 16) -> None:
        self._sock = sock
        self._buf = bytearray()
        self._pos = 0
        self._recv_size = recv_size

    def _fill(self) -> None:
        if self._pos > (1 << 20):
            del self._buf[: self._pos]
            self._pos = 0
        chunk = self._sock.recv(self._recv_size)
        if not chunk:
            raise ProtocolError("connection closed by server")
        self._buf += chunk

    def _line(self) -> bytes:
        while True:
            end = self._buf.find(b"\r\n", self._pos)
            if end >= 0:
                line = bytes(self._buf[self._pos : end])
                self._pos = end + 2
                return line
            self._fill()

    def _exact(self, n: int) -> bytes:
        while len(self._buf) - self._pos < n + 2:
            self._fill()
        data = bytes(self._buf[self._pos : self._pos + n])
        if self._buf[self._pos + n : self._pos + n + 2] != b"\r\n":
            raise ProtocolError("bulk string not terminated by CRLF")
        self._pos += n + 2
        return data

    def read(self):
        """Read one reply."""
        line = self._line()
        if not line:
            raise ProtocolError("empty reply line")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode(errors="replace")
        if kind == b"-":
            return RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        if kind == b"_":
            return None
        raise ProtocolError(f"unexpected reply type {line[:20]!r}")

    def read_many(self, count: int) -> list:
        return [self.read() for _ in range(count)]


class Client:
    """One connection to a Redis-protocol server."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = Reader(self.sock)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def call(self, *args):
        """Send one command and return its reply (errors are returned, not raised)."""
        self.sock.sendall(encode(*args))
        return self.reader.read()

    def call_ok(self, *args):
        """Like call, but raise on an error reply."""
        reply = self.call(*args)
        if isinstance(reply, RespError):
            raise reply
        return reply

    def pipeline(self, commands: list[tuple]) -> list:
        self.sock.sendall(b"".join(encode(*c) for c in commands))
        return self.reader.read_many(len(commands))


def parse_info(text: bytes | str | None) -> dict[str, str]:
    """Parse an INFO reply into a flat {field: value} dict."""
    if text is None:
        return {}
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    fields = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields
