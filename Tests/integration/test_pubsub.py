"""Pub/Sub as clients use it: redis-py's PubSub (listen, get_message, patterns, shard channels),
the RESP2 subscribed context and RESP3 push messages, a slow subscriber disconnected at the
pubsub output limit without slowing the publisher, and a ring whose nodes relay messages to
each other (a subscriber on one node, a publisher on another, each message received once).

Also run against redis-server (STRATA_TARGET=redis) where it does not need Strata's ring.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis

from conftest import HOST, target
from ring_chaos import Ring, client as node_client


def wait_message(pubsub, timeout=5.0):
    """The next message (not a subscription confirmation), or None after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message is not None:
            return message
    return None


def test_redis_py_pubsub_channels_and_patterns(strata):
    r = strata.redis_py()
    p = r.pubsub()
    p.subscribe("news", "sport")
    p.psubscribe("w*ther")
    # The confirmations: kind, name, count of subscriptions so far.
    confirmations = [p.get_message(timeout=2) for _ in range(3)]
    assert [(m["type"], m["channel"], m["data"]) for m in confirmations] == [
        ("subscribe", b"news", 1), ("subscribe", b"sport", 2), ("psubscribe", b"w*ther", 3)]
    publisher = strata.redis_py()
    assert publisher.pubsub_numsub("news", "sport", "none") == [(b"news", 1), (b"sport", 1), (b"none", 0)]
    assert publisher.pubsub_numpat() == 1
    assert sorted(publisher.pubsub_channels()) == [b"news", b"sport"]
    assert publisher.pubsub_channels("n*") == [b"news"]
    assert publisher.publish("news", "hello") == 1
    assert publisher.publish("weather", "sunny") == 1
    assert publisher.publish("nobody", "lost") == 0
    first = wait_message(p)
    assert (first["type"], first["channel"], first["data"]) == ("message", b"news", b"hello")
    second = wait_message(p)
    assert (second["type"], second["pattern"], second["channel"], second["data"]) == \
        ("pmessage", b"w*ther", b"weather", b"sunny")
    assert wait_message(p, timeout=0.5) is None
    p.unsubscribe("news")
    p.punsubscribe()
    # redis-py sends them without waiting: the confirmations say they have run.
    kinds = [p.get_message(timeout=2)["type"] for _ in range(2)]
    assert kinds == ["unsubscribe", "punsubscribe"]
    assert publisher.publish("news", "gone") == 0
    assert publisher.publish("sport", "goal") == 1
    assert wait_message(p)["data"] == b"goal"
    p.close()
    # Its subscriptions ended with the connection.
    deadline = time.monotonic() + 5
    while publisher.pubsub_numsub("sport") != [(b"sport", 0)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert publisher.pubsub_numsub("sport") == [(b"sport", 0)]


def test_redis_py_listen_in_a_thread(strata):
    r = strata.redis_py()
    p = r.pubsub(ignore_subscribe_messages=True)
    p.subscribe("jobs")
    received = []

    def listen():
        for message in p.listen():
            if message["type"] == "message":
                received.append(message["data"])
                if message["data"] == b"stop":
                    return

    thread = threading.Thread(target=listen)
    thread.start()
    publisher = strata.redis_py()
    deadline = time.monotonic() + 5
    while publisher.pubsub_numsub("jobs")[0][1] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    pipe = publisher.pipeline(transaction=False)
    for i in range(1000):
        pipe.publish("jobs", f"job-{i}")
    pipe.publish("jobs", "stop")
    assert pipe.execute() == [1] * 1001
    thread.join(10)
    assert not thread.is_alive()
    # Every message, once, in order.
    assert received == [f"job-{i}".encode() for i in range(1000)] + [b"stop"]
    p.close()


def test_run_in_thread_and_shard_channels(strata):
    r = strata.redis_py()
    got = []
    p = r.pubsub()
    p.ssubscribe(**{"orders{7}": lambda m: got.append(m["data"])})
    worker = p.run_in_thread(sleep_time=0.01)
    try:
        publisher = strata.redis_py()
        deadline = time.monotonic() + 5
        while publisher.pubsub_shardnumsub("orders{7}")[0][1] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert publisher.pubsub_shardchannels() == [b"orders{7}"]
        assert publisher.spublish("orders{7}", "first") == 1
        assert publisher.publish("orders{7}", "not a shard message") == 0
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.02)
        assert got == [b"first"]
    finally:
        worker.stop()
        p.close()


