"""Every data type the way Strata is deployed: with L3 on, after a restart, under maxmemory (values
evicted to SQLite and read back), inside MULTI and WATCH, in proxy and redirect mode, and
across a resize of the ring (keys move as DUMP/RESTORE payloads).

Each check writes a set of objects of every type (string, hash, list, set, sorted set, with and
without TTLs) and later reads all of them back through redis-py, comparing with what was
written: the count of wrong or missing objects must be 0.
"""

from __future__ import annotations

import time

import pytest
import redis
from redis.cluster import RedisCluster

from conftest import HOST, target
from ring_chaos import Ring

pytestmark = pytest.mark.skipif(target() != "strata", reason="strata's tiers and ring")


def populate(client, prefix: str, count: int, fat: int = 5) -> dict:
    """Writes `count` objects of each type; returns what each key must read back as."""
    expected = {}
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        s, h, l, st, z = (f"{prefix}:str:{i}", f"{prefix}:hash:{i}", f"{prefix}:list:{i}",
                          f"{prefix}:set:{i}", f"{prefix}:zset:{i}")
        pipe.set(s, f"value-{i}")
        expected[s] = ("string", f"value-{i}".encode())
        fields = {f"field{j}": f"{i}-{j}" * (1 + j % 3) for j in range(fat)}
        pipe.hset(h, mapping=fields)
        expected[h] = ("hash", {k.encode(): v.encode() for k, v in fields.items()})
        items = [f"item{i}-{j}" for j in range(fat)]
        pipe.rpush(l, *items)
        expected[l] = ("list", [x.encode() for x in items])
        members = {f"m{(i * 7 + j) % 50}" for j in range(fat)}
        pipe.sadd(st, *members)
        expected[st] = ("set", {m.encode() for m in members})
        scores = {f"p{j}": (i * 10 + j) / 4 for j in range(fat)}
        pipe.zadd(z, scores)
        expected[z] = ("zset", sorted(((k.encode(), v) for k, v in scores.items()), key=lambda kv: (kv[1], kv[0])))
        if i % 3 == 0:
            pipe.expire(h, 100_000 + i)
            pipe.expire(z, 100_000 + i)
    pipe.execute()
    return expected


def read(client, key: str, kind: str):
    if kind == "string":
        return client.get(key)
    if kind == "hash":
        return client.hgetall(key)
    if kind == "list":
        return client.lrange(key, 0, -1)
    if kind == "set":
        return client.smembers(key)
    return client.zrange(key, 0, -1, withscores=True)


def wrong_objects(client, expected: dict) -> list:
    """Keys that do not read back as written (type and value)."""
    wrong = []
    keys = list(expected)
    for start in range(0, len(keys), 200):
        chunk = keys[start:start + 200]
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.type(key)
            kind = expected[key][0]
            {"string": pipe.get, "hash": pipe.hgetall, "list": lambda k: pipe.lrange(k, 0, -1),
             "set": pipe.smembers, "zset": lambda k: pipe.zrange(k, 0, -1, withscores=True)}[kind](key)
        replies = pipe.execute()
        for n, key in enumerate(chunk):
            kind, value = expected[key]
            got_type, got = replies[2 * n], replies[2 * n + 1]
            if isinstance(got, list) and kind == "zset":
                got = [(m, float(s)) for m, s in got]
            if got_type != kind.encode() or got != value:
                wrong.append((key, got_type, got))
    return wrong


