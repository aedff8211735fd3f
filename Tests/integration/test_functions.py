"""Redis 7 functions through redis-py: FUNCTION LOAD / LIST / DELETE / FLUSH / DUMP / RESTORE /
STATS / KILL, FCALL and FCALL_RO, Redis's error texts, RESP3 reply types, MULTI; with L3 the
libraries survive a restart; on a 3-node proxy ring a library loaded through one node serves an
FCALL sent to another on keys a third owns. The tests not marked strata-only pass against
redis-server too (TARGET=redis)."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis

from conftest import HOST, target
from test_cluster import cluster, key_slot, slot_owners  # noqa: F401 (fixture)

strata_only = pytest.mark.skipif(target() != "strata", reason="strata's L3 and rings")

LIB = """#!lua name=mylib
local function get(keys, args) return redis.call('GET', keys[1]) end
redis.register_function('myget', get)
redis.register_function{function_name='myset', callback=function(keys, args)
  return redis.call('SET', keys[1], args[1]) end, description='sets a key'}
redis.register_function{function_name='myro', callback=get, flags={'no-writes', 'allow-stale'}}
"""


def as_map(reply):
    """A RESP3 map, or its RESP2 form (a flat array of keys and values), as a dict."""
    return dict(reply) if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2]))


def by_name(libraries):
    """FUNCTION LIST's libraries (and their functions) by name: Redis lists them in hash order."""
    out = {}
    for library in libraries:
        library = as_map(library)
        library["functions"] = {f["name"]: f for f in map(as_map, library["functions"])}
        out[library["library_name"]] = library
    return out


@pytest.fixture
def r(server_factory):
    client = server_factory().redis_py(decode_responses=True)
    yield client


def test_load_call_list_delete(r):
    assert r.function_load(LIB) == "mylib"
    assert r.fcall("myset", 1, "k", "v") == "OK"
    assert r.fcall("myget", 1, "k") == "v"
    assert r.fcall_ro("myro", 1, "k") == "v"
    with pytest.raises(redis.ResponseError, match=r"^Can not execute a script with write flag using \*_ro command\.$"):
        r.fcall_ro("myget", 1, "k")
    libraries = by_name(r.function_list())
    assert list(libraries) == ["mylib"]
    functions = libraries["mylib"]["functions"]
    assert libraries["mylib"]["engine"] == "LUA"
    assert functions["myset"] == {"name": "myset", "description": "sets a key", "flags": []}
    assert functions["myget"] == {"name": "myget", "description": None, "flags": []}
    assert functions["myro"]["flags"] == ["no-writes", "allow-stale"]
    assert "library_code" not in libraries["mylib"]
    assert as_map(r.function_list(withcode=True)[0])["library_code"] == LIB
    assert r.function_list(library="my*") != [] and r.function_list(library="other*") == []
    with pytest.raises(redis.ResponseError, match="^Library 'mylib' already exists$"):
        r.function_load(LIB)
    assert r.function_load(LIB, replace=True) == "mylib"
    stats = as_map(r.function_stats())
    assert stats["running_script"] is None
    assert as_map(as_map(stats["engines"])["LUA"]) == {"libraries_count": 1, "functions_count": 3}
    assert r.function_delete("mylib") is True
    with pytest.raises(redis.ResponseError, match="^Function not found$"):
        r.fcall("myget", 1, "k")
    with pytest.raises(redis.ResponseError, match="^Library not found$"):
        r.function_delete("mylib")
    r.function_load(LIB)
    assert r.function_flush("SYNC") is True
    assert r.function_list() == []


