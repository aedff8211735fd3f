"""Operating clients, as in Redis 7.0: MONITOR (through redis-cli, from connections on every
event loop, bounded when slow, on a proxy ring), CLIENT PAUSE/UNPAUSE, CLIENT REPLY, CLIENT
KILL's filters, CLIENT NO-EVICT with maxmemory-clients, and protected-mode.

Every test but the ring's also runs against redis-server (TARGET=redis)."""

from __future__ import annotations

import queue
import re
import socket
import subprocess
import threading
import time

import pytest
import redis

from conftest import HOST, target
from resp_client import OK, Error, Integer, RespConnection

LINE = re.compile(r'^(\d+)\.(\d{6}) \[(\d+) ([^\]]+)\] (.*)$')


def wait_for(predicate, limit=5.0, step=0.02):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class CliMonitor:
    """`redis-cli monitor` as a subprocess; its lines arrive on a queue."""

    def __init__(self, port: int):
        self.proc = subprocess.Popen(["redis-cli", "-h", HOST, "-p", str(port), "monitor"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.next(5) == "OK"

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.put(raw.decode("latin-1").rstrip("\n"))

    def next(self, timeout=5.0):
        return self.lines.get(timeout=timeout)

    def until(self, predicate, timeout=5.0) -> list[str]:
        """Lines up to and including the first that matches."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            line = self.next(max(0.01, deadline - time.monotonic()))
            seen.append(line)
            if predicate(line):
                return seen

    def close(self):
        self.proc.kill()
        self.proc.wait()


def raw_monitor(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port))
    sock.sendall(b"MONITOR\r\n")
    assert sock.recv(5) == b"+OK\r\n"
    return sock


def addr_of(client: redis.Redis) -> str:
    return client.client_info()["addr"]


# --------------------------------------------------------------------------
# MONITOR
# --------------------------------------------------------------------------


def test_monitor_shows_every_loops_commands_as_redis_prints_them(server_factory):
    srv = server_factory()
    monitor = CliMonitor(srv.port)
    try:
        # Eight connections: Strata spreads them over its event loops (two or more).
        clients = [srv.redis_py(single_connection_client=True) for _ in range(8)]
        addrs = [addr_of(c) for c in clients]
        for i, client in enumerate(clients):
            client.set(f"k:{i}", f"v{i}")
        for i, client in enumerate(clients):
            assert client.get(f"k:{i}") == f"v{i}".encode()
        clients[0].set("quoted", b'a b"c\\d\n\x01\xc3\xa9')
        clients[1].eval("redis.call('set', KEYS[1], ARGV[1]); return redis.call('get', KEYS[1])", 1, "sk", "sv")
        clients[2].execute_command("SELECT", "3")
        clients[2].ping()
        with pytest.raises(redis.RedisError):
            clients[3].execute_command("AUTH", "user", "secret")
        clients[3].execute_command("CLIENT", "LIST")  # admin: never shown
        with pytest.raises(redis.ResponseError):
            clients[3].execute_command("NOSUCHCOMMAND", "x")  # refused before it runs: not shown
        clients[4].set("last", "1")
        lines = monitor.until(lambda l: '"last"' in l)
        parsed = []
        for line in lines:
            m = LINE.match(line)
            assert m, f"not a MONITOR line: {line!r}"
            assert abs(int(m.group(1)) - time.time()) < 60
            parsed.append((int(m.group(3)), m.group(4), m.group(5)))
        for i, addr in enumerate(addrs):
            assert (0, addr, f'"SET" "k:{i}" "v{i}"') in parsed
            assert (0, addr, f'"GET" "k:{i}"') in parsed
        assert (0, addrs[0], r'"SET" "quoted" "a b\"c\\d\n\x01\xc3\xa9"') in parsed
        ev = [p for p in parsed if p[1] in (addrs[1], "lua")]
        assert ev[-3][2].startswith('"EVAL" "redis.call(')
        assert ev[-2:] == [(0, "lua", '"set" "sk" "sv"'), (0, "lua", '"get" "sk"')]
        assert (3, addrs[2], '"SELECT" "3"') in parsed and (3, addrs[2], '"PING"') in parsed
        assert (0, addrs[3], '"AUTH" "(redacted)" "(redacted)"') in parsed
        assert not any('"CLIENT" "LIST"' in p[2] or "NOSUCHCOMMAND" in p[2] for p in parsed)
        # Lines of one connection keep its order.
        own = [p[2] for p in parsed if p[1] == addrs[0]]
        assert own.index('"SET" "k:0" "v0"') < own.index('"GET" "k:0"')
    finally:
        monitor.close()


def test_monitor_transactions_and_hello_auth(server_factory):
    srv = server_factory()
    monitor = CliMonitor(srv.port)
    try:
        with srv.connect() as conn:
            assert conn.execute("MULTI") == OK
            conn.execute("INCR", "n")
            conn.execute("GET", "n")
            conn.execute("EXEC")
            conn.execute("HELLO", "2", "AUTH", "default", "pw", "SETNAME", "me")  # any password: none is set
            conn.execute("SET", "done", "1")
        lines = monitor.until(lambda l: '"done"' in l)
        words = [LINE.match(l).group(5) for l in lines]
        assert words == ['"MULTI"', '"INCR" "n"', '"GET" "n"', '"EXEC"',
                         '"HELLO" "2" "AUTH" "(redacted)" "(redacted)" "SETNAME" "me"', '"SET" "done" "1"']
    finally:
        monitor.close()


def test_monitor_queued_in_multi_fails_at_exec(server_factory):
    srv = server_factory()
    with srv.connect() as conn:
        assert conn.execute("MULTI") == OK
        conn.execute("MONITOR")
        reply = conn.execute("EXEC")
        assert reply.items == (Error(b"ERR MONITOR isn't allowed for DENY BLOCKING client"),)
        assert "flags=N" in conn.execute("CLIENT", "INFO").value.decode()


def test_a_monitor_that_does_not_read_is_disconnected_and_slows_nothing(server_factory):
    srv = server_factory("--client-output-buffer-limit", "normal 1mb 0 0")
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect((HOST, srv.port))
    stuck.sendall(b"MONITOR\r\n")
    assert stuck.recv(5) == b"+OK\r\n"
    admin = srv.redis_py()
    assert wait_for(lambda: any(c["flags"] == "O" for c in admin.client_list()))
    writer = srv.redis_py()
    value = "x" * 1000
    start = time.monotonic()
    for batch in range(20):  # 20 MB of MONITOR lines, 20 times the limit
        pipe = writer.pipeline(transaction=False)
        for i in range(1000):
            pipe.set(f"key:{i}", value)
        pipe.execute()
    elapsed = time.monotonic() - start
    assert wait_for(lambda: not any(c["flags"] == "O" for c in admin.client_list()), 10)
    assert elapsed < 30, f"20k SETs took {elapsed:.1f} s with a stuck monitor"
    # Its socket is closed: what it gets ends.
    stuck.settimeout(10)
    total = 0
    while chunk := stuck.recv(1 << 20):
        total += len(chunk)
    assert total < 8 << 20
    assert writer.ping()


def test_monitor_reset_ends_it(server_factory):
    srv = server_factory()
    sock = raw_monitor(srv.port)
    sock.sendall(b"RESET\r\n")
    assert sock.recv(100).startswith(b"+RESET\r\n")
    srv.redis_py().set("a", "1")
    sock.settimeout(0.3)
    with pytest.raises(socket.timeout):
        sock.recv(100)
    sock.close()


# --------------------------------------------------------------------------
# CLIENT PAUSE
# --------------------------------------------------------------------------


def timed(fn):
    """Runs fn in a thread; returns (thread, results) where results gets (value, seconds)."""
    results = []
    start = time.monotonic()

    def run():
        value = fn()
        results.append((value, time.monotonic() - start))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, results


def test_client_pause_write_holds_writes_not_reads(server_factory):
    srv = server_factory()
    admin, writer, reader, publisher = (srv.redis_py() for _ in range(4))
    admin.set("k", "old")
    assert admin.execute_command("CLIENT", "PAUSE", "100000", "WRITE") == b"OK"
    held, results = timed(lambda: writer.set("k", "new"))
    held_pub, pub_results = timed(lambda: publisher.publish("ch", "m"))
    start = time.monotonic()
    assert reader.get("k") == b"old"
    assert time.monotonic() - start < 0.5, "reads are not paused"
    held.join(0.5)
    assert not results and not pub_results, "SET and PUBLISH wait while paused"
    assert admin.execute_command("CLIENT", "UNPAUSE") == b"OK"
    held.join(5)
    held_pub.join(5)
    assert results and results[0][0] is True and pub_results
    assert reader.get("k") == b"new"

    # The pause's end releases them too.
    assert admin.execute_command("CLIENT", "PAUSE", "400", "WRITE") == b"OK"
    held, results = timed(lambda: writer.incr("counter"))
    held.join(5)
    assert results and results[0][0] == 1
    assert 0.25 < results[0][1] < 3, f"released after {results[0][1]:.2f} s"


def test_client_pause_all_holds_everything_in_order(server_factory):
    srv = server_factory()
    admin = srv.redis_py()
    conn = srv.connect()
    assert admin.execute_command("CLIENT", "PAUSE", "500") == b"OK"
    start = time.monotonic()
    replies = conn.pipeline([["GET", "x"], ["SET", "x", "1"], ["GET", "x"]])
    waited = time.monotonic() - start
    assert replies[1] == OK and replies[2].value == b"1"
    assert 0.3 < waited < 3
    conn.close()


# --------------------------------------------------------------------------
# CLIENT REPLY
# --------------------------------------------------------------------------


def raw_exchange(port, data: bytes, expect_end: bytes, limit=5.0) -> bytes:
    with socket.create_connection((HOST, port)) as sock:
        sock.sendall(data)
        sock.settimeout(limit)
        got = b""
        while not got.endswith(expect_end):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def resp(*words) -> bytes:
    return f"*{len(words)}\r\n".encode() + b"".join(f"${len(w)}\r\n{w}\r\n".encode() for w in words)


def test_client_reply_off_skip_on(server_factory):
    srv = server_factory()
    data = (resp("CLIENT", "REPLY", "OFF") + resp("SET", "a", "1") + resp("PING")
            + resp("CLIENT", "REPLY", "SKIP") + resp("GET", "a")
            + resp("CLIENT", "REPLY", "ON") + resp("ECHO", "x")
            + resp("CLIENT", "REPLY", "SKIP") + resp("ECHO", "skipped")
            + resp("CLIENT", "REPLY", "SKIP") + resp("CLIENT", "REPLY", "SKIP") + resp("ECHO", "also")
            + resp("ECHO", "end"))
    got = raw_exchange(srv.port, data, b"$3\r\nend\r\n")
    assert got == b"+OK\r\n$1\r\nx\r\n$3\r\nend\r\n"
    assert srv.redis_py().get("a") == b"1", "a command without its reply still runs"


# --------------------------------------------------------------------------
# CLIENT KILL
# --------------------------------------------------------------------------


def alive(conn: RespConnection) -> bool:
    try:
        return conn.execute("PING").value == b"PONG"
    except Exception:  # closed: the reader finds no reply
        return False


def test_client_kill_filters(server_factory):
    srv = server_factory()
    admin = srv.redis_py()
    a, b, sub, me = (srv.connect() for _ in range(4))
    ids = {name: conn.execute("CLIENT", "ID").value for name, conn in (("a", a), ("b", b), ("sub", sub), ("me", me))}
    sub.execute("SUBSCRIBE", "ch")
    listing = {c["id"]: c for c in admin.client_list()}
    b_addr, b_laddr = listing[str(ids["b"])]["addr"], listing[str(ids["b"])]["laddr"]
    assert admin.client_list(_type="pubsub")[0]["id"] == str(ids["sub"])

    assert me.execute("CLIENT", "KILL", "ID", str(ids["a"])) == Integer(1)
    assert wait_for(lambda: not alive(a))
    assert me.execute("CLIENT", "KILL", "ADDR", b_addr, "ID", str(ids["a"])) == Integer(0)
    assert me.execute("CLIENT", "KILL", "ADDR", b_addr, "LADDR", b_laddr) == Integer(1)
    assert wait_for(lambda: not alive(b))
    assert me.execute("CLIENT", "KILL", "TYPE", "master") == Integer(0)
    assert me.execute("CLIENT", "KILL", "TYPE", "pubsub") == Integer(1)
    assert me.execute("CLIENT", "KILL", "USER", "nobody") == Error(b"ERR No such user 'nobody'")
    assert me.execute("CLIENT", "KILL", "TYPE", "bogus") == Error(b"ERR Unknown client type 'bogus'")
    assert me.execute("CLIENT", "KILL", "ID", "0") == Error(b"ERR client-id should be greater than 0")
    assert me.execute("CLIENT", "KILL", "SKIPME", "maybe") == Error(b"ERR syntax error")
    assert me.execute("CLIENT", "KILL", "9.9.9.9:9") == Error(b"ERR No such client")
    # USER default matches every client here, the admin included; SKIPME yes spares the caller.
    killed = me.execute("CLIENT", "KILL", "USER", "default", "SKIPME", "yes").value
    assert killed >= 1 and alive(me)
    assert me.execute("CLIENT", "KILL", "ID", str(ids["me"]), "SKIPME", "no") == Integer(1)
    assert wait_for(lambda: not alive(me))
    # Old form: by address.
    victim, killer = srv.connect(), srv.connect()
    victim_addr = [c for c in srv.redis_py().client_list() if c["id"] == str(victim.execute("CLIENT", "ID").value)][0]["addr"]
    assert killer.execute("CLIENT", "KILL", victim_addr) == OK
    assert wait_for(lambda: not alive(victim))
    killer.close()


# --------------------------------------------------------------------------
# CLIENT NO-EVICT with maxmemory-clients
# --------------------------------------------------------------------------


def test_client_no_evict_exempts_from_maxmemory_clients(server_factory):
    srv = server_factory("--maxmemory-clients", "1mb")
    admin = srv.redis_py()
    admin.execute_command("CLIENT", "NO-EVICT", "on")
    protected, exposed = srv.connect(), srv.connect()
    assert protected.execute("CLIENT", "NO-EVICT", "on") == OK
    assert "flags=e" in protected.execute("CLIENT", "INFO").value.decode()
    # Half of a 4 MB argument each: about 2 MB of query buffer per client, 4 MB in all.
    head = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$4000000\r\n"
    for conn in (protected, exposed):
        conn.sock.sendall(head + b"x" * 2_000_000)
    assert wait_for(lambda: not alive_raw(exposed), 10), "the client without NO-EVICT is evicted"
    assert alive_after_rest(protected), "the NO-EVICT client is kept"


def alive_raw(conn: RespConnection) -> bool:
    """Whether the server still holds the connection open (it is mid-command: no PING)."""
    conn.sock.setblocking(False)
    try:
        data = conn.sock.recv(1)
        return data != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        conn.sock.setblocking(True)


def alive_after_rest(conn: RespConnection) -> bool:
    conn.sock.sendall(b"x" * 2_000_000 + b"\r\n")
    return conn.read_reply() == OK


# --------------------------------------------------------------------------
# protected-mode
# --------------------------------------------------------------------------


def outside_address() -> str | None:
    """A non-loopback IPv4 address of this machine, if it has one."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return next((a for a in out if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", a) and not a.startswith("127.")), None)


