"""Differential-test operations: ACL (see diff_types.py).

ACL SETUSER with random rules on three users (never `default`: the test's own connection is
the default user's), then GETUSER, LIST, DRYRUN, USERS, WHOAMI, CAT, DELUSER and GENPASS.
Rules come from a pool whose categories hold the same commands on both servers (Strata has fewer
commands than Redis in some categories, e.g. @geo, @stream, and @fast/@slow differ for a few
CLIENT subcommands). Replies are compared exactly, except the command rules of GETUSER and LIST
("acl" kind): after the leading `+@all`/`-@all` and the categories (in order), Redis lists the
single commands in its hash table's order, so those are compared as a set.
"""

from diff_op import Op
from resp_client import Array, Bulk, Map

USERS = [b"d1", b"d2", b"d3"]
SHA_X = b"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"  # sha256("x")
RULES = [
    b"on", b"off", b"nopass", b"resetpass", b">p1", b">p2", b"<p1", b">x", b"#" + SHA_X, b"!" + SHA_X,
    b"allkeys", b"resetkeys", b"~k*", b"%R~a*", b"%W~b*", b"%RW~c*", b"~cache:*", b"allchannels",
    b"resetchannels", b"&ch*", b"&news", b"+@all", b"-@all", b"allcommands", b"nocommands",
    b"+get", b"-get", b"+set", b"-set", b"+hset", b"+lpush", b"-del", b"+config|get", b"-config", b"+config",
    b"+client|list", b"+publish", b"+subscribe",
]
CATEGORY_RULES = [b"+@read", b"-@read", b"+@write", b"-@write", b"+@string", b"-@string", b"+@hash", b"+@list",
                  b"-@list", b"+@set", b"+@sortedset", b"+@scripting", b"-@scripting", b"+@transaction"]
BAD_RULES = [b"bogus", b"+nosuch", b"-@nosuch", b"#abc", b"<notthere", b"%X~k", b"+client|nosuch"]
DRYRUNS = [
    [b"get", b"k1"], [b"get", b"a1"], [b"get", b"b1"], [b"set", b"k1", b"v"], [b"set", b"b1", b"v"],
    [b"set", b"a1", b"v"], [b"hset", b"c1", b"f", b"v"], [b"lpush", b"cache:l", b"x"], [b"del", b"k1", b"z"],
    [b"mget", b"k1", b"a2"], [b"publish", b"ch1", b"m"], [b"publish", b"news", b"m"], [b"subscribe", b"ch1", b"x"],
    [b"config", b"get", b"port"], [b"client", b"list"], [b"getdel", b"b1"], [b"nosuch"], [b"get"],
]


def _rules_key(rules: bytes):
    """`+@all -@string +get +set` -> the first word, the categories in order, the commands as a set."""
    words = rules.split(b" ")
    head = [w for w in words if w.startswith(b"+@") or w.startswith(b"-@")]
    rest = sorted(w for w in words if w not in head)
    return head, rest


def _normalize(reply):
    if isinstance(reply, Bulk) and reply.value.startswith(b"user "):
        words = reply.value.split(b" ")
        index = next((i for i, w in enumerate(words) if w[:1] in (b"+", b"-")), len(words))
        return (tuple(words[:index]), _rules_key(b" ".join(words[index:])))
    if isinstance(reply, Map):
        return ("map", [(k, _rules_key(v.value) if k == Bulk(b"commands") and isinstance(v, Bulk) else _normalize(v))
                        for k, v in reply.pairs])
    if isinstance(reply, Array):
        items = list(reply.items)
        out = []
        for i, item in enumerate(items):
            if i > 0 and items[i - 1] == Bulk(b"commands") and isinstance(item, Bulk):
                out.append(_rules_key(item.value))
            else:
                out.append(_normalize(item))
        return ("array", out)
    return reply


def acl_compare(a, b):
    """The "acl" kind: see the module's docstring."""
    if type(a) is not type(b):
        return "ACL reply types differ"
    return None if _normalize(a) == _normalize(b) else "ACL replies differ"


class ACLOps:
    COMMANDS: list = ["acl"]

    def acl_user(self) -> bytes:
        return self.rng.choice(USERS)

    def g_acl_setuser(self):
        rules = [b"reset"] if self.rng.random() < 0.4 else []
        rules += [self.rng.choice(RULES) for _ in range(self.rng.randint(0, 4))]
        if self.rng.random() < 0.4:
            rules.insert(self.rng.randint(0, len(rules)), self.rng.choice(CATEGORY_RULES))
        if self.rng.random() < 0.1:
            rules.insert(self.rng.randint(0, len(rules)), self.rng.choice(BAD_RULES))
        return Op([self.name("ACL"), self.name("SETUSER"), self.acl_user()] + rules, mutable=False)

    def g_acl_getuser(self):
        return Op([self.name("ACL"), self.name("GETUSER"), self.rng.choice(USERS + [b"nobody"])], kind="acl", mutable=False)

    def g_acl_list(self):
        return Op([self.name("ACL"), self.name("LIST")], kind="acl", mutable=False)

    def g_acl_dryrun(self):
        return Op([self.name("ACL"), self.name("DRYRUN"), self.rng.choice(USERS + [b"nobody"])] + self.rng.choice(DRYRUNS),
                  mutable=False)

    def g_acl_misc(self):
        r = self.rng.random()
        if r < 0.25:
            return Op([self.name("ACL"), self.name("USERS")], mutable=False)
        if r < 0.45:
            return Op([self.name("ACL"), self.name("WHOAMI")], mutable=False)
        if r < 0.6:
            return Op([self.name("ACL"), self.name("CAT")] + ([b"nosuch"] if self.rng.random() < 0.3 else []), mutable=False)
        if r < 0.75:
            return Op([self.name("ACL"), self.name("DELUSER")] + self.rng.sample(USERS + [b"nobody"], self.rng.randint(1, 2)),
                      mutable=False)
        if r < 0.9:
            bits = self.rng.choice([[], [b"5"], [b"64"], [b"0"], [b"4097"], [b"x"]])
            return Op([self.name("ACL"), self.name("GENPASS")] + bits, kind="count", mutable=False)
        return Op([self.name("ACL"), self.name("DELUSER"), b"default"], mutable=False)

    TABLE = [(1.5, g_acl_setuser), (0.8, g_acl_getuser), (0.3, g_acl_list), (1, g_acl_dryrun), (0.6, g_acl_misc)]
    MULTI_TABLE: list = []
