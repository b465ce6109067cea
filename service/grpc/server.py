"""The gRPC server of one worker: grpc.aio on the worker's own event loop, started and stopped by
the app's lifespan (service/main.py), next to uvicorn's HTTP server.

Several workers share MNIST_GRPC_PORT with SO_REUSEPORT: each binds it, and the kernel spreads new
connections among them (a gRPC connection then stays with its worker). With one worker the option
is off, so a port another process holds is an error at start-up, not a silent share.

A message over MNIST_MAX_BODY_BYTES is refused by gRPC's own limit on the message's declared length
(RESOURCE_EXHAUSTED) before a buffer for it is allocated.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from dataclasses import dataclass
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from service.api.logs import AccessLog
from service.config import Settings
from service.dataplane.plane import DataPlane
from service.grpc.calls import SERVICE, CallRecorder
from service.grpc.protos.inference_pb2_grpc import add_GRPCInferenceServiceServicer_to_server
from service.grpc.servicer import InferenceServicer

log = logging.getLogger("service")
SERVING = health_pb2.HealthCheckResponse.SERVING
MORE_CALLS_READ = 16  # calls read beyond the in-flight limit, to be answered UNAVAILABLE (health probes too)


@dataclass
class GRPCServer:
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    address: str
    grace: float
    draining: asyncio.Task[None] | None = None

    def drain(self) -> asyncio.Task[None]:
        """Start draining (once): health NOT_SERVING at once, new calls refused, calls in flight
        get `grace` seconds."""
        if self.draining is None:
            self.draining = asyncio.get_running_loop().create_task(self._drain())
        return self.draining

    async def _drain(self) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(self.grace)
        log.info("gRPC server stopped", extra={"address": self.address})

    async def stop(self) -> None:
        await self.drain()

    def drain_on_signals(self) -> None:
        """Drain on SIGTERM/SIGINT at once, while uvicorn drains HTTP (its handler still runs
        first), not only after it: the app's shutdown comes when HTTP is done, and both drains
        must fit in one grace period. Only from the main thread (uvicorn's), where signals arrive."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            handler = previous[signal.Signals(signum)]
            if callable(handler):
                handler(signum, frame)
            loop.call_soon_threadsafe(self.drain)

        for sig in previous:
            signal.signal(sig, on_signal)


def server_options(settings: Settings) -> list[tuple[str, int]]:
    return [("grpc.max_receive_message_length", settings.max_body_bytes),
            ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
            # HTTP/2 flow-control windows stay at their initial size (no bandwidth probing): a client
            # has only that much in flight, so a message over the limit is refused having cost the
            # server its first window, not tens of MiB buffered while the refusal travels back
            ("grpc.http2.bdp_probe", 0)]


async def start_grpc(settings: Settings, plane: DataPlane, access_log: AccessLog, server_name: str,
                     server_version: str) -> GRPCServer | None:
    """Start serving on settings.host:settings.grpc_port (None when that port is 0)."""
    if not settings.grpc_port:
        return None
    # Calls past the in-flight limit get UNAVAILABLE from the servicer at once, but gRPC has read
    # each one's message by then: this caps how many it reads at once (RESOURCE_EXHAUSTED beyond),
    # so many connections of large messages cannot hold more than that many of them
    server = grpc.aio.server(options=server_options(settings),
                             maximum_concurrent_rpcs=settings.max_in_flight + MORE_CALLS_READ)
    servicer = InferenceServicer(plane, CallRecorder(plane.metrics, access_log), server_name, server_version)
    add_GRPCInferenceServiceServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    address = f"{settings.host}:{settings.grpc_port}"
    if server.add_insecure_port(address) == 0:
        raise RuntimeError(f"cannot serve gRPC on {address}")
    await server.start()
    for service in ("", SERVICE):  # "": the whole server, what Kubernetes' gRPC probe asks by default
        await health_servicer.set(service, SERVING)
    log.info("gRPC server started", extra={"address": address})
    return GRPCServer(server, health_servicer, address, grace=settings.shutdown_timeout_seconds)
