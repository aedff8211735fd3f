"""Lua scripting (EVAL, EVALSHA, SCRIPT) through real clients: redis-py's Lock and
register_script, scripts' writes surviving a restart with L3, BUSY and SCRIPT KILL across
connections, and scripts on a proxy-mode ring (EVALSHA of a script only the entry node has,
CROSSSLOT). The reply-by-reply comparison with redis-server is diff_eval.py's."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from conftest import HOST, target
from test_cluster import cluster, key_slot, owned_elsewhere, slot_owners  # noqa: F401

strata_only = pytest.mark.skipif(target() != "strata", reason="strata's L3 tier and ring")


def test_redis_py_lock_acquire_extend_release(server_factory):
    server = server_factory()
    r = server.redis_py()
    lock = r.lock("resource", timeout=10)
    assert lock.acquire(blocking=False)
    assert r.get("resource") == lock.local.token
    assert lock.extend(20)
    assert 19_000 < r.pttl("resource") <= 30_000
    assert lock.reacquire()
    lock.release()
    assert r.exists("resource") == 0
    # Release and extend are scripts that refuse a token that does not own the lock.
    r.set("resource", "someone-else")
    stale = r.lock("resource", timeout=10)
    stale.local.token = b"not-the-owner"
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        stale.release()
    stale.local.token = b"not-the-owner"
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        stale.extend(5)
    assert r.get("resource") == b"someone-else"


def test_two_clients_contend_for_a_lock(server_factory):
    server = server_factory()
    first, second = server.redis_py(), server.redis_py()
    held = first.lock("shared", timeout=30)
    assert held.acquire(blocking=False)
    held_token = held.local.token
    # A non-blocking acquire fails while the lock is held.
    assert not second.lock("shared", timeout=30).acquire(blocking=False)
    got = {}

    def wait_for_it():
        lock = second.lock("shared", timeout=30, sleep=0.02)
        got["acquired"] = lock.acquire(blocking=True, blocking_timeout=10)
        got["at"] = time.monotonic()
        got["token"] = lock.local.token

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    time.sleep(0.3)
    assert "acquired" not in got
    released_at = time.monotonic()
    held.release()
    waiter.join(10)
    assert got["acquired"] and got["at"] >= released_at
    assert first.get("shared") == got["token"]
    # The first client's old token no longer owns it: the release script refuses it.
    stale = first.lock("shared", timeout=30)
    stale.local.token = held_token
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        stale.release()
    assert first.get("shared") == got["token"]


def test_register_script_loads_on_noscript_and_runs_by_sha(server_factory):
    server = server_factory()
    r = server.redis_py()
    incr_by = r.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert incr_by(keys=["counter"], args=[5]) == 5
    assert r.script_exists(incr_by.sha) == [True]
    r.script_flush()
    assert r.script_exists(incr_by.sha) == [False]
    # EVALSHA gets NOSCRIPT; redis-py loads the script and runs it again.
    assert incr_by(keys=["counter"], args=[2]) == 7
    pipe = r.pipeline()
    incr_by(keys=["counter"], args=[1], client=pipe)
    incr_by(keys=["counter"], args=[1], client=pipe)
    assert pipe.execute() == [8, 9]


@strata_only
def test_writes_made_by_scripts_survive_a_restart_with_l3(server_factory):
    server = server_factory("--l3-fsync", "always")
    r = server.redis_py()
    assert r.eval("redis.call('SET', KEYS[1], ARGV[1]) return redis.call('HSET', KEYS[2], 'f', ARGV[1])",
                  2, "s:{x}", "h:{x}", "v1") == 1
    sha = r.script_load("return redis.call('RPUSH', KEYS[1], ARGV[1])")
    assert r.evalsha(sha, 1, "list", "a") == 1
    server.restart()
    r = server.redis_py()
    assert r.get("s:{x}") == b"v1"
    assert r.hget("h:{x}", "f") == b"v1"
    assert r.lrange("list", 0, -1) == [b"a"]
    # The script cache is not persisted (as in Redis): EVALSHA needs the script again.
    with pytest.raises(redis.exceptions.NoScriptError):
        r.evalsha(sha, 1, "list", "b")
    assert r.eval("return redis.call('GET', KEYS[1])", 1, "s:{x}") == b"v1"


def test_busy_and_script_kill_from_another_connection(server_factory):
    server = server_factory()
    admin = server.redis_py()
    admin.config_set("busy-reply-threshold", 200)
    # Connections made (and registered with their event loop) before the script starts: those
    # on the script's event loop wait while it runs; the others get BUSY and can kill it.
    others = [server.redis_py(socket_timeout=1.0) for _ in range(6)]
    for other in others:
        assert other.ping()
    runner = server.redis_py(socket_timeout=30)
    outcome = {}

    def run():
        try:
            outcome["reply"] = runner.eval("local i = 0 while true do i = i + 1 end", 0)
        except redis.exceptions.ResponseError as error:
            outcome["error"] = str(error)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.6)
    killer = None
    for other in others:
        try:
            other.get("x")
        except redis.exceptions.BusyLoadingError as error:  # redis-py's class for -BUSY
            assert "Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE." in str(error)
            killer = other
            break
        except redis.exceptions.ResponseError as error:
            assert str(error).startswith("BUSY Redis is busy running a script.")
            killer = other
            break
        except redis.exceptions.TimeoutError:
            continue  # on the script's event loop
    assert killer is not None, "no connection on another event loop"
    assert killer.script_kill()
    thread.join(10)
    assert outcome["error"].startswith("Script killed by user with SCRIPT KILL... script: ")
    with pytest.raises(redis.exceptions.ResponseError, match="NOTBUSY No scripts in execution right now."):
        admin.script_kill()
    assert admin.ping()


def test_a_script_that_wrote_cannot_be_killed(server_factory):
    server = server_factory()
    admin = server.redis_py()
    admin.config_set("busy-reply-threshold", 100)
    others = [server.redis_py(socket_timeout=1.0) for _ in range(6)]
    for other in others:
        assert other.ping()
    runner = server.redis_py(socket_timeout=30)
    outcome = {}

    def run():
        # A few seconds of work after a write.
        outcome["reply"] = runner.eval(
            "redis.call('SET', 'w', '1') local i = 0 while i < 300000000 do i = i + 1 end return i", 0)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.4)
    refused = None
    for other in others:
        try:
            other.script_kill()
        except redis.exceptions.TimeoutError:
            continue
        except redis.exceptions.ResponseError as error:
            refused = str(error)
            break
    thread.join(30)
    assert refused is not None, "no connection on another event loop"
    assert refused.startswith("UNKILLABLE Sorry the script already executed write commands against the dataset.")
    assert outcome["reply"] == 300000000
    assert admin.get("w") == b"1"


@strata_only
def test_proxy_ring_evalsha_of_a_script_only_the_entry_node_has(cluster):  # noqa: F811
    nodes, _ = cluster(3)
    entry = nodes[0].client()
    body = "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])"
    sha = entry.script_load(body)
    key = owned_elsewhere(entry, nodes[0].port, 1, prefix="script")[0]
    owner_port = slot_owners(entry)[key_slot(key)]
    owner = next(n for n in nodes if n.port == owner_port).client()
    assert owner.script_exists(sha) == [False]
    assert entry.evalsha(sha, 1, key, "v1") == b"v1"
    # The owner now has it (the entry node sent SCRIPT LOAD after its NOSCRIPT) and the key.
    assert owner.script_exists(sha) == [True]
    assert owner.get(key) == b"v1"
    assert entry.evalsha(sha, 1, key, "v2") == b"v2"
    # A script no node has: NOSCRIPT reaches the client.
    with pytest.raises(redis.exceptions.NoScriptError):
        entry.evalsha("f" * 40, 1, key)
    # EVAL is forwarded like any keyed command.
    assert entry.eval("return redis.call('GET', KEYS[1])", 1, key) == b"v2"


@strata_only
def test_proxy_ring_scripts_keys_must_share_a_slot(cluster):  # noqa: F811
    nodes, _ = cluster(2)
    c = nodes[0].client()
    a, b = "alpha", "beta"
    assert key_slot(a) != key_slot(b)
    # redis-py raises ClusterCrossSlotError for -CROSSSLOT, without the code.
    with pytest.raises(redis.exceptions.ResponseError, match="Keys in request don't hash to the same slot"):
        c.eval("return redis.call('MGET', KEYS[1], KEYS[2])", 2, a, b)
    # A hash tag puts them in one slot.
    assert c.eval("redis.call('SET', KEYS[1], 'x') return redis.call('MGET', KEYS[1], KEYS[2])", 2,
                  "{t}alpha", "{t}beta") == [b"x", None]
    # A key the script did not declare, in another slot: refused.
    with pytest.raises(redis.exceptions.ResponseError, match="Script attempted to access a non local key in a cluster node"):
        c.eval("return redis.call('GET', 'undeclared-key')", 1, "{t}alpha")
    with pytest.raises(redis.exceptions.ResponseError, match="Can not run script on cluster, 'no-cluster' flag is set."):
        c.eval("#!lua flags=no-cluster\nreturn 1", 0)


@strata_only
def test_keys_only_in_l3_are_read_back_for_a_script(server_factory):
    server = server_factory("--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru", "--l3-fsync", "always")
    r = server.redis_py()
    value = "x" * 1000
    pipe = r.pipeline(transaction=False)
    for i in range(6000):
        pipe.set(f"cold:{i}", f"{i}:{value}")
    pipe.execute()
    tiers = r.info("tiers")
    assert int(tiers["l1_keys"]) + int(tiers["l2_keys"]) < 3000, f"keys did not leave memory for L3: {tiers}"
    sha = r.script_load("return {redis.call('GET', KEYS[1]), redis.call('STRLEN', KEYS[2])}")
    for i in range(0, 6000, 97):
        assert r.evalsha(sha, 2, f"cold:{i}", f"cold:{i + 1}") == [f"{i}:{value}".encode(), len(f"{i + 1}:{value}")]
