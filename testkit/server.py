"""Start the real `mnist-serve` process on a free 127.0.0.1 port, for end-to-end tests and benchmarks.

    with running_server("--weights-dir", "weights", "--model", "mnist-cnn") as server:
        httpx.get(f"{server.base_url}/v1/model")
        code = server.stop()          # optional: SIGTERM now, wait, return the exit code

The process's stdout and stderr go to `server.log_path`. Start-up waits for `/health/ready` to
answer 200; if the process exits first or `timeout` passes, ServerStartError carries the log.
On leaving the block the server gets SIGTERM, then SIGKILL (its whole process group, so uvicorn
workers too) if it has not exited 10 s later.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from testkit.shipped import shipped_weights

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0


class ServerStartError(RuntimeError):
    """The server exited or did not become ready in time; the message holds its log."""


def free_port(host: str = HOST) -> int:
    """A port that was free a moment ago (bind to port 0 and let the OS choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def serve_command(*args: str, port: int, host: str = HOST) -> list[str]:
    """The command line that runs `mnist-serve` with this interpreter."""
    return [sys.executable, "-m", "service.cli", "--host", host, "--port", str(port), *args]


@dataclass
class ServerProcess:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int
    grpc_port: int | None = None  # the gRPC service's, when the caller gave it one

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM and wait up to `timeout` s, else SIGKILL its process group; the exit code.

        After a kill the code is negative (-9), so a test asserting 0 sees the hang.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                # The leader is not reaped yet, so its pid (the group id) cannot have been reused.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT)
        return int(self.process.returncode)


def _environment(env: Mapping[str, str | None] | None) -> dict[str, str]:
    merged = dict(os.environ)
    merged["PYTHONUNBUFFERED"] = "1"
    for key, value in (env or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _wait_ready(server: ServerProcess, timeout: float, ready_path: str = "/health/ready") -> None:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    with httpx.Client(base_url=server.base_url, timeout=2.0, trust_env=False) as client:
        while True:
            code = server.process.poll()
            if code is not None:
                raise ServerStartError(f"mnist-serve exited with code {code} before it was ready; "
                                       f"log {server.log_path}:\n{server.log_text()}")
            try:
                response = client.get(ready_path)
                if response.status_code == 200:
                    return
                last = f"{ready_path} answered {response.status_code}"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise ServerStartError(f"mnist-serve not ready after {timeout:g} s ({last}); "
                                       f"log {server.log_path}:\n{server.log_text()}")
            time.sleep(0.1)


@contextmanager
def running_server(*args: str, env: Mapping[str, str | None] | None = None,
                   cwd: str | os.PathLike[str] | None = None, timeout: float = 30,
                   log_dir: str | os.PathLike[str] | None = None) -> Iterator[ServerProcess]:
    """Run `mnist-serve --host 127.0.0.1 --port <free> *args` until the block ends.

    `env` adds to (or, with a value of None, removes from) this process's environment. `cwd`
    defaults to the repository root. The log file is kept when `log_dir` is given (e.g. pytest's
    tmp_path), otherwise it is a temporary file removed afterwards. Unless `env` names one, the
    server records its served versions (MNIST_STATE_PATH) in a fresh temporary file: a test
    server never writes next to the shipped weights, nor follows another server's record. Its gRPC
    service is off unless `env` or `--grpc-port` gives a port (`free_port()`). Unless
    `--weights-dir` or MNIST_WEIGHTS_DIR says otherwise, it serves the shipped versions only
    (testkit/shipped.py), whatever local training runs added to weights/.
    """
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="mnist-serve-state-") as state_dir:
        # gRPC off unless asked for: test servers must not share the default port 8001 (one worker
        # binds it exclusively; several would share it with SO_REUSEPORT)
        defaults = {"MNIST_STATE_PATH": str(Path(state_dir) / "serving.json"), "MNIST_GRPC_PORT": "0"}
        if "MNIST_WEIGHTS_DIR" not in os.environ:  # --weights-dir, or env, still choose another
            defaults["MNIST_WEIGHTS_DIR"] = str(shipped_weights())
        env = {**defaults, **(env or {})}
        with running_command(serve_command(*args, port=port), port=port, env=_environment(env),
                             cwd=cwd if cwd is not None else REPO_ROOT, timeout=timeout,
                             log_dir=log_dir) as server:
            yield server


@contextmanager
def running_command(command: list[str], port: int, env: Mapping[str, str], cwd: str | os.PathLike[str],
                    timeout: float = 30, log_dir: str | os.PathLike[str] | None = None,
                    ready_path: str = "/health/ready") -> Iterator[ServerProcess]:
    """Run a server `command` that listens on 127.0.0.1:`port`, with exactly `env`, until the block ends.

    Like `running_server` (ready wait, log file, SIGTERM then SIGKILL), for a command line of your own;
    ready once `ready_path` answers 200 (e.g. "/v2/health/ready" for an Open Inference Protocol server).
    """
    tmp = None
    if log_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="mnist-serve-")
        log_dir = tmp.name
    log_path = Path(log_dir) / f"mnist-serve-{port}.log"
    try:
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, env=dict(env), cwd=str(cwd),
                                       start_new_session=True)
        server = ServerProcess(base_url=f"http://{HOST}:{port}", process=process, log_path=log_path,
                               port=port)
        try:
            _wait_ready(server, timeout, ready_path)
            yield server
        finally:
            server.stop()
    finally:
        if tmp is not None:
            tmp.cleanup()
