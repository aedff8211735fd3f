"""The L3 (SQLite) tier end to end: durability, recovery, read-through, bad start-ups.

What is checked, against the release binary (strata only; TARGET=redis skips this file):

  * a restart on the same directory recovers every live key of every database, values byte
    for byte, TTLs, and nothing deleted, flushed or expired; key-only commands (DBSIZE, EXISTS,
    KEYS, SCAN, TTL, TYPE, RANDOMKEY) see the recovered keys while they are still cold;
  * SIGTERM and SHUTDOWN commit every acknowledged write still queued in the batcher;
  * kill -9 under write load: with ``l3-fsync always`` no acknowledged write is lost; with
    ``everysec`` only writes acknowledged in the last moments may be (printed);
  * FLUSHALL is never undone by a restart;
  * with a small ``maxmemory`` values move out to L3, read back correctly and in order;
  * a key that exists nowhere costs no disk read (rates printed);
  * a damaged, too new or misplaced database file stops the server with a clear message;
  * LOADING while a large file is read at start-up;
  * a full disk: writes get -MISCONF, reads go on, writes resume once there is space.

Run ``python3 -m pytest -q -s Tests/integration/test_l3.py`` to see the printed figures.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import HOST, free_port, strata_bin, target
from resp_client import NIL, OK, Array, Bulk, ConnectionClosed, Error, Integer, RespConnection, Simple, Verbatim, info

pytestmark = pytest.mark.skipif(target() == "redis", reason="L3 is strata's own persistence tier")

MB = 1024 * 1024


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def wait_for(predicate, timeout: float, what: str, interval: float = 0.02):
    """Polls ``predicate`` until it returns something truthy; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def wait_loaded(server, timeout: float = 30.0) -> dict:
    """Waits until INFO persistence says loading:0; returns that INFO."""
    with server.connect() as conn:
        def loaded():
            fields = info(conn, "persistence")
            return fields if fields.get("loading") == "0" else None
        return wait_for(loaded, timeout, "loading:0")


def wait_exit(server, timeout: float = 20.0) -> int:
    """Waits for the server process to exit by itself; returns its exit code."""
    try:
        code = server.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{server.name} did not exit within {timeout:.0f}s")
    server.stop()  # records the exit for the log hook
    return code


def shutdown(server) -> None:
    """SHUTDOWN over the protocol: no reply, the connection closes, the process exits 0."""
    with server.connect() as conn:
        conn.send([("SHUTDOWN",)])
        assert conn.is_closed_by_peer(10.0), "SHUTDOWN did not close the connection"
    assert wait_exit(server) == 0


def mget_all(conn: RespConnection, keys: list, chunk: int = 500) -> dict:
    """Values of ``keys`` (None where missing), by MGET in chunks."""
    found = {}
    for start in range(0, len(keys), chunk):
        part = keys[start:start + chunk]
        reply = conn.execute("MGET", *part)
        assert isinstance(reply, Array), f"MGET replied {reply!r}"
        for key, item in zip(part, reply.items):
            found[key] = item.value if isinstance(item, Bulk) else None
    return found


def scan_all(conn: RespConnection) -> list:
    cursor, keys = b"0", []
    while True:
        reply = conn.execute("SCAN", cursor, "COUNT", 100)
        cursor, batch = reply.items[0].value, reply.items[1].items
        keys += [item.value for item in batch]
        if cursor == b"0":
            return keys


def binary_value(rng: random.Random, size: int) -> bytes:
    """Arbitrary bytes, including the ones RESP and C strings care about."""
    return rng.randbytes(size) + b"\r\n\x00$*" if size else b""


def now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------
# 1. A restart recovers every live key
# --------------------------------------------------------------------------


