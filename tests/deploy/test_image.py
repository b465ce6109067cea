"""The image, built and run for real: the runtime and train targets built from a stand-in for
python:3.11-slim (tests/deploy/docker_engine.py), then run as an operator runs them, as compose runs
them (the flags read from docker-compose.yml), as KServe runs them (deploy/kserve), and with
`docker compose` itself.

Skipped, with the reason, where no Docker engine answers or the base cannot be made; failed instead
where MNIST_DOCKER_TESTS=required (.ci/run). Containers use the host's network on a free loopback
port, or none at all (KServe's port 8080 inside the container's own network namespace).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from testkit.server import HOST, free_port
from testkit.shipped import newest_shipped, shipped_weights
from tests.deploy import test_kserve as kserve
from tests.deploy.deploy_files import (
    COMPOSE_FILE,
    DOCKER_STOP_SECONDS,
    REPO_ROOT,
    compose,
    compose_environment,
    seconds,
)
from tests.deploy.docker_engine import REQUIRED, base_problem, docker, engine_problem, ensure_base_image

pytestmark = pytest.mark.slow

TOKEN = "image-test-token"
BUILD_TIMEOUT = 1800
START_TIMEOUT = 120  # creating a container copies the image on the vfs storage driver: seconds
TAG = f"mnist-serve-test-{os.getpid()}"


def report(config: pytest.Config, line: str) -> None:
    """A figure in the test run's output (the README quotes them)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"tests/deploy/test_image.py: {line}")


