"""cluster: throughput through a proxying Strata node vs one Strata node, and
through twemproxy (nutcracker) in front of three redis-servers vs one
redis-server."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .. import rbench
from ..context import Context, ScenarioSkipped
from ..machine import first_line
from ..procs import HOST, free_port
from ..results import Result

NAME = "cluster"
TITLE = "Cluster: proxying Strata node vs twemproxy (3 nodes each)"

NODES = 3
BASE = ["-t", "set,get", "-r", "100000", "-d", "64", "-c", "50"]
TESTS = [("-P 1", [*BASE, "-P", "1"], 200_000), ("-P 16", [*BASE, "-P", "16"], 1_000_000)]


def nutcracker_config(listen_port: int, backends: list[int]) -> str:
    servers = "\n".join(f"   - {HOST}:{p}:1" for p in backends)
    return (
        "strata_bench:\n"
        f"  listen: {HOST}:{listen_port}\n"
        "  hash: fnv1a_64\n"
        "  distribution: ketama\n"
        "  redis: true\n"
        "  auto_eject_hosts: false\n"
        "  server_connections: 1\n"
        "  servers:\n"
        f"{servers}\n"
    )


def _start_nutcracker(ctx: Context, backends: list[int]):
    binary = ctx.settings.nutcracker

    def argv(port: int, data_dir: Path) -> list[str]:
        data_dir.mkdir(parents=True, exist_ok=True)
        conf = data_dir / "nutcracker.yml"
        conf.write_text(nutcracker_config(port, backends))
        check = subprocess.run([binary, "-t", "-c", str(conf)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nutcracker rejected its config: {check.stderr.strip()}")
        return [binary, "-c", str(conf), "-s", str(free_port()), "-a", HOST]

    return ctx.process("twemproxy", argv)


def run(ctx: Context) -> Result:
    if not ctx.settings.nutcracker:
        raise ScenarioSkipped("nutcracker (twemproxy) not found on PATH; apt-get install nutcracker")
    result = Result(NAME, TITLE)
    bench = ctx.settings.redis_benchmark

    ports = [free_port() for _ in range(NODES)]
    nodes_arg = ",".join(f"{HOST}:{p}" for p in ports)
    nodes = [ctx.strata(f"strata-node{i + 1}", args=["--cluster-nodes", nodes_arg],
                        optional=["--persistence", "no"], features=["cluster-nodes"], port=port)
             for i, port in enumerate(ports)]
    strata_direct = ctx.strata("strata-direct", optional=["--persistence", "no"])
    redis_direct = ctx.redis("redis-direct")
    shards = [ctx.redis(f"redis-shard{i + 1}") for i in range(NODES)]
    twemproxy = _start_nutcracker(ctx, [s.port for s in shards])
    nc_version = first_line([ctx.settings.nutcracker, "--version"]).replace("This is ", "")

    targets = [("strata", "direct", strata_direct), ("redis", "direct", redis_direct),
               ("strata", "proxy", nodes[0]), ("redis", "proxy", twemproxy)]
    for label, args, n in TESTS:
        result.command(rbench.display(["-n", str(ctx.scale(n)), *args]))
    result.command(f"strata-server --cluster-nodes {HOST}:P1,{HOST}:P2,{HOST}:P3 (on each node; "
                   "the client talks to node 1)")
    result.command("nutcracker -c nutcracker.yml  (listen, hash fnv1a_64, distribution ketama, "
                   "redis true, 3 redis-server backends)")
    result.note("'direct' is one standalone server; 'via proxy' goes to node 1 of a 3-node Strata "
                "cluster (which forwards keys it does not own) or to twemproxy "
                f"({nc_version}) in front of 3 redis-servers, in the "
                "Strata and Redis columns respectively. 'proxy/direct' is the share of direct "
                "throughput kept through the proxy.")

    direct_rps: dict[tuple[str, str, str], float] = {}
    for rnd in range(1, ctx.rounds + 1):
        for label, args, n in TESTS:
            full = ["-n", str(ctx.scale(n)), *args]
            for system, mode, server in targets:
                for row in rbench.run(bench, server.port, full):
                    test = f"{row.test} {label}"
                    where = "direct" if mode == "direct" else "via proxy (3 nodes)"
                    result.add(f"{test} {where}", "rps", "req/s", system, row.rps, "higher",
                               chart=True)
                    result.add(f"{test} {where}", "p99", "ms", system, row.p99_ms, "lower")
                    if mode == "direct":
                        direct_rps[(system, test, str(rnd))] = row.rps
                    else:
                        base = direct_rps.get((system, test, str(rnd)))
                        result.add(f"{test} proxy/direct", "share", "x", system,
                                   row.rps / base if base else None, "higher")
                    ctx.log(f"  round {rnd}/{ctx.rounds} {system:6s} {test:10s} {where:20s} "
                            f"{row.rps:>11,.0f} req/s  p99 {row.p99_ms:.3f} ms")

    strata_keys = [n.call("DBSIZE") for n in nodes]
    shard_keys = [s.call("DBSIZE") for s in shards]
    result.note(f"Keys per node after the run: Strata {strata_keys}, twemproxy shards {shard_keys}.")
    if isinstance(strata_keys[0], int) and all(k == 0 for k in strata_keys[1:]):
        result.note("Warning: Strata nodes 2 and 3 hold no keys: node 1 served everything itself, "
                    "so the 'via proxy' figures measure no forwarding.")
    ctx.stop_all()
    return result
