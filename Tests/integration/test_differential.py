"""Differential conformance test: the same random command stream goes to a
reference redis-server and to strata, and every reply must be the same.

Each run uses a few fixed seeds plus one fresh seed. On a mismatch the seed,
the command and both replies are printed; rerun one seed with

    DIFF_SEED=<seed> python3 -m pytest -q Tests/integration/test_differential.py -k fresh

Environment:
  DIFF_SEED=n            use n as the "fresh" seed
  DIFF_OPS=n             operations per seed (default 1500)
  DIFF_AGAINST_REDIS=1   compare redis-server with a second redis-server
                         (checks the harness itself is deterministic)

Why the replies of two correct servers agree:
  * TTLs are either tiny (1-5 ms) or long (>= 100 s), never in between. A
    tiny TTL ends its batch; the harness then sleeps 30 ms and touches every
    key (EXISTS) in both databases, so the expired keys are surely gone on
    both servers before anything else looks at them.
  * Every long TTL is distinct and at least 1000 s from any other, so the
    GT/LT comparisons of EXPIRE never depend on the few milliseconds between
    the two servers.
  * Commands whose output is legitimately different are compared with a
    tolerance (TTL, PTTL, EXPIRETIME, PEXPIRETIME), as sets (KEYS, full SCAN),
    or by shape (RANDOMKEY, TIME, INFO, CLIENT ID/LIST, HELLO's id/version/
    server, COMMAND COUNT/INFO/DOCS).
"""

from __future__ import annotations

import collections
import os
import random
import time

import pytest

from diff_op import Op
from diff_types import TYPE_MIXINS, TYPE_COMMANDS
from diff_acl import acl_compare
from diff_pubsub import run_session
from diff_stats import compare_slowlog, run_slowlog_session
from resp_client import (
    OK, QUEUED, Array, Bulk, ConnectionClosed, Error, Integer, Map, Null, RespConnection, Set,
    Simple, Verbatim,
)

FIXED_SEEDS = [1, 2, 3]
OPS_PER_SEED = int(os.environ.get("DIFF_OPS", "1500"))

# ~30 keys, the same names in db 0 and db 1, so commands collide often.
KEYS = [b"k%d" % i for i in range(22)] + [
    b"", b"bin\x00\xff\r\n", b"sp ace", b"k*", b"\xc3\xa9t\xc3\xa9", b"{a}", b"K1", b"1",
]
HOT_KEYS = KEYS[:8]
DBS = [0, 1]

GLOBS = [
    b"*", b"k*", b"k1*", b"k?", b"k[0-3]", b"k[^0-3]*", b"k[13579]", b"*\x00*", b"k\\*",
    b"[", b"[a-]", b"\\", b"sp*", b"nomatch*", b"*e*", b"?", b"", b"k[!1]", b"*a\\",
    b"[k]?", b"K*", b"*[0-9]", b"k1?",
]

INT_EXTREMES = [b"9223372036854775807", b"-9223372036854775808", b"9223372036854775806",
                b"-9223372036854775807", b"9223372036854775808", b"-9223372036854775809"]
NOT_INTEGERS = [b"01", b"+1", b"-0", b" 1", b"1 ", b"1.0", b"1e3", b"", b"abc", b"1a", b"--1"]
FLOATS = [b"1.5", b"-0.25", b"3.0e2", b"0.1", b"-1e-3", b"2.5e-5", b".5", b"5.", b"1e308",
          b"-1e308", b"inf", b"-inf", b"nan", b"3.141592653589793", b"100", b"-7", b"0"]
WORDS = [b"abc", b"hello world", b"OK", b"nil", b"-ERR not an error", b"+fake", b"\r\n",
         b"tab\there", b"\xff\xfe\x00"]
# Unknown command names: none of them is a real Redis command.
UNKNOWN = [b"FOO", b"nosuchcmd", b"gett", b"SET_", b"x", b"GET\x01", b"k" * 140]

IMPLEMENTED = [
    "get", "set", "setnx", "setex", "psetex", "mget", "mset", "msetnx", "getset", "getdel",
    "getex", "incr", "decr", "incrby", "decrby", "incrbyfloat", "append", "strlen", "getrange",
    "setrange", "del", "unlink", "exists", "type", "rename", "renamenx", "copy", "keys", "scan",
    "randomkey", "touch", "dbsize", "expire", "pexpire", "expireat", "pexpireat", "ttl", "pttl",
    "expiretime", "pexpiretime", "persist", "dump", "restore", "flushdb", "flushall", "ping", "echo", "quit",
    "reset", "hello", "auth", "select", "client", "info", "config", "command", "time",
    "shutdown", "multi", "exec", "discard", "watch", "unwatch",
] + TYPE_COMMANDS

# Never mutated into arity errors: commands that change what the generator must
# know about the connection, and ones whose mutation could ask for output that
# legitimately differs (a bare COMMAND lists every Redis command).
NO_MUTATION = {"SELECT", "MULTI", "EXEC", "DISCARD", "RESET", "HELLO", "AUTH", "CLIENT", "WATCH",
               "COMMAND", "CONFIG", "INFO", "TIME", "SCAN", "SAVE", "SHUTDOWN",
               # Random picks: a dropped count would pop a random member (the servers' sets
               # would part), and a junk count of -(2^63-1) would ask for 2^63-1 of them.
               "SPOP", "SRANDMEMBER", "HRANDFIELD", "ZRANDMEMBER",
               # A junk argument could become a timeout of 0: a wait for ever.
               "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP"}


def clip(reply, limit: int = 3000) -> str:
    text = repr(reply)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def fmt_args(args) -> str:
    out = []
    for a in args:
        try:
            text = a.decode("ascii")
            out.append(text if text and text.isprintable() and " " not in text else repr(a))
        except UnicodeDecodeError:
            out.append(repr(a))
    return " ".join(out)


# --------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------