def test_restart_recovers_every_live_key(server_factory):
    server = server_factory()
    rng = random.Random(1)
    live: dict[int, dict[bytes, bytes]] = {db: {} for db in range(4)}
    expiry: dict[tuple[int, bytes], int] = {}  # (db, key) -> absolute expiry, Unix ms
    gone: dict[int, set] = {db: set() for db in range(4)}

    def forget(db, key):
        live[db].pop(key, None)
        expiry.pop((db, key), None)
        gone[db].add(key)

    with server.connect() as c:
        # db 0: binary values, overwrites, deletions, TTLs set every way.
        keys = [b"k:%d" % i for i in range(300)] + [b"bin\x00\r\n\xff key", b""]
        for k in keys:
            live[0][k] = binary_value(rng, rng.randrange(0, 3000))
        assert c.pipeline([("SET", k, live[0][k]) for k in keys]) == [OK] * len(keys)
        for k in keys[:100]:                                  # overwrite
            live[0][k] = binary_value(rng, rng.randrange(1, 500))
            assert c.execute("SET", k, live[0][k]) == OK
        for k in keys[100:150]:                               # delete
            assert c.execute("DEL", k) == Integer(1)
            forget(0, k)
        for k in keys[150:180]:                               # SET ... EX
            live[0][k] = b"ex-" + k
            expiry[(0, k)] = now_ms() + 1000 * 1000
            assert c.execute("SET", k, live[0][k], "EX", 1000) == OK
        for k in keys[180:200]:                               # EXPIRE on an existing key
            expiry[(0, k)] = now_ms() + 500 * 1000
            assert c.execute("EXPIRE", k, 500) == Integer(1)
        for k in keys[150:160]:                               # PERSIST clears it again
            expiry.pop((0, k))
            assert c.execute("PERSIST", k) == Integer(1)
        for k in keys[160:165]:                               # SET without KEEPTTL clears it
            expiry.pop((0, k))
            live[0][k] = b"plain-" + k
            assert c.execute("SET", k, live[0][k]) == OK
        for k in keys[165:170]:                               # SET KEEPTTL keeps it
            live[0][k] = b"kept-" + k
            assert c.execute("SET", k, live[0][k], "KEEPTTL") == OK
        for k in keys[200:210]:                               # expires before the restart
            assert c.execute("SET", k, b"short", "PX", 150) == OK
            forget(0, k)
        assert c.execute("INCR", "counter") == Integer(1)
        assert c.execute("INCRBY", "counter", 41) == Integer(42)
        live[0][b"counter"] = b"42"
        assert c.execute("APPEND", keys[210], b"+tail") == Integer(len(live[0][keys[210]]) + 5)
        live[0][keys[210]] += b"+tail"
        assert c.execute("RENAME", keys[211], b"renamed") == OK
        live[0][b"renamed"] = live[0][keys[211]]
        forget(0, keys[211])
        assert c.execute("GETDEL", keys[212]) == Bulk(live[0][keys[212]])
        forget(0, keys[212])
        assert c.pipeline([("MULTI",), ("SET", "tx:a", "1"), ("SET", "tx:b", "2"), ("DEL", keys[213]),
                           ("EXEC",)])[-1] == Array((OK, OK, Integer(1)))
        live[0].update({b"tx:a": b"1", b"tx:b": b"2"})
        forget(0, keys[213])

        # db 1: same key names as db 0, other values; one copied in from db 0.
        assert c.execute("SELECT", 1) == OK
        for i in range(100):
            k = b"k:%d" % i
            live[1][k] = b"db1-" + k
        assert c.execute("MSET", *[x for kv in live[1].items() for x in kv]) == OK
        assert c.execute("SELECT", 0) == OK
        assert c.execute("COPY", keys[220], b"copied", "DB", 1) == Integer(1)
        live[1][b"copied"] = live[0][keys[220]]

        # db 2: written, then FLUSHDB, then two new keys.
        assert c.execute("SELECT", 2) == OK
        assert c.execute("MSET", *[x for i in range(100) for x in (b"f:%d" % i, b"v")]) == OK
        assert c.execute("FLUSHDB") == OK
        gone[2].update(b"f:%d" % i for i in range(100))
        assert c.execute("SET", "after-flush", "yes", "PX", 900_000) == OK
        expiry[(2, b"after-flush")] = now_ms() + 900_000
        live[2][b"after-flush"] = b"yes"
        assert c.execute("SET", "f:7", "reborn") == OK
        live[2][b"f:7"] = b"reborn"
        gone[2].discard(b"f:7")

        # db 3: one key.
        assert c.execute("SELECT", 3) == OK
        assert c.execute("SET", "only", b"\x00") == OK
        live[3][b"only"] = b"\x00"

        wait_for(lambda: c.execute("SELECT", 0) == OK and c.execute("EXISTS", keys[200]) == Integer(0),
                 5, "the PX 150 keys to expire")

    shutdown(server)
    server.start()
    loaded = wait_loaded(server)
    assert int(loaded["l3_loaded_rows"]) > 0

    with server.connect() as c:
        # Key-only commands, before any value is read: every key is still a cold stub.
        for db in range(4):
            assert c.execute("SELECT", db) == OK
            names = set(live[db])
            assert c.execute("DBSIZE") == Integer(len(names)), f"db {db}"
            assert {i.value for i in c.execute("KEYS", "*").items} == names, f"db {db}"
            scanned = scan_all(c)
            assert set(scanned) == names, f"db {db}"
            if names:
                assert c.execute("EXISTS", *names) == Integer(len(names)), f"db {db}"
                for _ in range(20):
                    assert c.execute("RANDOMKEY").value in names
            if gone[db]:
                assert c.execute("EXISTS", *gone[db]) == Integer(0), f"db {db}"
            types = c.pipeline([("TYPE", k) for k in names] + [("TYPE", k) for k in gone[db]])
            assert types == [Simple(b"string")] * len(names) + [Simple(b"none")] * len(gone[db])
            order = sorted(names)
            pttls = c.pipeline([("PTTL", k) for k in order])
            now = now_ms()
            for k, reply in zip(order, pttls):
                if (db, k) in expiry:
                    remaining = expiry[(db, k)] - now
                    assert abs(reply.value - remaining) < 2000, f"db {db} {k!r}: PTTL {reply.value}, expected ~{remaining}"
                else:
                    assert reply == Integer(-1), f"db {db} {k!r}: PTTL {reply!r}"
            assert all(c.execute("TTL", k) == Integer(-2) for k in list(gone[db])[:20])
        tiers = info(c, "tiers")
        assert int(tiers["l1_keys"]) + int(tiers["l2_keys"]) == 0, \
            f"key-only commands loaded values into memory: {tiers}"

        # Now the values, byte for byte (read through from L3).
        for db in range(4):
            assert c.execute("SELECT", db) == OK
            found = mget_all(c, list(live[db]))
            wrong = [k for k, v in live[db].items() if found[k] != v]
            assert not wrong, f"db {db}: {len(wrong)} values differ, e.g. {wrong[:3]}"
            assert all(c.execute("GET", k) == NIL for k in list(gone[db])[:20])


