"""mnist-serve against its peers: MLServer 1.7.1, a minimal FastAPI app, and the bare NumPy forward pass.

One server after another, each on a free 127.0.0.1 port, serves the same artifact with the same
forward pass (`neuralnet.inference.InferenceModel`), so only the serving machinery differs:

- MLServer 1.7.1 with a custom runtime (mlserver_runtime.py) in its own environment,
  benchmarks/peers/.venv (made by `--setup`, or on first use): once with its defaults, once with
  `parallel_workers=0` (inference in the server process);
- reference_app.py, the least a FastAPI app needs, under uvicorn in the service's environment;
- mnist-serve itself (`python -m service.cli`), with each `--workers` count.

Each answers one request of every kind first, checked against the in-process model (max abs
difference of probabilities <= 1e-4, else the run stops); then `wrk` drives each load. Prints
Markdown: the results, the ratios against the targets (met / missed), memory. See
benchmarks/README.md, section "Peers".

    .venv/bin/python benchmarks/peers/run.py --duration 12
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

PEERS_DIR = Path(__file__).resolve().parent
REPO_ROOT = PEERS_DIR.parent.parent
for _path in (str(REPO_ROOT), str(PEERS_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from peersenv import PEERS_PYTHON, clean_blas_env, ensure_peers_venv, reexec_without_blas_overrides  # noqa: E402

from neuralnet.artifact import load_artifact  # noqa: E402
from neuralnet.inference import InferenceModel  # noqa: E402
from testkit.server import HOST, ServerProcess, free_port, running_command, serve_command  # noqa: E402

EXAMPLE = REPO_ROOT / "service" / "static" / "example_digit.json"
SERVERS = ("mlserver", "reference", "mnist-serve")
BATCH = 256
TOLERANCE = 1e-4
INPUT = "images"
LOADS = {"single": 1, f"batch-{BATCH}": BATCH}
MLSERVER_DEFAULT = "MLServer (defaults)"
MLSERVER_PW0 = "MLServer (parallel_workers=0)"
REFERENCE = "reference app"
MNIST_SERVE = "mnist-serve"
WRK_LUA = """
wrk.method = "POST"
{headers}
local f = assert(io.open([==[{body_path}]==], "rb"))
wrk.body = f:read("*a")
f:close()
"""


# --- wrk output -------------------------------------------------------------------------------

@dataclass(frozen=True)
class WrkResult:
    requests: int  # completed, any status
    seconds: float
    rps: float  # wrk's Requests/sec (any status)
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors

    @property
    def ok_rps(self) -> float:
        """Successful (2xx) requests per second."""
        return (self.requests - self.non2xx) / self.seconds if self.seconds > 0 else 0.0


_TIME_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _ms(value: str, unit: str) -> float:
    return float(value) * _TIME_UNITS_MS[unit]


def parse_wrk(text: str) -> WrkResult:
    """req/s, p50 and p99 (from `--latency`'s distribution), non-2xx and socket errors of wrk's output."""
    total = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", text, re.MULTILINE)
    rps = re.search(r"^Requests/sec:\s*([\d.]+)", text, re.MULTILINE)
    pcts = {int(p): _ms(v, u) for p, v, u in
            re.findall(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.MULTILINE)}
    if total is None or rps is None or set(pcts) != {50, 99}:
        raise ValueError(f"not wrk --latency output:\n{text}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return WrkResult(requests=int(total.group(1)), seconds=float(total.group(2)) * _SECONDS[total.group(3)],
                     rps=float(rps.group(1)), p50_ms=pcts[50], p99_ms=pcts[99],
                     non2xx=int(non2xx.group(1)) if non2xx else 0,
                     socket_errors=sum(int(g) for g in sock.groups()) if sock else 0)


def run_wrk(url: str, body: bytes, headers: dict[str, str], duration: float, connections: int,
            threads: int) -> WrkResult:
    with tempfile.TemporaryDirectory(prefix="peers-wrk-") as tmp:
        body_path = Path(tmp) / "body.bin"
        body_path.write_bytes(body)
        script = Path(tmp) / "post.lua"
        lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
        script.write_text(WRK_LUA.format(headers=lines, body_path=body_path))
        cmd = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{duration:g}s", "--latency",
               "--timeout", "10s", "-s", str(script), url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    return parse_wrk(out.stdout)


# --- requests ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Kind:
    """One kind of request: endpoint label, path, body, headers, images, and how to read its answer."""

    load: str
    endpoint: str
    path: str
    body: bytes
    headers: dict[str, str]
    images: int
    probabilities: Callable[[httpx.Response], np.ndarray]


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _v1_probabilities(response: httpx.Response) -> np.ndarray:
    obj = response.json()
    rows = ([p["probabilities"] for p in obj["predictions"]] if "predictions" in obj
            else [obj["probabilities"]])
    return np.asarray(rows, dtype=np.float64)


def _v2_json_probabilities(response: httpx.Response) -> np.ndarray:
    out = next(o for o in response.json()["outputs"] if o["name"] == "probabilities")
    return np.asarray(out["data"], dtype=np.float64).reshape(-1, 10)


def _v2_binary_probabilities(response: httpx.Response) -> np.ndarray:
    length = response.headers.get("inference-header-content-length")
    if length is None:
        return _v2_json_probabilities(response)
    content = response.content
    header = json.loads(content[: int(length)])
    offset = int(length)
    for out in header["outputs"]:
        size = (out.get("parameters") or {}).get("binary_data_size")
        if size is None:
            if out["name"] == "probabilities":
                return np.asarray(out["data"], dtype=np.float64).reshape(-1, 10)
            continue
        if out["name"] == "probabilities":
            return np.frombuffer(content[offset : offset + size], "<f4").astype(np.float64).reshape(-1, 10)
        offset += size
    raise ValueError("no 'probabilities' output in the answer")


def request_kinds(images: np.ndarray, model: str) -> dict[tuple[str, str], Kind]:
    """Every (load, endpoint) kind for uint8 `images` (BATCH, 28, 28)."""
    kinds: dict[tuple[str, str], Kind] = {}
    json_headers = {"Content-Type": "application/json"}
    infer = f"/v2/models/{model}/infer"
    for load, n in LOADS.items():
        part = images[:n]
        v1_body = ({"pixels": part[0].tolist()} if n == 1 else {"images": part.tolist()})
        v1_path = "/v1/predict" if n == 1 else "/v1/predict/batch"
        kinds[load, "/v1 JSON"] = Kind(load, "/v1 JSON", v1_path, _dumps(v1_body), json_headers, n,
                                       _v1_probabilities)
        v2 = {"inputs": [{"name": INPUT, "shape": [n, 784], "datatype": "UINT8",
                          "data": part.reshape(-1).tolist()}]}
        kinds[load, "v2 JSON"] = Kind(load, "v2 JSON", infer, _dumps(v2), json_headers, n,
                                      _v2_json_probabilities)
        header = _dumps({"inputs": [{"name": INPUT, "shape": [n, 784], "datatype": "UINT8",
                                     "parameters": {"binary_data_size": n * 784}}],
                         "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]})
        kinds[load, "v2 binary"] = Kind(
            load, "v2 binary", infer, header + np.ascontiguousarray(part, dtype=np.uint8).tobytes(),
            {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))},
            n, _v2_binary_probabilities)
    return kinds


class AnswerError(RuntimeError):
    """A server answered a check request with a status other than 200."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_answer(base_url: str, kind: Kind, expected: np.ndarray) -> float:
    """POST `kind` once; the max abs difference of its probabilities from `expected` (raises on non-200)."""
    with httpx.Client(base_url=base_url, timeout=60.0, trust_env=False) as client:
        response = client.post(kind.path, content=kind.body, headers=kind.headers)
    if response.status_code != 200:
        raise AnswerError(response.status_code,
                          f"{kind.endpoint} {kind.load}: HTTP {response.status_code}: {response.text[:300]}")
    got = kind.probabilities(response)
    if got.shape != expected.shape:
        raise RuntimeError(f"{kind.endpoint} {kind.load}: probabilities of shape {got.shape}, "
                           f"expected {expected.shape}")
    return float(np.max(np.abs(got - expected)))


def drain(base_url: str, kind: Kind) -> None:
    """Wait out requests wrk left in flight: one more of the same kind finishes about when they do."""
    with contextlib.suppress(httpx.HTTPError), \
            httpx.Client(base_url=base_url, timeout=120.0, trust_env=False) as client:
        client.post(kind.path, content=kind.body, headers=kind.headers)


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


# --- servers ----------------------------------------------------------------------------------

@dataclass
class ServerSpec:
    label: str
    workers: int
    endpoints: tuple[str, ...]
    start: Callable[[Path], contextlib.AbstractContextManager[ServerProcess]]
    versions: str = ""
    optional: tuple[str, ...] = ()  # endpoints tried; a non-200 answer marks them "not supported"


@dataclass
class Row:
    server: str
    workers: int
    load: str
    endpoint: str
    images: int
    result: WrkResult | None = None
    note: str = ""

    @property
    def img_s(self) -> float:
        return self.result.ok_rps * self.images if self.result else 0.0


@dataclass
class Memory:
    server: str
    workers: int
    processes: int
    idle_mb: float
    after_mb: float
    peak_mb: float


@dataclass
class Run:
    rows: list[Row] = field(default_factory=list)
    memory: list[Memory] = field(default_factory=list)
    checks: list[tuple[str, int, str, str, str]] = field(default_factory=list)
    forward_img_s: float = 0.0


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
        settings: dict[str, Any] = {"host": HOST, "http_port": port, "grpc_port": free_port(),
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
    port = free_port()
    env = clean_blas_env()
    env.update({"PYTHONUNBUFFERED": "1", "MNIST_WORKERS": str(workers),
                "MNIST_BLAS_THREADS": str(blas_threads)})
    with running_command(serve_command("--model", model, port=port), port=port, env=env, cwd=REPO_ROOT,
                         timeout=60, log_dir=log_dir) as server:
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


# --- forward pass -----------------------------------------------------------------------------

def forward_img_s(model: InferenceModel, pixels: np.ndarray, seconds: float = 1.5) -> float:
    """Images/s of `predict_proba` on `pixels` in this process, 1 BLAS thread (median call time)."""
    with threadpool_limits(limits=1):
        for _ in range(3):
            model.predict_proba(pixels)
        times: list[float] = []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline or len(times) < 5:
            t0 = time.perf_counter()
            model.predict_proba(pixels)
            times.append(time.perf_counter() - t0)
    return len(pixels) / float(np.median(times))


# --- targets ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    name: str
    value: float | None  # None: not measured
    target: float
    at_most: bool = False  # the value must be <= target (else >=)

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "not measured"
        ok = self.value <= self.target if self.at_most else self.value >= self.target
        return "met" if ok else "missed"


def _find(rows: list[Row], server: str, load: str, endpoint: str, workers: int | None = None) -> Row | None:
    for row in rows:
        if (row.server == server and row.load == load and row.endpoint == endpoint and row.result
                and (workers is None or row.workers == workers) and row.result.ok_rps > 0):
            return row
    return None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def targets(rows: list[Row], forward: float | None, connections: int) -> list[Target]:
    """Each mnist-serve worker count against MLServer (defaults), the reference app and the forward pass."""
    batch = f"batch-{BATCH}"
    ml_single = _find(rows, MLSERVER_DEFAULT, "single", "v2 JSON")
    ml_batch = _find(rows, MLSERVER_DEFAULT, batch, "v2 JSON")
    ref_single = _find(rows, REFERENCE, "single", "/v1 JSON")
    out: list[Target] = []
    workers = sorted({r.workers for r in rows if r.server == MNIST_SERVE}) or [1]
    for w in workers:
        def ours(load: str, endpoint: str, w: int = w) -> Row | None:
            return _find(rows, MNIST_SERVE, load, endpoint, w)

        def rps(row: Row | None) -> float | None:
            return row.result.ok_rps if row and row.result else None

        def img(row: Row | None) -> float | None:
            return row.img_s if row and row.result else None

        tag = f"mnist-serve x{w}"
        out += [
            Target(f"{tag}: /v1/predict single req/s ÷ MLServer defaults (v2 JSON single)",
                   _ratio(rps(ours("single", "/v1 JSON")), rps(ml_single)), 2.0),
            Target(f"{tag}: /v1/predict single req/s ÷ reference app",
                   _ratio(rps(ours("single", "/v1 JSON")), rps(ref_single)), 0.8),
            Target(f"{tag}: v2 JSON single req/s ÷ MLServer defaults",
                   _ratio(rps(ours("single", "v2 JSON")), rps(ml_single)), 2.0),
            Target(f"{tag}: /v1/predict/batch {BATCH} img/s ÷ MLServer defaults (v2 JSON {BATCH})",
                   _ratio(img(ours(batch, "/v1 JSON")), img(ml_batch)), 2.0),
            Target(f"{tag}: v2 JSON {BATCH} img/s ÷ MLServer defaults",
                   _ratio(img(ours(batch, "v2 JSON")), img(ml_batch)), 2.0),
            Target(f"{tag}: v2 binary {BATCH} img/s ÷ NumPy forward at {BATCH} (in process, 1 BLAS thread)",
                   _ratio(img(ours(batch, "v2 binary")), forward), 0.70),
        ]
        for endpoint in ("/v1 JSON", "v2 JSON", "v2 binary"):
            row = ours("single", endpoint)
            res = row.result if row else None
            p99_p50 = res.p99_ms / res.p50_ms if res and res.p50_ms else None
            out.append(Target(f"{tag}: {endpoint} single p99 ÷ p50 at {connections} connections",
                              p99_p50, 3.0, at_most=True))
    return out


# --- report -----------------------------------------------------------------------------------

def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def results_table(rows: list[Row]) -> str:
    lines = ["| server | workers | load | endpoint | req/s | img/s | p50 ms | p99 ms | errors |",
             "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if r.result is None:
            lines.append(f"| {r.server} | {r.workers} | {r.load} | {r.endpoint} | - | - | - | - | {r.note} |")
            continue
        res = r.result
        lines.append(f"| {r.server} | {r.workers} | {r.load} | {r.endpoint} | {_f(res.ok_rps)} "
                     f"| {_f(r.img_s, 0)} | {_f(res.p50_ms, 2)} | {_f(res.p99_ms, 2)} | {res.errors} |")
    return "\n".join(lines)


def targets_table(items: list[Target]) -> str:
    lines = ["| ratio | value | target | verdict |", "| --- | ---: | ---: | --- |"]
    for t in items:
        bound = f"<= {t.target:g}" if t.at_most else f">= {t.target:g}"
        lines.append(f"| {t.name} | {_f(t.value, 3)} | {bound} | {t.verdict} |")
    return "\n".join(lines)


def memory_table(items: list[Memory]) -> str:
    lines = ["| server | workers | processes | idle RSS MB | RSS after loads MB | peak MB (sum of VmHWM) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {m.server} | {m.workers} | {m.processes} | {m.idle_mb:.0f} | {m.after_mb:.0f} "
              f"| {m.peak_mb:.0f} |" for m in items]
    return "\n".join(lines)


def blas_kernel() -> str:
    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
                     for i in libs) or "?"


_VERSIONS_PY = """
import importlib.metadata as m, json, sys
names = sys.argv[1:]
out = {}
for n in names:
    try: out[n] = m.version(n)
    except m.PackageNotFoundError: out[n] = None
try:
    from threadpoolctl import threadpool_info
    out["blas"] = ", ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
                             for i in threadpool_info() if i.get("user_api") == "blas")
except Exception as exc: out["blas"] = repr(exc)
print(json.dumps(out))
"""


def env_versions(python: str, names: list[str]) -> dict[str, str | None]:
    """Package versions (and the BLAS kernel, after importing numpy) in another interpreter."""
    code = "import numpy\n" + _VERSIONS_PY
    out = subprocess.run([python, "-c", code, *names], capture_output=True, text=True, env=clean_blas_env(),
                         timeout=120, check=True)
    result: dict[str, str | None] = json.loads(out.stdout)
    return result


def _versions_text(versions: dict[str, str | None]) -> str:
    return ", ".join(f"{k} {v}" for k, v in versions.items() if k != "blas" and v)


# --- main -------------------------------------------------------------------------------------

def digits(n: int) -> tuple[np.ndarray, str]:
    """`n` real uint8 digits (n, 28, 28) and where they came from."""
    data_dir = os.environ.get("MNIST_DATA_DIR")
    if data_dir:
        from training.data import load_mnist

        return load_mnist(data_dir).test_images[:n].astype(np.uint8), f"MNIST test set ({data_dir})"
    image = np.array(json.loads(EXAMPLE.read_text())["pixels"], dtype=np.uint8)
    return np.repeat(image[None], n, axis=0), f"{EXAMPLE.name}, repeated"


def progress(message: str) -> None:
    print(f"[peers {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--setup", action="store_true",
                   help="(re)install benchmarks/peers/.venv from requirements.txt and exit")
    p.add_argument("--duration", type=float, default=12, help="seconds of wrk load per row")
    p.add_argument("--warmup", type=float, default=1, help="seconds of unmeasured load before each row")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--workers", default="1,2", help="mnist-serve worker counts (the others run 1)")
    p.add_argument("--only", default=",".join(SERVERS), help=f"comma-separated subset of {','.join(SERVERS)}")
    p.add_argument("--model", default="mnist-mlp", help="weights/<model>/ (latest version)")
    p.add_argument("--blas-threads", type=int, default=1,
                   help="BLAS threads per server process (mnist-serve: MNIST_BLAS_THREADS; "
                        "the others: OPENBLAS_NUM_THREADS)")
    p.add_argument("--log-dir", type=Path, help="keep the servers' logs here (default: a temporary folder)")
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SERVERS)
    if unknown:
        p.error(f"--only: unknown {sorted(unknown)}; choose from {', '.join(SERVERS)}")
    args.workers = [int(w) for w in str(args.workers).split(",") if w.strip()]
    return args


def bench_server(args: argparse.Namespace, spec: ServerSpec, kinds: dict[tuple[str, str], Kind],
                 expected: dict[str, np.ndarray], log_dir: Path, run: Run) -> None:
    progress(f"starting {spec.label} ({spec.workers} worker(s))")
    with spec.start(log_dir) as server:
        try:
            measured: list[Kind] = []
            unsupported: list[Row] = []
            for (load, endpoint), kind in kinds.items():
                if endpoint not in spec.endpoints:
                    continue
                try:
                    diff = check_answer(server.base_url, kind, expected[load])
                except AnswerError as exc:
                    if endpoint not in spec.optional:
                        raise
                    # tried, not required: MLServer has no binary tensor extension (the body must be JSON)
                    note = f"not supported (HTTP {exc.status})"
                    run.checks.append((spec.label, spec.workers, load, endpoint, note))
                    unsupported.append(Row(spec.label, spec.workers, load, endpoint, kind.images, note=note))
                    continue
                run.checks.append((spec.label, spec.workers, load, endpoint, f"{diff:.2e}"))
                if diff > TOLERANCE:
                    raise SystemExit(f"{spec.label} {endpoint} {load}: probabilities differ from the "
                                     f"in-process model by {diff:.3g} > {TOLERANCE:g}")
                measured.append(kind)
            rss, _, _ = tree_memory_mb(server.process.pid)
            for kind in measured:
                url = server.base_url + kind.path
                if args.warmup > 0:
                    run_wrk(url, kind.body, kind.headers, args.warmup, args.connections, args.threads)
                    drain(server.base_url, kind)
                progress(f"{spec.label} x{spec.workers}: {kind.load} {kind.endpoint} for {args.duration:g} s")
                result = run_wrk(url, kind.body, kind.headers, args.duration, args.connections, args.threads)
                drain(server.base_url, kind)
                run.rows.append(Row(spec.label, spec.workers, kind.load, kind.endpoint, kind.images, result))
            run.rows.extend(unsupported)
            after, peak, count = tree_memory_mb(server.process.pid)
            run.memory.append(Memory(spec.label, spec.workers, count, rss, after, peak))
        finally:
            server.stop()
            kill_leftovers(server)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    reexec_without_blas_overrides(str(Path(__file__).resolve()), argv)
    # SIGTERM unwinds like Ctrl-C, so every server started so far is stopped on the way out
    signal.signal(signal.SIGTERM, _exit_on_signal)
    args = parse_args(argv)
    if args.setup:
        ensure_peers_venv(force=True)
        return 0
    if "mlserver" in args.only:
        ensure_peers_venv()
    artifact = latest_artifact(args.model)
    model = InferenceModel.from_artifact(load_artifact(artifact))
    images, source = digits(BATCH)
    flat = images.reshape(BATCH, 784).astype(np.float32)
    expected = {load: model.predict_proba(flat[:n]).astype(np.float64) for load, n in LOADS.items()}
    kinds = request_kinds(images, args.model)

    service_versions = env_versions(sys.executable, ["numpy", "fastapi", "starlette", "uvicorn", "pydantic",
                                                     "orjson", "httptools", "uvloop"])
    specs: list[ServerSpec] = []
    if "mlserver" in args.only:
        ml_versions = env_versions(str(PEERS_PYTHON), ["mlserver", "numpy", "fastapi", "starlette", "uvicorn",
                                                       "pydantic", "orjson", "uvloop", "httptools"])
        ml_text = f"{_versions_text(ml_versions)}; BLAS {ml_versions.get('blas')}"
        for label, pw in ((MLSERVER_DEFAULT, None), (MLSERVER_PW0, 0)):
            specs.append(ServerSpec(label, 1, ("v2 JSON", "v2 binary"),
                                    partial(mlserver, args.model, artifact, args.blas_threads,
                                            parallel_workers=pw),
                                    ml_text, optional=("v2 binary",)))
    service_text = f"{_versions_text(service_versions)}; BLAS {service_versions.get('blas')}"
    if "reference" in args.only:
        specs.append(ServerSpec(REFERENCE, 1, ("/v1 JSON",),
                                partial(reference_app, artifact, args.blas_threads), service_text))
    if "mnist-serve" in args.only:
        for w in args.workers:
            specs.append(ServerSpec(MNIST_SERVE, w, ("/v1 JSON", "v2 JSON", "v2 binary"),
                                    partial(mnist_serve, args.model, w, args.blas_threads),
                                    service_text))

    run = Run()
    progress(f"timing the NumPy forward pass at batch {BATCH} in process")
    run.forward_img_s = forward_img_s(model, flat)
    with contextlib.ExitStack() as stack:
        log_dir = args.log_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="peers-logs-")))
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        for spec in specs:
            bench_server(args, spec, kinds, expected, Path(log_dir), run)

    script = Path(__file__).resolve()
    shown = script.relative_to(REPO_ROOT) if script.is_relative_to(REPO_ROOT) else script
    command = shlex.join([sys.executable, str(shown), *argv])
    print(f"# mnist-serve and its peers: {args.model} ({artifact.relative_to(REPO_ROOT)})\n")
    print(f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"- CPU count: {os.cpu_count()} ({platform.processor() or platform.machine()})")
    print(f"- Python {platform.python_version()}, NumPy {np.__version__}; "
          f"BLAS kernel in process: {blas_kernel()}")
    print("- OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: unset for every process")
    print(f"- BLAS threads per server process: {args.blas_threads}")
    seen: set[tuple[str, str]] = set()
    for spec in specs:
        if (spec.label, spec.versions) not in seen:
            seen.add((spec.label, spec.versions))
            print(f"- {spec.label}: {spec.versions}")
    print(f"- load: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency "
          f"(after {args.warmup:g} s warm-up), one fixed body per row; bodies from {source}")
    print(f"- command: `{command}`\n")
    print("## Answers checked against the in-process model (max abs difference of probabilities)\n")
    print("| server | workers | load | endpoint | max abs diff |\n| --- | ---: | --- | --- | --- |")
    for label, w, load, endpoint, diff in run.checks:
        print(f"| {label} | {w} | {load} | {endpoint} | {diff} |")
    print("\n## Results\n")
    print(results_table(run.rows))
    print(f"\nNumPy forward pass in process, batch {BATCH}, 1 BLAS thread: {run.forward_img_s:,.0f} img/s\n")
    print("## Targets\n")
    print(targets_table(targets(run.rows, run.forward_img_s, args.connections)))
    print("\n## Memory (process tree: server and its workers)\n")
    print(memory_table(run.memory))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the servers were stopped on the way out
        print("[peers] interrupted; every server started was stopped", file=sys.stderr)
        sys.exit(130)
