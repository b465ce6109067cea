"""docker-compose.yml: what it builds, mounts, publishes and configures exists and agrees with the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from service.config import Settings
from testkit.worst_cases import PEAK_BOUND_MIB
from tests.deploy.deploy_files import (
    COMPOSE_FILE,
    ENV_PREFIX,
    EXIT_MARGIN_SECONDS,
    PROJECT_VERSION,
    REPO_ROOT,
    compose,
    compose_environment,
    final_stage,
    healthcheck_command,
    healthcheck_options,
    interpolate,
    mebibytes,
    pip_install,
    seconds,
    served_at_start,
    served_get_paths,
    settings_env_names,
    stage_named,
)
from training.data import default_data_dir
from training.train import parse_args as train_args


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    result: dict[str, Any] = compose()["services"]
    return result


def bind_mounts(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{target: volume} for the service's long-syntax bind mounts (sources relative to the file)."""
    mounts = {}
    for volume in service.get("volumes", []):
        assert isinstance(volume, dict), f"use the long syntax: {volume}"
        if volume["type"] != "bind":
            continue
        mounts[volume["target"]] = volume
    return mounts


def source_path(volume: dict[str, Any]) -> Path:
    return (COMPOSE_FILE.parent / volume["source"]).resolve()


def test_interpolation_reads_the_environment() -> None:
    assert interpolate("${A:-x}/${B-y}/${C}/$$", {"A": "", "B": "", "C": "c"}) == "x//c/$"
    assert compose({"MNIST_WORKERS": "3"})["services"]["api"]["environment"]["MNIST_WORKERS"] == "3"


def test_api_builds_the_default_image_stage(services: dict[str, Any]) -> None:
    api = services["api"]
    context = (COMPOSE_FILE.parent / api["build"]["context"]).resolve()
    assert (context / api["build"].get("dockerfile", "Dockerfile")).is_file()
    assert api["build"]["target"] == final_stage().name
    assert api["image"] == f"mnist-serve:{PROJECT_VERSION}"
    assert "profiles" not in api, "`docker compose up` must start the api"


def test_api_publishes_the_port_the_server_listens_on(services: dict[str, Any]) -> None:
    api = services["api"]
    env = {**final_stage().env, **compose_environment(api)}
    listens = int(env["MNIST_PORT"])
    assert listens == Settings.model_fields["port"].default
    grpc = int(env.get("MNIST_GRPC_PORT", Settings.model_fields["grpc_port"].default))
    assert api["ports"] == [f"127.0.0.1:{listens}:{listens}", f"127.0.0.1:{grpc}:{grpc}"]


@pytest.mark.parametrize("name", ["api", "prometheus"])
def test_ports_are_published_on_the_loopback_address_only(services: dict[str, Any], name: str) -> None:
    # Docker's published ports bypass host firewalls (ufw): a bare "8000:8000" is open to the network
    for port in services[name]["ports"]:
        assert port.startswith("127.0.0.1:") and port.count(":") == 2, port


def test_stop_grace_period_covers_the_graceful_shutdown(services: dict[str, Any]) -> None:
    api = services["api"]
    env = {**final_stage().env, **compose_environment(api)}
    budget = Settings(shutdown_timeout_seconds=env["MNIST_SHUTDOWN_TIMEOUT_SECONDS"]).shutdown_timeout_seconds
    assert budget + EXIT_MARGIN_SECONDS <= seconds(api["stop_grace_period"])


def test_the_file_states_the_compose_version_it_needs() -> None:
    # the top-level `name:` is Compose v2's: v1 (docker-compose 1.x) rejects the file
    assert "name" in yaml.safe_load(COMPOSE_FILE.read_text())
    assert "Docker Compose v2" in COMPOSE_FILE.read_text().split("\n", 1)[0]
    assert "Docker Compose v2" in (REPO_ROOT / "README.md").read_text()


def test_api_environment_is_settings_with_valid_defaults(services: dict[str, Any]) -> None:
    env = compose_environment(services["api"])
    assert {"MNIST_MODEL", "MNIST_VERSION", "MNIST_WORKERS", "MNIST_MAX_BATCH_SIZE",
            "MNIST_MAX_BODY_BYTES"} <= set(env)
    assert set(env) <= settings_env_names(), f"not Settings fields: {set(env) - settings_env_names()}"
    settings = Settings(**{k.removeprefix(ENV_PREFIX).lower(): v for k, v in env.items()})
    assert served_at_start(settings, REPO_ROOT / "weights").get(settings.model or "mnist-cnn")
    raw = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["api"]["environment"]
    for name, value in raw.items():
        assert value.startswith(f"${{{name}:-"), f"{name} is not overridable from the shell: {value}"


