"""Differential-test operations: SLOWLOG, LATENCY, and the settings of command statistics
(see diff_types.py).

Between ops, `slowlog-log-slower-than` is only ever -1 (log nothing) or 10^9 (a command slower
than 1000 s: nothing here), so the slow log stays empty on both servers whatever the other ops
take (the full SCAN iterations, for one, send each server a different number of commands).
The compound "slowlog" op logs everything (threshold 0) for a session of its own: SLOWLOG
RESET, a few commands (long arguments, many arguments, passwords, MULTI/EXEC, a script's
commands, refused commands), then SLOWLOG GET and LEN on both servers, compared by their
arguments with the id, time, duration and client address and name masked (`compare_slowlog`);
then back to nothing logged. LATENCY is compared with `latency-monitor-threshold` 0, where no
sample is taken.
"""

from diff_op import Op
from resp_client import Array, Bulk, Integer

PERCENTILES = [b"50 99 99.9", b"99.99 50.0 1e1", b"", b"0 100", b"33.3333333", b"50 abc", b"101", b"-1", b"nan"]


class StatsOps:
    COMMANDS: list = ["slowlog", "latency"]

    def stats_ready(self):
        """None once nothing is logged and the log is empty; before, the ops that make it so:
        CONFIG SET slowlog-log-slower-than -1, then SLOWLOG RESET (the default threshold, 10 ms,
        logs whichever command happens to be slow on one server)."""
        step = getattr(self, "_stats_step", 0)
        if step == 2:
            return None
        if self.in_multi:
            return Op([self.name("CONFIG"), self.name("GET"), b"slowlog-*"], kind="config_get", mutable=False)
        self._stats_step = step + 1
        if step == 0:
            return Op([self.name("CONFIG"), self.name("SET"), b"slowlog-log-slower-than", b"-1"], mutable=False)
        return Op([self.name("SLOWLOG"), self.name("RESET")], mutable=False)

    def g_slowlog(self):
        first = self.stats_ready()
        if first:
            return first
        r = self.rng.random()
        if r < 0.3:
            return Op([self.name("SLOWLOG"), self.name("LEN")])
        if r < 0.45:
            return Op([self.name("SLOWLOG"), self.name("RESET")])
        if r < 0.8:
            count = self.rng.choice([[], [b"1"], [b"3"], [b"0"], [b"-1"], [b"-2"], [b"x"], [b"1", b"2"]])
            return Op([self.name("SLOWLOG"), self.name("GET")] + count, kind="slowlog")
        if r < 0.9:
            return Op([self.name("SLOWLOG"), self.name("HELP")], kind="help")
        return Op([self.name("SLOWLOG")] + self.rng.choice([[], [b"NOSUCH"], [b"LEN", b"x"], [b"RESET", b"x"], [b"HELP", b"x"]]))

    def g_latency(self):
        first = self.stats_ready()
        if first:
            return first
        r = self.rng.random()
        if r < 0.3:
            return Op([self.name("LATENCY"), self.name("LATEST")])
        if r < 0.5:
            return Op([self.name("LATENCY"), self.name("HISTORY"), self.rng.choice([b"command", b"fast-command", b"x"])])
        if r < 0.7:
            events = self.rng.sample([b"command", b"fast-command", b"x"], self.rng.randint(0, 2))
            return Op([self.name("LATENCY"), self.name("RESET")] + events)
        if r < 0.8:
            return Op([self.name("LATENCY"), self.name("HELP")], kind="help")
        return Op([self.name("LATENCY")] + self.rng.choice([[], [b"NOSUCH"], [b"LATEST", b"x"], [b"HISTORY"], [b"DOCTOR", b"x"]]))

    def g_stats_config(self):
        first = self.stats_ready()
        if first:
            return first
        r = self.rng.random()
        if r < 0.3:
            names = self.rng.sample([b"slowlog-log-slower-than", b"slowlog-max-len", b"latency-monitor-threshold",
                                     b"latency-tracking", b"latency-tracking-info-percentiles", b"slowlog-*",
                                     b"latency-*"], self.rng.randint(1, 2))
            return Op([self.name("CONFIG"), self.name("GET")] + names, kind="config_get")
        setting = self.rng.choice([
            [b"slowlog-log-slower-than", self.rng.choice([b"-1", b"1000000000", b"-2", b"x"])],
            [b"slowlog-max-len", self.rng.choice([b"0", b"1", b"3", b"128", b"-1"])],
            [b"latency-tracking", self.rng.choice([b"yes", b"no", b"YES", b"maybe"])],
            [b"latency-tracking-info-percentiles", self.rng.choice(PERCENTILES)],
            [b"latency-monitor-threshold", self.rng.choice([b"0", b"-1", b"x"])],
        ])
        return Op([self.name("CONFIG"), self.name("SET")] + setting)

    def g_slowlog_session(self):
        first = self.stats_ready()
        if first:
            return first
        return Op([b"SLOWLOG-SESSION"], compound="slowlog")

    TABLE = [(0.6, g_slowlog), (0.4, g_latency), (0.6, g_stats_config), (0.3, g_slowlog_session)]
    MULTI_TABLE = [(0.4, g_slowlog), (0.2, g_latency), (0.2, g_stats_config)]