def test_compaction_drops_superseded_rows_and_loses_nothing(server_factory):
    """Overwrites and deletions leave dead rows; compaction removes them while writes go on,
    and a kill -9 afterwards still recovers exactly the final state."""
    server = server_factory()
    keys = [b"c:%d" % i for i in range(2000)]
    final: dict[bytes, bytes | None] = {}
    with server.connect() as c:
        for round_ in range(12):                      # one commit per round: 12 rows per key
            assert c.pipeline([("SET", k, b"%d:%s" % (round_, k)) for k in keys]) == [OK] * len(keys)
            assert c.execute("SAVE") == OK
        final = {k: b"11:" + k for k in keys}
        assert c.pipeline([("DEL", k) for k in keys[:300]]) == [Integer(1)] * 300
        for k in keys[:300]:
            final[k] = None
        assert c.pipeline([("EXPIRE", k, 1000) for k in keys[300:400]]) == [Integer(1)] * 100
        assert c.execute("SAVE") == OK
        before = int(info(c, "persistence")["l3_rows"])
        assert before >= 12 * 2000, f"l3_rows {before} before compaction"

        # Keep writing while compaction runs: a third of the keys change again, some are
        # deleted and recreated (their tombstones and older rows meet in the same pass).
        rng = random.Random(7)
        stop = threading.Event()

        def writer():
            with server.connect() as w:
                n = 0
                while not stop.is_set():
                    k = keys[rng.randrange(300, 2000)]
                    if n % 7 == 0:
                        assert w.execute("DEL", k) in (Integer(0), Integer(1))
                        final[k] = None
                    else:
                        assert w.execute("SET", k, b"late:%d" % n) == OK
                        final[k] = b"late:%d" % n
                    n += 1
                assert w.execute("SAVE") == OK

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            wait_for(lambda: int(info(c, "persistence")["l3_compaction_passes"]) >= 1, 15, "a compaction pass")
        finally:
            stop.set()
            thread.join()
        live = sum(1 for v in final.values() if v is not None)
        assert c.execute("DBSIZE") == Integer(live)

        # The promise: once writes stop, dead rows fall below max(live keys, 10,000) (a pass
        # starts only above that; one that ran during the writes kept the rows of keys not yet
        # committed then).
        bound = live + max(live, 10_000)

        def compacted():
            fields = info(c, "persistence")
            return int(fields["l3_rows"]) <= bound and fields

        fields = wait_for(compacted, 30, f"l3_rows to fall below {bound}")
        assert int(fields["l3_compacted_rows"]) >= before - bound
        print(f"\ncompaction: {before} rows -> {fields['l3_rows']} for {live} live keys, "
              f"{fields['l3_compacted_rows']} rows removed in {fields['l3_compaction_passes']} pass(es)")
        assert c.execute("SAVE") == OK
    db = sqlite3.connect(f"file:{server.workdir / 'strata.db'}?mode=ro", uri=True)
    rows = db.execute("SELECT count(*) FROM log").fetchone()[0]
    db.close()
    assert rows <= bound, f"{rows} rows in the file for {live} live keys"

    server.restart(kill=True)
    wait_loaded(server)
    with server.connect() as c:
        assert c.execute("DBSIZE") == Integer(live)
        found = mget_all(c, keys)
        wrong = [k for k in keys if found[k] != final[k]]
        assert not wrong, f"{len(wrong)} keys differ after compaction and kill -9, e.g. " \
                          f"{[(k, found[k], final[k]) for k in wrong[:3]]}"
        ttl = c.execute("TTL", keys[350])
        assert final[keys[350]] is None or ttl.value in range(900, 1001) or ttl.value == -1


def test_expired_rows_are_purged_in_the_background(server_factory):
    """Keys that expire leave rows behind (their value, then the tombstone active expiry writes);
    the background compaction removes both, with no command touching the keys."""
    server = server_factory()
    volatile = [b"x:%d" % i for i in range(12_000)]
    durable = [b"d:%d" % i for i in range(500)]
    with server.connect() as c:
        assert c.pipeline([("SET", k, b"v", "PX", 400) for k in volatile]) == [OK] * len(volatile)
        assert c.pipeline([("SET", k, b"keep-" + k) for k in durable]) == [OK] * len(durable)
        assert c.execute("SAVE") == OK
        assert int(info(c, "persistence")["l3_rows"]) >= len(volatile) + len(durable)
        # Only active expiry removes them: nothing reads these keys.
        wait_for(lambda: c.execute("DBSIZE") == Integer(len(durable)), 20, "active expiry of 12,000 keys")

        def purged():
            fields = info(c, "persistence")
            return int(fields["l3_rows"]) <= len(durable) and fields

        fields = wait_for(purged, 30, "the expired keys' rows to be compacted away")
        assert int(fields["l3_compacted_rows"]) >= 2 * len(volatile), fields
        assert c.execute("SAVE") == OK
    db = sqlite3.connect(f"file:{server.workdir / 'strata.db'}?mode=ro", uri=True)
    left = db.execute("SELECT count(*) FROM log WHERE key LIKE 'x:%'").fetchone()[0]
    total = db.execute("SELECT count(*) FROM log").fetchone()[0]
    db.close()
    assert left == 0 and total == len(durable), (left, total)
    server.restart(kill=True)
    wait_loaded(server)
    with server.connect() as c:
        assert c.execute("DBSIZE") == Integer(len(durable))
        assert mget_all(c, durable) == {k: b"keep-" + k for k in durable}


