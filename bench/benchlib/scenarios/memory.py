"""memory: RSS and used_memory after 1M SETs of 16-byte keys and 64-byte values."""

from __future__ import annotations

import time

from ..context import Context
from ..load import send_batches, set_batches
from ..results import Result

NAME = "memory"
TITLE = "Memory per key (1M SETs, 16-byte keys, 64-byte values)"

KEYS = 1_000_000
KEY_BYTES = 16
VALUE_BYTES = 64
SETTLE_S = 1.0
MIB = 1024 * 1024


def key_of(i: int) -> bytes:
    return b"mem:%012d" % i                      # 4 + 12 = 16 bytes


def value_of(i: int) -> bytes:
    return (b"%016x" % ((i * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)) * 4   # 64 bytes


def _used_memory(server) -> int | None:
    value = server.info("memory").get("used_memory", "")
    return int(value) if value.isdigit() else None


def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE)
    keys = ctx.scale(KEYS)
    assert len(key_of(keys - 1)) == KEY_BYTES and len(value_of(keys - 1)) == VALUE_BYTES
    result.params = {"keys": keys, "key_bytes": KEY_BYTES, "value_bytes": VALUE_BYTES}
    ctx.log(f"  encoding {keys:,} SET commands")
    batches = set_batches(keys, key_of, value_of)
    result.command(f"{keys:,} x SET mem:%012d <64-byte value>, pipelined in batches of "
                   f"10,000 over one connection (bench/benchlib/load.py); DBSIZE checked")
    result.note("Each round starts a fresh server. 'empty' is measured after PING; 'loaded' "
                f"{SETTLE_S:.0f}s after the last reply. bytes/key = (loaded - empty) / keys. "
                "RSS is VmRSS of the process from /proc/PID/status.")

    for rnd in range(1, ctx.rounds + 1):
        for system in ("strata", "redis"):
            server = (ctx.strata("strata", optional=["--persistence", "no"])
                      if system == "strata" else ctx.redis("redis"))
            try:
                time.sleep(SETTLE_S)
                rss0, used0 = server.rss_bytes(), _used_memory(server)
                seconds = send_batches(server, batches)
                dbsize = server.call("DBSIZE")
                if dbsize != keys:
                    raise RuntimeError(f"{system}: DBSIZE is {dbsize!r}, expected {keys}")
                time.sleep(SETTLE_S)
                rss1, used1 = server.rss_bytes(), _used_memory(server)
            finally:
                ctx.stop(server)

            def per_key(a, b):
                return None if a is None or b is None else (b - a) / keys

            def mib(v):
                return None if v is None else v / MIB

            result.add("RSS", "empty", "MiB", system, mib(rss0), "lower")
            result.add("RSS", "loaded", "MiB", system, mib(rss1), "lower")
            result.add("RSS", "bytes/key", "B", system, per_key(rss0, rss1), "lower")
            result.add("used_memory", "empty", "MiB", system, mib(used0), "lower")
            result.add("used_memory", "loaded", "MiB", system, mib(used1), "lower")
            result.add("used_memory", "bytes/key", "B", system, per_key(used0, used1), "lower")
            result.add("pipelined load", "SET/s", "req/s", system, keys / seconds, "higher", chart=True)
            used_pk = per_key(used0, used1)
            used_text = "n/a" if used_pk is None else f"{used_pk:.1f}"
            ctx.log(f"  round {rnd}/{ctx.rounds} {system:6s} RSS {rss1 / MIB:7.1f} MiB "
                    f"({per_key(rss0, rss1):.1f} B/key), used_memory B/key {used_text}, "
                    f"load {keys / seconds:,.0f} SET/s")
    return result
