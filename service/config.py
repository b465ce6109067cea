"""Service settings, from environment variables prefixed `MNIST_` (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MNIST_", extra="ignore", protected_namespaces=())

    weights_dir: Path = Field(Path("weights"), description="Folder of <model>/<version>.npz artifacts.")
    model: str | None = Field(
        None, description="Model to serve; default: the one whose latest version has the best "
        "recorded test accuracy (the CNN, as shipped)."
    )
    version: str = Field("latest", pattern=r"^(latest|[1-9][0-9]{0,8})$",
                         description="`latest` or a pinned integer version.")
    state_path: Path | None = Field(None, description="Where the served versions are recorded "
                                    "(default: serving.json in the weights directory); every worker "
                                    "follows it, and a restart serves what it says.")
    admin_token: SecretStr | None = Field(None, description="Bearer token for the model-repository "
                                          "routes (/v2/repository/...); unset, they answer 403.")
    min_accuracy: float = Field(0.98, ge=0, le=1, description="Least recorded test accuracy a version "
                                "loaded through the repository routes (or watch mode) must have.")
    watch_seconds: float = Field(0, ge=0, description="Poll the weights directory this often and load "
                                 "a newer version of a served model as a replace (0: off).")
    max_batch_size: int = Field(1024, ge=1, description="Most images in one batch request.")
    batch_max_size: int | None = Field(None, ge=1, description="Most images the batcher gathers from "
                                       "concurrent requests into one forward pass; 1 turns batching off. "
                                       "Default: per model, on (64) for networks with conv layers, off "
                                       "for dense ones, where a forward pass costs less than the hand-off "
                                       "(benchmarks/README.md).")
    batch_max_delay_ms: float = Field(0.0, ge=0, le=1000, description="How long an idle batcher waits "
                                      "for more requests before it starts a batch; 0: at once (requests "
                                      "still gather while a batch runs).")
    batch_threads: int | None = Field(None, ge=1, description="Threads a gathered batch's forward "
                                      "pass runs its 16-image chunks on, side by side (each with one "
                                      "BLAS thread): every request of the batch waits for it, so the "
                                      "event loop has little to do meanwhile. Default: the worker's "
                                      "share of the cores this process may run on (at least 1).")
    batching: dict[str, int] = Field({}, description="Per model, the batcher's most images (1: off), "
                                     "over MNIST_BATCH_MAX_SIZE, as JSON: {\"mnist-mlp\": 16}.")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest request body accepted.")
    max_image_bytes: int = Field(5 * 1024 * 1024, ge=1, description="Largest image file accepted by "
                                 "/v1/predict/image (within max_body_bytes).")
    max_image_pixels: int = Field(4096 * 4096, ge=1, description="Most pixels (width x height) an image "
                                  "may declare; checked before decoding (decompression bombs).")
    header_timeout_seconds: float = Field(10.0, gt=0, description="A connection whose request headers "
                                          "are not complete this long after it opened (or after the "
                                          "request's first byte) gets 408 and is closed (slow-header "
                                          "clients such as slowloris).")
    max_header_bytes: int = Field(64 * 1024, ge=1024, description="Longest request line and headers "
                                  "together; a longer head gets 431 as soon as this many bytes of it "
                                  "have arrived, and the connection is closed.")
    body_timeout_seconds: float = Field(30.0, gt=0, description="A request body still incomplete after "
                                        "this long gets 408 (a stalled or slow client), its buffer freed.")
    shutdown_timeout_seconds: int = Field(25, ge=1, description="On SIGTERM, requests in flight get this "
                                          "long to finish before the server stops anyway (below "
                                          "Kubernetes' default terminationGracePeriodSeconds of 30).")
    max_in_flight: int = Field(32, ge=1, description="Requests a worker works on at once (health checks "
                               "and /metrics aside); more get 503 with Retry-After at once. 32 "
                               "connections already saturate a worker (benchmarks/README.md): past "
                               "that, requests only wait, and hold memory while they do.")
    work_threads: int = Field(2, ge=1, description="Requests a worker parses, decodes or predicts "
                              "at once in its thread pool (large bodies, images, big batches; short "
                              "work runs on the event loop). The work is CPU-bound, so more threads "
                              "than cores gain nothing; each holds up to ~100 MiB while it works "
                              "(a 4096x4096 RGBA image decoded), so this bounds a worker's memory.")
    log_level: LogLevel = "info"
    access_log: bool = Field(True, description="One JSON line per request on stderr (at log level "
                             "info): request id, method, route, path, status, duration.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    grpc_port: int = Field(8001, ge=0, le=65535, description="Port of the Open Inference Protocol's "
                           "gRPC service (Triton's default; 0: off), on `host`. Every worker serves "
                           "it: they share the port with SO_REUSEPORT, the kernel spreading "
                           "connections among them.")
    workers: int = Field(1, ge=1)
    blas_threads: int = Field(1, ge=1, description="BLAS threads per worker for the forward pass. "
                              "1 serves concurrent requests best: each runs on its own thread-pool "
                              "thread, and extra BLAS threads only spin and compete for the cores.")
    benchmark_routes: bool = Field(False, description="Serve the /bench no-op endpoints "
                                   "used by benchmarks/bench_service.py.")


    @field_validator("admin_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        # A token read from a file keeps its trailing newline, and the given one is compared
        # stripped: compare the configured one stripped too. compose passes
        # `${MNIST_ADMIN_TOKEN:-}`: an empty token must mean "off", never "anyone".
        if isinstance(value, str):
            value = value.strip()
        return None if value == "" else value


@lru_cache
def get_settings() -> Settings:
    return Settings()
