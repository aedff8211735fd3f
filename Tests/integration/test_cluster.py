"""Several strata nodes on loopback: proxy mode, redirect mode (redis-py RedisCluster,
redis-cli -c), membership change, node failure, and twemproxy (nutcracker) in front.
See docs/cluster.md."""

from __future__ import annotations

import binascii
import shutil
import signal
import subprocess
import time

import pytest
import redis
from redis.cluster import RedisCluster

from conftest import HOST, free_port, strata_bin, target
from resp_client import OK, Array, Bulk, Integer, Null, RespConnection, Simple

pytestmark = pytest.mark.skipif(target() != "strata", reason="strata's cluster modes")

KEYS = 10_000
TIMEOUT_MS = 1000


class Node:
    def __init__(self, tmp, port, nodes, *extra):
        self.port = port
        self.dir = tmp / f"node{port}"
        self.dir.mkdir(exist_ok=True)
        self.args = [str(strata_bin()), "--port", str(port), "--bind", HOST, "--dir", str(self.dir),
                     "--cluster-nodes", nodes, "--cluster-node-timeout", str(TIMEOUT_MS), *extra]
        self.password = extra[extra.index("--requirepass") + 1] if "--requirepass" in extra else None
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=open(self.dir / "log", "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"node {self.port} did not start: {(self.dir / 'log').read_text()[-2000:]}")

    def client(self, **kw):
        kw.setdefault("socket_timeout", 10)
        kw.setdefault("password", self.password)
        return redis.Redis(host=HOST, port=self.port, **kw)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_cluster(tmp, count, *extra):
    ports = [free_port() for _ in range(count)]
    spec = ",".join(f"{HOST}:{p}" for p in ports)
    return [Node(tmp, p, spec, *extra) for p in ports], spec


def slot_owners(client) -> dict[int, int]:
    """The port of the node serving each slot, from CLUSTER SLOTS."""
    owners = {}
    for start, end, (host, port, *_), *_ in client.execute_command("CLUSTER SLOTS"):
        for slot in range(start, end + 1):
            owners[slot] = port
    return owners


def local_keys(client) -> int:
    """The keys one node holds itself (DBSIZE and INFO keyspace count the whole ring in proxy mode)."""
    return int(client.info("cluster")["cluster_node_keys"])


def write_keys(client, n=KEYS, prefix="key"):
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.set(f"{prefix}:{i}", f"value:{i}")
    pipe.execute()


def read_keys(client, n=KEYS, prefix="key"):
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.get(f"{prefix}:{i}")
    return pipe.execute()


def key_slot(key: str) -> int:
    """Redis Cluster's slot (no hash tag): CRC16/XMODEM, which is binascii's crc_hqx from 0."""
    return binascii.crc_hqx(key.encode(), 0) % 16384


def slot_owners(client) -> dict:
    """Slot -> port, from CLUSTER SLOTS."""
    owners = {}
    for start, end, node, *_ in client.execute_command("CLUSTER SLOTS"):
        for slot in range(start, end + 1):
            owners[slot] = node[1]
    return owners


def expected(n=KEYS, prefix="key"):
    return [f"value:{i}".encode() for i in range(n)]


@pytest.fixture
def cluster(tmp_path):
    started = []

    def make(count, *extra):
        nodes, spec = start_cluster(tmp_path, count, *extra)
        started.extend(nodes)
        return nodes, spec

    yield make
    for node in started:
        node.stop()


def test_proxy_mode_any_node_serves_every_key(cluster):
    nodes, _ = cluster(3)
    write_keys(nodes[0].client())
    for node in nodes[1:]:
        assert read_keys(node.client()) == expected()
    sizes = [local_keys(node.client()) for node in nodes]
    assert sum(sizes) == KEYS
    # DBSIZE through any node counts the whole ring.
    assert [node.client().dbsize() for node in nodes] == [KEYS] * 3
    mean = KEYS / 3
    assert all(abs(s - mean) / mean <= 0.15 for s in sizes), sizes

    # Multi-key commands are split by owner and merged in order.
    c = nodes[1].client()
    names = [f"key:{i}" for i in range(50)] + ["missing"]
    assert c.mget(names) == expected(50) + [None]
    assert c.exists(*names) == 50
    assert c.mset({f"m:{i}": i for i in range(20)})
    assert c.delete(*[f"m:{i}" for i in range(20)]) == 20
    # Other multi-key commands need one slot, as in Redis Cluster: CROSSSLOT when the keys are
    # in two slots (unless hash tags put them together), even two slots of the same node.
    owner = slot_owners(c)
    here, there = [], []
    for i in range(200):
        port = owner[c.execute_command("CLUSTER KEYSLOT", f"rn:{i}")]
        (here if port == nodes[1].port else there).append(f"rn:{i}")
    c.set(here[0], "moved")
    with pytest.raises(redis.ResponseError, match="same slot"):
        c.rename(here[0], there[0])
    with pytest.raises(redis.ResponseError, match="same slot"):
        c.rename(here[0], here[1])
    assert (c.get(here[0]), c.get(here[1])) == (b"moved", None)
    c.set("{user1000}.following", "a")
    c.rename("{user1000}.following", "{user1000}.followers")
    assert nodes[2].client().get("{user1000}.followers") == b"a"
    # RESP3 clients get RESP3 replies through a forwarding node.
    c3 = nodes[2].client(protocol=3)
    assert c3.get("missing") is None
    assert c3.mget(["key:1", "missing"]) == [b"value:1", None]

    # CLUSTER introspection, parsed by redis-py.
    slots = c.execute_command("CLUSTER SLOTS")
    covered = sum(end - start + 1 for start, end, *_ in slots)
    assert covered == 16384
    assert c.execute_command("CLUSTER KEYSLOT", "foo") == 12182
    shards = c.execute_command("CLUSTER SHARDS")
    assert len(shards) == 3
    info = c.cluster("INFO")
    assert info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) == 3
    assert len(c.cluster("NODES")) == 3


