"""Real clients and raw sockets against the server under test.

Runs against strata by default; TARGET=redis runs the same tests against
redis-server to check that the expectations are Redis's own.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time

import pytest
import redis

from conftest import target
from resp_client import (
    NIL, NIL3, OK, QUEUED, Array, Bulk, Error, Integer, Map, Null, RespConnection, Simple,
)


def tool(name: str) -> str:
    path = shutil.which(name) or f"/usr/bin/{name}"
    if not shutil.which(path):
        pytest.fail(f"{name} not found; run `make deps`", pytrace=False)
    return path


def cli(server, *args, input_bytes=None, timeout=60):
    """Run redis-cli against ``server``; returns the CompletedProcess (text output)."""
    cmd = [tool("redis-cli"), "-h", server.host, "-p", str(server.port), *map(str, args)]
    return subprocess.run(cmd, input=input_bytes, capture_output=True, timeout=timeout)


@pytest.fixture
def srv(strata):
    """The shared server, emptied and with a short-lived raw connection check."""
    with strata.connect() as conn:
        assert conn.execute("FLUSHALL") == OK
    return strata


def raw_exchange(server, data: bytes, limit: float = 5.0):
    """Send raw bytes; return (everything received, whether the server closed the connection)."""
    with socket.create_connection((server.host, server.port), timeout=limit) as s:
        received, closed = b"", False
        try:
            s.sendall(data)
            s.settimeout(0.5 if limit > 0.5 else limit)
            deadline = time.monotonic() + limit
            while time.monotonic() < deadline:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    # Nothing more for a while: done unless we expect a close.
                    if received:
                        break
                    continue
                if not chunk:
                    closed = True
                    break
                received += chunk
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        return received, closed


def closes_within(conn: RespConnection, limit: float) -> bool:
    try:
        return conn.is_closed_by_peer(limit)
    except (ConnectionResetError, BrokenPipeError):
        return True


# --------------------------------------------------------------------------
# redis-cli
# --------------------------------------------------------------------------


def out(result) -> bytes:
    """redis-cli's output without trailing newlines (it adds an empty line after errors)."""
    return result.stdout.rstrip(b"\n")


def test_redis_cli_one_shot_commands(srv):
    assert cli(srv, "SET", "greeting", "hello world").stdout == b"OK\n"
    assert cli(srv, "GET", "greeting").stdout == b"hello world\n"
    assert cli(srv, "INCR", "counter").stdout == b"1\n"
    assert cli(srv, "INCRBY", "counter", "41").stdout == b"42\n"
    assert cli(srv, "GET", "nosuchkey").stdout == b"\n"
    assert cli(srv, "--no-raw", "GET", "nosuchkey").stdout == b"(nil)\n"
    # Error replies: raw text when piped, "(error)" in the formatted mode.
    assert out(cli(srv, "INCR", "greeting")) == b"ERR value is not an integer or out of range"
    assert out(cli(srv, "--no-raw", "INCR", "greeting")) == \
        b"(error) ERR value is not an integer or out of range"
    assert out(cli(srv, "foo", "bar")) == b"ERR unknown command 'foo', with args beginning with: 'bar' "


def test_redis_cli_pipe_mass_insertion(srv, tmp_path):
    n = 100_000
    lines = []
    for i in range(n):
        key, value = b"key:%d" % i, b"value:%d" % i
        lines.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value))
    data = b"".join(lines)
    (tmp_path / "mass.resp").write_bytes(data)
    result = cli(srv, "--pipe", input_bytes=data, timeout=120)
    assert result.returncode == 0, result.stderr
    assert b"errors: 0, replies: %d" % n in result.stdout, result.stdout
    with srv.connect() as conn:
        assert conn.execute("DBSIZE") == Integer(n)
        assert conn.execute("GET", "key:0") == Bulk(b"value:0")
        assert conn.execute("GET", "key:99999") == Bulk(b"value:99999")


def test_redis_cli_resp3_prints_maps(srv):
    hello = cli(srv, "-3", "--no-raw", "HELLO", "3")
    assert hello.returncode == 0
    text = hello.stdout.decode()
    assert re.search(r'^\d+# "proto" => \(integer\) 3$', text, re.M), text
    assert re.search(r'^\d+# "server" => "', text, re.M), text
    config = cli(srv, "-3", "--no-raw", "CONFIG", "GET", "timeout")
    assert config.stdout == b'1# "timeout" => "0"\n'


