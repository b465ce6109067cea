"""CPU time per request inside the app, without a network or a load generator in the way.

    python benchmarks/asgi_cost.py [--tree DIR] [--requests 2000]

Builds the service's app from the checkout DIR (default: this one; the process imports `service`
from there), starts its lifespan (models loaded as a server would), and sends each of the peers
benchmark's requests (benchmarks/peers/kinds.py: a single image and a batch of 256, /v1 JSON, v2
JSON, v2 binary) straight to the ASGI app, one after another, timing the CPU each takes with
`time.process_time`. Prints one JSON line: microseconds per request by load and endpoint (the
median of 5 runs of `--requests`). This is the share of a request's cost that the service's own
code decides (middleware, routing, codecs, data plane, forward pass); the HTTP server's parsing and
the sockets are left out, so figures of two builds compare within a few per cent on a quiet
machine, where wrk's against a 1-worker server move by 10-15 % from run to run.
benchmarks/compare_builds.py --in-process runs it for two checkouts, alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SCRIPT_DIR = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--tree", type=Path, default=SCRIPT_DIR.parent)
    p.add_argument("--model", default="mnist-mlp")
    p.add_argument("--requests", type=int, default=2000, help="requests per run of a kind (batches: /20)")
    args = p.parse_args(argv)
    tree = args.tree.resolve()
    sys.path[:0] = [str(tree), str(SCRIPT_DIR / "peers")]  # the checkout's service, the peers' requests
    state = tempfile.mkdtemp(prefix="asgi-cost-")  # the served versions' record: not beside the weights
    os.environ.update({"MNIST_MODEL": args.model, "MNIST_GRPC_PORT": "0", "MNIST_ACCESS_LOG": "true",
                       "MNIST_WEIGHTS_DIR": str(tree / "weights"), "MNIST_BLAS_THREADS": "1",
                       "MNIST_STATE_PATH": str(Path(state) / "serving.json")})
    from inputs import digits
    from kinds import BATCH, request_kinds

    from service.main import create_app

    images, _ = digits(BATCH)
    kinds = request_kinds(images, args.model)
    app = create_app()
    costs = asyncio.run(measure(app, kinds, args.requests))
    print(json.dumps({"tree": str(tree), "us_per_request": costs}))
    return 0


async def call(app: Any, path: str, body: bytes, headers: dict[str, str]) -> int:
    """One POST through the ASGI app; its status."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 40000),
             "headers": [(k.lower().encode(), v.encode()) for k, v in
                         {**headers, "content-length": str(len(body))}.items()]}
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # no disconnect while the request is answered
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def measure(app: Any, kinds: dict[tuple[str, str], Any], requests: int) -> dict[str, float]:
    costs: dict[str, float] = {}
    async with app.router.lifespan_context(app):
        for (load, endpoint), kind in kinds.items():
            n = requests if kind.images == 1 else max(requests // 20, 10)
            runs = []
            for _ in range(6):  # the first run warms up, the median of the other five counts
                started = time.process_time()
                for _ in range(n):
                    status = await call(app, kind.path, kind.body, kind.headers)
                    if status != 200:
                        raise SystemExit(f"{load} {endpoint}: HTTP {status}")
                runs.append((time.process_time() - started) / n * 1e6)
            costs[f"{load} {endpoint}"] = statistics.median(runs[1:])
    return costs


if __name__ == "__main__":
    raise SystemExit(main())
