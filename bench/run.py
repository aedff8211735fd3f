#!/usr/bin/env python3
"""Benchmark Strata against redis-server and write docs/benchmarks.{md,json,png}.

    python3 bench/run.py                       # every scenario, 3 rounds
    python3 bench/run.py --scenario eviction   # one scenario; other sections kept
    python3 bench/run.py --quick --rounds 1    # smoke run (request counts / 10)

See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import machine, report  # noqa: E402
from benchlib.context import Context, ScenarioSkipped, Settings  # noqa: E402
from benchlib.procs import StartupError, require_binary  # noqa: E402
from benchlib.results import Result  # noqa: E402
from benchlib.scenarios import ALL, BY_NAME  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
KEEP_RUNS = 10   # run-* directories (logs) kept in bench-out/


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", action="append", default=[],
                   help="scenario to run (repeatable or comma-separated): " + ", ".join(BY_NAME))
    p.add_argument("--rounds", type=int, default=3, help="rounds per figure (default 3)")
    p.add_argument("--quick", action="store_true", help="divide request counts by 10 (smoke run)")
    p.add_argument("--strata-bin", default=os.environ.get("STRATA_BIN")
                   or str(REPO / ".build" / "release" / "strata-server"),
                   help="strata-server binary (default $STRATA_BIN or .build/release/strata-server)")
    p.add_argument("--redis-server", default=os.environ.get("REDIS_SERVER", "redis-server"))
    p.add_argument("--redis-benchmark", default=os.environ.get("REDIS_BENCHMARK", "redis-benchmark"))
    p.add_argument("--nutcracker", default=os.environ.get("NUTCRACKER", "nutcracker"))
    p.add_argument("--docs-dir", type=Path, default=REPO / "docs",
                   help="where benchmarks.{md,json,png} go (default docs/)")
    p.add_argument("--out-dir", type=Path, default=REPO / "bench-out",
                   help="server data directories and logs (default bench-out/)")
    p.add_argument("--keep-data", action="store_true", help="keep server data directories")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = p.parse_args(argv)
    names = [n.strip() for item in args.scenario for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        p.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    args.scenarios = names or [m.NAME for m in ALL]
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    return args


def probe_strata(ctx: Context) -> tuple[dict, bool]:
    """Start Strata once: check that it runs, read its version, and tell whether
    it is really redis-server standing in (then docs/ is not written)."""
    try:
        server = ctx.strata("strata-probe", optional=["--persistence", "no"])
    except (StartupError, ScenarioSkipped) as err:
        raise SystemExit(f"error: strata-server does not start: {err}")
    try:
        info = server.info("server")
        exe = server.exe()
    finally:
        ctx.stop(server)
    fields = machine.strata_version(info)
    fields["binary"] = ctx.settings.strata_bin
    redis_exe = os.path.realpath(ctx.settings.redis_bin)
    return fields, bool(exe) and exe == redis_exe


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.list:
        for module in ALL:
            print(f"{module.NAME:12s} {module.TITLE}")
        return 0

    strata_bin = require_binary(args.strata_bin, "strata-server",
                                "build it first: swift build -c release (or make bench), "
                                "or point STRATA_BIN / --strata-bin at it")
    redis_bin = require_binary(args.redis_server, "redis-server", "apt-get install redis-server")
    bench_bin = require_binary(args.redis_benchmark, "redis-benchmark", "apt-get install redis-tools")
    nutcracker = shutil.which(args.nutcracker)

    run_dir = args.out_dir / time.strftime("run-%Y%m%d-%H%M%S")
    prune_runs(args.out_dir)
    settings = Settings(repo=REPO, strata_bin=strata_bin, redis_bin=redis_bin,
                        redis_benchmark=bench_bin, nutcracker=nutcracker, rounds=args.rounds,
                        quick=args.quick, run_dir=run_dir, docs_dir=args.docs_dir,
                        keep_data=args.keep_data)
    ctx = Context(settings)
    ctx.log(f"Strata vs Redis: scenarios {', '.join(args.scenarios)}; {args.rounds} round(s)"
            + (" (quick)" if args.quick else "") + f"; logs in {run_dir / 'logs'}")

    results: list[dict] = []
    failed = False
    try:
        strata_info, standin = probe_strata(ctx)
        env = {"machine": machine.machine(),
               "versions": machine.tool_versions(redis_bin, bench_bin, nutcracker),
               "strata": strata_info}
        ctx.log(f"machine: {env['machine']['cpu']} ({env['machine']['cores']} cores); "
                f"strata: {', '.join(f'{k} {v}' for k, v in strata_info.items() if k != 'binary') or 'no version in INFO'}; "
                f"{env['versions']['redis-server']}")
        if standin:
            ctx.log("note: strata-server is redis-server standing in")

        for name in args.scenarios:
            module = BY_NAME[name]
            ctx.log(f"== {name}: {module.TITLE}")
            begin = time.monotonic()
            try:
                result = module.run(ctx)
            except ScenarioSkipped as err:
                ctx.log(f"   skipped {name}: {err}")
                result = Result(name, module.TITLE)
                result.status, result.reason = "skipped", str(err)
            except KeyboardInterrupt:
                raise
            except Exception as err:  # report it, go on with the next scenario
                failed = True
                ctx.log(f"   FAILED {name}: {err}")
                traceback.print_exc()
                result = Result(name, module.TITLE)
                result.status, result.reason = "failed", f"{err.__class__.__name__}: {err}"
            finally:
                ctx.stop_all()
            results.append(result.to_json(result.rounds or args.rounds, args.quick, env))
            ctx.log(f"   {name} took {time.monotonic() - begin:.0f}s")
    finally:
        ctx.stop_all()
        try:
            (run_dir / "data").rmdir()   # only when empty (no --keep-data)
        except OSError:
            pass

    print_summary(results)
    default_docs = args.docs_dir.resolve() == (REPO / "docs").resolve()
    if standin and default_docs:
        ctx.log("not writing docs/: the strata binary is redis-server standing in "
                "(pass --docs-dir to write elsewhere)")
    else:
        report.write_all(args.docs_dir, results, env, ctx.log)
    ctx.log(f"done in {time.monotonic() - ctx.started:.0f}s")
    return 1 if failed else 0


def prune_runs(out_dir: Path) -> None:
    """Keep the logs of the last KEEP_RUNS - 1 runs, beside the new one."""
    runs = sorted(p for p in out_dir.glob("run-*") if p.is_dir())
    for old in runs[: max(0, len(runs) - (KEEP_RUNS - 1))]:
        shutil.rmtree(old, ignore_errors=True)


def print_summary(results: list[dict]) -> None:
    print("\nSummary (medians; ratio = Strata/Redis)")
    for res in results:
        if res["status"] != "ok":
            print(f"  {res['name']:12s} {res['status']}: {res['reason']}")
            continue
        for fig in res["figures"]:
            med, r = fig["median"], fig["ratio"]
            label = f"{fig['group']} {fig['metric']}".strip()
            print(f"  {res['name']:12s} {label:40s} strata {report.fmt(med['strata'], fig['unit']):>14s}  "
                  f"redis {report.fmt(med['redis'], fig['unit']):>14s}  ratio {report.fmt_ratio(r)}")


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
