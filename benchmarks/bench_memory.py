"""Server memory: resident set size of a real `mnist-serve` idle and at its peak under batches.

    python benchmarks/bench_memory.py --model mnist-cnn --batch 1024 --concurrent 1 4

For each --concurrent count it starts a fresh server (one worker), reads VmRSS when it is ready,
sends that many --batch-image requests at once and waits for them, then reads VmHWM (the peak
resident size since start) from /proc. Linux only. What the deployment files' memory limits are
sized from. Bodies are random 0-255 integers (the size of real ones; memory does not depend on
the digits).
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from testkit.proc import status_mib  # noqa: E402
from testkit.server import running_server  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist-cnn")
    parser.add_argument("--batch", type=int, default=1024, help="images per request")
    parser.add_argument("--concurrent", type=int, nargs="+", default=[1, 4],
                        help="requests in flight at once")
    args = parser.parse_args()
    pixels = np.random.default_rng(0).integers(0, 256, (args.batch, 784))
    body = json.dumps({"images": pixels.tolist()}, separators=(",", ":")).encode()

    print("| model | images per request | requests in flight | idle RSS MiB | peak RSS MiB |\n"
          "| --- | ---: | ---: | ---: | ---: |")
    for count in args.concurrent:
        with running_server("--model", args.model, "--workers", "1", "--log-level", "warning") as server:
            pid = server.process.pid
            idle = status_mib(pid, "VmRSS")

            def post(_: int, url: str = server.base_url) -> None:
                httpx.post(f"{url}/v1/predict/batch", content=body, timeout=300,
                           headers={"content-type": "application/json"}).raise_for_status()

            with ThreadPoolExecutor(count) as pool:
                list(pool.map(post, range(count)))
            peak = status_mib(pid, "VmHWM")
        print(f"| {args.model} | {args.batch} | {count} | {idle:.0f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
