"""Command statistics and latency, as Redis 7.0 reports them: INFO commandstats/errorstats/
latencystats, SLOWLOG, LATENCY, through redis-py and redis-cli, against redis-server
(TARGET=redis) and Strata; and, for Strata, where a forwarded command is counted on a
proxy-mode ring (docs/architecture.md).
"""

from __future__ import annotations

import binascii
import subprocess
import threading
import time

import pytest
import redis

from conftest import HOST, free_port, strata_bin, target

# A script that runs for tens of milliseconds on either server.
SLOW_SCRIPT = "local i = 0 while i < 3000000 do i = i + 1 end return i"


def cmdstat(r, name):
    return r.info("commandstats").get(f"cmdstat_{name}")


def cli(server, *args, resp3=False):
    command = ["redis-cli", "-h", HOST, "-p", str(server.port)] + (["-3"] if resp3 else []) + [str(a) for a in args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30).stdout


@pytest.fixture
def server(server_factory):
    return server_factory()


def test_commandstats_calls_rejected_failed(server):
    r = server.redis_py()
    r.config_resetstat()
    r.set("k", "v")
    r.get("k")
    with pytest.raises(redis.ResponseError):
        r.execute_command("GET")                 # arity: rejected
    with pytest.raises(redis.ResponseError):
        r.execute_command("INCR", "k")           # not an integer: failed
    with pytest.raises(redis.ResponseError):
        r.execute_command("LPUSH", "k", "x")     # WRONGTYPE: failed
    with pytest.raises(redis.ResponseError):
        r.execute_command("NOSUCH")
    r.client_list()
    stats = r.info("commandstats")
    assert stats["cmdstat_set"]["calls"] == 1 and stats["cmdstat_set"]["failed_calls"] == 0
    assert stats["cmdstat_get"]["calls"] == 1 and stats["cmdstat_get"]["rejected_calls"] == 1
    assert stats["cmdstat_incr"]["failed_calls"] == 1
    assert stats["cmdstat_lpush"]["failed_calls"] == 1
    assert stats["cmdstat_client|list"]["calls"] == 1
    assert "cmdstat_nosuch" not in stats
    assert set(stats["cmdstat_set"]) == {"calls", "usec", "usec_per_call", "rejected_calls", "failed_calls"}
    errors = r.info("errorstats")
    assert errors["errorstat_WRONGTYPE"] == {"count": 1}
    assert errors["errorstat_ERR"]["count"] >= 3  # redis-py's CLIENT SETINFO may add its own
    assert r.info("stats")["total_error_replies"] == sum(e["count"] for e in errors.values())
    latency = r.info("latencystats")
    assert set(latency["latency_percentiles_usec_set"]) == {"p50", "p99", "p99.9"}
    assert latency["latency_percentiles_usec_set"]["p50"] <= latency["latency_percentiles_usec_set"]["p99.9"]


def test_info_sections_default_all_everything(server):
    r = server.redis_py()
    r.set("k", "v")

    def sections(*args):
        return [line for line in cli(server, "info", *args).splitlines() if line.startswith("#")]

    default = sections()
    assert "# Errorstats" in default and "# Commandstats" not in default and "# Latencystats" not in default
    for word in ("all", "everything"):
        every = sections(word)
        assert every.index("# Commandstats") < every.index("# Errorstats") < every.index("# Latencystats")
    assert sections("commandstats", "latencystats") == ["# Commandstats", "# Latencystats"]


def test_resetstat_and_latency_tracking(server):
    r = server.redis_py()
    for _ in range(10):
        r.set("k", "v")
    assert r.config_resetstat()
    assert list(r.info("commandstats")) == ["cmdstat_config|resetstat"]
    assert r.info("stats")["total_error_replies"] == 0
    assert r.config_set("latency-tracking", "no")
    assert r.config_get("latency-tracking") == {"latency-tracking": "no"}
    r.config_resetstat()
    r.set("k", "v")
    assert r.info("latencystats") == {}
    assert r.info("commandstats")["cmdstat_set"]["calls"] == 1
    r.config_set("latency-tracking", "yes")
    r.config_set("latency-tracking-info-percentiles", "99.99 50.0 1e1")
    assert r.config_get("latency-tracking-info-percentiles") == {"latency-tracking-info-percentiles": "99.99 50 10"}
    r.set("k", "v")
    assert list(r.info("latencystats")["latency_percentiles_usec_set"]) == ["p99.99", "p50", "p10"]
    with pytest.raises(redis.ResponseError, match="should sit between"):
        r.config_set("latency-tracking-info-percentiles", "101")


def test_slowlog_with_redis_py_and_redis_cli(server):
    r = server.redis_py()
    r.config_set("slowlog-log-slower-than", 0)
    r.client_setname("stats-test")
    r.slowlog_reset()
    r.rpush("list", *range(40))
    r.set("big", "x" * 200)
    entries = r.slowlog_get(2)
    assert [e["command"] for e in entries] == [
        b"SET big " + b"x" * 128 + b"... (72 more bytes)",
        b"RPUSH list " + b" ".join(str(i).encode() for i in range(29)) + b" ... (11 more arguments)",
    ]
    assert entries[0]["id"] == entries[1]["id"] + 1
    assert entries[0]["client_name"] == b"stats-test"
    assert entries[0]["client_address"].startswith(b"127.0.0.1:")
    assert abs(entries[0]["start_time"] - time.time()) < 10
    assert r.slowlog_len() == 4  # SLOWLOG RESET, RPUSH, SET, SLOWLOG GET
    text = cli(server, "slowlog", "get", "1")
    assert "slowlog\nlen\n" in text.lower()
    assert cli(server, "slowlog", "get", "-2").strip() == "ERR count should be greater than or equal to -1"
    r.config_set("slowlog-max-len", 2)
    assert r.slowlog_len() == 2
    # A shorter length applies when a command is next checked against the threshold (the
    # CONFIG SET itself); with slowlog-log-slower-than -1, not at all; slowlog-max-len 0 keeps
    # nothing.
    r.config_set("slowlog-log-slower-than", -1)
    r.config_set("slowlog-max-len", 1)
    assert r.slowlog_len() == 2
    r.config_set("slowlog-log-slower-than", 10**9)
    assert r.slowlog_len() == 1
    r.config_set("slowlog-max-len", 0)
    r.config_set("slowlog-log-slower-than", 0)
    r.set("k", "v")
    assert r.slowlog_len() == 0
    r.config_set("slowlog-log-slower-than", -1)
    r.slowlog_reset()
    r.set("k", "v")
    assert r.slowlog_len() == 0
    r.config_set("slowlog-log-slower-than", 10000)
    r.config_set("slowlog-max-len", 128)