def test_subscribed_context_resp2_and_resp3(strata):
    """RESP2: only the (un)subscribe commands, PING, QUIT and RESET; RESP3: anything, with
    messages as push frames among the replies."""
    c = strata.connect()
    c.send_raw(b"SUBSCRIBE a\r\nGET x\r\nPING\r\nRESET\r\nGET x\r\n")
    time.sleep(0.3)
    data = c.sock.recv(65536)
    assert data == (b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
                    b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
                    b"*2\r\n$4\r\npong\r\n$0\r\n\r\n+RESET\r\n$-1\r\n")
    c.close()
    r3 = strata.redis_py(protocol=3)
    assert r3.set("resp3-key", "v")
    p = r3.pubsub()
    p.subscribe("r3")
    assert p.get_message(timeout=2)["type"] == "subscribe"
    # On the subscribed RESP3 connection, an ordinary command and a message pushed meanwhile.
    assert strata.redis_py().publish("r3", "pushed") == 1
    assert wait_message(p)["data"] == b"pushed"
    p.execute_command("GET", "resp3-key")
    reply = None
    deadline = time.monotonic() + 2
    while reply is None and time.monotonic() < deadline:
        reply = p.parse_response(block=False, timeout=0.2)
    assert reply == b"v"
    p.close()


def test_slow_subscriber_is_disconnected_and_publisher_not_slowed(strata):
    """A subscriber that never reads: past `client-output-buffer-limit pubsub` hard limit it is
    disconnected; the publisher's commands go on at full speed, and memory stays bounded."""
    admin = strata.redis_py()
    old = admin.config_get("client-output-buffer-limit")["client-output-buffer-limit"]
    admin.config_set("client-output-buffer-limit", "pubsub 4mb 1mb 60")
    slow = socket.create_connection((HOST, strata.port))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        slow.sendall(b"SUBSCRIBE firehose\r\n")
        time.sleep(0.2)
        assert admin.pubsub_numsub("firehose") == [(b"firehose", 1)]
        # Redis 7.0 has no counter of these disconnections in INFO (7.2 does); Strata has.
        counted = target() == "strata"
        before = int(admin.info("stats")["client_output_buffer_limit_disconnections"]) if counted else 0
        publisher = strata.redis_py()
        payload = "x" * 10_000
        started = time.monotonic()
        sent = 0
        # 30 MB of messages: far past the 4 MB limit.
        for _ in range(30):
            pipe = publisher.pipeline(transaction=False)
            for _ in range(100):
                pipe.publish("firehose", payload)
            pipe.execute()
            sent += 100
        elapsed = time.monotonic() - started
        deadline = time.monotonic() + 5
        while admin.pubsub_numsub("firehose") != [(b"firehose", 0)] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert admin.pubsub_numsub("firehose") == [(b"firehose", 0)]
        if counted:
            assert int(admin.info("stats")["client_output_buffer_limit_disconnections"]) == before + 1
        assert elapsed < 10, f"publishing {sent} messages took {elapsed:.1f}s"
        if target() == "strata":
            # Nothing of the 30 MB is held for it.
            assert int(admin.info("memory")["used_memory"]) < 64 << 20
    finally:
        slow.close()
        admin.config_set("client-output-buffer-limit", old)


