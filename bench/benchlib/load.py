"""Bulk loading over one pipelined connection, in fixed-size batches, so a
server that applies back-pressure is never flooded (no deadlock) and every
reply is checked."""

from __future__ import annotations

import time
from typing import Callable, Iterable

from .procs import Server
from .resp import RespError, encode

BATCH = 10_000


class LoadError(Exception):
    pass


def set_batches(count: int, key_of: Callable[[int], bytes], value_of: Callable[[int], bytes],
                batch: int = BATCH) -> list[tuple[int, bytes]]:
    """Pre-encode `count` SETs as (commands, payload) batches."""
    out = []
    for start in range(0, count, batch):
        stop = min(count, start + batch)
        out.append((stop - start, b"".join(
            encode(b"SET", key_of(i), value_of(i)) for i in range(start, stop))))
    return out


def send_batches(server: Server, batches: Iterable[tuple[int, bytes]]) -> float:
    """Send pre-encoded batches, check every reply is +OK; return seconds taken."""
    with server.client(timeout=120) as client:
        begin = time.perf_counter()
        for count, payload in batches:
            client.send_raw(payload)
            for reply in client.reader.read_many(count):
                if reply != "OK":
                    if isinstance(reply, RespError):
                        raise LoadError(f"{server.label}: SET failed: {reply}")
                    raise LoadError(f"{server.label}: unexpected SET reply {reply!r}")
        return time.perf_counter() - begin


def command_batches(commands: Iterable[tuple], batch: int = BATCH) -> list[tuple[int, bytes]]:
    """Pre-encode any commands as (commands, payload) batches of `batch` commands."""
    out, pending = [], []
    for command in commands:
        pending.append(encode(*command))
        if len(pending) == batch:
            out.append((len(pending), b"".join(pending)))
            pending = []
    if pending:
        out.append((len(pending), b"".join(pending)))
    return out


def send_expecting(server: Server, batches: Iterable[tuple[int, bytes]],
                   check: Callable[[object], bool], what: str) -> float:
    """Send pre-encoded batches, check every reply with `check`; return seconds taken."""
    with server.client(timeout=120) as client:
        begin = time.perf_counter()
        for count, payload in batches:
            client.send_raw(payload)
            for reply in client.reader.read_many(count):
                if not check(reply):
                    if isinstance(reply, RespError):
                        raise LoadError(f"{server.label}: {what} failed: {reply}")
                    raise LoadError(f"{server.label}: unexpected {what} reply {reply!r}")
        return time.perf_counter() - begin