def test_api_mounts_the_weights_read_only_where_the_image_reads_them(services: dict[str, Any]) -> None:
    mounts = bind_mounts(services["api"])
    weights = mounts[final_stage().env["MNIST_WEIGHTS_DIR"]]
    assert weights["read_only"] is True
    assert source_path(weights) == REPO_ROOT / "weights"
    assert services["api"]["read_only"] is True
    assert "/tmp" in services["api"]["tmpfs"], "mnist-serve writes PROMETHEUS_MULTIPROC_DIR under /tmp"


def test_api_healthcheck_restart_and_limits(services: dict[str, Any]) -> None:
    api = services["api"]
    test = api["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1:] == healthcheck_command(final_stage())
    image_options = healthcheck_options(final_stage())
    for option in ("interval", "timeout", "start_period", "retries"):
        assert str(api["healthcheck"][option]) == image_options[option.replace("_", "-")]
    assert "/health/ready" in served_get_paths()
    assert api["restart"] == "unless-stopped"
    limits = api["deploy"]["resources"]["limits"]
    assert float(limits["cpus"]) > 0
    # above what the tests hold a worker under with 16 of the largest requests at once
    workers = int(compose_environment(api)["MNIST_WORKERS"])
    assert mebibytes(limits["memory"]) >= 1.25 * PEAK_BOUND_MIB * workers


def test_train_is_a_profile_that_writes_into_the_same_weights(services: dict[str, Any],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    train = services["train"]
    assert train["profiles"] == ["train"]
    assert train["build"]["target"] == "train"
    assert pip_install(stage_named("train"))[1] == {"train"}
    args = train_args(train["entrypoint"][1:] + train["command"])  # exits on an unknown flag
    assert train["entrypoint"][0] == "mnist-train"
    mounts = bind_mounts(train)
    weights = mounts[str(args.weights_dir)]
    assert not weights.get("read_only", False)
    api_weights = bind_mounts(services["api"])[final_stage().env["MNIST_WEIGHTS_DIR"]]
    assert source_path(weights) == source_path(api_weights)
    data = mounts[str(args.data_dir)]
    assert data["read_only"] is True
    # Default data folder: the one `mnist-train` and the README use when MNIST_DATA_DIR is unset.
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    assert source_path(data) == (REPO_ROOT / default_data_dir()).resolve()


def test_train_data_folder_follows_mnist_data_dir() -> None:
    shared = str(REPO_ROOT.parent / "shared" / "data" / "mnist")
    train = compose({"MNIST_DATA_DIR": shared})["services"]["train"]
    assert bind_mounts(train)["/data/mnist"]["source"] == shared


def test_prometheus_profile_scrapes_the_api_metrics(services: dict[str, Any]) -> None:
    prometheus = services["prometheus"]
    assert prometheus["profiles"] == ["prometheus"]
    config_mount = bind_mounts(prometheus)["/etc/prometheus/prometheus.yml"]
    config_file = source_path(config_mount)
    assert config_file.is_file()
    config = yaml.safe_load(config_file.read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] in served_get_paths()
    (target,) = [t for group in job["static_configs"] for t in group["targets"]]
    host, port = target.split(":")
    assert host == "api" and host in services
    assert int(port) == int(final_stage().env["MNIST_PORT"])


def test_api_drops_every_capability_and_privilege_gain(services: dict[str, Any]) -> None:
    api = services["api"]
    assert api["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in api["security_opt"]
    assert api["read_only"] is True


def test_the_served_versions_are_recorded_on_a_writable_volume(services: dict[str, Any]) -> None:
    api = services["api"]
    state = Path(compose_environment(api)["MNIST_STATE_PATH"])
    volumes = {v["target"]: v for v in api["volumes"]}
    assert api["read_only"] and volumes[str(state.parent)]["type"] == "volume"
    assert not volumes[str(state.parent)].get("read_only", False)
    assert volumes[str(state.parent)]["source"] in compose()["volumes"]
    # the image makes the folder, owned by its user, so a new named volume starts writable for it
    assert any(f"install -d -o 10001 -g 10001 {state.parent}" in run for run in final_stage().values("RUN"))
