"""Fault injection for a ring of Strata nodes in proxy mode with the L3 (SQLite) tier on.

A *nemesis* thread injects one fault at a time (kill -9, SIGSTOP, graceful restart, adding a
node, removing a node) while *worker* threads send a mixed workload (SET, MSET, DEL, INCR,
EXPIRE, GET) each through a randomly chosen live node. Every operation is recorded; once the
nemesis has healed the ring, a *checker* reads every key back through every node. Used by
``test_ring_faults.py``; also runs on its own:

    python3 Tests/integration/ring_chaos.py --fsync always --seconds 60 [--seed N] [--dir D]

The workload
------------
Keys ``k:0 … k:1499`` hold strings, ``c:0 … c:59`` counters (INCR). Each key has exactly one
writer thread (key ``i`` belongs to worker ``i mod workers``), which is also the only thread
reading it: the operations on a key are sequential, so the checker can be exact. Keys
``a:0 … a:999`` are written once before the faults and never touched again: after a restart
their values are on disk only (cold), the case a handoff of cold keys must get right. Every
value written is unique (``<key>=<worker>.<sequence>``). TTLs are 3600 s: nothing expires during
a run. Each of the 4 workers sends at most 400 operations a second, so a run is bounded in
operations as in time (the ring runs on the same cores as the test).

Outcomes
--------
An operation is *acknowledged* when a reply came back that is not an error. Any error reply
(-CLUSTERDOWN, -TRYAGAIN, -LOADING, -ERR …), connection error or timeout makes its outcome
*unknown*: through a proxy even -CLUSTERDOWN can come after the owner applied the command, and a
request sitting in the socket of a stopped node is applied when the node resumes, possibly after
later writes of the same key. So a write of unknown outcome may take effect at any time after it
was sent, or never.

Checker rules (string keys)
---------------------------
The *admissible* states of a key are: the effect of its last acknowledged write (its value, or
no key after a DEL; no key if nothing was acknowledged), or the effect of any write of unknown
outcome of that key. A read that shows an admissible state is fine. Otherwise:

* **wrong**: the value is not one any operation ever wrote to the key (e.g. ``b""``);
* **lost** (final read): the last acknowledged write set a value, and the key is missing or
  holds the value of an *earlier* acknowledged write (a write was undone);
* **resurrected** (final read): the last acknowledged write was a DEL, and the key holds the
  value of an acknowledged write from before it;
* **stale** (during the run): a GET returned the value of an acknowledged write older than the
  last write acknowledged before the GET was sent, or a value while that write was a DEL;
* **missed** (during the run; reported, not asserted): a GET returned nil, or EXPIRE said the
  key does not exist, though the last acknowledged write set a value. docs/cluster.md documents
  this (a down node's keys, and keys on their way to a new owner, miss meanwhile); the value
  must be back at the end, or the key counts as lost;
* **ttl_wrong** (final read): a key with no operation of unknown outcome whose value is as
  expected, but whose TTL state (``TTL`` > 0 vs -1) differs from what its last acknowledged
  TTL-changing operation left: EXPIRE (reply 1) sets one, SET and MSET clear it (INCR keeps it);
* **disagree** (final read): the nodes do not all return the same value (after retrying for a
  few seconds, in case a handoff is still running).

Counters: with ``A`` acknowledged and ``U`` unknown INCRs sent before, an INCR reply must lie in
``[A+1, A+1+U]`` and the final value (nil is 0) in ``[A, A+U]``. Below that, the missing
increments were undone: **lost** at the end, **stale** during the run (or **missed** when the
reply is what a counter created afresh would give, ``≤ 1+U``); during the run only a growing
shortfall counts again, so one undo is not counted at every later INCR. Above that, or not an
integer: **wrong**. The undone increments are taken to be the ones acknowledged last before the
reply that first showed them missing (for the everysec allowance), else the most recent ones.

The final read is classified once per node; a key counts at most once per category. In-run
anomalies count once per read.

``l3-fsync everysec``: a kill -9 may lose the writes acknowledged in about the last flush interval
(docs/durability.md). A lost, stale, resurrected or ttl_wrong anomaly whose undone acknowledged
writes (or last TTL change) were all acknowledged within the ``KILL_WINDOW`` seconds before a
kill -9 of some node (or within ``REPLY_GRACE`` after it: a reply already on its way) counts
as **allowed_loss** instead. Under ``always`` nothing is allowed.
"""

