"""stats: what command statistics and latency tracking cost. One Strata server (no L3); each
round runs SET and GET at -P 16 and -P 1 with `latency-tracking yes` (INFO commandstats and
latencystats, the per-command histograms) and with `latency-tracking no`, alternating which
goes first. Commandstats counting itself (calls, time) is always on, as in Redis: its cost is
in both columns; see docs/architecture.md ("Command statistics") for what each command pays."""

from __future__ import annotations

from .. import rbench
from ..context import Context
from ..results import Result

NAME = "stats"
TITLE = "Command statistics: latency-tracking yes against no (redis-benchmark)"
COLUMNS = ("tracking yes req/s", "tracking no req/s", "yes/no")

TESTS = [
    ("-P 16", ["-t", "set,get", "-r", "100000", "-d", "64", "-c", "50", "-P", "16"], 1_000_000),
    ("-P 1", ["-t", "set,get", "-r", "100000", "-d", "64", "-c", "50", "-P", "1"], 300_000),
]


def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE)
    result.columns = COLUMNS
    bench = ctx.settings.redis_benchmark
    strata = ctx.strata("strata", optional=["--persistence", "no"], features=["latency-tracking"])
    for label, args, n in TESTS:
        result.command(rbench.display(["-n", str(ctx.scale(n)), *args]))
    result.command("CONFIG SET latency-tracking yes|no   (between runs, same server)")
    result.note("One server for both columns; each round runs every test with tracking on and off, "
                "the order alternating round by round. 'yes/no' below 1 is the cost of the histograms.")
    for rnd in range(1, ctx.rounds + 1):
        order = ["yes", "no"] if rnd % 2 else ["no", "yes"]
        for label, args, n in TESTS:
            full = ["-n", str(ctx.scale(n)), *args]
            for tracking in order:
                strata.call("CONFIG", "SET", "latency-tracking", tracking)
                strata.call("FLUSHALL")
                for row in rbench.run(bench, strata.port, full):
                    group = f"{row.test} {label}"
                    system = "strata" if tracking == "yes" else "redis"
                    result.add(group, "", "req/s", system, row.rps, "higher")
                    ctx.log(f"  round {rnd}/{ctx.rounds} tracking {tracking:3s} {group:10s} {row.rps:>11,.0f} req/s")
    strata.call("CONFIG", "SET", "latency-tracking", "yes")
    ctx.stop_all()
    return result
