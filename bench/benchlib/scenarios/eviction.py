"""eviction: hit ratio and throughput of a read-through cache under a Zipf
workload with scan bursts, with maxmemory holding ~10% of the key set."""

from __future__ import annotations

import math

from ..context import Context
from ..load import send_batches, set_batches
from ..results import Result
from ..workload import VALUE, drive, key_bytes, make_sequence

NAME = "eviction"
TITLE = "Eviction: read-through cache hit ratio (Zipf 0.99 + 10% scan keys)"

KEYS = 1_000_000
WARMUP = 400_000
MEASURE = 800_000
ZIPF_S = 0.99
SCAN_FRACTION = 0.10
CACHE_FRACTION = 0.10
CALIBRATION_KEYS = 100_000
BATCH = 100
MIB = 1024 * 1024


def _int(info: dict, name: str) -> int | None:
    value = info.get(name, "")
    return int(value) if value.lstrip("-").isdigit() else None


def _calibrate(ctx: Context, n_keys: int) -> tuple[int, float]:
    """maxmemory (bytes, whole MiB) that holds CACHE_FRACTION of n_keys in Redis,
    from Redis's used_memory per key for this workload's keys and values."""
    cal = min(CALIBRATION_KEYS, n_keys)
    server = ctx.redis("redis-calibrate")
    try:
        used0 = _int(server.info("memory"), "used_memory")
        send_batches(server, set_batches(cal, key_bytes, lambda i: VALUE))
        used1 = _int(server.info("memory"), "used_memory")
    finally:
        ctx.stop(server)
    per_key = (used1 - used0) / cal
    target = used0 + per_key * n_keys * CACHE_FRACTION
    return int(math.ceil(target / MIB)) * MIB, per_key


def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE)
    n_keys, warmup, measure = ctx.scale(KEYS), ctx.scale(WARMUP), ctx.scale(MEASURE)
    maxmemory, per_key = _calibrate(ctx, n_keys)
    mm = f"{maxmemory // MIB}mb"
    ctx.log(f"  maxmemory {mm} (Redis used_memory {per_key:.0f} B/key; "
            f"{CACHE_FRACTION:.0%} of {n_keys:,} keys)")
    ctx.log(f"  generating {warmup + measure:,} requests")
    seq = make_sequence(n_keys, warmup + measure, ZIPF_S, SCAN_FRACTION)
    result.params = {"keys": n_keys, "warmup": warmup, "measure": measure, "zipf_s": ZIPF_S,
                     "scan_fraction": SCAN_FRACTION, "maxmemory": mm, "redis_bytes_per_key": per_key}
    result.command(f"strata-server --maxmemory {mm} --maxmemory-policy allkeys-lru [--persistence no]")
    result.command(f"redis-server --maxmemory {mm} --maxmemory-policy allkeys-lru --save '' --appendonly no")
    result.command(f"python driver (bench/benchlib/workload.py): {warmup:,} warm-up + {measure:,} "
                   f"measured lookups; GET, on miss SET (64-byte value); pipelined {BATCH} per batch")
    result.note(f"Keys: Zipf s={ZIPF_S} over {n_keys:,} keys; in every 10,000 requests one burst of "
                f"{SCAN_FRACTION:.0%} one-off scan keys. maxmemory is sized from Redis's own "
                f"used_memory per key to hold {CACHE_FRACTION:.0%} of the keys; both servers get "
                "the same value. Hit ratio from INFO keyspace_hits/misses deltas after warm-up.")
    result.note("Throughput is bounded by the single-threaded Python client; the hit ratio is "
                "the figure that matters here.")

    for rnd in range(1, ctx.rounds + 1):
        for system in ("strata", "redis"):
            if system == "strata":
                server = ctx.strata("strata", args=["--maxmemory", mm, "--maxmemory-policy", "allkeys-lru"],
                                    optional=["--persistence", "no"], features=["maxmemory"])
            else:
                server = ctx.redis("redis", maxmemory=mm, maxmemory_policy="allkeys-lru")
            try:
                drive(server, seq[:warmup], BATCH)
                before = server.info("stats")
                stats = drive(server, seq[warmup:], BATCH)
                after = server.info("stats")
                memory = server.info("memory")
                dbsize = server.call("DBSIZE")
            finally:
                ctx.stop(server)

            client_ratio = stats.hits / stats.lookups
            h0, h1 = _int(before, "keyspace_hits"), _int(after, "keyspace_hits")
            m0, m1 = _int(before, "keyspace_misses"), _int(after, "keyspace_misses")
            if None not in (h0, h1, m0, m1) and (h1 - h0) + (m1 - m0) > 0:
                server_ratio = (h1 - h0) / ((h1 - h0) + (m1 - m0))
            else:
                server_ratio = None
                result.note(f"{system}: INFO stats lacks keyspace_hits/misses; see the client-side ratio.")
            if stats.set_errors:
                result.note(f"{system}: {stats.set_errors} SETs failed in a round, e.g. {stats.first_set_error}")
            used = _int(memory, "used_memory")
            evicted0, evicted1 = _int(before, "evicted_keys"), _int(after, "evicted_keys")

            result.add("hit ratio", "INFO keyspace", "%", system,
                       None if server_ratio is None else 100 * server_ratio, "higher")
            result.add("hit ratio", "client-side", "%", system, 100 * client_ratio, "higher")
            result.add("throughput", "lookups/s", "req/s", system, stats.lookups / stats.seconds,
                       "higher", chart=True)
            result.add("keys held at end", "DBSIZE", "keys", system,
                       dbsize if isinstance(dbsize, int) else None, "higher")
            result.add("used_memory at end", "", "MiB", system,
                       None if used is None else used / MIB, "")
            result.add("evicted keys (measured phase)", "", "keys", system,
                       None if None in (evicted0, evicted1) else evicted1 - evicted0, "")
            shown = "n/a" if server_ratio is None else f"{100 * server_ratio:.2f}%"
            ctx.log(f"  round {rnd}/{ctx.rounds} {system:6s} hit ratio {shown} "
                    f"(client {100 * client_ratio:.2f}%), {stats.lookups / stats.seconds:,.0f} lookups/s, "
                    f"DBSIZE {dbsize}")
    return result