def test_changes_to_cold_keys_survive_a_restart(server_factory):
    """After a restart every key is a cold stub: TTL changes, deletions and overwrites made to
    stubs (without reading their values) must be recovered by the next restart."""
    server = server_factory()
    keys = [b"c:%d" % i for i in range(60)]
    with server.connect() as c:
        assert c.execute("MSET", *[x for k in keys for x in (k, b"v-" + k)]) == OK
        for k in keys[40:50]:
            assert c.execute("EXPIRE", k, 1000) == Integer(1)
        assert c.execute("LASTSAVE").value > 0
    server.restart()
    wait_loaded(server)
    with server.connect() as c:
        assert c.pipeline([("EXPIRE", k, 600) for k in keys[:10]]) == [Integer(1)] * 10     # TTL on a stub
        assert c.pipeline([("PERSIST", k) for k in keys[40:45]]) == [Integer(1)] * 5        # cleared on a stub
        assert c.pipeline([("DEL", k) for k in keys[10:20]]) == [Integer(1)] * 10           # tombstones
        assert c.pipeline([("SET", k, b"new") for k in keys[20:30]]) == [OK] * 10           # new versions
        assert c.pipeline([("PEXPIRE", k, 1) for k in keys[30:35]]) == [Integer(1)] * 5     # expire at once
        tiers = info(c, "tiers")
        assert int(tiers["l1_keys"]) + int(tiers["l2_keys"]) == 10, f"only the 10 SETs should be in memory: {tiers}"
        assert c.execute("SAVE") == OK
        assert info(c, "persistence")["rdb_changes_since_last_save"] == "0"
        wait_for(lambda: c.execute("EXISTS", *keys[30:35]) == Integer(0), 5, "the PEXPIRE 1 keys to go")
    server.restart(kill=True)
    wait_loaded(server)
    with server.connect() as c:
        assert c.execute("DBSIZE") == Integer(60 - 10 - 5)
        ttls = dict(zip(keys, c.pipeline([("TTL", k) for k in keys])))
        values = mget_all(c, keys)
    for k in keys[:10]:
        assert 590 <= ttls[k].value <= 600 and values[k] == b"v-" + k, (k, ttls[k], values[k])
    for k in keys[10:20] + keys[30:35]:
        assert ttls[k] == Integer(-2) and values[k] is None, (k, ttls[k], values[k])
    for k in keys[20:30]:
        assert ttls[k] == Integer(-1) and values[k] == b"new", (k, ttls[k], values[k])
    for k in keys[40:45]:
        assert ttls[k] == Integer(-1) and values[k] == b"v-" + k, (k, ttls[k], values[k])
    for k in keys[45:50]:
        assert 990 <= ttls[k].value <= 1000 and values[k] == b"v-" + k, (k, ttls[k], values[k])


# --------------------------------------------------------------------------
# 2. SIGTERM and SHUTDOWN drain the batcher
# --------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["sigterm", "shutdown"])
def test_stop_commits_everything_queued(server_factory, how):
    # A long interval and a huge batch: nothing commits on its own before the stop.
    server = server_factory("--l3-flush-interval", 10_000, "--l3-batch-max", 1_000_000)
    n = 20_000
    keys = [f"drain:{i}".encode() for i in range(n)]
    with server.connect() as c:
        replies = c.pipeline([("SET", k, b"v" + k) for k in keys])
        assert replies == [OK] * n
        fields = info(c, "persistence")
        assert int(fields["l3_queue_depth"]) > 0, f"expected writes still queued: {fields}"
        queued = int(fields["l3_queue_depth"])
    started = time.monotonic()
    if how == "sigterm":
        server.proc.send_signal(signal.SIGTERM)
        assert wait_exit(server) == 0
    else:
        shutdown(server)
    took = time.monotonic() - started
    # The drain commits at once: it must not wait out the 10 s flush interval first.
    assert took < 5.0, f"{how} took {took:.1f}s to exit"
    # On the way out the WAL is checkpointed into the database file (fsynced) and emptied.
    wal = server.workdir / "strata.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0, f"WAL left with {wal.stat().st_size} bytes after {how}"
    assert (server.workdir / "strata.db").stat().st_size > n * 10, "the rows are in the database file"
    server.start()
    wait_loaded(server)
    with server.connect() as c:
        found = mget_all(c, keys)
        missing = [k for k in keys if found[k] != b"v" + k]
        assert not missing, f"{len(missing)} of {n} acknowledged writes lost after {how}, e.g. {missing[:3]}"
    print(f"\n[l3] {how}: {queued} queued writes committed on the way out; exit took {took:.2f}s")


def test_backpressure_slows_writers_without_losing_any(server_factory):
    # A queue limit far below the pipeline: writers must wait for commits, not fail or deadlock.
    server = server_factory("--l3-queue-max", 1000, "--l3-flush-interval", 1000)
    n = 30_000
    keys = [b"bp:%d" % i for i in range(n)]
    with server.connect(timeout=30) as c:
        started = time.monotonic()
        assert c.pipeline([("SET", k, b"x" * 100) for k in keys]) == [OK] * n
        elapsed = time.monotonic() - started
        fields = info(c, "persistence")
    print(f"\n[l3] {n} pipelined SETs with l3-queue-max 1000: {elapsed:.2f}s, {fields['l3_batches']} batches")
    assert int(fields["l3_batches"]) >= n // 1000 // 2, fields
    server.restart(kill=True)
    wait_loaded(server)
    with server.connect() as c:
        # At most the last queue's worth (1000, plus the command that crossed it) was not yet
        # committed when it was killed.
        size = int(c.execute("DBSIZE").value)
    print(f"[l3] after kill -9: {n - size} of them missing")
    assert size >= n - 1100, f"only {size} of {n} keys after kill -9"


def test_persistence_no_and_l3_file(server_factory):
    off = server_factory("--persistence", "no")
    with off.connect() as c:
        assert info(c, "persistence")["l3_enabled"] == "0"
        assert c.execute("SET", "k", "v") == OK
        assert isinstance(c.execute("SAVE"), Error)
    assert not (off.workdir / "strata.db").exists()
    named = server_factory("--l3-file", "other.db")
    with named.connect() as c:
        assert info(c, "persistence")["l3_file"] == str(named.workdir / "other.db")
        assert c.execute("SET", "k", "v") == OK
        assert c.execute("SAVE") == OK
    assert (named.workdir / "other.db").exists() and not (named.workdir / "strata.db").exists()


# --------------------------------------------------------------------------
# 3. kill -9 under write load
# --------------------------------------------------------------------------


