"""What the peers benchmark reports and how: the server labels, the measured rows (`Row`: one wrk
run of one kind of request on one server), the memory of each server (`Memory`), a whole run (`Run`),
the targets mnist-serve is held to (`Target`, `targets`: ratios against MLServer, the reference app
and the in-process forward pass, met / missed / not measured), the Markdown tables of results,
targets and memory, and the header's package versions and BLAS kernel, here and in another
interpreter (`env_versions`)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field

from grpc_load import ENDPOINT as GRPC
from kinds import BATCH
from peersenv import clean_blas_env
from threadpoolctl import threadpool_info
from wrk import WrkResult

MLSERVER_DEFAULT = "MLServer (defaults)"
MLSERVER_PW0 = "MLServer (parallel_workers=0)"
REFERENCE = "reference app"
MNIST_SERVE = "mnist-serve"


# --- results ----------------------------------------------------------------------------------

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
    after_mb: list[float]  # RSS after each round of loads: growth across rounds would be a leak
    peak_mb: float


@dataclass
class Run:
    rows: list[Row] = field(default_factory=list)
    memory: list[Memory] = field(default_factory=list)
    checks: list[tuple[str, int, str, str, str]] = field(default_factory=list)
    forward_img_s: float = 0.0


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
    ml_grpc_single = _find(rows, MLSERVER_DEFAULT, "single", GRPC)
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
            Target(f"{tag}: gRPC single req/s ÷ MLServer defaults gRPC single",
                   _ratio(rps(ours("single", GRPC)), rps(ml_grpc_single)), 2.0),
            Target(f"{tag}: gRPC {BATCH} img/s ÷ NumPy forward at {BATCH} (in process, 1 BLAS thread)",
                   _ratio(img(ours(batch, GRPC)), forward), 0.70),
            Target(f"{tag}: gRPC single req/s ÷ its /v1/predict single",
                   _ratio(rps(ours("single", GRPC)), rps(ours("single", "/v1 JSON"))), 1.0),
        ]
        for endpoint in ("/v1 JSON", "v2 JSON", "v2 binary", GRPC):
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
    lines = ["| server | workers | processes | idle RSS MB | RSS after each round of loads MB "
             "| peak MB (sum of VmHWM) |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {m.server} | {m.workers} | {m.processes} | {m.idle_mb:.0f} "
              f"| {', '.join(f'{v:.0f}' for v in m.after_mb)} | {m.peak_mb:.0f} |" for m in items]
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
