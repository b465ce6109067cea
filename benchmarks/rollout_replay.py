"""A new version rolled out with the service's own shadow and canary, on a replay of the evaluation sets.

    pip install -e '.[bench]'     # scikit-learn, for the other writers' scans
    python benchmarks/rollout_replay.py --weights-dir DIR --model mnist-cnn --served 2 --candidate 3

Starts mnist-serve on DIR serving `--served`, then, through the repository extension with a token,
as an operator would:

1. shadow: the candidate computes every request the served version answers, off the response path;
   each set is replayed as a user sends it (the other writers' 8x8 scans as 64x64 PNGs to
   /v1/predict/image, one request each; MNIST's test digits and the shifted sets of
   training/shifts.py to /v1/predict/batch, 100 per request), and the agreement the service reports
   (`/v1/models`: compared images, agreement) is read before and after each set;
2. canary: 10 % of the requests answered by the candidate, the served version recomputing them, on
   the scans again;
3. promote: the candidate replaces the served version; one request checks who answers.

Prints Markdown: per set, images compared and the agreement, and each version's accuracy from the
answers it gave (the served version's during the shadow, the candidate's after the promotion).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from real_digits_eval import RESAMPLING, png_of_scan  # noqa: E402

from testkit.server import running_server  # noqa: E402
from training.data import default_data_dir, load_mnist  # noqa: E402
from training.shifts import DEFAULT_SEED, make_shifted  # noqa: E402

TOKEN = "rollout-replay"
BATCH = 100


def call_load(client: httpx.Client, model: str, parameters: dict[str, Any]) -> None:
    response = client.post(f"/v2/repository/models/{model}/load", json={"parameters": parameters},
                           headers={"Authorization": f"Bearer {TOKEN}"})
    if response.status_code != 200:
        raise SystemExit(f"load {parameters}: {response.status_code} {response.text}")


def compared(client: httpx.Client, model: str, version: int) -> tuple[int, int]:
    """(images compared so far, of which agreed) for the candidate `version`."""
    time.sleep(0.5)  # comparisons run off the response path
    for entry in client.get("/v1/models").json()["served"]:
        if entry["name"] == model and entry["version"] == version:
            return int(entry["compared_images"]), int(entry["agreed_images"])
    raise SystemExit(f"{model} v{version} is not among the loaded versions")


def replay_scans(client: httpx.Client, model: str, pngs: list[bytes]) -> tuple[np.ndarray, list[int]]:
    digits, versions = [], []
    for png in pngs:
        response = client.post("/v1/predict/image", params={"model": model},
                               files={"file": ("digit.png", png, "image/png")})
        response.raise_for_status()
        answer = response.json()
        digits.append(answer["digit"])
        versions.append(int(answer["model"]["version"]) if isinstance(answer.get("model"), dict) else -1)
    return np.asarray(digits), versions


def replay_batches(client: httpx.Client, model: str, images: np.ndarray) -> np.ndarray:
    digits = []
    for lo in range(0, len(images), BATCH):
        body = {"images": images[lo : lo + BATCH].reshape(-1, 784).tolist()}
        response = client.post("/v1/predict/batch", params={"model": model}, content=json.dumps(body),
                               headers={"Content-Type": "application/json"})
        response.raise_for_status()
        digits += [p["digit"] for p in response.json()["predictions"]]
    return np.asarray(digits)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--weights-dir", type=Path, required=True)
    p.add_argument("--model", default="mnist-cnn")
    p.add_argument("--served", type=int, required=True)
    p.add_argument("--candidate", type=int, required=True)
    p.add_argument("--shifted", type=int, default=1000, help="MNIST test digits each shifted set holds")
    p.add_argument("--data-dir", type=Path, default=None)
    args = p.parse_args(argv)
    from sklearn.datasets import load_digits  # benchmark-only dependency (the `bench` extra)

    scans = load_digits()
    pngs = [png_of_scan(s, RESAMPLING["bicubic"]) for s in scans.images]
    data = load_mnist(args.data_dir or default_data_dir())
    batch_sets = {"MNIST test": (data.test_images, data.test_labels)}
    for name, images in make_shifted(data.test_images[: args.shifted], DEFAULT_SEED + 2).items():
        batch_sets[f"shifted: {name}"] = (images, data.test_labels[: args.shifted])
    rows = []
    env = {"MNIST_ADMIN_TOKEN": TOKEN, "MNIST_VERSION": None}
    with running_server("--weights-dir", str(args.weights_dir), "--model", args.model, "--version",
                        str(args.served), env=env, timeout=120) as server, \
            httpx.Client(base_url=server.base_url, timeout=120, trust_env=False) as client:
        call_load(client, args.model, {"version": str(args.candidate), "rollout": "shadow"})
        before = compared(client, args.model, args.candidate)
        digits, _ = replay_scans(client, args.model, pngs)
        after = compared(client, args.model, args.candidate)
        rows.append(("shadow", "sklearn 8x8 (bicubic)", after[0] - before[0], after[1] - before[1],
                     float((digits == scans.target).mean())))
        for name, (images, labels) in batch_sets.items():
            before = compared(client, args.model, args.candidate)
            digits = replay_batches(client, args.model, images)
            after = compared(client, args.model, args.candidate)
            rows.append(("shadow", name, after[0] - before[0], after[1] - before[1],
                         float((digits == labels).mean())))
        call_load(client, args.model, {"version": str(args.candidate), "rollout": "canary", "percent": 10})
        before = compared(client, args.model, args.candidate)
        digits, versions = replay_scans(client, args.model, pngs)
        after = compared(client, args.model, args.candidate)
        share = float(np.mean(np.asarray(versions) == args.candidate))
        rows.append((f"canary 10 % ({share:.1%} answered by v{args.candidate})", "sklearn 8x8 (bicubic)",
                     after[0] - before[0], after[1] - before[1], float((digits == scans.target).mean())))
        call_load(client, args.model, {"version": str(args.candidate), "rollout": "replace"})
        answering = client.get("/v1/model", params={"model": args.model}).json()["version"]
        digits, _ = replay_scans(client, args.model, pngs)
        promoted = float((digits == scans.target).mean())
    print(f"`python benchmarks/rollout_replay.py {' '.join(argv or sys.argv[1:])}`\n")
    print("| step | set | images compared | agreement | accuracy of the answers |")
    print("| --- | --- | ---: | ---: | ---: |")
    for step, name, n, agreed, accuracy in rows:
        print(f"| {step} | {name} | {n:,} | {agreed / n if n else float('nan'):.2%} | {accuracy:.2%} |")
    print(f"\nPromoted: /v1/model answers version {answering}; its answers on the scans: {promoted:.2%}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
