"""The read-through cache workload: Zipf-distributed keys with bursts of
one-off scan keys, and a pipelined client that does GET and, on a miss, SET."""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass

from .procs import Server
from .resp import RespError

KEY_BYTES = 16
VALUE = b"v" * 64
_GET = b"*2\r\n$3\r\nGET\r\n$16\r\n"
_SET = b"*3\r\n$3\r\nSET\r\n$16\r\n"
_SET_VALUE = b"\r\n$%d\r\n%s\r\n" % (len(VALUE), VALUE)


def key_bytes(item: int) -> bytes:
    """Zipf rank r >= 0 -> b'z:<14 digits>'; scan id -(i+1) -> b's:<14 digits>'.
    Both are 16 bytes."""
    return b"z:%014d" % item if item >= 0 else b"s:%014d" % (-item - 1)


def zipf_cum_weights(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (k ** s) for k in range(1, n + 1)))


def make_sequence(n_keys: int, requests: int, s: float = 0.99, scan_fraction: float = 0.10,
                  chunk: int = 10_000, seed: int = 20240601) -> list[int]:
    """`requests` items: Zipf(s) ranks over n_keys, except that every chunk of
    `chunk` requests holds one contiguous burst of never-repeated scan keys,
    `scan_fraction` of the chunk long, at a random offset."""
    rng = random.Random(seed)
    seq = rng.choices(range(n_keys), cum_weights=zipf_cum_weights(n_keys, s), k=requests)
    burst = int(chunk * scan_fraction)
    scan_id = 0
    for start in range(0, requests, chunk):
        length = min(chunk, requests - start)
        run = min(burst, int(length * scan_fraction))
        if run <= 0:
            continue
        offset = start + rng.randrange(0, length - run + 1)
        for i in range(offset, offset + run):
            seq[i] = -(scan_id + 1)
            scan_id += 1
    return seq


@dataclass
class DriveStats:
    lookups: int = 0
    hits: int = 0
    sets: int = 0
    set_errors: int = 0
    first_set_error: str = ""
    seconds: float = 0.0


def drive(server: Server, seq: list[int], batch: int = 100) -> DriveStats:
    """Run the read-through pattern over `seq`: a pipelined batch of GETs, then
    a pipelined batch of SETs for the keys that missed."""
    stats = DriveStats()
    with server.client(timeout=120) as client:
        reader = client.reader
        begin = time.perf_counter()
        for start in range(0, len(seq), batch):
            keys = [key_bytes(item) for item in seq[start : start + batch]]
            client.send_raw(b"".join([_GET + k + b"\r\n" for k in keys]))
            misses = []
            for k, reply in zip(keys, reader.read_many(len(keys))):
                if reply is None:
                    misses.append(k)
                elif isinstance(reply, RespError):
                    raise RuntimeError(f"{server.label}: GET failed: {reply}")
            stats.lookups += len(keys)
            stats.hits += len(keys) - len(misses)
            if misses:
                client.send_raw(b"".join([_SET + k + _SET_VALUE for k in misses]))
                for reply in reader.read_many(len(misses)):
                    if reply != "OK":
                        stats.set_errors += 1
                        stats.first_set_error = stats.first_set_error or str(reply)
                stats.sets += len(misses)
        stats.seconds = time.perf_counter() - begin
    return stats
