"""What machine and which versions a run used."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def first_line(argv: list[str], timeout: float = 60.0) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unavailable ({err.__class__.__name__})"
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0].strip() if text else "unavailable"


def machine() -> dict:
    cpu_model, processors = "unknown", 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu_model == "unknown":
                cpu_model = line.split(":", 1)[1].strip()
            if line.startswith("processor"):
                processors += 1
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    os_name = platform.system()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return {
        "cores": processors or os.cpu_count(),
        "cpu": cpu_model,
        "memory_gib": mem_gib,
        "os": os_name,
        "kernel": platform.release(),
    }


def tool_versions(redis_bin: str, redis_benchmark: str, nutcracker: str | None) -> dict:
    return {
        "redis-server": first_line([redis_bin, "--version"]),
        "redis-benchmark": first_line([redis_benchmark, "--version"]),
        "nutcracker": first_line([nutcracker, "--version"]) if nutcracker else "not installed",
        "swift": first_line(["swift", "--version"]),
        "python": platform.python_version(),
    }


def strata_version(info_server: dict) -> dict:
    """The version fields Strata reports in INFO server."""
    keep = ("strata_version", "redis_version", "strata_git_sha1", "strata_build_id",
            "redis_git_sha1", "os", "arch_bits")
    return {k: info_server[k] for k in keep if k in info_server}
