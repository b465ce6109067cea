"""schemathesis against the real server: the protocol's published REST document (its `${X}` path
parameters read as `{X}`) for each shipped model, and the service's own OpenAPI document. Every
response must conform: status codes, content types, headers and schemas as documented."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from testkit.server import ServerProcess, running_server
from testkit.shipped import newest_shipped, shipped_weights

pytestmark = pytest.mark.slow
STANDARD = Path(__file__).resolve().parents[4] / "shared" / "standards" / "open-inference-protocol" / \
    "open_inference_rest.yaml"
TOKEN = "schemathesis-token"
CHECKS = ("status_code_conformance,content_type_conformance,response_headers_conformance,"
          "response_schema_conformance,not_a_server_error")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    state = tmp_path_factory.mktemp("schemathesis-state") / "serving.json"
    with running_server("--weights-dir", str(shipped_weights()), env={
            "MNIST_ADMIN_TOKEN": TOKEN, "MNIST_STATE_PATH": str(state)},
            log_dir=tmp_path_factory.mktemp("schemathesis")) as process:
        yield process


def schemathesis(schema: str, *args: str, cwd: Path) -> str:
    """Run the schemathesis CLI (its own process; its example database in `cwd`); its report."""
    command = [str(Path(sys.executable).with_name("schemathesis")), "run", schema, "-c", CHECKS,
               "--seed", "1", *args]
    if not Path(command[0]).exists():
        command[0] = shutil.which("schemathesis") or "schemathesis"
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    return report


def published_document(model: str, version: str, target: Path) -> Path:
    """The published document with `${X}` read as `{X}`, and the path parameters held to one
    served model and version (the document declares no 404 for an unknown one)."""
    text = STANDARD.read_text().replace("${MODEL_NAME}", "{MODEL_NAME}").replace("${MODEL_VERSION}",
                                                                                 "{MODEL_VERSION}")
    document = yaml.safe_load(text)
    values = {"MODEL_NAME": model, "MODEL_VERSION": version}
    for item in document["paths"].values():
        for parameter in item.get("parameters", []):
            parameter["schema"] = {"type": "string", "enum": [values[parameter["name"]]]}
    target.write_text(yaml.safe_dump(document))
    return target


@pytest.mark.skipif(not STANDARD.is_file(), reason=f"{STANDARD} not found (../shared/standards)")
@pytest.mark.parametrize("model", ["mnist-cnn", "mnist-mlp"])
def test_the_published_rest_document(server: ServerProcess, tmp_path: Path, model: str) -> None:
    version = str(newest_shipped(model))
    assert httpx.get(f"{server.base_url}/v2/models/{model}/versions/{version}/ready").status_code == 200
    document = published_document(model, version, tmp_path / "open_inference_rest.yaml")
    report = schemathesis(str(document), "--url", server.base_url, "--mode", "positive", "-n", "40",
                          cwd=tmp_path)
    assert " passed" in report and "failures" not in report.split("SUMMARY")[-1], report


def test_the_services_own_document(server: ServerProcess, tmp_path: Path) -> None:
    report = schemathesis(f"{server.base_url}/openapi.json", "-H", f"Authorization: Bearer {TOKEN}",
                          "-n", "15", cwd=tmp_path)
    assert " passed" in report, report
