"""Hashes, lists, sets, sorted sets and bit commands through redis-py, the way applications
use them: an object cache, a work queue with blocking pops, tags, a leaderboard, a sliding-window
rate limiter, feature flags in a bitmap. Exact replies, exact errors, OBJECT ENCODING at Redis
7.0's thresholds, and the RESP3 reply types redis-py turns into dict, set and float.

Runs against strata by default; TARGET=redis runs the same tests against redis-server to check
that every expectation is Redis's own.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from resp_client import Array, Bulk, Double, Integer, Map, Set

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
BLOCK_WAIT_S = 5.0


@pytest.fixture
def srv(strata):
    """The shared server, emptied."""
    client = strata.redis_py()
    client.flushall()
    client.close()
    return strata


@pytest.fixture(params=[2, None], ids=["resp2", "default"])
def r(request, srv):
    """redis-py with protocol=2, and with no protocol given: redis-py 8 then speaks RESP3 on the
    wire (HELLO 3) but hands back the same Python shapes as under RESP2 (tuples for scored
    members, a flat LCS IDX list). test_resp3_* cover protocol=3, whose shapes differ."""
    client = srv.redis_py(decode_responses=True, protocol=request.param)
    yield client
    client.close()


def wait_blocked(client, count: int) -> None:
    """Waits until `count` clients are blocked (INFO clients), so a push that follows is
    certain to find them waiting."""
    deadline = time.monotonic() + BLOCK_WAIT_S
    while time.monotonic() < deadline:
        if int(client.info("clients")["blocked_clients"]) >= count:
            return
        time.sleep(0.005)
    raise AssertionError(f"fewer than {count} clients blocked after {BLOCK_WAIT_S}s")


class Blocked:
    """Runs one blocking call on its own connection in a thread; `result()` joins it."""

    def __init__(self, srv, call, *, name: str | None = None):
        self.client = srv.redis_py(decode_responses=True, socket_timeout=BLOCK_WAIT_S + 5)
        if name:
            self.client.client_setname(name)
        self.id = self.client.client_id()
        self.value = self.error = None
        self.elapsed = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call):
        begin = time.monotonic()
        try:
            self.value = call(self.client)
        except Exception as exc:  # handed to the test thread by result()
            self.error = exc
        self.elapsed = time.monotonic() - begin

    def result(self):
        self._thread.join(BLOCK_WAIT_S + 10)
        assert not self._thread.is_alive(), "blocked call did not return"
        self.client.close()
        if self.error is not None:
            raise self.error
        return self.value


# --------------------------------------------------------------------------
# Hashes: an object cache
# --------------------------------------------------------------------------


def test_hash_as_an_object_cache(r):
    user = {"name": "Ada", "email": "ada@example.com", "visits": "0", "balance": "10.5"}
    assert r.hset("user:1", mapping=user) == 4
    assert r.hgetall("user:1") == user
    assert r.hset("user:1", mapping={"name": "Ada L.", "city": "London"}) == 1  # one new field
    assert r.hget("user:1", "name") == "Ada L."
    assert r.hmget("user:1", ["email", "missing", "city"]) == ["ada@example.com", None, "London"]
    assert r.hincrby("user:1", "visits", 1) == 1
    assert r.hincrby("user:1", "visits", 41) == 42
    assert r.hincrby("user:1", "new_counter", -3) == -3
    assert r.hincrbyfloat("user:1", "balance", 0.25) == 10.75
    assert r.hincrbyfloat("user:1", "balance", -10.75) == 0.0
    assert r.hget("user:1", "balance") == "0"
    assert r.hincrbyfloat("user:1", "ratio", 1.5e3) == 1500.0
    assert r.hget("user:1", "ratio") == "1500"
    assert r.hexists("user:1", "email") is True
    assert r.hexists("user:1", "nope") is False
    assert r.hlen("user:1") == 7
    assert r.hstrlen("user:1", "email") == 15
    assert r.hsetnx("user:1", "name", "other") == 0
    assert r.hsetnx("user:1", "nick", "ada") == 1
    assert r.hdel("user:1", "nick", "city", "missing") == 2
    assert sorted(r.hkeys("user:1")) == ["balance", "email", "name", "new_counter", "ratio", "visits"]
    assert sorted(r.hvals("user:1")) == sorted(["Ada L.", "ada@example.com", "42", "0", "-3", "1500"])
    with pytest.raises(redis.ResponseError, match="^hash value is not an integer$"):
        r.hincrby("user:1", "name", 1)
    with pytest.raises(redis.ResponseError, match="^hash value is not a float$"):
        r.hincrbyfloat("user:1", "email", 1.0)
    # Deleting the last field deletes the key.
    assert r.hdel("user:1", *r.hkeys("user:1")) == 6
    assert r.exists("user:1") == 0
    assert r.hgetall("user:1") == {}
    assert r.hget("user:1", "name") is None


def test_hscan_iter_visits_every_field_once(r):
    fields = {f"f:{i}": str(i) for i in range(300)}  # past 128 fields: a hashtable
    assert r.hset("big", mapping=fields) == 300
    seen = list(r.hscan_iter("big", count=50))
    assert len(seen) == 300
    assert dict(seen) == fields
    matched = dict(r.hscan_iter("big", match="f:1?", count=1000))
    assert matched == {f"f:{i}": str(i) for i in range(10, 20)}
    # A small (listpack) hash comes back whole in one call, cursor 0.
    r.hset("small", mapping={"a": "1", "b": "2"})
    assert r.hscan("small") == (0, {"a": "1", "b": "2"})
    assert list(r.hscan_iter("missing")) == []


def test_expire_on_a_hash(r):
    r.hset("session:abc", mapping={"user": "1", "csrf": "x"})
    assert r.ttl("session:abc") == -1
    assert r.expire("session:abc", 100) is True
    assert 99 <= r.ttl("session:abc") <= 100
    # Changing a field keeps the TTL (only replacing the whole key clears it).
    r.hset("session:abc", "csrf", "y")
    r.hincrby("session:abc", "hits", 1)
    assert 99 <= r.ttl("session:abc") <= 100
    assert r.persist("session:abc") is True
    assert r.ttl("session:abc") == -1
    assert r.pexpire("session:abc", 50) is True
    deadline = time.monotonic() + 3
    while r.exists("session:abc") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert r.hgetall("session:abc") == {}
    assert r.ttl("session:abc") == -2
    # A hash that expired is a new, empty hash for the next HSET.
    assert r.hset("session:abc", "user", "2") == 1
    assert r.ttl("session:abc") == -1


# --------------------------------------------------------------------------
# Lists: a work queue
# --------------------------------------------------------------------------


def test_list_commands(r):
    assert r.rpush("q", "a", "b", "c") == 3
    assert r.lpush("q", "z") == 4
    assert r.lrange("q", 0, -1) == ["z", "a", "b", "c"]
    assert r.lpop("q") == "z"
    assert r.lpop("q", 2) == ["a", "b"]
    assert r.rpop("q") == "c"
    assert r.lpop("q") is None
    assert r.exists("q") == 0  # the last pop deletes the key
    assert r.lpop("q", 2) is None
    r.rpush("log", *[f"e{i}" for i in range(10)])
    assert r.lrange("log", -3, -1) == ["e7", "e8", "e9"]
    assert r.lrange("log", 8, 100) == ["e8", "e9"]
    assert r.lrange("log", 5, 2) == []
    assert r.ltrim("log", -5, -1) is True  # keep the last 5, a capped log
    assert r.lrange("log", 0, -1) == ["e5", "e6", "e7", "e8", "e9"]
    assert r.llen("log") == 5
    assert r.lindex("log", 0) == "e5"
    assert r.lindex("log", -1) == "e9"
    assert r.lindex("log", 99) is None
    assert r.lset("log", 1, "E6") is True
    with pytest.raises(redis.ResponseError, match="^index out of range$"):
        r.lset("log", 99, "x")
    assert r.linsert("log", "BEFORE", "e7", "e6.5") == 6
    assert r.linsert("log", "AFTER", "missing", "x") == -1
    # A reliable queue: move the job to a processing list, remove it when done.
    r.rpush("jobs", "j1", "j2", "j3")
    assert r.lmove("jobs", "processing", "LEFT", "RIGHT") == "j1"
    assert r.lmove("jobs", "processing", "LEFT", "RIGHT") == "j2"
    assert r.lrange("processing", 0, -1) == ["j1", "j2"]
    assert r.lrem("processing", 1, "j1") == 1
    assert r.lmove("jobs", "jobs", "RIGHT", "LEFT") == "j3"  # rotate a one-element list
    assert r.lmove("empty", "processing", "LEFT", "LEFT") is None
    assert r.rpoplpush("processing", "jobs") == "j2"
    assert r.lrange("jobs", 0, -1) == ["j2", "j3"]
    # LPOS: first match, RANK, COUNT, MAXLEN.
    r.rpush("letters", "a", "b", "c", "1", "2", "3", "c", "c")
    assert r.lpos("letters", "c") == 2
    assert r.lpos("letters", "c", rank=2) == 6
    assert r.lpos("letters", "c", rank=-1) == 7
    assert r.lpos("letters", "c", count=0) == [2, 6, 7]
    assert r.lpos("letters", "c", count=2) == [2, 6]
    assert r.lpos("letters", "c", count=0, maxlen=7) == [2, 6]
    assert r.lpos("letters", "x") is None
    assert r.lpos("letters", "x", count=0) == []
    with pytest.raises(redis.ResponseError, match="RANK can't be zero"):
        r.lpos("letters", "c", rank=0)
    assert r.lrem("letters", -2, "c") == 2
    assert r.lrange("letters", 0, -1) == ["a", "b", "c", "1", "2", "3"]


def test_blpop_times_out_with_none(r):
    begin = time.monotonic()
    assert r.blpop(["nothing:1", "nothing:2"], timeout=0.5) is None
    elapsed = time.monotonic() - begin
    assert 0.4 <= elapsed < 3.0, elapsed
    assert r.brpop("nothing:1", timeout=0.2) is None
    assert r.blmove("nothing:1", "dst", 0.2, "LEFT", "RIGHT") is None
    # With an element already there it does not block at all.
    r.rpush("ready", "x")
    assert r.blpop(["nothing:1", "ready"], timeout=5) == ("ready", "x")


def test_blpop_woken_by_a_push_from_another_client(srv, r):
    waiter = Blocked(srv, lambda c: c.blpop(["jobs:high", "jobs:low"], timeout=BLOCK_WAIT_S))
    wait_blocked(r, 1)
    assert r.rpush("jobs:low", "job-1") == 1
    assert waiter.result() == ("jobs:low", "job-1")
    assert waiter.elapsed < BLOCK_WAIT_S - 1
    assert r.exists("jobs:low") == 0  # the element went to the waiter, not into the list
    # BRPOP and BLMOVE are woken the same way.
    waiter = Blocked(srv, lambda c: c.blmove("in", "out", BLOCK_WAIT_S, "RIGHT", "LEFT"))
    wait_blocked(r, 1)
    r.lpush("in", "m1")
    assert waiter.result() == "m1"
    assert r.lrange("out", 0, -1) == ["m1"]
    waiter = Blocked(srv, lambda c: c.brpop("in", timeout=BLOCK_WAIT_S))
    wait_blocked(r, 1)
    # A transaction that pushes wakes the waiter once it has executed (with its last element).
    with r.pipeline(transaction=True) as pipe:
        pipe.rpush("in", "t1", "t2").rpush("in", "t3")
        assert pipe.execute() == [2, 3]
    assert waiter.result() == ("in", "t3")
    assert r.lrange("in", 0, -1) == ["t1", "t2"]


def test_blocked_clients_are_served_in_the_order_they_blocked(srv, r):
    first = Blocked(srv, lambda c: c.blpop("fifo", timeout=BLOCK_WAIT_S), name="first")
    wait_blocked(r, 1)
    second = Blocked(srv, lambda c: c.blpop("fifo", timeout=BLOCK_WAIT_S), name="second")
    wait_blocked(r, 2)
    assert r.rpush("fifo", "x", "y", "z") == 3
    assert first.result() == ("fifo", "x")
    assert second.result() == ("fifo", "y")
    assert r.lrange("fifo", 0, -1) == ["z"]
    # One element for two waiters: the first to block gets it, the other keeps waiting.
    r.delete("fifo")
    first = Blocked(srv, lambda c: c.blpop("fifo", timeout=BLOCK_WAIT_S))
    wait_blocked(r, 1)
    second = Blocked(srv, lambda c: c.blpop("fifo", timeout=1))
    wait_blocked(r, 2)
    r.rpush("fifo", "only")
    assert first.result() == ("fifo", "only")
    assert second.result() is None


def test_blpop_inside_multi_returns_nil_at_once(r):
    begin = time.monotonic()
    with r.pipeline(transaction=True) as pipe:
        pipe.blpop("empty", timeout=0).brpop("empty", timeout=0).rpush("full", "v").blpop("full", timeout=0)
        pipe.bzpopmin("empty", timeout=0).blmove("empty", "dst", 0, "LEFT", "RIGHT")
        assert pipe.execute() == [None, None, 1, ("full", "v"), None, None]
    assert time.monotonic() - begin < 1.0


def test_client_unblock_releases_a_blocked_client(srv, r):
    waiter = Blocked(srv, lambda c: c.blpop("never", timeout=0))
    wait_blocked(r, 1)
    assert r.client_unblock(waiter.id) is True
    assert waiter.result() is None  # as if the timeout had expired
    assert int(r.info("clients")["blocked_clients"]) == 0
    # With ERROR the blocked call fails instead.
    waiter = Blocked(srv, lambda c: c.bzpopmin("never", timeout=0))
    wait_blocked(r, 1)
    assert r.client_unblock(waiter.id, error=True) is True
    with pytest.raises(redis.ResponseError, match="^UNBLOCKED client unblocked via CLIENT UNBLOCK$"):
        waiter.result()
    # A client that is not blocked: 0.
    assert r.client_unblock(r.client_id()) is False
    assert r.client_unblock(999_999_999) is False


# --------------------------------------------------------------------------
# Sets: tags
# --------------------------------------------------------------------------


def test_set_commands(r):
    assert r.sadd("tags:post:1", "python", "redis", "cache") == 3
    assert r.sadd("tags:post:1", "redis", "swift") == 1
    assert r.smembers("tags:post:1") == {"python", "redis", "cache", "swift"}
    assert r.scard("tags:post:1") == 4
    assert r.sismember("tags:post:1", "redis") == 1
    assert r.sismember("tags:post:1", "go") == 0
    assert r.smismember("tags:post:1", ["go", "swift", "cache"]) == [0, 1, 1]
    r.sadd("tags:post:2", "redis", "swift", "nio")
    r.sadd("tags:post:3", "redis", "go")
    assert r.sinter("tags:post:1", "tags:post:2") == {"redis", "swift"}
    assert r.sinter("tags:post:1", "tags:post:2", "tags:post:3") == {"redis"}
    assert r.sinter("tags:post:1", "missing") == set()
    assert r.sintercard(2, ["tags:post:1", "tags:post:2"]) == 2
    assert r.sintercard(2, ["tags:post:1", "tags:post:2"], limit=1) == 1
    assert r.sunion("tags:post:2", "tags:post:3") == {"redis", "swift", "nio", "go"}
    assert r.sdiff("tags:post:1", "tags:post:2") == {"python", "cache"}
    assert r.sunionstore("tags:all", ["tags:post:1", "tags:post:2", "tags:post:3"]) == 6
    assert r.smembers("tags:all") == {"python", "redis", "cache", "swift", "nio", "go"}
    assert r.sinterstore("tags:common", ["tags:post:1", "tags:post:3"]) == 1
    assert r.sdiffstore("tags:only1", ["tags:post:1", "tags:post:2", "tags:post:3"]) == 2
    assert r.smembers("tags:only1") == {"python", "cache"}
    # An empty result deletes the destination.
    assert r.sinterstore("tags:common", ["tags:post:2", "tags:post:3", "missing"]) == 0
    assert r.exists("tags:common") == 0
    assert r.srem("tags:post:3", "go", "nope") == 1
    # SMOVE
    assert r.smove("tags:post:1", "tags:post:3", "python") is True
    assert r.smove("tags:post:1", "tags:post:3", "python") is False
    assert r.smembers("tags:post:3") == {"redis", "python"}
    assert r.sismember("tags:post:1", "python") == 0
    assert r.smove("tags:post:3", "tags:post:2", "redis") is True  # already there: still moved out
    assert r.smembers("tags:post:3") == {"python"}
    assert r.scard("tags:post:2") == 3


def test_spop_and_srandmember_counts(r):
    members = {f"m{i}" for i in range(20)}
    r.sadd("pool", *members)
    one = r.srandmember("pool")
    assert one in members
    distinct = r.srandmember("pool", 5)
    assert len(distinct) == 5 and len(set(distinct)) == 5 and set(distinct) <= members
    assert sorted(r.srandmember("pool", 100)) == sorted(members)  # more than there are: all, once
    repeated = r.srandmember("pool", -50)  # negative: exactly 50, repeats allowed
    assert len(repeated) == 50 and set(repeated) <= members
    assert r.srandmember("pool", 0) == []
    assert r.srandmember("missing") is None
    assert r.srandmember("missing", 3) == []
    assert r.scard("pool") == 20  # SRANDMEMBER removes nothing
    popped = r.spop("pool")
    assert popped in members
    batch = r.spop("pool", 4)
    assert len(batch) == 4 and len(set(batch)) == 4 and popped not in batch
    assert r.scard("pool") == 15
    assert r.smembers("pool") == members - {popped, *batch}
    rest = r.spop("pool", 100)
    assert sorted(rest) == sorted(members - {popped, *batch})
    assert r.exists("pool") == 0
    assert r.spop("pool") is None
    assert r.spop("pool", 2) == []


def test_sscan_iter_visits_every_member(r):
    members = {f"user:{i}" for i in range(1000)}
    r.sadd("online", *members)
    seen = list(r.sscan_iter("online", count=100))
    assert len(seen) == 1000 and set(seen) == members
    assert set(r.sscan_iter("online", match="user:99*")) == {"user:99", *{f"user:99{i}" for i in range(10)}}
    # An intset is returned in one call.
    r.sadd("ids", 3, 1, 2)
    assert r.sscan("ids") == (0, ["1", "2", "3"])


def test_tag_invalidation_of_cached_pages(r):
    """Cache entries tagged with sets; invalidating a tag deletes every entry that has it."""
    def cache_page(key, body, tags):
        with r.pipeline(transaction=True) as pipe:
            pipe.set(key, body, ex=3600)
            for tag in tags:
                pipe.sadd(f"tag:{tag}", key)
            pipe.execute()

    def invalidate(tag):
        keys = r.smembers(f"tag:{tag}")
        with r.pipeline(transaction=True) as pipe:
            if keys:
                pipe.delete(*keys)
            pipe.delete(f"tag:{tag}")
            return pipe.execute()

    cache_page("page:/", "home", ["home", "products"])
    cache_page("page:/p/1", "product 1", ["products", "product:1"])
    cache_page("page:/p/2", "product 2", ["products", "product:2"])
    cache_page("page:/about", "about", ["static"])
    assert invalidate("product:1") == [1, 1]
    assert r.exists("page:/p/1") == 0
    assert r.get("page:/") == "home"
    assert invalidate("products") == [2, 1]  # page:/p/1 is gone already
    assert r.mget(["page:/", "page:/p/2", "page:/about"]) == [None, None, "about"]
    assert sorted(r.keys("tag:*")) == ["tag:home", "tag:product:2", "tag:static"]
    assert invalidate("nothing") == [0]


# --------------------------------------------------------------------------
# Sorted sets: leaderboards, time windows
# --------------------------------------------------------------------------


def test_zadd_options(r):
    assert r.zadd("z", {"a": 1, "b": 2, "c": 3}) == 3
    assert r.zadd("z", {"a": 10, "d": 4}) == 1  # counts new members only
    assert r.zadd("z", {"a": 11, "e": 5}, ch=True) == 2  # CH: changed + added
    assert r.zadd("z", {"a": 0, "f": 6}, nx=True) == 1
    assert r.zscore("z", "a") == 11.0
    assert r.zadd("z", {"a": 1, "g": 7}, xx=True) == 0
    assert r.zscore("z", "a") == 1.0 and r.zscore("z", "g") is None
    assert r.zadd("z", {"b": 1, "c": 30}, gt=True, ch=True) == 1  # only c rises
    assert r.zscore("z", "b") == 2.0 and r.zscore("z", "c") == 30.0
    assert r.zadd("z", {"b": 1, "c": 40}, lt=True, ch=True) == 1  # only b falls
    assert r.zscore("z", "b") == 1.0 and r.zscore("z", "c") == 30.0
    assert r.zadd("z", {"a": 2.5}, incr=True) == 3.5
    assert r.zadd("z", {"a": 1}, nx=True, incr=True) is None  # INCR that did nothing: nil
    assert r.zadd("z", {"inf": float("inf")}) == 1
    assert r.zscore("z", "inf") == float("inf")
    with pytest.raises(redis.ResponseError, match="^GT, LT, and/or NX options at the same time are not compatible$"):
        r.execute_command("ZADD", "z", "NX", "GT", "1", "x")
    with pytest.raises(redis.ResponseError, match="^XX and NX options at the same time are not compatible$"):
        r.execute_command("ZADD", "z", "NX", "XX", "1", "x")
    with pytest.raises(redis.ResponseError, match="^value is not a valid float$"):
        r.execute_command("ZADD", "z", "abc", "x")
    assert r.zcard("z") == 7


def test_zrange_forms(r):
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    assert r.zrange("z", 0, -1) == ["a", "b", "c", "d", "e"]
    assert r.zrange("z", 0, 1, withscores=True) == [("a", 1.0), ("b", 2.0)]
    assert r.zrange("z", 0, 1, desc=True) == ["e", "d"]
    assert r.zrevrange("z", 0, 1, withscores=True) == [("e", 5.0), ("d", 4.0)]
    assert r.zrange("z", 2, 4, byscore=True) == ["b", "c", "d"]
    assert r.zrange("z", "(2", "+inf", byscore=True, offset=1, num=2) == ["d", "e"]
    assert r.zrange("z", "+inf", "(2", byscore=True, desc=True, offset=0, num=2) == ["e", "d"]
    assert r.zrangebyscore("z", "-inf", "(3", withscores=True) == [("a", 1.0), ("b", 2.0)]
    assert r.zrevrangebyscore("z", 4, 2) == ["d", "c", "b"]
    assert r.zcount("z", "(1", 4) == 3
    r.zadd("names", {n: 0 for n in ["alice", "bob", "carol", "dave", "eve"]})
    assert r.zrange("names", "[b", "(d", bylex=True) == ["bob", "carol"]
    assert r.zrange("names", "-", "+", bylex=True, offset=3, num=10) == ["dave", "eve"]
    assert r.zrange("names", "+", "[c", bylex=True, desc=True) == ["eve", "dave", "carol"]
    assert r.zrangebylex("names", "(bob", "[dave") == ["carol", "dave"]
    assert r.zlexcount("names", "[a", "[c") == 2
    assert r.zrange("missing", 0, -1) == []
    with pytest.raises(redis.ResponseError, match="^min or max not valid string range item$"):
        r.zrangebylex("names", "b", "+")
    # ZRANK/ZREVRANK, ZINCRBY, ZREM, ZREMRANGEBYRANK
    assert r.zrank("z", "a") == 0
    assert r.zrank("z", "e") == 4
    assert r.zrevrank("z", "e") == 0
    assert r.zrank("z", "nope") is None
    assert r.zincrby("z", 10, "a") == 11.0
    assert r.zrank("z", "a") == 4
    assert r.zincrby("z", -0.5, "new") == -0.5
    assert r.zrange("z", 0, 0) == ["new"]
    assert r.zrem("z", "new", "nope") == 1
    assert r.zremrangebyrank("z", 0, 1) == 2
    assert r.zrange("z", 0, -1, withscores=True) == [("d", 4.0), ("e", 5.0), ("a", 11.0)]
    assert r.zmscore("z", ["a", "x", "d"]) == [11.0, None, 4.0]


def test_zpopmin_and_zpopmax(r):
    r.zadd("tasks", {"low": 1, "mid": 5, "high": 9, "urgent": 10})
    assert r.zpopmin("tasks") == [("low", 1.0)]
    assert r.zpopmax("tasks", 2) == [("urgent", 10.0), ("high", 9.0)]
    assert r.zpopmin("tasks", 5) == [("mid", 5.0)]
    assert r.exists("tasks") == 0
    assert r.zpopmin("tasks") == []
    assert r.bzpopmin("tasks", timeout=0.2) is None


def test_bzpopmin_woken_by_zadd(srv, r):
    waiter = Blocked(srv, lambda c: c.bzpopmin(["delayed", "scheduled"], timeout=BLOCK_WAIT_S))
    wait_blocked(r, 1)
    assert r.zadd("scheduled", {"job-b": 20, "job-a": 10}) == 2
    assert waiter.result() == ("scheduled", "job-a", 10.0)
    assert r.zrange("scheduled", 0, -1, withscores=True) == [("job-b", 20.0)]
    waiter = Blocked(srv, lambda c: c.bzpopmax("scheduled2", timeout=BLOCK_WAIT_S))
    wait_blocked(r, 1)
    r.zadd("scheduled2", {"x": 1, "y": 2})
    assert waiter.result() == ("scheduled2", "y", 2.0)


def test_zunionstore_with_weights_and_zrangestore(r):
    r.zadd("week1", {"ann": 10, "bob": 20, "cid": 5})
    r.zadd("week2", {"ann": 7, "dan": 3})
    assert r.zunionstore("total", {"week1": 1, "week2": 2}) == 4
    assert r.zrange("total", 0, -1, withscores=True) == \
        [("cid", 5.0), ("dan", 6.0), ("bob", 20.0), ("ann", 24.0)]
    assert r.zunionstore("best", ["week1", "week2"], aggregate="MAX") == 4
    assert r.zscore("best", "ann") == 10.0
    assert r.zinterstore("both", {"week1": 2, "week2": 1}, aggregate="SUM") == 1
    assert r.zrange("both", 0, -1, withscores=True) == [("ann", 27.0)]
    # A plain set counts as a sorted set with every score 1.
    r.sadd("bonus", "bob", "eve")
    assert r.zunionstore("withbonus", {"week1": 1, "bonus": 100}) == 4
    assert r.zscore("withbonus", "bob") == 120.0 and r.zscore("withbonus", "eve") == 100.0
    assert r.zrangestore("top2", "total", 0, 1, desc=True) == 2
    assert r.zrange("top2", 0, -1, withscores=True) == [("bob", 20.0), ("ann", 24.0)]
    assert r.zrangestore("mid", "total", 5, 20, byscore=True) == 3
    assert r.zrange("mid", 0, -1) == ["cid", "dan", "bob"]
    assert r.zrangestore("mid", "total", 100, 200, byscore=True) == 0
    assert r.exists("mid") == 0
    assert r.zunion(["week1", "week2"], withscores=True) == \
        [("dan", 3.0), ("cid", 5.0), ("ann", 17.0), ("bob", 20.0)]
    assert r.zdiff(["week1", "week2"]) == ["cid", "bob"]


def test_leaderboard(r):
    board = "leaderboard:season1"
    scores = {"ann": 3100, "bob": 2800, "cid": 3100, "dan": 1500, "eve": 4200}
    r.zadd(board, scores)
    # Points for games as they finish.
    with r.pipeline(transaction=False) as pipe:
        pipe.zincrby(board, 150, "bob").zincrby(board, 50, "dan").zincrby(board, 1000, "fay")
        assert pipe.execute() == [2950.0, 1550.0, 1000.0]
    # Top 3, highest first; equal scores in reverse byte order of the member.
    assert r.zrange(board, 0, 2, desc=True, withscores=True) == \
        [("eve", 4200.0), ("cid", 3100.0), ("ann", 3100.0)]
    assert r.zrevrank(board, "bob") == 3  # 4th place
    assert r.zrevrank(board, "fay") == 5
    assert r.zcount(board, 3000, "+inf") == 3
    # The players around bob.
    rank = r.zrevrank(board, "bob")
    assert r.zrange(board, rank - 1, rank + 1, desc=True) == ["ann", "bob", "dan"]
    # Everyone at or above 3000, then prune those below 1200.
    assert r.zrange(board, "+inf", 3000, byscore=True, desc=True) == ["eve", "cid", "ann"]
    assert r.zremrangebyscore(board, "-inf", "(1200") == 1
    assert r.zcard(board) == 5


def test_sliding_window_rate_limiter(r):
    """At most LIMIT requests per WINDOW_MS per user: each request is a member scored with its
    time; one MULTI prunes the old ones, adds this one and counts. The clock is the test's."""
    limit, window_ms = 5, 1000

    def allow(user: str, now_ms: int, request_id: str) -> bool:
        key = f"rate:{user}"
        with r.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, 0, now_ms - window_ms)
            pipe.zadd(key, {request_id: now_ms})
            pipe.zcard(key)
            pipe.pexpire(key, window_ms)
            _, added, count, _ = pipe.execute()
        assert added == 1
        if count > limit:
            r.zrem(key, request_id)  # a refused request does not count
            return False
        return True

    t0 = 1_700_000_000_000
    assert [allow("u1", t0 + i * 100, f"r{i}") for i in range(7)] == [True] * 5 + [False] * 2
    assert r.zcard("rate:u1") == 5
    assert allow("u2", t0 + 650, "other") is True  # another user has their own window
    # r0 (t0) leaves the window at t0 + 1000, r1 at t0 + 1100.
    assert allow("u1", t0 + 999, "r7") is False
    assert allow("u1", t0 + 1000, "r8") is True
    assert allow("u1", t0 + 1001, "r9") is False
    assert allow("u1", t0 + 1100, "r10") is True
    assert r.zrange("rate:u1", 0, -1) == ["r2", "r3", "r4", "r8", "r10"]
    assert 0 < r.pttl("rate:u1") <= window_ms


