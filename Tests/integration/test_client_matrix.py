"""Clients of other languages from Debian (redis-rb 4.8 `ruby-redis`, phpredis 5.3 `php-redis`)
running a typical cache-and-queue app (clients/app.rb, clients/app.php) against redis-server and
against a 3-node proxy-mode ring with L3 on: every line the app prints must be the same.

The app covers what plain clients send to one Redis server: SET with EX, MGET/MSET across nodes
(MSETNX and RENAME within a hash tag: across nodes they wait for issue 17's transactions), SCAN with MATCH (the cursor spans the ring), KEYS, DBSIZE, EXISTS of several
keys, hashes, lists with blocking pops, sets, sorted sets, a pipeline, a one-key MULTI/EXEC,
delete-by-pattern (SCAN then DEL), RENAME, TYPE, OBJECT ENCODING, FLUSHDB and RANDOMKEY.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import HOST, target

CLIENTS = Path(__file__).parent / "clients"

APPS = {
    "redis-rb": (["ruby", str(CLIENTS / "app.rb")], "ruby", ["ruby", "-e", "require 'redis'"]),
    "phpredis": (["php", str(CLIENTS / "app.php")], "php", ["php", "-r", "exit(extension_loaded('redis') ? 0 : 1);"]),
}

pytestmark = pytest.mark.skipif(target() != "strata", reason="compares a Strata ring with redis-server")


def run_app(name: str, port: int) -> list[str]:
    command, _, _ = APPS[name]
    done = subprocess.run([*command, HOST, str(port)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{name} against port {port} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout.splitlines()


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    from test_cluster import start_cluster

    nodes, _ = start_cluster(tmp_path_factory.mktemp("matrix"), 3)
    yield nodes
    for node in nodes:
        node.stop()


@pytest.mark.parametrize("name", sorted(APPS))
def test_app_sees_the_ring_as_one_server(name, ring, redis_ref):
    command, binary, probe = APPS[name]
    if shutil.which(binary) is None or subprocess.run(probe, capture_output=True).returncode != 0:
        pytest.fail(f"{name} is not installed (make deps installs ruby-redis, php-cli and php-redis)")
    expected = run_app(name, redis_ref.port)
    assert len(expected) > 15
    for node in ring:
        # Each node in turn as the one the app connects to: the ring answers as one server.
        got = run_app(name, node.port)
        differences = [(i, e, g) for i, (e, g) in enumerate(zip(expected, got)) if e != g]
        assert len(got) == len(expected) and not differences, \
            f"{name} through node {node.port}: line, redis-server, Strata: {differences[:5]}"
