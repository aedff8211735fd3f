"""Memory budget, eviction policies and the L1/L2 tiers, end to end.

What is checked (against strata; TARGET=redis runs the tests that make sense for
redis-server too, to check the expectations themselves):

  * budgets hold under every maxmemory-policy, and noeviction refuses writes
    with Redis's OOM error while reads and deletes go on;
  * CONFIG SET maxmemory / maxmemory-policy take effect at once;
  * scan resistance: a hot set survives one pass over many cold keys
    (strata asserted, redis-server's allkeys-lru printed for comparison);
  * INFO tiers counters follow a scripted access sequence exactly;
  * many clients at once under a tight budget never see a stale value;
  * used_memory follows RSS over 1M keys (marked ``slow``; still part of a
    plain run, deselect with ``-m "not slow"``).

The keyspace has 256 shards and L1's budget is per shard:
``maxmemory * l1-share / 100 / 256``. Keys land in shards by a random-seeded
hash, so the exact-count scripts only use scenarios whose counts do not depend
on which keys share a shard.

Run ``python3 -m pytest -q -s Tests/integration/test_tiers.py`` to see the
printed comparison figures.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time

import pytest

from conftest import target


@pytest.fixture
def server_factory(server_factory):
    """These tests cover the in-memory tiers alone: eviction here removes keys. With L3 on
    (the default) an evicted value only leaves memory; test_l3.py covers that."""
    class MemoryOnly:
        def __call__(self, *args, **kwargs):
            if target() == "strata" and kwargs.get("kind", "strata") == "strata":
                args = args + ("--persistence", "no")
            return server_factory(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(server_factory, name)
    return MemoryOnly()
from resp_client import NIL, OK, Bulk, Error, Integer, RespConnection, Simple, Verbatim, info

SHARDS = 256
MB = 1024 * 1024
OOM_ERROR = b"OOM command not allowed when used memory > 'maxmemory'."
POLICIES = ["noeviction", "allkeys-lru", "volatile-lru", "allkeys-random", "volatile-random", "volatile-ttl"]

strata_only = pytest.mark.skipif(target() == "redis", reason="strata's INFO tiers / comparison with redis-server")


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def info_int(conn: RespConnection, section: str, name: str) -> int:
    fields = info(conn, section)
    assert name in fields, f"INFO {section} has no {name}: {sorted(fields)}"
    return int(fields[name])


def used_memory(conn: RespConnection) -> int:
    """The data's memory. (INFO used_memory adds the clients' buffers, which maxmemory bounds too,
    but which move with each pipeline the test sends.)"""
    return info_int(conn, "memory", "used_memory_dataset")


TIER_FIELDS = [f"{tier}_{name}" for tier in ("l1", "l2")
               for name in ("keys", "bytes", "hits", "misses", "promotions", "demotions", "evictions")]


def tiers(conn: RespConnection) -> dict:
    """INFO tiers plus the keyspace counters, as ints."""
    fields = info(conn, "tiers", "stats")
    missing = [name for name in TIER_FIELDS if name not in fields]
    assert not missing, f"INFO tiers lacks {missing}"
    names = TIER_FIELDS + ["keyspace_hits", "keyspace_misses", "evicted_keys"]
    return {name: int(fields[name]) for name in names}


def expect_counts(conn: RespConnection, step: str, **expected) -> dict:
    """Asserts the named INFO tiers/stats counters; returns all of them."""
    actual = tiers(conn)
    wrong = {name: (value, actual[name]) for name, value in expected.items() if actual[name] != value}
    assert not wrong, f"after {step}: (expected, actual) {wrong}; all counters {actual}"
    return actual


def run_batched(conn: RespConnection, commands, batch: int = 500) -> list:
    """Pipelines ``commands`` in batches; returns every reply in order."""
    replies = []
    for start in range(0, len(commands), batch):
        replies.extend(conn.pipeline(commands[start:start + batch]))
    return replies


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * 4096


# --------------------------------------------------------------------------
# Budgets under every policy
# --------------------------------------------------------------------------

BUDGET = 4 * MB          # large enough for redis-server's own ~1 MB baseline under TARGET=redis
BIG_VALUE = 1000         # bytes; the fill writes about 3x the budget
FILL_KEYS = 12_000
# A shard's bucket array doubles as it fills; one insertion may add that much (bytes).
BUCKET_GROWTH = 2048
PERSISTENT_KEYS = 50


@pytest.mark.parametrize("policy", POLICIES)
def test_budget_holds_under_policy(server_factory, policy):
    server = server_factory("--maxmemory", BUDGET, "--maxmemory-policy", policy)
    volatile = policy.startswith("volatile")
    with server.connect() as conn:
        # Keys without a TTL first: the volatile-* policies must never evict them.
        assert run_batched(conn, [("SET", f"persist:{i}", "p" * 100) for i in range(PERSISTENT_KEYS)]) \
            == [OK] * PERSISTENT_KEYS
        entry_size = conn.execute("MEMORY", "USAGE", "persist:0").value + BIG_VALUE
        written, refused = [], 0
        for start in range(0, FILL_KEYS, 400):
            commands = []
            for i in range(start, start + 400):
                value = b"%08d" % i + b"x" * (BIG_VALUE - 8)
                # volatile-ttl: later keys live longer, so the earliest ones should go first.
                commands.append(("SET", f"fill:{i:06d}", value, "EX", 100_000 + i) if volatile
                                else ("SET", f"fill:{i:06d}", value))
            for i, reply in zip(range(start, start + 400), conn.pipeline(commands)):
                if reply == OK:
                    written.append(i)
                else:
                    assert policy == "noeviction" and reply == Error(OOM_ERROR), \
                        f"{policy}: SET fill:{i} replied {reply!r}"
                    refused += 1
            used = used_memory(conn)
            assert used <= BUDGET + entry_size + BUCKET_GROWTH, \
                f"{policy}: used_memory {used} > maxmemory {BUDGET} + one entry ({entry_size}) after {start + 400} SETs"

        stats = info(conn, "stats")
        survivors = [int(k.value.split(b":")[1]) for k in conn.execute("KEYS", "fill:*").items]
        persist_left = sum(1 for r in conn.pipeline([("EXISTS", f"persist:{i}") for i in range(PERSISTENT_KEYS)])
                           if r == Integer(1))
        evicted = int(stats["evicted_keys"])
        early = sum(1 for i in survivors if i < FILL_KEYS // 4)
        print(f"\n{policy}: {len(written)} written, {refused} refused, {evicted} evicted, "
              f"{len(survivors)} fill keys left ({early} of the first quarter), "
              f"{persist_left}/{PERSISTENT_KEYS} persistent left, used_memory {used_memory(conn)}")

        if policy == "noeviction":
            assert refused > 0 and evicted == 0
            # Everything accepted is still there: nothing was evicted.
            assert sorted(survivors) == written and persist_left == PERSISTENT_KEYS
        else:
            assert refused == 0 and evicted > 0
            assert len(written) - len(survivors) + (PERSISTENT_KEYS - persist_left) == evicted
        if volatile:
            assert persist_left == PERSISTENT_KEYS, f"{policy} evicted keys that have no TTL"
        # LRU order and shortest-TTL-first leave almost nothing of the oldest quarter;
        # random eviction leaves a good part of it (about 15% by the arithmetic of random deletes).
        # (redis-server's LRU is approximate, by sampling: it keeps some old keys.)
        if policy == "volatile-ttl" or (policy == "allkeys-lru" and target() == "strata"):
            assert early <= FILL_KEYS // 4 // 50, f"{policy} kept {early} of the {FILL_KEYS // 4} oldest keys"
        if policy in ("allkeys-random", "volatile-random"):
            assert early >= FILL_KEYS // 4 // 50, f"{policy} kept only {early} of the {FILL_KEYS // 4} oldest keys"

        if target() == "strata" and policy != "noeviction":
            counts = tiers(conn)
            # Nothing was read, so nothing was promoted and everything evicted came from L2.
            assert counts["l1_promotions"] == 0 and counts["l1_keys"] == 0, counts
            assert counts["l2_evictions"] == evicted and counts["l1_evictions"] == 0, counts


def test_noeviction_refuses_writes_but_serves_reads_and_deletes(server_factory):
    server = server_factory("--maxmemory", BUDGET, "--maxmemory-policy", "noeviction")
    value = b"v" * BIG_VALUE
    with server.connect() as conn:
        written = 0
        while True:
            replies = conn.pipeline([("SET", f"k:{written + i}", value) for i in range(100)])
            oks = sum(1 for r in replies if r == OK)
            assert all(r in (OK, Error(OOM_ERROR)) for r in replies), set(replies) - {OK}
            written += oks
            if oks < 100:
                break
            assert written < 100_000, "noeviction never refused a write"
        # One write may cross the line by its own cost: the entry plus, when its insertion grows
        # its shard's bucket array (a doubling, 8 bytes per bucket), that growth.
        assert used_memory(conn) <= BUDGET + conn.execute("MEMORY", "USAGE", "k:0").value + BUCKET_GROWTH

        # Every command that may add data is refused with the exact error; nothing is evicted.
        for command in [("SET", "new", "x"), ("SET", "k:0", "x"), ("MSET", "a", "1", "b", "2"), ("INCR", "counter"),
                        ("APPEND", "k:1", "more"), ("SETNX", "other", "y"), ("GETSET", "k:2", "z")]:
            assert conn.execute(*command) == Error(OOM_ERROR), command
        assert info_int(conn, "stats", "evicted_keys") == 0

        # Reads and other commands that add nothing still work.
        assert conn.execute("GET", "k:0") == Bulk(value)
        assert conn.execute("STRLEN", f"k:{written - 1}") == Integer(BIG_VALUE)
        assert conn.execute("EXISTS", "k:1", "k:2") == Integer(2)
        assert conn.execute("DBSIZE") == Integer(written)
        assert conn.execute("EXPIRE", "k:3", 1000) == Integer(1)

        # DEL frees room, and writes are accepted again.
        deleted = conn.execute("DEL", *[f"k:{i}" for i in range(500)])
        assert deleted == Integer(500)
        assert used_memory(conn) < BUDGET
        assert conn.execute("SET", "new", "x") == OK
        assert conn.execute("GET", "new") == Bulk(b"x")
        assert conn.execute("INCR", "counter") == Integer(1)


@pytest.mark.skipif(target() == "redis", reason="redis-server counts queued commands as used memory, "
                                                 "so it refuses a transaction larger than maxmemory")
def test_budget_holds_after_a_large_transaction(server_factory):
    server = server_factory("--maxmemory", BUDGET, "--maxmemory-policy", "allkeys-lru")
    with server.connect() as conn:
        # Inside EXEC nothing is evicted command by command; the budget must hold once EXEC replies.
        assert conn.execute("MULTI") == OK
        queued = conn.pipeline([("SET", f"tx:{i}", "t" * BIG_VALUE) for i in range(FILL_KEYS)])
        assert all(r == Simple(b"QUEUED") for r in queued)
        replies = conn.execute("EXEC")
        assert replies.items == (OK,) * FILL_KEYS
        used = used_memory(conn)
        assert used <= BUDGET, f"used_memory {used} > maxmemory {BUDGET} right after EXEC"
        assert info_int(conn, "stats", "evicted_keys") > FILL_KEYS // 2


# --------------------------------------------------------------------------
# CONFIG SET at run time
# --------------------------------------------------------------------------


def test_config_set_maxmemory_shrinks_at_once(server_factory):
    server = server_factory("--maxmemory-policy", "allkeys-lru")  # no maxmemory: unlimited
    with server.connect() as conn:
        empty = used_memory(conn)
        assert run_batched(conn, [("SET", f"k:{i:06d}", b"%06d" % i + b"x" * 994) for i in range(10_000)]) \
            == [OK] * 10_000
        filled = used_memory(conn)
        assert filled - empty > 10_000 * 1000

        for budget in (8 * MB, 3 * MB + 512 * 1024):
            assert conn.execute("CONFIG", "SET", "maxmemory", budget) == OK
            # Straight after the reply, with no write in between. (redis-server evicts in
            # time-limited steps and may finish in the background: give it a second.)
            used = used_memory(conn)
            deadline = time.monotonic() + (1.0 if target() == "redis" else 0)
            while used > budget and time.monotonic() < deadline:
                time.sleep(0.05)
                used = used_memory(conn)
            assert used <= budget, f"CONFIG SET maxmemory {budget}: used_memory {used} right after the reply"
            assert info_int(conn, "memory", "maxmemory") == budget
            assert conn.execute("CONFIG", "GET", "maxmemory").items[1] == Bulk(str(budget).encode())
        assert info_int(conn, "stats", "evicted_keys") > 0
        keys = conn.execute("DBSIZE").value
        # Units work as in redis.conf.
        assert conn.execute("CONFIG", "SET", "maxmemory", "3mb") == OK
        assert used_memory(conn) <= 3 * MB and conn.execute("DBSIZE").value < keys

        # Policy changes change behaviour: noeviction refuses, allkeys-lru evicts again.
        assert conn.execute("CONFIG", "SET", "maxmemory-policy", "noeviction") == OK
        assert info(conn, "memory")["maxmemory_policy"] == "noeviction"
        reply = None
        for i in range(10_000):
            reply = conn.execute("SET", f"more:{i}", "y" * 1000)
            if reply != OK:
                break
        assert reply == Error(OOM_ERROR)
        evicted_before = info_int(conn, "stats", "evicted_keys")
        # volatile-lru with no key that has a TTL cannot free anything: still OOM.
        assert conn.execute("CONFIG", "SET", "maxmemory-policy", "volatile-lru") == OK
        assert conn.execute("SET", "more:x", "y" * 1000) == Error(OOM_ERROR)
        assert info_int(conn, "stats", "evicted_keys") == evicted_before
        assert conn.execute("CONFIG", "SET", "maxmemory-policy", "allkeys-lru") == OK
        assert conn.execute("SET", "more:x", "y" * 1000) == OK
        assert info_int(conn, "stats", "evicted_keys") > evicted_before
        assert used_memory(conn) <= 3 * MB

        # maxmemory 0 lifts the limit.
        assert conn.execute("CONFIG", "SET", "maxmemory", 0) == OK
        assert run_batched(conn, [("SET", f"after:{i}", "z" * 1000) for i in range(5000)]) == [OK] * 5000
        assert used_memory(conn) > 3 * MB + 4 * MB


# --------------------------------------------------------------------------
# Scan resistance
# --------------------------------------------------------------------------

SCAN_BUDGET = 4 * MB
HOT_KEYS = 500
COLD_KEYS = 50_000   # about 3.5x what fits in SCAN_BUDGET at ~300 bytes an entry
SCAN_VALUE = 200


def read_through(conn: RespConnection, keys: list, value_of) -> int:
    """GET each key; SET the misses (batched: within a batch the keys are distinct). Returns hits."""
    hits = 0
    for start in range(0, len(keys), 500):
        batch = keys[start:start + 500]
        replies = conn.pipeline([("GET", k) for k in batch])
        misses = [k for k, r in zip(batch, replies) if r == NIL]
        for k, r in zip(batch, replies):
            assert r == NIL or r == Bulk(value_of(k)), f"GET {k} replied {r!r}"
        hits += len(batch) - len(misses)
        if misses:
            assert conn.pipeline([("SET", k, value_of(k)) for k in misses]) == [OK] * len(misses)
    return hits


def scan_workload(server) -> dict:
    """Hot set read three times, one pass over the cold keys, then the hot set once more."""
    hot = [f"hot:{i:06d}" for i in range(HOT_KEYS)]
    cold = [f"cold:{i:07d}" for i in range(COLD_KEYS)]

    def value_of(key: str) -> bytes:
        return key.encode().ljust(SCAN_VALUE, b".")

    with server.connect() as conn:
        for _ in range(3):
            read_through(conn, hot, value_of)
        cold_hits = read_through(conn, cold, value_of)
        hot_hits = read_through(conn, hot, value_of)
        return {"hot_ratio": hot_hits / HOT_KEYS, "cold_hits": cold_hits,
                "evicted": info_int(conn, "stats", "evicted_keys"), "used": used_memory(conn),
                "keys": conn.execute("DBSIZE").value}


@strata_only
def test_scan_resistance(server_factory):
    strata = server_factory("--maxmemory", SCAN_BUDGET, "--maxmemory-policy", "allkeys-lru",
                            "--l1-share", "20", kind="strata")
    result = scan_workload(strata)
    with strata.connect() as conn:
        counts = tiers(conn)

    # redis-server with the same room for data: its budget also covers its own empty footprint.
    redis = server_factory(kind="redis")
    with redis.connect() as conn:
        baseline = used_memory(conn)
        assert conn.execute("CONFIG", "SET", "maxmemory", SCAN_BUDGET + baseline) == OK
        assert conn.execute("CONFIG", "SET", "maxmemory-policy", "allkeys-lru") == OK
    reference = scan_workload(redis)

    print(f"\nscan resistance ({HOT_KEYS} hot keys, one pass over {COLD_KEYS} cold keys of {SCAN_VALUE} B, "
          f"maxmemory {SCAN_BUDGET // MB} MB): hot-set hit ratio after the scan "
          f"strata {result['hot_ratio']:.1%} (evicted {result['evicted']}, {result['keys']} keys left), "
          f"redis allkeys-lru {reference['hot_ratio']:.1%} (evicted {reference['evicted']}, "
          f"{reference['keys']} keys left)")
    print(f"strata tiers after the scan: {counts}")
    assert result["evicted"] > COLD_KEYS // 2, "the cold pass did not overflow the budget"
    assert result["cold_hits"] == 0
    assert result["hot_ratio"] > 0.90, \
        f"strata kept only {result['hot_ratio']:.1%} of the hot set through a scan; tiers {counts}"


# --------------------------------------------------------------------------
# Exact tier counters
# --------------------------------------------------------------------------


@strata_only
def test_tier_counts_follow_script_without_limit(server_factory):
    server = server_factory("--l1-share", "20", kind="strata")  # no maxmemory: L1 unlimited
    with server.connect() as conn:
        keys = [f"key:{i}" for i in range(10)]
        assert conn.pipeline([("SET", k, "v" * 32) for k in keys]) == [OK] * 10
        zero = dict(l1_hits=0, l1_misses=0, l2_hits=0, l2_misses=0, l1_promotions=0, l1_demotions=0,
                    l1_evictions=0, l2_evictions=0, keyspace_hits=0, keyspace_misses=0)
        before = expect_counts(conn, "SET of 10 keys", l1_keys=0, l2_keys=10, **zero)
        total_bytes = before["l2_bytes"]
        assert before["l1_bytes"] == 0 and total_bytes >= 10 * (5 + 32)

        # Commands that only look do not count and do not promote.
        peeks = [("EXISTS", "key:0"), ("TYPE", "key:1"), ("TTL", "key:2"), ("PTTL", "key:0"),
                 ("OBJECT", "IDLETIME", "key:1"), ("OBJECT", "ENCODING", "key:2"), ("MEMORY", "USAGE", "key:0"),
                 ("DBSIZE",), ("KEYS", "*"), ("SCAN", "0", "COUNT", "100"), ("RANDOMKEY",)]
        for command in peeks:
            assert not isinstance(conn.execute(*command), Error), command
        expect_counts(conn, "peeks", l1_keys=0, l2_keys=10, l2_bytes=total_bytes, **zero)

        # First reads: served by L2, each one promotes.
        assert conn.pipeline([("GET", k) for k in keys[:3]]) == [Bulk(b"v" * 32)] * 3
        after = expect_counts(conn, "first GET of 3 keys", l1_keys=3, l2_keys=7, l1_promotions=3, l1_demotions=0,
                              l1_hits=0, l1_misses=3, l2_hits=3, l2_misses=0, keyspace_hits=3, keyspace_misses=0)
        # Equal-sized entries: L1 holds exactly 3/10 of the bytes, and promotion moves bytes, it adds none.
        assert after["l1_bytes"] + after["l2_bytes"] == total_bytes
        assert after["l1_bytes"] * 10 == total_bytes * 3, after

        # Second reads: served by L1, no new promotion.
        assert conn.pipeline([("GET", k) for k in keys[:3]]) == [Bulk(b"v" * 32)] * 3
        expect_counts(conn, "second GET of the same 3", l1_keys=3, l2_keys=7, l1_promotions=3, l1_demotions=0,
                      l1_hits=3, l1_misses=3, l2_hits=3, l2_misses=0, keyspace_hits=6, keyspace_misses=0)

        # A miss is a miss of both tiers.
        assert conn.execute("GET", "absent") == NIL
        expect_counts(conn, "GET of an absent key", l1_hits=3, l1_misses=4, l2_hits=3, l2_misses=1,
                      keyspace_hits=6, keyspace_misses=1, l1_promotions=3)

        # MGET reads each key: two more promotions, one L1 hit, one miss.
        assert conn.execute("MGET", "key:3", "key:4", "key:0", "absent").items == \
            (Bulk(b"v" * 32), Bulk(b"v" * 32), Bulk(b"v" * 32), NIL)
        counts = expect_counts(conn, "MGET", l1_keys=5, l2_keys=5, l1_promotions=5, l1_hits=4, l1_misses=7,
                               l2_hits=5, l2_misses=2, keyspace_hits=9, keyspace_misses=2)
        assert counts["l1_hits"] + counts["l2_hits"] == counts["keyspace_hits"]
        assert counts["l1_misses"] == counts["l2_hits"] + counts["l2_misses"]

        assert conn.execute("FLUSHALL") == OK
        expect_counts(conn, "FLUSHALL", l1_keys=0, l2_keys=0, l1_bytes=0, l2_bytes=0)


@strata_only
@pytest.mark.parametrize("command", ["DEL", "UNLINK"])
def test_deleting_a_key_is_not_an_access(server_factory, command):
    maxmemory, share = 10 * MB, 20
    per_shard_l1 = maxmemory * share // 100 // SHARDS
    server = server_factory("--maxmemory", maxmemory, "--l1-share", share, kind="strata")
    with server.connect() as conn:
        assert conn.pipeline([("SET", f"key:{i}", "v" * 32) for i in range(4)]) == [OK] * 4
        assert conn.pipeline([("GET", f"key:{i}") for i in range(2)]) == [Bulk(b"v" * 32)] * 2
        expect_counts(conn, "setup", l1_keys=2, l2_keys=2, l1_promotions=2)
        # Removing a key must not promote it first (nor count anything else).
        assert conn.execute(command, "key:0") == Integer(1)
        expect_counts(conn, f"{command} of an L1 key", l1_keys=1, l2_keys=2, l1_promotions=2, l1_demotions=0)
        assert conn.execute(command, "key:3") == Integer(1)
        expect_counts(conn, f"{command} of an L2 key", l1_keys=1, l2_keys=1, l1_promotions=2, l1_demotions=0,
                      keyspace_hits=2, l1_hits=0, l2_hits=2)
        # A value larger than a shard's L1 budget: a promotion on the way out would also push the
        # shard's hot keys down to L2.
        assert conn.execute("SET", "big", b"B" * (per_shard_l1 + 1024)) == OK
        assert conn.execute(command, "big") == Integer(1)
        expect_counts(conn, f"{command} of a big L2 key", l1_keys=1, l2_keys=1, l1_promotions=2, l1_demotions=0)


@strata_only
def test_tier_counts_with_l1_budget(server_factory):
    maxmemory, share = 10 * MB, 20
    per_shard_l1 = maxmemory * share // 100 // SHARDS        # 8 KiB
    server = server_factory("--maxmemory", maxmemory, "--maxmemory-policy", "allkeys-lru",
                            "--l1-share", share, kind="strata")
    with server.connect() as conn:
        # Values larger than one shard's L1 budget: each promotion overflows L1 at once and the
        # promoted key itself is demoted again (its shard's L1 held nothing else).
        big = [f"big:{i}" for i in range(8)]
        big_value = b"B" * (per_shard_l1 + 16 * 1024)
        assert conn.pipeline([("SET", k, big_value) for k in big]) == [OK] * 8
        expect_counts(conn, "SET of 8 big keys", l1_keys=0, l2_keys=8, l1_promotions=0, l1_demotions=0)
        for round_ in range(1, 4):
            assert conn.pipeline([("GET", k) for k in big]) == [Bulk(big_value)] * 8
            expect_counts(conn, f"GET round {round_} of the big keys", l1_keys=0, l2_keys=8, l1_bytes=0,
                          l1_promotions=8 * round_, l1_demotions=8 * round_, l1_hits=0, l2_hits=8 * round_,
                          l1_evictions=0, l2_evictions=0, evicted_keys=0)

        # Small keys: even all 20 in one shard (20 x ~200 B) fit its 8 KiB, so none is demoted.
        assert conn.execute("FLUSHALL") == OK
        assert conn.execute("CONFIG", "RESETSTAT") == OK
        small = [f"small:{i}" for i in range(20)]
        assert conn.pipeline([("SET", k, "s" * 100) for k in small]) == [OK] * 20
        assert conn.pipeline([("GET", k) for k in small]) == [Bulk(b"s" * 100)] * 20
        assert conn.pipeline([("GET", k) for k in small]) == [Bulk(b"s" * 100)] * 20
        expect_counts(conn, "two GET rounds of 20 small keys", l1_keys=20, l2_keys=0, l1_promotions=20,
                      l1_demotions=0, l1_hits=20, l2_hits=20, evicted_keys=0)

        # Now mix in the big keys: which small keys get demoted depends on which share a shard
        # with a big one, but the books must still balance.
        assert conn.pipeline([("SET", k, big_value) for k in big]) == [OK] * 8
        assert conn.pipeline([("GET", k) for k in big]) == [Bulk(big_value)] * 8
        counts = tiers(conn)
        assert counts["l1_promotions"] == 28, counts
        assert 8 <= counts["l1_demotions"] <= 28, counts
        assert counts["l1_keys"] == counts["l1_promotions"] - counts["l1_demotions"], counts
        assert counts["l1_keys"] + counts["l2_keys"] == 28, counts
        assert counts["l1_bytes"] <= SHARDS * per_shard_l1, counts
        assert counts["evicted_keys"] == 0, counts

        # A larger L1 share at run time: one big key (24 KiB) now fits its shard's L1 (36 KiB, beside at most
        # 20 small keys) and stays there once promoted.
        assert conn.execute("CONFIG", "SET", "l1-share", 90) == OK
        assert conn.execute("GET", "big:0") == Bulk(big_value)
        expect_counts(conn, "GET of a big key with l1-share 90", l1_promotions=29,
                      l1_demotions=counts["l1_demotions"], l1_keys=counts["l1_keys"] + 1)


def test_object_idletime_and_memory_usage(server_factory):
    server = server_factory()
    with server.connect() as conn:
        assert conn.execute("SET", "idle", "x") == OK
        assert conn.execute("SET", "touched", "x") == OK
        assert conn.execute("OBJECT", "IDLETIME", "idle") == Integer(0)
        assert conn.execute("OBJECT", "IDLETIME", "absent") == NIL
        time.sleep(2.1)  # the idle clock counts whole seconds: no way around real time here
        assert conn.execute("GET", "touched") == Bulk(b"x")
        for command in [("EXISTS", "idle"), ("TYPE", "idle"), ("TTL", "idle"), ("MEMORY", "USAGE", "idle")]:
            conn.execute(*command)
        idle = conn.execute("OBJECT", "IDLETIME", "idle")
        assert isinstance(idle, Integer) and 2 <= idle.value <= 3, f"OBJECT IDLETIME after 2.1 s: {idle!r}"
        assert conn.execute("OBJECT", "IDLETIME", "touched") == Integer(0), "GET did not reset the idle time"
        assert conn.execute("OBJECT", "IDLETIME", "idle") == idle, "OBJECT IDLETIME itself reset the idle time"

        # MEMORY USAGE: null for an absent key, and it grows with the value.
        assert conn.execute("MEMORY", "USAGE", "absent") == NIL
        assert conn.execute("SET", "small", "y" * 10) == OK
        assert conn.execute("SET", "large", "y" * 10_010) == OK
        small = conn.execute("MEMORY", "USAGE", "small").value
        large = conn.execute("MEMORY", "USAGE", "large").value
        assert 10 < small < 200, small
        assert abs((large - small) - 10_000) <= 256, (small, large)  # allocator size classes

        # used_memory grows by about what MEMORY USAGE reports for a new key. (redis-server's
        # used_memory also counts the client's query buffer that held the 100 KB argument.)
        if target() == "redis":
            return
        before = used_memory(conn)
        assert conn.execute("SET", "huge", "z" * 100_000) == OK
        usage = conn.execute("MEMORY", "USAGE", "huge").value
        grown = used_memory(conn) - before
        assert abs(grown - usage) <= 0.01 * usage + 256, f"used_memory grew {grown}, MEMORY USAGE says {usage}"


# --------------------------------------------------------------------------
# Concurrency under a tight budget
# --------------------------------------------------------------------------

THREADS = 8
KEYS_PER_THREAD = 1000
OPS_PER_THREAD = 20_000
CONC_BUDGET = 4 * MB


def client_worker(server, thread: int, policy: str, errors: list, last: dict) -> None:
    """Random SET/GET/DEL on this thread's own keys, checking every reply against what it wrote."""
    rng = random.Random(thread)
    version = 0
    try:
        with server.connect() as conn:
            done = 0
            while done < OPS_PER_THREAD:
                ops = []
                for _ in range(50):
                    key = f"t{thread}:k{rng.randrange(KEYS_PER_THREAD):04d}"
                    roll = rng.random()
                    if roll < 0.55:
                        version += 1
                        value = f"{key}:v{version}:".encode().ljust(rng.randrange(400, 1200), b"#")
                        ops.append(("SET", key, value))
                    elif roll < 0.9:
                        ops.append(("GET", key))
                    else:
                        ops.append(("DEL", key))
                done += len(ops)
                for op, reply in zip(ops, conn.pipeline(ops)):
                    kind, key = op[0], op[1]
                    expected = last.get(key)
                    if kind == "SET":
                        if reply == OK:
                            last[key] = op[2]
                        elif not (policy == "noeviction" and reply == Error(OOM_ERROR)):
                            errors.append(f"{op[:2]} -> {reply!r}")
                    elif kind == "GET":
                        if policy == "noeviction":
                            ok = reply == (NIL if expected is None else Bulk(expected))
                        else:
                            ok = reply == NIL or (expected is not None and reply == Bulk(expected))
                        if not ok:
                            errors.append(f"GET {key}: {reply!r}, last written "
                                          f"{expected[:24] if expected else None!r}")
                        if reply == NIL:
                            last[key] = None  # evicted: the next non-nil read must be a new write
                    else:
                        if policy == "noeviction" and reply != Integer(0 if expected is None else 1):
                            errors.append(f"DEL {key}: {reply!r} with last value {expected is not None}")
                        elif reply not in (Integer(0), Integer(1)):
                            errors.append(f"DEL {key}: {reply!r}")
                        last[key] = None
    except Exception as exc:  # reported by the test, not lost in a thread
        errors.append(f"thread {thread}: {exc!r}")


