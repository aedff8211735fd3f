"""ACL (Redis 7.0): users with passwords and rules, driven with redis-py.

Runs against strata (default) or redis-server (TARGET=redis) for everything but the ring test:
users that may and may not touch a key pattern, categories and subcommands, AUTH and HELLO,
CONFIG SET requirepass as the default user's password, ACL LOG, DELUSER closing connections,
ACL SAVE / LOAD with an aclfile and a bad line named by its number, at startup too. The ring test
(strata only) checks that a limited user cannot write a key another node owns, and that the
nodes reach each other as their own user while `default` is off.
"""

from __future__ import annotations

import subprocess
import time

import pytest
import redis

from conftest import HOST, free_port, strata_bin, target
from resp_client import OK, Bulk, Error, Simple


def admin(server):
    return server.redis_py(decode_responses=True)


def as_user(server, user, password, **kw):
    return server.redis_py(username=user, password=password, decode_responses=True, **kw)


def noperm(call) -> str:
    with pytest.raises(redis.exceptions.NoPermissionError) as info:
        call()
    return str(info.value)


KEYS_ERROR = "this user has no permissions to access one of the keys used as arguments"
CHANNELS_ERROR = "this user has no permissions to access one of the channels used as arguments"


def test_key_patterns_decide_what_a_user_may_touch(strata):
    a = admin(strata)
    assert a.execute_command("ACL", "SETUSER", "cacheuser", "reset", "on", ">pw", "~cache:*", "%R~ro:*", "+@all", "-@admin") == "OK"
    u = as_user(strata, "cacheuser", "pw")
    assert u.set("cache:1", "v") is True
    assert u.get("cache:1") == "v"
    assert noperm(lambda: u.set("other", "v")) == KEYS_ERROR
    assert noperm(lambda: u.mset({"cache:2": "v", "other": "v"})) == KEYS_ERROR
    assert a.exists("other", "cache:2") == 0, "a refused command writes nothing"
    a.set("ro:1", "x")
    assert u.get("ro:1") == "x"
    assert noperm(lambda: u.set("ro:1", "y")) == KEYS_ERROR
    assert noperm(lambda: u.publish("news", "m")) == CHANNELS_ERROR
    assert noperm(lambda: u.config_get("port")) == "this user has no permissions to run the 'config|get' command"
    assert u.acl_whoami() == "cacheuser"
    # The rules change for the connected client at once.
    assert a.execute_command("ACL", "SETUSER", "cacheuser", "-set", "&news") == "OK"
    assert noperm(lambda: u.set("cache:1", "v")) == "this user has no permissions to run the 'set' command"
    assert u.publish("news", "m") == 0
    # Inside MULTI the command is refused when queued and the transaction is discarded.
    pipe = u.pipeline(transaction=True)
    pipe.get("cache:1")
    pipe.get("other")
    with pytest.raises(redis.exceptions.NoPermissionError, match="Command # 2 \\(GET other\\)"):
        pipe.execute()
    # Scripts run their redis.call as the script's user.
    assert a.execute_command("ACL", "SETUSER", "cacheuser", "+eval") == "OK"
    assert u.eval("return redis.call('get', 'cache:1')", 0) == "v"
    with pytest.raises(redis.exceptions.ResponseError) as info:
        u.eval("return redis.call('get', 'other')", 0)
    assert "The user executing the script can't access at least one of the keys mentioned in the command arguments" in str(info.value)


def test_categories_subcommands_and_dryrun(strata):
    a = admin(strata)
    assert a.execute_command("ACL", "SETUSER", "reader", "reset", "on", "nopass", "~*", "&*", "+@read", "-@dangerous", "+client|list") == "OK"
    u = as_user(strata, "reader", "any")
    assert u.get("k") is None
    assert noperm(lambda: u.set("k", "v")) == "this user has no permissions to run the 'set' command"
    assert "id=" in u.execute_command("CLIENT", "LIST")
    assert noperm(lambda: u.client_id()) == "this user has no permissions to run the 'client|id' command"
    assert noperm(lambda: u.keys("*")) == "this user has no permissions to run the 'keys' command"
    assert a.execute_command("ACL", "DRYRUN", "reader", "get", "x") == "OK"
    assert a.execute_command("ACL", "DRYRUN", "reader", "set", "x", "1") == "This user has no permissions to run the 'set' command"
    with pytest.raises(redis.exceptions.ResponseError, match="^User 'nobody' not found$"):
        a.execute_command("ACL", "DRYRUN", "nobody", "get", "x")
    user = a.acl_getuser("reader")
    assert user["flags"] == ["on", "nopass", "sanitize-payload"]
    assert user["keys"] == ["~*"] and user["channels"] == ["&*"]
    assert user["categories"][:2] == ["-@all", "+@read"]  # redis-py splits the rules
    assert "+client|list" in user["commands"]
    with pytest.raises(redis.exceptions.ResponseError, match="^Error in ACL SETUSER modifier 'bogus': Syntax error$"):
        a.execute_command("ACL", "SETUSER", "reader", "bogus")
    with pytest.raises(redis.exceptions.ResponseError, match="Unknown command or category name in ACL"):
        a.execute_command("ACL", "SETUSER", "reader", "+@nosuch")
    assert "read" in a.execute_command("ACL", "CAT")
    assert "get" in a.execute_command("ACL", "CAT", "read")


