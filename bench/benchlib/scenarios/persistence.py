"""persistence: SET throughput with Strata's L3 log vs Redis's AOF, per fsync policy."""

from __future__ import annotations

import os
from pathlib import Path

from .. import rbench
from ..context import Context
from ..results import Result

NAME = "persistence"
TITLE = "Persistence: SET throughput with fsync everysec / always"

ARGS = ["-t", "set", "-r", "1000000", "-d", "64", "-c", "50", "-P", "16"]
# fsync policy -> requests for a full run. 'always' gets fewer: a server that
# fsyncs per command instead of per batch would otherwise take many minutes.
MODES = {"everysec": 1_000_000, "always": 400_000}
# One round of this scenario varies by +-15% on a shared 2-core machine (Redis's own everysec
# figure ranged from 244k to 311k SET/s within one run), more than the others: it runs at least
# this many rounds (except --quick smoke runs), alternating which server goes first.
MIN_ROUNDS = 5
# A run slower than this is recorded as n/a and not repeated in later rounds.
TIMEOUT_S = 120
MIB = 1024 * 1024


def dir_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def filesystem_of(path: Path) -> str:
    """The mount point and filesystem type holding `path`, from /proc/mounts."""
    path = path.resolve()
    best = ("", "?")
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and (str(path) + "/").startswith(parts[1].rstrip("/") + "/"):
                if len(parts[1]) >= len(best[0]):
                    best = (parts[1], parts[2])
    except OSError:
        pass
    return f"{best[1]} (mounted at {best[0] or '?'})"


def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE)
    bench = ctx.settings.redis_benchmark
    commands = {mode: ["-n", str(ctx.scale(n)), *ARGS] for mode, n in MODES.items()}
    for mode in MODES:
        result.command(f"strata-server --persistence yes --l3-fsync {mode}")
        result.command(f"redis-server --appendonly yes --appendfsync {mode} --save ''")
        result.command(rbench.display(commands[mode]) + f"   # fsync {mode}")
    result.params = {"filesystem": filesystem_of(ctx.settings.run_dir)}
    result.note(f"Data directories on {result.params['filesystem']}. Each measurement starts a "
                "fresh server on an empty directory; 'on disk' is the directory's size after "
                "the run, before shutdown.")
    result.note(f"At least {MIN_ROUNDS} rounds (one round varies by ±15% on this machine), "
                "Strata first in odd rounds and Redis first in even ones.")

    rounds = ctx.rounds if ctx.settings.quick else max(ctx.rounds, MIN_ROUNDS)
    result.rounds = rounds
    timed_out: set[tuple[str, str]] = set()
    for rnd in range(1, rounds + 1):
        # Each server's run leaves the kernel writing back its files for a while: alternate which
        # server follows the other, so neither always runs in the other's wake.
        order = ("strata", "redis") if rnd % 2 else ("redis", "strata")
        for mode in MODES:
            full = commands[mode]
            group = f"SET -P 16 fsync {mode}"
            for system in order:
                if (system, mode) in timed_out:
                    continue
                if system == "strata":
                    server = ctx.strata("strata", args=["--persistence", "yes", "--l3-fsync", mode],
                                        features=["persistence", "l3-fsync"])
                else:
                    server = ctx.redis("redis", appendonly="yes", appendfsync=mode)
                try:
                    rows = rbench.run(bench, server.port, full, timeout=TIMEOUT_S)
                    on_disk = dir_bytes(server.dir)
                except rbench.BenchmarkTimeout:
                    timed_out.add((system, mode))
                    floor = int(full[1]) / TIMEOUT_S
                    result.note(f"{system} with fsync {mode} did not finish {full[1]} SETs in "
                                f"{TIMEOUT_S}s (below {floor:,.0f} req/s); recorded as n/a.")
                    ctx.log(f"  round {rnd}/{rounds} {system:6s} {group:24s} timed out after {TIMEOUT_S}s")
                    result.add(group, "rps", "req/s", system, None, "higher", chart=True)
                    continue
                finally:
                    ctx.stop(server)
                row = rows[0]
                result.add(group, "rps", "req/s", system, row.rps, "higher", chart=True)
                result.add(group, "p99", "ms", system, row.p99_ms, "lower")
                result.add(group, "on disk", "MiB", system, on_disk / MIB, "")
                ctx.log(f"  round {rnd}/{rounds} {system:6s} {group:24s} {row.rps:>11,.0f} req/s  "
                        f"p99 {row.p99_ms:.3f} ms  on disk {on_disk / MIB:.1f} MiB")
    return result
