"""pubsub: PUBLISH to 10 subscribers. redis-benchmark publishes at -P 16 from 50 clients while
10 subscriber connections read every message; alternating Strata and Redis each round.

A run counts only if every subscriber received every message (a server that dropped messages
would look fast): the delivered share is reported with the throughput, and the server's CPU
time per PUBLISH (user + system, from /proc/PID/stat), since the 2-core machine also runs
redis-benchmark and the subscribers."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

from .. import rbench
from ..context import Context
from ..procs import HOST
from ..results import Result

NAME = "pubsub"
TITLE = "Pub/Sub: PUBLISH to 10 subscribers (redis-benchmark -P 16)"

SUBSCRIBERS = 10
REQUESTS = 1_000_000
CHANNEL = b"bench-channel"
PAYLOAD = b"hello-subscribers"
ARGS = ["-c", "50", "-P", "16"]
# One message as a subscriber receives it (RESP2): *3 $7 message $13 channel $17 payload.
MESSAGE_BYTES = len(b"*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                    % (len(CHANNEL), CHANNEL, len(PAYLOAD), PAYLOAD))


class Subscriber(threading.Thread):
    """One connection subscribed to CHANNEL that reads and counts every byte it gets."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.sock = socket.create_connection((HOST, port))
        self.sock.sendall(b"SUBSCRIBE " + CHANNEL + b"\r\n")
        confirmation = b"*3\r\n$9\r\nsubscribe\r\n$%d\r\n%s\r\n:1\r\n" % (len(CHANNEL), CHANNEL)
        got = b""
        while len(got) < len(confirmation):
            got += self.sock.recv(len(confirmation) - len(got))
        assert got == confirmation, got
        self.received = 0
        self.start()

    def run(self) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except OSError:
                return
            if not data:
                return
            self.received += len(data)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE)
    n = ctx.scale(REQUESTS)
    args = ["-n", str(n), *ARGS, "publish", CHANNEL.decode(), PAYLOAD.decode()]
    result.params = {"subscribers": SUBSCRIBERS, "requests": n, "payload_bytes": len(PAYLOAD)}
    result.command(rbench.display(args))
    result.note(f"{SUBSCRIBERS} subscriber connections (Python threads reading raw RESP) subscribe to "
                f"'{CHANNEL.decode()}' before each run and must receive all {SUBSCRIBERS} x requests "
                "messages; 'delivered' is the share they got within 30 s of the last reply.")
    result.note("CPU/publish: the server process's user+system time over the run, divided by the "
                "requests (it includes writing each message to 10 sockets).")
    servers = {"strata": ctx.strata("strata", optional=["--persistence", "no"]), "redis": ctx.redis("redis")}
    for rnd in range(1, ctx.rounds + 1):
        for system, server in servers.items():
            subscribers = [Subscriber(server.port) for _ in range(SUBSCRIBERS)]
            try:
                pid = server.pid()
                cpu0 = cpu_seconds(pid)
                rows = rbench.run(ctx.settings.redis_benchmark, server.port, args)
                expected = n * MESSAGE_BYTES
                deadline = time.monotonic() + 30
                while any(s.received < expected for s in subscribers) and time.monotonic() < deadline:
                    time.sleep(0.05)
                cpu = cpu_seconds(pid) - cpu0
                delivered = min(s.received for s in subscribers) / expected
            finally:
                for s in subscribers:
                    s.close()
            for row in rows:
                group = "PUBLISH to 10 subscribers -P 16"
                result.add(group, "rps", "req/s", system, row.rps, "higher", chart=True)
                result.add(group, "p50", "ms", system, row.p50_ms, "lower")
                result.add(group, "p99", "ms", system, row.p99_ms, "lower")
                result.add(group, "CPU/publish", "us", system, cpu / n * 1e6, "lower")
                result.add(group, "delivered", "share", system, delivered, "higher")
                ctx.log(f"  round {rnd}/{ctx.rounds} {system:6s} {row.rps:>11,.0f} req/s  "
                        f"p50 {row.p50_ms:.3f} ms  CPU {cpu / n * 1e6:.2f} us/publish  delivered {delivered:.4f}")
    ctx.stop_all()
    return result