def test_proxy_ring_answers_keyspace_commands_as_one_server(cluster):
    nodes, _ = cluster(3)
    first, second, third = (node.client() for node in nodes)
    names = [f"scan:{i}" for i in range(30)]
    for i, name in enumerate(names):
        (first, second, third)[i % 3].set(name, i)
    first.set("other", 1)
    assert sorted(second.keys("scan:*")) == sorted(n.encode() for n in names)
    assert all(node.client().dbsize() == 31 for node in nodes)
    assert all(node.client().info("keyspace")["db0"]["keys"] == 31 for node in nodes)
    assert all(node.client().info()["db0"]["keys"] == 31 for node in nodes)  # the default sections
    assert sum(local_keys(node.client()) for node in nodes) == 31
    # SCAN walks every node with one cursor, whatever node the client is connected to.
    for node in nodes:
        for count in (1, 3, 100):
            found = list(node.client().scan_iter("scan:*", count=count))
            assert sorted(set(found)) == sorted(n.encode() for n in names), (node.port, count)
    # A scan whose cursor is from before a view change starts again (duplicates, nothing missed).
    cursor, page = first.scan(0, count=2)
    assert cursor != 0
    assert third.randomkey() in {n.encode() for n in names} | {b"other"}
    # Other databases too: SELECT applies on every node.
    db1 = redis.Redis(host=HOST, port=nodes[1].port, db=1, socket_timeout=10)
    db1.mset({f"one:{i}": i for i in range(9)})
    assert db1.dbsize() == 9 and first.dbsize() == 31
    keyspace = second.info("keyspace")
    assert keyspace["db0"]["keys"] == 31 and keyspace["db1"]["keys"] == 9 and keyspace["db1"]["expires"] == 0
    # FLUSHDB through one node empties that database on every node; FLUSHALL every database.
    assert db1.flushdb()
    assert db1.dbsize() == 0 and db1.randomkey() is None and second.dbsize() == 31
    # Queued inside MULTI, a FLUSH would act on one node: refused at once, and EXEC aborts.
    pipe = first.pipeline(transaction=True)
    pipe.set("scan:1", "x").flushall()
    with pytest.raises(redis.exceptions.ResponseError):
        pipe.execute()
    assert first.get("scan:1") == b"1" and first.dbsize() == 31
    assert third.flushall(asynchronous=True)
    assert [node.client().dbsize() for node in nodes] == [0, 0, 0]
    assert [local_keys(node.client()) for node in nodes] == [0, 0, 0]
    assert first.keys("*") == [] and first.get("scan:1") is None
    # A node down: reads count the others (its slots are served there meanwhile), and a FLUSH,
    # which needs every node, is refused rather than half done.
    first.mset({name: "again" for name in names})
    nodes[2].stop()
    deadline = time.monotonic() + 10
    while "fail" not in first.cluster("NODES")[f"{HOST}:{nodes[2].port}"]["flags"]:
        assert time.monotonic() < deadline, "node 3 was not marked down"
        time.sleep(0.05)
    assert first.dbsize() == sum(local_keys(node.client()) for node in nodes[:2])
    seen = set()
    while True:  # the cursor taken before node 3 went down
        cursor, page = first.scan(cursor, count=5)
        seen.update(page)
        if cursor == 0:
            break
    assert seen == set(first.keys("*")) and len(seen) == first.dbsize()
    with pytest.raises(redis.exceptions.ResponseError, match="FLUSHALL needs every node of the ring"):
        first.flushall()
    assert first.dbsize() > 0