@pytest.mark.parametrize("policy", ["allkeys-lru", "noeviction"])
def test_concurrent_clients_under_tight_budget(server_factory, policy):
    server = server_factory("--maxmemory", CONC_BUDGET, "--maxmemory-policy", policy)
    with server.connect() as conn:
        empty = used_memory(conn)
    errors: list = []
    lasts = [dict() for _ in range(THREADS)]
    stop = threading.Event()
    peak = [0]

    def monitor():
        try:
            with server.connect() as conn:
                while not stop.is_set():
                    peak[0] = max(peak[0], used_memory(conn))
                    if target() == "strata":
                        tiers(conn)
                    time.sleep(0.02)
        except Exception as exc:
            errors.append(f"monitor: {exc!r}")

    threads = [threading.Thread(target=client_worker, args=(server, t, policy, errors, lasts[t]))
               for t in range(THREADS)]
    watcher = threading.Thread(target=monitor)
    started = time.monotonic()
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    stop.set()
    watcher.join(10)
    elapsed = time.monotonic() - started
    assert not errors, f"{len(errors)} errors, first ones: {errors[:10]}"

    with server.connect() as conn:
        # Every key holds the last value its writer wrote, or (evicted) nothing.
        for thread, last in enumerate(lasts):
            names = [f"t{thread}:k{i:04d}" for i in range(KEYS_PER_THREAD)]
            for name, reply in zip(names, conn.execute("MGET", *names).items):
                expected = last.get(name)
                if policy == "noeviction" or reply != NIL:
                    assert reply == (NIL if expected is None else Bulk(expected)), \
                        f"{name}: {reply!r}, last written {expected[:24] if expected else None!r}"
        used = used_memory(conn)
        stats = info(conn, "stats")
        keys = conn.execute("DBSIZE").value
        print(f"\n{policy}: {THREADS} clients x {OPS_PER_THREAD} ops in {elapsed:.1f} s, {keys} keys left, "
              f"evicted {stats['evicted_keys']}, used_memory {used} (peak seen {peak[0]}), "
              f"maxmemory {CONC_BUDGET}")
        assert used <= CONC_BUDGET + THREADS * 1400
        if policy == "allkeys-lru":
            assert int(stats["evicted_keys"]) > 0
        if target() == "strata":
            counts = tiers(conn)
            assert counts["l1_keys"] + counts["l2_keys"] == keys, counts
            assert counts["l1_hits"] + counts["l2_hits"] == counts["keyspace_hits"], counts

        assert conn.execute("FLUSHALL") == OK
        after = used_memory(conn)
        # redis-server keeps some client and table overhead after FLUSHALL.
        slack = 64 * 1024 if target() == "strata" else 256 * 1024
        assert after <= empty + slack, f"used_memory {after} after FLUSHALL; {empty} when empty"
        assert conn.execute("DBSIZE") == Integer(0)
        if target() == "strata":
            expect_counts(conn, "FLUSHALL", l1_keys=0, l2_keys=0, l1_bytes=0, l2_bytes=0)