# --------------------------------------------------------------------------
# redis-py
# --------------------------------------------------------------------------


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def rpy(request, srv):
    client = srv.redis_py(protocol=request.param)
    yield client
    client.close()


def test_redis_py_basic_commands(rpy, srv):
    assert rpy.set("name", "strata") is True
    assert rpy.get("name") == b"strata"
    assert rpy.get("missing") is None
    assert rpy.set("name", "other", nx=True) is None
    assert rpy.expire("name", 100) is True
    assert 98 <= rpy.ttl("name") <= 100
    assert 98_000 <= rpy.pttl("name") <= 100_000
    assert rpy.ttl("missing") == -2
    assert rpy.persist("name") is True
    assert rpy.ttl("name") == -1
    assert rpy.incr("n") == 1
    assert rpy.incrby("n", 9) == 10
    assert rpy.incrbyfloat("f", 2.5) == 2.5
    assert rpy.mset({"a": "1", "b": b"\x00\xff", "c": ""}) is True
    assert rpy.mget("a", "b", "c", "missing") == [b"1", b"\x00\xff", b"", None]
    assert rpy.delete("a", "b", "missing") == 2
    assert rpy.exists("a", "c") == 1
    assert rpy.getrange("name", 1, 3) == b"tra"
    assert rpy.append("name", "!") == 7
    assert rpy.strlen("name") == 7
    with pytest.raises(redis.ResponseError, match="value is not an integer or out of range"):
        rpy.incr("name")


def test_redis_py_pipeline_transaction(rpy):
    with rpy.pipeline(transaction=True) as pipe:
        pipe.set("t", 1).incr("t").incrby("t", 5).get("t")
        assert pipe.execute() == [True, 2, 7, b"7"]
    # A runtime error inside MULTI/EXEC does not abort the other commands.
    with rpy.pipeline(transaction=True) as pipe:
        pipe.set("s", "text").incr("s").set("after", "yes")
        results = pipe.execute(raise_on_error=False)
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], redis.ResponseError)
    assert rpy.get("after") == b"yes"


def test_redis_py_pipeline_without_transaction(rpy):
    with rpy.pipeline(transaction=False) as pipe:
        for i in range(500):
            pipe.set(f"p:{i}", i)
        for i in range(500):
            pipe.get(f"p:{i}")
        results = pipe.execute()
    assert results[:500] == [True] * 500
    assert results[500:] == [str(i).encode() for i in range(500)]


def test_redis_py_watch_conflict_raises_watch_error(rpy, srv):
    rpy.set("balance", 100)
    other = srv.redis_py(protocol=2)
    try:
        with rpy.pipeline() as pipe:
            pipe.watch("balance")
            current = int(pipe.get("balance"))
            other.set("balance", 0)  # a conflicting write from another client
            pipe.multi()
            pipe.set("balance", current - 10)
            with pytest.raises(redis.WatchError):
                pipe.execute()
        assert rpy.get("balance") == b"0"
        # Without a conflict the same transaction goes through.
        with rpy.pipeline() as pipe:
            pipe.watch("balance")
            current = int(pipe.get("balance"))
            pipe.multi()
            pipe.set("balance", current + 10)
            assert pipe.execute() == [True]
        assert rpy.get("balance") == b"10"
    finally:
        other.close()


def test_redis_py_select_isolates_databases(srv):
    db0 = srv.redis_py(db=0)
    db1 = srv.redis_py(db=1, protocol=3)
    try:
        db0.set("shared", "zero")
        assert db1.get("shared") is None
        db1.set("shared", "one")
        db1.set("only1", "x")
        assert db0.get("shared") == b"zero"
        assert db0.dbsize() == 1
        assert db1.dbsize() == 2
        db1.flushdb()
        assert db0.get("shared") == b"zero"
    finally:
        db0.close()
        db1.close()