# --------------------------------------------------------------------------
# TYPE, WRONGTYPE, OBJECT ENCODING
# --------------------------------------------------------------------------


def test_type_and_wrongtype(r):
    r.set("s", "v")
    r.hset("h", "f", "v")
    r.rpush("l", "v")
    r.sadd("st", "v")
    r.zadd("z", {"v": 1})
    assert [r.type(k) for k in ("s", "h", "l", "st", "z", "missing")] == \
        ["string", "hash", "list", "set", "zset", "none"]
    wrong = [
        lambda: r.hset("s", "f", "v"), lambda: r.hgetall("l"), lambda: r.lpush("h", "v"),
        lambda: r.lrange("st", 0, -1), lambda: r.sadd("z", "v"), lambda: r.smembers("h"),
        lambda: r.zadd("st", {"v": 1}), lambda: r.zrange("l", 0, -1), lambda: r.get("h"),
        lambda: r.incr("l"), lambda: r.append("z", "x"), lambda: r.setbit("h", 0, 1),
        lambda: r.bitcount("l"), lambda: r.blpop("s", timeout=0.1), lambda: r.zscore("h", "f"),
        lambda: r.sinter("st", "z"), lambda: r.sunionstore("dst", ["st", "s"]),
        lambda: r.lmove("l", "h", "LEFT", "LEFT"), lambda: r.smove("st", "z", "v"),
        lambda: r.hincrby("z", "f", 1), lambda: r.getrange("st", 0, 1),
    ]
    for n, call in enumerate(wrong):
        with pytest.raises(redis.ResponseError) as caught:
            call()
        assert str(caught.value) == WRONGTYPE, f"call {n}: {caught.value}"
    # A failed LMOVE moved nothing; SET replaces any type.
    assert r.lrange("l", 0, -1) == ["v"]
    assert r.set("h", "now a string") is True
    assert r.type("h") == "string"
    # Inside MULTI the WRONGTYPE is that command's reply; the rest run.
    with r.pipeline(transaction=True) as pipe:
        pipe.lpush("s", "x").incr("counter")
        replies = pipe.execute(raise_on_error=False)
    assert str(replies[0]) == WRONGTYPE and replies[1] == 1