class Generator(*TYPE_MIXINS):
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.db = 0
        self.in_multi = False
        self.used_ttl_slots: set[int] = set()
        now = time.time()
        self.base_s = int(now)
        self.base_ms = int(now * 1000)

    # -- building blocks ---------------------------------------------------

    def name(self, name: str) -> bytes:
        r = self.rng.random()
        if r < 0.6:
            return name.upper().encode()
        if r < 0.85:
            return name.lower().encode()
        return "".join(c.upper() if self.rng.random() < 0.5 else c.lower() for c in name).encode()

    def key(self) -> bytes:
        return self.rng.choice(HOT_KEYS if self.rng.random() < 0.5 else KEYS)

    def keys(self, lo: int = 1, hi: int = 5) -> list:
        return [self.key() for _ in range(self.rng.randint(lo, hi))]

    def value(self) -> bytes:
        r = self.rng.random()
        if r < 0.30:
            return str(self.rng.randint(-100, 100)).encode()
        if r < 0.36:
            return self.rng.choice(INT_EXTREMES)
        if r < 0.42:
            return self.rng.choice(NOT_INTEGERS)
        if r < 0.55:
            return self.rng.choice(FLOATS)
        if r < 0.70:
            return self.rng.choice(WORDS)
        if r < 0.85:
            return bytes(self.rng.randrange(256) for _ in range(self.rng.randint(0, 16)))
        if r < 0.92:
            return self.rng.choice([b"a", b"xyz", b"0123456789"]) * self.rng.randint(10, 40)
        return b""

    def int_arg(self) -> bytes:
        r = self.rng.random()
        if r < 0.75:
            return str(self.rng.randint(-50, 50)).encode()
        if r < 0.88:
            return self.rng.choice(INT_EXTREMES)
        return self.rng.choice(NOT_INTEGERS)

    def float_arg(self) -> bytes:
        r = self.rng.random()
        if r < 0.6:
            return self.rng.choice(FLOATS)
        if r < 0.85:
            return str(self.rng.randint(-20, 20)).encode()
        return self.rng.choice([b"abc", b"", b"1 ", b" 1", b"1.5.5", b"e5", b"--1"])

    def long_seconds(self) -> int:
        """A TTL >= 100 s, at least 1000 s away from every other one used."""
        while True:
            slot = self.rng.randrange(0, 100_000)
            if slot not in self.used_ttl_slots:
                self.used_ttl_slots.add(slot)
                return 100 + 1000 * slot

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def set_expiry(self) -> tuple[list, bool]:
        """Expiry options for SET. Returns (args, tiny)."""
        r = self.rng.random()
        if r < 0.45:
            return [], False
        if r < 0.75:
            s = self.long_seconds()
            form = self.rng.choice(["EX", "PX", "EXAT", "PXAT"])
            val = {"EX": s, "PX": s * 1000 + self.rng.randrange(1000), "EXAT": self.base_s + s,
                   "PXAT": self.base_ms + s * 1000 + self.rng.randrange(1000)}[form]
            return [self.name(form), str(val).encode()], False
        if r < 0.80 and not self.in_multi:
            # In the past. Redis stores such a key already expired: it stays in
            # DBSIZE until someone touches it, so treat it like a tiny TTL.
            form = self.rng.choice(["EXAT", "PXAT"])
            val = self.rng.randint(1, self.base_s - 10) if form == "EXAT" else self.rng.randint(1, self.base_ms - 10000)
            return [self.name(form), str(val).encode()], True
        if r < 0.88:
            bad = self.rng.choice([b"0", b"-5", b"abc", b"1.5", b"", b"9223372036854775807",
                                   b"9223372036854775", b"-9223372036854775808"])
            return [self.name(self.rng.choice(["EX", "PX", "EXAT", "PXAT"])), bad], False
        if self.in_multi:
            return [], False
        if self.rng.random() < 0.5:
            return [self.name("PX"), str(self.rng.randint(1, 5)).encode()], True
        return [self.name("PXAT"), str(self.now_ms() + self.rng.randint(1, 5)).encode()], True

    # -- commands ------------------------------------------------------------

    def op(self) -> Op:
        """One random operation."""
        rng = self.rng
        table = self.in_multi and self.MULTI_TABLE or self.TABLE
        weights = [w for w, _ in table]
        make = rng.choices([m for _, m in table], weights=weights)[0]
        op = make(self)
        if op.name not in NO_MUTATION and op.mutable and op.compound is None and rng.random() < 0.05:
            op = self.mutate(op)
        return op

    def mutate(self, op: Op) -> Op:
        """Drop trailing arguments or add junk ones: arity and syntax errors."""
        args = list(op.args)
        if len(args) > 1 and self.rng.random() < 0.5:
            del args[self.rng.randint(1, len(args) - 1):]
        else:
            args += [self.value() for _ in range(self.rng.randint(1, 3))]
        return Op(args, kind=op.kind, tiny_ttl=op.tiny_ttl)

    def g_get(self):
        return Op([self.name("GET"), self.key()])

    def g_set(self):
        args = [self.name("SET"), self.key(), self.value()]
        opts, tiny = self.set_expiry()
        extra = []
        r = self.rng.random()
        if r < 0.15:
            extra.append(self.name("NX"))
        elif r < 0.30:
            extra.append(self.name("XX"))
        if self.rng.random() < 0.2:
            extra.append(self.name("GET"))
        if not opts and self.rng.random() < 0.1:
            extra.append(self.name("KEEPTTL"))
        if self.rng.random() < 0.04:  # conflicting options
            extra.append(self.name(self.rng.choice(["NX", "XX", "KEEPTTL", "EX", "FOO"])))
        tail = opts + extra
        if self.rng.random() < 0.1:
            self.rng.shuffle(tail)
        return Op(args + tail, tiny_ttl=tiny)

    def g_setnx(self):
        return Op([self.name("SETNX"), self.key(), self.value()])

    def g_setex(self):
        r = self.rng.random()
        if r < 0.8:
            secs = str(self.long_seconds()).encode()
        else:
            secs = self.rng.choice([b"0", b"-1", b"abc", b"9223372036854775807"])
        return Op([self.name("SETEX"), self.key(), secs, self.value()])

    def g_psetex(self):
        r = self.rng.random()
        tiny = False
        if r < 0.7:
            ms = str(self.long_seconds() * 1000).encode()
        elif r < 0.85 or self.in_multi:
            ms = self.rng.choice([b"0", b"-1", b"abc", b"9223372036854775807", b"1.5"])
        else:
            ms, tiny = str(self.rng.randint(1, 5)).encode(), True
        return Op([self.name("PSETEX"), self.key(), ms, self.value()], tiny_ttl=tiny)

    def g_mget(self):
        return Op([self.name("MGET")] + self.keys(1, 6))

    def g_mset(self):
        name = self.rng.choice(["MSET", "MSETNX"])
        args = [self.name(name)]
        for _ in range(self.rng.randint(1, 4)):
            args += [self.key(), self.value()]
        return Op(args)

    def g_getset(self):
        return Op([self.name("GETSET"), self.key(), self.value()])

    def g_getdel(self):
        return Op([self.name("GETDEL"), self.key()])

    def g_getex(self):
        args = [self.name("GETEX"), self.key()]
        r = self.rng.random()
        tiny = False
        if r < 0.2:
            pass
        elif r < 0.35:
            args.append(self.name("PERSIST"))
        else:
            opts, tiny = self.set_expiry()
            args += opts
        if self.rng.random() < 0.04:
            args.append(self.name(self.rng.choice(["PERSIST", "EX", "KEEPTTL"])))
        return Op(args, tiny_ttl=tiny)

    def g_incr(self):
        name = self.rng.choice(["INCR", "DECR"])
        return Op([self.name(name), self.key()])

    def g_incrby(self):
        name = self.rng.choice(["INCRBY", "DECRBY"])
        return Op([self.name(name), self.key(), self.int_arg()])

    def g_incrbyfloat(self):
        return Op([self.name("INCRBYFLOAT"), self.key(), self.float_arg()])

    def g_append(self):
        return Op([self.name("APPEND"), self.key(), self.value()])

    def g_strlen(self):
        return Op([self.name("STRLEN"), self.key()])

    def g_getrange(self):
        def idx():
            r = self.rng.random()
            if r < 0.85:
                return str(self.rng.randint(-30, 30)).encode()
            return self.rng.choice(INT_EXTREMES[:2] + [b"abc", b"1.5", b""])
        return Op([self.name("GETRANGE"), self.key(), idx(), idx()])

    def g_setrange(self):
        r = self.rng.random()
        value = self.value()
        if r < 0.85:
            offset = str(self.rng.randint(0, 40)).encode()
        elif r < 0.9:
            offset = b"1000"
        elif r < 0.93:
            offset, value = b"536870911", b""  # allowed only because nothing is written
        else:
            offset = self.rng.choice([b"536870912", b"-1", b"abc", b"9223372036854775807"])
        return Op([self.name("SETRANGE"), self.key(), offset, value])

    def g_del(self):
        name = self.rng.choice(["DEL", "UNLINK", "EXISTS", "TOUCH"])
        return Op([self.name(name)] + self.keys(1, 5))

    def g_type(self):
        return Op([self.name("TYPE"), self.key()])

    def g_rename(self):
        name = self.rng.choice(["RENAME", "RENAMENX"])
        return Op([self.name(name), self.key(), self.key()])

    def g_copy(self):
        args = [self.name("COPY"), self.key(), self.key()]
        r = self.rng.random()
        if r < 0.4:
            args += [self.name("DB"), str(self.rng.choice(DBS)).encode()]
        elif r < 0.45:
            args += [self.name("DB"), self.rng.choice([b"16", b"-1", b"abc"])]
        if self.rng.random() < 0.4:
            args.append(self.name("REPLACE"))
        if self.rng.random() < 0.03:
            args.append(self.name("FOO"))
        return Op(args)

    def g_dump(self):
        # Payloads differ by design (each server's own format): compare nil against a payload.
        return Op([self.name("DUMP"), self.key()], kind="count")

    def g_restore(self):
        # Every path that ends before the payload is read, or on a payload neither server takes.
        args = [self.name("RESTORE"), self.key(),
                self.rng.choice([b"0", b"-1", b"abc", b"100000000", str(self.long_seconds() * 1000).encode()]),
                self.rng.choice([b"", b"garbage", b"\x00\x05hello\x0a\x00", b"\x01" * 11])]
        for _ in range(self.rng.randint(0, 2)):
            r = self.rng.random()
            if r < 0.35:
                args.append(self.name("REPLACE"))
            elif r < 0.55:
                args.append(self.name("ABSTTL"))
            elif r < 0.75:
                args += [self.name("IDLETIME"), self.rng.choice([b"10", b"-1", b"x"])]
            elif r < 0.95:
                args += [self.name("FREQ"), self.rng.choice([b"5", b"256", b"-1", b"x"])]
            else:
                args.append(self.name("BOGUS"))
        return Op(args)

    def g_keys(self):
        return Op([self.name("KEYS"), self.rng.choice(GLOBS)], kind="sorted")

    def g_scan(self):
        r = self.rng.random()
        if r < 0.15:  # bad arguments, compared exactly
            bad = self.rng.choice([
                [b"abc"], [b"99999999999999999999"], [b"0", b"COUNT", b"0"], [b"0", b"COUNT", b"abc"],
                [b"0", b"MATCH"], [b"0", b"FOO"], [], [b"0", b"COUNT", b"-1"],
            ])
            return Op([self.name("SCAN")] + bad)
        opts = []
        if self.rng.random() < 0.5:
            opts += [self.name("MATCH"), self.rng.choice(GLOBS)]
        if self.rng.random() < 0.5:
            opts += [self.name("COUNT"), str(self.rng.randint(1, 20)).encode()]
        if self.rng.random() < 0.2:
            opts += [self.name("TYPE"), self.rng.choice([b"string", b"STRING", b"hash", b"none"])]
        return Op([self.name("SCAN"), b"0"] + opts, compound="scan")

    def g_randomkey(self):
        return Op([self.name("RANDOMKEY")], compound="randomkey")

    def g_dbsize(self):
        return Op([self.name("DBSIZE")])

    def g_expire(self):
        name = self.rng.choice(["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"])
        r = self.rng.random()
        tiny = False
        s = self.long_seconds()
        if r < 0.6:
            val = {"EXPIRE": s, "PEXPIRE": s * 1000 + self.rng.randrange(1000),
                   "EXPIREAT": self.base_s + s,
                   "PEXPIREAT": self.base_ms + s * 1000 + self.rng.randrange(1000)}[name]
            val = str(val).encode()
        elif r < 0.72:  # now or in the past: deletes the key
            val = {"EXPIRE": str(self.rng.randint(-100, 0)), "PEXPIRE": str(self.rng.randint(-100, 0)),
                   "EXPIREAT": str(self.rng.randint(1, self.base_s - 10)),
                   "PEXPIREAT": str(self.rng.randint(1, self.base_ms - 10000))}[name].encode()
        elif r < 0.85 or self.in_multi or not name.startswith("P"):
            val = self.rng.choice([b"abc", b"", b"1.5", b"9223372036854775807", b"-9223372036854775808",
                                   b"9223372036854775"])
        else:
            tiny = True
            val = self.rng.randint(1, 5)
            val = str(val if name == "PEXPIRE" else self.now_ms() + val).encode()
        args = [self.name(name), self.key(), val]
        r = self.rng.random()
        if r < 0.5:
            args.append(self.name(self.rng.choice(["NX", "XX", "GT", "LT"])))
        elif r < 0.55:
            args += [self.name(self.rng.choice(["NX", "XX", "GT", "LT"])),
                     self.name(self.rng.choice(["NX", "XX", "GT", "LT"]))]
        elif r < 0.57:
            args.append(self.name("FOO"))
        return Op(args, tiny_ttl=tiny)

    def g_ttl(self):
        name = self.rng.choice(["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"])
        kind = "ttl_ms" if name.startswith("P") else "ttl_s"
        return Op([self.name(name), self.key()], kind=kind)

    def g_persist(self):
        return Op([self.name("PERSIST"), self.key()])

    def g_flush(self):
        args = [self.name(self.rng.choice(["FLUSHDB", "FLUSHALL"]))]
        r = self.rng.random()
        if r < 0.3:
            args.append(self.name(self.rng.choice(["ASYNC", "SYNC"])))
        elif r < 0.35:
            args.append(b"FOO")
        return Op(args)

    def g_ping(self):
        r = self.rng.random()
        if r < 0.4:
            return Op([self.name("PING")])
        if r < 0.8:
            return Op([self.name("PING"), self.value()])
        return Op([self.name("ECHO"), self.value()])

    def g_select(self):
        if self.rng.random() < 0.1:
            return Op([self.name("SELECT"), self.rng.choice([b"16", b"-1", b"abc", b"1.0", b""])])
        db = self.rng.choice(DBS)
        self.db = db
        return Op([self.name("SELECT"), str(db).encode()])

    def g_multi(self):
        self.in_multi = True
        return Op([self.name("MULTI")])

    def g_exec(self):
        self.in_multi = False
        return Op([self.name(self.rng.choice(["EXEC", "EXEC", "EXEC", "DISCARD"]))])

    def g_multi_misc(self):
        """Transaction commands used out of place."""
        r = self.rng.random()
        if r < 0.55:
            return Op([self.name("WATCH")] + self.keys(1, 3))  # in MULTI: not allowed
        if r < 0.75:
            return Op([self.name("UNWATCH")])
        if self.in_multi and r < 0.85:
            # Refused inside MULTI (and the transaction aborted): a server that ran SHUTDOWN here
            # would stop the test.
            return Op([self.name(self.rng.choice(["SAVE", "SHUTDOWN"]))])
        if self.in_multi:
            return Op([self.name("MULTI")])  # "MULTI calls can not be nested"
        return Op([self.name(self.rng.choice(["EXEC", "DISCARD"]))])  # "... without MULTI"

    def g_reset(self):
        self.db = 0
        self.in_multi = False
        return Op([self.name("RESET")])

    def g_hello(self):
        r = self.rng.random()
        if r < 0.35:
            args = [self.name("HELLO"), self.rng.choice([b"2", b"3"])]
        elif r < 0.5:
            args = [self.name("HELLO")]
        elif r < 0.7:
            args = [self.name("HELLO"), self.rng.choice([b"1", b"4", b"abc", b"-1", b""])]
        elif r < 0.85:
            args = [self.name("HELLO"), self.rng.choice([b"2", b"3"]), self.name("SETNAME"),
                    self.rng.choice([b"diff", b"a b", b"x\ny", b""])]
        else:
            args = [self.name("HELLO"), self.rng.choice([b"2", b"3"])] + self.rng.choice([
                [self.name("AUTH"), b"default", b"anything"], [self.name("AUTH"), b"nobody", b"pw"],
                [self.name("AUTH"), b"default"], [b"FOO"],
            ])
        return Op(args, kind="hello")

    def g_auth(self):
        return Op([self.name("AUTH")] + self.rng.choice([
            [b"secret"], [b"default", b"anything"], [b"nobody", b"pw"], [], [b"a", b"b", b"c"],
        ]))

    def g_client(self):
        r = self.rng.random()
        if r < 0.25:
            return Op([self.name("CLIENT"), self.name("SETNAME"),
                       self.rng.choice([b"conn-1", b"x", b"", b"a b", b"a\nb", b"\xff", b"n\x00"])])
        if r < 0.5:
            return Op([self.name("CLIENT"), self.name("GETNAME")])
        if r < 0.6:
            return Op([self.name("CLIENT"), self.name("ID")], kind="client_id")
        if r < 0.7:
            return Op([self.name("CLIENT"), self.name("LIST")], kind="client_list")
        if r < 0.85:
            return Op([self.name("CLIENT"), self.name("KILL")] + self.rng.choice([
                [b"ID", b"999999"], [b"ID", b"abc"], [b"ID", b"0"], [b"1.2.3.4:5"],
                [b"ADDR", b"1.2.3.4:5"], [b"ID", b"999999", b"SKIPME", b"yes"],
            ]))
        return Op([self.name("CLIENT")] + self.rng.choice([
            [], [b"FOO"], [b"GETNAME", b"x"], [b"ID", b"x"], [b"SETNAME"],
        ]))

    def g_info(self):
        args = [self.name("INFO")]
        if self.rng.random() < 0.6:
            args.append(self.name(self.rng.choice(["keyspace", "server", "clients"])))
        return Op(args, kind="info")

    def g_config(self):
        r = self.rng.random()
        params = [b"timeout", b"databases", b"proto-max-bulk-len", b"client-query-buffer-limit",
                  b"requirepass", b"nosuch-param", b"proto-max-*", b"client-query-*",
                  b"client-output-buffer-limit", b"maxmemory-clients"]
        if r < 0.6:
            return Op([self.name("CONFIG"), self.name("GET")] +
                      self.rng.sample(params, self.rng.randint(1, 3)), kind="config_get")
        if r < 0.85:
            return Op([self.name("CONFIG"), self.name("SET")] + self.rng.choice([
                [b"timeout", b"0"], [b"timeout", b"abc"], [b"timeout", b"-1"], [b"nosuch-param", b"1"],
                [b"timeout"], [b"timeout", b"0", b"timeout", b"0"],
                [b"client-output-buffer-limit", b"pubsub 32mb 8mb 60"],
                [b"client-output-buffer-limit", b"normal 0 0 0 pubsub 33554432 8388608 60"],
                [b"client-output-buffer-limit", b"bogus 1 2 3"], [b"client-output-buffer-limit", b"normal 1 2"],
                [b"client-output-buffer-limit", b"normal x 2 3"],
                [b"maxmemory-clients", b"0"], [b"maxmemory-clients", b"abc"],
            ]))
        if r < 0.92:
            return Op([self.name("CONFIG"), self.name("RESETSTAT")])
        return Op([self.name("CONFIG")] + self.rng.choice([[], [b"FOO"], [b"GET"], [b"RESETSTAT", b"x"]]))

    def g_command(self):
        r = self.rng.random()
        if r < 0.2:
            return Op([self.name("COMMAND"), self.name("COUNT")], kind="command_count")
        if r < 0.6:
            names = [n.encode() for n in self.rng.sample(IMPLEMENTED, self.rng.randint(1, 3))]
            if self.rng.random() < 0.3:
                names.append(b"nosuchcmd")
            return Op([self.name("COMMAND"), self.name("INFO")] + names, kind="command_info")
        if r < 0.85:
            names = [n.encode() for n in self.rng.sample(IMPLEMENTED, self.rng.randint(1, 2))]
            return Op([self.name("COMMAND"), self.name("DOCS")] + names, kind="command_docs")
        return Op([self.name("COMMAND")] + self.rng.choice([[b"FOO"], [b"COUNT", b"x"]]))

    def g_help(self):
        container = self.rng.choice(["CLIENT", "CONFIG", "OBJECT", "MEMORY", "COMMAND"])
        if self.rng.random() < 0.8:
            return Op([self.name(container), self.name("HELP")], kind="help")
        return Op([self.name(container)] + self.rng.choice([[b"NOSUCH"], [b"HELP", b"x"]]))

    def g_time(self):
        return Op([self.name("TIME")], kind="time")

    def g_unknown(self):
        args = [self.rng.choice(UNKNOWN)]
        for _ in range(self.rng.randint(0, 3)):
            args.append(self.rng.choice([b"bar", b"a b", b"it's", b"x\r\ny", b"z" * 150, b"", b"1"]))
        return Op(args)

    TABLE = [
        (10, g_get), (12, g_set), (2, g_setnx), (2, g_setex), (2, g_psetex), (4, g_mget), (3, g_mset),
        (2, g_getset), (2, g_getdel), (3, g_getex), (5, g_incr), (4, g_incrby), (4, g_incrbyfloat),
        (4, g_append), (2, g_strlen), (3, g_getrange), (3, g_setrange), (6, g_del), (2, g_type),
        (3, g_rename), (3, g_copy), (1, g_dump), (1.5, g_restore), (2, g_keys), (2, g_scan), (1, g_randomkey), (2, g_dbsize),
        (6, g_expire), (5, g_ttl), (2, g_persist), (0.3, g_flush), (2, g_ping), (2, g_select),
        (2, g_multi), (1.5, g_multi_misc), (0.3, g_reset), (0.6, g_hello), (0.4, g_auth),
        (1.2, g_client), (0.4, g_info), (0.6, g_config), (0.5, g_command), (0.3, g_time),
        (1.5, g_unknown), (0.5, g_help),
    ]
    # Inside MULTI: no compound or shape-only commands, no SELECT/HELLO/RESET,
    # no tiny TTLs; EXEC or DISCARD comes soon.
    MULTI_TABLE = [
        (10, g_get), (12, g_set), (2, g_setnx), (2, g_setex), (2, g_psetex), (4, g_mget), (3, g_mset),
        (2, g_getset), (2, g_getdel), (3, g_getex), (5, g_incr), (4, g_incrby), (4, g_incrbyfloat),
        (4, g_append), (2, g_strlen), (3, g_getrange), (3, g_setrange), (6, g_del), (2, g_type),
        (3, g_rename), (3, g_copy), (1, g_dump), (1, g_restore), (2, g_dbsize), (6, g_expire), (5, g_ttl), (2, g_persist),
        (2, g_ping), (10, g_exec), (2, g_multi_misc), (1, g_unknown),
    ]
    # The data types' commands (diff_types.py and the modules it names).
    TABLE = TABLE + [entry for mixin in TYPE_MIXINS for entry in mixin.TABLE]
    MULTI_TABLE = MULTI_TABLE + [entry for mixin in TYPE_MIXINS for entry in mixin.MULTI_TABLE]


