"""gRPC load, as the peers benchmark drives it: the same client for every gRPC server.

`grpc_kinds` builds one ModelInferRequest per load (the same digits as the HTTP kinds, UINT8
[N, 784] in `raw_input_contents`, `probabilities` asked for), `check_grpc_answer` sends it once with
grpcio and compares the probabilities with the in-process model, and `run_h2load` drives it with
h2load (nghttp2-client, C, like wrk for HTTP/1.1): one fixed gRPC-framed message POSTed over HTTP/2,
`-c` connections of one stream each (as wrk's connections carry one request at a time), per-request
times from its log file for p50 and p99. h2load sees HTTP statuses, not gRPC's (they travel in
trailers), so the answer check before the load, and one more call after it, are what say the calls
succeed.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from kinds import INPUT, LOADS
from wrk import WrkResult

from service.grpc.protos import inference_pb2 as pb

METHOD = "/inference.GRPCInferenceService/ModelInfer"
ENDPOINT = "gRPC raw"


@dataclass(frozen=True)
class GRPCKind:
    load: str
    endpoint: str
    request: bytes  # the serialized ModelInferRequest
    images: int


def grpc_kinds(images: np.ndarray, model: str) -> dict[tuple[str, str], GRPCKind]:
    kinds = {}
    for load, n in LOADS.items():
        request = pb.ModelInferRequest(model_name=model)
        request.inputs.add(name=INPUT, datatype="UINT8", shape=[n, 784])
        request.raw_input_contents.append(np.ascontiguousarray(images[:n], np.uint8).tobytes())
        request.outputs.add(name="probabilities")
        kinds[load, ENDPOINT] = GRPCKind(load, ENDPOINT, request.SerializeToString(), n)
    return kinds


def _probabilities(response: pb.ModelInferResponse) -> np.ndarray:
    for index, output in enumerate(response.outputs):
        if output.name == "probabilities":
            if response.raw_output_contents:
                data = np.frombuffer(response.raw_output_contents[index], "<f4")
            else:
                data = np.array(output.contents.fp32_contents, np.float32)
            return data.astype(np.float64).reshape(-1, 10)
    raise ValueError("no 'probabilities' output in the answer")


def call(address: str, kind: GRPCKind) -> pb.ModelInferResponse:
    with grpc.insecure_channel(address) as channel:
        infer = channel.unary_unary(METHOD, request_serializer=None,
                                    response_deserializer=pb.ModelInferResponse.FromString)
        response: pb.ModelInferResponse = infer(kind.request, timeout=60)
        return response


def check_grpc_answer(address: str, kind: GRPCKind, expected: np.ndarray) -> float:
    """Send `kind` once; the max abs difference of its probabilities from `expected`."""
    got = _probabilities(call(address, kind))
    if got.shape != expected.shape:
        raise RuntimeError(f"{kind.endpoint} {kind.load}: probabilities of shape {got.shape}, "
                           f"expected {expected.shape}")
    return float(np.max(np.abs(got - expected)))


def framed(message: bytes) -> bytes:
    """A gRPC message on the wire: not compressed (0), its length (4 bytes, big-endian), the bytes."""
    return b"\0" + len(message).to_bytes(4, "big") + message


def _percentile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def run_h2load(address: str, kind: GRPCKind, duration: float, connections: int, threads: int,
               warmup: float = 0.0) -> WrkResult:
    with tempfile.TemporaryDirectory(prefix="peers-h2load-") as tmp:
        body, log = Path(tmp) / "body.bin", Path(tmp) / "requests.log"
        body.write_bytes(framed(kind.request))
        cmd = ["h2load", f"--duration={duration:g}", f"--warm-up-time={warmup:g}", f"-c{connections}",
               "-m1", f"-t{min(threads, connections)}", f"--data={body}",
               "-H", "content-type: application/grpc", "-H", "te: trailers", f"--log-file={log}",
               f"http://{address}{METHOD}"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + warmup + 60, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"h2load failed ({out.returncode}): {out.stdout}\n{out.stderr}")
        rows = [line.split("\t") for line in log.read_text().splitlines() if line.strip()]
    times = sorted(int(r[2]) / 1000 for r in rows)
    if not times:
        raise RuntimeError(f"h2load logged no request:\n{out.stdout}")
    non2xx = sum(1 for r in rows if r[1] != "200")
    return WrkResult(requests=len(rows), seconds=duration, rps=len(rows) / duration,
                     p50_ms=statistics.median(times), p99_ms=_percentile(times, 0.99), non2xx=non2xx,
                     socket_errors=0)
