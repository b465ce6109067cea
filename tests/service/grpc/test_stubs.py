"""The committed gRPC modules are what `make grpc-stubs` makes of service/grpc/protos/inference.proto
now: a .proto edited without regenerating them fails here, not in a client."""

from __future__ import annotations

from pathlib import Path

from service.grpc.protos import generate


def test_generated_modules_are_current(tmp_path: Path) -> None:
    for made in generate.generate(tmp_path):
        committed = generate.HERE / made.name
        assert made.read_text() == committed.read_text(), (
            f"{committed.relative_to(generate.ROOT)} is stale: run `make grpc-stubs` and commit it")
