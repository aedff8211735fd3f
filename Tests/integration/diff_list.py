"""Differential-test operations: see diff_types.py."""

from diff_op import Op  # noqa: F401

# Elements that repeat often, so that LREM, LPOS and LINSERT find matches.
_COMMON = [b"a", b"b", b"c", b"1", b"-1", b"", b"hello world"]


class ListOps:
    COMMANDS: list = ["lpush", "rpush", "lpushx", "rpushx", "lpop", "rpop", "llen", "lrange", "lindex",
                      "lset", "linsert", "lrem", "ltrim", "lpos", "lmove", "rpoplpush", "lmpop"]

    # -- building blocks ---------------------------------------------------

    def l_elem(self) -> bytes:
        return self.rng.choice(_COMMON) if self.rng.random() < 0.5 else self.value()

    def l_index(self) -> bytes:
        """A list index: mostly near the ends, sometimes extreme or not an integer."""
        r = self.rng.random()
        if r < 0.85:
            return str(self.rng.randint(-12, 12)).encode()
        return self.int_arg()

    def l_side(self) -> bytes:
        if self.rng.random() < 0.03:
            return self.rng.choice([b"UP", b"", b"LEFTS"])
        return self.name(self.rng.choice(["LEFT", "RIGHT"]))

    def l_count(self) -> bytes:
        """A pop count: small, zero, negative, huge or not an integer."""
        r = self.rng.random()
        if r < 0.7:
            return str(self.rng.randint(1, 6)).encode()
        if r < 0.8:
            return b"0"
        if r < 0.87:
            return str(self.rng.randint(-3, -1)).encode()
        return self.int_arg()

    # -- commands ------------------------------------------------------------

    def g_lpush(self):
        name = self.rng.choice(["LPUSH", "RPUSH"])
        return Op([self.name(name), self.key()] + [self.l_elem() for _ in range(self.rng.randint(1, 6))])

    def g_lpushx(self):
        name = self.rng.choice(["LPUSHX", "RPUSHX"])
        return Op([self.name(name), self.key()] + [self.l_elem() for _ in range(self.rng.randint(1, 3))])

    def g_lpop(self):
        args = [self.name(self.rng.choice(["LPOP", "RPOP"])), self.key()]
        r = self.rng.random()
        if r < 0.45:
            args.append(self.l_count())
        elif r < 0.48:
            args += [b"1", b"2"]
        return Op(args)

    def g_llen(self):
        return Op([self.name("LLEN"), self.key()])

    def g_lrange(self):
        return Op([self.name("LRANGE"), self.key(), self.l_index(), self.l_index()])

    def g_lindex(self):
        return Op([self.name("LINDEX"), self.key(), self.l_index()])

    def g_lset(self):
        return Op([self.name("LSET"), self.key(), self.l_index(), self.l_elem()])

    def g_linsert(self):
        where = self.name(self.rng.choice(["BEFORE", "AFTER"])) if self.rng.random() < 0.95 else b"BETWEEN"
        return Op([self.name("LINSERT"), self.key(), where, self.l_elem(), self.l_elem()])

    def g_lrem(self):
        r = self.rng.random()
        count = str(self.rng.randint(-3, 3)).encode() if r < 0.85 else self.int_arg()
        return Op([self.name("LREM"), self.key(), count, self.l_elem()])

    def g_ltrim(self):
        return Op([self.name("LTRIM"), self.key(), self.l_index(), self.l_index()])

    def g_lpos(self):
        args = [self.name("LPOS"), self.key(), self.l_elem()]
        options = ["RANK", "COUNT", "MAXLEN"]
        self.rng.shuffle(options)
        for option in options[:self.rng.randint(0, 3)]:
            r = self.rng.random()
            if option == "RANK":
                value = str(self.rng.choice([1, 2, 3, -1, -2, -3])).encode() if r < 0.8 else \
                    self.rng.choice([b"0", b"x", b"-9223372036854775808", b"9223372036854775807"])
            else:
                value = str(self.rng.randint(0, 4)).encode() if r < 0.85 else \
                    self.rng.choice([b"-1", b"x", b"9223372036854775807"])
            args += [self.name(option), value]
        if self.rng.random() < 0.03:
            args.append(self.name(self.rng.choice(["RANK", "FOO"])))
        return Op(args)

    def g_lmove(self):
        if self.rng.random() < 0.3:
            return Op([self.name("RPOPLPUSH"), self.key(), self.key()])
        source = self.key()
        destination = source if self.rng.random() < 0.2 else self.key()
        return Op([self.name("LMOVE"), source, destination, self.l_side(), self.l_side()])

    def g_lmpop(self):
        keys = self.keys(1, 4)
        r = self.rng.random()
        if r < 0.9:
            numkeys = str(len(keys)).encode()
        else:
            numkeys = self.rng.choice([b"0", b"-1", b"x", str(len(keys) + 1).encode(), b"9223372036854775807"])
        args = [self.name("LMPOP"), numkeys] + keys + [self.l_side()]
        r = self.rng.random()
        if r < 0.5:
            args += [self.name("COUNT"), self.l_count()]
        elif r < 0.53:
            args += [self.name("COUNT"), b"1", self.name("COUNT"), b"2"]
        elif r < 0.55:
            args.append(self.name("COUNT"))
        return Op(args)

    TABLE = [
        (3, g_lpush), (0.7, g_lpushx), (2.5, g_lpop), (0.7, g_llen), (2, g_lrange), (0.8, g_lindex),
        (0.8, g_lset), (0.8, g_linsert), (0.8, g_lrem), (0.8, g_ltrim), (1.2, g_lpos), (1.2, g_lmove), (1.2, g_lmpop),
    ]
    MULTI_TABLE = [
        (2.5, g_lpush), (0.4, g_lpushx), (1.5, g_lpop), (0.4, g_llen), (1, g_lrange), (0.4, g_lindex),
        (0.4, g_lset), (0.4, g_linsert), (0.4, g_lrem), (0.4, g_ltrim), (0.8, g_lpos), (0.8, g_lmove), (0.8, g_lmpop),
    ]