DENIED = (b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set "
          b"for the default user. In this mode connections are only accepted from the loopback interface.")


def test_protected_mode_refuses_outside_clients(server_factory):
    address = outside_address()
    if address is None:
        pytest.skip("no non-loopback address on this machine (the unit tests cover the decision)")
    srv = server_factory("--bind", "0.0.0.0")
    with socket.create_connection((address, srv.port), timeout=5) as sock:
        got = b""
        while chunk := sock.recv(4096):
            got += chunk
    assert got.startswith(DENIED) and got.endswith(b"accepting connections from the outside.\r\n")
    admin = srv.redis_py()  # loopback is served
    assert admin.config_get("protected-mode") == {"protected-mode": "yes"}
    assert admin.config_set("protected-mode", "no")
    outside = redis.Redis(host=address, port=srv.port, socket_timeout=5)
    assert outside.ping()
    admin.config_set("protected-mode", "yes")
    admin.config_set("requirepass", "secret")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=address, port=srv.port, socket_timeout=5).get("k")
    assert redis.Redis(host=address, port=srv.port, password="secret", socket_timeout=5).ping()


# --------------------------------------------------------------------------
# MONITOR on a proxy ring
# --------------------------------------------------------------------------


@pytest.mark.skipif(target() != "strata", reason="strata's proxy ring")
def test_monitor_on_a_proxy_ring_shows_commands_on_the_node_they_were_sent_to(tmp_path):
    from test_cluster import key_slot, slot_owners, start_cluster

    nodes, _ = start_cluster(tmp_path, 3)
    monitors = {}
    try:
        for node in nodes:
            monitors[node.port] = CliMonitor(node.port)
        entry = nodes[0]
        client = entry.client(single_connection_client=True)
        owners = slot_owners(client)
        local = next(f"key:{i}" for i in range(10_000) if owners[key_slot(f"key:{i}")] == entry.port)
        remote = next(f"key:{i}" for i in range(10_000) if owners[key_slot(f"key:{i}")] != entry.port)
        owner = owners[key_slot(remote)]
        addr = addr_of(client)
        client.set(local, "here")
        client.set(remote, "there")
        assert client.get(remote) == b"there"
        client.mset({local: "1", remote: "2"})
        client.set("end", "1")
        lines = monitors[entry.port].until(lambda l: '"end"' in l, 10)
        words = [(LINE.match(l).group(4), LINE.match(l).group(5)) for l in lines]
        assert (addr, f'"SET" "{local}" "here"') in words
        assert (addr, f'"SET" "{remote}" "there"') in words, "a forwarded command shows on the forwarder"
        assert (addr, f'"GET" "{remote}"') in words
        assert (addr, f'"MSET" "{local}" "1" "{remote}" "2"') in words, "a split command shows once, whole"
        assert sum(1 for _, w in words if w.startswith('"MSET"')) == 1
        # The owner shows nothing of what its peer links ran for the forwarder.
        direct = nodes[[n.port for n in nodes].index(owner)].client()
        direct.set("owner-end", "1")
        owner_lines = monitors[owner].until(lambda l: '"owner-end"' in l, 10)
        assert not any(remote in l for l in owner_lines), owner_lines
        # CLIENT REPLY OFF leaves out the replies of forwarded commands too.
        data = (resp("CLIENT", "REPLY", "OFF") + resp("SET", remote, "silent") + resp("GET", remote)
                + resp("MGET", local, remote) + resp("CLIENT", "REPLY", "SKIP") + resp("GET", remote)
                + resp("CLIENT", "REPLY", "ON") + resp("GET", remote))
        got = raw_exchange(entry.port, data, b"$6\r\nsilent\r\n")
        assert got == b"+OK\r\n$6\r\nsilent\r\n"
    finally:
        for monitor in monitors.values():
            monitor.close()
        for node in nodes:
            node.stop()
