"""stats: what command statistics and latency tracking cost. One Strata server (no L3); each
round runs SET and GET at -P 16 and -P 1 with `latency-tracking yes` (INFO commandstats and
latencystats, the per-command histograms) and with `latency-tracking no` on the same server,
alternating which goes first. Commandstats counting itself (calls, time) is always on, as in
Redis: with $STRATA_BASELINE_BIN set to a build without the recorder, each round also runs the
same tests against it (alternating too), which measures the whole cost."""

from __future__ import annotations

import os

from .. import rbench
from ..context import Context
from ..results import Result

NAME = "stats"
TITLE = "Command statistics: cost of commandstats and latency tracking (redis-benchmark)"
COLUMNS = ("this build req/s", "compared with req/s", "ratio")

TESTS = [
    ("-P 16", ["-t", "set,get", "-r", "100000", "-d", "64", "-c", "50", "-P", "16"], 1_000_000),
    ("-P 1", ["-t", "set,get", "-r", "100000", "-d", "64", "-c", "50", "-P", "1"], 300_000),
]


def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE)
    result.columns = COLUMNS
    bench = ctx.settings.redis_benchmark
    strata = ctx.strata("strata", optional=["--persistence", "no"], features=["latency-tracking"])
    baseline_bin = os.environ.get("STRATA_BASELINE_BIN")
    baseline = None
    if baseline_bin:
        saved = ctx.settings.strata_bin
        ctx.settings.strata_bin = baseline_bin
        try:
            baseline = ctx.strata("baseline", optional=["--persistence", "no"])
        finally:
            ctx.settings.strata_bin = saved
    for label, args, n in TESTS:
        result.command(rbench.display(["-n", str(ctx.scale(n)), *args]))
    result.command("CONFIG SET latency-tracking yes|no   (between runs, same server)")
    result.note("'tracking yes vs no': one server, each test run with latency-tracking yes (left) and no "
                "(right), the order alternating round by round; below 1 is the cost of the histograms.")
    if baseline:
        result.note(f"'vs baseline': this build with latency-tracking yes (left) against {baseline_bin} "
                    "(right), a build without the recorder, side by side, alternating: the whole cost.")
    for rnd in range(1, ctx.rounds + 1):
        for label, args, n in TESTS:
            full = ["-n", str(ctx.scale(n)), *args]
            runs = [("yes", strata), ("no", strata)] + ([("baseline", baseline)] if baseline else [])
            if rnd % 2 == 0:
                runs.reverse()
            for mode, server in runs:
                if mode != "baseline":
                    server.call("CONFIG", "SET", "latency-tracking", mode)
                server.call("FLUSHALL")
                for row in rbench.run(bench, server.port, full):
                    test = f"{row.test} {label}"
                    if mode == "yes":
                        result.add(f"{test}, tracking yes vs no", "", "req/s", "strata", row.rps, "higher")
                        if baseline:
                            result.add(f"{test}, vs baseline", "", "req/s", "strata", row.rps, "higher")
                    elif mode == "no":
                        result.add(f"{test}, tracking yes vs no", "", "req/s", "redis", row.rps, "higher")
                    else:
                        result.add(f"{test}, vs baseline", "", "req/s", "redis", row.rps, "higher")
                    ctx.log(f"  round {rnd}/{ctx.rounds} {mode:8s} {test:10s} {row.rps:>11,.0f} req/s")
    strata.call("CONFIG", "SET", "latency-tracking", "yes")
    ctx.stop_all()
    return result