def test_redis_py_client_name(rpy, srv):
    assert rpy.client_getname() is None
    assert rpy.client_setname("worker-1") is True
    name = rpy.client_getname()
    assert (name.decode() if isinstance(name, bytes) else name) == "worker-1"
    named = srv.redis_py(client_name="from-kwarg")
    try:
        assert named.client_getname() in ("from-kwarg", b"from-kwarg")
        listing = rpy.client_list()
        assert any(c["name"] == "from-kwarg" for c in listing)
    finally:
        named.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_auth_with_requirepass(server_factory, protocol):
    server = server_factory("--requirepass", "s3cret")
    with server.connect() as conn:
        assert conn.execute("GET", "x") == Error(b"NOAUTH Authentication required.")
        assert conn.execute("AUTH", "wrong") == \
            Error(b"WRONGPASS invalid username-password pair or user is disabled.")
        assert conn.execute("AUTH", "s3cret") == OK
        assert conn.execute("SET", "x", "1") == OK
    no_password = server.redis_py(protocol=protocol)
    with pytest.raises(redis.AuthenticationError):
        no_password.get("x")
    wrong = server.redis_py(protocol=protocol, password="wrong")
    with pytest.raises(redis.AuthenticationError, match="invalid username-password pair"):
        wrong.ping()
    good = server.redis_py(protocol=protocol, password="s3cret")
    assert good.get("x") == b"1"
    for c in (no_password, wrong, good):
        c.close()


# --------------------------------------------------------------------------
# redis-benchmark
# --------------------------------------------------------------------------


def test_redis_benchmark_set_get(srv):
    cmd = [tool("redis-benchmark"), "-h", srv.host, "-p", str(srv.port), "-t", "set,get", "-n", "20000", "-q"]
    result = subprocess.run(cmd, capture_output=True, timeout=180)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert b"Could not fetch server CONFIG" not in output
    assert re.search(rb"SET: [\d.]+ requests per second", output), output
    assert re.search(rb"GET: [\d.]+ requests per second", output), output
    with srv.connect() as conn:
        # Without -r every SET uses this literal key, with a 3-byte value (-d 3).
        value = conn.execute("GET", "key:__rand_int__")
        assert isinstance(value, Bulk) and len(value.value) == 3


# --------------------------------------------------------------------------
# Raw protocol
# --------------------------------------------------------------------------


def test_inline_commands(srv):
    received, closed = raw_exchange(srv, b"PING\r\nSET a b\r\nGET a\r\n")
    assert received == b"+PONG\r\n+OK\r\n$1\r\nb\r\n"
    assert not closed
    # Quoting, escapes, a bare LF and empty lines, as redis-cli and telnet send them.
    received, closed = raw_exchange(srv, b'SET "x y" "a\\x41b"\r\n\r\nGET "x y"\nPING\r\n')
    assert received == b"+OK\r\n$3\r\naAb\r\n+PONG\r\n"
    assert not closed


def test_inline_unbalanced_quotes_is_a_protocol_error(srv):
    received, closed = raw_exchange(srv, b'SET "a b\r\n')
    assert received == b"-ERR Protocol error: unbalanced quotes in request\r\n"
    assert closed


@pytest.mark.parametrize("data", [b"*1\r\n$abc\r\n", b"*abc\r\n", b"*1\r\n*1\r\n", b"*1\r\n$-5\r\n",
                                  b"*3000000000\r\n"],
                         ids=["bad-bulk-length", "bad-multibulk-length", "array-in-array",
                              "negative-bulk", "huge-multibulk"])
def test_malformed_request_is_a_protocol_error(srv, data):
    received, closed = raw_exchange(srv, b"*1\r\n$4\r\nPING\r\n" + data + b"*1\r\n$4\r\nPING\r\n")
    assert received.startswith(b"+PONG\r\n-ERR Protocol error"), received
    assert received.count(b"\r\n") == 2, "nothing may follow the protocol error"
    assert closed


def test_bulk_length_over_proto_max_bulk_len(server_factory):
    server = server_factory("--proto-max-bulk-len", "1048576")
    big = b"x" * 1048576  # exactly at the limit: accepted
    with server.connect() as conn:
        assert conn.execute("ECHO", big) == Bulk(big)
    received, closed = raw_exchange(server, b"*2\r\n$4\r\nECHO\r\n$1048577\r\n")
    assert received == b"-ERR Protocol error: invalid bulk length\r\n"
    assert closed


