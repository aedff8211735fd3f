"""throughput: redis-benchmark against both servers, test by test, alternating."""

from __future__ import annotations

import hashlib

from .. import rbench
from ..context import Context
from ..results import Result

NAME = "throughput"
TITLE = "Throughput and latency (redis-benchmark)"

CLIENTS = ["-c", "50"]
MGET_KEYS = ["key:__rand_int__"] * 10
# EVALSHA of a one-command script, loaded (SCRIPT LOAD) at the start of every round; its own
# keys (the SET tests leave strings that INCR refuses under key:).
SCRIPT = "return redis.call('INCR', KEYS[1])"
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()

# (label, redis-benchmark arguments without -n, requests for a full run,
#  {CSV test name: row label} or None to name the single row after the label)
TESTS = [
    ("-P 1 -d 64", ["-t", "set,get", "-r", "100000", "-d", "64", *CLIENTS, "-P", "1"], 1_000_000,
     {"SET": "SET -P 1 -d 64", "GET": "GET -P 1 -d 64"}),
    ("-P 16 -d 64", ["-t", "set,get", "-r", "100000", "-d", "64", *CLIENTS, "-P", "16"], 1_000_000,
     {"SET": "SET -P 16 -d 64", "GET": "GET -P 16 -d 64"}),
    ("-P 1 -d 1024", ["-t", "set,get", "-r", "100000", "-d", "1024", *CLIENTS, "-P", "1"], 200_000,
     {"SET": "SET -P 1 -d 1024", "GET": "GET -P 1 -d 1024"}),
    ("MSET 10 keys -d 64", ["-t", "mset", "-r", "100000", "-d", "64", *CLIENTS, "-P", "1"], 200_000, None),
    ("MGET 10 keys", ["-r", "100000", *CLIENTS, "-P", "1", "MGET", *MGET_KEYS], 200_000, None),
    ("INCR", ["-t", "incr", "-r", "100000", *CLIENTS, "-P", "1"], 200_000, None),
    ("EVALSHA INCR -P 16", ["-r", "100000", *CLIENTS, "-P", "16", "EVALSHA", SCRIPT_SHA, "1", "counter:__rand_int__"],
     1_000_000, None),
]


def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE)
    bench = ctx.settings.redis_benchmark
    strata = ctx.strata("strata", optional=["--persistence", "no"])
    redis = ctx.redis("redis")
    servers = {"strata": strata, "redis": redis}
    for label, args, n, names in TESTS:
        full = ["-n", str(ctx.scale(n)), *args]
        result.command(rbench.display(full))
    result.note("Both servers run side by side; each round starts with FLUSHALL, then every "
                "test runs on Strata, then on Redis. -P 16 latencies are per pipelined batch.")
    result.note("The client (redis-benchmark, one thread) shares the 2 cores with the server, "
                "so the faster server is partly limited by the client.")

    for rnd in range(1, ctx.rounds + 1):
        for server in servers.values():
            server.call("FLUSHALL")
            server.call("SCRIPT", "LOAD", SCRIPT)
        for label, args, n, names in TESTS:
            full = ["-n", str(ctx.scale(n)), *args]
            for system, server in servers.items():
                rows = rbench.run(bench, server.port, full)
                for row in rows:
                    group = names.get(row.test, f"{row.test} {label}") if names else label
                    result.add(group, "rps", "req/s", system, row.rps, "higher", chart=True)
                    result.add(group, "p50", "ms", system, row.p50_ms, "lower")
                    result.add(group, "p99", "ms", system, row.p99_ms, "lower")
                    ctx.log(f"  round {rnd}/{ctx.rounds} {system:6s} {group:20s} "
                            f"{row.rps:>11,.0f} req/s  p50 {row.p50_ms:.3f} ms  p99 {row.p99_ms:.3f} ms")
    ctx.stop_all()
    return result