from __future__ import annotations

import argparse
import binascii
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from conftest import HOST, free_port, strata_bin

NODE_TIMEOUT_MS = 1000
VALUE_KEYS = 1500
ARCHIVE_KEYS = 1000
COUNTER_KEYS = 60
WORKERS = 4
OPS_PER_SECOND_PER_WORKER = 400
CLIENT_TIMEOUT = 2.5
TTL_SECONDS = 3600
KILL_WINDOW = 1.5
# A reply already on its way when the kill was recorded arrives a moment after it.
REPLY_GRACE = 0.05
MIN_NODES, START_NODES, MAX_NODES = 3, 4, 5
# STRATA_CHAOS_FAULTS=kill9,stop limits the nemesis to some kinds (for figures per kind).
FAULTS = tuple(os.environ.get("STRATA_CHAOS_FAULTS", "kill9,stop,restart,add,remove").split(","))
OPERATION_WEIGHTS = {"get": 30, "set": 25, "incr": 15, "delete": 10, "mset": 10, "expire": 10}


# --------------------------------------------------------------------------
# The ring
# --------------------------------------------------------------------------


def client(port: int, timeout: float = CLIENT_TIMEOUT) -> redis.Redis:
    """A redis-py client that never retries on its own: a retry would hide an unknown outcome."""
    return redis.Redis(host=HOST, port=port, socket_timeout=timeout, socket_connect_timeout=timeout,
                       retry=Retry(NoBackoff(), 0))


def key_slot(key: str) -> int:
    """Redis Cluster's slot (no hash tag): CRC16/XMODEM, which is binascii's crc_hqx from 0."""
    return binascii.crc_hqx(key.encode(), 0) % 16384