class Writers:
    """Threads that SET unique keys one at a time and note when each was acknowledged."""

    def __init__(self, server, threads: int = 4):
        self.server = server
        self.stop = threading.Event()
        self.acks: list[list[tuple[bytes, float]]] = [[] for _ in range(threads)]
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._run, args=(t,), daemon=True) for t in range(threads)]

    @staticmethod
    def value(key: bytes) -> bytes:
        return b"value-of-" + key

    def _run(self, t: int) -> None:
        acks = self.acks[t]
        try:
            conn = RespConnection(HOST, self.server.port, timeout=10)
        except OSError as exc:
            self.errors.append(repr(exc))
            return
        i = 0
        try:
            while not self.stop.is_set():
                key = b"w%d:%d" % (t, i)
                conn.send([("SET", key, self.value(key))])
                reply = conn.read_reply()
                if reply != OK:
                    self.errors.append(f"{key!r}: {reply!r}")
                    return
                acks.append((key, time.monotonic()))
                i += 1
        except (OSError, ConnectionClosed, EOFError):
            pass  # the server was killed
        except Exception as exc:  # a reply cut short by the kill
            if not self.stop.is_set():
                self.errors.append(repr(exc))
        finally:
            conn.close()

    def start(self) -> "Writers":
        for thread in self.threads:
            thread.start()
        return self

    @property
    def count(self) -> int:
        return sum(len(a) for a in self.acks)

    def first_ack(self) -> float:
        return min((a[0][1] for a in self.acks if a), default=time.monotonic())

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)

    def all_acks(self) -> list[tuple[bytes, float]]:
        return [ack for acks in self.acks for ack in acks]


def test_kill9_always_loses_no_acknowledged_write(server_factory):
    server = server_factory("--l3-fsync", "always")
    with server.connect() as c:
        # Replies held until their commit still come back in order.
        assert c.pipeline([("SET", "a", "1"), ("GET", "a"), ("SET", "a", "2"), ("GET", "a"), ("INCR", "n"),
                           ("GET", "n"), ("DEL", "a"), ("GET", "a")]) \
            == [OK, Bulk(b"1"), OK, Bulk(b"2"), Integer(1), Bulk(b"1"), Integer(1), NIL]
    writers = Writers(server).start()
    wait_for(lambda: writers.count >= 3000 or writers.errors, 20, "3000 acknowledged writes")
    killed_at = time.monotonic()
    server.kill()
    writers.join()
    assert not writers.errors, writers.errors[:5]
    acks = writers.all_acks()
    rate = len(acks) / max(killed_at - writers.first_ack(), 1e-6)
    server.start()
    wait_loaded(server)
    with server.connect() as c:
        found = mget_all(c, [k for k, _ in acks])
        found_n = c.execute("GET", "n")
    missing = [k for k, _ in acks if found[k] != Writers.value(k)]
    assert found_n == Bulk(b"1")
    print(f"\n[l3] always: {len(acks)} writes acknowledged ({rate:.0f}/s with 4 sequential writers), "
          f"{len(missing)} missing after kill -9")
    assert not missing, f"{len(missing)} acknowledged writes lost under l3-fsync always, e.g. {missing[:5]}"


def test_always_holds_large_pipelines_in_order(server_factory):
    """Under always, a read batch whose replies outgrow the output high-water mark (256 KB) waits
    for more than one commit; replies still come back complete and in order."""
    server = server_factory("--l3-fsync", "always")
    value = b"v" * 4000
    commands, expected = [], []
    for i in range(300):
        commands += [("SET", b"big:%d" % i, value + b"%d" % i), ("GET", b"big:%d" % i), ("STRLEN", b"big:%d" % i)]
        expected += [OK, Bulk(value + b"%d" % i), Integer(len(value) + len(b"%d" % i))]
    with server.connect() as c:
        assert c.pipeline(commands) == expected
        assert int(info(c, "persistence")["l3_batches"]) >= 1
    server.restart(kill=True)
    wait_loaded(server)
    with server.connect() as c:
        found = mget_all(c, [b"big:%d" % i for i in range(300)])
        assert all(found[b"big:%d" % i] == value + b"%d" % i for i in range(300))


def test_kill9_everysec_loses_only_the_last_moments(server_factory):
    server = server_factory("--l3-fsync", "everysec")
    writers = Writers(server).start()
    wait_for(lambda: (writers.count > 0 and time.monotonic() - writers.first_ack() > 2.0) or writers.errors,
             20, "two seconds of write load")
    killed_at = time.monotonic()
    server.kill()
    writers.join()
    assert not writers.errors, writers.errors[:5]
    acks = writers.all_acks()
    server.start()
    wait_loaded(server)
    with server.connect() as c:
        found = mget_all(c, [k for k, _ in acks])
    missing = [(k, killed_at - t) for k, t in acks if found[k] != Writers.value(k)]
    old = [(k, age) for k, age in missing if age > 1.0]
    recent = sum(1 for _, t in acks if killed_at - t <= 1.0)
    oldest = max((age for _, age in missing), default=0.0)
    print(f"\n[l3] everysec: {len(acks)} writes acknowledged, {recent} in the last second before kill -9; "
          f"{len(missing)} missing after restart (oldest acknowledged {oldest * 1000:.0f} ms before the kill)")
    assert not old, f"{len(old)} writes acknowledged more than 1 s before kill -9 were lost, e.g. {old[:5]}"


# --------------------------------------------------------------------------
# 4. FLUSHALL is not undone by a restart
# --------------------------------------------------------------------------