# --------------------------------------------------------------------------
# used_memory against RSS over 1M keys
# --------------------------------------------------------------------------

MILLION = 1_000_000


def bulk_load(server, n: int) -> float:
    """SET n keys of 16 bytes with 64-byte values over one raw pipelined socket; returns seconds."""
    started = time.monotonic()
    with socket.create_connection((server.host, server.port), timeout=60) as sock:
        failure: list = []

        def send():
            try:
                for start in range(0, n, 20_000):
                    sock.sendall(b"".join(
                        b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$64\r\n%064d\r\n" % (i, i)
                        for i in range(start, min(start + 20_000, n))))
            except OSError as exc:
                failure.append(exc)

        sender = threading.Thread(target=send)
        sender.start()
        pattern = b"+OK\r\n" * ((1 << 20) // 5 + 2)
        received = 0
        while received < n * 5:
            chunk = sock.recv(1 << 20)
            assert chunk, f"server closed the connection after {received // 5} replies"
            phase = received % 5
            assert chunk == pattern[phase:phase + len(chunk)], \
                f"a reply other than +OK after {received // 5} replies: {chunk[:80]!r}"
            received += len(chunk)
        sender.join()
        assert not failure, failure
    return time.monotonic() - started


def memory_figures(server, conn) -> tuple:
    """(used_memory, RSS from /proc) of a server, after letting it settle."""
    time.sleep(0.3)
    return used_memory(conn), rss_bytes(server.proc.pid)


@strata_only
@pytest.mark.slow
@pytest.mark.skipif(bool(os.environ.get("STRATA_SANITIZED")), reason="a sanitizer's shadow memory inflates RSS")
def test_used_memory_tracks_rss_over_a_million_keys(server_factory):
    results = {}
    for kind in ("strata", "redis"):
        server = server_factory(kind=kind)
        with server.connect() as conn:
            used_empty, rss_empty = memory_figures(server, conn)
            seconds = bulk_load(server, MILLION)
            assert conn.execute("DBSIZE") == Integer(MILLION)
            assert conn.execute("GET", "key:000000123456") == Bulk(b"%064d" % 123456)
            used_after, rss_after = memory_figures(server, conn)
            info_rss = info_int(conn, "memory", "used_memory_rss")
        results[kind] = dict(used=used_after - used_empty, rss=rss_after - rss_empty, seconds=seconds,
                             info_rss=info_rss, rss_after=rss_after)
        server.stop()

    for kind, r in results.items():
        print(f"\n{kind}: 1M SETs in {r['seconds']:.1f} s; RSS +{r['rss'] / MB:.1f} MB = "
              f"{r['rss'] / MILLION:.1f} B/key; used_memory +{r['used'] / MB:.1f} MB = "
              f"{r['used'] / MILLION:.1f} B/key; RSS/used_memory {r['rss'] / r['used']:.3f}")
    s = results["strata"]
    # INFO's RSS is the process's own.
    assert abs(s["info_rss"] - s["rss_after"]) <= 0.05 * s["rss_after"], s
    ratio = s["rss"] / s["used"]
    assert 1 / 1.25 <= ratio <= 1.25, \
        f"strata: RSS grew {s['rss']} bytes, used_memory {s['used']}: ratio {ratio:.3f} is outside 25%"
