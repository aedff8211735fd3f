"""Differential-test operations: the CLIENT subcommands that operate clients (see diff_types.py).

CLIENT INFO and CLIENT LIST TYPE … are compared field by field with the time-, memory- and
connection-dependent fields masked (ids, addresses, ages, buffer sizes): the field names and
their order, and the values of name, flags, db, sub, psub, ssub, multi, cmd, user, redir and
resp must be Redis's. CLIENT KILL only with filters that match no client of the test (it must
not kill its own connection), CLIENT PAUSE with 0-1 ms timeouts, CLIENT REPLY only ON and its
error forms (OFF and SKIP leave replies out: test_operating.py covers them), NO-EVICT on/off.
"""

from diff_op import Op

# Fields whose values depend on time, memory or the connection.
MASKED = {"id", "addr", "laddr", "fd", "age", "idle", "qbuf", "qbuf-free", "argv-mem", "multi-mem",
          "rbs", "rbp", "obl", "oll", "omem", "tot-mem", "events"}


def client_fields(text: bytes):
    """Each line's fields as (name, value or None if masked), or None if not a CLIENT LIST text."""
    lines = []
    for line in text.decode("latin-1").splitlines():
        fields = []
        for part in line.split(" "):
            if "=" not in part:
                return None
            name, value = part.split("=", 1)
            fields.append((name, None if name in MASKED else value))
        lines.append(fields)
    return lines


class ClientOps:
    COMMANDS: list = []  # CLIENT is listed by the main table

    def g_client_info(self):
        return Op([self.name("CLIENT"), self.name("INFO")], kind="client_fields", mutable=False)

    def g_client_list_type(self):
        kind = self.rng.choice([b"normal", b"pubsub", b"master", b"replica", b"slave", b"NORMAL", b"nope"])
        return Op([self.name("CLIENT"), self.name("LIST"), self.name("TYPE"), kind], kind="client_list_type",
                  mutable=False)

    def g_client_kill_filter(self):
        filters = self.rng.choice([
            [b"ID", b"999999"], [b"TYPE", b"master"], [b"TYPE", b"replica"], [b"TYPE", b"slave"],
            [b"ADDR", b"1.2.3.4:5"], [b"LADDR", b"1.2.3.4:5"], [b"USER", b"nobody"],
            [b"ID", b"999999", b"SKIPME", b"no"], [b"ID", b"999999", b"USER", b"default"],
            [b"ADDR", b"1.2.3.4:5", b"SKIPME", b"yes"], [b"TYPE", b"nope"], [b"SKIPME", b"maybe"],
            [b"MAXAGE", b"1000"], [b"ID"], [b"ID", b"-3"], [b"ID", b"1", b"TYPE"], [b"FOO", b"bar"],
            [b"9.9.9.9:9"],
        ])
        return Op([self.name("CLIENT"), self.name("KILL")] + filters, mutable=False)

    def g_client_pause(self):
        r = self.rng.random()
        if r < 0.3:
            return Op([self.name("CLIENT"), self.name("UNPAUSE")] + ([b"x"] if self.rng.random() < 0.1 else []),
                      mutable=False)
        args = [self.name("CLIENT"), self.name("PAUSE"),
                self.rng.choice([b"0", b"1", b"abc", b"-1", b"", b"1.5", b"99999999999999999999"])]
        if self.rng.random() < 0.6:
            args.append(self.rng.choice([self.name("WRITE"), self.name("ALL"), b"foo"]))
        if self.rng.random() < 0.05:
            args.append(b"extra")
        return Op(args, mutable=False)

    def g_client_reply(self):
        args = self.rng.choice([[self.name("ON")], [b"foo"], [], [self.name("ON"), b"x"]])
        return Op([self.name("CLIENT"), self.name("REPLY")] + args, mutable=False)

    def g_client_no_evict(self):
        args = self.rng.choice([[self.name("ON")], [self.name("OFF")], [b"maybe"], [], [self.name("ON"), b"x"]])
        return Op([self.name("CLIENT"), self.name("NO-EVICT")] + args, mutable=False)

    def compare_client_fields(self, a, b):
        ta, tb = getattr(a, "value", None), getattr(b, "value", None)
        if type(a) is not type(b) or not isinstance(ta, bytes) or not isinstance(tb, bytes):
            return "CLIENT INFO reply type differs"
        fa, fb = client_fields(ta), client_fields(tb)
        if fa is None or fb is None or len(fa) != 1 or len(fb) != 1:
            return "CLIENT INFO is not one line of fields"
        if [n for n, _ in fa[0]] != [n for n, _ in fb[0]]:
            return f"CLIENT INFO field names differ: {[n for n, _ in fb[0]]}"
        differ = [(x, y) for x, y in zip(fa[0], fb[0]) if x != y]
        return f"CLIENT INFO fields differ: {differ}" if differ else None

    def compare_client_list_type(self, a, b):
        # Other connections of the test (pub/sub sessions) may be listed: only the shape.
        ta, tb = getattr(a, "value", None), getattr(b, "value", None)
        if type(a) is not type(b):
            return "CLIENT LIST TYPE reply type differs"
        if not isinstance(ta, bytes):
            return None if a == b else "CLIENT LIST TYPE replies differ"
        fa, fb = client_fields(ta), client_fields(tb)
        if fa is None or fb is None:
            return "CLIENT LIST TYPE is not lines of fields"
        if (len(fa) == 0) != (len(fb) == 0):
            return "CLIENT LIST TYPE: one lists clients, the other none"
        if fa and fb and [n for n, _ in fa[0]] != [n for n, _ in fb[0]]:
            return "CLIENT LIST TYPE field names differ"
        return None

    TABLE = [
        (0.5, g_client_info), (0.3, g_client_list_type), (0.4, g_client_kill_filter), (0.3, g_client_pause),
        (0.2, g_client_reply), (0.2, g_client_no_evict),
    ]
    MULTI_TABLE = [(0.2, g_client_kill_filter), (0.1, g_client_no_evict), (0.1, g_client_reply)]
