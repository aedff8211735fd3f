#!/usr/bin/env python3
"""Operating a ring of Strata nodes with L3 on: how long a failover and a resize take.

    python3 bench/ring_ops.py failover [--rounds 5]
        3 proxy-mode nodes (--cluster-node-timeout 1000); kill -9 one; time until a key it owned
        is written and read through another node again (the ring serves its slots elsewhere),
        then until the node, restarted, serves its own slots again with the keys written
        meanwhile handed back.

    python3 bench/ring_ops.py resize [--keys 1000000] [--maxmemory 20mb]
        2 proxy-mode nodes, --maxmemory small enough that most values live only in L3; load the
        keys with redis-cli --pipe, add a third node (CONFIG SET cluster-nodes on every node);
        time until no node is handing keys over, and the rate; then check a sample of values.

Uses .build/release/strata-server (STRATA_BIN overrides) and only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import redis

BIN = os.environ.get("STRATA_BIN", str(Path(__file__).resolve().parents[1] / ".build/release/strata-server"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, root: Path, port: int, *args: str):
        self.port, self.dir, self.args = port, root / str(port), list(args)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None

    def start(self, members: str) -> "Node":
        self.proc = subprocess.Popen([BIN, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                                      "--cluster-nodes", members, *self.args],
                                     stdout=open(self.dir / "log", "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except redis.RedisError:
                time.sleep(0.02)
        raise RuntimeError(f"node {self.port} did not start")

    def client(self, timeout: float = 60) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=timeout)

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
            self.proc.wait()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"


def owned_key(client: redis.Redis, port: int, prefix: str) -> str:
    """A key whose slot `port` serves (CLUSTER SLOTS)."""
    ranges = [(start, end) for start, end, (_, owner, *_), *_ in client.execute_command("CLUSTER SLOTS") if owner == port]
    for i in range(100_000):
        slot = client.execute_command("CLUSTER KEYSLOT", f"{prefix}{i}")
        if any(start <= slot <= end for start, end in ranges):
            return f"{prefix}{i}"
    raise RuntimeError("no key found")


def failover(rounds: int) -> None:
    served, returned = [], []
    for round_ in range(rounds):
        root = Path(tempfile.mkdtemp(prefix="ring-failover-"))
        nodes = [Node(root, free_port(), "--cluster-node-timeout", "1000") for _ in range(3)]
        members = ",".join(n.endpoint for n in nodes)
        for node in nodes:
            node.start(members)
        first, _, victim = nodes
        c = first.client(timeout=5)
        key = owned_key(c, victim.port, f"f{round_}:")
        c.set(key, "before")
        victim.stop(kill=True)
        killed = time.monotonic()
        while True:
            try:
                if c.set(key, "during"):
                    break
            except redis.RedisError:
                time.sleep(0.005)
        served.append(time.monotonic() - killed)
        victim.start(members)
        started = time.monotonic()
        v = victim.client(timeout=5)
        while v.info("cluster")["cluster_local_state"] != "serving" or v.get(key) != b"during":
            time.sleep(0.005)
        returned.append(time.monotonic() - started)
        for node in nodes:
            node.stop()
        shutil.rmtree(root, ignore_errors=True)
        print(f"round {round_ + 1}: served elsewhere after {served[-1] * 1000:.0f} ms; "
              f"restarted node serving its slots, the interim write handed back, after {returned[-1] * 1000:.0f} ms")
    print(f"failover, median of {rounds}: served elsewhere {statistics.median(served) * 1000:.0f} ms after kill -9 "
          f"(cluster-node-timeout 1000); returned node serving {statistics.median(returned) * 1000:.0f} ms after start")


def resize(keys: int, maxmemory: str) -> None:
    root = Path(tempfile.mkdtemp(prefix="ring-resize-"))
    nodes = [Node(root, free_port(), "--maxmemory", maxmemory, "--cluster-node-timeout", "2000") for _ in range(3)]
    two = ",".join(n.endpoint for n in nodes[:2])
    three = ",".join(n.endpoint for n in nodes)
    for node in nodes[:2]:
        node.start(two)
    value = lambda i: b"%08d" % i * 12  # 96 bytes
    proto = bytearray()
    for i in range(keys):
        k, v = b"key:%d" % i, value(i)
        proto += b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v)
    started = time.monotonic()
    subprocess.run(["redis-cli", "-p", str(nodes[0].port), "--pipe"], input=bytes(proto), capture_output=True, check=True)
    print(f"loaded {keys} keys through node 1 in {time.monotonic() - started:.1f} s")
    time.sleep(2)
    clients = [n.client() for n in nodes[:2]]
    for c in clients:
        info = c.info()
        cold = info["l3_index_keys"]
        print(f"  node: {c.dbsize()} keys, {cold} only in L3 ({cold / max(1, c.dbsize()):.0%}), used_memory {info['used_memory']}")
    nodes[2].start(three)
    clients.append(nodes[2].client())
    started = time.monotonic()
    for c in clients[:2]:
        c.config_set("cluster-nodes", three)
    while True:
        busy = [int(c.info("cluster")["cluster_handover_in_progress"]) for c in clients[:2]]
        if time.monotonic() - started > 1 and not any(busy):
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    moved = sum(int(c.info("cluster")["cluster_handed_over_keys"]) for c in clients[:2])
    print(f"resize 2 -> 3 nodes: {moved} keys moved in {elapsed:.1f} s = {moved / elapsed:,.0f} keys/s; "
          f"keys per node {[c.dbsize() for c in clients]}")
    sample = random.sample(range(keys), 5000)
    got = clients[0].mget([f"key:{i}" for i in sample])
    wrong = sum(1 for i, v in zip(sample, got) if v != value(i))
    print(f"  {len(sample)} random keys read back through node 1: {wrong} wrong or missing")
    for node in nodes:
        node.stop()
    shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    f = sub.add_parser("failover")
    f.add_argument("--rounds", type=int, default=5)
    r = sub.add_parser("resize")
    r.add_argument("--keys", type=int, default=1_000_000)
    r.add_argument("--maxmemory", default="20mb")
    args = parser.parse_args()
    if args.what == "failover":
        failover(args.rounds)
    else:
        resize(args.keys, args.maxmemory)


if __name__ == "__main__":
    main()
