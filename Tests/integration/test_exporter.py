"""Debian's prometheus-redis-exporter scraping a password-protected server: the standard series
(up, clients, commands processed, keyspace hits and misses, memory, evictions) and the
per-command ones (count, duration, latency percentiles) are present and agree with what the
test ran. For Strata, also its tier and L3 figures through the exporter's --script option
(contrib/strata-tiers.lua, see docs/configuration.md). Runs against redis-server too
(TARGET=redis), except the Strata-only part.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import redis

from conftest import HOST, REPO, free_port, target

EXPORTER = shutil.which("prometheus-redis-exporter")
PASSWORD = "exporter-secret"

pytestmark = pytest.mark.skipif(EXPORTER is None, reason="prometheus-redis-exporter is not installed (make deps)")


def parse_metrics(text: str) -> dict[tuple[str, tuple], float]:
    """`name{a="x",b="y"} value` lines as {(name, (("a","x"),("b","y"))): value}."""
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        assert match, line
        labels = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(3) or "")))
        series[(match.group(1), labels)] = float(match.group(4))
    return series


class Exporter:
    def __init__(self, port: int, workdir: Path, *extra: str, password: str = PASSWORD):
        self.listen = free_port()
        self.log = open(workdir / "exporter.log", "wb")
        self.proc = subprocess.Popen(
            [EXPORTER, f"--redis.addr=redis://{HOST}:{port}", f"--redis.password={password}",
             f"--web.listen-address={HOST}:{self.listen}", *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.scrape()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError((workdir / "exporter.log").read_text()[-2000:])
                time.sleep(0.1)

    def scrape(self) -> dict:
        with urllib.request.urlopen(f"http://{HOST}:{self.listen}/metrics", timeout=10) as response:
            return parse_metrics(response.read().decode())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


@pytest.fixture
def protected(server_factory):
    return server_factory("--requirepass", PASSWORD)


def value(series, name, **labels):
    return series.get((name, tuple(sorted(labels.items()))))


def test_standard_and_per_command_series(protected, tmp_path):
    r = protected.redis_py(password=PASSWORD)
    r.config_resetstat()
    for i in range(30):
        r.set(f"k{i}", "v" * 100)
    for i in range(20):
        r.get(f"k{i}")
    for i in range(5):
        r.get(f"missing{i}")
    exporter = Exporter(protected.port, tmp_path)
    try:
        series = exporter.scrape()
        assert value(series, "redis_up") == 1
        # The exporter's own connection and redis-py's.
        assert value(series, "redis_connected_clients") >= 2
        assert value(series, "redis_commands_processed_total") >= 55
        assert value(series, "redis_keyspace_hits_total") == 20
        assert value(series, "redis_keyspace_misses_total") == 5
        assert value(series, "redis_memory_used_bytes") > 30 * 100
        assert value(series, "redis_evicted_keys_total") == 0
        assert value(series, "redis_commands_total", cmd="set") == 30
        assert value(series, "redis_commands_total", cmd="get") == 25
        assert 0 < value(series, "redis_commands_duration_seconds_total", cmd="set") < 1
        assert value(series, "redis_commands_failed_calls_total", cmd="get") == 0
        for quantile in ("50", "99", "99.9"):
            p = value(series, "redis_latency_percentiles_usec", cmd="get", quantile=quantile)
            assert p is not None and p > 0, quantile
        assert value(series, "redis_latency_percentiles_usec", cmd="get", quantile="50") <= \
            value(series, "redis_latency_percentiles_usec", cmd="get", quantile="99.9")
        assert value(series, "redis_slowlog_length") is not None

        # A second scrape sees the commands run since (and the exporter's own INFO calls).
        r.set("later", "1")
        with pytest.raises(Exception):
            r.lpush("later", "x")
        series = exporter.scrape()
        assert value(series, "redis_commands_total", cmd="set") == 31
        assert value(series, "redis_commands_failed_calls_total", cmd="lpush") == 1
        assert value(series, "redis_errors_total", err="WRONGTYPE") == 1
        assert value(series, "redis_commands_total", cmd="info") >= 1
    finally:
        exporter.stop()
    # The exporter's LATENCY and SLOWLOG queries were answered, not refused.
    log = (tmp_path / "exporter.log").read_text()
    assert "unknown command" not in log.lower(), log


# The least the exporter needs (its README's list, less the types Strata lacks): no key reads or
# writes beyond sizes, no admin commands.
EXPORTER_RULES = ["on", ">scrape-secret", "~*", "-@all", "+@connection", "+info", "+config|get", "+client",
                  "+slowlog", "+latency", "+cluster|info", "+select", "+scan", "+memory", "+type", "+strlen",
                  "+llen", "+scard", "+zcard", "+hlen", "+get", "+eval"]


def test_exporter_as_an_acl_user_of_its_own(protected, tmp_path):
    """An operator gives the exporter a user of its own with few rights: it still scrapes the
    standard and per-command series, and the server logs no refusal of what it sent."""
    r = protected.redis_py(password=PASSWORD)
    assert r.execute_command("ACL", "SETUSER", "exporter", *EXPORTER_RULES) == b"OK"
    r.config_resetstat()
    r.execute_command("ACL", "LOG", "RESET")
    for i in range(10):
        r.set(f"k{i}", "v")
    exporter = Exporter(protected.port, tmp_path, "--redis.user=exporter", password="scrape-secret")
    try:
        series = exporter.scrape()
        assert value(series, "redis_up") == 1
        assert value(series, "redis_commands_total", cmd="set") == 10
        assert value(series, "redis_latency_percentiles_usec", cmd="set", quantile="99") > 0
        assert value(series, "redis_slowlog_length") is not None
        # Its second scrape sees the INFO it sent as that user in the first.
        assert value(exporter.scrape(), "redis_commands_total", cmd="info") >= 1
        # The user cannot write.
        exporter_client = protected.redis_py(username="exporter", password="scrape-secret")
        with pytest.raises(redis.exceptions.NoPermissionError, match="no permissions to run the .set. command"):
            exporter_client.set("k0", "x")
    finally:
        exporter.stop()
    refused = [entry for entry in r.acl_log() if entry.get("username") == "exporter"]
    # Only the SET the test sent itself as the exporter user.
    assert len(refused) == 1, refused
    log = (tmp_path / "exporter.log").read_text()
    assert "noperm" not in log.lower() and "unknown command" not in log.lower(), log


def test_evictions_reach_the_exporter(server_factory, tmp_path):
    server = server_factory("--requirepass", PASSWORD, "--maxmemory", "2mb", "--maxmemory-policy", "allkeys-random",
                            *(["--persistence", "no"] if target() == "strata" else []))
    r = server.redis_py(password=PASSWORD)
    pipe = r.pipeline(transaction=False)
    for i in range(20_000):
        pipe.set(f"key:{i}", "x" * 200)
    pipe.execute()
    evicted = r.info("stats")["evicted_keys"]
    assert evicted > 0
    exporter = Exporter(server.port, tmp_path)
    try:
        # The exporter's connection uses memory too (used_memory counts client buffers): a few more
        # keys may go meanwhile.
        exported = value(exporter.scrape(), "redis_evicted_keys_total")
        assert evicted <= exported <= r.info("stats")["evicted_keys"]
    finally:
        exporter.stop()


@pytest.mark.skipif(target() != "strata", reason="Strata's tiers")
def test_tier_figures_through_the_script_option(protected, tmp_path):
    r = protected.redis_py(password=PASSWORD)
    for i in range(10):
        r.set(f"t{i}", "v")
        r.get(f"t{i}")
    r.execute_command("SAVE")
    exporter = Exporter(protected.port, tmp_path, f"--script={REPO / 'contrib' / 'strata-tiers.lua'}")
    try:
        series = exporter.scrape()
        tiers = r.info("tiers")
        for name in ("l1_hits", "l2_hits", "l1_keys", "l2_keys", "l3_demotions"):
            assert value(series, "redis_script_values", key=name) == tiers[name], name
        assert tiers["l1_hits"] + tiers["l2_hits"] == 10
        assert tiers["l1_keys"] + tiers["l2_keys"] == 10
        assert value(series, "redis_script_values", key="l3_queue_depth") == 0
        assert value(series, "redis_script_values", key="l3_rows") == 10
        assert value(series, "redis_script_values", key="l3_last_commit_usec") > 0
    finally:
        exporter.stop()