# The full SCAN iterations send each server the cursors it returned.
CURSOR_AT = {b"scan": 1, b"hscan": 2, b"sscan": 2, b"zscan": 2}


def _masked(arguments):
    words = list(arguments.items)
    at = CURSOR_AT.get(words[0].value.lower()) if words and isinstance(words[0], Bulk) else None
    if at is not None and at < len(words):
        words[at] = None
    return words


def compare_slowlog(a, b):
    """SLOWLOG GET: the same entries, each with six fields, the same arguments; integers for the
    id, time and duration, bulk strings for the address and name."""
    if not (isinstance(a, Array) and isinstance(b, Array)):
        return None if a == b else "replies differ"
    if len(a.items) != len(b.items):
        return f"SLOWLOG GET: {len(a.items)} entries against {len(b.items)}"
    for i, (x, y) in enumerate(zip(a.items, b.items)):
        if not (isinstance(y, Array) and len(y.items) == 6):
            return f"SLOWLOG GET entry {i} does not have six fields"
        if not all(isinstance(f, Integer) for f in y.items[:3]) or not all(isinstance(f, Bulk) for f in y.items[4:]):
            return f"SLOWLOG GET entry {i}: field types differ"
        if _masked(x.items[3]) != _masked(y.items[3]):
            def words(entry):
                return b" ".join(w.value for w in entry.items[3].items)[:200]
            return f"SLOWLOG GET entry {i}: arguments differ ({words(x)!r} against {words(y)!r})"
    ids = [y.items[0].value for y in b.items]
    if ids != sorted(ids, reverse=True) or len(set(ids)) != len(ids):
        return "SLOWLOG GET: ids are not newest first"
    return None


def run_slowlog_session(runner) -> None:
    """The compound op (see the module's docstring). Fails the runner on a difference."""
    rng, gen = runner.rng, runner.gen
    length = rng.choice([b"128", b"3", b"1", b"0"])
    commands = [[b"CONFIG", b"SET", b"slowlog-max-len", length, b"slowlog-log-slower-than", b"0"],
                [b"SLOWLOG", b"RESET"]]
    for _ in range(rng.randint(1, 8)):
        r = rng.random()
        key = gen.key()
        if r < 0.2:
            commands.append([b"SET", key, gen.value()])
        elif r < 0.3:
            commands.append([b"SET", key, b"v" * rng.choice([127, 128, 129, 300])])
        elif r < 0.4:
            commands.append([b"RPUSH", b"slowlog:list"] + [str(i).encode() for i in range(rng.randint(1, 45))])
        elif r < 0.5:
            commands.append([b"GET", key])
        elif r < 0.55:
            commands.append([b"GET"])                       # refused: not logged
        elif r < 0.6:
            commands.append([b"NOSUCHCOMMAND", key])        # unknown: not logged
        elif r < 0.7:
            commands.append([b"AUTH", b"some-password"] + ([b"more"] if rng.random() < 0.5 else []))
        elif r < 0.8:
            commands += [[b"MULTI"], [b"SET", b"slowlog:k", gen.value()], [b"INCR", b"slowlog:k"], [b"EXEC"]]
        elif r < 0.9:
            commands.append([b"EVAL", b"redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])",
                             b"1", b"slowlog:script", gen.value()])
        else:
            commands.append([b"CONFIG", b"SET", b"requirepass", b""])
    commands += [[b"SLOWLOG", b"GET", b"-1"], [b"SLOWLOG", b"LEN"],
                 [b"CONFIG", b"SET", b"slowlog-log-slower-than", b"-1", b"slowlog-max-len", b"128"]]
    ref_replies, sut_replies = runner.exchange(commands)
    for command, a, b in zip(commands, ref_replies, sut_replies):
        why = compare_slowlog(a, b) if command[:2] == [b"SLOWLOG", b"GET"] else (None if a == b else "replies differ")
        if why:
            runner.fail(f"slow log session: {why}", Op(command), a, b)
        runner.history.append((command, a))
