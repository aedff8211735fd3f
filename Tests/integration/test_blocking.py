"""Blocking pops (BLPOP, BLMOVE, BZPOPMIN…) as deployed: clients on both event loops, clients
that go away while blocked, L3 across a restart, and a ring in proxy and redirect mode.

Each test counts elements: every element pushed is either delivered to exactly one client or
still in its list. The count of lost or doubled elements must be 0.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis
from redis.cluster import RedisCluster

from conftest import HOST, target
from ring_chaos import Ring


def resp(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


@pytest.fixture
def server(server_factory):
    return server_factory()


def wait_blocked(client: redis.Redis, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if int(client.info("clients")["blocked_clients"]) == count:
            return
        time.sleep(0.01)
    raise AssertionError(f"blocked_clients never reached {count}: {client.info('clients')['blocked_clients']}")


def test_clients_that_go_away_while_blocked_take_nothing(server):
    """Twenty clients block on one list; ten close their connection (some with a reset). The
    ten elements pushed next go to the ten that stayed, one each, and none is lost."""
    admin = redis.Redis(host=HOST, port=server.port)
    sockets = []
    for i in range(20):
        s = socket.create_connection((HOST, server.port))
        s.sendall(resp("BLPOP", "jobs", "10"))
        sockets.append(s)
    wait_blocked(admin, 20)
    gone, stayed = sockets[::2], sockets[1::2]
    for n, s in enumerate(gone):
        if n % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    wait_blocked(admin, 10)
    admin.rpush("jobs", *[f"job{i}" for i in range(10)])
    delivered = []
    for s in stayed:
        s.settimeout(5)
        data = b""
        while data.count(b"\r\n") < 5:
            data += s.recv(4096)
        delivered.append(data.split(b"\r\n")[4])
        s.close()
    assert sorted(delivered) == sorted(f"job{i}".encode() for i in range(10))
    assert admin.llen("jobs") == 0
    assert int(admin.info("clients")["blocked_clients"]) == 0


def test_a_blocked_client_that_disconnects_leaves_the_element_in_the_list(server):
    admin = redis.Redis(host=HOST, port=server.port)
    s = socket.create_connection((HOST, server.port))
    s.sendall(resp("BRPOPLPUSH", "src", "dst", "0"))
    wait_blocked(admin, 1)
    s.close()
    wait_blocked(admin, 0)
    admin.lpush("src", "only")
    time.sleep(0.1)
    assert admin.lrange("src", 0, -1) == [b"only"]
    assert admin.exists("dst") == 0


def test_blocked_clients_on_every_event_loop_are_served_in_the_order_they_blocked(server):
    """Connections are spread over the event loops; each push serves the longest waiting."""
    admin = redis.Redis(host=HOST, port=server.port)
    order = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        client = redis.Redis(host=HOST, port=server.port)
        got = client.blpop(["fair"], timeout=10)
        with lock:
            order.append((name, got[1].decode()))

    threads = []
    for i in range(6):
        t = threading.Thread(target=worker, args=(f"w{i}",))
        t.start()
        threads.append(t)
        wait_blocked(admin, i + 1)
    for i in range(6):
        admin.rpush("fair", f"e{i}")
        deadline = time.monotonic() + 5
        while len(order) < i + 1 and time.monotonic() < deadline:
            time.sleep(0.005)
    for t in threads:
        t.join(10)
    assert order == [(f"w{i}", f"e{i}") for i in range(6)]


def test_one_push_of_many_elements_serves_every_waiter(server):
    admin = redis.Redis(host=HOST, port=server.port)
    results = []

    def worker() -> None:
        results.append(redis.Redis(host=HOST, port=server.port).bzpopmin("board", timeout=10))

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for n, t in enumerate(threads):
        t.start()
        wait_blocked(admin, n + 1)
    admin.zadd("board", {f"m{i}": i for i in range(7)})
    for t in threads:
        t.join(10)
    assert sorted(r[1] for r in results) == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert admin.zrange("board", 0, -1) == [b"m5", b"m6"]


@pytest.mark.skipif(target() != "strata", reason="strata's L3 tier")
def test_a_served_blmove_is_durable_across_a_restart(server_factory):
    server = server_factory("--l3-fsync", "always")
    admin = redis.Redis(host=HOST, port=server.port)
    waiter = redis.Redis(host=HOST, port=server.port)
    result = []
    t = threading.Thread(target=lambda: result.append(waiter.blmove("inbox", "processing", 10, "LEFT", "RIGHT")))
    t.start()
    wait_blocked(admin, 1)
    admin.rpush("inbox", "task-1", "task-2")
    t.join(10)
    assert result == [b"task-1"]
    server.restart()
    admin = redis.Redis(host=HOST, port=server.port)
    deadline = time.monotonic() + 10
    while int(admin.info("persistence")["loading"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert admin.lrange("inbox", 0, -1) == [b"task-2"]
    assert admin.lrange("processing", 0, -1) == [b"task-1"]


@pytest.mark.skipif(target() != "strata", reason="a ring of strata nodes")
@pytest.mark.parametrize("mode", ["proxy", "redirect"])
def test_blocking_pops_on_a_ring(tmp_path, mode):
    """Proxy mode: a BLPOP sent to one node for a key another node owns waits there, the other
    clients of the same node keep being answered, and a push through a third node wakes it.
    Redirect mode: a cluster client blocks on the owner."""
    ring = Ring(tmp_path, 3, "everysec", ("--cluster-mode", mode))
    try:
        ring.start()
        first, second, third = ring.members
        key = second.admin and ring.keys_owned_by(second, 1, prefix="queue")[0]
        result = []
        if mode == "proxy":
            waiter = redis.Redis(host=HOST, port=first.port)
            t = threading.Thread(target=lambda: result.append(waiter.blpop([key], timeout=10)))
            t.start()
            wait_blocked(second.admin, 1)
            # Other clients of the first node, for keys on the second, are not held up.
            other = redis.Redis(host=HOST, port=first.port)
            began = time.monotonic()
            for i in range(20):
                other.set(f"{key}-{i}", i)
            assert time.monotonic() - began < 2
            assert result == []
            redis.Redis(host=HOST, port=third.port).rpush(key, "hello")
            t.join(10)
            assert result == [(key.encode(), b"hello")]
            assert redis.Redis(host=HOST, port=third.port).exists(key) == 0
        else:
            cluster = RedisCluster(host=HOST, port=first.port)
            t = threading.Thread(target=lambda: result.append(cluster.blpop([key], timeout=10)))
            t.start()
            wait_blocked(second.admin, 1)
            RedisCluster(host=HOST, port=third.port).rpush(key, "hello")
            t.join(10)
            assert result == [[key.encode(), b"hello"]] or result == [(key.encode(), b"hello")]
    finally:
        ring.stop()
