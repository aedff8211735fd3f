"""A network fuzzer aimed at the running binary: random and mutated RESP, huge and negative
counts and lengths, deep nesting, long inline lines, partial frames and connection resets, many
connections at once.

After every case a control connection must still get PONG and read back the keys written before
the fuzzing began (none lost); at the end the server must be running with its RSS within 100 MB
of where it started. ``FUZZ_SECONDS`` (default 8) sets how long it runs, ``FUZZ_SEED`` replays a
run (the seed is printed).
"""

from __future__ import annotations

import os
import random
import socket
import struct
import time

from conftest import HOST

VALID = [
    b"*3\r\n$3\r\nSET\r\n$3\r\nfoo\r\n$3\r\nbar\r\n",
    b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n",
    b"PING\r\n",
    b"*1\r\n$4\r\nPING\r\n",
    b"*4\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
    b"*2\r\n$4\r\nINCR\r\n$3\r\ncnt\r\n",
    b"*1\r\n$5\r\nMULTI\r\n",
    b"*1\r\n$4\r\nEXEC\r\n",
    b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n",
    b"*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$4\r\nfuzz\r\n",
    b"SET inline \"quoted \\x41 value\"\r\n",
    b"*2\r\n$4\r\nKEYS\r\n$1\r\n*\r\n",
]
HUGE = [
    b"*99999999999999999999999\r\n", b"*9223372036854775807\r\n", b"*-9223372036854775808\r\n",
    b"*1\r\n$9223372036854775807\r\n", b"*1\r\n$-5\r\n", b"*-1\r\n", b"*0\r\n", b"*1\r\n$99999999999\r\n",
    b"*1048577\r\n", b"*1\r\n$536870913\r\n", b"$5\r\nhello\r\n", b"*1\r\n:1\r\n", b"*2\r\n$3\r\nGET\r\n*1\r\n",
    b"*1\r\n$3\r\nabc", b"*abc\r\n", b"*1\r\n$abc\r\n", b"*1\r\n$3\r\nabcXY", b"*\r\n", b"$\r\n",
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if not out:
            out += bytes([rng.randrange(256)])
        elif choice < 0.3:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        elif choice < 0.5:
            del out[rng.randrange(len(out)):]
        elif choice < 0.7:
            at = rng.randrange(len(out))
            out[at:at] = rng.choice([b"\r\n", b"*", b"$", b"-1", b"99999999999", b"\x00", b"\n"])
        else:
            at = rng.randrange(len(out))
            out[at:at] = out[:rng.randrange(len(out)) + 1]
    return bytes(out)


def case(rng: random.Random) -> tuple[str, list[bytes], str]:
    """One connection's input as pieces (sent with pauses), and how it ends: close or reset."""
    kind = rng.choice(["random", "mutated", "huge", "nested", "inline", "pipeline", "partial"])
    if kind == "random":
        data = os.urandom(rng.randint(1, 4096))
    elif kind == "mutated":
        data = b"".join(mutate(rng, rng.choice(VALID)) for _ in range(rng.randint(1, 20)))
    elif kind == "huge":
        data = rng.choice(HUGE) + rng.choice(VALID)
    elif kind == "nested":
        depth = rng.randint(2, 100_000)
        data = b"*1\r\n" * depth + b"$4\r\nPING\r\n"
    elif kind == "inline":
        data = b"GET " + b"a" * rng.choice([10, 70_000, 200_000]) + rng.choice([b"\r\n", b""])
    elif kind == "pipeline":
        data = b"".join(rng.choice(VALID) for _ in range(rng.randint(10, 2000)))
    else:
        whole = b"".join(rng.choice(VALID) for _ in range(5))
        data = whole[:rng.randrange(1, len(whole))]
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 5)))) if len(data) > 1 else []
    pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    return kind, pieces, rng.choice(["close", "reset", "read"])


def run_case(port: int, pieces: list[bytes], ending: str) -> None:
    sock = socket.create_connection((HOST, port), timeout=2)
    try:
        for piece in pieces:
            sock.sendall(piece)
        if ending == "read":
            sock.settimeout(0.2)  # the server may rightly wait for the rest of a frame
            try:
                while sock.recv(65536):
                    pass
            except (socket.timeout, ConnectionResetError):
                pass
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed on a protocol error: allowed
    finally:
        if ending == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def test_network_fuzz_loses_nothing_and_stays_bounded(server_factory):
    seed = int(os.environ.get("FUZZ_SEED") or random.randrange(2**32))
    seconds = float(os.environ.get("FUZZ_SECONDS", 8))
    rng = random.Random(seed)
    server = server_factory()
    control = server.redis_py()
    sentinels = {f"sentinel:{i}": os.urandom(32) for i in range(200)}
    control.mset(sentinels)
    baseline = rss(server.proc.pid)
    kinds: dict[str, int] = {}
    cases = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        kind, pieces, ending = case(rng)
        kinds[kind] = kinds.get(kind, 0) + 1
        # Several at once now and then: they share event loops.
        batch = [(pieces, ending)] + [case(rng)[1:] for _ in range(rng.choice([0, 0, 0, 5]))]
        for p, e in batch:
            run_case(server.port, p, e)
        cases += len(batch)
        assert server.alive(), f"the server died on a {kind} case (seed {seed})"
        assert control.ping(), f"no PONG after a {kind} case (seed {seed})"
    lost = sum(1 for key, value in zip(sentinels, control.mget(list(sentinels))) if value != sentinels[key])
    peak = rss(server.proc.pid)
    print(f"network fuzz: seed {seed}, {cases} connections ({kinds}), lost {lost} of {len(sentinels)} keys, "
          f"RSS {baseline >> 20} MB -> {peak >> 20} MB")
    assert lost == 0
    # (Under a sanitizer, make sanitize, quarantine and shadow memory inflate RSS.)
    assert os.environ.get("STRATA_SANITIZED") or peak - baseline < 100 << 20, f"RSS grew by {(peak - baseline) >> 20} MB (seed {seed})"
    assert server.alive()
