"""Differential-test operations: see diff_types.py.

Bitmaps (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO), the string
commands SUBSTR and LCS, and OBJECT ENCODING (of strings after SET, APPEND, SETRANGE,
INCR, INCRBYFLOAT and the bit writes, and of whatever else a key holds). Written offsets
stay below a few hundred bits, so values stay small; large and invalid offsets appear
only where they are refused or only read.
"""

from diff_op import Op  # noqa: F401

# Offsets that are refused (negative, not integers, or past 2^32-1 bits).
BAD_OFFSETS = [b"-1", b"abc", b"4294967296", b"1.5", b"", b"#5", b"9223372036854775807",
               b"-9223372036854775808", b" 1"]
# Valid but far away: only read (GETBIT, BITFIELD GET), never written.
FAR_OFFSETS = [b"4294967295", b"4294967288", b"100000000"]
BAD_BITS = [b"2", b"-1", b"abc", b"01", b" 1", b"", b"1.0", b"9223372036854775808"]
FIELD_TYPES_BAD = [b"u64", b"i65", b"i0", b"u0", b"x8", b"I8", b"U8", b"u", b"i", b"", b"u8a", b"u-1",
                   b"u08", b"i+8", b"8"]


class BitOps:
    COMMANDS = ["setbit", "getbit", "bitcount", "bitpos", "bitop", "bitfield", "bitfield_ro",
                "substr", "lcs"]

    # -- pieces ----------------------------------------------------------------

    def bit_offset(self, read_only: bool = False) -> bytes:
        r = self.rng.random()
        if r < 0.88:
            return str(self.rng.randint(0, 200 if self.rng.random() < 0.3 else 64)).encode()
        if read_only and r < 0.94:
            return self.rng.choice(FAR_OFFSETS)
        return self.rng.choice(BAD_OFFSETS)

    def range_index(self) -> bytes:
        r = self.rng.random()
        if r < 0.88:
            return str(self.rng.randint(-40, 40)).encode()
        if r < 0.94:
            return self.rng.choice([b"9223372036854775807", b"-9223372036854775808", b"200", b"-200"])
        return self.rng.choice([b"abc", b"1.5", b"", b"9223372036854775808"])

    def unit(self) -> bytes:
        if self.rng.random() < 0.9:
            return self.name(self.rng.choice(["BYTE", "BIT"]))
        return self.rng.choice([b"BITS", b"bytes", b"", b"FOO"])

    def field_type(self) -> bytes:
        if self.rng.random() < 0.97:
            signed = self.rng.random() < 0.5
            r = self.rng.random()
            if r < 0.5:
                bits = self.rng.choice([1, 2, 3, 4, 5, 7, 8, 16])
            elif r < 0.8:
                bits = self.rng.randint(1, 64 if signed else 63)
            else:
                bits = self.rng.choice([32, 63, 64] if signed else [31, 32, 62, 63])
            return (b"i" if signed else b"u") + str(bits).encode()
        return self.rng.choice(FIELD_TYPES_BAD)

    def field_offset(self, read_only: bool) -> bytes:
        r = self.rng.random()
        if r < 0.68:
            return str(self.rng.randint(0, 100)).encode()
        if r < 0.94:
            return b"#" + str(self.rng.randint(0, 8)).encode()
        if read_only and r < 0.98:
            return self.rng.choice(FAR_OFFSETS + [b"#2305843009213693953", b"#67108863"])
        return self.rng.choice(BAD_OFFSETS + [b"#", b"#-1", b"##1", b"#9223372036854775807", b"#536870912"])

    def field_value(self) -> bytes:
        r = self.rng.random()
        if r < 0.5:
            return str(self.rng.randint(-300, 300)).encode()
        if r < 0.75:
            bits = self.rng.randint(1, 63)
            return str(self.rng.choice([1, -1]) * (2 ** bits + self.rng.randint(-2, 2))).encode()
        return self.int_arg()

    def bit_subcommands(self, read_only: bool) -> list:
        args = []
        for _ in range(self.rng.randint(0 if self.rng.random() < 0.05 else 1, 5)):
            r = self.rng.random()
            if read_only and r < 0.85:
                r = 0.0
            if r < 0.35:
                args += [self.name("GET"), self.field_type(), self.field_offset(True)]
            elif r < 0.6:
                args += [self.name("SET"), self.field_type(), self.field_offset(False), self.field_value()]
            elif r < 0.82:
                args += [self.name("INCRBY"), self.field_type(), self.field_offset(False), self.field_value()]
            elif r < 0.97:
                kind = self.rng.choice(["WRAP", "SAT", "FAIL"]) if self.rng.random() < 0.92 else "SATURATE"
                args += [self.name("OVERFLOW"), self.name(kind)]
            else:
                # A subcommand without its arguments, or an unknown one.
                args += self.rng.choice([[self.name("GET"), b"u8"], [self.name("SET"), b"u8", b"0"],
                                         [self.name("OVERFLOW")], [b"FOO", b"u8", b"0"]])
        return args

    # -- commands ----------------------------------------------------------------

    def g_setbit(self):
        bit = self.rng.choice([b"0", b"1"]) if self.rng.random() < 0.92 else self.rng.choice(BAD_BITS)
        return Op([self.name("SETBIT"), self.key(), self.bit_offset(), bit])

    def g_getbit(self):
        return Op([self.name("GETBIT"), self.key(), self.bit_offset(read_only=True)])

    def g_bitcount(self):
        args = [self.name("BITCOUNT"), self.key()]
        r = self.rng.random()
        if r < 0.25:
            pass
        elif r < 0.55:
            args += [self.range_index(), self.range_index()]
        elif r < 0.9:
            args += [self.range_index(), self.range_index(), self.unit()]
        else:
            args += self.rng.choice([[self.range_index()], [b"0", b"-1", b"BIT", b"x"]])
        return Op(args)

    def g_bitpos(self):
        bit = self.rng.choice([b"0", b"1"]) if self.rng.random() < 0.93 else self.rng.choice(BAD_BITS)
        args = [self.name("BITPOS"), self.key(), bit]
        r = self.rng.random()
        if r < 0.25:
            pass
        elif r < 0.45:
            args += [self.range_index()]
        elif r < 0.7:
            args += [self.range_index(), self.range_index()]
        elif r < 0.95:
            args += [self.range_index(), self.range_index(), self.unit()]
        else:
            args += [b"0", b"-1", b"BIT", b"x"]
        return Op(args)

    def g_bitop(self):
        r = self.rng.random()
        if r < 0.93:
            op = self.rng.choice(["AND", "OR", "XOR", "NOT"])
        else:
            op = self.rng.choice(["NAND", "ANDX", "", "NO"])
        if op == "NOT" and self.rng.random() < 0.9:
            sources = [self.key()]
        else:
            sources = self.keys(1, 4)
        return Op([self.name("BITOP"), self.name(op), self.key()] + sources)

    def g_bitfield(self):
        return Op([self.name("BITFIELD"), self.key()] + self.bit_subcommands(read_only=False))

    def g_bitfield_ro(self):
        return Op([self.name("BITFIELD_RO"), self.key()] + self.bit_subcommands(read_only=True))

    def g_substr(self):
        return Op([self.name("SUBSTR"), self.key(), self.range_index(), self.range_index()])

    def g_lcs(self):
        args = [self.name("LCS"), self.key(), self.key()]
        options = []
        r = self.rng.random()
        if r < 0.3:
            pass
        elif r < 0.5:
            options.append(self.name("LEN"))
        else:
            options.append(self.name("IDX"))
            if self.rng.random() < 0.5:
                options += [self.name("MINMATCHLEN"), self.rng.choice([b"0", b"1", b"2", b"3", b"5", b"-1"])]
            if self.rng.random() < 0.5:
                options.append(self.name("WITHMATCHLEN"))
        if self.rng.random() < 0.08:
            options += self.rng.choice([[self.name("LEN")], [self.name("MINMATCHLEN")],
                                        [self.name("MINMATCHLEN"), b"abc"], [b"FOO"]])
        if self.rng.random() < 0.2:
            self.rng.shuffle(options)
        return Op(args + options)

    def g_object_encoding(self):
        r = self.rng.random()
        if r < 0.9:
            return Op([self.name("OBJECT"), self.name("ENCODING"), self.key()])
        return Op([self.name("OBJECT"), self.name("ENCODING")] + self.keys(2, 2))

    TABLE = [
        (3, g_setbit), (2, g_getbit), (2, g_bitcount), (2, g_bitpos), (1.5, g_bitop), (2.5, g_bitfield),
        (1, g_bitfield_ro), (1, g_substr), (1, g_lcs), (2, g_object_encoding),
    ]
    MULTI_TABLE = TABLE