@pytest.mark.parametrize("code, error", [
    ("return 1", "Missing library metadata"),
    ("#!lua name=x", "Invalid library metadata"),
    ("#!lua\nreturn 1", "Library name was not given"),
    ("#!lua name=a-b\nreturn 1", "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"),
    ("#!js name=a\nreturn 1", "Engine 'js' not found"),
    ("#!lua name=a foo=1\nreturn 1", "Invalid metadata value given: foo=1"),
    ("#!lua name=a\nlocal x = 1", "No functions registered"),
    ("#!lua name=a\nredis.call('set', 'k', 'v')",
     "Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'"),
    ("#!lua name=a\nlocal n = string.len('x')",
     "Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'string'"),
    ("#!lua name=a\nx = 1", "Error registering functions: ERR user_function:2: Attempt to modify a readonly table"),
    ("#!lua name=a\nredis.register_function('f', function() return 1 end", "Error compiling function: user_function:2: ')' expected near '<eof>'"),
    ("#!lua name=a\nredis.register_function('f')",
     "Error registering functions: ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."),
    ("#!lua name=a\nredis.register_function('f', 1)", "Error registering functions: ERR second argument to redis.register_function must be a function"),
    ("#!lua name=a\nredis.register_function({}, function() end)", "Error registering functions: ERR first argument to redis.register_function must be a string"),
    ("#!lua name=a\nredis.register_function{function_name='f', callback=function() end, flags={'bad'}}",
     "Error registering functions: ERR unknown flag given"),
    ("#!lua name=a\nredis.register_function{function_name='f'}", "Error registering functions: ERR redis.register_function must get a callback argument"),
    ("#!lua name=a\nredis.register_function{callback=function() end}",
     "Error registering functions: ERR redis.register_function must get a function name argument"),
    ("#!lua name=a\nredis.register_function{function_name='f', callback=function() end, foo=1}",
     "Error registering functions: ERR unknown argument given to redis.register_function"),
    ("#!lua name=a\nredis.register_function('f', function() end)\nredis.register_function('f', function() end)",
     "Error registering functions: ERR Function already exists in the library"),
    ("#!lua name=a\nredis.log(1)", "Error registering functions: ERR redis.log() requires two arguments or more."),
])
def test_load_errors(r, code, error):
    with pytest.raises(redis.ResponseError) as raised:
        r.function_load(code)
    assert str(raised.value) == error


def test_call_errors_and_environment(r):
    r.function_load("#!lua name=env\n"
                    "redis.register_function('keys_global', function(keys, args) return KEYS end)\n"
                    "redis.register_function('boom', function(keys, args) error('boom') end)\n"
                    "redis.register_function('echo', function(keys, args) return {#keys, #args, keys[1], args[1]} end)\n"
                    "redis.register_function('version', function() return redis.REDIS_VERSION end)\n")
    assert r.fcall("echo", 1, "k", "a") == [1, 1, "k", "a"]
    assert r.fcall("version", 0) == "7.0.15"
    with pytest.raises(redis.ResponseError) as raised:
        r.fcall("keys_global", 0)
    assert str(raised.value) == ("user_function:2: Script attempted to access nonexistent global variable 'KEYS' "
                                 "script: keys_global, on @user_function:2.")
    with pytest.raises(redis.ResponseError) as raised:
        r.fcall("boom", 0)
    assert str(raised.value) == "user_function:3: boom script: boom, on @user_function:3."
    with pytest.raises(redis.ResponseError, match="^Bad number of keys provided$"):
        r.execute_command("FCALL", "echo", "x")
    with pytest.raises(redis.ResponseError, match="^Number of keys can't be greater than number of args$"):
        r.execute_command("FCALL", "echo", "3", "a")
    with pytest.raises(redis.ResponseError, match="^Function not found$"):
        r.execute_command("FCALL", "nosuch", "x")
    with pytest.raises(redis.ResponseError, match="^Unknown option given: foo$"):
        r.execute_command("FUNCTION", "LOAD", "foo", "#!lua name=x\n")
    with pytest.raises(redis.ResponseError, match="^Unknown argument foo$"):
        r.execute_command("FUNCTION", "LIST", "foo")
    with pytest.raises(redis.ResponseError, match=r"^FUNCTION FLUSH only supports SYNC\|ASYNC option$"):
        r.execute_command("FUNCTION", "FLUSH", "NOW")
    assert r.execute_command("FUNCTION", "HELP")[0].startswith("FUNCTION <subcommand>")


def test_dump_and_restore(server_factory):
    server = server_factory()
    r, raw = server.redis_py(decode_responses=True), server.redis_py()  # raw: binary payloads
    r.function_load(LIB)
    r.function_load("#!lua name=other\nredis.register_function('o', function() return 'o' end)")
    dump = raw.function_dump()
    with pytest.raises(redis.ResponseError, match="already exists"):
        raw.function_restore(dump)
    assert raw.function_restore(dump, "REPLACE")
    r.function_flush()
    assert raw.function_restore(dump)
    assert set(by_name(r.function_list())) == {"mylib", "other"}
    assert r.fcall("o", 0) == "o"
    r.function_delete("other")
    r.function_load("#!lua name=clash\nredis.register_function('o', function() return 'clash' end)")
    with pytest.raises(redis.ResponseError, match="^Function o already exists$"):
        raw.function_restore(dump, "REPLACE")
    assert r.fcall("o", 0) == "clash"
    assert raw.function_restore(dump, "FLUSH")
    assert set(by_name(r.function_list())) == {"mylib", "other"}
    assert r.fcall("o", 0) == "o"
    for bad in (dump[:-1] + bytes([dump[-1] ^ 1]), b"garbage", dump[:5]):
        with pytest.raises(redis.ResponseError, match="^DUMP payload version or checksum are wrong$"):
            raw.function_restore(bad)
    with pytest.raises(redis.ResponseError, match="^Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.$"):
        raw.function_restore(dump, "MERGE")