def test_unknown_command_error_text(srv):
    received, closed = raw_exchange(srv, b"*2\r\n$3\r\nfoo\r\n$3\r\nbar\r\n*1\r\n$4\r\nPING\r\n")
    assert received == b"-ERR unknown command 'foo', with args beginning with: 'bar' \r\n+PONG\r\n"
    assert not closed
    with srv.connect() as conn:
        assert conn.execute("GET") == Error(b"ERR wrong number of arguments for 'get' command")
        assert conn.execute("CLIENT", "SETNAME") == \
            Error(b"ERR wrong number of arguments for 'client|setname' command")


def test_error_text_stops_at_nul_byte(srv):
    """Redis formats echoed arguments with C's %s, so they end at the first NUL byte."""
    with srv.connect() as conn:
        assert conn.execute(b"foo", b"a\x00b") == \
            Error(b"ERR unknown command 'foo', with args beginning with: 'a' ")
        assert conn.execute("SET", "k", "v") == OK
        assert conn.execute(b"EXPIRE", b"k", b"100", b"N\x00X") == Error(b"ERR Unsupported option N")


def test_extreme_expire_times(server_factory):
    """The largest expiry Redis accepts must not overflow TTL arithmetic.
    (Own server: a crash here must not take the shared one down.)"""
    with server_factory().connect(timeout=5) as conn:
        replies = conn.pipeline([
            ["SET", "k", "v"], ["PEXPIREAT", "k", "9223372036854775807"], ["PEXPIRETIME", "k"],
            ["EXPIRETIME", "k"], ["TTL", "k"], ["PTTL", "k"],
            ["PEXPIRE", "k", "9223372036854775807"], ["SET", "j", "v", "PX", "9223372036854775"],
            ["PTTL", "j"], ["PING"],
        ])
    assert replies[:4] == [OK, Integer(1), Integer(9223372036854775807), Integer(9223372036854776)]
    ttl, pttl = replies[4], replies[5]
    assert isinstance(ttl, Integer) and ttl.value > 9_000_000_000_000_000 // 1000
    assert isinstance(pttl, Integer) and pttl.value > 9_000_000_000_000_000
    assert replies[6] == Error(b"ERR invalid expire time in 'pexpire' command")
    assert replies[7] == OK
    assert isinstance(replies[8], Integer) and 9223372036850000 < replies[8].value <= 9223372036854775
    assert replies[9] == Simple(b"PONG")


def test_large_pipeline_replies_in_order(srv):
    n = 20_000
    with srv.connect(timeout=30) as conn:
        conn.send([("INCR", "seq")] * n)
        replies = conn.read_replies(n)
    assert replies == [Integer(i) for i in range(1, n + 1)]


def test_large_binary_value_round_trip(srv):
    value = bytes(range(256)) * 20_000  # 5 MB, every byte value, CRLFs included
    with srv.connect(timeout=30) as conn:
        assert conn.execute("SET", b"bin\r\nkey\x00", value) == OK
        assert conn.execute("GET", b"bin\r\nkey\x00") == Bulk(value)
        assert conn.execute("STRLEN", b"bin\r\nkey\x00") == Integer(len(value))


def test_resp3_types_after_hello(srv):
    with srv.connect() as conn:
        assert conn.execute("GET", "missing") == NIL
        hello = conn.execute("HELLO", "3")
        assert isinstance(hello, Map)
        assert hello.get(Bulk(b"proto")) == Integer(3)
        assert isinstance(hello.get(Bulk(b"id")), Integer)
        assert conn.execute("GET", "missing") == NIL3
        assert conn.execute("CONFIG", "GET", "timeout") == Map(((Bulk(b"timeout"), Bulk(b"0")),))
        hello2 = conn.execute("HELLO", "2")
        assert isinstance(hello2, Array) and Integer(2) in hello2.items
        assert conn.execute("GET", "missing") == NIL
        assert conn.execute("HELLO", "4") == Error(b"NOPROTO unsupported protocol version")


def test_quit_replies_ok_then_closes(srv):
    received, closed = raw_exchange(srv, b"*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n")
    assert received == b"+OK\r\n"
    assert closed


