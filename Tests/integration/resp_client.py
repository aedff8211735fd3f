"""A small raw RESP2/RESP3 client for the integration tests.

Replies are parsed into typed values so that the RESP type stays visible:
a simple string ``+OK`` and a bulk string ``$2 OK`` compare unequal, and so
do an integer ``:1`` and a boolean ``#t``. Arguments and payloads are bytes
throughout, so arbitrary binary data goes through unchanged.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Iterable, Sequence, Union

Arg = Union[bytes, str, int, float]


# --------------------------------------------------------------------------
# Reply types. Frozen dataclasses: equal only to the same type with the same
# value, hashable, and readable when printed in an assertion message.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Simple:
    """``+text``"""

    value: bytes


@dataclass(frozen=True)
class Error:
    """``-CODE message`` (and RESP3 blob errors ``!``)."""

    value: bytes

    @property
    def code(self) -> bytes:
        return self.value.split(b" ", 1)[0]

    @property
    def text(self) -> str:
        return self.value.decode("utf-8", "replace")


@dataclass(frozen=True)
class Integer:
    """``:n``"""

    value: int


@dataclass(frozen=True)
class Bulk:
    """``$n`` bulk string."""

    value: bytes


@dataclass(frozen=True)
class Null:
    """A null. ``kind`` is ``"bulk"`` (``$-1``), ``"array"`` (``*-1``) or ``"resp3"`` (``_``)."""

    kind: str


@dataclass(frozen=True)
class Array:
    """``*n``"""

    items: tuple


@dataclass(frozen=True)
class Map:
    """``%n``: pairs kept in wire order."""

    pairs: tuple

    def as_dict(self) -> dict:
        return dict(self.pairs)

    def get(self, key, default=None):
        for k, v in self.pairs:
            if k == key:
                return v
        return default


@dataclass(frozen=True)
class Set:
    """``~n``"""

    items: tuple


@dataclass(frozen=True)
class Double:
    """``,x``: the wire text is kept, so formatting differences are visible."""

    raw: bytes

    @property
    def value(self) -> float:
        return float(self.raw)


@dataclass(frozen=True)
class Boolean:
    """``#t`` / ``#f``"""

    value: bool


@dataclass(frozen=True)
class BigNumber:
    """``(n``"""

    value: int


@dataclass(frozen=True)
class Verbatim:
    """``=n fmt:text``"""

    format: bytes
    value: bytes


@dataclass(frozen=True)
class Push:
    """``>n`` out-of-band push."""

    items: tuple


@dataclass(frozen=True)
class Attribute:
    """``|n`` attribute map followed by the reply it annotates."""

    attributes: "Map"
    reply: object


Reply = Union[Simple, Error, Integer, Bulk, Null, Array, Map, Set, Double, Boolean,
              BigNumber, Verbatim, Push, Attribute]

# Shorthands for writing expected values in tests.
OK = Simple(b"OK")
QUEUED = Simple(b"QUEUED")
NIL = Null("bulk")
NIL3 = Null("resp3")


class ProtocolViolation(Exception):
    """The server sent bytes that are not valid RESP."""


class ConnectionClosed(Exception):
    """The server closed the connection (possibly in the middle of a reply)."""


# --------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------


def to_bytes(arg: Arg) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, bytearray):
        return bytes(arg)
    if isinstance(arg, str):
        return arg.encode("utf-8")
    if isinstance(arg, bool):
        raise TypeError("bool is not a RESP argument")
    if isinstance(arg, (int, float)):
        return repr(arg).encode("ascii")
    raise TypeError(f"cannot encode {type(arg).__name__} as a RESP argument")


