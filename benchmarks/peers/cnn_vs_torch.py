"""The service's CNN forward pass (NumPy, `InferenceModel`) against PyTorch CPU on the same weights.

Both compute raw pixels -> normalised input -> network -> softmax in float32, with the same number of
threads (torch.set_num_threads; for NumPy, a batch's conv chunks side by side on that many threads,
or BLAS threads for a batch of one chunk), at batch 1, 64 and 256: images/s
of each (median call time over about `--seconds`), the ratio (target: NumPy >= 0.8x PyTorch at every
size), and the max abs difference of the probabilities on real test digits. Prints Markdown.

PyTorch lives only in benchmarks/peers/.venv (requirements.txt); started with another Python, the
script makes that environment if needed and re-runs itself there:

    python benchmarks/peers/cnn_vs_torch.py            # MNIST_DATA_DIR for real test digits

Weights: Conv2D W (kh, kw, in, out) -> Conv2d weight W.transpose(3, 2, 0, 1); Dense W (in, out) ->
Linear weight W.T; the NumPy network is NHWC, so Flatten permutes NCHW -> NHWC before flattening.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PEERS_DIR = Path(__file__).resolve().parent
REPO_ROOT = PEERS_DIR.parent.parent
for _path in (str(REPO_ROOT), str(PEERS_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from peersenv import PEERS_VENV, ensure_peers_venv, reexec_without_blas_overrides  # noqa: E402

EXAMPLE = REPO_ROOT / "service" / "static" / "example_digit.json"
BATCHES = (1, 64, 256)
THREADS = (1, 2)
TARGET = 0.8
TOLERANCE = 1e-4


def _ensure_torch(argv: list[str]) -> None:
    """Re-run in benchmarks/peers/.venv (made if missing) when torch is not importable here."""
    try:
        import torch  # noqa: F401
    except ImportError:
        python = ensure_peers_venv()
        if Path(sys.prefix).resolve() == PEERS_VENV.resolve():  # already there: a broken install
            raise
        reexec_without_blas_overrides(str(Path(__file__).resolve()), argv, python=str(python))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    reexec_without_blas_overrides(str(Path(__file__).resolve()), argv)
    _ensure_torch(argv)

    import numpy as np
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits
    from torch import nn

    from neuralnet.artifact import load_artifact
    from neuralnet.inference import InferenceModel
    from service.process import tune_allocator

    # every serving process sets the allocator up so (service/process.py); here it serves both
    allocator = "tuned as in the service" if tune_allocator() else "default"

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--model", default="mnist-cnn", help="weights/<model>/ (latest version)")
    p.add_argument("--seconds", type=float, default=1.0, help="timing per (implementation, threads, batch)")
    p.add_argument("--check-images", type=int, default=1000, help="test digits for the accuracy check")
    args = p.parse_args(argv)

    folder = REPO_ROOT / "weights" / args.model
    artifact_path = max(folder.glob("*.npz"), key=lambda q: int(q.stem) if q.stem.isdigit() else -1)
    artifact = load_artifact(artifact_path)
    ours = InferenceModel.from_artifact(artifact)

    class NHWCFlatten(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.permute(0, 2, 3, 1).flatten(1)

    def torch_network() -> nn.Sequential:
        layers: list[nn.Module] = []
        for i, spec in enumerate(artifact.metadata["architecture"]):
            params = artifact.layer_params(i)
            kind = spec["type"]
            if kind == "conv2d":
                conv = nn.Conv2d(spec["in_channels"], spec["out_channels"], spec["kernel_size"],
                                 stride=spec.get("stride", 1), padding=spec.get("padding", 0))
                conv.weight.data = torch.from_numpy(np.ascontiguousarray(params["W"].transpose(3, 2, 0, 1)))
                conv.bias.data = torch.from_numpy(params["b"].copy())
                layers.append(conv)
            elif kind == "dense":
                linear = nn.Linear(spec["in_features"], spec["out_features"])
                linear.weight.data = torch.from_numpy(np.ascontiguousarray(params["W"].T))
                linear.bias.data = torch.from_numpy(params["b"].copy())
                layers.append(linear)
            elif kind == "relu":
                layers.append(nn.ReLU())
            elif kind == "maxpool2d":
                layers.append(nn.MaxPool2d(spec["pool_size"]))
            elif kind == "flatten":
                layers.append(NHWCFlatten())
            elif kind == "dropout":
                continue  # the identity at inference
            else:
                raise SystemExit(f"no PyTorch equivalent for layer type {kind!r}")
        return nn.Sequential(*layers).eval()

    net = torch_network()
    scale, mean, std = ours.scale, ours.mean, ours.std

    def torch_proba(pixels: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(pixels).reshape(-1, 1, 28, 28)
            x = (x * scale - mean) / std
            return torch.softmax(net(x), dim=1).numpy()

    # real test digits, raw 0-255 as float32 (N, 784), as the service hands them to the model
    data_dir = os.environ.get("MNIST_DATA_DIR")
    if data_dir:
        from training.data import load_mnist

        mnist = load_mnist(data_dir)
        images = mnist.test_images[: max(args.check_images, max(BATCHES))]
        source = f"MNIST test set ({data_dir}), first {len(images)}"
    else:
        image = np.array(json.loads(EXAMPLE.read_text())["pixels"], dtype=np.uint8)
        images = np.repeat(image[None], max(BATCHES), axis=0)
        source = f"{EXAMPLE.name}, repeated"
    pixels = images.reshape(len(images), 784).astype(np.float32)

    with threadpool_limits(limits=1):
        torch.set_num_threads(1)
        diff = float(np.max(np.abs(ours.predict_proba(pixels).astype(np.float64)
                                   - torch_proba(pixels).astype(np.float64))))
        agree = float(np.mean(ours.predict_proba(pixels).argmax(1) == torch_proba(pixels).argmax(1)))

    def img_s(fn: Callable[[np.ndarray], Any], batch: np.ndarray) -> float:
        for _ in range(2):
            fn(batch)
        times: list[float] = []
        deadline = time.perf_counter() + args.seconds
        while time.perf_counter() < deadline or len(times) < 3:
            t0 = time.perf_counter()
            fn(batch)
            times.append(time.perf_counter() - t0)
        return len(batch) / float(np.median(times))

    def numpy_img_s(threads: int, batch: np.ndarray) -> float:
        # N threads: a batch of several conv chunks runs them side by side on N threads, each with
        # one BLAS thread (InferenceModel(threads=N)); a batch of one chunk gives BLAS the N threads
        model = InferenceModel.from_artifact(artifact, threads=threads)
        chunks = -(-len(batch) // (model.chunk_images or len(batch)))
        with threadpool_limits(limits=1 if chunks > 1 else threads):
            return img_s(model.predict_proba, batch)

    rows: list[tuple[int, int, float, float]] = []
    for threads in THREADS:
        torch.set_num_threads(threads)
        for n in BATCHES:
            batch = np.ascontiguousarray(pixels[:n])
            rows.append((threads, n, numpy_img_s(threads, batch), img_s(torch_proba, batch)))
            print(f"[cnn] threads {threads} batch {n}: numpy {rows[-1][2]:,.0f} img/s, "
                  f"torch {rows[-1][3]:,.0f} img/s", file=sys.stderr, flush=True)

    blas = ", ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
                     for i in threadpool_info() if i.get("user_api") == "blas")
    shown = artifact_path.relative_to(REPO_ROOT)
    print(f"# CNN forward pass: NumPy (`InferenceModel`) vs PyTorch CPU, {shown}\n")
    print(f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"- CPU count: {os.cpu_count()}; Python {platform.python_version()}, NumPy {np.__version__} "
          f"(BLAS: {blas}), torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()})")
    print("- OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: unset")
    print(f"- glibc malloc thresholds (both implementations, one process): {allocator}")
    print(f"- both: raw float32 pixels -> normalise -> network -> softmax; median of calls over "
          f"{args.seconds:g} s per cell; digits from {source}")
    script = Path(__file__).resolve().relative_to(REPO_ROOT)
    print(f"- command: `{' '.join([sys.executable, str(script), *argv])}`\n")
    verdict = "met" if diff <= TOLERANCE else "missed"
    print(f"Max abs difference of probabilities over {len(pixels)} digits: {diff:.2e} "
          f"(<= {TOLERANCE:g}: {verdict}); same digit predicted for {agree:.2%}\n")
    print("| threads | batch | NumPy img/s | PyTorch img/s | NumPy ÷ PyTorch | target >= 0.8 |")
    print("| ---: | ---: | ---: | ---: | ---: | --- |")
    for threads, n, ours_s, torch_s in rows:
        ratio = ours_s / torch_s
        print(f"| {threads} | {n} | {ours_s:,.0f} | {torch_s:,.0f} | {ratio:.2f} | "
              f"{'met' if ratio >= TARGET else 'missed'} |")
    return 0 if diff <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