def test_object_encoding_transitions(r):
    # Redis 7.0's defaults: hash-max-listpack-entries 512 (not 128: that is zset's), -value 64.
    r.hset("h", mapping={f"f{i}": "v" for i in range(512)})
    assert r.object("encoding", "h") == "listpack"
    r.hset("h", "f512", "v")
    assert r.object("encoding", "h") == "hashtable"
    r.hdel("h", "f512", "f511")
    assert r.object("encoding", "h") == "hashtable"  # never converted back
    r.hset("h2", "f", "x" * 64)
    assert r.object("encoding", "h2") == "listpack"
    r.hset("h2", "g", "x" * 65)
    assert r.object("encoding", "h2") == "hashtable"

    r.sadd("s", *range(512))
    assert r.object("encoding", "s") == "intset"
    r.sadd("s", 512)
    assert r.object("encoding", "s") == "hashtable"
    r.sadd("s2", 1, 2, -3)
    assert r.object("encoding", "s2") == "intset"
    assert r.smembers("s2") == {"1", "2", "-3"}
    r.sadd("s2", "not a number")
    assert r.object("encoding", "s2") == "hashtable"

    r.zadd("z", {f"m{i}": i for i in range(128)})
    assert r.object("encoding", "z") == "listpack"
    r.zadd("z", {"m128": 128})
    assert r.object("encoding", "z") == "skiplist"
    r.zadd("z2", {"x" * 64: 1})
    assert r.object("encoding", "z2") == "listpack"
    r.zadd("z2", {"y" * 65: 2})
    assert r.object("encoding", "z2") == "skiplist"

    r.rpush("l", "a")
    assert r.object("encoding", "l") == "quicklist"  # every list in Redis 7.0
    r.set("n", 12345)
    assert r.object("encoding", "n") == "int"
    assert r.object("encoding", "missing") is None


