"""Differential-test operations: see diff_types.py.

Lua scripts (EVAL, EVALSHA, EVAL_RO, SCRIPT LOAD/EXISTS): scripts that call commands on
every type through redis.call and redis.pcall (WRONGTYPE included), raise errors with
error() and redis.error_reply, use pcall, return nested tables, integers, floats
(truncated), booleans, nil, status and error tables, RESP3 replies under redis.setresp(3),
cjson and bit. Every script declares the keys it touches; the sha1 in error messages is
the same on both servers since the bodies are.
"""

import hashlib

from diff_op import Op

JSON = [b"[1,2,3]", b'{"a":1}', b'[1,"x",[true,false],null]', b'"str"', b"12.5", b"-3", b"[]",
        b"invalid", b"[1,", b'{"a":[1,{"b":2}]}', b"", b"1e400"]

# (body, number of keys, argument kinds, comparison): argument kinds are "v" (a value), "i"
# (an integer), "f" (a float), "w" (a word), "j" (JSON), "t" (a long TTL), "d" (a database), "*" (1-3 values).
SCRIPTS = [
    ("return redis.call('GET', KEYS[1])", 1, "", "exact"),
    ("return redis.call('SET', KEYS[1], ARGV[1])", 1, "v", "exact"),
    ("return redis.call('INCRBY', KEYS[1], ARGV[1])", 1, "i", "exact"),
    ("return redis.pcall('INCRBY', KEYS[1], ARGV[1])", 1, "i", "exact"),
    ("local v = redis.call('GET', KEYS[1]) if v then return redis.call('SET', KEYS[2], v) end return false", 2, "", "exact"),
    ("return {redis.call('EXISTS', KEYS[1]), redis.call('TYPE', KEYS[1]), redis.pcall('STRLEN', KEYS[1])}", 1, "", "exact"),
    ("return redis.call('LRANGE', KEYS[1], 0, -1)", 1, "", "exact"),
    ("return redis.call('RPUSH', KEYS[1], unpack(ARGV))", 1, "*", "exact"),
    ("return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])", 1, "wv", "exact"),
    ("return redis.call('HGET', KEYS[1], ARGV[1])", 1, "w", "exact"),
    ("return redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])", 1, "fw", "exact"),
    ("return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')", 1, "", "exact"),
    ("return redis.call('ZSCORE', KEYS[1], ARGV[1])", 1, "w", "exact"),
    ("redis.setresp(3) return redis.call('ZSCORE', KEYS[1], ARGV[1])", 1, "w", "exact"),
    ("redis.setresp(3) local s = redis.pcall('ZSCORE', KEYS[1], ARGV[1]) if type(s) == 'table' and s.double then return tostring(s.double) end return s", 1, "w", "exact"),
    ("redis.setresp(3) return redis.call('HGETALL', KEYS[1])", 1, "", "pairs"),
    ("redis.setresp(3) local r = redis.pcall('SMEMBERS', KEYS[1]) if r.set then local n = 0 for _ in pairs(r.set) do n = n + 1 end return n end return r", 1, "", "exact"),
    ("return redis.call('SMEMBERS', KEYS[1])", 1, "", "sorted"),
    ("return redis.call('SADD', KEYS[1], unpack(ARGV))", 1, "*", "exact"),
    ("return redis.call('SISMEMBER', KEYS[1], ARGV[1])", 1, "w", "exact"),
    ("error(ARGV[1])", 0, "w", "exact"),
    ("error({err = ARGV[1]})", 0, "w", "exact"),
    ("return redis.error_reply(ARGV[1])", 0, "v", "exact"),
    ("return redis.status_reply(ARGV[1])", 0, "w", "exact"),
    ("return {1, 2.9, -3.9, true, false, 'x', {ARGV[1], {ARGV[1]}}}", 0, "v", "exact"),
    ("return {1, nil, 3}", 0, "", "exact"),
    ("return tonumber(ARGV[1])", 0, "v", "exact"),
    ("return {tonumber(ARGV[1]) or false, 2^53, -2^63, 1e300, 0.5}", 0, "f", "exact"),
    ("return cjson.encode({ARGV[1], tonumber(ARGV[2])})", 0, "wi", "exact"),
    ("return cjson.decode(ARGV[1])", 0, "j", "exact"),
    ("return cjson.encode(cjson.decode(ARGV[1]))", 0, "j", "exact"),
    ("local n = tonumber(ARGV[1]) or 0 return {bit.band(n, 255), bit.bor(n, 1), bit.bxor(n, 5), bit.tohex(n), bit.lshift(1, n % 32), bit.bnot(n)}", 0, "i", "exact"),
    ("return redis.call('DEL', unpack(KEYS))", 3, "", "exact"),
    ("return redis.call('MGET', unpack(KEYS))", 2, "", "exact"),
    ("return {pcall(redis.call, 'INCR', KEYS[1])}", 1, "", "exact"),
    ("local t = redis.pcall('LPOP', KEYS[1]) if type(t) == 'table' then return t.err end return t", 1, "", "exact"),
    ("return redis.call('EXPIRE', KEYS[1], ARGV[1])", 1, "t", "exact"),
    ("return redis.sha1hex(ARGV[1])", 0, "v", "exact"),
    ("return #ARGV .. ':' .. table.concat(ARGV, ',')", 0, "*", "exact"),
    ("return 1 +", 0, "", "exact"),
    ("return undefined_global", 0, "", "exact"),
    ("newglobal = 1", 0, "", "exact"),
    ("redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])", 1, "v", "exact"),
    ("return redis.call('TYPE', KEYS[1])", 1, "", "exact"),
    ("redis.call('SELECT', ARGV[1]) return redis.call('GET', KEYS[1])", 1, "d", "exact"),
    ("return redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])", 1, "wi", "exact"),
    ("return redis.pcall('LPUSH', KEYS[1], ARGV[1])", 1, "v", "exact"),
    ("return redis.call('nosuchcommand')", 0, "", "exact"),
    ("return redis.call('GET')", 0, "", "exact"),
    ("return redis.pcall('MULTI')", 0, "", "exact"),
    ("local a = {} for i = 1, #ARGV do a[i] = ARGV[#ARGV - i + 1] end return a", 0, "*", "exact"),
    ("#!lua flags=no-writes\nreturn redis.pcall('SET', KEYS[1], ARGV[1])", 1, "v", "exact"),
    ("#!lua\nreturn redis.call('GET', KEYS[1])", 1, "", "exact"),
]