def test_latency_monitor_and_histogram(server):
    r = server.redis_py()
    r.latency_reset()
    assert r.execute_command("LATENCY", "LATEST") == []
    assert "Latency monitoring is disabled" in cli(server, "latency", "doctor")
    r.config_set("latency-monitor-threshold", 1)
    assert "no latency spike" in cli(server, "latency", "doctor")
    r.eval(SLOW_SCRIPT, 0)
    latest = r.execute_command("LATENCY", "LATEST")
    assert [event[0] for event in latest] == [b"command"]
    name, when, last, worst = latest[0]
    assert abs(when - time.time()) < 10 and last >= 1 and worst >= last
    history = r.execute_command("LATENCY", "HISTORY", "command")
    assert len(history) == 1 and history[0][1] == last
    assert "1. command: 1 latency spikes" in cli(server, "latency", "doctor")
    assert r.execute_command("LATENCY", "RESET", "command", "nosuch") == 1
    r.config_set("latency-monitor-threshold", 0)

    r.config_resetstat()
    for _ in range(20):
        r.set("k", "v")
    text = cli(server, "latency", "histogram", "set", "nosuch").split("\n")
    assert text[:4] == ["set", "calls", "20", "histogram_usec"]
    for protocol in (2, 3):
        parsed = server.redis_py(protocol=protocol).execute_command("LATENCY", "HISTOGRAM", "set", "nosuch")
        if protocol == 2:  # flat arrays
            assert isinstance(parsed, list)
            parsed = {name: dict(zip(body[::2], body[1::2])) for name, body in zip(parsed[::2], parsed[1::2])}
            for body in parsed.values():
                histogram = body[b"histogram_usec"]
                body[b"histogram_usec"] = dict(zip(histogram[::2], histogram[1::2]))
        assert list(parsed) == [b"set"] and parsed[b"set"][b"calls"] == 20
        buckets = parsed[b"set"][b"histogram_usec"]
        assert all(isinstance(k, int) for k in buckets) and list(buckets.values())[-1] == 20
        assert list(buckets.values()) == sorted(buckets.values()), "running counts"
        assert list(buckets) == sorted(buckets)

def test_commands_from_every_event_loop_are_counted(server):
    r = server.redis_py()
    r.config_resetstat()
    per_thread, threads = 500, 8

    def work(t):
        c = server.redis_py()
        pipe = c.pipeline(transaction=False)
        for i in range(per_thread):
            pipe.set(f"t{t}:{i}", i)
        pipe.execute()
        c.close()

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert r.info("commandstats")["cmdstat_set"]["calls"] == per_thread * threads
    assert server.redis_py(protocol=3).execute_command("LATENCY", "HISTOGRAM", "set")[b"set"][b"calls"] == per_thread * threads


@pytest.mark.skipif(target() != "strata", reason="Strata's proxy-mode ring")
def test_forwarded_commands_count_on_both_nodes(tmp_path):
    ports = [free_port() for _ in range(2)]
    spec = ",".join(f"{HOST}:{p}" for p in ports)
    procs = []
    try:
        for port in ports:
            d = tmp_path / str(port)
            d.mkdir()
            procs.append(subprocess.Popen(
                [str(strata_bin()), "--port", str(port), "--bind", HOST, "--dir", str(d), "--cluster-nodes", spec,
                 "--persistence", "no"], stdout=open(d / "log", "wb"), stderr=subprocess.STDOUT))
        clients = [redis.Redis(host=HOST, port=p, socket_timeout=10) for p in ports]
        deadline = time.monotonic() + 10
        while True:
            try:
                if all(c.ping() for c in clients):
                    break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        owners = {}
        for start, end, node, *_ in clients[0].execute_command("CLUSTER SLOTS"):
            for slot in range(start, end + 1):
                owners[slot] = node[1]
        key = next(f"k{i}" for i in range(10_000) if owners[binascii.crc_hqx(f"k{i}".encode(), 0) % 16384] == ports[1])
        for c in clients:
            c.config_resetstat()
        clients[0].set(key, "v")   # node 0 forwards it to node 1
        assert clients[0].get(key) == b"v"
        assert clients[0].info("commandstats")["cmdstat_set"]["calls"] == 1
        assert clients[1].info("commandstats")["cmdstat_set"]["calls"] == 1
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            clients[0].lpush(key, "x")
        # The owner ran it and failed it; the forwarder relayed the reply and counts a call.
        assert clients[1].info("commandstats")["cmdstat_lpush"]["failed_calls"] == 1
        assert clients[0].info("commandstats")["cmdstat_lpush"]["calls"] == 1
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