# --------------------------------------------------------------------------
# RESP3: what redis-py hands the application
# --------------------------------------------------------------------------


def test_resp3_reply_types_in_redis_py(srv):
    r3 = srv.redis_py(protocol=3, decode_responses=True)
    try:
        r3.hset("h", mapping={"a": "1", "b": "2"})
        r3.sadd("s", "x", "y")
        r3.zadd("z", {"m": 1.5, "n": 2})
        got = r3.hgetall("h")
        assert type(got) is dict and got == {"a": "1", "b": "2"}
        got = r3.smembers("s")
        assert type(got) is set and got == {"x", "y"}
        assert r3.zscore("z", "m") == 1.5 and type(r3.zscore("z", "m")) is float
        assert r3.zscore("z", "missing") is None
        pairs = r3.zrange("z", 0, -1, withscores=True)
        assert [tuple(p) for p in pairs] == [("m", 1.5), ("n", 2.0)]
        assert all(type(p[1]) is float for p in pairs)
        assert r3.zincrby("z", 1, "m") == 2.5
        assert r3.hgetall("missing") == {}
        assert r3.smembers("missing") == set()
        assert r3.hincrbyfloat("h", "a", 0.5) == 1.5
    finally:
        r3.close()


def test_resp3_wire_types(srv):
    """The reply types on the wire under HELLO 3: map, set, double, array of pairs."""
    with srv.connect() as conn:
        conn.execute("HELLO", "3")
        conn.execute("HSET", "h", "a", "1")
        conn.execute("SADD", "s", "x")
        conn.execute("ZADD", "z", "1.5", "m", "2", "n")
        assert conn.execute("HGETALL", "h") == Map(((Bulk(b"a"), Bulk(b"1")),))
        assert conn.execute("SMEMBERS", "s") == Set((Bulk(b"x"),))
        assert conn.execute("ZSCORE", "z", "m") == Double(b"1.5")
        assert conn.execute("ZRANGE", "z", "0", "-1", "WITHSCORES") == \
            Array((Array((Bulk(b"m"), Double(b"1.5"))), Array((Bulk(b"n"), Double(b"2")))))
        assert conn.execute("ZPOPMIN", "z") == Array((Bulk(b"m"), Double(b"1.5")))
        assert conn.execute("ZPOPMIN", "z", "1") == Array((Array((Bulk(b"n"), Double(b"2"))),))
        assert conn.execute("HLEN", "h") == Integer(1)


