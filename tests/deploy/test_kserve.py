"""deploy/kserve: the ServingRuntime and InferenceService are what KServe's own CustomResourceDefinitions
accept, and they run the image the way it serves (port, weights folder, flags, probes, state).

The schemas are KServe's published CRDs (../shared/standards/kserve-crds, or MNIST_KSERVE_CRDS), each
object checked as `kubectl apply --validate=strict` would: a field the schema does not know fails.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.cli import parse_args
from service.config import Settings
from tests.deploy.deploy_files import (
    ENV_PREFIX,
    LIBRARY_ENV,
    PROJECT_VERSION,
    REPO_ROOT,
    final_stage,
    served_at_start,
    served_get_paths,
    settings_env_names,
)
from tests.deploy.kserve_manifests import CRD_DIR, crd_validation_errors

KSERVE_DIR = REPO_ROOT / "deploy" / "kserve"
KSERVE_PORT = 8080  # where KServe sends a predictor's HTTP traffic
MODEL_DIR = "/mnt/models"  # where KServe puts the storageUri's files, read-only
CONTAINER_NAME = "kserve-container"


def manifest(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((KSERVE_DIR / name).read_text())
    assert isinstance(loaded, dict)
    return loaded


def runtime() -> dict[str, Any]:
    return manifest("servingruntime.yaml")


def inference_service() -> dict[str, Any]:
    return manifest("inferenceservice.yaml")


def serving_container() -> dict[str, Any]:
    (container,) = runtime()["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def container_env() -> dict[str, str]:
    return {item["name"]: item["value"] for item in serving_container()["env"]}


def container_args() -> list[str]:
    """The runtime's args as KServe passes them: `{{.Name}}` is the InferenceService's name."""
    name = inference_service()["metadata"]["name"]
    return [arg.replace("{{.Name}}", name) for arg in serving_container().get("args", [])]


def validation_errors(obj: dict[str, Any]) -> list[str]:
    if not CRD_DIR.is_dir():
        pytest.skip(f"KServe's CRDs not found in {CRD_DIR} (set MNIST_KSERVE_CRDS)")
    return crd_validation_errors(obj, CRD_DIR)


@pytest.mark.parametrize("name", ["servingruntime.yaml", "inferenceservice.yaml"])
def test_each_manifest_is_valid_for_kserves_crds(name: str) -> None:
    assert validation_errors(manifest(name)) == []


def test_a_field_kserve_does_not_know_is_refused() -> None:
    broken = copy.deepcopy(inference_service())
    model = broken["spec"]["predictor"]["model"]
    model["storageURI"] = model.pop("storageUri")
    assert any("storageURI" in error for error in validation_errors(broken))
    broken = copy.deepcopy(runtime())
    broken["spec"]["containers"][0]["ports"][0]["containerPort"] = "8080"
    assert validation_errors(broken)


def test_the_service_uses_the_runtime_for_its_model_format_over_v2() -> None:
    spec, model = runtime()["spec"], inference_service()["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime()["metadata"]["name"]
    formats = [{"name": f["name"], "version": f["version"]} for f in spec["supportedModelFormats"]]
    assert model["modelFormat"] in formats
    assert spec["protocolVersions"] == ["v2", "grpc-v2"] and model["protocolVersion"] == "v2"
    assert "/v2/models/{name}/ready" in served_get_paths()
    assert model["storageUri"].split("://")[0] in {"pvc", "s3", "gs", "https"}


def test_the_container_serves_http_on_kserves_port_from_the_mounted_weights() -> None:
    container = serving_container()
    assert container["name"] == CONTAINER_NAME
    assert container["image"] == f"mnist-serve:{PROJECT_VERSION}"
    port, grpc = container["ports"]
    env = {**final_stage().env, **container_env()}
    assert set(container_env()) <= settings_env_names() | LIBRARY_ENV
    settings = Settings(**{k.removeprefix(ENV_PREFIX).lower(): v for k, v in env.items()
                           if k.startswith(ENV_PREFIX)})
    assert port["containerPort"] == settings.port == KSERVE_PORT
    assert (grpc["name"], grpc["containerPort"]) == ("h2c", settings.grpc_port)  # KServe's gRPC name
    assert str(settings.weights_dir) == MODEL_DIR
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] == KSERVE_PORT
        assert container[probe]["httpGet"]["path"] in served_get_paths()


def test_the_runtime_args_are_mnist_serve_flags_naming_a_model_in_the_weights() -> None:
    args = parse_args(container_args())  # exits on a flag mnist-serve does not know
    # the storageUri holds the weights folder: the shipped one names the model the service is for
    assert served_at_start(Settings(model=args.model), REPO_ROOT / "weights").get(args.model)


def test_it_runs_locked_down_with_its_record_on_a_writable_volume() -> None:
    container, spec = serving_container(), runtime()["spec"]
    uid, _, gid = (final_stage().user() or "").partition(":")
    security = container["securityContext"]
    assert (security["runAsUser"], security["runAsGroup"]) == (int(uid), int(gid))
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    state = Path({**final_stage().env, **container_env()}["MNIST_STATE_PATH"])
    for folder in (str(state.parent), "/tmp"):
        assert "emptyDir" in volumes[mounts[folder]], f"{folder} is not writable on the read-only root"
