"""Starting and always stopping the processes under test.

Every process is started in its own session (process group), registered, and
killed by group at exit: by the caller's try/finally in the normal case, by
atexit and the SIGTERM/SIGHUP handlers otherwise. Ports are picked at run time
on 127.0.0.1 only.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .resp import Client, RespError, parse_info

HOST = "127.0.0.1"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0

_live: dict[int, subprocess.Popen] = {}


class StartupError(Exception):
    """A process did not become ready. `refused` is true when it exited by itself
    (e.g. it rejected an option), false when it hung."""

    def __init__(self, message: str, refused: bool) -> None:
        super().__init__(message)
        self.refused = refused


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def require_binary(path_or_name: str, what: str, hint: str = "") -> str:
    """Return an absolute path to an executable or exit with a clear message."""
    found = shutil.which(path_or_name) if os.sep not in path_or_name else path_or_name
    if not found or not os.path.isfile(found) or not os.access(found, os.X_OK):
        msg = f"error: {what} not found or not executable: {path_or_name}"
        if hint:
            msg += f"\n       {hint}"
        raise SystemExit(msg)
    return os.path.abspath(found)


def _kill_group(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    # The leader may be gone while children of a wrapper script live on.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    _live.pop(proc.pid, None)


def kill_all() -> None:
    for proc in list(_live.values()):
        _kill_group(proc, timeout=5)


def _on_signal(signum, _frame) -> None:
    kill_all()
    sys.exit(128 + signum)


atexit.register(kill_all)
for _sig in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


def spawn(argv: list[str], log_path: Path, cwd: Path | None = None) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(("$ " + " ".join(argv) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
    _live[proc.pid] = proc
    return proc


def log_tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


class Server:
    """A running Redis-protocol server (Strata, redis-server or a proxy)."""

    def __init__(self, label: str, argv: list[str], port: int, data_dir: Path, log: Path):
        self.label = label
        self.argv = argv
        self.port = port
        self.dir = data_dir
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self, ready_timeout: float = READY_TIMEOUT_S) -> "Server":
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = spawn(self.argv, self.log, cwd=self.dir)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                _live.pop(self.proc.pid, None)
                raise StartupError(
                    f"{self.label} exited with status {code} before answering PING "
                    f"(log {self.log}):\n{log_tail(self.log)}",
                    refused=True,
                )
            if self.ping():
                return self
            time.sleep(0.05)
        self.stop()
        raise StartupError(
            f"{self.label} did not answer PING within {ready_timeout:.0f}s "
            f"(log {self.log}):\n{log_tail(self.log)}",
            refused=False,
        )

    def ping(self) -> bool:
        try:
            with Client(HOST, self.port, timeout=1.0) as c:
                return c.call("PING") == "PONG"
        except (OSError, ValueError):
            return False
        except Exception:
            return False

    def client(self, timeout: float = 60.0) -> Client:
        return Client(HOST, self.port, timeout=timeout)

    def call(self, *args, timeout: float = 60.0):
        with self.client(timeout) as c:
            return c.call(*args)

    def info(self, section: str | None = None) -> dict[str, str]:
        reply = self.call("INFO", section) if section else self.call("INFO")
        if isinstance(reply, (RespError, type(None))) or not isinstance(reply, bytes):
            return {}
        return parse_info(reply)

    def config_get(self, name: str):
        """CONFIG GET name -> value string, "" for an empty reply (unsupported),
        or None when CONFIG itself failed (unknown)."""
        reply = self.call("CONFIG", "GET", name)
        if isinstance(reply, RespError) or reply is None:
            return None
        if isinstance(reply, list):
            if not reply:
                return ""
            if len(reply) >= 2 and isinstance(reply[1], bytes):
                return reply[1].decode(errors="replace")
            return ""
        return None

    def pid(self) -> int:
        """The PID whose memory is measured: INFO's process_id when it names a
        live process (a wrapper script may exec or fork), else the spawned PID."""
        pid_text = self.info("server").get("process_id", "")
        if pid_text.isdigit() and Path(f"/proc/{pid_text}").exists():
            return int(pid_text)
        assert self.proc is not None
        return self.proc.pid

    def rss_bytes(self) -> int | None:
        try:
            for line in Path(f"/proc/{self.pid()}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def exe(self) -> str:
        try:
            return os.path.realpath(f"/proc/{self.pid()}/exe")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)
            self.proc = None

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