# --------------------------------------------------------------------------
# Bits and LCS
# --------------------------------------------------------------------------


def test_bitmap_of_daily_active_users(r):
    for user_id in (0, 5, 7, 100):
        assert r.setbit("active:mon", user_id, 1) == 0
    assert r.setbit("active:mon", 5, 1) == 1  # the old bit
    assert r.getbit("active:mon", 5) == 1
    assert r.getbit("active:mon", 6) == 0
    assert r.getbit("active:mon", 10_000) == 0  # past the end: 0
    assert r.strlen("active:mon") == 13  # bit 100 is in byte 12
    assert r.bitcount("active:mon") == 4
    assert r.bitcount("active:mon", 0, 0) == 3  # byte 0: bits 0, 5, 7
    assert r.bitcount("active:mon", 0, 6, "BIT") == 2
    assert r.bitcount("active:mon", -1, -1) == 1
    for user_id in (5, 100, 200):
        r.setbit("active:tue", user_id, 1)
    assert r.bitop("AND", "both", "active:mon", "active:tue") == 26
    assert r.bitcount("both") == 2
    assert r.bitop("OR", "either", "active:mon", "active:tue") == 26
    assert r.bitcount("either") == 5
    assert r.bitop("XOR", "one", "active:mon", "active:tue") == 26
    assert r.bitcount("one") == 3
    assert r.bitop("NOT", "inverted", "active:mon") == 13
    assert r.bitcount("inverted") == 13 * 8 - 4
    assert r.bitpos("active:mon", 1) == 0
    assert r.bitpos("active:mon", 0) == 1
    assert r.bitpos("active:mon", 1, 1) == 100  # from byte 1
    assert r.bitpos("active:mon", 1, 6, -1, "BIT") == 7
    assert r.bitpos("missing", 1) == -1
    assert r.bitpos("missing", 0) == 0
    r.set("allones", b"\xff\xff")
    assert r.bitpos("allones", 0) == 16  # no clear bit: the first bit past the end
    assert r.bitpos("allones", 0, 0, -1) == -1  # ... unless a range was given
    with pytest.raises(redis.ResponseError, match="^bit offset is not an integer or out of range$"):
        r.setbit("active:mon", -1, 1)
    with pytest.raises(redis.ResponseError, match="^bit is not an integer or out of range$"):
        r.execute_command("SETBIT", "active:mon", 1, 2)


