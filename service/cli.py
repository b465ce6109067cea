"""`mnist-serve`: load and record the served versions once, then run uvicorn with the settings.

Flags override the MNIST_* environment; they are passed to the server (and every worker) through
that same environment, so one Settings class is the only source of configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import signal
import socket
import sys
import tempfile

import uvicorn
from uvicorn.supervisors import Multiprocess

from neuralnet.artifact import ArtifactError
from service.config import Settings
from service.main import start_models
from service.models.loaded_model import LoadedModel

FLAGS = {"host": "MNIST_HOST", "port": "MNIST_PORT", "grpc_port": "MNIST_GRPC_PORT",
         "workers": "MNIST_WORKERS", "model": "MNIST_MODEL", "version": "MNIST_VERSION",
         "weights_dir": "MNIST_WEIGHTS_DIR", "log_level": "MNIST_LOG_LEVEL"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="mnist-serve", description="Serve an MNIST model over HTTP. "
                                "Flags override the MNIST_* environment variables.")
    p.add_argument("--host", help="bind address (MNIST_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (MNIST_PORT, default 8000)")
    p.add_argument("--grpc-port", type=int, help="gRPC port, 0 for none (MNIST_GRPC_PORT, default 8001)")
    p.add_argument("--workers", type=int, help="worker processes (MNIST_WORKERS, default 1)")
    p.add_argument("--model", help="model name (MNIST_MODEL, default: best in the weights dir)")
    p.add_argument("--version", help="`latest` or an integer (MNIST_VERSION, default latest)")
    p.add_argument("--weights-dir", help="artifact folder (MNIST_WEIGHTS_DIR, default ./weights)")
    p.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"])
    return p.parse_args(argv)


def server_stack() -> tuple[str, str]:
    """(HTTP parser, event loop) for uvicorn: httptools and uvloop, C implementations installed
    with the service (~1.5x the requests/s of h11 and asyncio), else uvicorn's pure-Python ones."""
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return http, loop


def http_protocol(http: str) -> type[asyncio.Protocol] | str:
    """uvicorn's `http` option: httptools with header deadlines (service/http_protocol.py), else
    uvicorn's h11 as it is."""
    if http != "httptools":
        return http
    from service.http_protocol import HeaderTimeoutProtocol  # imports httptools: only when it exists

    return HeaderTimeoutProtocol


def record_served_versions(settings: Settings) -> tuple[LoadedModel | None, str]:
    """Load the served versions once, before any worker starts (failing fast, with one clear line),
    and record them. Returns the default model and the app factory the workers run: once a pinned
    `--version` lives in the record, every worker, however late it starts or restarts, follows the
    record (`create_following_app`) instead of applying the pin again over a repository call
    another worker answered meanwhile; where nothing could be recorded, they apply it."""
    manager = start_models(settings, record=True)
    model = manager.registry.default_model()
    if model is None:  # the others serve; not ready until the default can
        print(f"mnist-serve: the default model {manager.registry.default!r} cannot be served: "
              f"{manager.unavailable_reason(manager.registry.default or '')}", file=sys.stderr)
    factory = "create_following_app" if manager.recorded else "create_app"
    return model, f"service.main:{factory}"


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name, env in FLAGS.items():
        value = getattr(args, name)
        if value is not None:
            os.environ[env] = str(value)
    try:
        settings = Settings()
    except ValueError as exc:
        print(f"mnist-serve: invalid settings: {exc}".replace("\n", " "), file=sys.stderr)
        return 2
    try:
        model, factory = record_served_versions(settings)
    except (ArtifactError, OSError) as exc:
        print(f"mnist-serve: cannot load model: {exc}", file=sys.stderr)
        return 2
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        try:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mnist-serve-metrics-")
        except OSError as exc:  # e.g. a read-only root filesystem without a /tmp mount
            print(f"mnist-serve: {settings.workers} workers share their metrics in a temporary folder, "
                  f"and none is writable ({exc}): mount a tmpfs at /tmp, or set TMPDIR or "
                  "PROMETHEUS_MULTIPROC_DIR to a writable folder", file=sys.stderr)
            return 2
    http, loop = server_stack()
    serving = f"{model.name} v{model.version}" if model else "without its default model (not ready)"
    print(f"mnist-serve: serving {serving} on "
          f"http://{settings.host}:{settings.port}"
          + (f" and gRPC {settings.host}:{settings.grpc_port}" if settings.grpc_port else "")
          + f" ({settings.workers} worker(s), {http} on {loop})",
          file=sys.stderr)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal; exit 0 for it instead,
    # so supervisors (Docker, Kubernetes, systemd) see a clean stop.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    config = uvicorn.Config(factory, factory=True, host=settings.host,
                            port=settings.port, workers=settings.workers, log_level=settings.log_level,
                            access_log=False, http=http_protocol(http), loop=loop,
                            h11_max_incomplete_event_size=settings.max_header_bytes,
                            timeout_graceful_shutdown=settings.shutdown_timeout_seconds)
    if settings.workers > 1:
        sock = config.bind_socket()
        # The socket uvicorn binds for its workers is not seen as TCP by asyncio, so Nagle's
        # algorithm stays on and each small response waits ~40 ms for a delayed ACK
        # (uvicorn issue #3149); accepted connections inherit TCP_NODELAY from this socket.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        Multiprocess(config, sockets=[sock]).run()
        return 0
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        print("mnist-serve: the server did not start (see the log above)", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
