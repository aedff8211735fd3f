"""types: hashes, lists, sets and sorted sets. (a) redis-benchmark's collection tests at -P 16,
test by test, alternating Strata and Redis; (b) memory per element of one big hash, set and
sorted set (1M elements each) and of 100k small hashes (an object cache), each on a fresh
server."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator

from .. import rbench
from ..context import Context, ScenarioSkipped
from ..load import command_batches, send_expecting
from ..resp import RespError
from ..results import Result

NAME = "types"
TITLE = "Data types: hash, list, set, sorted set (redis-benchmark -P 16; memory per element)"

CLIENTS = ["-c", "50"]
# (label, redis-benchmark arguments without -n, requests for a full run). redis-benchmark 7.0's
# test names; lrange_* first fill "mylist" with LPUSH (a row of its own, not reported).
TESTS = [
    ("-P 16", ["-t", "lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin", "-r", "100000",
               *CLIENTS, "-P", "16"], 500_000),
    ("-P 16", ["-t", "lrange_100,lrange_300", "-r", "100000", *CLIENTS, "-P", "16"], 100_000),
]
SKIPPED_ROWS = ("LPUSH (needed to benchmark LRANGE)",)

ELEMENTS = 1_000_000        # fields / members of the big hash, set and sorted set
OBJECTS = 100_000           # small hashes ...
OBJECT_FIELDS = 10          # ... of this many fields each
PER_COMMAND = 1_000         # elements per HSET / SADD / ZADD of the big structures
BATCH = 50                  # commands per pipelined batch (50,000 elements)
OBJECT_BATCH = 1_000        # HSETs per batch for the small hashes
SETTLE_S = 1.0
MIB = 1024 * 1024


def row_label(test: str, label: str) -> str | None:
    """The figure's group for a CSV row: 'LRANGE_100 (first 100 elements)' -> 'LRANGE_100 -P 16'."""
    if test in SKIPPED_ROWS:
        return None
    return f"{test.split(' ')[0]} {label}"


# -- what the memory part loads ------------------------------------------------

def field_of(i: int) -> bytes:
    return b"field:%010d" % i               # 16 bytes


def member_of(i: int) -> bytes:
    return b"member:%09d" % i               # 16 bytes, not an integer (no intset)


def small_value_of(i: int) -> bytes:
    return b"v%07d" % (i % 10_000_000)      # 8 bytes


def object_key_of(i: int) -> bytes:
    return b"obj:%08d" % i                  # 12 bytes


OBJECT_FIELD_NAMES = [b"name", b"email", b"city", b"country", b"visits", b"plan", b"created",
                      b"updated", b"score", b"flags"]
assert len(OBJECT_FIELD_NAMES) == OBJECT_FIELDS


def object_fields(i: int) -> list[bytes]:
    """One cached object: ten short fields, values of 3 to 19 bytes."""
    out = []
    for n, name in enumerate(OBJECT_FIELD_NAMES):
        out += [name, b"%d-%s" % (i, b"x" * (n * 2))]
    return out


@dataclass
class Structure:
    label: str              # the figure group
    unit: str               # what one element is ("field", "member", "object")
    elements: int
    commands: Callable[[int], Iterator[tuple]]
    batch: int
    count: Callable[[object], object]   # server -> how many elements it holds
    reply: Callable[[object], bool]     # checks one reply of the load


def _big(cmd: bytes, key: bytes, pair: Callable[[int], list[bytes]]):
    def commands(n: int) -> Iterator[tuple]:
        for start in range(0, n, PER_COMMAND):
            args = [cmd, key]
            for i in range(start, min(n, start + PER_COMMAND)):
                args += pair(i)
            yield tuple(args)
    return commands


def _objects(n: int) -> Iterator[tuple]:
    for i in range(n):
        yield (b"HSET", object_key_of(i), *object_fields(i))