def test_bitfield_counters(r):
    # Packed 8-bit unsigned counters: SET, GET, INCRBY with each OVERFLOW mode.
    bf = r.bitfield("counters")
    assert bf.set("u8", 0, 200).get("u8", 0).incrby("u8", 0, 100).execute() == [0, 200, 44]
    assert r.bitfield("counters", default_overflow="SAT").incrby("u8", 0, 250).incrby("u8", "#1", -5).execute() \
        == [255, 0]
    assert r.bitfield("counters", default_overflow="FAIL").incrby("u8", 0, 1).execute() == [None]
    assert r.bitfield("counters").set("i8", "#2", -128).get("i8", "#2").get("u8", "#2").execute() == [0, -128, 128]
    assert r.bitfield("counters").incrby("i5", 100, 1).get("u4", 0).execute() == [1, 15]
    assert r.bitfield_ro("counters", "u8", 0, items=[("u8", 16)]) == [255, 128]
    assert r.strlen("counters") == 14  # i5 at bit 100 ends in byte 13
    with pytest.raises(redis.ResponseError,
                       match="^Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.$"):
        r.bitfield("counters").get("u64", 0).execute()


def test_lcs(r):
    r.mset({"key1": "ohmytext", "key2": "mynewtext"})
    assert r.lcs("key1", "key2") == "mytext"
    assert r.lcs("key1", "key2", len=True) == 6
    assert r.lcs("key1", "key2", idx=True) == \
        ["matches", [[[4, 7], [5, 8]], [[2, 3], [0, 1]]], "len", 6]
    assert r.lcs("key1", "key2", idx=True, minmatchlen=4, withmatchlen=True) == \
        ["matches", [[[4, 7], [5, 8], 4]], "len", 6]
    assert r.lcs("key1", "missing") == ""
    assert r.lcs("missing", "missing", len=True) == 0
    r.rpush("alist", "x")
    with pytest.raises(redis.ResponseError, match="^The specified keys must contain string values$"):
        r.lcs("key1", "alist")
