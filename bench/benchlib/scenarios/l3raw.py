"""l3raw: the L3 write batcher's commit rate against raw SQLite for the same rows.

Raw: bench/sqlite_raw.c (compiled here with cc) writes 1M random-key rows with 64-byte
values in batches of 1,000 and 10,000, as appends to Strata's log schema (1, 16 and 64 rows
per INSERT, SQLite numbering the rows) and as plain upserts, under synchronous NORMAL and
FULL, with the pragmas L3Store sets on a new file (8 KiB pages). Batcher: strata-server with
--l3-fsync everysec takes the same kind of rows from redis-benchmark (SET -r 1M -n 1M -d 64
-P 16), while INFO persistence is polled; its rate is the rows committed between the first and
the last commit of the longest stretch where every commit took a full batch or more (the
batcher never waited for work), divided by the time between those commits. Figures: batcher
rows/s against each raw rows/s, and their ratio; append64 writes as the batcher does (64 rows
per INSERT), so its ratio is the like-for-like one (the goal in issue 6 is >= 0.8).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .. import rbench
from ..context import Context, ScenarioSkipped
from ..procs import Server
from ..resp import parse_info
from ..results import Result

NAME = "l3raw"
TITLE = "L3 batcher commit rate vs raw SQLite (1M random-key SETs, 64-byte values)"
COLUMNS = ("Strata batcher (everysec)", "raw SQLite", "batcher/raw")

ROWS = 1_000_000
BATCHES = (10_000, 1_000)
SYNCS = ("NORMAL", "FULL")
# Modes of sqlite_raw: Strata's log schema, one row per INSERT, 16 (as the batcher bound them
# from 374f390 on; a reference) and 64 (as it binds them now, WriteBatcher.rowsPerInsert), and
# the faster of the two plain upserts (a rowid table with a UNIQUE key; WITHOUT ROWID measured
# slower, see sqlite_raw.c).
MODES = {"append": "append (log schema)", "append16": "append, 16 rows per INSERT",
         "append64": "append, 64 rows per INSERT", "upsert_rowid": "upsert (kv, UNIQUE key)"}
BATCHER_MODE = "append64"   # the raw mode that writes what the batcher writes
PAGE_SIZE = 8192            # L3Store.pageSize: the page size of the batcher's new files
BATCH_MAX = 10_000          # Strata's default l3-batch-max; the batcher runs with it
POLL_S = 0.02               # INFO persistence sampling period
DRAIN_TIMEOUT_S = 120       # after the load, wait at most this for the queue to empty
BENCH_ARGS = ["-t", "set", "-d", "64", "-c", "50", "-P", "16"]
# The batcher holding the whole load back: the largest batch, flush interval and queue it
# accepts (1M SETs over a 1M key space coalesce to ~632k pending keys, under the batch).
BACKLOG_ARGS = ["--l3-batch-max", "1000000", "--l3-flush-interval", "10000",
                "--l3-queue-max", "10000000"]
SOURCE = Path(__file__).resolve().parents[2] / "sqlite_raw.c"


# -- raw SQLite ------------------------------------------------------------------

def compile_raw(ctx: Context) -> Path:
    """Compile bench/sqlite_raw.c into the run directory; skip when cc or SQLite is missing."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise ScenarioSkipped("no C compiler (cc) on PATH; apt-get install gcc")
    out = ctx.settings.run_dir / "sqlite_raw"
    out.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([cc, "-O2", "-o", str(out), str(SOURCE), "-lsqlite3"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise ScenarioSkipped(f"cannot compile {SOURCE.name} (apt-get install libsqlite3-dev): "
                              f"{done.stderr.strip()[-300:]}")
    return out


def parse_raw(text: str) -> dict[tuple[str, str, int], float]:
    """sqlite_raw's JSON lines -> {(mode, synchronous, batch): rows/s}."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        rec = json.loads(line)
        out[(rec["mode"], rec["synchronous"], int(rec["batch"]))] = float(rec["rows_per_s"])
    if not out:
        raise RuntimeError(f"sqlite_raw printed no results: {text[-300:]!r}")
    return out


def run_raw(binary: Path, rows: int, data_dir: Path) -> dict[tuple[str, str, int], float]:
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [str(binary), "-n", str(rows), "-d", str(data_dir), "-m", ",".join(MODES),
            "-b", ",".join(map(str, BATCHES)), "-s", ",".join(SYNCS), "-p", str(PAGE_SIZE)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"sqlite_raw failed: {done.stderr.strip()[-300:]}")
    return parse_raw(done.stdout)


# -- the batcher -----------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    rows: int           # l3_rows_written: operations committed so far
    batches: int        # l3_batches: commits so far
    depth: int          # l3_queue_depth: operations pending
    commit_ms: int      # l3_last_commit_time: Unix ms at the end of the last commit
    commit_us: int = 0  # l3_last_commit_usec: how long the last commit took


def sample_of(info: dict[str, str]) -> Sample | None:
    """The batcher counters from INFO persistence, or None when they are missing."""
    try:
        return Sample(int(info["l3_rows_written"]), int(info["l3_batches"]),
                      int(info["l3_queue_depth"]), int(info["l3_last_commit_time"]),
                      int(info.get("l3_last_commit_usec", "0")))
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True)
class Rate:
    rows: int           # rows committed in the window (after its first commit)
    commits: int
    seconds: float      # from the first to the last commit of the window

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    @property
    def rows_per_commit(self) -> float:
        return self.rows / self.commits


def commit_rate(samples: list[Sample], busy_rows: int) -> Rate | None:
    """The batcher's sustained commit rate from polled samples.

    Each sample that shows new commits is a point (end time of its last commit, rows so far).
    A step between two points is busy when its commits took `busy_rows` rows or more on
    average: the batcher started them at once instead of waiting for its flush interval.
    The rate is measured over the longest run of busy steps; None when there is none."""
    points: list[Sample] = []
    for s in samples:
        if s.batches > 0 and (not points or s.batches > points[-1].batches):
            points.append(s)
    best: tuple[int, int] | None = None      # (first point, last point) of the longest run
    start = None
    for i in range(1, len(points) + 1):
        busy = i < len(points) and (
            (points[i].rows - points[i - 1].rows) / (points[i].batches - points[i - 1].batches)
            >= busy_rows)
        if busy and start is None:
            start = i - 1
        elif not busy and start is not None:
            if best is None or i - 1 - start > best[1] - best[0]:
                best = (start, i - 1)
            start = None
    if best is None:
        return None
    first, last = points[best[0]], points[best[1]]
    seconds = (last.commit_ms - first.commit_ms) / 1000
    if seconds <= 0:
        return None
    return Rate(last.rows - first.rows, last.batches - first.batches, seconds)


class Poller(threading.Thread):
    """Samples INFO persistence every POLL_S on its own connection until stopped."""

    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.samples: list[Sample] = []
        self.error: Exception | None = None
        self._done = threading.Event()

    def run(self) -> None:
        try:
            with self.server.client(timeout=30) as client:
                while not self._done.is_set():
                    reply = client.call("INFO", "persistence")
                    if isinstance(reply, bytes):
                        sample = sample_of(parse_info(reply))
                        if sample is not None:
                            self.samples.append(sample)
                    self._done.wait(POLL_S)
        except Exception as err:  # reported by the scenario
            self.error = err

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=10)


def in_commit_rate(samples: list[Sample]) -> float | None:
    """Rows per second spent inside commits (l3_last_commit_usec), over the steps between
    samples that saw exactly one new commit (so its rows and duration are both known)."""
    rows = micros = 0
    prev = None
    for s in samples:
        if prev is not None and s.batches == prev.batches + 1 and s.commit_us > 0:
            rows += s.rows - prev.rows
            micros += s.commit_us
        if prev is None or s.batches != prev.batches:
            prev = s
    return rows / (micros / 1e6) if micros else None


@dataclass(frozen=True)
class UnderLoad:
    rate: Rate | None       # sustained rate while the batcher had full batches waiting
    in_commit: float | None
    final: Sample
    max_depth: int
    set_rps: float


def run_under_load(ctx: Context, rows: int) -> UnderLoad:
    """Load `rows` random-key SETs into a fresh Strata (everysec, default batcher settings)
    while polling INFO persistence, then wait for the queue to empty."""
    server = ctx.strata("strata", args=["--persistence", "yes", "--l3-fsync", "everysec",
                                        "--l3-batch-max", str(BATCH_MAX)],
                        features=["persistence", "l3-fsync"])
    poller = Poller(server)
    try:
        poller.start()
        bench = rbench.run(ctx.settings.redis_benchmark, server.port,
                           ["-n", str(rows), "-r", str(ROWS), *BENCH_ARGS], timeout=600)
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while time.monotonic() < deadline and poller.error is None:
            if poller.samples and poller.samples[-1].depth == 0:
                break
            time.sleep(0.1)
        time.sleep(3 * POLL_S)
    finally:
        poller.stop()
        ctx.stop(server)
    if poller.error is not None:
        raise RuntimeError(f"polling INFO persistence failed: {poller.error}")
    if not poller.samples:
        raise ScenarioSkipped("INFO persistence lacks l3_rows_written / l3_batches / "
                              "l3_queue_depth / l3_last_commit_time")
    final = poller.samples[-1]
    if final.batches == 0:
        raise RuntimeError("INFO persistence showed no L3 commit during the load")
    if final.depth != 0:
        raise RuntimeError(f"the batcher still had {final.depth} rows queued "
                           f"{DRAIN_TIMEOUT_S}s after the load")
    return UnderLoad(commit_rate(poller.samples, BATCH_MAX), in_commit_rate(poller.samples),
                     final, max(s.depth for s in poller.samples), bench[0].rps)


@dataclass(frozen=True)
class Backlog:
    rows: int               # rows the SAVE's commit wrote
    commit_s: float         # its duration (l3_last_commit_usec)
    save_s: float           # SAVE sent to reply
    committed_before: int   # rows committed during the load (the flush interval ran out)


def run_backlog(ctx: Context, rows: int) -> Backlog:
    """Load `rows` SETs into a Strata whose batcher holds them back (the largest batch and
    flush interval it accepts), then time the SAVE that commits them all in one go."""
    server = ctx.strata("strata", args=["--persistence", "yes", "--l3-fsync", "everysec",
                                        *BACKLOG_ARGS], features=["persistence", "l3-fsync"])
    try:
        rbench.run(ctx.settings.redis_benchmark, server.port,
                   ["-n", str(rows), "-r", str(ROWS), *BENCH_ARGS], timeout=600)
        before = sample_of(server.info("persistence"))
        begin = time.perf_counter()
        reply = server.call("SAVE", timeout=600)
        save_s = time.perf_counter() - begin
        after = sample_of(server.info("persistence"))
    finally:
        ctx.stop(server)
    if before is None or after is None:
        raise ScenarioSkipped("INFO persistence lacks the l3_* batcher fields")
    if reply != "OK":
        raise RuntimeError(f"SAVE answered {reply!r}")
    if after.batches != before.batches + 1 or after.commit_us <= 0:
        raise RuntimeError(f"SAVE made {after.batches - before.batches} commits, expected one")
    return Backlog(after.rows - before.rows, after.commit_us / 1e6, save_s, before.rows)


# -- the scenario ----------------------------------------------------------------

def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE)
    result.columns = COLUMNS
    rows = ctx.scale(ROWS)
    binary = compile_raw(ctx)
    raw_dir = ctx.settings.run_dir / "data" / "sqlite-raw"
    load = rbench.display(["-n", str(rows), "-r", str(ROWS), *BENCH_ARGS])
    result.params = {"rows": rows, "key_space": ROWS, "value_bytes": 64, "batch_max": BATCH_MAX,
                     "page_size": PAGE_SIZE}
    result.command(f"cc -O2 -o sqlite_raw bench/sqlite_raw.c -lsqlite3 && ./sqlite_raw -n {rows} "
                   f"-m {','.join(MODES)} -b {','.join(map(str, BATCHES))} -s {','.join(SYNCS)} "
                   f"-p {PAGE_SIZE}")
    result.command(f"strata-server --persistence yes --l3-fsync everysec --l3-batch-max {BATCH_MAX}"
                   "   # under load")
    result.command(f"{load}   # INFO persistence polled every {POLL_S * 1000:.0f} ms")
    result.command(f"strata-server --persistence yes --l3-fsync everysec {' '.join(BACKLOG_ARGS)}"
                   "   # backlog")
    result.command(f"{load}; redis-cli -p PORT SAVE   # timed; l3_last_commit_usec")
    result.note("Rows: 16-byte keys key:NNNNNNNNNNNN drawn at random from 1M (redis-benchmark -r "
                "1000000: ~63% distinct), 64-byte values. Raw (bench/sqlite_raw.c): a fresh "
                f"database per run with L3Store's pragmas for a new file (page_size {PAGE_SIZE} "
                "before WAL mode, cache_size -65536, wal_autocheckpoint "
                f"{40_960_000 // PAGE_SIZE} = 40960000 / page size), timed from the first BEGIN "
                "to the last COMMIT; the appends let SQLite number the rows, as the batcher does "
                "for a run of rows that are exactly the ones SQLite picks next (-S binds seq, as "
                "it does otherwise); append64 writes 64 rows per INSERT statement as the batcher does now (its "
                "batcher/raw ratio is the like-for-like one), append16 16 as it did from commit "
                "374f390 on (for reference); upsert = INSERT ... ON CONFLICT(key) DO UPDATE into a rowid table "
                "with a UNIQUE key (faster here than WITHOUT ROWID).")
    result.note("Batcher, backlog: the SETs are held in the queue (l3-batch-max and "
                "l3-flush-interval at their maximum), then SAVE commits them all in one "
                "transaction; rate = rows it wrote (after coalescing) / l3_last_commit_usec (the "
                "commit, from BEGIN to marking the entries persisted). Nothing else runs meanwhile, "
                "as for the raw program: this is the batcher's capacity.")
    result.note("Batcher, under load: default batcher settings while redis-benchmark runs; rate = "
                "rows committed between the first and the last commit of the longest stretch in "
                f"which every commit took at least l3-batch-max ({BATCH_MAX:,}) rows, over the "
                "time between those commits (l3_last_commit_time). When the batcher keeps up "
                "(max queue depth far below l3-queue-max) this is the load's rate, not the "
                "batcher's limit. 'rows/s inside commits' divides rows by l3_last_commit_usec "
                "for the polls that saw exactly one new commit.")
    result.note("The batcher runs under everysec (synchronous NORMAL), so the FULL rows have "
                "raw figures only.")

    for rnd in range(1, ctx.rounds + 1):
        raw = run_raw(binary, rows, raw_dir)
        loaded = run_under_load(ctx, rows)
        backlog = run_backlog(ctx, rows)
        drain = backlog.rows / backlog.commit_s
        sustained = loaded.rate.rows_per_s if loaded.rate else None
        for batch in BATCHES:
            for mode, label in MODES.items():
                result.add(f"backlog vs {label}, batch {batch:,}, NORMAL", "", "rows/s",
                           "strata", drain)
                result.add(f"backlog vs {label}, batch {batch:,}, NORMAL", "", "rows/s",
                           "redis", raw.get((mode, "NORMAL", batch)))
        for mode, label in MODES.items():
            result.add(f"under load vs {label}, batch {BATCH_MAX:,}, NORMAL", "", "rows/s",
                       "strata", sustained)
            result.add(f"under load vs {label}, batch {BATCH_MAX:,}, NORMAL", "", "rows/s",
                       "redis", raw.get((mode, "NORMAL", BATCH_MAX)))
        for mode, label in MODES.items():
            for batch in BATCHES:
                result.add(f"raw {label}, batch {batch:,}, FULL", "", "rows/s", "redis",
                           raw.get((mode, "FULL", batch)))
                result.add(f"raw {label}, batch {batch:,}, FULL", "", "rows/s", "strata", None)
        # Ratios per round too: on a shared machine a round's raw and batcher figures are
        # measured close together, so their ratio is steadier than the ratio of medians.
        append = raw.get(("append", "NORMAL", BATCH_MAX))
        batcher_like = raw.get((BATCHER_MODE, "NORMAL", BATCH_MAX))
        append16 = raw.get(("append16", "NORMAL", BATCH_MAX))
        upsert = raw.get(("upsert_rowid", "NORMAL", BATCH_MAX))
        for what, value in (("backlog", drain), ("under load", sustained)):
            for name, base in (("append", append), (BATCHER_MODE, batcher_like),
                               ("append16", append16), ("upsert", upsert)):
                result.add(f"per-round ratio: {what} / raw {name}, batch {BATCH_MAX:,}, NORMAL",
                           "", "x", "strata", value / base if value and base else None)
        result.add("backlog: rows in the one commit", "", "rows", "strata", backlog.rows, "")
        result.add("backlog: rows/s from SAVE sent to its reply", "", "rows/s", "strata",
                   backlog.rows / backlog.save_s)
        result.add("under load: redis-benchmark SET/s", "", "req/s", "strata", loaded.set_rps)
        result.add("under load: rows/s inside commits", "", "rows/s", "strata", loaded.in_commit)
        result.add("under load: mean rows per commit", "", "rows", "strata",
                   loaded.rate.rows_per_commit if loaded.rate else None, "")
        result.add("under load: max queue depth seen", "", "rows", "strata", loaded.max_depth, "")
        if loaded.rate is None:
            result.note("In some round no commit took a full batch under load: the batcher "
                        "waited for work throughout, so its sustained rate is n/a.")
        if backlog.committed_before:
            result.note("In some round the flush interval ran out during the load and part of "
                        "the backlog was committed before SAVE (counted apart).")
        ctx.log(f"  round {rnd}/{ctx.rounds} raw NORMAL/{BATCH_MAX:,}: append {append or 0:,.0f}, "
                f"{BATCHER_MODE} {batcher_like or 0:,.0f}, append16 {append16 or 0:,.0f}, "
                f"upsert {upsert or 0:,.0f} rows/s; load average {load_average()}")
        ctx.log(f"  round {rnd}/{ctx.rounds} backlog: {backlog.rows:,} rows in {backlog.commit_s:.2f}s "
                f"= {drain:,.0f} rows/s ({ratio_text(drain, append)} of append, "
                f"{ratio_text(drain, batcher_like)} of {BATCHER_MODE} (as the batcher), "
                f"{ratio_text(drain, append16)} of append16, "
                f"{ratio_text(drain, upsert)} of upsert); SAVE {backlog.save_s:.2f}s")
        ctx.log(f"  round {rnd}/{ctx.rounds} under load: {loaded.set_rps:,.0f} SET/s; sustained "
                + (f"{sustained:,.0f} rows/s ({loaded.rate.commits} commits, "
                   f"{loaded.rate.rows_per_commit:,.0f} rows each)" if loaded.rate else "n/a")
                + f", inside commits {loaded.in_commit or 0:,.0f} rows/s, "
                f"max queue depth {loaded.max_depth:,}")
    shutil.rmtree(raw_dir, ignore_errors=True)
    return result


def load_average() -> str:
    """The 1-minute load average (the machine may be shared), or '?'."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except (OSError, IndexError):
        return "?"


def ratio_text(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else "n/a"
