"""Differential-test operations: see diff_types.py.

Redis 7 functions: FUNCTION LOAD [REPLACE] of a few libraries (valid ones, one whose function
collides with another library's, broken ones with Redis's load-time errors), FUNCTION DELETE,
FLUSH, LIST (compared with libraries and functions in any order: Redis lists them in hash
order), STATS, RESTORE of junk, and FCALL / FCALL_RO of their functions on keys of every type
(WRONGTYPE, read-only refusals, runtime errors with their positions). FUNCTION DUMP is left
out: the payload is each server's own format.
"""

from diff_op import Op

LIBRARIES = [
    b"#!lua name=lib_a\n"
    b"redis.register_function('fa_get', function(keys, args) return redis.call('GET', keys[1]) end)\n"
    b"redis.register_function('fa_set', function(keys, args) return redis.call('SET', keys[1], args[1]) end)\n"
    b"redis.register_function{function_name='fa_ro', flags={'no-writes'},\n"
    b"  callback=function(keys, args) return redis.pcall('SET', keys[1], args[1]) end}\n",
    b"#!lua name=lib_b\n"
    b"local function incr(keys, args) return redis.call('INCRBY', keys[1], args[1]) end\n"
    b"redis.register_function('fb_incr', incr)\n"
    b"redis.register_function('fb_push', function(keys, args) redis.call('RPUSH', keys[1], args[1])\n"
    b"  return redis.call('LRANGE', keys[1], 0, -1) end)\n"
    b"redis.register_function('fb_err', function(keys, args) error(args[1]) end)\n"
    b"redis.register_function('fb_shape', function(keys, args) return {#keys, #args, 2.5, true, false, {args[1]}} end)\n"
    b"redis.register_function{function_name='fb_type', description='type of a key', flags={'no-writes', 'allow-oom'},\n"
    b"  callback=function(keys, args) return redis.call('TYPE', keys[1]) end}\n",
    # lib_b again, other functions (loaded with REPLACE, or refused without).
    b"#!lua name=lib_b\n"
    b"redis.register_function('fb_incr', function(keys, args) return redis.call('INCR', keys[1]) end)\n"
    b"redis.register_function('fb_new', function(keys, args) return redis.call('EXISTS', keys[1]) end)\n",
    # Its function collides with lib_a's.
    b"#!lua name=lib_c\nredis.register_function('fa_get', function(keys, args) return 1 end)\n",
    b"#!lua name=lib_d\nredis.register_function{function_name='fd_hset', callback=function(keys, args)\n"
    b"  return redis.call('HSET', keys[1], args[1], args[1]) end}\n"
    b"redis.register_function('fd_undefined', function(keys, args) return nothing_here end)\n",
    # Broken ones.
    b"#!lua name=bad\nredis.call('SET', 'k', 'v')\n",
    b"#!lua name=bad\nlocal x = 1\n",
    b"#!lua name=bad\nredis.register_function('f', function() end\n",
    b"#!lua name=bad\nredis.register_function{function_name='f', callback=function() end, flags={'nope'}}\n",
    b"#!lua name=bad\nredis.register_function('bad-name', function() end)\n",
    b"#!lua name=bad-lib\nredis.register_function('f', function() end)\n",
    b"#!lua\nredis.register_function('f', function() end)\n",
    b"redis.register_function('f', function() end)\n",
    b"#!js name=bad\nx\n",
]

# (name, number of keys, number of arguments)
FUNCTIONS = [
    ("fa_get", 1, 0), ("fa_set", 1, 1), ("fa_ro", 1, 1), ("fb_incr", 1, 1), ("fb_push", 1, 1),
    ("fb_err", 0, 1), ("fb_shape", 2, 2), ("fb_type", 1, 0), ("fb_new", 1, 0), ("fd_hset", 1, 1),
    ("fd_undefined", 0, 0), ("nosuch", 0, 0),
]


class FunctionOps:
    COMMANDS = ["fcall", "fcall_ro", "function"]

    def g_function_load(self):
        words = [self.name("FUNCTION"), self.name("LOAD")]
        if self.rng.random() < 0.4:
            words.append(self.name("REPLACE"))
        return Op(words + [self.rng.choice(LIBRARIES)])

    def g_fcall(self):
        name, keys, args = self.rng.choice(FUNCTIONS)
        command = "FCALL_RO" if self.rng.random() < 0.2 else "FCALL"
        argv = [self.rng.choice([self.value(), self.int_arg()]) for _ in range(args)]
        return Op([self.name(command), name.encode(), str(keys).encode()] + [self.key() for _ in range(keys)] + argv)

    def g_function_admin(self):
        r = self.rng.random()
        if r < 0.3:
            return Op([self.name("FUNCTION"), self.name("DELETE"), self.rng.choice([b"lib_a", b"lib_b", b"lib_d", b"nosuch"])])
        if r < 0.4:
            return Op([self.name("FUNCTION"), self.name("FLUSH")] + self.rng.choice([[], [b"SYNC"], [b"ASYNC"], [b"bad"]]))
        if r < 0.7:
            words = [self.name("FUNCTION"), self.name("LIST")]
            if self.rng.random() < 0.5:
                words += [self.name("LIBRARYNAME"), self.rng.choice([b"lib_*", b"lib_a", b"*b*", b"none"])]
            if self.rng.random() < 0.4:
                words.append(self.name("WITHCODE"))
            return Op(words, kind="function_list")
        if r < 0.85:
            return Op([self.name("FUNCTION"), self.name("STATS")])
        return Op([self.name("FUNCTION"), self.name("RESTORE"), self.rng.choice([b"junk", b"", b"\xf5\x00"])]
                  + self.rng.choice([[], [b"APPEND"], [b"FLUSH"], [b"bogus"]]))

    TABLE = [(1.2, g_function_load), (3, g_fcall), (1, g_function_admin)]
    MULTI_TABLE = TABLE