class EvalOps:
    COMMANDS = ["eval", "evalsha", "eval_ro", "evalsha_ro", "script"]

    def script_args(self, kinds: str) -> list:
        out = []
        for kind in kinds:
            if kind == "v":
                out.append(self.value())
            elif kind == "i":
                out.append(self.int_arg())
            elif kind == "f":
                out.append(self.float_arg())
            elif kind == "w":
                out.append(self.rng.choice([b"a", b"b", b"m1", b"field", b"x y", b"-ERR", b"E code"]))
            elif kind == "j":
                out.append(self.rng.choice(JSON))
            elif kind == "t":
                out.append(self.rng.choice([str(self.long_seconds()).encode(), b"-1", b"0", b"abc"]))
            elif kind == "d":
                out.append(self.rng.choice([b"0", b"1", b"3", b"99"]))
            elif kind == "*":
                out += [self.value() for _ in range(self.rng.randint(1, 3))]
        return out

    def pick(self):
        return self.rng.choice(SCRIPTS)

    def g_eval(self):
        body, nkeys, kinds, kind = self.pick()
        name = "EVAL"
        if self.rng.random() < 0.15:
            name = "EVAL_RO"
        return Op([self.name(name), body.encode(), str(nkeys).encode()] + [self.key() for _ in range(nkeys)]
                  + self.script_args(kinds), kind=kind)

    def g_evalsha(self):
        body, nkeys, kinds, kind = self.pick()
        sha = hashlib.sha1(body.encode()).hexdigest().encode()
        if self.rng.random() < 0.3:
            sha = sha.upper()
        name = "EVALSHA_RO" if self.rng.random() < 0.15 else "EVALSHA"
        return Op([self.name(name), sha, str(nkeys).encode()] + [self.key() for _ in range(nkeys)]
                  + self.script_args(kinds), kind=kind)

    def g_script_load(self):
        return Op([self.name("SCRIPT"), self.name("LOAD"), self.pick()[0].encode()])

    def g_script_exists(self):
        shas = [hashlib.sha1(self.pick()[0].encode()).hexdigest().encode() for _ in range(self.rng.randint(1, 3))]
        return Op([self.name("SCRIPT"), self.name("EXISTS")] + shas + [b"nosuchsha"])

    def g_eval_bad(self):
        r = self.rng.random()
        if r < 0.4:
            return Op([self.name("EVAL"), b"return 1", self.rng.choice([b"-1", b"abc", b"5", b"9223372036854775807", b""])])
        if r < 0.7:
            return Op([self.name("EVALSHA"), self.rng.choice([b"ffffffffffffffffffffffffffffffffffffffff", b"abc", b""]), b"0"])
        return Op([self.name("EVAL"), self.rng.choice([b"#!lua flags=bogus\nreturn 1", b"#!lua", b"#!py\nreturn 1",
                                                       b"#!lua x=1\nreturn 1"]), b"0"])

    TABLE = [(4, g_eval), (1.5, g_evalsha), (0.5, g_script_load), (0.3, g_script_exists), (0.5, g_eval_bad)]
    MULTI_TABLE = TABLE