def test_auth_hello_and_requirepass(server_factory):
    server = server_factory("--requirepass", "secret")
    a = server.redis_py(password="secret", decode_responses=True)
    assert a.execute_command("ACL", "SETUSER", "alice", "on", ">wonder", "~*", "&*", "+@all") == "OK"
    assert a.acl_list()[0].startswith("user alice on #")
    # AUTH user pass, AUTH pass (default), HELLO 3 AUTH user pass.
    with server.connect() as raw:
        assert raw.execute("GET", "k") == Error(b"NOAUTH Authentication required.")
        assert raw.execute("AUTH", "alice", "wrong") == Error(b"WRONGPASS invalid username-password pair or user is disabled.")
        assert raw.execute("AUTH", "alice", "wonder") == OK
        assert raw.execute("ACL", "WHOAMI") == Bulk(b"alice")
        assert raw.execute("AUTH", "secret") == OK
        assert raw.execute("ACL", "WHOAMI") == Bulk(b"default")
        assert raw.execute("HELLO", "3", "AUTH", "nobody", "x") == Error(b"WRONGPASS invalid username-password pair or user is disabled.")
        assert raw.execute("ACL", "WHOAMI") == Bulk(b"default"), "a failed HELLO AUTH keeps the user"
        assert raw.execute("RESET") == Simple(b"RESET")
        assert raw.execute("ACL", "WHOAMI") == Error(b"NOAUTH Authentication required.")
    assert as_user(server, "alice", "wonder", protocol=2).acl_whoami() == "alice"
    resp3 = server.redis_py(protocol=3, username="alice", password="wonder", decode_responses=True)
    assert resp3.acl_whoami() == "alice"
    # CONFIG SET requirepass replaces the default user's password.
    assert a.config_set("requirepass", "changed")
    assert server.redis_py(password="changed", decode_responses=True).ping()
    with server.connect() as raw:
        assert raw.execute("AUTH", "secret") == Error(b"WRONGPASS invalid username-password pair or user is disabled.")
    default = a.acl_getuser("default")
    assert len(default["passwords"]) == 1 and "nopass" not in default["flags"]
    # A disabled user cannot authenticate.
    assert a.execute_command("ACL", "SETUSER", "alice", "off") == "OK"
    with server.connect() as raw:
        assert raw.execute("AUTH", "alice", "wonder") == Error(b"WRONGPASS invalid username-password pair or user is disabled.")


def test_acl_log_counts_refusals(server_factory):
    server = server_factory()
    a = admin(server)
    a.execute_command("ACL", "LOG", "RESET")
    assert a.execute_command("ACL", "SETUSER", "lim", "on", ">pw", "~cache:*", "&chan", "+@all") == "OK"
    u = as_user(server, "lim", "pw")
    for _ in range(2):
        with pytest.raises(redis.exceptions.NoPermissionError):
            u.set("other", "1")
    with pytest.raises(redis.exceptions.NoPermissionError):
        u.publish("x", "1")
    with server.connect() as raw:
        assert raw.execute("AUTH", "lim", "wrong") == Error(b"WRONGPASS invalid username-password pair or user is disabled.")
    log = a.acl_log()
    assert [(e["reason"], e["object"], e["username"], e["count"], e["context"]) for e in log] == [
        ("auth", "AUTH", "lim", 1, "toplevel"),
        ("channel", "x", "lim", 1, "toplevel"),
        ("key", "other", "lim", 2, "toplevel"),
    ]
    assert all(float(e["age-seconds"]) >= 0 for e in log)
    assert log[2]["client-info"]["user"] == "lim"
    assert len(a.acl_log(count=1)) == 1
    assert a.acl_log_reset()
    assert a.acl_log() == []


def test_deluser_closes_its_connections(server_factory):
    server = server_factory()
    a = admin(server)
    assert a.execute_command("ACL", "SETUSER", "gone", "on", "nopass", "~*", "+@all") == "OK"
    u = as_user(server, "gone", "x", retry_on_timeout=False)
    assert u.ping()
    assert a.execute_command("ACL", "DELUSER", "gone", "nosuch") == 1
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            u.connection_pool.get_connection().send_command("PING")
            u.connection_pool.reset()
        except Exception:
            break
        time.sleep(0.05)
    with pytest.raises((redis.exceptions.ConnectionError, redis.exceptions.AuthenticationError)):
        # The pool reconnects: the user is gone, so authentication fails.
        u.ping()
    with pytest.raises(redis.exceptions.ResponseError, match="The 'default' user cannot be removed"):
        a.execute_command("ACL", "DELUSER", "default")


