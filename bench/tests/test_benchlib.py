"""Unit tests of the harness's parsing, workload and rendering.

    python3 -m unittest discover -s bench/tests
"""

from __future__ import annotations

import collections
import shutil
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import rbench, report, resp, workload  # noqa: E402
from benchlib.context import Context, ScenarioSkipped, Settings  # noqa: E402
from benchlib.results import Result  # noqa: E402
from benchlib.scenarios import memory  # noqa: E402

CSV = '''"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SET","94786.73","0.370","0.096","0.327","0.655","1.023","2.887"
"MGET key:__rand_int__ key:__rand_int__","90909.09","0.314","0.104","0.295","0.471","0.655","1.423"
'''


class RedisBenchmarkCsvTests(unittest.TestCase):
    def test_rows_by_header_name(self):
        rows = rbench.parse_csv("WARNING: Could not fetch server CONFIG\n" + CSV)
        self.assertEqual([r.test for r in rows], ["SET", "MGET key:__rand_int__ key:__rand_int__"])
        self.assertAlmostEqual(rows[0].rps, 94786.73)
        self.assertAlmostEqual(rows[0].p50_ms, 0.327)
        self.assertAlmostEqual(rows[0].p99_ms, 1.023)

    def test_missing_column_is_an_error(self):
        with self.assertRaises(rbench.BenchmarkError):
            rbench.parse_csv('"test","rps"\n"SET","1"\n')

    def test_no_rows_is_an_error(self):
        with self.assertRaises(rbench.BenchmarkError):
            rbench.parse_csv(CSV.splitlines()[0])


class _DripSocket:
    """Hands out its bytes one at a time, like the worst possible network."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def recv(self, _n: int) -> bytes:
        head, self.data = self.data[:1], self.data[1:]
        return head


class RespReaderTests(unittest.TestCase):
    def test_every_reply_type_byte_by_byte(self):
        wire = b"+OK\r\n-ERR bad\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n$1\r\na\r\n:1\r\n*-1\r\n_\r\n$0\r\n\r\n"
        reader = resp.Reader(_DripSocket(wire))
        got = reader.read_many(9)
        self.assertEqual(got[0], "OK")
        self.assertIsInstance(got[1], resp.RespError)
        self.assertEqual(got[2:], [42, b"abc", None, [b"a", 1], None, None, b""])

    def test_closed_connection(self):
        with self.assertRaises(resp.ProtocolError):
            resp.Reader(_DripSocket(b"$5\r\nab")).read()

    def test_encode_and_info(self):
        self.assertEqual(resp.encode("SET", b"k", 7), b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n7\r\n")
        info = resp.parse_info(b"# Server\r\nredis_version:7.0.15\r\nstrata_version:0.1\r\n")
        self.assertEqual(info, {"redis_version": "7.0.15", "strata_version": "0.1"})


class WorkloadTests(unittest.TestCase):
    def test_key_and_value_sizes(self):
        for i in (0, 7, 999_999):
            self.assertEqual(len(memory.key_of(i)), 16)
            self.assertEqual(len(memory.value_of(i)), 64)
            self.assertEqual(len(workload.key_bytes(i)), 16)
            self.assertEqual(len(workload.key_bytes(-i - 1)), 16)
        self.assertEqual(len(workload.VALUE), 64)

    def test_sequence_has_ten_percent_one_off_scan_keys(self):
        seq = workload.make_sequence(10_000, 50_000, s=0.99, scan_fraction=0.10, chunk=10_000)
        scans = [x for x in seq if x < 0]
        self.assertEqual(len(seq), 50_000)
        self.assertEqual(len(scans), 5_000)
        self.assertEqual(len(set(scans)), len(scans))
        counts = collections.Counter(x for x in seq if x >= 0)
        # Zipf: rank 0 is the most frequent key, far above a tail key.
        self.assertEqual(counts.most_common(1)[0][0], 0)
        self.assertGreater(counts[0], 20 * max(1, counts[9_000]))

    def test_sequence_is_deterministic(self):
        self.assertEqual(workload.make_sequence(1000, 5000), workload.make_sequence(1000, 5000))


class ReportTests(unittest.TestCase):
    def _result(self, name: str, strata: list, redis: list) -> dict:
        res = Result(name, name.title())
        for s, r in zip(strata, redis):
            res.add("SET -P 1", "rps", "req/s", "strata", s, chart=True)
            res.add("SET -P 1", "rps", "req/s", "redis", r, chart=True)
            res.add("SET -P 1", "p99", "ms", "strata", 1.0)
            res.add("SET -P 1", "p99", "ms", "redis", 2.0)
        res.add("RSS", "bytes/key", "B", "strata", None, "lower")
        return res.to_json(3, False, {"machine": {"cpu": "x", "cores": 2}})

    def test_single_scenario_run_keeps_other_sections(self):
        env = {"machine": {"cpu": "x", "cores": 2}}
        store = report.merge({"scenarios": {}}, [self._result("throughput", [1, 2, 3], [2, 2, 2])], env)
        store = report.merge(store, [self._result("memory", [5, 5, 5], [4, 4, 4])], env)
        self.assertEqual(set(store["scenarios"]), {"throughput", "memory"})
        md = report.render_markdown(store, "benchmarks.png")
        self.assertIn("| SET -P 1 | 2 | 2 | **1.00** | 1.000 | 2.000 |", md)
        self.assertIn("| RSS — bytes/key (B) | n/a | n/a | n/a |", md)
        self.assertIn("_Not run yet: `python3 bench/run.py --scenario eviction`._", md)
        self.assertEqual([b[1] for b in report.chart_bars(store)], [1.0, 1.25])

    def test_store_round_trip(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "benchmarks.json"
            store = report.merge({"scenarios": {}}, [self._result("cluster", [1], [1])], {})
            report.save_store(path, store)
            self.assertEqual(report.load_store(path)["scenarios"].keys(), {"cluster"})
            path.write_text("not json")
            self.assertEqual(report.load_store(path), {"scenarios": {}})


class FeatureDetectionTests(unittest.TestCase):
    """Strata refusing an option at startup, or answering an empty CONFIG GET,
    skips the scenario."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def _ctx(self, strata_bin: str) -> Context:
        return Context(Settings(repo=self.tmp, strata_bin=strata_bin,
                                redis_bin=shutil.which("redis-server") or "redis-server",
                                redis_benchmark="redis-benchmark", nutcracker=None, rounds=1,
                                quick=True, run_dir=self.tmp / "run", docs_dir=self.tmp / "docs"))

    def test_refused_option_skips(self):
        fake = self.tmp / "strata-server"
        fake.write_text("#!/bin/sh\necho 'FATAL: unknown option --cluster-nodes' >&2\nexit 1\n")
        fake.chmod(0o755)
        with self.assertRaises(ScenarioSkipped) as caught:
            self._ctx(str(fake)).strata(args=["--cluster-nodes", "127.0.0.1:1"])
        self.assertIn("unknown option", str(caught.exception))

    @unittest.skipUnless(shutil.which("redis-server"), "redis-server not installed")
    def test_empty_config_get_skips(self):
        ctx = self._ctx(shutil.which("redis-server"))
        try:
            with self.assertRaises(ScenarioSkipped) as caught:
                ctx.strata(args=["--save", ""], features=["l3-fsync"])
            self.assertIn("CONFIG GET l3-fsync is empty", str(caught.exception))
        finally:
            ctx.stop_all()


if __name__ == "__main__":
    unittest.main()