def test_redirect_mode_cluster_clients(cluster):
    nodes, _ = cluster(3, "--cluster-mode", "redirect")
    rc = RedisCluster(host=HOST, port=nodes[0].port, socket_timeout=10)
    write_keys(rc)
    assert read_keys(rc) == expected()
    assert len(rc.get_nodes()) == 3
    sizes = [node.client().dbsize() for node in nodes]
    assert sum(sizes) == KEYS and min(sizes) > 0.85 * KEYS / 3
    # A plain client sees -MOVED for keys owned elsewhere.
    moved = 0
    for i in range(20):
        try:
            nodes[0].client().get(f"key:{i}")
        except redis.exceptions.MovedError as error:
            assert str(error).endswith(tuple(f"{HOST}:{n.port}" for n in nodes[1:]))
            moved += 1
    assert moved > 0
    # redis-cli -c follows the redirections.
    cli = shutil.which("redis-cli")
    for i in range(10):
        for node in nodes:
            out = subprocess.run([cli, "-c", "-p", str(node.port), "GET", f"key:{i}"],
                                 capture_output=True, text=True, timeout=10)
            assert out.stdout.strip() == f"value:{i}"
    assert nodes[0].client().info("cluster")["cluster_enabled"] == 1
    rc.close()


@pytest.mark.parametrize("mode", ["redirect", "proxy"])
def test_slot_map_is_compact_and_status_agrees(cluster, mode):
    """Slots lie in contiguous blocks: a few hundred ranges per node (hashing slots one by one
    made ~11,000), each node's share within 5%, CLUSTER NODES as Redis Cluster's tools parse
    it, and INFO, CLUSTER INFO and HELLO agreeing on the mode."""
    nodes, _ = cluster(3, "--cluster-mode", mode)
    client = nodes[0].client()
    ranges = client.execute_command("CLUSTER SLOTS")
    per_node = {n.port: 0 for n in nodes}
    ranges_per_node = {n.port: 0 for n in nodes}
    for start, end, (host, port, *_), *_ in ranges:
        per_node[port] += end - start + 1
        ranges_per_node[port] += 1
    assert sum(per_node.values()) == 16384
    assert all(abs(count - 16384 / 3) <= 0.05 * 16384 / 3 for count in per_node.values()), per_node
    assert all(count <= 300 for count in ranges_per_node.values()), ranges_per_node
    # CLUSTER NODES: `id ip:port@cport flags master ping pong epoch link slots...`, every slot once.
    text = subprocess.run([shutil.which("redis-cli"), "-p", str(nodes[0].port), "CLUSTER", "NODES"],
                          capture_output=True, text=True, timeout=10).stdout
    seen = 0
    for line in text.splitlines():
        fields = line.split(" ")
        address, cport = fields[1].split("@")
        assert address.rsplit(":", 1)[1] == cport  # nodes talk on their client port
        for item in fields[8:]:
            start, _, end = item.partition("-")
            seen += int(end or start) - int(start) + 1
    assert seen == 16384
    assert len(text) < 12_000
    cluster_mode = mode == "redirect"
    assert int(client.info("cluster")["cluster_enabled"]) == int(cluster_mode)
    assert int(client.cluster("INFO")["cluster_enabled"]) == int(cluster_mode)
    hello = client.execute_command("HELLO", "3")
    assert hello[b"mode"] == (b"cluster" if cluster_mode else b"standalone")
    if cluster_mode:
        out = subprocess.run([shutil.which("redis-cli"), "--cluster", "check", f"{HOST}:{nodes[0].port}"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "[OK] All 16384 slots covered." in out.stdout
        assert "[OK] All nodes agree about slots configuration." in out.stdout


def test_adding_a_node_moves_a_quarter_of_the_keys(cluster, tmp_path):
    nodes, spec = cluster(3)
    write_keys(nodes[0].client())
    port = free_port()
    new_spec = spec + f",{HOST}:{port}"
    fourth = Node(tmp_path, port, new_spec)
    nodes.append(fourth)
    try:
        for node in nodes[:3]:
            node.client().config_set("cluster-nodes", new_spec)
        # The old owners hand their keys over in the background.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            sizes = [local_keys(node.client()) for node in nodes]
            if sum(sizes) == KEYS and read_keys(nodes[1].client(), 200) == expected(200):
                break
            time.sleep(0.2)
        moved = sizes[3] / KEYS
        assert 0.20 <= moved <= 0.30, sizes
        for node in nodes:
            assert read_keys(node.client()) == expected()
        assert int(nodes[0].client().cluster("INFO")["cluster_known_nodes"]) == 4
    finally:
        fourth.stop()


def test_keys_moving_between_two_staying_nodes_wait_for_the_receiver(cluster):
    """A new list moves blocks between nodes that both stay (here a node's weight doubles, so it
    takes blocks from both others). The previous owner that gets the list first hands keys
    over to a node still on the old list, which refuses them (-TRYAGAIN): they stay where they
    are until it switches, then move. Storing them there, noted for their owner in its old view,
    sent them back and forth later with REPLACE over newer writes (a write lost, a deleted key
    back, under the nemesis). No node is down here, so nothing is borrowed or handed back."""
    nodes, spec = cluster(3)
    first, second, third = nodes
    write_keys(first.client(), 3000)
    before = slot_owners(first.client())
    endpoints = spec.split(",")
    new_spec = ",".join(e + "@2" if e.endswith(f":{second.port}") else e for e in endpoints)
    first.client().config_set("cluster-nodes", new_spec)
    after = slot_owners(first.client())
    moving = [f"key:{i}" for i in range(3000)
              if before[key_slot(f"key:{i}")] == first.port and after[key_slot(f"key:{i}")] == second.port]
    assert moving, "doubling a weight moves blocks from every other node"
    time.sleep(1.5)  # the first node's pass, refused, and its retry a second later
    info = {node.port: node.client().info("cluster") for node in nodes}
    print(f"two staying nodes: {len(moving)} keys from {first.port} to {second.port}; before the second "
          f"switched: first holds {local_keys(first.client())}, handing over "
          f"{info[first.port]['cluster_handover_in_progress']}; second borrowed "
          f"{info[second.port]['cluster_borrowed_keys']}")
    assert info[first.port]["cluster_handover_in_progress"] == 1
    assert info[second.port]["cluster_borrowed_keys"] == 0
    # What the second node answers the hand-over connection meanwhile: a fetch reads what it
    # holds (nothing), a key handed over is refused.
    handoff = second.client(client_name="strata-cluster-handoff")
    held = first.client(client_name="strata-cluster-handoff")
    assert handoff.dump(moving[0]) is None
    with pytest.raises(redis.exceptions.ResponseError, match="does not serve slot"):
        handoff.restore(moving[0], 0, held.dump(moving[0]))
    assert all(held.dump(key) is not None for key in moving)  # still on the first node
    for node in (second, third):
        node.client().config_set("cluster-nodes", new_spec)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        infos = [node.client().info("cluster") for node in nodes]
        if not any(i["cluster_handover_in_progress"] for i in infos) and sum(local_keys(n.client()) for n in nodes) == 3000:
            break
        time.sleep(0.2)
    assert all(read_keys(node.client(), 3000) == expected(3000) for node in nodes)
    assert [held.dump(key) for key in moving] == [None] * len(moving)  # they moved, none stayed behind
    for node in nodes:
        info = node.client().info("cluster")
        assert info["cluster_borrowed_keys"] == 0 and info["cluster_handed_back_keys"] == 0, info


def test_a_dead_node_costs_misses_not_hangs(cluster):
    nodes, _ = cluster(3)
    write_keys(nodes[0].client(), 3000)
    victim = nodes[2]
    owners = slot_owners(nodes[0].client())
    victim_keys = [i for i in range(3000) if owners[key_slot(f"key:{i}")] == victim.port]
    assert victim_keys
    victim.stop()
    c = nodes[0].client(socket_timeout=TIMEOUT_MS / 1000 * 3)
    # Before the timeout: answers come at once (an error naming the node, or the value).
    start = time.monotonic()
    for i in victim_keys[:20]:
        try:
            c.get(f"key:{i}")
        except redis.exceptions.ClusterDownError as error:
            assert "unreachable" in str(error)
    assert time.monotonic() - start < TIMEOUT_MS / 1000
    # After the timeout the node is marked down; its slots are served by the next node: misses.
    time.sleep(TIMEOUT_MS / 1000 * 2)
    assert nodes[0].client().cluster("NODES")[f"{HOST}:{victim.port}"]["flags"] == "master,fail"
    assert int(nodes[0].client().cluster("INFO")["cluster_nodes_down"]) == 1
    values = c.mget([f"key:{i}" for i in victim_keys])
    assert values == [None] * len(victim_keys)
    others = [i for i in range(3000) if i not in set(victim_keys)][:100]
    assert c.mget([f"key:{i}" for i in others]) == [f"value:{i}".encode() for i in others]
    c.set(f"key:{victim_keys[0]}", "rewritten")
    assert nodes[1].client().get(f"key:{victim_keys[0]}") == b"rewritten"
    # Restarted, it takes its slots back.
    victim.start()
    # Each node checks health on its own: wait until every survivor sees it back, or a read
    # through a node that still thinks it down would look in the wrong place.
    deadline = time.monotonic() + 10
    def any_down():
        return any(int(n.client().cluster("INFO")["cluster_nodes_down"]) for n in nodes[:2])
    while any_down() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any_down()
    c.set("after", "restart")
    write_keys(c, 300, prefix="again")
    assert local_keys(victim.client()) > 0
    assert read_keys(nodes[1].client(), 300, prefix="again") == expected(300, prefix="again")


def owned_elsewhere(client, port, count, prefix="key"):
    """`count` key names whose slot is served by a node other than `port`."""
    owners = slot_owners(client)
    names = (f"{prefix}:{i}" for i in range(100_000))
    return [n for n in names if owners[key_slot(n)] != port][:count]


def test_forwarding_keeps_order_databases_and_auth(cluster):
    nodes, _ = cluster(3, "--requirepass", "secret")
    entry = nodes[0]
    # Without AUTH nothing is forwarded.
    with RespConnection(HOST, entry.port) as raw:
        assert raw.execute("GET", "key:1").text.startswith("NOAUTH")
        assert raw.execute("AUTH", "secret") == OK
        # A long pipeline mixing local and forwarded keys, databases and command kinds: every
        # reply in request order (nodes authenticate to each other with the same password).
        commands, want = [], []
        for i in range(600):
            db = i % 3
            commands += [("SELECT", db), ("SET", f"key:{i}", f"v{i}:{db}"), ("GET", f"key:{i}"),
                         ("INCR", f"n:{i}"), ("GET", f"missing:{i}")]
            want += [OK, OK, Bulk(f"v{i}:{db}".encode()), Integer(1), Null("bulk")]
        replies = raw.pipeline(commands)
        assert replies == want
        # Databases followed the client: key:0 exists in db 0 only, key:1 in db 1 only.
        assert raw.pipeline([("SELECT", 1), ("GET", "key:0"), ("GET", "key:1"), ("SELECT", 0)]) == \
            [OK, Null("bulk"), Bulk(b"v1:1"), OK]
        # An inline command is forwarded too (encoded afresh: it is not RESP).
        far = owned_elsewhere(entry.client(), entry.port, 1)[0]
        raw.execute("SET", far, "inline")
        raw.send_raw(f"GET {far}\r\n".encode())
        assert raw.read_reply() == Bulk(b"inline")
    # A large value crosses the link in many reads, both ways.
    c = entry.client()
    big = owned_elsewhere(c, entry.port, 1, prefix="big")[0]
    payload = bytes(range(256)) * (6 * 4096)  # 6 MiB
    assert c.set(big, payload)
    assert c.get(big) == payload
    assert c.strlen(big) == len(payload)


def test_transactions_run_on_the_node_that_serves_their_keys(cluster):
    nodes, _ = cluster(3)
    entry = nodes[0]
    c = entry.client()
    owners = slot_owners(c)
    local = next(f"{{t{i}}}" for i in range(1000) if owners[key_slot(f"t{i}")] == entry.port)
    far = next(f"{{t{i}}}" for i in range(1000) if owners[key_slot(f"t{i}")] != entry.port)
    other = next(f"{{t{i}}}" for i in range(1000)
                 if owners[key_slot(f"t{i}")] not in (entry.port, owners[key_slot(far[1:-1])]))
    with RespConnection(HOST, entry.port) as raw:
        # All keys on one other node: the whole transaction runs there, in the client's database.
        replies = raw.pipeline([("SELECT", 2), ("MULTI",), ("SET", f"{far}a", "1"), ("INCR", f"{far}a"),
                                ("MGET", f"{far}a", f"{far}b"), ("EXISTS", f"{far}a"), ("EXEC",), ("GET", f"{far}a")])
        assert replies[:6] == [OK, OK] + [Simple(b"QUEUED")] * 4
        assert replies[6] == Array((OK, Integer(2), Array((Bulk(b"2"), Null("bulk"))), Integer(1)))
        assert replies[7] == Bulk(b"2")
        assert nodes[[n.port for n in nodes].index(owners[key_slot(far[1:-1])])].client(db=2).get(f"{far}a") == b"2"
        # Commands without keys would act on the link's connection there (SELECT) or on a
        # node the client did not choose: refused when the transaction goes elsewhere.
        replies = raw.pipeline([("MULTI",), ("SET", f"{far}s", "1"), ("SELECT", 1), ("EXEC",), ("GET", f"{far}a")])
        assert replies[3].text.startswith("CROSSSLOT") and "select" in replies[3].text
        assert replies[4] == Bulk(b"2")
        # Keys here: runs here, as before.
        assert raw.pipeline([("MULTI",), ("SET", f"{local}x", "y"), ("EXEC",)])[2] == Array((OK,))
        # Keys on two nodes: refused, and the transaction is over.
        replies = raw.pipeline([("MULTI",), ("SET", f"{far}c", "1"), ("SET", f"{other}c", "1"), ("EXEC",), ("EXEC",)])
        assert replies[3].text.startswith("CROSSSLOT")
        assert replies[4].text.startswith("ERR EXEC without MULTI")
        assert raw.execute("EXISTS", f"{far}c") == Integer(0)
        # WATCH here, then a transaction elsewhere: its check could not be made there.
        replies = raw.pipeline([("WATCH", f"{local}x"), ("MULTI",), ("SET", f"{far}d", "1"), ("EXEC",)])
        assert replies[3].text.startswith("CROSSSLOT")
        # WATCH of a key served elsewhere is refused; an error while queueing aborts EXEC.
        assert raw.execute("WATCH", f"{far}a").text.startswith("CROSSSLOT")
        replies = raw.pipeline([("MULTI",), ("SET", f"{far}e", "1"), ("INCR",), ("EXEC",)])
        assert replies[3].text.startswith("EXECABORT")


def test_a_stalled_node_fails_requests_after_the_timeout(cluster):
    nodes, _ = cluster(3)
    entry, victim = nodes[0], nodes[2]
    c = entry.client(socket_timeout=TIMEOUT_MS / 1000 * 5)
    owners = slot_owners(c)
    key = next(f"key:{i}" for i in range(100_000) if owners[key_slot(f"key:{i}")] == victim.port)
    c.set(key, "v")
    victim.proc.send_signal(signal.SIGSTOP)
    try:
        start = time.monotonic()
        # The connection to it is open but nothing answers: the request fails after the
        # node timeout (or is served elsewhere once the node is marked down), never hangs.
        try:
            value = c.get(key)
            assert value is None, value
        except redis.exceptions.ClusterDownError as error:
            assert "did not answer" in str(error) or "closed" in str(error) or "unreachable" in str(error), error
        elapsed = time.monotonic() - start
        assert elapsed < TIMEOUT_MS / 1000 * 3, elapsed
        # Let the health checks mark it down before it resumes, so that the wait below for it
        # to be back up cannot end before it was ever seen down.
        deadline = time.monotonic() + 10
        while not int(c.cluster("INFO")["cluster_nodes_down"]) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        victim.proc.send_signal(signal.SIGCONT)
    deadline = time.monotonic() + 10
    while int(c.cluster("INFO")["cluster_nodes_down"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert c.get(key) == b"v", c.cluster("NODES")


TWEMPROXY_CONFIG = """\
strata:
  listen: {host}:{port}
  hash: fnv1a_64
  distribution: ketama
  redis: true
  timeout: 2000
  auto_eject_hosts: false
  servers:
{servers}
"""


def test_twemproxy_ketama_in_front_of_three_standalone_nodes(server_factory, tmp_path):
    nutcracker = shutil.which("nutcracker") or "/usr/sbin/nutcracker"
    backends = [server_factory() for _ in range(3)]
    port = free_port()
    config = tmp_path / "nutcracker.yml"
    config.write_text(TWEMPROXY_CONFIG.format(
        host=HOST, port=port,
        servers="\n".join(f"   - {HOST}:{b.port}:1 strata{i}" for i, b in enumerate(backends))))
    proc = subprocess.Popen([nutcracker, "-c", str(config), "-s", str(free_port()), "-o", str(tmp_path / "nc.log")])
    try:
        # A raw client: redis-py's handshake (CLIENT SETINFO) is not something twemproxy forwards.
        deadline = time.monotonic() + 10
        while True:
            try:
                proxy = RespConnection(HOST, port)
                if proxy.execute("SET", "probe", "1") == OK:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("nutcracker did not answer")
            time.sleep(0.1)
        assert proxy.pipeline([("SET", f"key:{i}", f"value:{i}") for i in range(3000)]) == [OK] * 3000
        assert proxy.pipeline([("GET", f"key:{i}") for i in range(3000)]) == [Bulk(v) for v in expected(3000)]
        sizes = [b.redis_py().dbsize() for b in backends]
        assert sum(sizes) == 3001 and min(sizes) > 500, sizes
    finally:
        proc.terminate()
        proc.wait(5)
