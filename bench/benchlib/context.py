"""Run-wide settings, progress output and the factories that start servers
with equivalent settings (Strata and redis-server side by side)."""

from __future__ import annotations

import itertools
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from .procs import HOST, Server, StartupError, free_port, log_tail

# One quick run divides every request count by this.
QUICK_DIVISOR = 10


class ScenarioSkipped(Exception):
    """The scenario cannot run here (a Strata feature or a tool is missing)."""


@dataclass
class Settings:
    repo: Path
    strata_bin: str
    redis_bin: str
    redis_benchmark: str
    nutcracker: str | None
    rounds: int
    quick: bool
    run_dir: Path
    docs_dir: Path
    keep_data: bool = False


@dataclass
class Context:
    settings: Settings
    started: float = field(default_factory=time.monotonic)
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1))
    _servers: list[Server] = field(default_factory=list)
    _refused: set[tuple[str, ...]] = field(default_factory=set)

    # -- progress -------------------------------------------------------------

    def log(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{int(elapsed // 60):02d}:{elapsed % 60:04.1f}] {message}", flush=True)

    def scale(self, n: int) -> int:
        """A request count, divided down for --quick runs."""
        return max(1, n // QUICK_DIVISOR) if self.settings.quick else n

    @property
    def rounds(self) -> int:
        return self.settings.rounds

    # -- servers --------------------------------------------------------------

    def _paths(self, label: str) -> tuple[Path, Path]:
        n = next(self._seq)
        name = f"{n:03d}-{label}"
        return self.settings.run_dir / "data" / name, self.settings.run_dir / "logs" / f"{name}.log"

    def _start(self, label: str, build_argv, port: int | None = None, attempts: int = 3) -> Server:
        """Start a server on `port` or a fresh one, retrying on a fresh port when
        it was taken between picking it and binding it."""
        last: StartupError | None = None
        for _ in range(1 if port else attempts):
            use = port or free_port()
            data_dir, log = self._paths(label)
            server = Server(label, build_argv(use, data_dir), use, data_dir, log)
            try:
                server.start()
            except StartupError as err:
                last = err
                if err.refused and "in use" in log_tail(log, 30).lower():
                    continue
                raise
            self._servers.append(server)
            return server
        assert last is not None
        raise last

    def redis(self, label: str = "redis", **config: str) -> Server:
        """Start redis-server with the harness defaults (no RDB, no AOF),
        overridden by `config` (names with '_' for '-')."""
        settings = {"save": "", "appendonly": "no", "protected-mode": "no"}
        settings.update({k.replace("_", "-"): str(v) for k, v in config.items()})

        def argv(port: int, data_dir: Path) -> list[str]:
            out = [self.settings.redis_bin, "--port", str(port), "--bind", HOST,
                   "--dir", str(data_dir)]
            for key, value in settings.items():
                out += [f"--{key}", value]
            return out

        return self._start(label, argv)

    def strata(self, label: str = "strata", args: list[str] | None = None,
               optional: list[str] | None = None, features: list[str] = (),
               port: int | None = None) -> Server:
        """Start strata-server with `args`, plus `optional` args that are dropped
        when the server refuses them. Raise ScenarioSkipped when the server
        refuses `args` at startup or answers an empty CONFIG GET for one of
        `features`."""
        args = list(args or [])
        optional = list(optional or [])
        if tuple(optional) in self._refused:
            optional = []

        def argv_for(extra: list[str]):
            def argv(port: int, data_dir: Path) -> list[str]:
                return [self.settings.strata_bin, "--port", str(port), "--bind", HOST,
                        "--dir", str(data_dir), *extra]
            return argv

        try:
            server = self._start(label, argv_for(args + optional), port)
        except StartupError as err:
            if not err.refused:
                raise
            if optional:
                self._refused.add(tuple(optional))
                self.log(f"  strata-server refused {' '.join(args + optional)}; "
                         f"retrying without {' '.join(optional)}")
                try:
                    server = self._start(label, argv_for(args), port)
                except StartupError as err2:
                    if not err2.refused or not args:
                        raise
                    raise ScenarioSkipped(
                        f"strata-server refused {' '.join(args)}: {_last_line(str(err2))}")
            elif args:
                raise ScenarioSkipped(f"strata-server refused {' '.join(args)}: {_last_line(str(err))}")
            else:
                raise
        for name in features:
            value = server.config_get(name)
            if value == "":
                self.stop(server)
                raise ScenarioSkipped(f"strata-server does not support '{name}' "
                                      f"(CONFIG GET {name} is empty)")
            if value is None:
                self.log(f"  warning: CONFIG GET {name} failed on strata-server; "
                         "assuming supported since it accepted the option")
        return server

    def process(self, label: str, build_argv) -> Server:
        """Start any other Redis-protocol process (e.g. a proxy); `build_argv`
        gets (port, data_dir) and returns the command line."""
        return self._start(label, build_argv)

    def stop(self, server: Server) -> None:
        server.stop()
        if server in self._servers:
            self._servers.remove(server)
        if not self.settings.keep_data:
            shutil.rmtree(server.dir, ignore_errors=True)

    def stop_all(self) -> None:
        for server in list(self._servers):
            self.stop(server)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else text