def raw_resp3(server, *command):
    """The bytes of one reply to `command` on a RESP3 connection."""
    with socket.create_connection((HOST, server.port), timeout=5) as sock:
        def frame(*words):
            return b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w.encode()) for w in words)
        def until(suffix):
            data = b""
            while not data.endswith(suffix):
                data += sock.recv(65536)
            return data
        sock.sendall(frame("HELLO", "3"))
        until(b"$7\r\nmodules\r\n*0\r\n")
        sock.sendall(frame(*command) + frame("PING"))
        return until(b"+PONG\r\n")[:-len(b"+PONG\r\n")]


def test_resp3_reply_types(server_factory):
    server = server_factory()
    r3 = server.redis_py(protocol=3)
    r3.function_load(LIB)
    reply = raw_resp3(server, "FUNCTION", "LIST", "LIBRARYNAME", "mylib")
    # One library: a map whose functions are maps, with a null description and a set of flags.
    assert reply.startswith(b"*1\r\n%3\r\n$12\r\nlibrary_name\r\n$5\r\nmylib\r\n$6\r\nengine\r\n$3\r\nLUA\r\n$9\r\nfunctions\r\n*3\r\n")
    assert b"$11\r\ndescription\r\n_\r\n$5\r\nflags\r\n~0\r\n" in reply
    assert b"$5\r\nflags\r\n~2\r\n+no-writes\r\n+allow-stale\r\n" in reply  # flags: simple strings
    stats = raw_resp3(server, "FUNCTION", "STATS")
    assert stats == (b"%2\r\n$14\r\nrunning_script\r\n_\r\n$7\r\nengines\r\n%1\r\n$3\r\nLUA\r\n%2\r\n"
                     b"$15\r\nlibraries_count\r\n:1\r\n$15\r\nfunctions_count\r\n:3\r\n")


def test_fcall_inside_multi(r):
    r.function_load(LIB)
    pipe = r.pipeline(transaction=True)
    pipe.fcall("myset", 1, "tk", "tv")
    pipe.fcall("myget", 1, "tk")
    pipe.fcall("nosuch", 0)
    results = pipe.execute(raise_on_error=False)
    assert results[:2] == ["OK", "tv"]
    assert str(results[2]) == "Function not found"


def test_busy_function_and_function_kill(server_factory):
    server = server_factory()
    admin = server.redis_py()
    admin.config_set("busy-reply-threshold", 200)
    admin.function_load("#!lua name=spin\nredis.register_function('spin', function(keys, args) "
                        "local i = 0 while true do i = i + 1 end end)")
    others = [server.redis_py(socket_timeout=1.0) for _ in range(6)]
    for other in others:
        assert other.ping()
    runner = server.redis_py(socket_timeout=30)
    outcome = {}

    def run():
        try:
            outcome["reply"] = runner.fcall("spin", 1, "somekey", "arg")
        except redis.exceptions.ResponseError as error:
            outcome["error"] = str(error)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.6)
    killer = None
    for other in others:
        try:
            other.get("x")
        except redis.exceptions.ResponseError as error:  # BusyLoadingError is one
            assert str(error) == "Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE." \
                or str(error).startswith("BUSY Redis is busy running a script. You can only call FUNCTION KILL")
            killer = other
            break
        except redis.exceptions.TimeoutError:
            continue  # on the function's event loop
    assert killer is not None, "no connection on another event loop"
    with pytest.raises(redis.exceptions.ResponseError, match="You can only call FUNCTION KILL"):
        killer.script_kill()
    running = as_map(as_map(killer.function_stats())[b"running_script"])
    assert running[b"name"] == b"spin"
    assert running[b"command"] == [b"FCALL", b"spin", b"1", b"somekey", b"arg"]
    assert running[b"duration_ms"] >= 200
    assert killer.execute_command("FUNCTION", "KILL") in (b"OK", True)
    thread.join(10)
    assert outcome["error"] == "Script killed by user with SCRIPT KILL... script: spin, on @user_function:2."
    with pytest.raises(redis.exceptions.ResponseError, match="NOTBUSY No scripts in execution right now."):
        admin.execute_command("FUNCTION", "KILL")
    assert admin.ping()


