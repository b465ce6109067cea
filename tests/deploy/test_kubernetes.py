"""deploy/kubernetes: the kustomization's objects agree with the image and the app they run."""

from __future__ import annotations

import tempfile
from typing import Any

import pytest

from service.config import Settings
from testkit.worst_cases import PEAK_BOUND_MIB
from tests.deploy.deploy_files import (
    ENV_PREFIX,
    EXIT_MARGIN_SECONDS,
    K8S_DIR,
    LIBRARY_ENV,
    PROJECT_VERSION,
    REPO_ROOT,
    final_stage,
    kustomization,
    mebibytes,
    objects_of_kind,
    pod_spec,
    render_kustomization,
    served_at_start,
    served_get_paths,
    settings_env_names,
)


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return render_kustomization()


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (obj,) = objects_of_kind(objects, kind)
    return obj


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (api,) = pod_spec(one(objects, "Deployment"))["containers"]
    assert isinstance(api, dict)
    return api


def test_every_manifest_is_in_the_kustomization() -> None:
    listed = set(kustomization()["resources"])
    on_disk = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap"} <= {
        obj["kind"] for obj in render_kustomization()}


def test_image_is_this_version(objects: list[dict[str, Any]]) -> None:
    assert container(objects)["image"] == f"mnist-serve:{PROJECT_VERSION}"


def test_config_map_feeds_valid_settings(objects: list[dict[str, Any]]) -> None:
    config = one(objects, "ConfigMap")
    assert {"configMapRef": {"name": config["metadata"]["name"]}} in container(objects)["envFrom"]
    data = config["data"]
    assert all(isinstance(v, str) for v in data.values())
    unknown = set(data) - settings_env_names() - LIBRARY_ENV
    assert not unknown, f"not Settings fields (service/config.py): {unknown}"
    env = {**final_stage().env, **data}
    settings = Settings(**{k.removeprefix(ENV_PREFIX).lower(): v for k, v in env.items()
                           if k.startswith(ENV_PREFIX)})
    assert settings.host == "0.0.0.0"
    assert served_at_start(settings, REPO_ROOT / "weights").get(settings.model or "mnist-cnn")


def test_container_port_is_the_port_the_server_listens_on(objects: list[dict[str, Any]]) -> None:
    env = {**final_stage().env, **one(objects, "ConfigMap")["data"]}
    port, grpc = container(objects)["ports"]
    assert port["containerPort"] == int(env["MNIST_PORT"]) == Settings.model_fields["port"].default
    grpc_default = Settings.model_fields["grpc_port"].default
    assert grpc["containerPort"] == int(env.get("MNIST_GRPC_PORT", grpc_default))
    service = one(objects, "Service")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == [port["name"], grpc["name"]]
    assert service["spec"]["selector"].items() <= one(objects, "Deployment")["spec"]["template"][
        "metadata"]["labels"].items()


@pytest.mark.parametrize(("probe", "path"), [("livenessProbe", "/health/live"),
                                             ("startupProbe", "/health/ready")])
def test_probes_ask_routes_the_app_serves(objects: list[dict[str, Any]], probe: str, path: str) -> None:
    api = container(objects)
    get = api[probe]["httpGet"]
    assert get["path"] == path
    assert get["path"] in served_get_paths()
    assert get["port"] in {p["name"] for p in api["ports"]} | {p["containerPort"] for p in api["ports"]}


def test_readiness_asks_the_grpc_health_service_on_the_grpc_port(objects: list[dict[str, Any]]) -> None:
    api = container(objects)
    (grpc,) = [p for p in api["ports"] if p["name"] == "grpc"]
    assert api["readinessProbe"]["grpc"] == {"port": grpc["containerPort"]}


def test_runs_locked_down_as_the_image_user(objects: list[dict[str, Any]]) -> None:
    uid, _, gid = (final_stage().user() or "").partition(":")
    pod = pod_spec(one(objects, "Deployment"))
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == int(uid)
    assert pod["securityContext"]["runAsGroup"] == int(gid)
    security = container(objects)["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == int(uid)
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]


def test_tmp_is_writable_on_the_read_only_root(objects: list[dict[str, Any]]) -> None:
    # mnist-serve makes PROMETHEUS_MULTIPROC_DIR with tempfile.mkdtemp when MNIST_WORKERS > 1.
    mounts = {m["mountPath"]: m["name"] for m in container(objects)["volumeMounts"]}
    tmp = mounts[tempfile.gettempdir()]
    volumes = {v["name"]: v for v in pod_spec(one(objects, "Deployment"))["volumes"]}
    assert "emptyDir" in volumes[tmp]


def test_resources_and_autoscaler(objects: list[dict[str, Any]]) -> None:
    resources = container(objects)["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) and {"cpu", "memory"} <= set(resources["limits"])
    # above what the tests hold a worker under with 16 of the largest requests at once
    env = {**final_stage().env, **one(objects, "ConfigMap")["data"]}
    workers = int(env.get("MNIST_WORKERS", "1"))
    assert mebibytes(resources["limits"]["memory"]) >= 1.25 * PEAK_BOUND_MIB * workers
    deployment, hpa = one(objects, "Deployment"), one(objects, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        deployment["apiVersion"], "Deployment", deployment["metadata"]["name"])
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
    assert hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]


def test_pods_drain_before_shutdown_within_the_grace_period(objects: list[dict[str, Any]]) -> None:
    pod = pod_spec(one(objects, "Deployment"))
    pre_stop = container(objects)["lifecycle"]["preStop"]["sleep"]["seconds"]
    env = {**final_stage().env, **one(objects, "ConfigMap")["data"]}
    settings = Settings(**{k.removeprefix(ENV_PREFIX).lower(): v for k, v in env.items()
                           if k.startswith(ENV_PREFIX)})
    # the wait, the server's budget for requests in flight, then its exit, before the kubelet kills
    assert pre_stop > 0
    needed = pre_stop + settings.shutdown_timeout_seconds + EXIT_MARGIN_SECONDS
    assert needed <= pod["terminationGracePeriodSeconds"]


def test_a_disruption_budget_keeps_a_pod_serving(objects: list[dict[str, Any]]) -> None:
    budget, deployment = one(objects, "PodDisruptionBudget"), one(objects, "Deployment")
    assert budget["spec"]["minAvailable"] >= 1
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