@pytest.fixture(scope="module")
def images(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """{target: image} for the runtime and train targets, built as the README says (BuildKit)."""
    problem = engine_problem() or base_problem()
    if problem:
        if REQUIRED:
            pytest.fail(f"MNIST_DOCKER_TESTS=required but {problem}")
        pytest.skip(problem)
    base = ensure_base_image()
    built = {}
    for target in ("runtime", "train"):
        image = f"{TAG}:{target}"
        start = time.monotonic()
        docker("build", "--network=host", "--build-arg", f"PYTHON_IMAGE={base}", "--target", target,
               "--tag", image, str(REPO_ROOT), env={"DOCKER_BUILDKIT": "1"}, timeout=BUILD_TIMEOUT)
        size = int(docker("image", "inspect", image, "--format", "{{.Size}}").stdout)
        report(request.config, f"built {target} in {time.monotonic() - start:.0f} s, {size / 2**20:.0f} MiB")
        built[target] = image
    yield built
    docker("image", "rm", "--force", *built.values(), check=False)


@pytest.fixture
def world_readable_weights() -> Iterator[Path]:
    """The shipped weights where the image's user (uid 10001) can read them."""
    root = Path(tempfile.mkdtemp(prefix="mnist-serve-image-weights-"))
    root.chmod(0o755)
    shutil.copytree(shipped_weights(), root / "weights")
    for path in [root / "weights", *(root / "weights").rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield root / "weights"
    shutil.rmtree(root)


@contextlib.contextmanager
def container(*args: str) -> Iterator[str]:
    """`docker run -d ARGS`; removed afterwards, whatever happened."""
    name = f"{TAG}-{time.monotonic_ns()}"
    try:
        docker("run", "--detach", "--name", name, *args, timeout=START_TIMEOUT)
        yield name
    finally:
        docker("rm", "--force", "--volumes", name, check=False, timeout=60)


@contextlib.contextmanager
def volume() -> Iterator[str]:
    name = f"{TAG}-state-{time.monotonic_ns()}"
    docker("volume", "create", name)
    try:
        yield name
    finally:
        docker("volume", "rm", "--force", name, check=False)


def inspect(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(docker("inspect", name).stdout)[0]
    return result


def wait_healthy(name: str) -> float:
    """Seconds from the container's start until Docker reports it healthy (its HEALTHCHECK)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        state = inspect(name)["State"]
        if state["Health"]["Status"] == "healthy":
            started = state["StartedAt"]
            return time.time() - _epoch(started)
        assert state["Running"], f"{name} stopped:\n{logs(name)}"
        time.sleep(0.5)
    raise AssertionError(f"{name} not healthy within {START_TIMEOUT} s:\n{logs(name)}")


def _epoch(timestamp: str) -> float:
    from datetime import datetime

    whole, _, fraction = timestamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(whole + "+00:00").timestamp() + float(f"0.{fraction or 0}")


def logs(name: str) -> str:
    result = docker("logs", name, check=False)
    return result.stdout + result.stderr


def process_uids(name: str) -> set[int]:
    rows = docker("top", name, "-o", "pid,uid").stdout.splitlines()[1:]
    return {int(row.split()[1]) for row in rows}


def compose_run_flags(weights: Path, state: str, port: int) -> list[str]:
    """The flags `docker compose up` gives the api service (read from docker-compose.yml), on the
    host's network at `port` instead of a published one."""
    api = compose()["services"]["api"]
    env = compose_environment(api) | {"MNIST_HOST": HOST, "MNIST_PORT": str(port), "MNIST_ADMIN_TOKEN": TOKEN}
    flags = ["--network", "host", "--stop-timeout", str(int(seconds(api["stop_grace_period"])))]
    flags += ["--read-only"] if api["read_only"] else []
    flags += ["--init"] if api["init"] else []
    flags += [f"--cap-drop={cap}" for cap in api["cap_drop"]]
    flags += [f"--security-opt={option}" for option in api["security_opt"]]
    flags += [f"--tmpfs={path}" for path in api["tmpfs"]]
    limits = api["deploy"]["resources"]["limits"]
    flags += ["--memory", limits["memory"].lower(), "--cpus", limits["cpus"]]
    for mount in api["volumes"]:
        if mount["type"] == "bind":
            assert (COMPOSE_FILE.parent / mount["source"]).resolve() == REPO_ROOT / "weights"
            flags.append(f"--mount=type=bind,source={weights},target={mount['target']}"
                         + (",readonly" if mount.get("read_only") else ""))
        else:
            flags.append(f"--mount=type=volume,source={state},target={mount['target']}")
    return flags + [f"--env={k}={v}" for k, v in env.items()]


def predict(client: httpx.Client, example: dict[str, Any]) -> int:
    response = client.post("/v1/predict", json={"pixels": example["pixels"]})
    assert response.status_code == 200, response.text
    digit: int = response.json()["digit"]
    return digit


def load(client: httpx.Client, model: str, version: int) -> httpx.Response:
    return client.post(f"/v2/repository/models/{model}/load", headers={"Authorization": f"Bearer {TOKEN}"},
                       json={"parameters": {"version": str(version), "rollout": "replace"}})


def test_runs_as_compose_runs_it_and_keeps_a_load_across_a_restart(
        images: dict[str, str], world_readable_weights: Path, example_digit: dict[str, Any],
        request: pytest.FixtureRequest) -> None:
    older = newest_shipped("mnist-mlp") - 1
    with volume() as state:
        port = free_port()
        with container(*compose_run_flags(world_readable_weights, state, port), images["runtime"]) as name, \
                httpx.Client(base_url=f"http://{HOST}:{port}", timeout=10, trust_env=False) as client:
            healthy_after = wait_healthy(name)
            report(request.config, f"healthy {healthy_after:.1f} s after the start")
            assert healthy_after < START_TIMEOUT
            assert predict(client, example_digit) == example_digit["label"]
            assert process_uids(name) == {10001}
            assert load(client, "mnist-mlp", older).status_code == 200
            docker("stop", name, timeout=60)
            assert inspect(name)["State"]["ExitCode"] == 0, logs(name)
        # a new container on the same volume, as `docker compose up -d` recreates one
        with container(*compose_run_flags(world_readable_weights, state, port), images["runtime"]) as name, \
                httpx.Client(base_url=f"http://{HOST}:{port}", timeout=10, trust_env=False) as client:
            wait_healthy(name)
            assert client.get("/v1/model", params={"model": "mnist-mlp"}).json()["version"] == older


def test_a_plain_docker_run_records_loads_and_stops_cleanly_with_a_stalled_client(
        images: dict[str, str]) -> None:
    port = free_port()
    env = {"MNIST_HOST": HOST, "MNIST_PORT": str(port), "MNIST_ADMIN_TOKEN": TOKEN}
    flags = ["--network", "host", *[f"--env={k}={v}" for k, v in env.items()]]
    with container(*flags, images["runtime"]) as name, \
            httpx.Client(base_url=f"http://{HOST}:{port}", timeout=10, trust_env=False) as client:
        wait_healthy(name)
        # the image's own record path is writable for its user: a repository load is recorded
        assert load(client, "mnist-mlp", newest_shipped("mnist-mlp")).status_code == 200
        assert "Permission denied" not in logs(name)
        # a client that sends half a request and stalls: the server waits for it, then gives up
        with socket.create_connection((HOST, port)) as stalled:
            stalled.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            b"Content-Length: 1000\r\n\r\n{\"pixels\": [")
            time.sleep(0.5)
            start = time.monotonic()
            docker("stop", name, timeout=60)  # Docker's default wait, as an operator's `docker stop`
            took = time.monotonic() - start
        state = inspect(name)["State"]
        assert state["ExitCode"] == 0, f"exit {state['ExitCode']} after {took:.1f} s:\n{logs(name)}"
        assert took < DOCKER_STOP_SECONDS


def test_runs_as_kserve_runs_it(images: dict[str, str], world_readable_weights: Path) -> None:
    spec = kserve.serving_container()
    security = spec["securityContext"]
    volumes = {v["name"]: v for v in kserve.runtime()["spec"]["volumes"]}
    flags = ["--network", "none", "--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges:true",
             "--user", f"{security['runAsUser']}:{security['runAsGroup']}",
             f"--mount=type=bind,source={world_readable_weights},target={kserve.MODEL_DIR},readonly"]
    for mount in spec["volumeMounts"]:
        assert "emptyDir" in volumes[mount["name"]]
        flags.append(f"--tmpfs={mount['mountPath']}:mode=1777")  # an emptyDir: empty, writable
    flags += [f"--env={k}={v}" for k, v in kserve.container_env().items()]
    with container(*flags, images["runtime"], *kserve.container_args()) as name:
        wait_healthy(name)  # the image's HEALTHCHECK, on KServe's port

        def inside(script: str) -> subprocess.CompletedProcess[str]:
            return docker("exec", name, "python", "-c", script, check=False)

        model = kserve.inference_service()["metadata"]["name"]
        ready = inside("import urllib.request; print(urllib.request.urlopen("
                       f"'http://127.0.0.1:{kserve.KSERVE_PORT}/v2/models/{model}/ready').status)")
        assert ready.stdout.strip() == "200", ready.stderr
        served = inside("import urllib.request; print(urllib.request.urlopen("
                        f"'http://127.0.0.1:{kserve.KSERVE_PORT}/v1/model').read().decode())")
        assert json.loads(served.stdout)["name"] == model, served.stderr
        write = inside(f"open('{kserve.MODEL_DIR}/x', 'w')")
        assert write.returncode != 0 and "Read-only file system" in write.stderr


def test_several_workers_without_tmp_on_a_read_only_root_exit_with_one_line(images: dict[str, str]) -> None:
    with container("--network", "none", "--read-only", "--env=MNIST_WORKERS=2", images["runtime"]) as name:
        code = int(docker("wait", name, timeout=START_TIMEOUT).stdout)
        output = logs(name)
    assert code == 2, output
    assert "Traceback" not in output
    assert [line for line in output.splitlines() if line.startswith("mnist-serve: 2 workers")], output


def test_training_without_mnist_says_what_to_do_in_one_line(images: dict[str, str], tmp_path: Path) -> None:
    train = compose()["services"]["train"]
    empty = Path(tempfile.mkdtemp(prefix="mnist-serve-no-mnist-"))
    try:
        empty.chmod(0o755)
        flags = ["--network", "none", "--user", train["user"], "--entrypoint", train["entrypoint"][0],
                 "--tmpfs=/app/weights:mode=1777",
                 f"--mount=type=bind,source={empty},target=/data/mnist,readonly"]
        with container(*flags, images["train"], *train["entrypoint"][1:], *train["command"]) as name:
            code = int(docker("wait", name, timeout=START_TIMEOUT).stdout)
            output = logs(name).strip()
    finally:
        empty.rmdir()
    assert code == 2, output
    # the mount is read-only: --download could not write there, so it is not offered
    assert output.startswith("error: MNIST not found in /data/mnist: the folder is not writable"), output
    assert len(output.splitlines()) == 1 and "--download" not in output


def compose_command(*args: str, project: str, env: dict[str, str] | None = None,
                    files: tuple[Path, ...] = (COMPOSE_FILE,)) -> subprocess.CompletedProcess[str]:
    file_flags = [flag for path in files for flag in ("--file", str(path))]
    return docker("compose", "--project-name", project, *file_flags, *args, env=env, cwd=REPO_ROOT,
                  timeout=START_TIMEOUT)


def test_docker_compose_v2_reads_the_file_and_serves(images: dict[str, str], tmp_path: Path,
                                                     example_digit: dict[str, Any]) -> None:
    version = docker("compose", "version", "--short", check=False)
    if version.returncode != 0 or not version.stdout.strip().lstrip("v").startswith("2."):
        problem = f"no Docker Compose v2 (`docker compose version`: {version.stdout}{version.stderr})"
        if REQUIRED:
            pytest.fail(f"MNIST_DOCKER_TESTS=required but {problem}")
        pytest.skip(problem)
    project = f"{TAG}-compose"
    env = {"MNIST_DATA_DIR": str(tmp_path)}
    profiles = ["--profile", "train", "--profile", "prometheus"]
    compose_command(*profiles, "config", "--quiet", project=project, env=env)
    # the api service as the file has it, on the host's network at a free port (no bridge here)
    port = free_port()
    override = tmp_path / "compose.override.yml"
    api = {"image": images["runtime"], "network_mode": "host", "ports": [],
           "environment": {"MNIST_HOST": HOST, "MNIST_PORT": str(port)}}
    override.write_text(yaml.safe_dump({"services": {"api": api}}).replace("ports: []", "ports: !reset []"))
    files = (COMPOSE_FILE, override)
    try:
        compose_command("up", "--detach", "--no-build", "--wait", "api", project=project, env=env,
                        files=files)
        with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=10, trust_env=False) as client:
            assert predict(client, example_digit) == example_digit["label"]
    finally:
        compose_command("down", "--volumes", "--timeout", "30", project=project, env=env, files=files)
