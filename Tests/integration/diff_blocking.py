"""Differential-test operations: the blocking pops (see diff_types.py).

Outside MULTI they wait at most a few milliseconds (a timeout that ends on both servers alike,
answered nil, or a pop when a key holds something); inside MULTI they never wait, timeout 0
included. Timeouts also come malformed, negative or too large, for the error paths. They are
never mutated (a junk argument could become a timeout of 0 and wait for ever).
"""

from diff_op import Op


class BlockingOps:
    COMMANDS: list = ["blpop", "brpop", "brpoplpush", "blmove", "blmpop", "bzpopmin", "bzpopmax", "bzmpop"]

    def b_timeout(self) -> bytes:
        r = self.rng.random()
        if r < 0.05:
            return self.rng.choice([b"abc", b"", b" 1", b"1 ", b"nan", b"-1", b"-0.5", b"1e30", b"inf",
                                    b"9223372036854775807"])
        if self.in_multi:
            return self.rng.choice([b"0", b"0.01", b"1", b"100"])
        return self.rng.choice([b"0.001", b"0.002", b"0.005"])

    def b_list_key(self) -> bytes:
        return self.zkey() if self.rng.random() < 0.1 else self.key()

    def b_zset_key(self) -> bytes:
        return self.zkey()

    def b_side(self, words) -> bytes:
        if self.rng.random() < 0.03:
            return self.rng.choice([b"UP", b"", b"MIDDLE"])
        return self.name(self.rng.choice(words))

    def g_blpop(self):
        keys = [self.b_list_key() for _ in range(self.rng.randint(1, 3))]
        return Op([self.name(self.rng.choice(["BLPOP", "BRPOP"]))] + keys + [self.b_timeout()])

    def g_blmove(self):
        if self.rng.random() < 0.3:
            return Op([self.name("BRPOPLPUSH"), self.b_list_key(), self.b_list_key(), self.b_timeout()])
        return Op([self.name("BLMOVE"), self.b_list_key(), self.b_list_key(), self.b_side(["LEFT", "RIGHT"]),
                   self.b_side(["LEFT", "RIGHT"]), self.b_timeout()])

    def _mpop(self, name: str, key, words):
        keys = [key() for _ in range(self.rng.randint(1, 3))]
        numkeys = str(len(keys)).encode()
        r = self.rng.random()
        if r < 0.04:
            numkeys = self.rng.choice([b"0", b"-1", b"x", b"9223372036854775807"])
        elif r < 0.08:
            numkeys = str(len(keys) + 1).encode()
        args = [self.name(name), self.b_timeout(), numkeys] + keys + [self.b_side(words)]
        r = self.rng.random()
        if r < 0.5:
            args += [self.name("COUNT"), self.rng.choice([b"1", b"2", b"5", b"0", b"-1", b"x"])]
        elif r < 0.55:
            args += [self.name("COUNT"), b"1", self.name("COUNT"), b"2"]
        return Op(args)

    def g_blmpop(self):
        return self._mpop("BLMPOP", self.b_list_key, ["LEFT", "RIGHT"])

    def g_bzpopmin(self):
        keys = [self.b_zset_key() for _ in range(self.rng.randint(1, 3))]
        return Op([self.name(self.rng.choice(["BZPOPMIN", "BZPOPMAX"]))] + keys + [self.b_timeout()])

    def g_bzmpop(self):
        return self._mpop("BZMPOP", self.b_zset_key, ["MIN", "MAX"])

    TABLE = [(1.0, g_blpop), (0.6, g_blmove), (0.6, g_blmpop), (0.8, g_bzpopmin), (0.6, g_bzmpop)]
    MULTI_TABLE = TABLE
