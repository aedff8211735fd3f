"""Differential-test operations: see diff_types.py."""

from diff_op import Op  # noqa: F401

# Integers (an intset in Redis while a set holds only them) and strings, in a small pool.
INT_MEMBERS = [b"1", b"2", b"3", b"-5", b"10", b"100", b"9223372036854775807", b"-9223372036854775808"]
STR_MEMBERS = [b"a", b"b", b"c", b"", b"x y", b"\x00", b"01", b"1.5", b"-0", b"\xff"]
COUNTS = [b"0", b"1", b"-1", b"2", b"-2", b"3", b"5", b"-6", b"20", b"9223372036854775807"]
BAD_COUNTS = [b"abc", b"", b"1.5", b"-9223372036854775808", b"9223372036854775808"]
# A key of its own for single-member SPOP: it never holds more than one member, so what SPOP
# takes is the same on both servers.
SPOP_KEY = b"spop:one"
# Keys that only set commands write, beside the shared pool (where strings and the other types
# hold most keys): so that sets grow, and meet each other in SINTER and the like, often enough.
SET_KEYS = [b"s:1", b"s:2", b"s:3", b"s:4"]


class SetOps:
    COMMANDS = ["sadd", "srem", "smembers", "sismember", "smismember", "scard", "spop", "srandmember",
                "smove", "sinter", "sunion", "sdiff", "sinterstore", "sunionstore", "sdiffstore",
                "sintercard", "sscan"]

    def skey(self) -> bytes:
        return self.rng.choice(SET_KEYS) if self.rng.random() < 0.45 else self.key()

    def skeys(self, lo: int = 1, hi: int = 4) -> list:
        return [self.skey() for _ in range(self.rng.randint(lo, hi))]

    def member(self) -> bytes:
        r = self.rng.random()
        if r < 0.5:
            return self.rng.choice(INT_MEMBERS)
        if r < 0.9:
            return self.rng.choice(STR_MEMBERS)
        return self.value()

    def members(self, lo: int = 1, hi: int = 4) -> list:
        return [self.member() for _ in range(self.rng.randint(lo, hi))]

    def g_sadd(self):
        args = [self.name("SADD"), self.skey()]
        r = self.rng.random()
        if r < 0.02:
            # Past set-max-intset-entries (512): a hashtable in Redis.
            args += [str(i).encode() for i in range(self.rng.randint(505, 520))]
        elif r < 0.3:
            args += [self.rng.choice(INT_MEMBERS) for _ in range(self.rng.randint(1, 4))]
        else:
            args += self.members(1, 4)
        return Op(args)

    def g_srem(self):
        return Op([self.name("SREM"), self.skey()] + self.members(1, 3))

    def g_sread(self):
        r = self.rng.random()
        if r < 0.35:
            return Op([self.name("SMEMBERS"), self.skey()], kind="sorted")
        if r < 0.55:
            return Op([self.name("SISMEMBER"), self.skey(), self.member()])
        if r < 0.75:
            return Op([self.name("SMISMEMBER"), self.skey()] + self.members(1, 4))
        return Op([self.name("SCARD"), self.skey()])

    def g_spop(self):
        r = self.rng.random()
        key = self.skey()
        if r < 0.1:
            # Takes every member: the same ones on both servers.
            return Op([self.name("SPOP"), key, self.rng.choice([b"1000", b"9223372036854775807"])], kind="sorted")
        if r < 0.4:
            return Op([self.name("SPOP"), key, b"0"])
        if r < 0.55:
            return Op([self.name("SPOP"), key, self.rng.choice([b"-1", b"abc", b"", b"1.5"])])
        if r < 0.6:
            return Op([self.name("SPOP"), key, b"1", b"2"])
        if r < 0.8:
            # Never mutated: a junk extra member would make the SPOP below a random pick.
            return Op([self.name("SADD"), SPOP_KEY, b"m"], mutable=False)
        return Op([self.name("SPOP"), SPOP_KEY] + self.rng.choice([[], [b"1"], [b"5"]]), kind="sorted")

    def g_srandmember(self):
        args = [self.name("SRANDMEMBER"), self.skey()]
        r = self.rng.random()
        if r < 0.3:
            pass
        elif r < 0.9:
            args.append(self.rng.choice(COUNTS))
        else:
            args += self.rng.choice([[self.rng.choice(BAD_COUNTS)], [b"1", b"2"]])
        return Op(args, kind="count")

    def g_smove(self):
        return Op([self.name("SMOVE"), self.skey(), self.skey(), self.member()])

    def g_salgebra(self):
        name = self.rng.choice(["SINTER", "SUNION", "SDIFF"])
        return Op([self.name(name)] + self.skeys(1, 4), kind="sorted")

    def g_sstore(self):
        name = self.rng.choice(["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"])
        return Op([self.name(name), self.skey()] + self.skeys(1, 3))

    def g_sintercard(self):
        r = self.rng.random()
        keys = self.skeys(1, 4)
        if r < 0.8:
            args = [str(len(keys)).encode()] + keys
            if self.rng.random() < 0.5:
                args += [self.name("LIMIT"), self.rng.choice([b"0", b"1", b"2", b"5"])]
        else:
            args = self.rng.choice([
                [b"0"] + keys, [b"-1"] + keys, [b"abc"] + keys, [str(len(keys) + 1).encode()] + keys,
                [str(len(keys)).encode()] + keys + [b"LIMIT"], [str(len(keys)).encode()] + keys + [b"LIMIT", b"-1"],
                [str(len(keys)).encode()] + keys + [b"LIMIT", b"x"], [str(len(keys)).encode()] + keys + [b"FOO"],
                [b"1"] + keys + [b"LIMIT", b"1"],
            ])
        return Op([self.name("SINTERCARD")] + args)

    def g_sscan(self):
        if self.rng.random() < 0.2:
            bad = self.rng.choice([
                [b"abc"], [b"-"], [b"0", b"COUNT", b"0"], [b"0", b"COUNT", b"abc"], [b"0", b"MATCH"],
                [b"0", b"FOO"], [b"0", b"TYPE", b"set"],
            ])
            return Op([self.name("SSCAN"), self.skey()] + bad)
        opts = []
        if self.rng.random() < 0.5:
            opts += [self.name("MATCH"), self.rng.choice([b"*", b"1*", b"?", b"[a-c]", b"*0*", b"", b"-*"])]
        if self.rng.random() < 0.5:
            opts += [self.name("COUNT"), str(self.rng.randint(1, 20)).encode()]
        return Op([self.name("SSCAN"), self.skey(), b"0"] + opts, compound="scan")

    def g_sscan_multi(self):
        return Op([self.name("SSCAN"), self.skey()] + self.rng.choice([
            [b"abc"], [b"0", b"COUNT", b"0"], [b"0", b"FOO"], [b"0", b"MATCH"],
        ]))

    TABLE = [
        (4.5, g_sadd), (1.5, g_srem), (3, g_sread), (1.2, g_spop), (1, g_srandmember), (1.2, g_smove),
        (1.5, g_salgebra), (1.5, g_sstore), (1, g_sintercard), (1, g_sscan),
    ]
    MULTI_TABLE = [
        (3, g_sadd), (1, g_srem), (2, g_sread), (1, g_spop), (0.7, g_srandmember), (1, g_smove),
        (1, g_salgebra), (1, g_sstore), (0.7, g_sintercard), (0.3, g_sscan_multi),
    ]