def test_reset_restores_connection_state(srv):
    with srv.connect() as conn:
        replies = conn.pipeline([
            ["SELECT", "1"], ["CLIENT", "SETNAME", "temp"], ["MULTI"], ["RESET"],
            ["CLIENT", "GETNAME"], ["SET", "where", "db0"], ["SELECT", "0"], ["GET", "where"], ["EXEC"],
        ])
    assert replies == [OK, OK, OK, Simple(b"RESET"), NIL, OK, OK, Bulk(b"db0"),
                       Error(b"ERR EXEC without MULTI")]


def test_watch_and_unwatch_inside_multi(server_factory):
    """UNWATCH is queued and runs inside EXEC; WATCH is refused but does not abort.
    (Own server: a hang here must not take the shared one down.)"""
    with server_factory().connect(timeout=5) as conn:
        replies = conn.pipeline([
            ["WATCH", "a"], ["MULTI"], ["UNWATCH"], ["SET", "a", "1"], ["EXEC"],
            ["MULTI"], ["WATCH", "b"], ["INCR", "a"], ["EXEC"],
            ["WATCH", "a"], ["SET", "a", "changed"], ["MULTI"], ["UNWATCH"], ["EXEC"],
            ["PING"],
        ])
    assert replies == [
        OK, OK, QUEUED, QUEUED, Array((OK, OK)),
        OK, Error(b"ERR WATCH inside MULTI is not allowed"), QUEUED, Array((Integer(2),)),
        OK, OK, OK, QUEUED, Null("array"),
        Simple(b"PONG"),
    ]


def test_client_id_list_and_kill(srv):
    with srv.connect() as victim, srv.connect() as killer:
        assert victim.execute("CLIENT", "SETNAME", "victim") == OK
        victim_id = victim.execute("CLIENT", "ID")
        assert isinstance(victim_id, Integer)
        listing = killer.execute("CLIENT", "LIST")
        assert isinstance(listing, Bulk)
        line = next(l for l in listing.value.decode().splitlines() if "name=victim" in l)
        assert f"id={victim_id.value} " in line
        assert killer.execute("CLIENT", "KILL", "ID", str(victim_id.value)) == Integer(1)
        assert closes_within(victim, 5)
        assert killer.execute("CLIENT", "KILL", "ID", str(victim_id.value)) == Integer(0)


@pytest.mark.skipif(target() == "redis", reason="redis-server 7.0 has no CLIENT SETINFO (added in 7.2)")
def test_client_setinfo(srv):
    with srv.connect() as conn:
        assert conn.execute("CLIENT", "SETINFO", "LIB-NAME", "strata-tests") == OK
        assert conn.execute("CLIENT", "SETINFO", "LIB-VER", "1.0") == OK
        reply = conn.execute("CLIENT", "SETINFO", "NOPE", "x")
        assert isinstance(reply, Error)


def test_time_and_info(srv):
    with srv.connect() as conn:
        secs, usecs = conn.execute("TIME").items
        assert abs(int(secs.value) - time.time()) < 5 and 0 <= int(usecs.value) < 1_000_000
        conn.execute("SET", "a", "1")
        conn.execute("SET", "b", "2", "EX", "1000")
        info = conn.execute("INFO", "keyspace")
        assert isinstance(info, Bulk)
        assert info.value.startswith(b"# Keyspace\r\n")
        assert b"db0:keys=2,expires=1," in info.value


# --------------------------------------------------------------------------
# Directives and process lifecycle
# --------------------------------------------------------------------------


def test_unknown_directive_is_rejected(target_binary, tmp_path):
    port = str(_free_port())
    result = subprocess.run([target_binary, "--port", port, "--bind", "127.0.0.1", "--dir", str(tmp_path),
                             "--no-such-directive", "1"], capture_output=True, timeout=10)
    assert result.returncode != 0
    assert b"no-such-directive" in result.stderr, result.stderr