@pytest.mark.parametrize("stop", ["sigterm", "kill9"])
def test_flushall_does_not_resurrect(server_factory, stop):
    server = server_factory()
    with server.connect() as c:
        assert c.execute("MSET", *[x for i in range(500) for x in (b"old:%d" % i, b"x" * 100)]) == OK
        assert c.execute("SELECT", 5) == OK
        assert c.execute("SET", "old:db5", "x") == OK
        assert c.execute("SAVE") == OK
        assert info(c, "persistence")["rdb_changes_since_last_save"] == "0"
    # Once more with the old keys cold (only stubs in memory) when FLUSHALL comes.
    server.restart()
    wait_loaded(server)
    with server.connect() as c:
        assert c.execute("DBSIZE") == Integer(500)
        assert c.execute("FLUSHALL") == OK
        assert c.execute("SET", "new:1", "a") == OK
        assert c.execute("SELECT", 5) == OK
        assert c.execute("SET", "new:5", "b") == OK
        if stop == "kill9":
            assert c.execute("SAVE") == OK
    server.restart(kill=stop == "kill9")
    wait_loaded(server)
    with server.connect() as c:
        sizes = []
        for db in range(16):
            assert c.execute("SELECT", db) == OK
            sizes.append(c.execute("DBSIZE").value)
        assert sizes[0] == 1 and sizes[5] == 1 and sum(sizes) == 2, f"DBSIZE per db after restart: {sizes}"
        assert c.execute("SELECT", 5) == OK
        assert c.execute("GET", "new:5") == Bulk(b"b")
        assert c.execute("SELECT", 0) == OK
        assert c.execute("GET", "new:1") == Bulk(b"a")
        assert c.execute("GET", "old:1") == NIL


# --------------------------------------------------------------------------
# 5, 6. Values beyond maxmemory live in L3 and read through
# --------------------------------------------------------------------------

COLD_KEYS = 2000
COLD_VALUE = 10 * 1024
COLD_BUDGET = 2 * MB


@pytest.fixture(scope="module")
def cold_server(_module_servers):
    """A server with a 2 MB budget holding 20 MB of values (so most live only in L3)."""
    if target() == "redis":
        pytest.skip("strata only")
    server = _module_servers("--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru")
    rng = random.Random(5)
    values = {b"cold:%d" % i: rng.randbytes(COLD_VALUE) for i in range(COLD_KEYS)}
    keys = list(values)
    with server.connect(timeout=30) as c:
        for start in range(0, COLD_KEYS, 100):
            part = keys[start:start + 100]
            assert c.pipeline([("SET", k, values[k]) for k in part]) == [OK] * len(part)
        assert c.execute("SAVE") == OK
    return server, values


def test_values_beyond_maxmemory_move_to_l3(cold_server):
    server, values = cold_server
    with server.connect() as c:
        memory, tiers = info(c, "memory"), info(c, "tiers")
        used = int(memory["used_memory"])
        in_memory = int(tiers["l1_keys"]) + int(tiers["l2_keys"])
        assert c.execute("DBSIZE") == Integer(COLD_KEYS)
    print(f"\n[l3] 20 MB written under a 2 MB budget: used_memory {used}, {in_memory} of {COLD_KEYS} "
          f"values in memory")
    assert in_memory < COLD_KEYS // 5, f"values were not moved out of memory: {tiers}"
    assert used <= COLD_BUDGET + 1 * MB, f"used_memory {used} beyond the budget {COLD_BUDGET} + 1 MB"


def test_info_tiers_reports_the_l3_index(cold_server):
    server, _ = cold_server
    with server.connect() as c:
        tiers = info(c, "tiers")
    missing = [f for f in ("l3_index_keys", "l3_index_bytes") if f not in tiers]
    assert not missing, f"INFO tiers lacks {missing}: {sorted(tiers)}"
    assert int(tiers["l3_index_keys"]) > 0


def test_cold_reads_keep_order_and_per_key_semantics(cold_server):
    server, values = cold_server
    server.restart()  # every key cold: only stubs in memory
    wait_loaded(server)
    # Six groups of five cold keys, interleaved in one pipeline.
    groups = [[b"cold:%d" % (g * 5 + i) for i in range(5)] for g in range(6)]
    commands, expected = [], []
    for i in range(5):
        k = groups[0][i]                                      # GET; SET; GET
        commands += [("GET", k), ("SET", k, b"new0"), ("GET", k)]
        expected += [Bulk(values[k]), OK, Bulk(b"new0")]
        k = groups[1][i]                                      # SET first, then GET
        commands += [("SET", k, b"new1"), ("GET", k)]
        expected += [OK, Bulk(b"new1")]
        k = groups[2][i]                                      # DEL; GET
        commands += [("DEL", k), ("GET", k)]
        expected += [Integer(1), NIL]
        k = groups[3][i]                                      # SET ... GET returns the old value
        commands += [("SET", k, b"new3", "GET"), ("GET", k)]
        expected += [Bulk(values[k]), Bulk(b"new3")]
        k = groups[4][i]                                      # APPEND to a cold value
        commands += [("APPEND", k, b"+"), ("GET", k)]
        expected += [Integer(COLD_VALUE + 1), Bulk(values[k] + b"+")]
        k = groups[5][i]                                      # GETDEL; EXISTS
        commands += [("GETDEL", k), ("EXISTS", k)]
        expected += [Bulk(values[k]), Integer(0)]
    commands.append(("MGET", b"cold:30", b"missing", b"cold:31"))
    expected.append(Array((Bulk(values[b"cold:30"]), NIL, Bulk(values[b"cold:31"]))))
    with server.connect() as c:
        replies = c.pipeline(commands)
    wrong = [(i, commands[i][:2], r, e) for i, (r, e) in enumerate(zip(replies, expected)) if r != e]
    # Bring the module's model up to date for the next tests.
    for k in groups[0]:
        values[k] = b"new0"
    for k in groups[1]:
        values[k] = b"new1"
    for k in groups[2] + groups[5]:
        del values[k]
    for k in groups[3]:
        values[k] = b"new3"
    for k in groups[4]:
        values[k] += b"+"
    assert not wrong, f"{len(wrong)} replies differ, first: {[(i, cmd) for i, cmd, _, _ in wrong[:5]]}"


