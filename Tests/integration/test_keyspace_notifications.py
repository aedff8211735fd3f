"""Keyspace notifications (`notify-keyspace-events`): the same commands sent to redis-server and
to Strata must publish the same `__keyspace@db__:key` / `__keyevent@db__:event` messages, in the
same order; expiry (lazy and active), eviction (with and without L3), MULTI, the class filters,
and a ring in proxy mode (a notification made on one node reaches a subscriber on another).
"""

from __future__ import annotations

import time

import pytest
import redis

from conftest import target
from ring_chaos import Ring, client as node_client

# Every family's writes, with overwrites, pops that empty keys, moves between keys and onto
# the same key, STORE forms over existing and missing keys, TTLs set and removed.
COMMANDS = [
    ("SET", "k", "v"), ("SET", "k", "v2", "EX", "100"), ("SETNX", "k", "x"), ("INCR", "n"),
    ("INCRBYFLOAT", "n", "1.5"), ("APPEND", "k", "x"), ("SETRANGE", "k", "1", "yy"), ("SETBIT", "b", "3", "1"),
    ("BITFIELD", "b", "SET", "u8", "0", "7"), ("BITOP", "OR", "b2", "b", "b"), ("EXPIRE", "k", "50"),
    ("PERSIST", "k"), ("GETEX", "k", "EX", "10"), ("GETEX", "k", "PERSIST"), ("DEL", "k", "nokey"),
    ("LPUSH", "l", "a", "b", "c"), ("RPUSH", "l", "d"), ("LPUSHX", "nol", "a"), ("LPOP", "l"), ("RPOP", "l"),
    ("LSET", "l", "0", "z"), ("LINSERT", "l", "BEFORE", "z", "q"), ("LREM", "l", "0", "q"), ("LTRIM", "l", "0", "0"),
    ("LMOVE", "l", "l2", "LEFT", "RIGHT"), ("RPUSH", "l3", "1", "2", "3"), ("LMOVE", "l3", "l3", "LEFT", "RIGHT"),
    ("RPOPLPUSH", "l3", "l4"), ("LMPOP", "2", "nol", "l3", "RIGHT", "COUNT", "5"),
    ("HSET", "h", "f", "v", "g", "w"), ("HSETNX", "h", "f", "x"), ("HINCRBY", "h", "c", "2"),
    ("HINCRBYFLOAT", "h", "d", "1.5"), ("HDEL", "h", "f"), ("HDEL", "h", "g", "c", "d"),
    ("SADD", "s", "a", "b"), ("SREM", "s", "a"), ("SMOVE", "s", "s2", "b"), ("SADD", "s3", "x", "y"),
    ("SPOP", "s3"), ("SINTERSTORE", "s4", "s3", "s3"), ("SUNIONSTORE", "s4", "s3", "s2"),
    ("SINTERSTORE", "s4", "nope", "s3"), ("SDIFFSTORE", "s5", "s2", "nope"),
    ("ZADD", "z", "1", "a", "2", "b"), ("ZADD", "z", "INCR", "5", "a"), ("ZINCRBY", "z", "1", "b"),
    ("ZREM", "z", "a"), ("ZPOPMIN", "z"), ("ZADD", "z2", "1", "a", "2", "b", "3", "c", "4", "d"),
    ("ZREMRANGEBYSCORE", "z2", "1", "1"), ("ZREMRANGEBYRANK", "z2", "0", "0"), ("ZREMRANGEBYLEX", "z2", "-", "(c"),
    ("ZUNIONSTORE", "z3", "1", "z2"), ("ZRANGESTORE", "z4", "z2", "0", "-1"), ("ZMPOP", "1", "z3", "MAX"),
    ("ZPOPMAX", "z2"), ("SET", "r1", "v"), ("RENAME", "r1", "r2"), ("COPY", "r2", "r3"), ("SET", "r4", "x"),
    ("COPY", "r2", "r4", "REPLACE"), ("MSET", "m1", "1", "m2", "2"), ("GETDEL", "m1"), ("GETSET", "m2", "3"),
    ("EXPIRE", "m2", "0"), ("SET", "p", "1", "EX", "100"), ("PEXPIREAT", "p", "1"),
    ("SET", "t1", "v", "EX", "100"), ("RENAME", "t1", "t2"), ("COPY", "t2", "t3"),
    ("SET", "d1", "v"), ("SET", "d2", "w"), ("SET", "d3", "x", "EX", "100"),
    ("SET", "e", "v", "PX", "1"),
]


def collect(client, pattern="__key*__:*", settle=0.3):
    """Everything published on keyspace channels, as (channel, message) pairs, in order."""
    pubsub = client.pubsub()
    pubsub.psubscribe(pattern)
    assert pubsub.get_message(timeout=2)["type"] == "psubscribe"
    return pubsub


def drain(pubsub, settle=0.3):
    out = []
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.05)
        if message is None:
            continue
        if message["type"] == "pmessage":
            out.append((message["channel"].decode("latin-1"), message["data"].decode("latin-1")))
            deadline = time.monotonic() + settle
    return out