# --------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------


def pairs_of(reply):
    """Key/value pairs of a RESP3 map or a flat RESP2 array."""
    if isinstance(reply, Map):
        return list(reply.pairs)
    if isinstance(reply, Array) and len(reply.items) % 2 == 0:
        it = reply.items
        return [(it[i], it[i + 1]) for i in range(0, len(it), 2)]
    return None


def libraries_of(reply):
    """FUNCTION LIST's libraries, each with its functions, in a canonical order (Redis lists
    both in hash order); None when the reply is not an array of libraries."""
    if not isinstance(reply, Array):
        return None
    out = []
    for library in reply.items:
        pairs = pairs_of(library)
        if pairs is None:
            return None
        fields = []
        for k, v in pairs:
            if k == Bulk(b"functions") and isinstance(v, Array):
                v = sorted(v.items, key=repr)
            fields.append((k, v))
        out.append((type(library).__name__, repr(fields)))
    return sorted(out)


def text_of(reply):
    if isinstance(reply, (Bulk, Verbatim)):
        return reply.value
    return None


def keyspace_lines(info: bytes):
    out = {}
    for line in info.split(b"\r\n"):
        if line.startswith(b"db") and b":" in line:
            db, fields = line.split(b":", 1)
            kv = dict(f.split(b"=", 1) for f in fields.split(b",") if b"=" in f)
            out[db] = (kv.get(b"keys"), kv.get(b"expires"))
    return out


