"""Where one gRPC ModelInfer call's time goes: a real server (one worker, the MLP), one client
calling it one call at a time, and the server's own per-phase statistics (the statistics extension:
queue, decode, forward pass, encode) next to the client's round trip; then, in this process, what
the message steps cost that the statistics do not see (protobuf parsing and serializing).

    .venv/bin/python benchmarks/bench_grpc_call.py [--calls 2000] [--batch 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import timeit
from pathlib import Path

import grpc
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from service.codecs.v2.grpc import encode_model_infer, parse_model_infer  # noqa: E402
from service.codecs.v2.outputs import model_outputs  # noqa: E402
from service.grpc.protos import inference_pb2 as pb  # noqa: E402
from service.grpc.protos.inference_pb2_grpc import GRPCInferenceServiceStub  # noqa: E402
from testkit.server import free_port, running_server  # noqa: E402

MODEL = "mnist-mlp"
PHASES = {"success": "server: the data plane's whole call", "queue": "server: waiting for a work thread",
          "compute_input": "server: decode (checks, pixels)", "compute_infer": "server: forward pass",
          "compute_output": "server: encode the response"}


def request(batch: int) -> pb.ModelInferRequest:
    message = pb.ModelInferRequest(model_name=MODEL)
    message.inputs.add(name="images", datatype="UINT8", shape=[batch, 784])
    pixels = np.random.default_rng(0).integers(0, 256, batch * 784, np.uint8)
    message.raw_input_contents.append(pixels.tobytes())
    return message


def phases_ns(stub: GRPCInferenceServiceStub) -> dict[str, tuple[int, int]]:
    stats = stub.ModelStatistics(pb.ModelStatisticsRequest(name=MODEL), timeout=10).model_stats
    total: dict[str, tuple[int, int]] = {}
    for entry in stats:
        for field, value in entry.inference_stats.ListFields():
            count, ns = total.get(field.name, (0, 0))
            total[field.name] = (count + value.count, ns + value.ns)
    return total


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--batch", type=int, default=1)
    args = p.parse_args()
    message = request(args.batch)
    port = free_port()
    with running_server("--model", MODEL, "--grpc-port", str(port), "--log-level", "warning",
                        env={"MNIST_ACCESS_LOG": "false"}) as server, \
            grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = GRPCInferenceServiceStub(channel)
        for _ in range(200):  # warm
            stub.ModelInfer(message, timeout=10)
        before = phases_ns(stub)
        rtts = []
        for _ in range(args.calls):
            started = time.perf_counter()
            stub.ModelInfer(message, timeout=10)
            rtts.append(time.perf_counter() - started)
        after = phases_ns(stub)
        print(f"# one gRPC ModelInfer call, {args.batch} image(s), {args.calls} calls one at a time "
              f"(server log: {server.log_path.name})\n")
        print("| step | mean µs |\n| --- | ---: |")
        print(f"| client round trip (median) | {statistics.median(rtts) * 1e6:,.0f} |")
        for phase, label in PHASES.items():
            count = after[phase][0] - before.get(phase, (0, 0))[0]
            ns = after[phase][1] - before.get(phase, (0, 0))[1]
            print(f"| {label} | {ns / max(count, 1) / 1000:,.1f} |")
    wire = message.SerializeToString()
    parsed = parse_model_infer(message, 1024, model_outputs(True))
    values = {"probabilities": np.zeros((args.batch, 10), np.float32),
              "digit": np.zeros(args.batch, np.int64), "is_digit": np.ones(args.batch, bool)}
    response = encode_model_infer(MODEL, "3", parsed, values)
    steps = {"in process: parse the request (protobuf)": lambda: pb.ModelInferRequest.FromString(wire),
             "in process: decode (same as the server's)": lambda: parse_model_infer(message, 1024),
             "in process: build the response message": lambda: encode_model_infer(MODEL, "3", parsed, values),
             "in process: serialize the response (protobuf)": response.SerializeToString}
    for label, fn in steps.items():
        n = 5000
        print(f"| {label} | {timeit.timeit(fn, number=n) / n * 1e6:,.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
