"""The Dockerfile and its build context, checked against the project they package."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pytest

from service.cli import parse_args
from service.config import Settings
from tests.deploy.deploy_files import (
    DOCKER_STOP_SECONDS,
    DOCKERFILE,
    ENV_PREFIX,
    EXIT_MARGIN_SECONDS,
    LIBRARY_ENV,
    PYPROJECT,
    REPO_ROOT,
    build_context,
    copy_destination,
    copy_sources,
    dockerfile_stages,
    final_stage,
    healthcheck_command,
    healthcheck_options,
    install_step,
    pip_install,
    requirement_files,
    seconds,
    served_at_start,
    served_get_paths,
    settings_env_names,
    stage_named,
)


def test_default_target_is_the_slim_runtime_stage() -> None:
    stages = dockerfile_stages()
    assert [s.name for s in stages] == ["builder", "train", "runtime"]
    runtime = final_stage()
    # the tag, and the digest that fixes what it means
    assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", runtime.base), runtime.base
    assert {stage.base for stage in stages} == {runtime.base}
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"


def test_builds_with_the_engines_own_frontend() -> None:
    # A `# syntax=` directive makes every build pull a frontend image: offline builders fail.
    head = DOCKERFILE.read_text().split("\nFROM", 1)[0]
    assert not re.search(r"^#\s*syntax\s*=", head, re.MULTILINE | re.IGNORECASE)
    # RUN --mount needs BuildKit, which Docker 20.10 uses only when asked: the README says how
    assert "DOCKER_BUILDKIT=1 docker build" in (REPO_ROOT / "README.md").read_text()


def test_the_wheel_is_built_with_the_pinned_build_backend_only() -> None:
    builder = stage_named("builder")
    assert requirement_files(builder) == ["requirements/build.txt"]
    assert "--require-hashes" in install_step(builder).commands[0]
    (wheel,) = [run for run in builder.values("RUN") if "pip wheel" in run]
    # without build isolation pip would fetch setuptools and wheel again, unpinned
    assert "--no-build-isolation" in wheel.split() and "--no-deps" in wheel.split()


def test_runtime_installs_the_wheel_without_extras_or_build_tools() -> None:
    _, extras = pip_install(final_stage())
    assert extras == set(), "training/plotting/test extras must stay out of the serving image"
    text = " ".join(final_stage().values("RUN"))
    for tool in ("apt-get", "gcc", "build-essential", "python -m build"):
        assert tool not in text
    # The wheel comes from the builder stage through a bind mount, so no copy of it stays behind.
    assert "--mount=type=bind,from=builder" in text
    assert not [s for s in copy_sources(final_stage()) if "wheel" in s]


def test_train_stage_installs_the_train_extra_and_runs_mnist_train() -> None:
    train = stage_named("train")
    _, extras = pip_install(train)
    assert extras == {"train"}
    assert "train" in PYPROJECT["project"]["optional-dependencies"]
    entrypoint = train.exec_form("ENTRYPOINT")
    assert entrypoint is not None and entrypoint[0] in PYPROJECT["project"]["scripts"]


def test_runs_as_a_non_root_user() -> None:
    user = final_stage().user()
    assert user is not None
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, "numeric, so Kubernetes' runAsNonRoot can verify it"
    assert gid.isdigit() and int(gid) != 0
    assert f"--uid {uid}" in " ".join(final_stage().values("RUN"))


def test_the_entrypoint_is_mnist_serve_so_arguments_are_its_flags() -> None:
    # `docker run IMAGE --model mnist-mlp` and Kubernetes `args:` pass flags, not a program
    runtime = final_stage()
    assert runtime.exec_form("ENTRYPOINT") == ["mnist-serve"]
    assert runtime.exec_form("CMD") == []
    assert PYPROJECT["project"]["scripts"]["mnist-serve"] == "service.cli:main"
    parse_args(["--model", "mnist-mlp"])  # exits on a flag it does not know


def test_the_served_versions_record_is_writable_by_the_image_user() -> None:
    # Without it a plain `docker run` cannot record a repository load (the weights may be read-only)
    runtime = final_stage()
    state = PurePosixPath(runtime.env["MNIST_STATE_PATH"])
    uid, _, gid = (runtime.user() or "").partition(":")
    assert any(f"install -d -o {uid} -g {gid} {state.parent}" in run for run in runtime.values("RUN"))
    assert not state.is_relative_to(runtime.env["MNIST_WEIGHTS_DIR"])


def test_a_plain_docker_stop_leaves_time_for_the_graceful_shutdown() -> None:
    settings = Settings(shutdown_timeout_seconds=final_stage().env["MNIST_SHUTDOWN_TIMEOUT_SECONDS"])
    assert settings.shutdown_timeout_seconds + EXIT_MARGIN_SECONDS <= DOCKER_STOP_SECONDS


def test_env_names_are_settings_and_values_valid() -> None:
    env = final_stage().env
    unknown = {k for k in env if k not in settings_env_names() and k not in LIBRARY_ENV}
    assert not unknown, f"not Settings fields (service/config.py): {unknown}"
    settings = Settings(**{k.removeprefix(ENV_PREFIX).lower(): v for k, v in env.items()
                           if k.startswith(ENV_PREFIX)})
    assert settings.host == "0.0.0.0", "reachable from outside the container"


def test_port_matches_settings_and_expose() -> None:
    runtime = final_stage()
    port = int(runtime.env["MNIST_PORT"])
    assert port == Settings.model_fields["port"].default
    grpc = int(runtime.env.get("MNIST_GRPC_PORT", Settings.model_fields["grpc_port"].default))
    assert runtime.values("EXPOSE") == [f"{port} {grpc}"]


def test_weights_are_copied_to_the_configured_weights_dir() -> None:
    runtime = final_stage()
    assert copy_destination(runtime, "weights") == runtime.env["MNIST_WEIGHTS_DIR"]
    # With no MNIST_MODEL the image serves the best shipped model: there must be one.
    assert "MNIST_MODEL" not in runtime.env
    assert served_at_start(Settings(), REPO_ROOT / "weights")


def test_healthcheck_asks_a_served_readiness_path_with_python() -> None:
    command = healthcheck_command(final_stage())
    assert command[0] == "python", "the image has python, not curl"
    assert "/health/ready" in command[-1]
    assert "/health/ready" in served_get_paths()


def test_healthcheck_reports_healthy_within_seconds_of_ready() -> None:
    # ready a few seconds after the start; the first check runs one interval after it
    options = healthcheck_options(final_stage())
    assert seconds(options["interval"]) <= 5
    assert seconds(options["timeout"]) < seconds(options["interval"])


def test_build_context_has_what_the_dockerfile_copies_and_nothing_else() -> None:
    context = build_context()
    for stage in dockerfile_stages():
        for source in copy_sources(stage):
            assert source in context, f"COPY {source}: excluded by .dockerignore or missing"
        for source in requirement_files(stage):
            assert source in context, f"RUN --mount {source}: excluded by .dockerignore or missing"
    shipped = sorted(p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "weights").glob("*/*.npz"))
    assert shipped and set(shipped) <= context
    never = {".venv", ".git", "data", "tests", "logs", "notebooks", ".pytest_cache", ".mypy_cache",
             ".ruff_cache"}
    kept_out = [p for p in context if p.split("/")[0] in never
                or "__pycache__" in p or p.endswith("-report") or "-report/" in p]
    assert not kept_out


def test_dockerignore_keeps_out_a_local_venv_data_and_reports(tmp_path: Path) -> None:
    # The repo may not have these right now; a context that has them must still leave them out.
    for name in (".venv/bin/python", "data/mnist/train-images-idx3-ubyte.gz", "weights/m/1-report/a.png",
                 "weights/m/1.npz", "service/__pycache__/x.pyc", "logs/x.log", "notebooks/a.ipynb",
                 "Dockerfile", ".dockerignore"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    context = build_context(tmp_path)
    assert {"weights/m/1.npz", "Dockerfile"} <= context
    assert not [p for p in context if p.startswith((".venv", "data", "logs", "notebooks"))
                or "report" in p or "pycache" in p]


@pytest.mark.parametrize("stage", ["train", "runtime"])
def test_no_pip_cache_left(stage: str) -> None:
    installs = [c for c in install_step(stage_named(stage)).commands if c[:2] == ["pip", "install"]]
    assert installs and all("--no-cache-dir" in command for command in installs)
