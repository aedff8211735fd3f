"""Fixtures that start strata-server and a reference redis-server.

Environment:
  STRATA_BIN          path of the strata binary (default <repo>/.build/release/strata-server)
  TARGET=redis        run the tests meant for strata against redis-server instead
                      (to check that the tests themselves agree with Redis)
  DIFF_AGAINST_REDIS=1  the differential test compares redis-server with a second
                      redis-server (validates the harness); implied by TARGET=redis
  REDIS_SERVER        path of redis-server (default: found on PATH)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from resp_client import Error, RespConnection, Simple

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def target() -> str:
    value = os.environ.get("TARGET", "strata").lower()
    if value not in ("strata", "redis"):
        raise pytest.UsageError(f"TARGET must be 'strata' or 'redis', not {value!r}")
    return value


def strata_bin() -> Path:
    return Path(os.environ.get("STRATA_BIN", REPO / ".build" / "release" / "strata-server"))


def redis_bin() -> str:
    path = os.environ.get("REDIS_SERVER") or shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.access(path, os.X_OK):
        pytest.fail(f"redis-server not found ({path}); run `make deps`", pytrace=False)
    return path


def free_port() -> int:
    """A port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# Which test is running, so that server logs can be attached to its report.
_current_test = {"nodeid": None}
_servers: list["ServerProcess"] = []