class Comparer:
    TTL_TOLERANCE = {"ttl_s": 2, "ttl_ms": 2000}

    def __init__(self):
        self.queue = None  # kinds of the commands queued in MULTI (as the reference saw it)

    def check(self, op: Op, ref, sut):
        """None if the replies agree, else a reason."""
        name = op.name
        kind = op.kind
        if self.queue is not None and ref == QUEUED:
            self.queue.append(kind)
            kind = "exact"
        elif name == "MULTI" and ref == OK:
            self.queue = []
        elif name == "EXEC" and self.queue is not None and (
                isinstance(ref, (Array, Null)) or (isinstance(ref, Error) and ref.code == b"EXECABORT")):
            queued, self.queue = self.queue, None
            if isinstance(ref, Array) and isinstance(sut, Array) and len(ref.items) == len(sut.items) == len(queued):
                for i, (k, a, b) in enumerate(zip(queued, ref.items, sut.items)):
                    why = self.compare(k, a, b)
                    if why:
                        return f"EXEC element {i}: {why}"
                return None
        elif name in ("DISCARD", "RESET") and isinstance(ref, Simple):
            self.queue = None
        return self.compare(kind, ref, sut)

    def compare(self, kind, a, b):
        if isinstance(a, Error) or isinstance(b, Error) or kind == "exact":
            return None if a == b else "replies differ"
        if kind == "acl":
            return acl_compare(a, b)
        for mixin in TYPE_MIXINS:
            # A kind of a mixin's own (diff_types.py): its compare_<kind> method.
            if hasattr(mixin, f"compare_{kind}"):
                return getattr(mixin, f"compare_{kind}")(self, a, b)
        if kind == "pairs":
            # A map (HGETALL…) in either protocol: the same pairs in any order.
            pa, pb = pairs_of(a), pairs_of(b)
            if pa is None or pb is None or type(a) is not type(b):
                return None if a == b else "replies differ"
            return None if sorted(pa, key=repr) == sorted(pb, key=repr) else "different pairs"
        if kind == "function_list":
            la, lb = libraries_of(a), libraries_of(b)
            if la is None or lb is None:
                return None if a == b else "replies differ"
            return None if la == lb else "different libraries"
        if kind == "count":
            # Random picks (SRANDMEMBER…): the same type and number of elements.
            if isinstance(a, (Array, Set)) and type(a) is type(b):
                return None if len(a.items) == len(b.items) else "different counts"
            return None if type(a) is type(b) else "different reply types"
        if kind == "sorted":
            # An array or a RESP3 set (SMEMBERS, SINTER…) in any order.
            if isinstance(a, (Array, Set)) and type(a) is type(b):
                return None if sorted(a.items, key=repr) == sorted(b.items, key=repr) else "different key sets"
            return None if a == b else "replies differ"
        if kind in self.TTL_TOLERANCE:
            if isinstance(a, Integer) and isinstance(b, Integer):
                if a.value < 0 or b.value < 0:
                    return None if a == b else "TTL state differs"
                return None if abs(a.value - b.value) <= self.TTL_TOLERANCE[kind] else "TTL beyond tolerance"
            return None if a == b else "replies differ"
        if kind == "hello":
            pa, pb = pairs_of(a), pairs_of(b)
            if pa is None or pb is None or type(a) is not type(b):
                return "HELLO reply is not a map/array of pairs of the same type"
            if [k for k, _ in pa] != [k for k, _ in pb]:
                return "HELLO fields differ"
            for (k, va), (_, vb) in zip(pa, pb):
                if k in (Bulk(b"id"),):
                    if not isinstance(vb, Integer):
                        return "HELLO id is not an integer"
                elif k in (Bulk(b"version"), Bulk(b"server")):
                    if not isinstance(vb, Bulk):
                        return f"HELLO {k.value!r} is not a bulk string"
                elif va != vb:
                    return f"HELLO field {k.value!r} differs"
            return None
        if kind == "time":
            ok = (isinstance(b, Array) and len(b.items) == 2 and all(isinstance(x, Bulk) and x.value.isdigit() for x in b.items))
            if not ok:
                return "TIME is not [seconds, microseconds]"
            secs, usecs = int(b.items[0].value), int(b.items[1].value)
            if abs(secs - time.time()) > 5 or usecs >= 1_000_000:
                return "TIME is off"
            return None
        if kind == "client_id":
            return None if isinstance(b, Integer) and b.value > 0 and isinstance(a, Integer) else "CLIENT ID is not a positive integer"
        if kind == "client_list":
            tb = text_of(b)
            if type(a) is not type(b) or tb is None or not tb.startswith(b"id=") or b" addr=127.0.0.1:" not in tb:
                return "CLIENT LIST shape differs"
            return None
        if kind == "info":
            ta, tb = text_of(a), text_of(b)
            if type(a) is not type(b) or tb is None:
                return "INFO reply type differs"
            if b"# Keyspace" in ta:
                if b"# Keyspace" not in tb:
                    return "INFO lacks the Keyspace section"
                ka, kb = keyspace_lines(ta), keyspace_lines(tb)
                if ka != kb:
                    return f"INFO keyspace keys/expires differ: {ka} vs {kb}"
            return None
        if kind == "config_get":
            pa, pb = pairs_of(a), pairs_of(b)
            if pa is None or pb is None or type(a) is not type(b):
                return None if a == b else "CONFIG GET shape differs"
            return None if sorted(pa, key=repr) == sorted(pb, key=repr) else "CONFIG GET pairs differ"
        if kind == "slowlog":
            return compare_slowlog(a, b)
        if kind == "command_count":
            return None if isinstance(b, Integer) and b.value > 0 else "COMMAND COUNT is not a positive integer"
        if kind == "command_info":
            if not (isinstance(a, Array) and isinstance(b, Array) and len(a.items) == len(b.items)):
                return "COMMAND INFO shape differs"
            for x, y in zip(a.items, b.items):
                if isinstance(x, Null) or isinstance(y, Null):
                    if x != y:
                        return "COMMAND INFO: unknown/known command differs"
                    continue
                if not (isinstance(y, Array) and len(y.items) >= 6):
                    return "COMMAND INFO entry has fewer than 6 fields"
                for i in (0, 1, 3, 4, 5):  # name, arity, first key, last key, step
                    if x.items[i] != y.items[i]:
                        return f"COMMAND INFO field {i} of {x.items[0].value!r} differs"
            return None
        if kind == "command_docs":
            pa, pb = pairs_of(a), pairs_of(b)
            if pa is None or pb is None or type(a) is not type(b):
                return "COMMAND DOCS shape differs"
            return None if {k for k, _ in pa} == {k for k, _ in pb} else "COMMAND DOCS names differ"
        if kind == "help":
            # Strata lists the subcommands it has: the title, the closing HELP entry, and the
            # entry of each subcommand Redis 7.0 also has must read as Redis's do (a newer
            # one, such as CLIENT SETINFO from 7.2, has no entry to compare with).
            if not (isinstance(a, Array) and isinstance(b, Array) and len(b.items) >= 3):
                return "HELP shape differs"
            la, lb = [x.value for x in a.items], [x.value for x in b.items]
            if la[0] != lb[0] or la[-2:] != lb[-2:]:
                return "HELP title or closing entry differs"
            ref_entries = [tuple(group) for group in help_entries(la[1:])]
            names = {entry[0].split(b" ")[0] for entry in ref_entries}
            differ = [tuple(group) for group in help_entries(lb[1:])
                      if group[0].split(b" ")[0] in names and tuple(group) not in ref_entries]
            return f"HELP entries differ from Redis's: {differ[:2]}" if differ else None
        raise AssertionError(f"unknown comparison kind {kind}")