@pytest.mark.parametrize("directive,value", [("port", "notaport"), ("loglevel", "loud"), ("databases", "abc")])
def test_bad_directive_value_is_rejected(target_binary, tmp_path, directive, value):
    result = subprocess.run([target_binary, "--bind", "127.0.0.1", "--dir", str(tmp_path),
                             f"--{directive}", value], capture_output=True, timeout=10)
    assert result.returncode != 0
    assert directive.encode() in result.stderr, result.stderr


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_config_file_then_command_line(server_factory, tmp_path):
    conf = tmp_path / "strata.conf"
    conf.write_text("# a comment\ndatabases 4\ntimeout 0\n\nmaxclients 50\n")
    server = server_factory("--databases", "3", config_file=conf)  # the command line wins
    with server.connect() as conn:
        assert conn.execute("SELECT", "2") == OK
        assert conn.execute("SELECT", "3") == Error(b"ERR DB index is out of range")
        assert conn.execute("CONFIG", "GET", "maxclients") == Array((Bulk(b"maxclients"), Bulk(b"50")))


def test_config_set_and_get(server_factory):
    server = server_factory()
    with server.connect() as conn:
        assert conn.execute("CONFIG", "GET", "timeout") == Array((Bulk(b"timeout"), Bulk(b"0")))
        assert conn.execute("CONFIG", "SET", "timeout", "300") == OK
        assert conn.execute("CONFIG", "GET", "timeout") == Array((Bulk(b"timeout"), Bulk(b"300")))
        assert conn.execute("CONFIG", "SET", "timeout", "abc") == Error(
            b"ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer")
        assert conn.execute("CONFIG", "SET", "nosuch", "1") == Error(
            b"ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'")
        assert conn.execute("CONFIG", "RESETSTAT") == OK


def test_databases_directive(server_factory):
    server = server_factory("--databases", "2")
    with server.connect() as conn:
        assert conn.execute("SELECT", "1") == OK
        assert conn.execute("SELECT", "2") == Error(b"ERR DB index is out of range")


def test_maxclients_directive(server_factory):
    server = server_factory("--maxclients", "2")
    first = server.connect()
    try:
        # The readiness probe's connection may still be closing: wait until only we remain.
        deadline = time.monotonic() + 5
        while first.execute("CLIENT", "LIST").value.count(b"\n") > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        second = server.connect()
        assert second.execute("PING") == Simple(b"PONG")
        third = server.connect()
        try:
            assert third.read_reply() == Error(b"ERR max number of clients reached")
            assert closes_within(third, 5)
        finally:
            third.close()
        second.close()
    finally:
        first.close()


def test_timeout_directive_closes_idle_clients(server_factory):
    server = server_factory("--timeout", "1")
    idle, busy = server.connect(), server.connect()
    try:
        assert idle.execute("PING") == Simple(b"PONG")
        start = time.monotonic()
        stop = threading.Event()
        failures = []

        def keep_busy():
            while not stop.is_set():
                try:
                    if busy.execute("PING") != Simple(b"PONG"):
                        failures.append("bad reply")
                except OSError as exc:
                    failures.append(repr(exc))
                    return
                stop.wait(0.2)

        thread = threading.Thread(target=keep_busy)
        thread.start()
        try:
            assert closes_within(idle, 6), "idle client was not closed"
            assert time.monotonic() - start >= 0.9, "closed before the timeout elapsed"
        finally:
            stop.set()
            thread.join()
        assert not failures, failures
        assert busy.execute("PING") == Simple(b"PONG")
    finally:
        idle.close()
        busy.close()


def test_client_query_buffer_limit(server_factory):
    server = server_factory("--client-query-buffer-limit", "1048576")
    # A 5 MB argument is allowed by proto-max-bulk-len but not by the query buffer limit.
    received, closed = raw_exchange(server, b"*2\r\n$4\r\nECHO\r\n$5000000\r\n" + b"x" * 2_000_000, limit=5)
    assert closed
    assert b"+" not in received and b"$" not in received
    with server.connect() as conn:  # the server itself is fine
        assert conn.execute("PING") == Simple(b"PONG")


def test_sigterm_stops_cleanly(server_factory):
    server = server_factory()
    with server.connect() as conn:
        assert conn.execute("SET", "k", "v") == OK
    assert server.stop() == 0


def test_shutdown_command_stops_the_server(server_factory):
    server = server_factory()
    with server.connect() as conn:
        conn.send([["SHUTDOWN"]])
        assert closes_within(conn, 10)
    server.proc.wait(10)
    assert server.proc.returncode == 0