def test_every_cold_value_reads_back(cold_server):
    server, values = cold_server
    keys = list(values)
    with server.connect(timeout=30) as c:
        replies = []
        for start in range(0, len(keys), 200):
            replies += c.pipeline([("GET", k) for k in keys[start:start + 200]])
    wrong = [k for k, r in zip(keys, replies) if r != Bulk(values[k])]
    assert not wrong, f"{len(wrong)} of {len(keys)} values differ, e.g. {wrong[:3]}"


def test_read_through_stays_within_maxmemory(cold_server):
    """Reading every value once brings 20 MB through a 2 MB budget: memory must stay near the
    budget (a read that brings a value in pushes another out)."""
    server, values = cold_server
    with server.connect(timeout=30) as c:
        keys = list(values)
        for start in range(0, len(keys), 200):
            c.pipeline([("GET", k) for k in keys[start:start + 200]])
        used = int(info(c, "memory")["used_memory"])
        tiers = info(c, "tiers")
    print(f"\n[l3] after reading all {COLD_KEYS} values: used_memory {used} (budget {COLD_BUDGET}), "
          f"l2_keys {tiers['l2_keys']}")
    assert used <= COLD_BUDGET + 1 * MB, \
        f"reads promoted cold values without eviction: used_memory {used} > maxmemory {COLD_BUDGET} + 1 MB"


def test_missing_keys_cost_no_disk_read(cold_server):
    server, values = cold_server
    server.restart()  # every key cold again: only stubs in memory
    wait_loaded(server)
    n = 10_000
    with server.connect(timeout=30) as c:
        assert int(c.execute("DBSIZE").value) == len(values)
        started = time.monotonic()
        replies = c.pipeline([("GET", b"nowhere:%d" % i) for i in range(n)])
        missing_elapsed = time.monotonic() - started
        assert replies == [NIL] * n
        keys = list(values)
        started = time.monotonic()
        replies = []
        for start in range(0, len(keys), 500):
            replies += c.pipeline([("GET", k) for k in keys[start:start + 500]])
        cold_elapsed = time.monotonic() - started
        assert [r.value if isinstance(r, Bulk) else r for r in replies] == [values[k] for k in keys]
    print(f"\n[l3] {n} GETs of missing keys (with {len(keys)} cold keys present): {missing_elapsed:.3f}s, "
          f"{n / missing_elapsed:.0f}/s")
    print(f"[l3] {len(keys)} cold GETs ({COLD_VALUE // 1024} KB values, pipelined 500 deep): {cold_elapsed:.3f}s, "
          f"{len(keys) / cold_elapsed:.0f}/s, {len(keys) * COLD_VALUE / MB / cold_elapsed:.0f} MB/s")
    assert missing_elapsed < 2.0, f"{n} missing-key GETs took {missing_elapsed:.2f}s"


# --------------------------------------------------------------------------
# 7. A bad start
# --------------------------------------------------------------------------


def run_strata(*args, timeout: float = 15.0) -> subprocess.CompletedProcess:
    """Runs strata-server expecting it to exit by itself; returns the finished process."""
    command = [str(strata_bin()), "--port", str(free_port()), "--bind", HOST, *map(str, args)]
    try:
        return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"strata-server {' '.join(map(str, args))} kept running; it should have refused to start")


def test_garbage_database_file_is_refused(tmp_path):
    (tmp_path / "strata.db").write_bytes(random.Random(7).randbytes(16384))
    done = run_strata("--dir", tmp_path)
    output = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode != 0, output
    assert "L3 database" in output and str(tmp_path / "strata.db") in output, output
    # The file is left alone for the operator to inspect.
    assert (tmp_path / "strata.db").read_bytes() == random.Random(7).randbytes(16384)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "strata.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    done = run_strata("--dir", tmp_path)
    output = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode != 0, output
    assert "L3 database" in output and "schema version 99" in output, output


def test_dir_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "not-a-dir"
    path.write_text("I am a file\n")
    done = run_strata("--dir", path)
    output = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode != 0, output
    assert str(path) in output and "not a directory" in output.lower(), \
        f"expected a message saying {path} is not a directory, got: {output.strip()}"


# --------------------------------------------------------------------------
# 8. LOADING
# --------------------------------------------------------------------------


def test_loading_a_large_file(server_factory):
    n = 300_000
    server = server_factory()
    with server.connect(timeout=60) as c:
        for start in range(0, n, 20_000):
            commands = [("MSET", *[x for i in range(s, s + 1000) for x in (b"load:%d" % i, b"v%d" % i)])
                        for s in range(start, start + 20_000, 1000)]
            assert c.pipeline(commands) == [OK] * len(commands)
    server.stop()
    started = time.monotonic()
    server.start()  # returns at the first PONG: PING answers while loading
    first_pong = time.monotonic() - started
    seen_loading, got_loading_error, answered, checked = False, 0, 0, 0
    rng = random.Random(3)
    with server.connect() as control, server.connect() as data:
        while True:
            assert control.execute("PING") == Simple(b"PONG")
            loading = info(control, "persistence")["loading"]
            seen_loading |= loading == "1"
            i = rng.randrange(n)
            reply = data.execute("GET", b"load:%d" % i)
            if isinstance(reply, Error):
                assert reply.code == b"LOADING", reply
                got_loading_error += 1
            else:
                assert reply == Bulk(b"v%d" % i)
                answered += 1
            if loading == "0":
                break
        fields = info(control, "persistence")
        assert data.execute("DBSIZE") == Integer(n)
        sample = [b"load:%d" % rng.randrange(n) for _ in range(2000)]
        found = mget_all(data, sample)
        assert all(found[k] == b"v" + k.split(b":")[1] for k in sample)
    print(f"\n[l3] loading {n} keys: first PONG after {first_pong * 1000:.0f} ms, "
          f"l3_load_ms {fields['l3_load_ms']}, l3_loaded_rows {fields['l3_loaded_rows']}; "
          f"loading:1 seen: {seen_loading}; -LOADING replies {got_loading_error}, answered {answered}")
    assert int(fields["l3_loaded_rows"]) == n