def test_publish_inside_multi_and_to_self(strata):
    r = strata.redis_py(protocol=3)
    p = r.pubsub()
    p.subscribe("self")
    p.get_message(timeout=2)
    other = strata.redis_py()
    pipe = other.pipeline(transaction=True)
    pipe.publish("self", "in-multi")
    pipe.set("after-publish", "1")
    assert pipe.execute() == [1, True]
    assert wait_message(p)["data"] == b"in-multi"
    p.close()


@pytest.mark.skipif(target() != "strata", reason="strata's ring")
@pytest.mark.parametrize("mode", ["proxy", "redirect"])
def test_ring_relays_messages_between_nodes(tmp_path, mode):
    """Subscribers on every node, publishers on every node: each message reaches every
    subscriber exactly once (the nodes relay to each other, never twice)."""
    ring = Ring(tmp_path, 3, "everysec", ("--cluster-mode", mode))
    ring.start()
    try:
        nodes = ring.members
        subscribers = []
        for node in nodes:
            p = node_client(node.port).pubsub(ignore_subscribe_messages=True)
            p.subscribe("ring-news")
            p.psubscribe("ring-*")
            subscribers.append(p)
        for p in subscribers:
            p.get_message(timeout=2)
            p.get_message(timeout=2)
        deadline = time.monotonic() + 5
        while any(node_client(n.port).pubsub_numsub("ring-news")[0][1] != 1 for n in nodes) and time.monotonic() < deadline:
            time.sleep(0.05)
        expected = []
        for i, node in enumerate(nodes):
            publisher = node_client(node.port)
            for j in range(50):
                message = f"from-{i}-{j}"
                # The count is this node's own subscribers (a channel and a pattern here).
                assert publisher.publish("ring-news", message) == 2
                expected.append(message.encode())
        for index, p in enumerate(subscribers):
            channel, pattern = [], []
            deadline = time.monotonic() + 10
            while len(channel) + len(pattern) < 2 * len(expected) and time.monotonic() < deadline:
                m = p.get_message(timeout=0.2)
                if m is None:
                    continue
                (pattern if m["type"] == "pmessage" else channel).append(m["data"])
            time.sleep(0.3)
            while (m := p.get_message(timeout=0.1)) is not None:
                (pattern if m["type"] == "pmessage" else channel).append(m["data"])
            assert sorted(channel) == sorted(expected), f"node {index}: channel messages lost or doubled"
            assert sorted(pattern) == sorted(expected), f"node {index}: pattern messages lost or doubled"
            # From any one publisher, in the order it published.
            for i in range(len(nodes)):
                mine = [m for m in channel if m.startswith(f"from-{i}-".encode())]
                assert mine == [f"from-{i}-{j}".encode() for j in range(50)]
        if mode == "proxy":
            # A shard channel: subscribed on every node, published on any, forwarded to the
            # slot's owner, which relays it to every node.
            shard = []
            for node in nodes:
                p = node_client(node.port).pubsub(ignore_subscribe_messages=True)
                p.ssubscribe("ring-shard{1}")
                p.get_message(timeout=2)
                shard.append(p)
            time.sleep(0.2)
            for node in nodes:
                node_client(node.port).spublish("ring-shard{1}", f"s-{node.port}")
            for p in shard:
                got = []
                deadline = time.monotonic() + 5
                while len(got) < len(nodes) and time.monotonic() < deadline:
                    m = p.get_message(timeout=0.2)
                    if m is not None:
                        got.append(m["data"])
                assert sorted(got) == sorted(f"s-{n.port}".encode() for n in nodes)
            # Shard channels of two slots in one SSUBSCRIBE: refused, as in Redis Cluster.
            raw = socket.create_connection((HOST, nodes[0].port), timeout=5)
            raw.sendall(b"SSUBSCRIBE a{1} a{2}\r\n")
            assert raw.recv(1024) == b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
            raw.close()
            for p in shard:
                p.close()
        for p in subscribers:
            p.close()
    finally:
        ring.stop()
