"""What one call costs the server, by protocol, next to the least each protocol's server stack costs.

Server CPU time per request (user + system, from /proc/<pid>/stat) under 32 connections of
single-image requests, `--duration` seconds per load:

- bare uvicorn: a raw ASGI app answering a fixed JSON body, on uvicorn with httptools and uvloop
  (mnist-serve's HTTP stack), driven by wrk with the /v1 request;
- bare grpc.aio: a servicer answering ModelInfer with a fixed response, grpcio's asyncio server on
  uvloop (mnist-serve's gRPC stack), driven by h2load with the gRPC request;
- with `--alternatives`, the same fixed answer from the other Python gRPC servers there are:
  grpcio's thread-pool server (4 threads) and grpclib's (pure-Python HTTP/2 on asyncio, uvloop;
  the `bench` extra installs it);
- mnist-serve (1 worker, the MLP): `/v1/predict` by wrk and ModelInfer by h2load.

The loads alternate round after round, so drift falls on all alike. CPU per request is steadier
than requests/s on a shared machine: it does not depend on how much CPU the server got.

    python benchmarks/bench_protocol_floor.py [--duration 4] [--rounds 3] [--alternatives]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PEERS_DIR = REPO_ROOT / "benchmarks" / "peers"
sys.path[:0] = [str(REPO_ROOT), str(PEERS_DIR)]

from grpc_load import grpc_kinds, run_h2load  # noqa: E402
from inputs import digits  # noqa: E402
from kinds import request_kinds  # noqa: E402
from wrk import WrkResult, run_wrk  # noqa: E402

from testkit.server import free_port, running_server  # noqa: E402

MODEL = "mnist-mlp"
CONNECTIONS = 32


def serve_bare_uvicorn(port: int) -> None:
    import uvicorn

    body = b'{"digit":7,"probability":0.9,"probabilities":[0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.9,0.1,0.1]}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def app(scope: dict, receive: Callable, send: Callable) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            return
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, http="httptools",
                loop="uvloop")


def serve_bare_grpc(port: int) -> None:
    import grpc
    import uvloop

    from service.grpc.protos.inference_pb2_grpc import (
        GRPCInferenceServiceServicer,
        add_GRPCInferenceServiceServicer_to_server,
    )

    response = fixed_response()

    class Fixed(GRPCInferenceServiceServicer):
        async def ModelInfer(self, request: object, context: object) -> object:
            return response

    async def main() -> None:
        server = grpc.aio.server()
        add_GRPCInferenceServiceServicer_to_server(Fixed(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    uvloop.run(main())


def fixed_response() -> object:
    from service.grpc.protos import inference_pb2 as pb

    response = pb.ModelInferResponse(model_name=MODEL, model_version="1")
    response.outputs.add(name="probabilities", datatype="FP32", shape=[1, 10])
    response.raw_output_contents.append(bytes(40))
    return response


def serve_bare_grpc_threads(port: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import grpc

    from service.grpc.protos.inference_pb2_grpc import (
        GRPCInferenceServiceServicer,
        add_GRPCInferenceServiceServicer_to_server,
    )

    response = fixed_response()

    class Fixed(GRPCInferenceServiceServicer):
        def ModelInfer(self, request: object, context: object) -> object:
            return response

    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    add_GRPCInferenceServiceServicer_to_server(Fixed(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


def serve_bare_grpclib(port: int) -> None:
    import uvloop
    from grpclib.const import Cardinality, Handler
    from grpclib.server import Server, Stream

    from service.grpc.protos import inference_pb2 as pb

    response = fixed_response()

    class Fixed:
        async def model_infer(self, stream: Stream) -> None:
            await stream.recv_message()
            await stream.send_message(response)

        def __mapping__(self) -> dict[str, Handler]:
            return {"/inference.GRPCInferenceService/ModelInfer": Handler(
                self.model_infer, Cardinality.UNARY_UNARY, pb.ModelInferRequest, pb.ModelInferResponse)}

    async def main() -> None:
        server = Server([Fixed()])
        await server.start("127.0.0.1", port)
        await server.wait_closed()

    uvloop.run(main())


SERVE = {"uvicorn": serve_bare_uvicorn, "grpc": serve_bare_grpc, "grpc-threads": serve_bare_grpc_threads,
         "grpclib": serve_bare_grpclib}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def bare(stack: ExitStack, kind: str) -> tuple[int, int]:
    """(pid, port) of a bare server of `kind` (a key of SERVE), stopped when the stack closes."""
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port)])
    stack.callback(process.wait)
    stack.callback(process.terminate)
    wait_for_port(port)
    return process.pid, port


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--duration", type=float, default=4.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--alternatives", action="store_true",
                   help="also grpcio's thread-pool server and grpclib's, answering the same fixed response")
    p.add_argument("--serve", choices=tuple(SERVE), help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        SERVE[args.serve](args.port)
        return 0
    images, _ = digits(1)
    rest = request_kinds(images, MODEL)[("single", "/v1 JSON")]
    grpc_kind = grpc_kinds(images, MODEL)[("single", "gRPC raw")]
    with ExitStack() as stack:
        grpc_port = free_port()
        ours = stack.enter_context(running_server(
            "--model", MODEL, env={"MNIST_GRPC_PORT": str(grpc_port), "MNIST_BLAS_THREADS": "1"}, timeout=90))
        uvicorn_pid, uvicorn_port = bare(stack, "uvicorn")
        grpc_pid, bare_grpc_port = bare(stack, "grpc")
        loads: dict[str, tuple[int, Callable[[], WrkResult]]] = {
            "bare uvicorn (fixed JSON)": (uvicorn_pid, lambda: run_wrk(
                f"http://127.0.0.1:{uvicorn_port}{rest.path}", rest.body, rest.headers, args.duration,
                CONNECTIONS, 2)),
            "bare grpc.aio (fixed response)": (grpc_pid, lambda: run_h2load(
                f"127.0.0.1:{bare_grpc_port}", grpc_kind, args.duration, CONNECTIONS, 2)),
            "mnist-serve REST /v1/predict": (ours.process.pid, lambda: run_wrk(
                f"{ours.base_url}{rest.path}", rest.body, rest.headers, args.duration, CONNECTIONS, 2)),
            "mnist-serve gRPC ModelInfer": (ours.process.pid, lambda: run_h2load(
                f"127.0.0.1:{grpc_port}", grpc_kind, args.duration, CONNECTIONS, 2)),
        }
        for kind, name in (("grpc-threads", "bare grpcio thread pool (fixed response)"),
                           ("grpclib", "bare grpclib (fixed response)")) if args.alternatives else ():
            pid, port = bare(stack, kind)
            loads[name] = (pid, lambda port=port: run_h2load(  # type: ignore[misc]
                f"127.0.0.1:{port}", grpc_kind, args.duration, CONNECTIONS, 2))
        costs: dict[str, list[float]] = {name: [] for name in loads}
        rates: dict[str, list[float]] = {name: [] for name in loads}
        for _ in range(args.rounds):
            for name, (pid, load) in loads.items():
                before = cpu_seconds(pid)
                result = load()
                if result.errors:
                    raise SystemExit(f"{name}: {result.errors} failed requests")
                costs[name].append((cpu_seconds(pid) - before) / result.requests * 1e6)
                rates[name].append(result.rps)
    median = {name: statistics.median(values) for name, values in costs.items()}
    print(f"| load ({CONNECTIONS} connections, 1 worker) | server CPU µs per request | requests/s |")
    print("| --- | ---: | ---: |")
    for name in loads:
        print(f"| {name} | {median[name]:.0f} | {statistics.median(rates[name]):,.0f} |")
    names = list(loads)
    print(f"\nmnist-serve's own work per request: REST {median[names[2]] - median[names[0]]:.0f} µs, "
          f"gRPC {median[names[3]] - median[names[1]]:.0f} µs (CPU above its stack's bare server)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