def count_label(n: int) -> str:
    """1000000 -> '1M', 100000 -> '100k', 999 -> '999'."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= size and n % size == 0:
            return f"{n // size}{suffix}"
    return f"{n:,}"


def structures(ctx: Context) -> list[Structure]:
    elements, objects = ctx.scale(ELEMENTS), ctx.scale(OBJECTS)
    e, o = count_label(elements), count_label(objects)
    added = lambda reply: isinstance(reply, int) and not isinstance(reply, bool) and reply > 0
    return [
        Structure(f"hash, {e} fields", "field", elements,
                  _big(b"HSET", b"big:hash", lambda i: [field_of(i), small_value_of(i)]), BATCH,
                  lambda s: s.call("HLEN", "big:hash"), added),
        Structure(f"set, {e} members", "member", elements,
                  _big(b"SADD", b"big:set", lambda i: [member_of(i)]), BATCH,
                  lambda s: s.call("SCARD", "big:set"), added),
        Structure(f"sorted set, {e} members", "member", elements,
                  _big(b"ZADD", b"big:zset", lambda i: [b"%d" % (i * 7 % 1_000_003), member_of(i)]), BATCH,
                  lambda s: s.call("ZCARD", "big:zset"), added),
        Structure(f"{o} hashes of {OBJECT_FIELDS} fields", "object", objects, _objects, OBJECT_BATCH,
                  lambda s: s.call("DBSIZE"), lambda reply: reply == OBJECT_FIELDS),
    ]


def _used_memory(server) -> int | None:
    value = server.info("memory").get("used_memory", "")
    return int(value) if value.isdigit() else None


def _probe(server) -> None:
    """Skip the scenario when Strata has no collection commands yet (issue 13)."""
    replies = [server.call(*c) for c in (("HSET", "probe:h", "f", "v"), ("RPUSH", "probe:l", "v"),
                                          ("SADD", "probe:s", "v"), ("ZADD", "probe:z", "1", "v"))]
    missing = [str(r) for r in replies if isinstance(r, RespError)]
    server.call("FLUSHALL")
    if missing:
        raise ScenarioSkipped(f"strata-server lacks collection commands: {'; '.join(missing)}")


def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE)
    bench = ctx.settings.redis_benchmark
    shapes = structures(ctx)
    result.params = {"elements": ctx.scale(ELEMENTS), "objects": ctx.scale(OBJECTS),
                     "object_fields": OBJECT_FIELDS, "field_bytes": 16, "member_bytes": 16,
                     "hash_value_bytes": 8}
    for label, args, n in TESTS:
        result.command(rbench.display(["-n", str(ctx.scale(n)), *args]))
    for shape in shapes:
        first = next(shape.commands(min(shape.elements, 2)))
        result.command(f"{shape.elements:,} {shape.unit}s: {first[0].decode()} {first[1].decode()} "
                       f"{' '.join(a.decode() for a in first[2:6])} ..., "
                       f"{'1,000 per command, ' if shape.batch == BATCH else ''}pipelined in batches "
                       f"of {shape.batch} commands (bench/benchlib/scenarios/types.py)")
    result.note("Throughput: both servers side by side; each round starts with FLUSHALL, then every "
                "test runs on Strata, then on Redis. -r 100000 spreads SADD/HSET/ZADD over 100k "
                "elements of one key each (myset, myhash, myzset); SPOP and ZPOPMIN empty them again.")
    result.note("Memory: each structure is loaded into a fresh server; 'empty' is measured after "
                f"PING, 'loaded' {SETTLE_S:.0f}s after the last reply; bytes/element = (loaded - empty) "
                "/ elements (per field, per member, per object of 10 fields). RSS is VmRSS.")

    strata = ctx.strata("strata", optional=["--persistence", "no"])
    _probe(strata)
    redis = ctx.redis("redis")
    ctx.log(f"  encoding the memory loads ({'; '.join(s.label for s in shapes)})")
    loads = [(shape, command_batches(shape.commands(shape.elements), shape.batch)) for shape in shapes]
    servers = {"strata": strata, "redis": redis}
    for rnd in range(1, ctx.rounds + 1):
        # (a) throughput, on the long-running pair
        for server in servers.values():
            server.call("FLUSHALL")
        for label, args, n in TESTS:
            full = ["-n", str(ctx.scale(n)), *args]
            for system, server in servers.items():
                for row in rbench.run(bench, server.port, full):
                    group = row_label(row.test, label)
                    if group is None:
                        continue
                    result.add(group, "rps", "req/s", system, row.rps, "higher", chart=True)
                    result.add(group, "p50", "ms", system, row.p50_ms, "lower")
                    result.add(group, "p99", "ms", system, row.p99_ms, "lower")
                    ctx.log(f"  round {rnd}/{ctx.rounds} {system:6s} {group:20s} "
                            f"{row.rps:>11,.0f} req/s  p50 {row.p50_ms:.3f} ms  p99 {row.p99_ms:.3f} ms")
        # (b) memory, each structure on a fresh server
        for shape, batches in loads:
            for system in servers:
                _memory_round(ctx, result, rnd, system, shape, batches)
    ctx.stop_all()
    return result


def _memory_round(ctx: Context, result: Result, rnd: int, system: str, shape: Structure,
                  batches: list) -> None:
    server = (ctx.strata(f"strata-{shape.unit}", optional=["--persistence", "no"])
              if system == "strata" else ctx.redis(f"redis-{shape.unit}"))
    try:
        time.sleep(SETTLE_S)
        rss0, used0 = server.rss_bytes(), _used_memory(server)
        seconds = send_expecting(server, batches, shape.reply, shape.label)
        held = shape.count(server)
        if held != shape.elements:
            raise RuntimeError(f"{system}: {shape.label} holds {held!r}, expected {shape.elements}")
        time.sleep(SETTLE_S)
        rss1, used1 = server.rss_bytes(), _used_memory(server)
    finally:
        ctx.stop(server)

    def per(a, b):
        return None if a is None or b is None else (b - a) / shape.elements

    unit = f"B/{shape.unit}"
    result.add(shape.label, f"used_memory {unit}", "B", system, per(used0, used1), "lower")
    result.add(shape.label, f"RSS {unit}", "B", system, per(rss0, rss1), "lower")
    result.add(shape.label, "used_memory loaded", "MiB", system,
               None if used1 is None else used1 / MIB, "lower")
    result.add(shape.label, f"load {shape.unit}s/s", "elements/s", system, shape.elements / seconds, "higher")
    used_pe = per(used0, used1)
    ctx.log(f"  round {rnd}/{ctx.rounds} {system:6s} {shape.label:26s} used_memory "
            f"{'n/a' if used_pe is None else f'{used_pe:.1f}'} {unit}, RSS {per(rss0, rss1):.1f} {unit}, "
            f"load {shape.elements / seconds:,.0f} {shape.unit}s/s")