class ServerProcess:
    """One server process: strata-server or redis-server."""

    def __init__(self, kind: str, extra_args: tuple, workdir: Path, config_file: Path | None = None):
        self.kind = kind
        self.extra_args = [str(a) for a in extra_args]
        self.config_file = [str(config_file)] if config_file else []
        self.workdir = workdir
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / f"{kind}.log"
        self.stopped_during: str | None = None
        self.exit_code: int | None = None

    @property
    def host(self) -> str:
        return HOST

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.port}"

    def command(self, port: int) -> list:
        if self.kind == "strata":
            binary = strata_bin()
            if not binary.exists():
                pytest.fail(
                    f"strata binary not found at {binary}. Build it with `make release` "
                    f"or point STRATA_BIN at it (TARGET=redis runs these tests against redis-server).",
                    pytrace=False,
                )
            return [str(binary), *self.config_file, "--port", str(port), "--bind", HOST,
                    "--dir", str(self.workdir), *self.extra_args]
        return [redis_bin(), *self.config_file, "--port", str(port), "--bind", HOST, "--save", "",
                "--appendonly", "no", "--dir", str(self.workdir), *self.extra_args]

    def start(self) -> "ServerProcess":
        self.workdir.mkdir(parents=True, exist_ok=True)
        last_log = ""
        for _attempt in range(3):
            self.port = free_port()
            self.stopped_during = None
            with open(self.log_path, "ab") as log:
                log.write(f"### starting {self.kind} on port {self.port}\n".encode())
                log.flush()
                self.proc = subprocess.Popen(
                    self.command(self.port), stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, cwd=self.workdir,
                )
            if self not in _servers:
                _servers.append(self)
            outcome = self._wait_ready()
            if outcome == "ready":
                return self
            last_log = self.log_tail()
            self.stop()
            if "in use" not in last_log.lower():
                break  # not a port race: retrying will not help
        pytest.fail(f"{self.kind} did not become ready ({outcome}). Log {self.log_path}:\n{last_log}",
                    pytrace=False)

    def _wait_ready(self) -> str:
        deadline = time.monotonic() + READY_TIMEOUT
        delay = 0.01
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"exited with code {self.proc.returncode}"
            try:
                with RespConnection(HOST, self.port, timeout=1.0) as conn:
                    reply = conn.execute("PING")
                # With requirepass set, NOAUTH is an answer too: the server is up.
                if reply == Simple(b"PONG") or (isinstance(reply, Error) and reply.code == b"NOAUTH"):
                    return "ready"
                return f"unexpected PING reply {reply!r}"
            except OSError:
                pass
            except Exception as exc:  # a malformed reply: report it rather than loop
                return f"PING failed: {exc!r}"
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        return f"no PONG within {READY_TIMEOUT:.0f}s"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit in time. Returns the exit code."""
        if self.proc is None:
            return self.exit_code
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                with open(self.log_path, "ab") as log:
                    log.write(b"### did not exit on SIGTERM; killed\n")
        self.exit_code = self.proc.returncode
        self.stopped_during = _current_test["nodeid"]
        return self.exit_code

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            with open(self.log_path, "ab") as log:
                log.write(b"### killed with SIGKILL by the test\n")
        self.stop()

    def restart(self, *, kill: bool = False) -> "ServerProcess":
        """Stops the server (SIGTERM, or SIGKILL with ``kill``) and starts it again with the same
        arguments on the same directory (a new port). Returns once it answers PING, which may be
        before it has finished loading its data."""
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start()

    def log_tail(self, max_lines: int = 200) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-max_lines:])

    # Clients -------------------------------------------------------------

    def connect(self, timeout: float = 10.0) -> RespConnection:
        return RespConnection(HOST, self.port, timeout=timeout)

    def binary(self) -> str:
        return str(strata_bin()) if self.kind == "strata" else redis_bin()

    def redis_py(self, **kwargs):
        import redis

        kwargs.setdefault("socket_timeout", 10)
        return redis.Redis(host=HOST, port=self.port, **kwargs)


class ServerFactory:
    def __init__(self, tmp_path_factory):
        self._tmp = tmp_path_factory
        self.started: list[ServerProcess] = []

    def __call__(self, *extra_args, kind: str | None = None, config_file: Path | None = None) -> ServerProcess:
        """Start a server (strata, or redis under TARGET=redis) with extra directives,
        optionally reading ``config_file`` first (as ``server <file> --port ...``)."""
        kind = kind or target()
        workdir = self._tmp.mktemp(kind)
        server = ServerProcess(kind, extra_args, workdir, config_file)
        self.started.append(server)
        return server.start()

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


@pytest.fixture(scope="module")
def _module_servers(tmp_path_factory):
    factory = ServerFactory(tmp_path_factory)
    yield factory
    factory.stop_all()


@pytest.fixture(scope="module")
def strata(_module_servers) -> ServerProcess:
    """strata-server with default settings, shared by the tests of one module."""
    return _module_servers()


@pytest.fixture(scope="module")
def redis_ref(_module_servers) -> ServerProcess:
    """A reference redis-server, shared by the tests of one module."""
    return _module_servers(kind="redis")


@pytest.fixture
def target_binary() -> str:
    """Path of the binary under test (strata-server, or redis-server under TARGET=redis)."""
    if target() == "redis":
        return redis_bin()
    binary = strata_bin()
    if not binary.exists():
        pytest.fail(f"strata binary not found at {binary}. Build it with `make release` "
                    f"or point STRATA_BIN at it.", pytrace=False)
    return str(binary)


@pytest.fixture
def server_factory(tmp_path_factory):
    """Start a server with extra directives: ``server_factory("--requirepass", "x")``.
    Servers are stopped when the test ends."""
    factory = ServerFactory(tmp_path_factory)
    yield factory
    factory.stop_all()


# --------------------------------------------------------------------------
# Attach server logs to failing tests
# --------------------------------------------------------------------------


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: takes tens of seconds (1M-key loads); part of a plain run, "
                   "deselect with -m 'not slow'")


def pytest_runtest_setup(item):
    _current_test["nodeid"] = item.nodeid


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for server in _servers:
        # Servers still running, or that stopped (or crashed) during this test.
        if server.proc is None or server.stopped_during not in (None, item.nodeid):
            continue
        state = "running" if server.alive() else f"exit code {server.proc.returncode}"
        report.sections.append(
            (f"{server.name} log ({state}; {server.log_path})", server.log_tail())
        )


def pytest_sessionstart(session):
    if target() == "strata" and not strata_bin().exists():
        pytest.exit(
            f"strata binary not found at {strata_bin()}. Build it with `make release`, point "
            f"STRATA_BIN at it, or run with TARGET=redis to check the tests against redis-server.",
            returncode=1,
        )


def pytest_report_header(config):
    return [f"integration target: {target()}  strata binary: {strata_bin()}"]