def encode_command(args: Sequence[Arg]) -> bytes:
    """One command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = to_bytes(arg)
        parts.append(b"$%d\r\n" % len(data))
        parts.append(data)
        parts.append(b"\r\n")
    return b"".join(parts)


def encode_commands(commands: Iterable[Sequence[Arg]]) -> bytes:
    return b"".join(encode_command(c) for c in commands)


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------


class ReplyReader:
    """Parses replies from a byte source; ``fill()`` must append more bytes or raise."""

    MAX_DEPTH = 64

    def __init__(self, fill):
        self._fill = fill
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        self._buf += data

    def _more(self) -> None:
        if self._pos > 65536 and self._pos > len(self._buf) // 2:
            del self._buf[: self._pos]
            self._pos = 0
        data = self._fill()
        if not data:
            raise ConnectionClosed("connection closed by server")
        self._buf += data

    def _line(self) -> bytes:
        while True:
            end = self._buf.find(b"\r\n", self._pos)
            if end >= 0:
                line = bytes(self._buf[self._pos:end])
                self._pos = end + 2
                return line
            self._more()

    def _exact(self, n: int) -> bytes:
        while len(self._buf) - self._pos < n + 2:
            self._more()
        data = bytes(self._buf[self._pos:self._pos + n])
        if self._buf[self._pos + n:self._pos + n + 2] != b"\r\n":
            raise ProtocolViolation(f"bulk payload of {n} bytes not followed by CRLF")
        self._pos += n + 2
        return data

    @staticmethod
    def _int(text: bytes) -> int:
        try:
            return int(text)
        except ValueError:
            raise ProtocolViolation(f"bad integer {text!r}") from None

    def read(self, depth: int = 0) -> Reply:
        if depth > self.MAX_DEPTH:
            raise ProtocolViolation("reply nested too deeply")
        line = self._line()
        if not line:
            raise ProtocolViolation("empty reply line")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return Simple(rest)
        if kind == b"-":
            return Error(rest)
        if kind == b":":
            return Integer(self._int(rest))
        if kind == b"$":
            n = self._int(rest)
            if n == -1:
                return Null("bulk")
            if n < 0:
                raise ProtocolViolation(f"bad bulk length {n}")
            return Bulk(self._exact(n))
        if kind == b"*":
            n = self._int(rest)
            if n == -1:
                return Null("array")
            if n < 0:
                raise ProtocolViolation(f"bad array length {n}")
            return Array(tuple(self.read(depth + 1) for _ in range(n)))
        if kind == b"_":
            if rest:
                raise ProtocolViolation(f"bad null line {line!r}")
            return Null("resp3")
        if kind == b"%":
            n = self._int(rest)
            pairs = []
            for _ in range(n):
                key = self.read(depth + 1)
                pairs.append((key, self.read(depth + 1)))
            return Map(tuple(pairs))
        if kind == b"~":
            return Set(tuple(self.read(depth + 1) for _ in range(self._int(rest))))
        if kind == b">":
            return Push(tuple(self.read(depth + 1) for _ in range(self._int(rest))))
        if kind == b",":
            return Double(rest)
        if kind == b"#":
            if rest == b"t":
                return Boolean(True)
            if rest == b"f":
                return Boolean(False)
            raise ProtocolViolation(f"bad boolean {line!r}")
        if kind == b"(":
            return BigNumber(self._int(rest))
        if kind == b"!":
            return Error(self._exact(self._int(rest)))
        if kind == b"=":
            data = self._exact(self._int(rest))
            if len(data) < 4 or data[3:4] != b":":
                raise ProtocolViolation(f"bad verbatim string {data[:16]!r}")
            return Verbatim(data[:3], data[4:])
        if kind == b"|":
            n = self._int(rest)
            pairs = []
            for _ in range(n):
                key = self.read(depth + 1)
                pairs.append((key, self.read(depth + 1)))
            return Attribute(Map(tuple(pairs)), self.read(depth + 1))
        raise ProtocolViolation(f"unknown reply type byte in {line[:40]!r}")

    def pending(self) -> bytes:
        """Bytes received but not parsed yet."""
        return bytes(self._buf[self._pos:])


def parse_all(data: bytes) -> list:
    """Parse a complete byte string into a list of replies (for tests of the parser)."""
    chunks = [data]

    def fill():
        return chunks.pop() if chunks else b""

    reader = ReplyReader(fill)
    out = []
    while True:
        try:
            out.append(reader.read())
        except ConnectionClosed:
            if reader.pending():
                raise ProtocolViolation(f"trailing bytes {reader.pending()[:40]!r}")
            return out


# --------------------------------------------------------------------------
# Connection
# --------------------------------------------------------------------------


class RespConnection:
    """A blocking connection. ``timeout`` applies to every socket operation."""

    def __init__(self, host: str = "127.0.0.1", port: int = 6379, timeout: float = 10.0):
        self.host = host
        self.port = port
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = ReplyReader(self._recv)

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(1 << 16)
        except ConnectionResetError:
            return b""

    # Sending -----------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, commands: Iterable[Sequence[Arg]]) -> int:
        """Send commands pipelined in one write; returns how many were sent."""
        commands = list(commands)
        self.sock.sendall(encode_commands(commands))
        return len(commands)

    # Receiving ---------------------------------------------------------

    def read_reply(self) -> Reply:
        return self.reader.read()

    def read_replies(self, n: int) -> list:
        return [self.reader.read() for _ in range(n)]

    def read_until_closed(self, limit: float = 5.0) -> bytes:
        """Everything the server still sends until it closes the connection."""
        old = self.sock.gettimeout()
        self.sock.settimeout(limit)
        chunks = [self.reader.pending()]
        try:
            while True:
                data = self._recv()
                if not data:
                    break
                chunks.append(data)
        finally:
            self.sock.settimeout(old)
        return b"".join(chunks)

    def is_closed_by_peer(self, limit: float = 5.0) -> bool:
        """True if the server closes the connection within ``limit`` seconds
        (any bytes it sends meanwhile are discarded)."""
        try:
            self.read_until_closed(limit)
            return True
        except socket.timeout:
            return False

    # Convenience --------------------------------------------------------

    def pipeline(self, commands: Iterable[Sequence[Arg]]) -> list:
        n = self.send(commands)
        return self.read_replies(n)

    def execute(self, *args: Arg) -> Reply:
        self.send([args])
        return self.read_reply()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------
# Helpers for tests
# --------------------------------------------------------------------------


def to_python(reply: Reply):
    """Strip the RESP types: bytes, int, None, list, dict, set, float, bool.

    Errors are returned as the Error object itself so they are not mistaken
    for data.
    """
    if isinstance(reply, (Simple, Bulk)):
        return reply.value
    if isinstance(reply, (Integer, BigNumber, Boolean)):
        return reply.value
    if isinstance(reply, Null):
        return None
    if isinstance(reply, Double):
        return reply.value
    if isinstance(reply, Verbatim):
        return reply.value
    if isinstance(reply, (Array, Push)):
        return [to_python(r) for r in reply.items]
    if isinstance(reply, Set):
        return {to_python(r) for r in reply.items}
    if isinstance(reply, Map):
        return {to_python(k): to_python(v) for k, v in reply.pairs}
    if isinstance(reply, Attribute):
        return to_python(reply.reply)
    return reply


def info(conn: "RespConnection", *sections: str) -> dict:
    """INFO [sections] as a dict of field -> text (section headers and blank lines dropped)."""
    reply = conn.execute("INFO", *sections)
    assert isinstance(reply, (Bulk, Verbatim)), f"INFO {sections} replied {reply!r}"
    fields = {}
    for line in reply.value.decode().splitlines():
        if line and not line.startswith("#") and ":" in line:
            name, value = line.split(":", 1)
            fields[name] = value
    return fields