def test_every_type_survives_restart_and_eviction_to_l3(server_factory):
    server = server_factory("--maxmemory", "3mb", "--maxmemory-policy", "allkeys-lru", "--l3-fsync", "always")
    client = redis.Redis(host=HOST, port=server.port)
    expected = populate(client, "t", 2000, fat=8)
    time.sleep(1.0)
    tiers = client.info("tiers")
    cold = int(tiers["l3_index_keys"])
    assert cold > len(expected) // 4, f"only {cold} of {len(expected)} objects left memory"
    # Read back while most are only on disk (each read loads the whole value).
    assert wrong_objects(client, expected) == []
    # Change collections that were cold, then restart: both the loads and the changes persist.
    client.hset("t:hash:1", "field0", "changed")
    expected["t:hash:1"][1][b"field0"] = b"changed"
    client.rpush("t:list:1", "tail")
    expected["t:list:1"][1].append(b"tail")
    gone = sorted(expected["t:set:1"][1])[0]
    assert client.srem("t:set:1", gone) == 1
    expected["t:set:1"][1].discard(gone)
    server.restart()
    client = redis.Redis(host=HOST, port=server.port)
    deadline = time.monotonic() + 30
    while int(client.info("persistence")["loading"]) != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert wrong_objects(client, expected) == []
    assert client.ttl("t:hash:0") > 99_000
    assert client.object("encoding", "t:zset:0") == b"listpack"
    assert client.object("encoding", "t:set:0") == b"hashtable"


def test_every_type_inside_multi_and_watch(server_factory):
    server = server_factory()
    client = redis.Redis(host=HOST, port=server.port)
    pipe = client.pipeline(transaction=True)
    pipe.hset("m:h", "a", "1").rpush("m:l", "x", "y").sadd("m:s", "p").zadd("m:z", {"q": 2})
    pipe.hincrby("m:h", "a", 5).lpop("m:l").scard("m:s").zscore("m:z", "q").type("m:h")
    assert pipe.execute() == [1, 2, 1, 1, 6, b"x", 1, 2.0, b"hash"]
    # A WRONGTYPE inside EXEC fails that command only, as in Redis.
    pipe = client.pipeline(transaction=True)
    pipe.lpush("m:h", "nope").hget("m:h", "a")
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        pipe.execute()
    assert client.hget("m:h", "a") == b"6"
    # WATCH sees a collection changed in place.
    with client.pipeline() as watched:
        watched.watch("m:s")
        client.sadd("m:s", "from another client")
        watched.multi()
        watched.scard("m:s")
        with pytest.raises(redis.exceptions.WatchError):
            watched.execute()


@pytest.mark.parametrize("mode", ["proxy", "redirect"])
def test_every_type_on_a_ring_across_restart_and_resize(tmp_path, mode):
    ring = Ring(tmp_path, 2, "always", ("--cluster-mode", mode))
    try:
        ring.start()
        first = ring.members[0]
        if mode == "proxy":
            expected = populate(first.admin, "r", 300)
            clients = [node.admin for node in ring.members]
        else:
            cluster = RedisCluster(host=HOST, port=first.port)
            expected = populate(cluster, "r", 300)
            clients = [cluster]
        for client in clients:
            assert wrong_objects(client, expected) == []
        for node in ring.members:
            node.terminate()
        for node in ring.members:
            node.start(ring.spec())
        assert ring.wait_healthy(20), ring.health()
        third = ring.add_node()
        ring.settle()
        moved = int(third.admin.info("cluster")["cluster_node_keys"])
        assert moved > 0
        if mode == "proxy":
            clients = [node.admin for node in ring.members]
        else:
            clients = [RedisCluster(host=HOST, port=third.port)]
        for client in clients:
            assert wrong_objects(client, expected) == [], f"through {client}"
        # Multi-key commands need their keys in one slot, in both modes.
        client = clients[0]
        client.sadd("{tag}a", "1", "2")
        client.sadd("{tag}b", "2", "3")
        assert client.sinter("{tag}a", "{tag}b") == {b"2"}
        # (redis-py 8 strips the CROSSSLOT code from the message it raises.)
        with pytest.raises(redis.exceptions.ResponseError, match="same slot"):
            ring.members[0].admin.execute_command("SINTERSTORE", "dest-x", "other-y", "third-z")
    finally:
        ring.stop()