# --------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------


def help_entries(lines: list[bytes]) -> list[list[bytes]]:
    """A HELP reply's entries: each unindented line with the indented lines after it."""
    groups: list[list[bytes]] = []
    for line in lines:
        if line.startswith(b" ") and groups:
            groups[-1].append(line)
        else:
            groups.append([line])
    return groups


class Mismatch(AssertionError):
    pass


class Runner:
    SLEEP_AFTER_TINY_TTL = 0.03

    def __init__(self, ref: RespConnection, sut: RespConnection, seed: int, sut_name: str):
        self.ref, self.sut = ref, sut
        self.seed = seed
        self.sut_name = sut_name
        self.rng = random.Random(seed)
        self.gen = Generator(self.rng)
        self.cmp = Comparer()
        self.history = collections.deque(maxlen=25)
        self.ops = 0
        self.batches = 0
        self.stats = collections.Counter()

    def fail(self, why: str, op: Op | None, ref, sut, batch=None):
        lines = [
            f"differential mismatch ({why}) after {self.ops} ops in batch {self.batches}",
            f"seed {self.seed}: reproduce with DIFF_SEED={self.seed} python3 -m pytest -q "
            f"Tests/integration/test_differential.py -k fresh",
        ]
        if op is not None:
            lines.append(f"command:  {fmt_args(op.args)}")
        lines += [f"redis:    {clip(ref)}", f"{self.sut_name}: {clip(sut)}", "",
                  "preceding commands (reference replies):"]
        lines += [f"  {fmt_args(a)}  ->  {r!r}"[:400] for a, r in self.history]
        raise Mismatch("\n".join(lines))

    def exchange(self, commands):
        """Send to both servers, then read both: keeps them close in time."""
        self.ref.send(commands)
        self.sut.send(commands)
        ref_replies = self.ref.read_replies(len(commands))
        try:
            sut_replies = self.sut.read_replies(len(commands))
        except (ConnectionClosed, OSError) as exc:
            self.fail(f"{self.sut_name} connection failed: {exc!r}", None, ref_replies, None)
        return ref_replies, sut_replies

    def run_batch(self, batch):
        ref_replies, sut_replies = self.exchange([op.args for op in batch])
        for op, a, b in zip(batch, ref_replies, sut_replies):
            why = self.cmp.check(op, a, b)
            if why:
                self.fail(why, op, a, b)
            self.history.append((op.args, a))
            self.stats[op.name] += 1

    def scan_all(self, conn, args):
        # SCAN's cursor is its first argument; HSCAN's, SSCAN's and ZSCAN's follow the key.
        at = 1 if args[0].upper() == b"SCAN" else 2
        pairs = args[0].upper() in (b"HSCAN", b"ZSCAN")
        keys, cursor, rounds = set(), b"0", 0
        while True:
            conn.send([args[:at] + [cursor] + args[at + 1:]])
            reply = conn.read_reply()
            if isinstance(reply, Error):
                return reply
            if not (isinstance(reply, Array) and len(reply.items) == 2 and isinstance(reply.items[0], Bulk)
                    and isinstance(reply.items[1], Array)):
                return ("bad SCAN reply", reply)
            items = reply.items[1].items
            if pairs:  # field and value (member and score) stay together
                items = [(items[i], items[i + 1]) for i in range(0, len(items) - 1, 2)]
            keys.update(items)
            cursor = reply.items[0].value
            rounds += 1
            if cursor == b"0":
                return frozenset(keys)
            if rounds > 10_000:
                return ("SCAN did not finish in 10000 rounds", cursor)

    def run_compound(self, op: Op):
        if op.compound == "pubsub":
            run_session(self)
            return
        if op.compound == "slowlog":
            run_slowlog_session(self)
            self.stats[op.name] += 1
            return
        if op.compound == "scan":
            a, b = self.scan_all(self.ref, op.args), self.scan_all(self.sut, op.args)
            if a != b:
                self.fail("full SCAN iterations returned different key sets", op, a, b)
            self.history.append((op.args, a))
        elif op.compound == "randomkey":
            (a,), (b,) = self.exchange([op.args])
            if isinstance(a, Null) or isinstance(b, Null) or isinstance(a, Error) or isinstance(b, Error):
                if a != b:
                    self.fail("RANDOMKEY: empty-database answer differs", op, a, b)
            elif not isinstance(b, Bulk):
                self.fail("RANDOMKEY did not return a bulk string", op, a, b)
            else:
                exists = self.sut.execute(b"EXISTS", b.value)
                if exists != Integer(1):
                    self.fail(f"RANDOMKEY returned a key that does not exist (EXISTS -> {exists!r})", op, a, b)
            self.history.append((op.args, a))
        self.stats[op.name] += 1

    def settle(self):
        """After tiny TTLs ran out: touch every key in both dbs so expired ones are deleted."""
        commands = []
        for db in DBS:
            commands.append([b"SELECT", str(db).encode()])
            commands.append([b"EXISTS"] + KEYS)
        commands.append([b"SELECT", str(self.gen.db).encode()])
        ref_replies, sut_replies = self.exchange(commands)
        for cmd, a, b in zip(commands, ref_replies, sut_replies):
            if a != b:
                self.fail("replies differ (settling expired keys)", Op(cmd), a, b)

    def run(self, total_ops: int):
        for conn in (self.ref, self.sut):
            assert conn.pipeline([[b"RESET"], [b"FLUSHALL"]]) == [Simple(b"RESET"), OK]
        while self.ops < total_ops:
            self.batches += 1
            size = self.rng.randint(1, 50)
            batch, needs_sleep = [], False
            while len(batch) < size:
                op = self.gen.op()
                if op.compound:
                    if batch:
                        self.run_batch(batch)
                        self.ops += len(batch)
                        batch = []
                    self.run_compound(op)
                    self.ops += 1
                    continue
                batch.append(op)
                if op.tiny_ttl:
                    needs_sleep = True
                    break
            if batch:
                self.run_batch(batch)
                self.ops += len(batch)
            if needs_sleep:
                time.sleep(self.SLEEP_AFTER_TINY_TTL)
                self.settle()


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


