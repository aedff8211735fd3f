"""Differential-test operations: see diff_types.py."""

from diff_op import Op  # noqa: F401

# Members in a small pool, so that they meet often; their byte order decides ties and lex ranges.
MEMBERS = [b"a", b"b", b"c", b"d", b"e", b"aa", b"ab", b"b\x00", b"", b"\x00", b"\xff", b"A", b"1", b"10",
           b"-1", b"x y", b"[a", b"(b", b"-", b"+"]
SCORES = [b"0", b"1", b"2", b"3", b"-1", b"-2", b"1.5", b"-2.5", b"0.1", b"10", b"100", b"-100", b"inf", b"-inf",
          b"+inf", b"Infinity", b"1e10", b"1e-5", b"-0", b"123456789012345678", b"0x10", b"3.0e2", b"1e308",
          b"-1e308", b"4611686018427387904", b"2.5e-320"]
BAD_SCORES = [b"nan", b"abc", b"", b" 1", b"1 ", b"1e400", b"--1", b"1.5.5", b"-nan", b"1\x00"]
BAD_BOUNDS = [b"nan", b"(nan", b"abc", b"((1", b"1 2", b"(abc", b"1e5x"]
ODD_BOUNDS = [b"", b"(", b" 1", b"1e400", b"-1e400", b"(inf", b"(-inf", b"+inf", b"-inf"]
LEX_SPECIAL = [b"-", b"+", b"[", b"("]
BAD_LEX = [b"a", b"", b"+a", b"-x", b"!", b"]a", b"++"]
COUNTS = [b"0", b"1", b"2", b"3", b"5", b"-1", b"-2", b"-5", b"10", b"100", b"9223372036854775807"]
BAD_COUNTS = [b"abc", b"", b"1.5", b"-9223372036854775808", b"9223372036854775808"]
INDICES = [b"0", b"1", b"2", b"-1", b"-2", b"-3", b"5", b"10", b"-10", b"100", b"-100",
           b"9223372036854775807", b"-9223372036854775808"]
# Keys that only sorted-set commands write, beside the shared pool (where strings and the other
# types hold most keys): so that sorted sets grow and meet each other often enough.
Z_KEYS = [b"z:1", b"z:2", b"z:3", b"z:4"]
# Past Redis's listpack limits (skiplist), with mixed scores: never the source of a STORE and
# never scanned (a skiplist's ZSCAN order is the dict's), and no lex ranges (their answer on
# mixed scores depends on the skiplist's random levels).
Z_BIG = b"z:big"
# Past the listpack limits too, every score equal: lex ranges are well defined.
Z_LEX = b"z:lex"
Z_LEX2 = b"z:lex2"  # ZRANGESTORE's copies of parts of Z_LEX
# Scanned: only short members are added here, so it stays a listpack (returned whole, in order).
Z_SCAN = b"z:scan"
GLOBS = [b"*", b"a*", b"?", b"[ab]", b"*b*", b"x*", b"\\[*", b"1*"]