class RingNode:
    """One strata-server of the ring: always the same port and directory, so a restart brings
    back the same ring member with its L3 file."""

    def __init__(self, directory: Path, port: int, fsync: str, extra: tuple = ()):
        self.port = port
        self.extra = [str(arg) for arg in extra]
        self.endpoint = f"{HOST}:{port}"
        self.dir = directory
        self.dir.mkdir(parents=True)
        self.log = self.dir / "log"
        self.fsync = fsync
        self.proc: subprocess.Popen | None = None
        self.admin = client(port, timeout=5)

    def start(self, members: str) -> None:
        """Starts the node with ``members`` as its cluster-nodes; returns once it answers PING
        (possibly while still loading its L3 file)."""
        args = [str(strata_bin()), "--port", str(self.port), "--bind", HOST, "--dir", str(self.dir),
                "--cluster-nodes", members, "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                "--l3-fsync", self.fsync, *self.extra]
        with open(self.log, "ab") as log:
            log.write(f"### start {time.strftime('%H:%M:%S')}: {' '.join(args)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if self.admin.ping():
                    return
            except redis.exceptions.RedisError:
                time.sleep(0.02)
        raise RuntimeError(f"node {self.endpoint} did not start; log {self.log}:\n"
                           f"{self.log.read_text(errors='replace')[-2000:]}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: nothing queued gets committed."""
        self.proc.kill()
        self.proc.wait()

    def terminate(self) -> None:
        """SIGTERM (graceful: commits what is queued), SIGKILL after 10 s."""
        if not self.running():
            return
        self.proc.send_signal(signal.SIGCONT)  # a stopped process would not act on SIGTERM
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def dbsize(self) -> int:
        """This node's own keys (DBSIZE and INFO keyspace count the whole ring in proxy mode)."""
        return int(self.admin.info("cluster")["cluster_node_keys"])


class Ring:
    """The members of the ring, their cluster-nodes list, and which of them clients may use."""

    def __init__(self, root: Path, count: int, fsync: str, extra: tuple = ()):
        """``extra``: more directives for every node (``--cluster-mode redirect``, ``--maxmemory``…)."""
        self.root = root
        self.fsync = fsync
        self.extra = extra
        self.created = 0
        self.members = [self.new_node() for _ in range(count)]
        self.former: list[RingNode] = []
        # What workers send to: members that are running and not stopped. Replaced as a whole.
        self.live: tuple[RingNode, ...] = ()

    def new_node(self) -> RingNode:
        """A node not started yet, with a directory of its own (a port may come back later)."""
        self.created += 1
        return RingNode(self.root / f"node{self.created}", free_port(), self.fsync, self.extra)

    def spec(self, members: list[RingNode] | None = None) -> str:
        return ",".join(node.endpoint for node in (self.members if members is None else members))

    def start(self) -> None:
        for node in self.members:
            node.start(self.spec())
        self.live = tuple(self.members)
        if not self.wait_healthy(20):
            raise RuntimeError(f"the ring of {len(self.members)} did not come up: {self.health()}")

    def stop(self) -> None:
        for node in self.members + self.former:
            node.terminate()

    def set_available(self, node: RingNode, available: bool) -> None:
        live = (set(self.live) - {node}) | ({node} if available else set())
        self.live = tuple(n for n in self.members if n in live)

    def health(self) -> str:
        """'ok', or why not: a member not running, loading, or seeing another one down."""
        for node in self.members:
            if not node.running():
                return f"{node.endpoint} not running"
            try:
                if node.admin.info("persistence")["loading"]:
                    return f"{node.endpoint} loading"
                info = node.admin.cluster("INFO")
            except redis.exceptions.RedisError as error:
                return f"{node.endpoint}: {error}"
            if int(info["cluster_nodes_down"]) or int(info["cluster_known_nodes"]) != len(self.members):
                return (f"{node.endpoint} sees {info['cluster_nodes_down']} down "
                        f"of {info['cluster_known_nodes']} (members {len(self.members)})")
        return "ok"

    def all_see_down(self, down: RingNode) -> bool:
        """Whether every other running member marks ``down`` failed. Each node checks health on
        its own, so one may route through a second that still forwards to the dead node."""
        return all("fail" in node.admin.cluster("NODES")[down.endpoint]["flags"]
                   for node in self.members if node is not down and node.running())

    def wait_healthy(self, timeout: float) -> bool:
        """Waits until every member runs, has loaded its L3 file, and sees every member up."""
        deadline = time.monotonic() + timeout
        while self.health() != "ok":
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def settle(self, quiet: float = 2.0, timeout: float = 15.0) -> None:
        """Lets handoffs finish: waits until no member's DBSIZE changed for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        sizes, since = None, time.monotonic()
        while time.monotonic() < deadline:
            now_sizes = [node.dbsize() for node in self.members]
            if now_sizes != sizes:
                sizes, since = now_sizes, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.25)

    def add_node(self) -> RingNode:
        """Starts a node whose list already names everyone and itself, then tells the others, and
        waits until the keys have moved (an operator starts the next change after that)."""
        node = self.new_node()
        members = self.members + [node]
        node.start(self.spec(members))
        for other in self.members:
            other.admin.config_set("cluster-nodes", self.spec(members))
        self.members = members
        self.set_available(node, True)
        self.wait_handed_over(20)
        return node

    def wait_handed_over(self, timeout: float) -> bool:
        """Waits until no member is handing keys over (INFO cluster_handover_in_progress:0)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if not any(int(node.admin.info("cluster")["cluster_handover_in_progress"]) for node in self.members):
                    return True
            except redis.exceptions.RedisError:
                pass
            time.sleep(0.05)
        return False

    def remove_node(self, node: RingNode, handoff_timeout: float) -> tuple[int, str | None]:
        """Takes ``node`` out of every list, waits (up to ``handoff_timeout``) until it has handed
        its keys over, then stops it. Returns the keys it still held, and the error with which
        it refused the new list, if it did.

        The node is given the new list too. When this was written, strata accepted a list that
        does not name the node itself but ignored it (ClusterRouter.apply): the removed node
        handed nothing over, the keys it owned were lost, and the checker reported them."""
        self.set_available(node, False)
        self.members = [n for n in self.members if n is not node]
        for other in self.members:
            other.admin.config_set("cluster-nodes", self.spec())
        refused = None
        try:
            node.admin.config_set("cluster-nodes", self.spec())
        except redis.exceptions.ResponseError as error:
            refused = str(error)
        deadline = time.monotonic() + handoff_timeout
        while (left := node.dbsize()) and time.monotonic() < deadline:
            time.sleep(0.1)
        node.terminate()
        self.wait_handed_over(handoff_timeout)
        self.former.append(node)
        return left, refused

    def owners(self) -> dict[int, RingNode]:
        """Slot → member serving it, from CLUSTER SLOTS of the first member."""
        by_port = {node.port: node for node in self.members}
        owners = {}
        for start, end, (_host, port, *_), *_ in self.members[0].admin.execute_command("CLUSTER SLOTS"):
            for slot in range(start, end + 1):
                owners[slot] = by_port[port]
        return owners

    def keys_owned_by(self, node: RingNode, count: int, prefix: str = "key") -> list[str]:
        owners = self.owners()
        names = (f"{prefix}:{i}" for i in itertools.count())
        return list(itertools.islice((name for name in names if owners[key_slot(name)] is node), count))


# --------------------------------------------------------------------------
# The checker's model of each key
# --------------------------------------------------------------------------


class Anomaly:
    """A read that showed an inadmissible state. ``undone``: acknowledgement times of the
    acknowledged writes it contradicts (for the everysec allowance)."""

    __slots__ = ("category", "key", "observed", "expected", "undone", "at", "node", "history")

    def __init__(self, category, key, observed, expected, undone, at, node, history=()):
        self.category, self.key, self.observed, self.expected = category, key, observed, expected
        self.undone, self.at, self.node = undone, at, node
        self.history = list(history)

    def describe(self, t0: float) -> dict:
        """The anomaly, with the key's last operations (time, node, command, outcome)."""
        return {"category": self.category, "key": self.key, "observed": _text(self.observed),
                "expected": _text(self.expected), "at": round(self.at - t0, 3), "node": self.node,
                "undone_acked_at": [round(t - t0, 3) for t in self.undone[-5:]],
                "history": [f"{t - t0:.3f} {node} {op} -> {outcome}" for t, node, op, outcome in self.history[-60:]]}


def _text(value):
    return value.decode(errors="replace") if isinstance(value, bytes) else value


class ValueKey:
    """A string key: its acknowledged writes in order, and the values of its writes of
    unknown outcome (``None`` stands for a DEL)."""

    __slots__ = ("name", "acked", "position", "last_delete", "unknown", "ttl", "ttl_acked_at", "certain", "history")

    def __init__(self, name: str):
        self.name = name
        self.history: list[tuple] = []
        self.acked: list[tuple[bytes | None, float]] = []
        self.position: dict[bytes, int] = {}
        self.last_delete = -1
        self.unknown: set[bytes | None] = set()
        self.ttl = False
        self.ttl_acked_at = 0.0
        self.certain = True

    @property
    def expected(self) -> bytes | None:
        return self.acked[-1][0] if self.acked else None

    def acknowledged(self, value: bytes | None, at: float) -> None:
        if value is None:
            self.last_delete = len(self.acked)
        else:
            self.position[value] = len(self.acked)
        self.acked.append((value, at))
        self.ttl, self.ttl_acked_at = False, at

    def maybe(self, value: bytes | None) -> None:
        self.unknown.add(value)
        self.certain = False

    def judge(self, observed: bytes | None, final: bool, at: float, node: str) -> Anomaly | None:
        expected = self.expected
        if observed == expected or observed in self.unknown:
            return None
        if observed is not None and observed not in self.position:
            return Anomaly("wrong", self.name, observed, expected, [], at, node, self.history)
        since = self.last_delete if observed is None else self.position[observed]
        undone = [acked_at for _, acked_at in self.acked[since + 1:]]
        if not final:
            category = "missed" if observed is None else "stale"
        else:
            category = "lost" if expected is not None else "resurrected"
        return Anomaly(category, self.name, observed, expected, undone, at, node, self.history)


class CounterKey:
    """A counter: when its INCRs were acknowledged, and how many had an unknown outcome."""

    __slots__ = ("name", "acked", "unknown", "shortfall", "excess", "history", "undone")

    def __init__(self, name: str):
        self.name = name
        self.history: list[tuple] = []
        # When the INCRs a reply showed undone were acknowledged (a kill -9 under everysec loses
        # the last second's): the final check blames these, not the latest INCRs.
        self.undone: list[float] = []
        self.acked: list[float] = []
        self.unknown = 0
        self.shortfall = 0
        self.excess = 0

    def judge_reply(self, reply: int, at: float, node: str) -> Anomaly | None:
        """Checks an acknowledged INCR's reply, then counts the INCR as acknowledged."""
        low = len(self.acked) + 1
        anomaly = None
        if reply < low:
            if low - reply > self.shortfall:
                # Only the increments this reply newly shows missing: an earlier shortfall was
                # judged when it appeared.
                newly = self.acked[max(0, len(self.acked) - (low - reply - self.shortfall)):]
                self.undone += newly
                category = "missed" if reply <= 1 + self.unknown else "stale"
                anomaly = Anomaly(category, self.name, reply, low, newly, at, node, self.history)
            self.shortfall, self.excess = low - reply, 0
        elif reply > low + self.unknown:
            if reply - low - self.unknown > self.excess:
                anomaly = Anomaly("wrong", self.name, reply, low, [], at, node, self.history)
            self.shortfall, self.excess = 0, reply - low - self.unknown
        else:
            self.shortfall = self.excess = 0
        self.acked.append(at)
        return anomaly

    def judge_final(self, observed: bytes | None, at: float, node: str) -> Anomaly | None:
        low = len(self.acked)
        try:
            value = int(observed) if observed is not None else 0
        except ValueError:
            return Anomaly("wrong", self.name, observed, low, [], at, node, self.history)
        if value < low:
            deficit = low - value
            undone = self.undone[-deficit:]
            undone += self.acked[max(0, len(self.acked) - (deficit - len(undone))):] if deficit > len(undone) else []
            return Anomaly("lost", self.name, value, low, undone, at, node, self.history)
        if value > low + self.unknown:
            return Anomaly("wrong", self.name, value, low, [], at, node, self.history)
        return None


# --------------------------------------------------------------------------
# Workload
# --------------------------------------------------------------------------


class Worker(threading.Thread):
    """Sends operations on its own keys, each through a random live node, and judges every
    reply that reads something."""

    def __init__(self, index: int, ring: Ring, values: list[ValueKey], counters: list[CounterKey],
                 seed: int, stop: threading.Event):
        super().__init__(name=f"worker-{index}", daemon=True)
        self.index = index
        self.ring = ring
        self.values = values
        self.counters = counters
        self.rng = random.Random(seed)
        self.stop_event = stop
        self.clients: dict[RingNode, redis.Redis] = {}
        self.sequence = 0
        self.operations = Counter()
        self.acked = 0
        self.unknown = 0
        self.errors = Counter()
        self.anomalies: list[Anomaly] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        kinds, weights = zip(*OPERATION_WEIGHTS.items())
        interval = 1.0 / OPS_PER_SECOND_PER_WORKER
        next_at = time.monotonic()
        try:
            while not self.stop_event.is_set():
                node = self.rng.choice(self.ring.live)
                kind = self.rng.choices(kinds, weights)[0]
                getattr(self, kind)(node)
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    next_at = time.monotonic()
        except BaseException as error:  # reported by the caller, which would otherwise not know
            self.error = error

    def call(self, node: RingNode, *args, keys=()):
        """Runs one command: (True, reply) if acknowledged, (False, None) if its outcome is unknown.
        Records it in the history of each of ``keys``."""
        c = self.clients.get(node)
        if c is None:
            c = self.clients[node] = client(node.port)
        self.operations[args[0]] += 1
        sent = time.monotonic()
        try:
            reply = c.execute_command(*args)
            for key in keys:
                key.history.append((sent, node.endpoint, " ".join(str(_text(a)) for a in args[:3]), _text(reply)))
        except (redis.exceptions.RedisError, OSError) as error:
            for key in keys:
                key.history.append((sent, node.endpoint, " ".join(str(_text(a)) for a in args[:3]), f"unknown: {error}"[:80]))
            self.unknown += 1
            name = type(error).__name__
            if type(error) is redis.exceptions.ResponseError:
                name += ":" + str(error).split(" ")[0]
            self.errors[name] += 1
            return False, None
        self.acked += 1
        return True, reply

    def new_value(self, key: ValueKey) -> bytes:
        self.sequence += 1
        return f"{key.name}={self.index}.{self.sequence}".encode()

    def note(self, anomaly: Anomaly | None) -> None:
        if anomaly is not None:
            self.anomalies.append(anomaly)

    def get(self, node: RingNode) -> None:
        key = self.rng.choice(self.values)
        ok, reply = self.call(node, "GET", key.name, keys=[key])
        if ok:
            self.note(key.judge(reply, False, time.monotonic(), node.endpoint))

    def set(self, node: RingNode) -> None:
        key = self.rng.choice(self.values)
        value = self.new_value(key)
        ok, _ = self.call(node, "SET", key.name, value, keys=[key])
        key.acknowledged(value, time.monotonic()) if ok else key.maybe(value)

    def mset(self, node: RingNode) -> None:
        keys = self.rng.sample(self.values, self.rng.randint(2, 3))
        values = [self.new_value(key) for key in keys]
        args = ["MSET"]
        for key, value in zip(keys, values):
            args += [key.name, value]
        ok, _ = self.call(node, *args, keys=keys)
        at = time.monotonic()
        for key, value in zip(keys, values):
            key.acknowledged(value, at) if ok else key.maybe(value)

    def delete(self, node: RingNode) -> None:
        key = self.rng.choice(self.values)
        ok, _ = self.call(node, "DEL", key.name, keys=[key])
        key.acknowledged(None, time.monotonic()) if ok else key.maybe(None)

    def expire(self, node: RingNode) -> None:
        """EXPIRE of a key that should exist (its reply says whether it does); a GET if the key
        drawn should not."""
        key = self.rng.choice(self.values)
        if key.expected is None:
            return self.get(node)
        ok, reply = self.call(node, "EXPIRE", key.name, TTL_SECONDS, keys=[key])
        at = time.monotonic()
        if not ok:
            key.certain = False
        elif reply:
            key.ttl, key.ttl_acked_at = True, at
        else:
            self.note(key.judge(None, False, at, node.endpoint))

    def incr(self, node: RingNode) -> None:
        key = self.rng.choice(self.counters)
        ok, reply = self.call(node, "INCR", key.name, keys=[key])
        if ok:
            self.note(key.judge_reply(reply, time.monotonic(), node.endpoint))
        else:
            key.unknown += 1


# --------------------------------------------------------------------------
# Nemesis
# --------------------------------------------------------------------------


class Nemesis(threading.Thread):
    """One fault at a time, each healed (every member running and seen up by every member)
    before a pause and the next. The first five faults are the five kinds in a seeded order, so
    even a short run has each; then kinds are drawn at random. Membership stays within
    MIN_NODES…MAX_NODES: an add at the maximum becomes a remove and vice versa."""

    def __init__(self, ring: Ring, seed: int, seconds: float, t0: float):
        super().__init__(name="nemesis", daemon=True)
        self.ring = ring
        self.rng = random.Random(seed)
        self.seconds = seconds
        self.t0 = t0
        self.faults: list[dict] = []
        self.kills: list[float] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        plan = list(FAULTS)
        self.rng.shuffle(plan)
        deadline = time.monotonic() + self.seconds
        try:
            while time.monotonic() < deadline:
                kind = plan.pop(0) if plan else self.rng.choice(FAULTS)
                if kind == "add" and len(self.ring.members) >= MAX_NODES:
                    kind = "remove"
                elif kind == "remove" and len(self.ring.members) <= MIN_NODES:
                    kind = "add"
                started = time.monotonic()
                record = {"fault": kind, "at": round(started - self.t0, 2)}
                record.update(getattr(self, kind)())
                healthy = self.ring.wait_healthy(20)
                record["healed_after"] = round(time.monotonic() - started, 2)
                if not healthy:
                    record["not_healed"] = self.ring.health()
                self.faults.append(record)
                print(f"  nemesis {record}", flush=True)
                time.sleep(self.rng.uniform(0.5, 1.5))
        except BaseException as error:  # reported by the caller
            self.error = error

    def victim(self) -> RingNode:
        return self.rng.choice(self.ring.members)

    def kill9(self) -> dict:
        node, down = self.victim(), self.rng.uniform(1.5, 2.5)
        self.ring.set_available(node, False)
        self.kills.append(time.monotonic())
        node.kill()
        time.sleep(down)
        node.start(self.ring.spec())
        self.ring.set_available(node, True)
        return {"node": node.endpoint, "down": round(down, 2)}

    def stop(self) -> dict:
        node, paused = self.victim(), self.rng.uniform(1.5, 2.5)
        self.ring.set_available(node, False)
        node.pause()
        time.sleep(paused)
        node.resume()
        self.ring.set_available(node, True)
        return {"node": node.endpoint, "stopped": round(paused, 2)}

    def restart(self) -> dict:
        node = self.victim()
        self.ring.set_available(node, False)
        node.terminate()
        node.start(self.ring.spec())
        self.ring.set_available(node, True)
        return {"node": node.endpoint}

    def add(self) -> dict:
        return {"node": self.ring.add_node().endpoint, "members": len(self.ring.members)}

    def remove(self) -> dict:
        node = self.victim()
        left, refused = self.ring.remove_node(node, handoff_timeout=5)
        record = {"node": node.endpoint, "members": len(self.ring.members), "keys_not_handed_over": left}
        if refused:
            record["refused_own_list"] = refused
        return record


# --------------------------------------------------------------------------
# A run
# --------------------------------------------------------------------------


def each(node: RingNode, command: str, names: list[str]) -> list:
    """``command key`` for every key, pipelined through ``node``. (One GET per key rather than
    MGET: a read here should show what is stored, not test the splitting of MGET.)"""
    pipe = node.admin.pipeline(transaction=False)
    for name in names:
        pipe.execute_command(command, name)
    return pipe.execute()


def final_reads(ring: Ring, names: list[str], rounds: int = 6) -> dict[str, list]:
    """Every key through every member; rereads while they disagree (a handoff may still be
    running), at most ``rounds`` times a second apart."""
    for attempt in range(rounds):
        reads = {node.endpoint: each(node, "GET", names) for node in ring.members}
        columns = list(reads.values())
        if all(column == columns[0] for column in columns) or attempt == rounds - 1:
            return reads
        time.sleep(1)


def run_chaos(root: Path, fsync: str, seconds: float, seed: int) -> dict:
    """One run: start the ring, load every key, run workers and nemesis for ``seconds``, heal,
    check. Returns the report (``report["line"]`` is the one-line summary)."""
    print(f"ring-faults: fsync={fsync} seconds={seconds} seed={seed} "
          f"(STRATA_CHAOS_SEED={seed} replays the fault schedule) dir={root}", flush=True)
    values = [ValueKey(f"k:{i}") for i in range(VALUE_KEYS)]
    archive = [ValueKey(f"a:{i}") for i in range(ARCHIVE_KEYS)]
    counters = [CounterKey(f"c:{i}") for i in range(COUNTER_KEYS)]
    ring = Ring(root, START_NODES, fsync)
    stop = threading.Event()
    workers: list[Worker] = []
    try:
        ring.start()
        t0 = time.monotonic()
        loader = ring.members[0].admin
        preloaded = values + archive
        for i in range(0, len(preloaded), 100):
            batch = preloaded[i:i + 100]
            loader.mset({key.name: f"{key.name}=init".encode() for key in batch})
            for key in batch:
                key.acknowledged(f"{key.name}=init".encode(), time.monotonic())
        workers = [Worker(w, ring, values[w::WORKERS], counters[w::WORKERS], seed * 100 + w, stop)
                   for w in range(WORKERS)]
        nemesis = Nemesis(ring, seed, seconds, t0)
        for thread in workers + [nemesis]:
            thread.start()
        nemesis.join()
        time.sleep(1)
        stop.set()
        for worker in workers:
            worker.join(CLIENT_TIMEOUT * 4)
        for thread in workers + [nemesis]:
            if thread.error is not None:
                raise RuntimeError(f"{thread.name} failed") from thread.error
        if not ring.wait_healthy(30):
            raise RuntimeError(f"the ring did not heal: {ring.health()}")
        ring.settle()
        report = check(ring, values + archive, counters, workers, nemesis, fsync, t0)
    finally:
        stop.set()
        ring.stop()
    report.update(seed=seed, fsync=fsync, seconds=seconds, dir=str(root))
    return report


def check(ring: Ring, values: list[ValueKey], counters: list[CounterKey], workers: list[Worker],
          nemesis: Nemesis, fsync: str, t0: float) -> dict:
    at = time.monotonic()
    anomalies = [a for worker in workers for a in worker.anomalies]
    final: dict[str, dict[str, Anomaly]] = {}  # category → key → first anomaly seen

    def keep(anomaly: Anomaly | None) -> None:
        if anomaly is not None:
            final.setdefault(anomaly.category, {}).setdefault(anomaly.key, anomaly)

    names = [key.name for key in values] + [key.name for key in counters]
    reads = final_reads(ring, names)
    columns = list(reads.values())
    disagree = [name for i, name in enumerate(names) if len({column[i] for column in columns}) > 1]
    for endpoint, column in reads.items():
        for key, observed in zip(values, column):
            keep(key.judge(observed, True, at, endpoint))
        for key, observed in zip(counters, column[len(values):]):
            keep(key.judge_final(observed, at, endpoint))
    # TTLs of the keys whose value is certain and as expected.
    settled = [key for i, key in enumerate(values)
               if key.certain and key.expected is not None and all(column[i] == key.expected for column in columns)]
    for node in ring.members:
        for key, ttl in zip(settled, each(node, "TTL", [key.name for key in settled])):
            if (ttl > 0) != key.ttl:
                keep(Anomaly("ttl_wrong", key.name, ttl, "> 0" if key.ttl else -1, [key.ttl_acked_at],
                             at, node.endpoint))
    anomalies += [a for by_key in final.values() for a in by_key.values()]

    def allowed(anomaly: Anomaly) -> bool:
        return (fsync == "everysec" and anomaly.category in ("lost", "stale", "resurrected", "ttl_wrong")
                and bool(anomaly.undone)
                and all(any(k - KILL_WINDOW <= t <= k + REPLY_GRACE for k in nemesis.kills) for t in anomaly.undone))

    counts = Counter({category: 0 for category in ("lost", "stale", "wrong", "resurrected", "ttl_wrong", "missed")})
    examples: dict[str, list] = {}
    allowed_loss = 0
    for anomaly in anomalies:
        if allowed(anomaly):
            allowed_loss += 1
            continue
        counts[anomaly.category] += 1
        if len(examples.setdefault(anomaly.category, [])) < 8:
            examples[anomaly.category].append(anomaly.describe(t0))
    counts["disagree"] = len(disagree)
    faults = Counter(record["fault"] for record in nemesis.faults)
    operations = sum((worker.operations for worker in workers), Counter())
    acked = sum(worker.acked for worker in workers)
    unknown = sum(worker.unknown for worker in workers)
    line = (f"ring-faults fsync={fsync} faults={','.join(f'{kind}:{faults[kind]}' for kind in FAULTS)} "
            f"ops={acked + unknown} acked={acked} unknown={unknown} lost={counts['lost']} "
            f"stale={counts['stale']} wrong={counts['wrong']} resurrected={counts['resurrected']} "
            f"ttl_wrong={counts['ttl_wrong']} disagree={counts['disagree']} missed={counts['missed']} "
            f"allowed_loss={allowed_loss}")
    return {
        "line": line,
        "counts": dict(counts),
        "allowed_loss": allowed_loss,
        "operations": dict(operations),
        "acked": acked,
        "unknown": unknown,
        "errors": dict(sum((worker.errors for worker in workers), Counter()).most_common()),
        "faults": nemesis.faults,
        "kills_at": [round(k - t0, 3) for k in nemesis.kills],
        "members_at_end": [node.endpoint for node in ring.members],
        "examples": examples,
        "disagree_examples": [{"key": name, "reads": {e: _text(reads[e][names.index(name)]) for e in reads}}
                              for name in disagree[:8]],
    }


def failures(report: dict) -> dict:
    """The counts that must be zero (everything but ``missed``; ``allowed_loss`` is apart)."""
    return {category: n for category, n in report["counts"].items() if category != "missed" and n}


def print_report(report: dict) -> None:
    print(report["line"], flush=True)
    print(f"  errors (unknown outcomes): {report['errors']}")
    for category, examples in report["examples"].items():
        for example in examples[:3]:
            print(f"  e.g. {example}")
    for example in report["disagree_examples"][:3]:
        print(f"  e.g. disagree {example}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fsync", choices=("always", "everysec"), default="always")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int,
                        default=int(os.environ.get("STRATA_CHAOS_SEED") or random.randrange(2**32)))
    parser.add_argument("--dir", type=Path,
                        help="where the nodes keep their files (default: a new temporary directory)")
    options = parser.parse_args()
    root = options.dir or Path(tempfile.mkdtemp(prefix="ring-chaos-"))
    report = run_chaos(root, options.fsync, options.seconds, options.seed)
    (root / "report.json").write_text(json.dumps(report, indent=2))
    print_report(report)
    print(f"  report: {root / 'report.json'}")
    return 1 if failures(report) else 0


if __name__ == "__main__":
    sys.exit(main())
