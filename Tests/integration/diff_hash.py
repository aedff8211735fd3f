"""Differential-test operations: see diff_types.py."""

from diff_op import Op  # noqa: F401

# A small pool, so that fields collide; "" and binary ones included.
FIELDS = [b"f1", b"f2", b"f3", b"f4", b"f5", b"", b"a b", b"x\x00y", b"\xff\xfe", b"10", b"-1"]
LONG_FIELD = b"L" * 70  # longer than hash-max-listpack-value: Redis converts to a hashtable
COUNTS = [b"0", b"1", b"-1", b"2", b"-2", b"3", b"5", b"-7", b"20", b"100", b"9223372036854775807"]
BAD_COUNTS = [b"abc", b"", b"1.5", b"-9223372036854775808", b"9223372036854775808"]
# Keys that only hash commands write, beside the shared pool (where strings and the other
# types hold most keys): so that hashes grow, and meet each other, often enough.
HASH_KEYS = [b"h:1", b"h:2", b"h:3"]


class HashOps:
    COMMANDS = ["hset", "hsetnx", "hget", "hmget", "hmset", "hgetall", "hdel", "hexists", "hlen",
                "hstrlen", "hkeys", "hvals", "hincrby", "hincrbyfloat", "hrandfield", "hscan"]

    def hkey(self) -> bytes:
        return self.rng.choice(HASH_KEYS) if self.rng.random() < 0.45 else self.key()

    def field(self) -> bytes:
        r = self.rng.random()
        if r < 0.85:
            return self.rng.choice(FIELDS)
        if r < 0.95:
            return self.value()
        return LONG_FIELD

    def fields(self, lo: int = 1, hi: int = 4) -> list:
        return [self.field() for _ in range(self.rng.randint(lo, hi))]

    def g_hset(self):
        name = self.rng.choice(["HSET", "HSET", "HMSET"])
        args = [self.name(name), self.hkey()]
        if self.rng.random() < 0.02:
            # Past hash-max-listpack-entries (128): a hashtable in Redis.
            for i in range(self.rng.randint(125, 140)):
                args += [b"many%d" % i, str(i).encode()]
        else:
            for _ in range(self.rng.randint(1, 4)):
                args += [self.field(), self.value()]
        if self.rng.random() < 0.05:
            args.append(self.field())  # odd number of arguments
        return Op(args)

    def g_hsetnx(self):
        return Op([self.name("HSETNX"), self.hkey(), self.field(), self.value()])

    def g_hget(self):
        r = self.rng.random()
        if r < 0.5:
            return Op([self.name("HGET"), self.hkey(), self.field()])
        if r < 0.75:
            return Op([self.name("HMGET"), self.hkey()] + self.fields(1, 5))
        name = self.rng.choice(["HEXISTS", "HSTRLEN"])
        return Op([self.name(name), self.hkey(), self.field()])

    def g_hgetall(self):
        r = self.rng.random()
        if r < 0.45:
            return Op([self.name("HGETALL"), self.hkey()], kind="pairs")
        if r < 0.7:
            return Op([self.name(self.rng.choice(["HKEYS", "HVALS"])), self.hkey()], kind="sorted")
        return Op([self.name("HLEN"), self.hkey()])

    def g_hdel(self):
        return Op([self.name("HDEL"), self.hkey()] + self.fields(1, 4))

    def g_hincrby(self):
        if self.rng.random() < 0.5:
            return Op([self.name("HINCRBY"), self.hkey(), self.field(), self.int_arg()])
        return Op([self.name("HINCRBYFLOAT"), self.hkey(), self.field(), self.float_arg()])

    def g_hrandfield(self):
        args = [self.name("HRANDFIELD"), self.hkey()]
        r = self.rng.random()
        if r < 0.25:
            pass
        elif r < 0.9:
            args.append(self.rng.choice(COUNTS))
            if self.rng.random() < 0.5:
                args.append(self.name("WITHVALUES"))
        else:
            args += self.rng.choice([
                [self.rng.choice(BAD_COUNTS)], [self.rng.choice(BAD_COUNTS), b"WITHVALUES"],
                [b"2", b"FOO"], [b"2", b"WITHVALUES", b"x"], [b"-9223372036854775807", b"WITHVALUES"],
                [b"4611686018427387904", b"withvalues"],
            ])
        # Which fields come out is random: compare the reply's type and length.
        return Op(args, kind="count")

    def g_hscan(self):
        if self.rng.random() < 0.2:  # bad arguments (or a missing key), compared exactly
            bad = self.rng.choice([
                [b"abc"], [b"99999999999999999999"], [b"0", b"COUNT", b"0"], [b"0", b"COUNT", b"abc"],
                [b"0", b"MATCH"], [b"0", b"FOO"], [b"0", b"TYPE", b"string"], [b"0", b"COUNT", b"-1"],
                [b"0", b"NOVALUES"],
            ])
            return Op([self.name("HSCAN"), self.hkey()] + bad)
        opts = []
        if self.rng.random() < 0.5:
            opts += [self.name("MATCH"), self.rng.choice([b"*", b"f*", b"f[1-3]", b"?", b"*\x00*", b"", b"many1*"])]
        if self.rng.random() < 0.5:
            opts += [self.name("COUNT"), str(self.rng.randint(1, 20)).encode()]
        # The cursors differ (Redis's dict against Strata's positions): a full iteration each.
        return Op([self.name("HSCAN"), self.hkey(), b"0"] + opts, compound="scan")

    def g_hscan_multi(self):
        # Inside MULTI only the replies that do not depend on a cursor walk.
        return Op([self.name("HSCAN"), self.hkey()] + self.rng.choice([
            [b"abc"], [b"0", b"COUNT", b"0"], [b"0", b"FOO"], [b"0", b"MATCH"],
        ]))

    TABLE = [
        (3.5, g_hset), (0.8, g_hsetnx), (2.5, g_hget), (2, g_hgetall), (1.5, g_hdel), (2, g_hincrby),
        (1, g_hrandfield), (1, g_hscan),
    ]
    MULTI_TABLE = [
        (3, g_hset), (0.5, g_hsetnx), (2, g_hget), (1.5, g_hgetall), (1, g_hdel), (1.5, g_hincrby),
        (0.7, g_hrandfield), (0.3, g_hscan_multi),
    ]