def test_expiry_during_loading_does_not_delete_a_newer_version(server_factory):
    """An old row of a key, with a TTL, is loaded first; its TTL passes while loading goes on;
    a newer row of the same key (no TTL) is loaded later. Active expiry of the old stub must not
    leave a tombstone that deletes the newer version at the next restart."""
    server = server_factory("--hz", 100)
    deadline = now_ms() + 12_000
    with server.connect(timeout=60) as c:
        assert c.execute("SET", "k", "old", "PXAT", deadline) == OK           # the first row
        for start in range(0, 300_000, 20_000):
            commands = [("MSET", *[x for i in range(s, s + 1000) for x in (b"f:%d" % i, b"x")])
                        for s in range(start, start + 20_000, 1000)]
            assert c.pipeline(commands) == [OK] * len(commands)
        assert c.execute("SET", "k", "new") == OK                            # the last row
    server.stop()
    # Calibrate on this machine: the time from start to the first row loaded (opening and
    # checking the file) and the time loading takes. Nothing expires in this start.
    started = time.time()
    server.start()
    loaded = wait_loaded(server)
    loading_s = int(loaded["l3_load_ms"]) / 1000
    opening_s = max(0.0, time.time() - started - loading_s)
    server.stop()
    # Start so that the old row's deadline falls in the middle of loading.
    wait = deadline / 1000 - (opening_s + loading_s / 2) - time.time()
    if wait < 0:
        pytest.skip("writing and calibrating took too long to place the expiry inside the load")
    time.sleep(wait)  # a deadline in the data, not a poll
    server.start()
    fields = wait_loaded(server)
    with server.connect() as c:
        expired = int(info(c, "stats")["expired_keys"])
        assert c.execute("GET", "k") == Bulk(b"new")
        assert c.execute("SAVE") == OK
    if expired == 0:
        pytest.skip(f"the old row expired before it was loaded (l3_load_ms {fields['l3_load_ms']}): "
                    f"scenario not reproduced")
    server.restart()
    wait_loaded(server)
    with server.connect() as c:
        assert c.execute("GET", "k") == Bulk(b"new"), \
            "the newer version was deleted by a tombstone written for the old row expiring during loading"


# --------------------------------------------------------------------------
# 9. A full disk
# --------------------------------------------------------------------------


@pytest.fixture
def small_filesystem(tmp_path):
    """A 4 MB tmpfs, unmounted afterwards whatever happens."""
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mountpoint)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        if subprocess.run(["umount", str(mountpoint)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


def fill(directory: Path) -> Path:
    """Writes a filler file until the file system is full (unbuffered, down to the last block)."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for size in (65536, 4096, 512):
            block = b"\xaa" * size
            try:
                while os.write(fd, block) > 0:
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_disk_full_refuses_writes_until_space_returns(server_factory, small_filesystem):
    server = server_factory("--dir", small_filesystem)
    with server.connect() as c:
        assert c.execute("MSET", *[x for i in range(100) for x in (b"before:%d" % i, b"b" * 1000)]) == OK
        assert c.execute("SAVE") == OK
    filler = fill(small_filesystem)
    try:
        acked = []
        with server.connect() as c:
            # Writes until the batcher's commit fails and the server refuses writes.
            def refused():
                i = len(acked)
                reply = c.execute("SET", b"during:%d" % i, b"d" * 65536)
                if isinstance(reply, Error):
                    assert reply.code == b"MISCONF", reply
                    return reply
                assert reply == OK
                acked.append(b"during:%d" % i)
                return None
            error = wait_for(refused, 15, "a write to be refused with -MISCONF", interval=0.05)
            fields = info(c, "persistence")
            print(f"\n[l3] disk full after {len(acked)} more writes: {error.text[:160]}")
            assert fields["aof_last_write_status"] == "err" and int(fields["l3_failures"]) > 0, fields
            assert fields["rdb_last_bgsave_status"] == "err", fields
            # Reads go on; so do key-only commands.
            assert c.execute("GET", "before:7") == Bulk(b"b" * 1000)
            assert c.execute("EXISTS", "before:8") == Integer(1)
            assert c.execute("DEL", "before:9").code == b"MISCONF"
        filler.unlink()
        with server.connect() as c:
            wait_for(lambda: c.execute("SET", "after", "space") == OK, 15, "writes to resume", interval=0.1)
            assert c.execute("SAVE") == OK
            fields = info(c, "persistence")
            assert fields["aof_last_write_status"] == "ok" and fields["rdb_last_bgsave_status"] == "ok", fields
            assert "full" in fields["l3_last_error"], fields  # the last error stays for diagnosis
        server.restart()
        wait_loaded(server)
        with server.connect() as c:
            found = mget_all(c, [b"before:%d" % i for i in range(100)] + acked + [b"after"])
            lost = [k for k, v in found.items() if v is None]
            assert not lost, f"{len(lost)} acknowledged writes lost across the full disk: {lost[:5]}"
    finally:
        if filler.exists():
            filler.unlink()  # first: a server stopping on a full disk keeps retrying its commit
        server.stop()