def run_script(server, flags="KEA"):
    r = server.redis_py()
    r.flushall()
    r.config_set("notify-keyspace-events", flags)
    pubsub = collect(r)
    try:
        for command in COMMANDS:
            r.execute_command(*command)
        # RESTORE over an existing key and to a new one (each server's own DUMP payload).
        payload = r.dump("d2")
        r.restore("d1", 0, payload, replace=True)
        r.restore("d4", 0, payload)
        r.restore("d3", 5000, payload, replace=True)
        time.sleep(0.05)
        assert r.get("e") is None  # expired lazily: `expired`
        return drain(pubsub)
    finally:
        pubsub.close()
        r.config_set("notify-keyspace-events", "")


@pytest.mark.parametrize("flags", ["KEA", "Kg$", "El", "KEshzx", "Ex", "KEAn"])
def test_same_notifications_as_redis(redis_ref, strata, flags):
    expected = run_script(redis_ref, flags)
    got = run_script(strata, flags)
    assert len(expected) > 0
    assert got == expected


def test_config_get_set_spelling(redis_ref, strata):
    for server in (redis_ref, strata):
        r = server.redis_py()
        for given, shown in [("KEA", "AKE"), ("gK", "gK"), ("$lshzxe", "$lshzxe"), ("Kx", "xK"), ("Em", "Em"),
                             ("KEAn", "AKE"), ("nK", "nK"), ("", "")]:
            r.config_set("notify-keyspace-events", given)
            assert r.config_get("notify-keyspace-events")["notify-keyspace-events"] == shown, (server.kind, given)
        with pytest.raises(redis.exceptions.ResponseError, match="Invalid event class character"):
            r.config_set("notify-keyspace-events", "KQ")
        r.config_set("notify-keyspace-events", "")


def test_active_expiry_and_multi(strata):
    r = strata.redis_py()
    r.flushall()
    r.config_set("notify-keyspace-events", "Ex$g")
    pubsub = collect(r, "__keyevent@0__:*")
    try:
        # Never read again: the cron's active expiry deletes them.
        for i in range(20):
            r.set(f"short:{i}", "v", px=50)
        deadline = time.monotonic() + 5
        expired = []
        while len(expired) < 20 and time.monotonic() < deadline:
            expired += [m for m in drain(pubsub, 0.2) if m[0] == "__keyevent@0__:expired"]
        assert sorted(k for _, k in expired) == sorted(f"short:{i}" for i in range(20))
        pipe = r.pipeline(transaction=True)
        pipe.set("tx", "1")
        pipe.incr("tx")
        pipe.delete("tx")
        pipe.execute()
        events = [m for m in drain(pubsub) if m[1] == "tx"]
        assert events == [("__keyevent@0__:set", "tx"), ("__keyevent@0__:incrby", "tx"), ("__keyevent@0__:del", "tx")]
    finally:
        pubsub.close()
        r.config_set("notify-keyspace-events", "")


@pytest.mark.skipif(target() != "strata", reason="strata's tiers")
@pytest.mark.parametrize("l3", [False, True])
def test_eviction_events(server_factory, l3):
    """Without L3 an evicted key is gone (`evicted`); with L3 its value went to disk and the key
    stays (`evicted_to_l3`, a Strata event of class `e`)."""
    args = ["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"]
    if not l3:
        args += ["--persistence", "no"]
    server = server_factory(*args)
    r = server.redis_py()
    r.config_set("notify-keyspace-events", "Ee")
    pubsub = collect(r, "__keyevent@0__:*")
    try:
        for batch in range(40):
            pipe = r.pipeline(transaction=False)
            for i in range(100):
                pipe.set(f"big:{batch}:{i}", "x" * 1000)
            pipe.execute()
            if l3 and batch % 10 == 9:
                time.sleep(0.3)  # let the batcher commit, so values can leave memory
        events = drain(pubsub, 1.0)
        name = "__keyevent@0__:evicted_to_l3" if l3 else "__keyevent@0__:evicted"
        evicted = [k for channel, k in events if channel == name]
        assert evicted, events[:5]
        assert all(channel == name for channel, _ in events)
        if l3:
            # Still there, read back from L3.
            assert r.get(evicted[0]) == b"x" * 1000
        else:
            assert r.exists(*evicted[:50]) == 0
    finally:
        pubsub.close()


@pytest.mark.skipif(target() != "strata", reason="strata's ring")
def test_notifications_reach_every_node_of_a_ring(tmp_path):
    ring = Ring(tmp_path, 3, "everysec", ("--cluster-mode", "proxy"))
    ring.start()
    try:
        clients = [node_client(node.port) for node in ring.members]
        for c in clients:
            c.config_set("notify-keyspace-events", "KA")
        listeners = [collect(c, "__keyspace@0__:ring*") for c in clients]
        time.sleep(0.3)
        keys = [f"ring{i}" for i in range(30)]
        for i, key in enumerate(keys):
            clients[i % 3].set(key, "v")
        for index, pubsub in enumerate(listeners):
            got = drain(pubsub, 0.5)
            # Each key's `set` once on every node, wherever the key lives and was written.
            assert sorted(got) == sorted((f"__keyspace@0__:{k}", "set") for k in keys), f"node {index}"
        for pubsub in listeners:
            pubsub.close()
    finally:
        ring.stop()