def test_aclfile_save_load_and_bad_lines(server_factory, tmp_path):
    path = tmp_path / "users.acl"
    path.write_text("user default on nopass ~* &* +@all\nuser a on >x ~k* +get\n")
    server = server_factory("--aclfile", str(path))
    a = admin(server)
    assert a.acl_list() == [
        "user a on #2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 ~k* resetchannels -@all +get",
        "user default on nopass ~* &* +@all",
    ]
    assert as_user(server, "a", "x").get("k1") is None
    assert a.execute_command("ACL", "SETUSER", "b", "on", ">y", "~*", "+@read") == "OK"
    assert a.acl_save()
    assert path.read_text() == (
        "user a on #2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 ~k* resetchannels -@all +get\n"
        "user b on #a1fce4363854ff888cff4b8e7875d600c2682390412a8cf79b37d0b11148b0fa ~* resetchannels -@all +@read\n"
        "user default on nopass ~* &* +@all\n"
    )
    # A bad file is refused with its line numbers; nothing changes.
    path.write_text("user default on nopass ~* &* +@all\nfoo bar\nuser c on bogus\n")
    with pytest.raises(redis.exceptions.ResponseError) as info:
        a.acl_load()
    assert str(info.value) == (f"{path}:2 should start with user keyword followed by the username. {path}:3: Syntax error. "
                               "WARNING: ACL errors detected, no change to the previously active ACL rules was performed")
    assert a.acl_users() == ["a", "b", "default"]
    # A good file replaces the users.
    path.write_text("user default on nopass ~* &* +@all\nuser c on >z ~* +@all\n")
    assert a.acl_load()
    assert a.acl_users() == ["c", "default"]
    # After a restart the file is read again.
    server.restart()
    assert admin(server).acl_users() == ["c", "default"]
    # At startup a bad line stops the server, naming the line.
    path.write_text("user default on nopass ~* &* +@all\nuser bad on bogus\n")
    binary = str(strata_bin()) if target() == "strata" else "redis-server"
    port = free_port()
    proc = subprocess.run([binary, "--port", str(port), "--bind", HOST, "--aclfile", str(path), "--dir", str(tmp_path),
                           *(["--persistence", "no"] if target() == "strata" else ["--save", ""])],
                          capture_output=True, text=True, timeout=20)
    assert proc.returncode != 0
    assert f"{path}:2: Syntax error." in proc.stdout + proc.stderr


def test_acl_save_and_load_without_aclfile(strata):
    a = admin(strata)
    message = ("This Redis instance is not configured to use an ACL file. You may want to specify users via the "
               "ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file "
               "set) in order to store users in the Redis configuration.")
    for call in (a.acl_save, a.acl_load):
        with pytest.raises(redis.exceptions.ResponseError) as info:
            call()
        assert str(info.value) == message


@pytest.mark.skipif(target() != "strata", reason="strata's proxy ring")
def test_ring_checks_the_client_user_before_forwarding(tmp_path):
    """A 3-node proxy ring whose aclfile turns `default` off: the nodes reach each other as the
    built-in peer user (password: requirepass, the ring's secret); a user limited to `~cache:*`
    writes `cache:` keys whatever node owns them, and cannot write other keys, even on another node."""
    acl = tmp_path / "users.acl"
    acl.write_text("user default off\nuser admin on >adminpw ~* &* +@all\nuser cacheuser on >pw ~cache:* &* +@all -@admin\n")
    ports = [free_port() for _ in range(3)]
    spec = ",".join(f"{HOST}:{p}" for p in ports)
    procs = []
    try:
        for p in ports:
            d = tmp_path / f"n{p}"
            d.mkdir()
            procs.append(subprocess.Popen([str(strata_bin()), "--port", str(p), "--bind", HOST, "--dir", str(d),
                                           "--cluster-nodes", spec, "--requirepass", "ringsecret", "--aclfile", str(acl),
                                           "--persistence", "no"],
                                          stdout=open(d / "log", "ab"), stderr=subprocess.STDOUT))
        clients = []
        for p in ports:
            deadline = time.monotonic() + 10
            while True:
                try:
                    c = redis.Redis(host=HOST, port=p, username="admin", password="adminpw", decode_responses=True,
                                    socket_timeout=10)
                    c.ping()
                    clients.append(c)
                    break
                except redis.exceptions.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(host=HOST, port=ports[0]).ping()
        entry = redis.Redis(host=HOST, port=ports[0], username="cacheuser", password="pw", decode_responses=True)
        # Writes to cache: keys reach every node (most are forwarded).
        for i in range(60):
            assert entry.set(f"cache:{i}", str(i)) is True
        assert [clients[1].get(f"cache:{i}") for i in range(60)] == [str(i) for i in range(60)]
        local = [int(c.info("cluster")["cluster_node_keys"]) for c in clients]
        assert sum(local) == 60 and min(local) > 0, "the keys are spread over the ring"
        # Other keys are refused on the node the client is connected to, whoever owns them.
        for i in range(30):
            assert noperm(lambda: entry.set(f"other:{i}", "x")) == KEYS_ERROR
        assert clients[0].exists(*[f"other:{i}" for i in range(30)]) == 0, "EXISTS on a ring counts every node's keys"
        # The peer user is internal: not listed, not changeable.
        assert "strata-peer" not in clients[0].acl_users()
        with pytest.raises(redis.exceptions.ResponseError):
            clients[0].execute_command("ACL", "SETUSER", "strata-peer", "on")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
