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

from benchlib import load, rbench, report, resp, workload  # noqa: E402
from benchlib.context import Context, ScenarioSkipped, Settings  # noqa: E402
from benchlib.results import Result  # noqa: E402
from benchlib.scenarios import l3raw, memory, types  # noqa: E402

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


class L3RawTests(unittest.TestCase):
    """Parsing sqlite_raw's output and INFO persistence, and the batcher's rates."""

    def test_parse_raw_json_lines(self):
        out = l3raw.parse_raw(
            "compiling...\n"
            '{"mode": "append", "synchronous": "NORMAL", "batch": 10000, "rows": 10, '
            '"table_rows": 10, "commits": 1, "seconds": 0.001, "rows_per_s": 1000000}\n'
            '{"mode": "upsert_rowid", "synchronous": "FULL", "batch": 1000, "rows_per_s": 5}\n')
        self.assertEqual(out, {("append", "NORMAL", 10000): 1e6, ("upsert_rowid", "FULL", 1000): 5.0})
        with self.assertRaises(RuntimeError):
            l3raw.parse_raw("sqlite_raw: cannot open\n")

    def test_sample_of_info(self):
        info = {"l3_rows_written": "20", "l3_batches": "2", "l3_queue_depth": "5",
                "l3_last_commit_time": "1000", "l3_last_commit_usec": "700"}
        self.assertEqual(l3raw.sample_of(info), l3raw.Sample(20, 2, 5, 1000, 700))
        self.assertIsNone(l3raw.sample_of({"l3_batches": "2"}))
        del info["l3_last_commit_usec"]
        self.assertEqual(l3raw.sample_of(info).commit_us, 0)

    def test_commit_rate_takes_the_longest_busy_stretch(self):
        S = l3raw.Sample
        samples = [
            S(0, 0, 0, 0),
            S(100, 1, 50, 1_000),         # first commit: the window opens here
            S(100, 1, 90, 1_000),         # a repeated sample adds nothing
            S(300, 2, 10, 2_000),         # 200 rows in one commit: busy
            S(700, 4, 10, 3_000),         # 400 rows in two commits: busy
            S(750, 5, 0, 4_000),          # 50 rows: the batcher waited (the end)
            S(1000, 6, 0, 5_000),         # busy again, but a shorter stretch
        ]
        rate = l3raw.commit_rate(samples, busy_rows=200)
        self.assertEqual((rate.rows, rate.commits, rate.seconds), (600, 3, 2.0))
        self.assertEqual(rate.rows_per_s, 300)
        self.assertEqual(rate.rows_per_commit, 200)
        self.assertIsNone(l3raw.commit_rate(samples, busy_rows=10_000))
        self.assertIsNone(l3raw.commit_rate([S(0, 0, 0, 0)], busy_rows=1))

    def test_in_commit_rate_uses_single_commit_steps(self):
        S = l3raw.Sample
        samples = [S(0, 0, 0, 0, 0), S(100, 1, 0, 1, 500_000), S(100, 1, 0, 1, 500_000),
                   S(400, 3, 0, 2, 100_000),     # two commits since the last poll: skipped
                   S(500, 4, 0, 3, 500_000)]
        self.assertEqual(l3raw.in_commit_rate(samples), 200 / 1.0)
        self.assertIsNone(l3raw.in_commit_rate(samples[:1]))

    def test_named_columns_in_the_report(self):
        res = Result("l3raw", "L3")
        res.columns = ("Strata batcher", "raw SQLite", "batcher/raw")
        res.add("append, batch 10,000", "", "rows/s", "strata", 800_000.0)
        res.add("append, batch 10,000", "", "rows/s", "redis", 1_000_000.0)
        store = report.merge({"scenarios": {}}, [res.to_json(1, False, {})], {})
        md = report.render_markdown(store, None)
        self.assertIn("| figure | Strata batcher | raw SQLite | batcher/raw |", md)
        self.assertIn("| append, batch 10,000 (rows/s) | 800,000 | 1,000,000 | 0.80 |", md)
        self.assertEqual(report.chart_bars(store), [])


class TypesScenarioTests(unittest.TestCase):
    """What the types scenario loads and how it names redis-benchmark's rows."""

    def _ctx(self, quick: bool) -> Context:
        tmp = Path(tempfile.gettempdir())
        return Context(Settings(repo=tmp, strata_bin="x", redis_bin="x", redis_benchmark="x",
                                nutcracker=None, rounds=1, quick=quick, run_dir=tmp, docs_dir=tmp))

    def test_row_labels(self):
        self.assertEqual(types.row_label("LRANGE_100 (first 100 elements)", "-P 16"), "LRANGE_100 -P 16")
        self.assertEqual(types.row_label("ZPOPMIN", "-P 16"), "ZPOPMIN -P 16")
        self.assertIsNone(types.row_label("LPUSH (needed to benchmark LRANGE)", "-P 16"))

    def test_element_sizes(self):
        for i in (0, 999_999):
            self.assertEqual(len(types.field_of(i)), 16)
            self.assertEqual(len(types.member_of(i)), 16)
            self.assertEqual(len(types.small_value_of(i)), 8)
        self.assertFalse(types.member_of(5).isdigit())  # strings: a hashtable, never an intset
        fields = types.object_fields(7)
        self.assertEqual(len(fields), 2 * types.OBJECT_FIELDS)
        self.assertEqual(len(set(fields[::2])), types.OBJECT_FIELDS)
        self.assertTrue(all(len(v) <= 64 for v in fields[1::2]))  # listpack-sized values

    def test_loads_cover_every_element_once(self):
        shapes = {s.label: s for s in types.structures(self._ctx(quick=True))}
        self.assertEqual(sorted(shapes), ["10k hashes of 10 fields", "hash, 100k fields",
                                          "set, 100k members", "sorted set, 100k members"])
        zset = shapes["sorted set, 100k members"]
        commands = list(zset.commands(zset.elements))
        self.assertEqual(len(commands), zset.elements // types.PER_COMMAND)
        self.assertEqual(commands[0][:4], (b"ZADD", b"big:zset", b"0", types.member_of(0)))
        members = [m for c in commands for m in c[3::2]]
        self.assertEqual(len(set(members)), zset.elements)
        objects = list(shapes["10k hashes of 10 fields"].commands(3))
        self.assertEqual([c[1] for c in objects], [types.object_key_of(i) for i in range(3)])
        self.assertEqual(types.count_label(1_000_000), "1M")
        self.assertEqual(types.count_label(1_500), "1,500")
        full = {s.label: s.elements for s in types.structures(self._ctx(quick=False))}
        self.assertEqual(full["hash, 1M fields"], 1_000_000)
        self.assertEqual(full["100k hashes of 10 fields"], 100_000)

    def test_probe_skips_a_server_without_collection_commands(self):
        class NoCollections:
            def call(self, *args):
                if args[0] == "FLUSHALL":
                    return "OK"
                return resp.RespError(f"ERR unknown command '{args[0]}', with args beginning with: ")

        with self.assertRaises(ScenarioSkipped) as caught:
            types._probe(NoCollections())
        self.assertIn("unknown command 'HSET'", str(caught.exception))
        self.assertIn("unknown command 'ZADD'", str(caught.exception))

    def test_command_batches(self):
        batches = load.command_batches([("SADD", "s", str(i)) for i in range(5)], batch=2)
        self.assertEqual([n for n, _ in batches], [2, 2, 1])
        self.assertEqual(batches[2][1], resp.encode("SADD", "s", "4"))


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
