"""Generate the Python modules beside inference.proto (`make grpc-stubs`; grpcio-tools, a dev
dependency). They are committed, so the wheel and the image need no protoc; a test checks that
they are what this script makes of the .proto now.

One change after protoc: the messages go into a descriptor pool of their own, not protobuf's
default one. tritonclient and the KServe SDK register their own `inference.*` messages (same full
names, other files) in the default pool, and two files defining one name cannot share a pool: with
the default pool, this service's modules and those clients could not be imported in one process
(a test session, a benchmark, an application embedding both).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]  # protoc runs from the repository root, so imports read `service.grpc.protos`
PROTO = HERE / "inference.proto"
OUTPUTS = ("inference_pb2.py", "inference_pb2.pyi", "inference_pb2_grpc.py")
DEFAULT_POOL = "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile("
OWN_POOL = "DESCRIPTOR = _descriptor_pool.DescriptorPool().AddSerializedFile("


def generate(out_dir: Path) -> list[Path]:
    """Write the generated modules into `out_dir` (as files named OUTPUTS); their paths."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT}", f"--python_out={tmp}",
                        f"--pyi_out={tmp}", f"--grpc_python_out={tmp}", str(PROTO.relative_to(ROOT))],
                       check=True, cwd=ROOT)
        made = Path(tmp) / PROTO.parent.relative_to(ROOT)
        messages = made / "inference_pb2.py"
        text = messages.read_text()
        if text.count(DEFAULT_POOL) != 1:
            raise RuntimeError(f"protoc's output changed: no single `{DEFAULT_POOL}` in {messages.name}")
        messages.write_text(text.replace(DEFAULT_POOL, OWN_POOL))
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in OUTPUTS:  # each file whole or not at all
            shutil.copyfile(made / name, out_dir / f"{name}.tmp")
            os.replace(out_dir / f"{name}.tmp", out_dir / name)
    return [out_dir / name for name in OUTPUTS]


if __name__ == "__main__":
    for path in generate(HERE):
        print(path.relative_to(ROOT))
