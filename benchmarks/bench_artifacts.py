"""Hostile artifacts through the load gate: how long each takes to be refused, and how much the
process's resident memory grows meanwhile.

    python benchmarks/bench_artifacts.py [--bomb-gib 2]

Builds, from the shipped mnist-cnn v2: a zip bomb (one more deflated entry of --bomb-gib GiB of
zeros, a few MB on disk), the same bomb in place of a parameter, an .npy header declaring 4 TiB,
`input.mean` of "abc" and a conv stride of 0. Each is loaded with `load_checked` in a fresh
process (so that one case's memory is not another's) that reports the seconds to the refusal and
its peak RSS (ru_maxrss) less the RSS just before the load. Linux only (ru_maxrss in KiB).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from testkit.hostile_artifacts import rewritten, with_header_declaring, with_zip_bomb  # noqa: E402

MEASURE = """
import json, resource, sys, time
from pathlib import Path
from service.models.checks import LoadRefused, load_checked, gate_digits
gate_digits()  # the gate's own data, loaded before the baseline
before = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])
started = time.perf_counter()
try:
    load_checked(Path(sys.argv[1]), 0.98)
    outcome = "loaded"
except LoadRefused as exc:
    outcome = str(exc)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "growth_mib": (peak - before) / 1024, "outcome": outcome}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bomb-gib", type=float, default=2.0)
    args = parser.parse_args()
    source = REPO_ROOT / "weights" / "mnist-cnn" / "2.npz"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mnist-cnn"

        def mean_abc(meta: dict) -> None:  # type: ignore[type-arg]
            meta["input"]["mean"] = "abc"

        def stride_zero(meta: dict) -> None:  # type: ignore[type-arg]
            meta["architecture"][0]["stride"] = 0

        gib = args.bomb_gib
        cases = {
            f"zip bomb, extra entry of {gib:g} GiB": lambda p: with_zip_bomb(source, p, gib),
            f"zip bomb, {gib:g} GiB in place of layers.9.W": lambda p: with_zip_bomb(
                source, p, gib, member="layers.9.W.npy"),
            ".npy header declaring 4 TiB": lambda p: with_header_declaring(source, p, "layers.9.W",
                                                                            (1 << 40,)),
            'input.mean "abc"': lambda p: rewritten(source, p, metadata=mean_abc),
            "conv stride 0": lambda p: rewritten(source, p, metadata=stride_zero),
            "the shipped file (loads)": lambda p: p.write_bytes(source.read_bytes()) and p,
        }
        print("| artifact | file MB | seconds to the answer | RSS growth MiB | answer |\n"
              "| --- | --- | --- | --- | --- |")
        for name, build in cases.items():
            folder.mkdir(exist_ok=True)
            path = folder / "2.npz"
            path.unlink(missing_ok=True)
            build(path)
            result = json.loads(subprocess.run([sys.executable, "-c", MEASURE, str(path)], check=True,
                                               capture_output=True, text=True, cwd=REPO_ROOT).stdout)
            outcome = result["outcome"].replace(str(path) + ": ", "")[:90]
            print(f"| {name} | {path.stat().st_size / 1e6:.1f} | {result['seconds']:.3f} | "
                  f"{result['growth_mib']:.1f} | {outcome} |")


if __name__ == "__main__":
    main()
