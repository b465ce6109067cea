"""KServe manifests checked against KServe's own CustomResourceDefinitions, as `kubectl apply
--validate=strict` would check them: the CRD's openAPIV3Schema, with a field it does not know an error.

`python -m tests.deploy.kserve_manifests FILE...` (make lint) prints each error and exits 1 on any.
The CRDs: ../shared/standards/kserve-crds, or the folder MNIST_KSERVE_CRDS names.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = Path(os.environ.get("MNIST_KSERVE_CRDS", REPO_ROOT.parent / "shared" / "standards" / "kserve-crds"))


def closed(schema: Any) -> Any:
    """The schema with every object that lists its properties closed to others (strict validation)."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: closed(value) for key, value in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        result["additionalProperties"] = False
    return result


@functools.cache
def crds(crd_dir: Path) -> list[dict[str, Any]]:
    # LibYAML's loader: the InferenceService CRD alone is 2 MB of YAML
    return [yaml.load(path.read_text(), Loader=yaml.CSafeLoader) for path in sorted(crd_dir.glob("*.yaml"))]


@functools.cache
def _validator(kind: str, api_version: str, crd_dir: Path) -> jsonschema.Draft7Validator:
    for crd in crds(crd_dir):
        if crd["spec"]["names"]["kind"] != kind:
            continue
        for version in crd["spec"]["versions"]:
            if f"{crd['spec']['group']}/{version['name']}" == api_version:
                return jsonschema.Draft7Validator(closed(version["schema"]["openAPIV3Schema"]))
    raise ValueError(f"no CRD in {crd_dir} defines {kind} {api_version}")


def crd_validation_errors(obj: dict[str, Any], crd_dir: Path = CRD_DIR) -> list[str]:
    validator = _validator(obj.get("kind", ""), obj.get("apiVersion", ""), crd_dir)
    return [f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in validator.iter_errors(obj)]


def main(paths: list[str]) -> int:
    if not CRD_DIR.is_dir():
        print(f"kserve_manifests: no KServe CRDs in {CRD_DIR} (set MNIST_KSERVE_CRDS)", file=sys.stderr)
        return 2
    failed = False
    for path in paths:
        for obj in yaml.safe_load_all(Path(path).read_text()):
            try:
                errors = crd_validation_errors(obj)
            except ValueError as exc:
                errors = [str(exc)]
            for error in errors:
                print(f"{path}: {obj.get('kind')} {obj.get('metadata', {}).get('name')}: {error}")
            failed = failed or bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
