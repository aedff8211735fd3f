"""Client-side caching (CLIENT TRACKING): redis-py's RESP3 client cache served from memory and
invalidated by another client's write, and the raw invalidation messages (RESP3 pushes, BCAST
prefixes, OPTIN, NOLOOP, REDIRECT to a RESP2 subscriber, FLUSHALL's null) byte for byte as
redis-server writes them.
"""

from __future__ import annotations

import socket
import time

import pytest
import redis

from conftest import HOST


def hits(server) -> int:
    return int(server.redis_py().info("stats")["keyspace_hits"])


@pytest.mark.parametrize("kind", ["redis", "strata"])
def test_redis_py_client_cache(kind, redis_ref, strata, monkeypatch):
    from redis.cache import CacheConfig
    from redis.connection import CacheProxyConnection

    # redis-py 6+ turns its cache on only for servers reporting 7.4 or later (a policy of the
    # client's, not a protocol need: CLIENT TRACKING and its pushes are 6.0's); both servers
    # here report 7.0.
    monkeypatch.setattr(CacheProxyConnection, "MIN_ALLOWED_VERSION", "7.0.0")

    server = redis_ref if kind == "redis" else strata
    other = server.redis_py()
    other.flushall()
    other.set("cached", "v1")
    r = redis.Redis(host=HOST, port=server.port, protocol=3, cache_config=CacheConfig())
    try:
        assert r.get("cached") == b"v1"
        before = hits(server)
        for _ in range(5):
            assert r.get("cached") == b"v1"  # from the client's cache: the server sees nothing
        assert hits(server) == before
        other.set("cached", "v2")
        deadline = time.monotonic() + 2
        while True:
            value = r.get("cached")
            if value == b"v2" or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert value == b"v2"
        assert hits(server) > before

    finally:
        r.close()


class Raw:
    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port))
        self.sock.settimeout(0.2)

    def send(self, *args):
        self.sock.sendall(("*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in args)).encode())

    def read(self, settle=0.15) -> bytes:
        time.sleep(settle)
        out = b""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                out += data
        except socket.timeout:
            pass
        return out

    def call(self, *args) -> bytes:
        self.send(*args)
        return self.read()

    def close(self):
        self.sock.close()


def script(port) -> list[tuple[str, bytes]]:
    """The same steps on either server; what each connection received, in order."""
    out: list[tuple[str, bytes]] = []
    a, b, r, c = Raw(port), Raw(port), Raw(port), Raw(port)
    try:
        a.call("HELLO", "3")
        b.call("FLUSHALL")
        out.append(("on", a.call("CLIENT", "TRACKING", "ON")))
        a.call("GET", "k")
        b.call("SET", "k", "1")
        out.append(("invalidate", a.read()))
        b.call("SET", "k", "2")
        out.append(("forgotten", a.read()))
        a.call("GET", "k")
        out.append(("own write", a.call("SET", "k", "3")))
        a.call("MGET", "x", "y")
        b.call("MSET", "x", "1", "y", "2")
        out.append(("mset", a.read()))
        a.call("GET", "k")
        b.call("FLUSHALL")
        out.append(("flushall", a.read()))
        out.append(("trackinginfo", a.call("CLIENT", "TRACKINGINFO")))
        a.call("CLIENT", "TRACKING", "OFF")
        out.append(("bcast", a.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "p:", "PREFIX", "q")))
        b.call("SET", "p:1", "x")
        b.call("SET", "zz", "x")
        b.call("DEL", "q1")
        b.call("SET", "q2", "1")
        out.append(("bcast invalidate", a.read()))
        out.append(("overlap", a.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "p")))
        out.append(("bcast info", a.call("CLIENT", "TRACKINGINFO")))
        a.call("CLIENT", "TRACKING", "OFF")
        a.call("CLIENT", "TRACKING", "ON", "OPTIN", "NOLOOP")
        a.call("GET", "o1")
        a.call("CLIENT", "CACHING", "YES")
        a.call("GET", "o2")
        a.call("GET", "o3")
        b.call("MSET", "o1", "1", "o2", "1", "o3", "1")
        out.append(("optin", a.read()))
        a.call("CLIENT", "CACHING", "YES")
        a.call("GET", "o4")
        out.append(("noloop", a.call("SET", "o4", "x")))
        b.call("SET", "o4", "y")
        out.append(("noloop forgot", a.read()))
        out.append(("caching no", a.call("CLIENT", "CACHING", "NO")))
        a.call("CLIENT", "TRACKING", "OFF")
        rid = r.call("CLIENT", "ID")[1:-2].decode()
        r.call("SUBSCRIBE", "__redis__:invalidate")
        out.append(("redirect", c.call("CLIENT", "TRACKING", "ON", "REDIRECT", rid)))
        out.append(("getredir", c.call("CLIENT", "GETREDIR").replace(rid.encode(), b"<id>")))
        c.call("GET", "rk")
        b.call("SET", "rk", "1")
        out.append(("redirect invalidate", r.read()))
        c.call("GET", "rk")
        b.call("FLUSHALL")
        out.append(("redirect flushall", r.read()))
        out.append(("resp2 own", c.read()))
        out.append(("two redirects", c.call("CLIENT", "TRACKING", "ON", "REDIRECT", rid, "REDIRECT", rid)))
        out.append(("switch bcast", c.call("CLIENT", "TRACKING", "ON", "BCAST")))
        for args in [("ON", "PREFIX", "a"), ("ON", "BCAST", "OPTIN"), ("ON", "OPTIN", "OPTOUT"),
                     ("ON", "REDIRECT", "99999"), ("ON", "REDIRECT", "x"), ("ON", "FOO"), ("MAYBE",)]:
            out.append((" ".join(args), b.call("CLIENT", "TRACKING", *args)))
        out.append(("caching off", b.call("CLIENT", "CACHING", "YES")))
        out.append(("getredir off", b.call("CLIENT", "GETREDIR")))
        out.append(("info off", b.call("CLIENT", "TRACKINGINFO")))
        out.append(("flags", b"flags=t" if b" flags=t " in c.call("CLIENT", "INFO") else b"?"))
    finally:
        for conn in (a, b, r, c):
            conn.close()
    return out


def test_same_invalidations_as_redis(redis_ref, strata):
    expected = script(redis_ref.port)
    got = script(strata.port)
    assert expected[1] == ("invalidate", b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n")
    for want, have in zip(expected, got):
        assert have == want
    assert len(got) == len(expected)


def test_a_closed_tracking_client_is_forgotten(strata):
    r = strata.redis_py()
    conn = Raw(strata.port)
    conn.call("HELLO", "3")
    conn.call("CLIENT", "TRACKING", "ON")
    conn.call("GET", "gone")
    assert int(r.info("clients")["tracking_clients"]) == 1
    conn.close()
    deadline = time.monotonic() + 2
    while int(r.info("clients")["tracking_clients"]) != 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert int(r.info("clients")["tracking_clients"]) == 0
    r.set("gone", "1")  # no one to invalidate: nothing breaks
    assert r.get("gone") == b"1"
