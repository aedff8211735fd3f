"""The stored results (docs/benchmarks.json) and what is rendered from them:
docs/benchmarks.md and docs/benchmarks.png. Every run replaces the sections
of the scenarios it ran and keeps the others, then renders from all of them."""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import site
import subprocess
import sys
from pathlib import Path

from .results import median, ratio

ORDER = ["throughput", "memory", "eviction", "persistence", "l3raw", "cluster", "types"]
TITLES = {
    "throughput": "Throughput and latency (redis-benchmark)",
    "memory": "Memory per key",
    "eviction": "Eviction",
    "persistence": "Persistence",
    "l3raw": "L3 batcher vs raw SQLite",
    "cluster": "Cluster",
    "types": "Data types",
}
LATENCY_METRICS = ("p50", "p99")


# -- store -------------------------------------------------------------------

def load_store(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        if isinstance(data, dict) and isinstance(data.get("scenarios"), dict):
            return data
    except (OSError, ValueError):
        pass
    return {"scenarios": {}}


def merge(store: dict, results: list[dict], env: dict) -> dict:
    store = dict(store)
    store["scenarios"] = dict(store.get("scenarios", {}))
    for res in results:
        store["scenarios"][res["name"]] = res
    store["updated"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    store["env"] = env
    return store


def save_store(path: Path, store: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(store, indent=1, sort_keys=False) + "\n")


# -- formatting --------------------------------------------------------------

def fmt(value, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "req/s":
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:.3f}"
    if unit in ("keys", "rows/s", "rows", "elements/s"):
        return f"{value:,.0f}"
    if unit in ("MiB", "B", "x"):
        return f"{value:,.1f}" if unit != "x" else f"{value:.2f}"
    if unit == "%":
        return f"{value:.2f} %"
    return f"{value:,.2f}"


def fmt_ratio(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _med(fig: dict, system: str):
    return median(fig["values"].get(system, []))


def _ratio(fig: dict):
    return ratio(_med(fig, "strata"), _med(fig, "redis"))


# -- markdown ----------------------------------------------------------------

def _env_rows(env: dict) -> list[tuple[str, str]]:
    m = env.get("machine", {})
    v = env.get("versions", {})
    s = env.get("strata", {})
    strata_bits = ", ".join(f"{k} {val}" for k, val in s.items() if k != "binary") or "INFO server has no version"
    return [
        ("CPU", f"{m.get('cpu', '?')} ({m.get('cores', '?')} cores)"),
        ("Memory", f"{m.get('memory_gib', '?')} GiB"),
        ("OS", f"{m.get('os', '?')}, kernel {m.get('kernel', '?')}"),
        ("strata-server", f"{strata_bits} (`{s.get('binary', '?')}`)"),
        ("redis-server", v.get("redis-server", "?")),
        ("redis-benchmark", v.get("redis-benchmark", "?")),
        ("nutcracker", v.get("nutcracker", "?")),
        ("swift", v.get("swift", "?")),
        ("python", v.get("python", "?")),
    ]


def _rps_table(figs: list[dict]) -> list[str]:
    by_group: dict[str, dict[str, dict]] = {}
    for fig in figs:
        by_group.setdefault(fig["group"], {})[fig["metric"]] = fig
    groups = [g for g, metrics in by_group.items() if "rps" in metrics]
    if not groups:
        return []
    lat = [m for m in LATENCY_METRICS if any(m in by_group[g] for g in groups)]
    lat_name = " / ".join(lat) + " ms" if lat else ""
    head = "| test | Strata req/s | Redis req/s | Strata/Redis |"
    sep = "|---|---:|---:|---:|"
    if lat:
        head += f" Strata {lat_name} | Redis {lat_name} |"
        sep += "---:|---:|"
    lines = [head, sep]
    for g in groups:
        rps = by_group[g]["rps"]
        row = f"| {g} | {fmt(_med(rps, 'strata'), 'req/s')} | {fmt(_med(rps, 'redis'), 'req/s')} | " \
              f"**{fmt_ratio(_ratio(rps))}** |"
        if lat:
            for system in ("strata", "redis"):
                parts = [fmt(_med(by_group[g][m], system), "ms") if m in by_group[g] else "–" for m in lat]
                row += " " + " / ".join(parts) + " |"
        lines.append(row)
    return lines


def _generic_table(figs: list[dict], columns=("Strata", "Redis", "Strata/Redis")) -> list[str]:
    lines = ["| figure | " + " | ".join(columns) + " |", "|---|---:|---:|---:|"]
    for fig in figs:
        name = fig["group"] + (f" — {fig['metric']}" if fig["metric"] else "")
        unit = fig["unit"]
        lines.append(f"| {name} ({unit}) | {fmt(_med(fig, 'strata'), unit)} | "
                     f"{fmt(_med(fig, 'redis'), unit)} | {fmt_ratio(_ratio(fig))} |")
    return lines


def _section(name: str, res: dict | None, latest_env: dict) -> list[str]:
    title = (res or {}).get("title") or TITLES.get(name, name)
    out = [f"## {title}", ""]
    if res is None:
        out += [f"_Not run yet: `python3 bench/run.py --scenario {name}`._", ""]
        return out
    strata = res.get("env", {}).get("strata", {})
    if strata.get("strata_version"):
        version = f"strata {strata['strata_version']}"
    else:
        version = f"strata (no strata_version; redis_version {strata.get('redis_version', '?')})"
    rounds = res.get("rounds", "?")
    line = (f"_Scenario `{name}` · run {res.get('date', '?')} · {rounds} "
            f"round{'' if rounds == 1 else 's'} · {version}_")
    if res.get("env", {}).get("machine") != latest_env.get("machine"):
        m = res.get("env", {}).get("machine", {})
        line = line[:-1] + f" · machine: {m.get('cpu', '?')} ({m.get('cores', '?')} cores)_"
    out += [line, ""]
    if res.get("quick"):
        out += ["> **Quick run** (request counts ÷10): a smoke test, not representative.", ""]
    if res.get("status") == "skipped":
        out += [f"**Skipped:** {res.get('reason', '')}", ""]
        return out
    if res.get("status") == "failed":
        out += [f"**Failed:** {res.get('reason', '')}", ""]
        if not res.get("figures"):
            return out
    figs = res.get("figures", [])
    rps_lines = _rps_table(figs)
    in_rps = {(f["group"], f["metric"]) for f in figs
              if f["metric"] in ("rps", *LATENCY_METRICS)
              and any(g["group"] == f["group"] and g["metric"] == "rps" for g in figs)}
    rest = [f for f in figs if (f["group"], f["metric"]) not in in_rps]
    if rps_lines:
        out += rps_lines + [""]
    if rest:
        out += _generic_table(rest, *([res["columns"]] if res.get("columns") else [])) + [""]
    if res.get("commands"):
        out += ["Commands (PORT is picked at run time):", "", "```"] + res["commands"] + ["```", ""]
    for note in res.get("notes", []):
        out.append(f"- {note}")
    if res.get("notes"):
        out.append("")
    return out


def render_markdown(store: dict, chart_name: str | None) -> str:
    env = store.get("env", {})
    scenarios = store.get("scenarios", {})
    out = [
        "# Strata benchmarks",
        "",
        "Strata against redis-server on the same machine, driven by the same client in the same "
        "run, alternating the two (Strata, Redis, Strata, Redis, …) round by round. Each figure is "
        "the median of the rounds. **Strata/Redis** above 1 means Strata's figure is higher: "
        "better for throughput and hit ratio, worse for latency and memory.",
        "",
        f"Generated by `bench/run.py` on {store.get('updated', '?')}; do not edit by hand "
        "(figures live in `docs/benchmarks.json`).",
        "",
        "## How to rerun",
        "",
        "```",
        "make bench                                     # build release, run every scenario",
        "python3 bench/run.py                           # every scenario (binary already built)",
        "python3 bench/run.py --scenario eviction       # one scenario; other sections are kept",
        "python3 bench/run.py --rounds 5                # more rounds (default 3)",
        "python3 bench/run.py --quick --rounds 1 --docs-dir /tmp/b   # smoke run, request counts ÷10",
        "```",
        "",
        "The binary is `$STRATA_BIN` or `.build/release/strata-server`. Servers listen on free "
        "127.0.0.1 ports; data and logs go to `bench-out/`.",
        "",
        "## Machine and versions (latest run)",
        "",
        "| | |",
        "|---|---|",
    ]
    out += [f"| {k} | {v} |" for k, v in _env_rows(env)]
    out.append("")
    if chart_name:
        out += [f"![Strata/Redis throughput ratios]({chart_name})", ""]
    for name in ORDER:
        out += _section(name, scenarios.get(name), env)
    for name, res in scenarios.items():
        if name not in ORDER:
            out += _section(name, res, env)
    return "\n".join(out).rstrip() + "\n"


# -- chart -------------------------------------------------------------------

def chart_bars(store: dict) -> list[tuple[str, float]]:
    bars = []
    scenarios = store.get("scenarios", {})
    for name in ORDER + [n for n in scenarios if n not in ORDER]:
        res = scenarios.get(name)
        if not res or res.get("status") == "skipped":
            continue
        for fig in res.get("figures", []):
            r = _ratio(fig)
            if fig.get("chart") and r is not None:
                metric = "" if fig["metric"] == "rps" else f" ({fig['metric']})"
                bars.append((f"{name}: {fig['group']}{metric}", r))
    return bars


def ensure_matplotlib(log) -> bool:
    """Import matplotlib, installing it with pip --user if it is missing."""
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        pass
    log("  matplotlib missing; installing it with pip --user")
    base = [sys.executable, "-m", "pip", "install", "--quiet", "--user", "matplotlib"]
    for argv in (base, base + ["--break-system-packages"]):
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode == 0:
            break
    else:
        log(f"  warning: pip could not install matplotlib: {done.stderr.strip()[-300:]}")
        return False
    user_site = site.getusersitepackages()
    if user_site not in sys.path:
        site.addsitedir(user_site)
    importlib.invalidate_caches()
    try:
        import matplotlib  # noqa: F401,F811
        return True
    except ImportError as err:
        log(f"  warning: matplotlib installed but not importable: {err}")
        return False


def render_chart(store: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = chart_bars(store)
    height = max(2.5, 0.32 * len(bars) + 1.4)
    fig, ax = plt.subplots(figsize=(9, height))
    if bars:
        labels = [b[0] for b in bars][::-1]
        values = [b[1] for b in bars][::-1]
        colors = ["#2e7d32" if v >= 1 else "#c62828" for v in values]
        ax.barh(labels, values, color=colors)
        ax.axvline(1.0, color="black", linewidth=1)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.2f}", va="center", fontsize=8)
        ax.set_xlim(0, max(1.25, max(values) * 1.15))
        ax.tick_params(axis="y", labelsize=8)
    else:
        ax.text(0.5, 0.5, "no throughput figures yet", ha="center", va="center")
        ax.set_yticks([])
    ax.set_xlabel("Strata / Redis throughput (median of rounds; > 1 means Strata is faster)")
    ax.set_title(f"Strata vs Redis throughput — {store.get('updated', '')}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(docs_dir: Path, results: list[dict], env: dict, log) -> None:
    json_path = docs_dir / "benchmarks.json"
    store = merge(load_store(json_path), results, env)
    save_store(json_path, store)
    chart = docs_dir / "benchmarks.png"
    chart_name = None
    if ensure_matplotlib(log):
        render_chart(store, chart)
        chart_name = chart.name
    (docs_dir / "benchmarks.md").write_text(render_markdown(store, chart_name))
    log(f"wrote {docs_dir / 'benchmarks.md'}, {json_path.name}" + (f", {chart.name}" if chart_name else ""))
