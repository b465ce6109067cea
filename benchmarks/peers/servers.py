"""The servers the peers benchmark measures and their memory: a `ServerSpec` per server (label,
worker count, endpoints, how to start it), context managers that start MLServer (in
benchmarks/peers/.venv), the reference app and mnist-serve on free 127.0.0.1 ports with the
benchmark's environment (`server_env`: no OpenBLAS kernel overrides, a fixed BLAS thread count), the
latest artifact of a model, `kill_leftovers` for workers that outlive their server, and the resident
memory of a server's process tree read from Linux /proc (`process_tree`, `tree_memory_mb`)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peersenv import PEERS_DIR, PEERS_PYTHON, REPO_ROOT, clean_blas_env

from testkit.server import HOST, ServerProcess, free_port, running_command, serve_command

# --- servers ----------------------------------------------------------------------------------

@dataclass
class ServerSpec:
    label: str
    workers: int
    endpoints: tuple[str, ...]
    start: Callable[[Path], contextlib.AbstractContextManager[ServerProcess]]
    versions: str = ""
    optional: tuple[str, ...] = ()  # endpoints tried; a non-200 answer marks them "not supported"



def latest_artifact(model: str) -> Path:
    folder = REPO_ROOT / "weights" / model
    versions = sorted((int(p.stem), p) for p in folder.glob("*.npz") if p.stem.isdigit())
    if not versions:
        raise SystemExit(f"no artifact in {folder}")
    return versions[-1][1]


def server_env(blas_threads: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = clean_blas_env()
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(PEERS_DIR)])
    for key in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[key] = str(blas_threads)
    env.update(extra or {})
    return env


@contextlib.contextmanager
def mlserver(model: str, artifact: Path, blas_threads: int, log_dir: Path,
             parallel_workers: int | None) -> Iterator[ServerProcess]:
    """`mlserver start <folder>` on free ports; `parallel_workers` None keeps MLServer's default."""
    with tempfile.TemporaryDirectory(prefix="peers-mlserver-") as tmp:
        root = Path(tmp)
        port = free_port()
        grpc_port = free_port()
        settings: dict[str, Any] = {"host": HOST, "http_port": port, "grpc_port": grpc_port,
                                    "metrics_port": free_port()}
        if parallel_workers is not None:
            settings["parallel_workers"] = parallel_workers
        (root / "settings.json").write_text(json.dumps(settings, indent=2))
        (root / model).mkdir()
        (root / model / "model-settings.json").write_text(json.dumps({
            "name": model, "implementation": "mlserver_runtime.MnistRuntime",
            "parameters": {"uri": str(artifact), "version": artifact.stem}}, indent=2))
        command = [str(PEERS_PYTHON.parent / "mlserver"), "start", str(root)]
        with running_command(command, port=port, env=server_env(blas_threads), cwd=root, timeout=120,
                             log_dir=log_dir, ready_path=f"/v2/models/{model}/ready") as server:
            server.grpc_port = grpc_port
            yield server


@contextlib.contextmanager
def reference_app(artifact: Path, blas_threads: int, log_dir: Path) -> Iterator[ServerProcess]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(PEERS_DIR), "reference_app:app",
               "--host", HOST, "--port", str(port), "--workers", "1", "--http", "auto", "--loop", "auto",
               "--no-access-log", "--log-level", "warning"]
    env = server_env(blas_threads, {"PEERS_ARTIFACT": str(artifact)})
    with running_command(command, port=port, env=env, cwd=REPO_ROOT, timeout=60, log_dir=log_dir) as server:
        yield server


@contextlib.contextmanager
def mnist_serve(model: str, workers: int, blas_threads: int, log_dir: Path) -> Iterator[ServerProcess]:
    port, grpc_port = free_port(), free_port()
    env = clean_blas_env()
    env.update({"PYTHONUNBUFFERED": "1", "MNIST_WORKERS": str(workers),
                "MNIST_BLAS_THREADS": str(blas_threads), "MNIST_GRPC_PORT": str(grpc_port)})
    with running_command(serve_command("--model", model, port=port), port=port, env=env, cwd=REPO_ROOT,
                         timeout=60, log_dir=log_dir) as server:
        server.grpc_port = grpc_port
        yield server


def kill_leftovers(server: ServerProcess) -> None:
    """SIGKILL what is left of the server's own process group (a worker that outlived its parent)."""
    pgid = server.process.pid
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), 9)




# --- memory -----------------------------------------------------------------------------------

def _status_kb(pid: int, key: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(rf"^{key}:\s*(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_memory_mb(pid: int) -> tuple[float, float, int]:
    """(sum of VmRSS, sum of VmHWM) over the process tree in MB, and its process count."""
    pids = process_tree(pid)
    rss = sum(_status_kb(p, "VmRSS") for p in pids)
    hwm = sum(_status_kb(p, "VmHWM") for p in pids)
    return rss / 1024, hwm / 1024, len(pids)