class RingEntry:
    """One node of a proxy-mode ring, as the server under test (DIFF_RING=n)."""

    kind = "strata"

    def __init__(self, nodes):
        self.nodes = nodes
        self.port = nodes[0].port

    def connect(self, timeout: float = 10.0) -> RespConnection:
        return RespConnection("127.0.0.1", self.port, timeout=timeout)


@pytest.fixture(scope="module")
def sut(_module_servers, tmp_path_factory):
    """The server under test: strata, a second redis-server with DIFF_AGAINST_REDIS=1, or the
    first node of an n-node proxy-mode ring with L3 on with DIFF_RING=n (n ≥ 2)."""
    if os.environ.get("DIFF_AGAINST_REDIS") == "1":
        yield _module_servers(kind="redis")
        return
    if int(os.environ.get("DIFF_RING", "1")) > 1:
        from test_cluster import start_cluster

        nodes, _ = start_cluster(tmp_path_factory.mktemp("diffring"), int(os.environ["DIFF_RING"]))
        yield RingEntry(nodes)
        for node in nodes:
            node.stop()
        return
    yield _module_servers()


def fresh_seed() -> int:
    if os.environ.get("DIFF_SEED"):
        return int(os.environ["DIFF_SEED"])
    return int.from_bytes(os.urandom(4), "big")