@strata_only
def test_libraries_survive_a_restart_with_l3(server_factory):
    server = server_factory()
    r = server.redis_py(decode_responses=True)
    r.function_load(LIB)
    r.function_load("#!lua name=gone\nredis.register_function('gone', function() return 1 end)")
    r.function_delete("gone")
    r.fcall("myset", 1, "pk", "pv")
    server.restart()
    r = server.redis_py(decode_responses=True)
    assert set(by_name(r.function_list())) == {"mylib"}
    assert r.fcall("myget", 1, "pk") == "pv"
    r.function_flush()
    server.restart()
    assert server.redis_py().function_list() == []
    # RESTORE is kept too.
    r = server.redis_py()
    r.function_load(LIB)
    dump = r.function_dump()
    r.function_flush()
    r.function_restore(dump)
    server.restart()
    assert server.redis_py().fcall("myro", 1, "pk") == b"pv"


@strata_only
def test_without_l3_libraries_live_in_memory(server_factory):
    server = server_factory("--persistence", "no")
    server.redis_py().function_load(LIB)
    server.restart()
    assert server.redis_py().function_list() == []


def owned_by(owners, port, prefix):
    """A key (no hash tag) whose slot is served by the node on `port`."""
    for i in range(100_000):
        key = f"{prefix}{i}"
        if owners[key_slot(key)] == port:
            return key
    raise AssertionError("no key for that node")


@strata_only
def test_proxy_ring_load_through_one_node_call_through_another_on_keys_of_a_third(cluster):  # noqa: F811
    nodes, _ = cluster(3)
    a, b, c = (node.client(decode_responses=True) for node in nodes)
    owners = slot_owners(a)
    key = owned_by(owners, nodes[2].port, "fk")
    assert a.function_load(LIB) == "mylib"
    # Every node has it: FUNCTION LIST through any of them.
    for client in (a, b, c):
        assert set(by_name(client.function_list())) == {"mylib"}
    assert b.fcall("myset", 1, key, "ring") == "OK"
    assert int(c.info("cluster")["cluster_node_keys"]) == 1  # written on its owner
    assert a.fcall_ro("myro", 1, key) == "ring"
    other = owned_by(owners, nodes[1].port, "fo")
    with pytest.raises(redis.exceptions.ClusterCrossSlotError):  # -CROSSSLOT
        a.fcall("myget", 2, key, other)
    with pytest.raises(redis.ResponseError, match="^Library 'mylib' already exists$"):
        b.function_load(LIB)
    assert c.function_delete("mylib") is True
    for client in (a, b, c):
        assert client.function_list() == []
    a.function_load(LIB)
    dump = nodes[0].client().function_dump()
    assert b.function_flush() is True
    assert nodes[1].client().function_restore(dump)
    assert c.fcall("myget", 1, key) == "ring"
    with pytest.raises(redis.ResponseError, match="inside MULTI is not supported on a proxy-mode ring"):
        with a.pipeline(transaction=True) as pipe:
            pipe.function_flush()
            pipe.execute()


@strata_only
def test_proxy_ring_gives_a_node_that_lacks_the_library_its_copy(cluster):  # noqa: F811
    nodes, _ = cluster(3, "--persistence", "no")
    a = nodes[0].client(decode_responses=True)
    a.function_load(LIB)
    # The third node restarts without persistence: it has lost the library.
    nodes[2].stop()
    nodes[2].start()
    deadline = time.monotonic() + 10
    owners = slot_owners(a)
    while time.monotonic() < deadline and nodes[2].port not in set(owners.values()):
        time.sleep(0.2)
        owners = slot_owners(a)
    assert nodes[2].client().function_list() == []
    key = owned_by(owners, nodes[2].port, "lk")
    assert a.fcall("myset", 1, key, "copied") == "OK"
    assert set(by_name(nodes[2].client(decode_responses=True).function_list())) == {"mylib"}
    assert a.fcall("myget", 1, key) == "copied"


@strata_only
def test_redirect_mode_keeps_per_node_libraries(cluster):  # noqa: F811
    nodes, _ = cluster(3, "--cluster-mode", "redirect")
    a, b = nodes[0].client(decode_responses=True), nodes[1].client(decode_responses=True)
    a.function_load(LIB)
    assert b.function_list() == []
    owners = slot_owners(a)
    key = owned_by(owners, nodes[1].port, "rk")
    with pytest.raises(redis.exceptions.MovedError):  # -MOVED
        a.fcall("myset", 1, key, "v")
    with pytest.raises(redis.ResponseError, match="^Function not found$"):
        b.fcall("myset", 1, key, "v")