class ZSetOps:
    COMMANDS = ["zadd", "zincrby", "zrem", "zremrangebyrank", "zremrangebyscore", "zremrangebylex", "zcard",
                "zscore", "zmscore", "zrank", "zrevrank", "zcount", "zlexcount", "zrange", "zrevrange",
                "zrangebyscore", "zrevrangebyscore", "zrangebylex", "zrevrangebylex", "zrangestore", "zpopmin",
                "zpopmax", "zmpop", "zrandmember", "zunion", "zinter", "zdiff", "zunionstore", "zinterstore",
                "zdiffstore", "zintercard", "zscan"]

    # -- building blocks ---------------------------------------------------

    def zkey(self) -> bytes:
        return self.rng.choice(Z_KEYS) if self.rng.random() < 0.6 else self.key()

    def zread_key(self) -> bytes:
        """A key to read: also the big ones."""
        r = self.rng.random()
        if r < 0.1:
            return Z_BIG
        return self.zkey()

    def zkeys(self, lo: int = 1, hi: int = 4) -> list:
        return [self.zkey() for _ in range(self.rng.randint(lo, hi))]

    def zmember(self) -> bytes:
        return self.rng.choice(MEMBERS)

    def zscore_arg(self) -> bytes:
        r = self.rng.random()
        if r < 0.55:
            return self.rng.choice(SCORES[:12])
        if r < 0.93:
            return self.rng.choice(SCORES)
        return self.rng.choice(BAD_SCORES)

    def zbound(self) -> bytes:
        r = self.rng.random()
        if r < 0.03:
            return self.rng.choice(BAD_BOUNDS)
        if r < 0.1:
            return self.rng.choice(ODD_BOUNDS)
        value = self.rng.choice(SCORES[:16])
        return b"(" + value if self.rng.random() < 0.3 else value

    def zlex(self) -> bytes:
        r = self.rng.random()
        if r < 0.04:
            return self.rng.choice(BAD_LEX)
        if r < 0.3:
            return self.rng.choice(LEX_SPECIAL[:2])
        if r < 0.35:
            return self.rng.choice(LEX_SPECIAL)
        return self.rng.choice([b"[", b"("]) + self.zmember()

    def zindex(self) -> bytes:
        return self.rng.choice(INDICES) if self.rng.random() < 0.9 else self.rng.choice(BAD_COUNTS)

    def zcount_arg(self) -> bytes:
        return self.rng.choice(COUNTS) if self.rng.random() < 0.9 else self.rng.choice(BAD_COUNTS)

    def zlimit(self) -> list:
        if self.rng.random() < 0.9:
            offset = self.rng.choice([b"0", b"0", b"1", b"2", b"-1", b"5", b"100"])
            count = self.rng.choice([b"1", b"2", b"3", b"-1", b"-5", b"0", b"10"])
            return [self.name("LIMIT"), offset, count]
        return [self.name("LIMIT")] + self.rng.choice([[b"abc", b"1"], [b"0", b"x"], [b"0"], []])

    # -- writes --------------------------------------------------------------

    def g_zadd(self):
        key = self.zkey()
        args = [self.name("ZADD"), key]
        opts = []
        r = self.rng.random()
        if r < 0.15:
            opts.append(self.name(self.rng.choice(["NX", "XX"])))
        if self.rng.random() < 0.15:
            opts.append(self.name(self.rng.choice(["GT", "LT"])))
        if self.rng.random() < 0.15:
            opts.append(self.name("CH"))
        incr = self.rng.random() < 0.15
        if incr:
            opts.append(self.name("INCR"))
        if self.rng.random() < 0.04:  # conflicting or repeated options
            opts.append(self.name(self.rng.choice(["NX", "XX", "GT", "LT", "INCR", "CH"])))
        if self.rng.random() < 0.2:
            self.rng.shuffle(opts)
        pairs = 1 if incr and self.rng.random() < 0.9 else self.rng.randint(1, 4)
        tail = []
        for _ in range(pairs):
            tail += [self.zscore_arg(), self.zmember()]
        if self.rng.random() < 0.03:
            tail.append(self.zscore_arg())  # odd count
        return Op(args + opts + tail)

    def g_zadd_scan(self):
        """The scanned key: ZADD or ZREM with short members only."""
        if self.rng.random() < 0.75:
            args = [self.name("ZADD"), Z_SCAN]
            for _ in range(self.rng.randint(1, 4)):
                args += [self.rng.choice(SCORES[:14]), self.zmember()]
            return Op(args)
        return Op([self.name("ZREM"), Z_SCAN, self.zmember()])

    def g_zbig(self):
        """The big keys: past 128 members, or a member past 64 bytes (skiplist in Redis)."""
        r = self.rng.random()
        if r < 0.25:
            args = [self.name("ZADD"), Z_BIG]
            for i in range(self.rng.randint(120, 140)):
                args += [str(self.rng.randint(-50, 50) / 4).encode(), b"m%d" % i]
            return Op(args)
        if r < 0.35:
            return Op([self.name("ZADD"), Z_BIG, self.zscore_arg(), b"long-" + b"x" * self.rng.randint(60, 70)])
        if r < 0.55:
            args = [self.name("ZADD"), Z_LEX]
            for i in range(self.rng.randint(1, 150)):
                args += [b"0", self.rng.choice(MEMBERS) + b"%d" % i]
            return Op(args)
        if r < 0.7:
            return Op([self.name("ZADD"), Z_BIG, self.zscore_arg(), self.zmember()])
        if r < 0.8:
            return Op([self.name(self.rng.choice(["ZPOPMIN", "ZPOPMAX"])), Z_BIG, self.rng.choice([b"1", b"3", b"50"])])
        if r < 0.9:
            return Op([self.name("ZREMRANGEBYLEX"), Z_LEX, self.zlex(), self.zlex()])
        return Op([self.name("ZREMRANGEBYRANK"), Z_BIG, self.zindex(), self.zindex()])

    def g_zincrby(self):
        if self.rng.random() < 0.05:  # ZINCRBY reads ZADD's options: a syntax error
            return Op([self.name("ZINCRBY"), self.zkey(), self.name(self.rng.choice(["NX", "INCR", "CH"])), self.zmember()])
        return Op([self.name("ZINCRBY"), self.zkey(), self.zscore_arg(), self.zmember()])

    def g_zrem(self):
        return Op([self.name("ZREM"), self.zkey()] + [self.zmember() for _ in range(self.rng.randint(1, 4))])

    def g_zremrange(self):
        r = self.rng.random()
        key = self.zkey()
        if r < 0.35:
            return Op([self.name("ZREMRANGEBYRANK"), key, self.zindex(), self.zindex()])
        if r < 0.7:
            return Op([self.name("ZREMRANGEBYSCORE"), key, self.zbound(), self.zbound()])
        return Op([self.name("ZREMRANGEBYLEX"), key, self.zlex(), self.zlex()])

    # -- reads ---------------------------------------------------------------

    def g_zread(self):
        r = self.rng.random()
        key = self.zread_key()
        if r < 0.15:
            return Op([self.name("ZCARD"), key])
        if r < 0.3:
            return Op([self.name("ZSCORE"), key, self.zmember()])
        if r < 0.45:
            return Op([self.name("ZMSCORE"), key] + [self.zmember() for _ in range(self.rng.randint(1, 4))])
        if r < 0.6:
            return Op([self.name(self.rng.choice(["ZRANK", "ZREVRANK"])), key, self.zmember()])
        if r < 0.8:
            return Op([self.name("ZCOUNT"), key, self.zbound(), self.zbound()])
        key = self.rng.choice([Z_LEX, Z_LEX2, self.zkey()])
        return Op([self.name("ZLEXCOUNT"), key, self.zlex(), self.zlex()])

    def range_options(self, store: bool) -> list:
        opts = []
        kind = self.rng.random()
        if kind < 0.35:
            opts.append(self.name("BYSCORE"))
        elif kind < 0.6:
            opts.append(self.name("BYLEX"))
        if self.rng.random() < 0.3:
            opts.append(self.name("REV"))
        if self.rng.random() < (0.4 if opts else 0.05):
            opts += self.zlimit()
        if not store and self.rng.random() < (0.4 if kind >= 0.6 or kind < 0.35 else 0.05):
            opts.append(self.name("WITHSCORES"))
        if self.rng.random() < 0.03:
            opts.append(self.name(self.rng.choice(["BYSCORE", "BYLEX", "REV", "WITHSCORES", "FOO", "LIMIT"])))
        if self.rng.random() < 0.15:
            self.rng.shuffle(opts)
        return opts

    def range_bounds(self, opts: list) -> list:
        names = [o.upper() for o in opts]
        if b"BYSCORE" in names:
            return [self.zbound(), self.zbound()]
        if b"BYLEX" in names:
            return [self.zlex(), self.zlex()]
        return [self.zindex(), self.zindex()]

    def g_zrange(self):
        r = self.rng.random()
        if r < 0.45:
            opts = self.range_options(store=False)
            key = self.zread_key()
            if b"BYLEX" in [o.upper() for o in opts] and key == Z_BIG:
                key = self.rng.choice([Z_LEX, Z_LEX2])
            return Op([self.name("ZRANGE"), key] + self.range_bounds(opts) + opts)
        key = self.zkey() if self.rng.random() < 0.85 else Z_BIG
        withscores = [self.name("WITHSCORES")] if self.rng.random() < 0.4 else []
        if r < 0.6:
            return Op([self.name("ZREVRANGE"), key, self.zindex(), self.zindex()] + withscores)
        limit = self.zlimit() if self.rng.random() < 0.35 else []
        tail = withscores + limit
        if self.rng.random() < 0.2:
            self.rng.shuffle(tail)
        if r < 0.8:
            name = self.rng.choice(["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"])
            return Op([self.name(name), key, self.zbound(), self.zbound()] + tail)
        name = self.rng.choice(["ZRANGEBYLEX", "ZREVRANGEBYLEX"])
        key = Z_LEX if key == Z_BIG else key
        tail = limit if self.rng.random() < 0.9 else tail
        return Op([self.name(name), key, self.zlex(), self.zlex()] + tail)

    def g_zrangestore(self):
        opts = self.range_options(store=True)
        if self.rng.random() < 0.1:  # equal scores, past the listpack limits: into a key of its own
            return Op([self.name("ZRANGESTORE"), Z_LEX2, Z_LEX] + self.range_bounds(opts) + opts)
        return Op([self.name("ZRANGESTORE"), self.zkey(), self.zkey()] + self.range_bounds(opts) + opts)

    # -- pops ----------------------------------------------------------------

    def g_zpop(self):
        r = self.rng.random()
        if r < 0.55:
            args = [self.name(self.rng.choice(["ZPOPMIN", "ZPOPMAX"])), self.zkey()]
            if self.rng.random() < 0.6:
                args.append(self.zcount_arg())
            if self.rng.random() < 0.03:
                args.append(b"1")
            return Op(args)
        r = self.rng.random()
        if r < 0.1:
            numkeys = self.rng.choice([b"0", b"-1", b"abc", b"5", b"9223372036854775807"])
            keys = self.zkeys(1, 2)
        else:
            keys = self.zkeys(1, 3)
            numkeys = str(len(keys)).encode()
        args = [self.name("ZMPOP"), numkeys] + keys
        args.append(self.name(self.rng.choice(["MIN", "MAX"])) if self.rng.random() < 0.95 else b"FOO")
        if self.rng.random() < 0.5:
            args += [self.name("COUNT"), self.rng.choice([b"1", b"2", b"10", b"0", b"-1", b"abc"])]
        if self.rng.random() < 0.03:
            args += [self.name("COUNT"), b"1"]
        return Op(args)

    def g_zrandmember(self):
        key = self.zread_key()
        r = self.rng.random()
        if r < 0.25:
            return Op([self.name("ZRANDMEMBER"), key], kind="count")
        if r < 0.4:  # at least the whole set: all of it, in Redis's iterator's order
            args = [self.name("ZRANDMEMBER"), key, self.rng.choice([b"200", b"9223372036854775807"])]
            return Op(args + ([self.name("WITHSCORES")] if self.rng.random() < 0.5 else []))
        args = [self.name("ZRANDMEMBER"), key, self.zcount_arg()]
        if self.rng.random() < 0.4:
            args.append(self.name("WITHSCORES") if self.rng.random() < 0.95 else b"FOO")
        if self.rng.random() < 0.05:
            args[2] = self.rng.choice([b"4611686018427387904", b"-4611686018427387904", b"4611686018427387903"])
        if args[2] == b"-4611686018427387904" and len(args) == 3:
            args[2] = b"-4"  # a huge negative count makes both servers write that many members
        return Op(args, kind="count")

    # -- set operations ------------------------------------------------------

    def g_zsetop(self):
        name = self.rng.choice(["ZUNION", "ZINTER", "ZDIFF", "ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE", "ZINTERCARD"])
        store = name.endswith("STORE")
        keys = self.zkeys(1, 4)
        r = self.rng.random()
        if r < 0.05:
            numkeys = self.rng.choice([b"0", b"-1", b"abc", b"9", b"9223372036854775807"])
        elif r < 0.08:
            numkeys = str(len(keys) - 1).encode()  # the last key reads as an option
        else:
            numkeys = str(len(keys)).encode()
        args = [self.name(name)] + ([self.zkey()] if store else []) + [numkeys] + keys
        opts = []
        if name in ("ZUNION", "ZINTER", "ZUNIONSTORE", "ZINTERSTORE"):
            if self.rng.random() < 0.35:
                n = len(keys) if self.rng.random() < 0.9 else len(keys) + 1
                opts.append([self.name("WEIGHTS")] + [
                    self.rng.choice([b"1", b"2", b"0", b"-1", b"0.5", b"inf", b"-inf", b"3"]) if self.rng.random() < 0.95
                    else self.rng.choice([b"nan", b"x"]) for _ in range(n)])
            if self.rng.random() < 0.35:
                opts.append([self.name("AGGREGATE"), self.name(self.rng.choice(["SUM", "MIN", "MAX"]))
                             if self.rng.random() < 0.95 else b"AVG"])
        if not store and name != "ZINTERCARD" and self.rng.random() < 0.5:
            opts.append([self.name("WITHSCORES")])
        if name == "ZINTERCARD" and self.rng.random() < 0.4:
            opts.append([self.name("LIMIT"), self.rng.choice([b"0", b"1", b"2", b"-1", b"abc"])])
        if self.rng.random() < 0.04:
            opts.append([self.name(self.rng.choice(["WEIGHTS", "AGGREGATE", "WITHSCORES", "LIMIT", "FOO"]))])
        self.rng.shuffle(opts)
        for o in opts:
            args += o
        return Op(args)

    def g_zscan(self):
        r = self.rng.random()
        if r < 0.4:
            return self.g_zadd_scan()
        key = Z_SCAN if r < 0.85 else self.key()
        cursor = b"0" if self.rng.random() < 0.85 else self.rng.choice([b"7", b"", b"-1", b"abc", b"18446744073709551616"])
        args = [self.name("ZSCAN"), key, cursor]
        if self.rng.random() < 0.4:
            args += [self.name("MATCH"), self.rng.choice(GLOBS)]
        if self.rng.random() < 0.3:
            args += [self.name("COUNT"), self.rng.choice([b"1", b"5", b"100", b"0", b"-1", b"abc"])]
        if self.rng.random() < 0.03:
            args.append(self.name(self.rng.choice(["MATCH", "COUNT", "TYPE"])))
        return Op(args)

    TABLE = [
        (3.5, g_zadd), (0.8, g_zincrby), (1.2, g_zrem), (1.2, g_zremrange), (2.5, g_zread), (3.5, g_zrange),
        (0.8, g_zrangestore), (1.6, g_zpop), (0.8, g_zrandmember), (2, g_zsetop), (0.8, g_zscan), (0.5, g_zbig),
    ]
    MULTI_TABLE = [
        (2, g_zadd), (0.5, g_zincrby), (0.5, g_zrem), (0.5, g_zremrange), (1, g_zread), (1.5, g_zrange),
        (0.5, g_zrangestore), (1, g_zpop), (0.5, g_zrandmember), (1, g_zsetop), (0.5, g_zscan),
    ]