@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed{s}") for s in FIXED_SEEDS] +
                         [pytest.param(None, id="fresh")])
def test_random_command_streams_match_redis(redis_ref, sut, seed):
    if seed is None:
        seed = fresh_seed()
    sut_name = "redis#2" if sut.kind == "redis" else "strata"
    with redis_ref.connect() as ref_conn, sut.connect() as sut_conn:
        runner = Runner(ref_conn, sut_conn, seed, sut_name)
        try:
            runner.run(OPS_PER_SEED)
        except (ConnectionClosed, OSError) as exc:
            pytest.fail(f"seed {seed}: connection failed after {runner.ops} ops: {exc!r} "
                        f"(reproduce with DIFF_SEED={seed})")
    # The stream must have exercised the command list, not just a corner of it.
    assert runner.ops >= OPS_PER_SEED
    if OPS_PER_SEED >= 1000:
        for required in ("SET", "GET", "INCRBYFLOAT", "EXPIRE", "MULTI", "EXEC", "SCAN", "KEYS"):
            assert runner.stats[required] > 0, f"seed {seed}: {required} never generated"


def test_harness_detects_a_difference():
    """The comparer must flag real differences, else the test above proves nothing."""
    cmp = Comparer()
    get = Op([b"GET", b"k"])
    assert cmp.check(get, Bulk(b"1"), Bulk(b"1")) is None
    assert cmp.check(get, Bulk(b"1"), Simple(b"1"))
    assert cmp.check(get, Null("bulk"), Null("resp3"))
    assert cmp.check(Op([b"INCR", b"k"]), Integer(1), Integer(2))
    assert cmp.check(Op([b"TTL", b"k"], kind="ttl_s"), Integer(100), Integer(101)) is None
    assert cmp.check(Op([b"TTL", b"k"], kind="ttl_s"), Integer(100), Integer(-1))
    assert cmp.check(Op([b"PTTL", b"k"], kind="ttl_ms"), Integer(100000), Integer(100))
    assert cmp.check(Op([b"KEYS", b"*"], kind="sorted"), Array((Bulk(b"a"), Bulk(b"b"))),
                     Array((Bulk(b"b"), Bulk(b"a")))) is None
    assert cmp.check(Op([b"KEYS", b"*"], kind="sorted"), Array((Bulk(b"a"),)), Array((Bulk(b"b"),)))
    # RESP3 sets (SMEMBERS…) in any order, but a set is not an array.
    assert cmp.check(Op([b"SMEMBERS", b"s"], kind="sorted"), Set((Bulk(b"a"), Bulk(b"b"))),
                     Set((Bulk(b"b"), Bulk(b"a")))) is None
    assert cmp.check(Op([b"SMEMBERS", b"s"], kind="sorted"), Set((Bulk(b"a"),)), Array((Bulk(b"a"),)))
    assert cmp.check(Op([b"SPOP", b"s", b"2"], kind="count"), Set((Bulk(b"a"),)), Set((Bulk(b"a"), Bulk(b"b"))))
    assert cmp.check(Op([b"SET", b"k", b"v"]), Error(b"ERR syntax error"), Error(b"ERR Syntax error"))
    # Inside a transaction the EXEC elements are compared with the queued commands' rules.
    assert cmp.check(Op([b"MULTI"]), OK, OK) is None
    assert cmp.check(Op([b"TTL", b"k"], kind="ttl_s"), QUEUED, QUEUED) is None
    assert cmp.check(Op([b"INCR", b"k"]), QUEUED, QUEUED) is None
    assert cmp.check(Op([b"EXEC"]), Array((Integer(500), Integer(1))), Array((Integer(499), Integer(1)))) is None
    assert cmp.check(Op([b"MULTI"]), OK, OK) is None
    assert cmp.check(Op([b"INCR", b"k"]), QUEUED, QUEUED) is None
    assert cmp.check(Op([b"EXEC"]), Array((Integer(1),)), Array((Integer(2),)))
