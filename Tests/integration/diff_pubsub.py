"""Differential-test operations: Pub/Sub (see diff_types.py).

On the test's own connection: PUBLISH, SPUBLISH and PUBSUB's subcommands (nobody is subscribed
there, so the counts are 0 and the lists empty on both servers, errors included).

The compound "pubsub" op runs a session on a second connection to each server: a subscriber in
RESP2 or RESP3 sends random (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE, PING, refused or allowed
ordinary commands, then the test's connection publishes to the channels it may have subscribed
to, and the subscriber's messages are compared, in order. The number of replies each command
gets follows from Redis's rules (one confirmation per channel named; for an UNSUBSCRIBE without
names, one per subscription it ends, or one with a null name), tracked by a model here. An
UNSUBSCRIBE without names ends subscriptions in the server's own (hash) order: its
confirmations are compared as the set of names and the sequence of counts.
"""

from diff_op import Op
from resp_client import Array, Bulk, Push, RespConnection

CHANNELS = [b"ch1", b"ch2", b"news", b"n\x00ws", b"", b"x" * 70]
PATTERNS = [b"ch*", b"n?ws", b"*", b"[a-c]h1", b"news\\", b"nothing*"]
SHARD = [b"s{1}", b"t{1}", b"s{2}"]


class PubSubOps:
    COMMANDS: list = ["subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe",
                      "publish", "spublish", "pubsub"]

    def ps_channel(self) -> bytes:
        return self.rng.choice(CHANNELS) if self.rng.random() < 0.9 else self.value()

    def g_publish(self):
        name = self.rng.choice(["PUBLISH", "SPUBLISH"])
        channel = self.rng.choice(SHARD) if name == "SPUBLISH" else self.ps_channel()
        return Op([self.name(name), channel, self.value()])

    def g_pubsub(self):
        r = self.rng.random()
        words = [self.name("PUBSUB")]
        if r < 0.25:
            words += [self.name("NUMSUB")] + [self.ps_channel() for _ in range(self.rng.randint(0, 3))]
        elif r < 0.4:
            words += [self.name("SHARDNUMSUB")] + [self.rng.choice(SHARD) for _ in range(self.rng.randint(0, 2))]
        elif r < 0.55:
            words += [self.name("NUMPAT")]
        elif r < 0.7:
            words += [self.name("CHANNELS")] + ([self.rng.choice(PATTERNS)] if self.rng.random() < 0.5 else [])
        elif r < 0.8:
            words += [self.name("SHARDCHANNELS")] + ([self.rng.choice(PATTERNS)] if self.rng.random() < 0.5 else [])
        elif r < 0.85:
            words += [self.name("HELP")]
        elif r < 0.92:
            words += [self.name(self.rng.choice(["CHANNELS", "SHARDCHANNELS"])), b"a", b"b"]
        else:
            words += [self.rng.choice([b"FOO", b"", b"numpat x"])]
        return Op(words, kind="sorted" if r >= 0.55 and r < 0.8 else "exact")

    def g_pubsub_session(self):
        return Op([b"PUBSUB-SESSION"], compound="pubsub")

    TABLE = [(0.5, g_publish), (0.5, g_pubsub), (0.3, g_pubsub_session)]
    MULTI_TABLE = [(0.5, g_publish), (0.3, g_pubsub)]


def _names(reply):
    return reply.items if isinstance(reply, (Array, Push)) else None


def run_session(runner) -> None:
    """The compound op: see the module's docstring. Fails the runner on a difference."""
    rng = runner.rng
    gen = runner.gen
    resp3 = rng.random() < 0.5
    subscribers = [RespConnection(conn.host, conn.port, timeout=10) for conn in (runner.ref, runner.sut)]
    try:
        if resp3:
            for s in subscribers:
                s.execute(b"HELLO", b"3")
        model = {b"SUBSCRIBE": set(), b"PSUBSCRIBE": set(), b"SSUBSCRIBE": set()}
        unsub = {b"UNSUBSCRIBE": b"SUBSCRIBE", b"PUNSUBSCRIBE": b"PSUBSCRIBE", b"SUNSUBSCRIBE": b"SSUBSCRIBE"}
        pools = {b"SUBSCRIBE": CHANNELS, b"PSUBSCRIBE": PATTERNS, b"SSUBSCRIBE": SHARD}
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            if r < 0.45:
                name = rng.choice(list(pools))
                # SSUBSCRIBE's channels all in one slot: both servers are standalone, but keep
                # to what a cluster would take too.
                pool = pools[name]
                args = [rng.choice(pool) for _ in range(rng.randint(1, 3))]
                command = [name] + args
                expected = len(args)
                model[name].update(args)
            elif r < 0.75:
                name = rng.choice(list(unsub))
                kind = unsub[name]
                if rng.random() < 0.4:
                    command = [name]
                    expected = max(1, len(model[kind]))
                    model[kind].clear()
                else:
                    args = [rng.choice(pools[kind]) for _ in range(rng.randint(1, 3))]
                    command = [name] + args
                    expected = len(args)
                    model[kind].difference_update(args)
            elif r < 0.85:
                command = [b"PING"] + ([gen.value()] if rng.random() < 0.5 else [])
                expected = 1
            elif r < 0.95:
                command = [rng.choice([b"GET", b"ECHO", b"DBSIZE"])] + ([gen.key()] if rng.random() < 0.7 else [])
                expected = 1
            else:
                command = [b"PUBSUB", b"NUMSUB", rng.choice(CHANNELS)]
                expected = 1
            replies = []
            for s in subscribers:
                s.send([command])
                replies.append(s.read_replies(expected))
            a, b = replies
            if command[0] in unsub and len(command) == 1:
                a, b = _normalize_unsubscribe_all(a), _normalize_unsubscribe_all(b)
            if a != b:
                runner.fail(f"pub/sub session (RESP{3 if resp3 else 2}) replies differ", Op(command), a, b)
            runner.history.append((command, a))
        # Publish from the test's own connections; the subscriber gets one message per
        # subscription that matches, in publish order.
        publishes = []
        for _ in range(rng.randint(1, 6)):
            if rng.random() < 0.25:
                publishes.append([b"SPUBLISH", rng.choice(SHARD), gen.value()])
            else:
                publishes.append([b"PUBLISH", rng.choice(CHANNELS), gen.value()])
        ref_counts, sut_counts = runner.exchange(publishes)
        if ref_counts != sut_counts:
            runner.fail("PUBLISH counts differ with a subscriber", Op(publishes[0]), ref_counts, sut_counts)
        total = sum(c.value for c in ref_counts)
        # Several patterns matching one channel are served in the server's own order: compared
        # as a multiset (the order per channel is tested in test_pubsub.py).
        messages = [sorted(s.read_replies(total), key=repr) for s in subscribers]
        if messages[0] != messages[1]:
            runner.fail(f"published messages differ (RESP{3 if resp3 else 2})", Op(publishes[0]),
                        messages[0], messages[1])
        # RESET ends every subscription before the next op can count them.
        for s in subscribers:
            s.send([[b"RESET"]])
            s.read_reply()
        runner.stats["PUBSUB-SESSION"] += 1
    finally:
        for s in subscribers:
            s.close()


def _normalize_unsubscribe_all(replies):
    """(names as a set, counts in order, kinds): the order of names is the server's."""
    names, counts, kinds = set(), [], []
    for reply in replies:
        items = _names(reply)
        if items is None or len(items) != 3:
            return replies
        kinds.append((type(reply).__name__, items[0]))
        names.add(items[1].value if isinstance(items[1], Bulk) else None)
        counts.append(items[2])
    return (kinds, names, counts)
