"""Driving redis-benchmark and parsing its `--csv` output.

redis-benchmark 7.x prints one header line and one line per test:

    "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    "SET","94786.73","0.370","0.096","0.327","0.655","1.023","2.887"

It exits non-zero on an error reply ("Error from server: ..." on stderr).
Columns are looked up by header name, so a reordering does not go unnoticed.
"""

from __future__ import annotations

import csv
import io
import shlex
import subprocess
from dataclasses import dataclass

from .procs import HOST

REQUIRED_COLUMNS = ("test", "rps", "p50_latency_ms", "p99_latency_ms")
TIMEOUT_S = 600


class BenchmarkError(Exception):
    pass


class BenchmarkTimeout(BenchmarkError):
    pass


@dataclass
class Row:
    test: str
    rps: float
    avg_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def parse_csv(text: str) -> list[Row]:
    """Parse redis-benchmark --csv output into rows, checking the header."""
    lines = [line for line in text.splitlines() if line.strip().startswith('"')]
    if not lines:
        raise BenchmarkError(f"no CSV in redis-benchmark output: {text[-300:]!r}")
    records = list(csv.reader(io.StringIO("\n".join(lines))))
    header = records[0]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise BenchmarkError(f"redis-benchmark CSV header lacks {missing}: {header}")
    col = {name: i for i, name in enumerate(header)}

    def num(record: list[str], name: str) -> float:
        if name not in col:
            return float("nan")
        return float(record[col[name]])

    rows = []
    for record in records[1:]:
        if len(record) != len(header) or record == header:
            continue
        rows.append(Row(
            test=record[col["test"]],
            rps=num(record, "rps"),
            avg_ms=num(record, "avg_latency_ms"),
            p50_ms=num(record, "p50_latency_ms"),
            p95_ms=num(record, "p95_latency_ms"),
            p99_ms=num(record, "p99_latency_ms"),
            max_ms=num(record, "max_latency_ms"),
        ))
    if not rows:
        raise BenchmarkError(f"redis-benchmark CSV has a header but no rows: {text[-300:]!r}")
    return rows


def argv(binary: str, port: int, args: list[str]) -> list[str]:
    return [binary, "-h", HOST, "-p", str(port), "--csv", *args]


def display(args: list[str], port_name: str = "PORT") -> str:
    """The command as it is documented (port left symbolic)."""
    return "redis-benchmark -h 127.0.0.1 -p " + port_name + " " + shlex.join(args)


def run(binary: str, port: int, args: list[str], timeout: float = TIMEOUT_S) -> list[Row]:
    cmd = argv(binary, port, args)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise BenchmarkTimeout(f"redis-benchmark timed out after {timeout:.0f}s: {shlex.join(cmd)}") from err
    errors = [line for line in done.stderr.splitlines() if "Error" in line]
    if done.returncode != 0 or errors:
        detail = "; ".join(errors) or done.stderr.strip()[-300:] or f"exit status {done.returncode}"
        raise BenchmarkError(f"redis-benchmark failed ({shlex.join(cmd)}): {detail}")
    return parse_csv(done.stdout)
