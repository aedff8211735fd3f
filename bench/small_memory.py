"""Memory per key of small objects only: the 100k small hashes of scenario 'types' (hash10) and,
for comparison, 10-byte string keys (string10), sets of 10 members (set10) and sorted sets of 10
members (zset10); each load on a fresh strata-server and redis-server, used_memory and VmRSS
deltas per key. A few seconds a load, where `bench/run.py --scenario types` takes minutes.

    python3 bench/small_memory.py .build/release/strata-server [hash10 string10 set10 zset10]

N=10000 in the environment loads fewer keys; REDIS_SERVER names another redis-server."""
import os, socket, subprocess, sys, time, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib.scenarios.types import object_fields, object_key_of
from benchlib.resp import encode

N = int(os.environ.get("N", "100000"))

def loads():
    return {
        "hash10": lambda i: (b"HSET", object_key_of(i), *object_fields(i)),
        "string10": lambda i: (b"SET", b"k:%08d" % i, b"v"),          # 10-byte key, 1-byte value
        "set10": lambda i: (b"SADD", object_key_of(i), *[b"member:%d" % (i * 10 + j) for j in range(10)]),
        "zset10": lambda i: (b"ZADD", object_key_of(i), *[x for j in range(10) for x in (b"%d" % j, b"member:%d" % (i * 10 + j))]),
    }

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

class Conn:
    def __init__(self, port):
        for _ in range(200):
            try:
                self.s = socket.create_connection(("127.0.0.1", port)); break
            except OSError: time.sleep(0.05)
        self.buf = b""
    def readline(self):
        while b"\r\n" not in self.buf:
            self.buf += self.s.recv(1 << 20)
        line, self.buf = self.buf.split(b"\r\n", 1); return line
    def read(self):
        line = self.readline()
        if line[:1] == b"$":
            n = int(line[1:])
            if n < 0: return None
            while len(self.buf) < n + 2: self.buf += self.s.recv(1 << 20)
            data, self.buf = self.buf[:n], self.buf[n + 2:]; return data
        if line[:1] == b"*":
            return [self.read() for _ in range(int(line[1:]))]
        if line[:1] == b":": return int(line[1:])
        if line[:1] == b"-": raise RuntimeError(line)
        return line[1:]
    def call(self, *a):
        self.s.sendall(encode(*a)); return self.read()
    def used(self):
        info = self.call("INFO", "memory").decode()
        return int([l for l in info.split("\r\n") if l.startswith("used_memory:")][0].split(":")[1])

def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1]) * 1024

def measure(argv, port, make):
    d = tempfile.mkdtemp()
    p = subprocess.Popen(argv(port, d), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        c = Conn(port); c.call("PING"); time.sleep(1)
        u0 = c.used(); r0 = rss(p.pid)
        for start in range(0, N, 1000):
            c.s.sendall(b"".join(encode(*make(i)) for i in range(start, min(N, start + 1000))))
            for _ in range(start, min(N, start + 1000)): c.read()
        assert c.call("DBSIZE") == N
        time.sleep(1)
        u1 = c.used(); r1 = rss(p.pid)
        enc = c.call("OBJECT", "ENCODING", make(0)[1])
        return (u1 - u0) / N, enc.decode(), (r1 - r0) / N
    finally:
        p.terminate(); p.wait()

strata = sys.argv[1]
which = sys.argv[2:] or ["hash10", "string10"]
for name in which:
    make = loads()[name]
    s = measure(lambda port, d: [strata, "--port", str(port), "--bind", "127.0.0.1", "--dir", d, "--persistence", "no"], free_port(), make)
    r = measure(lambda port, d: [os.environ.get("REDIS_SERVER", "redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--dir", d, "--save", "", "--appendonly", "no"], free_port(), make)
    print(f"{name:9s} used_memory/key: strata {s[0]:7.1f} B ({s[1]}), redis {r[0]:7.1f} B ({r[1]}), ratio {s[0]/r[0]:.2f}x"
          f" | RSS/key: strata {s[2]:7.1f} B, redis {r[2]:7.1f} B")
