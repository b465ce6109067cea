"""The Dockerfile and its build context, checked against the project they package."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import Settings
from tests.deploy.deploy_files import (
    ENV_PREFIX,
    LIBRARY_ENV,
    PYPROJECT,
    REPO_ROOT,
    build_context,
    copy_destination,
    copy_sources,
    dockerfile_stages,
    final_stage,
    healthcheck_command,
    install_step,
    pip_install,
    requirement_files,
    served_at_start,
    served_get_paths,
    settings_env_names,
    stage_named,
)


def test_default_target_is_the_slim_runtime_stage() -> None:
    stages = dockerfile_stages()
    assert [s.name for s in stages] == ["builder", "train", "runtime"]
    runtime = final_stage()
    assert runtime.base == "python:3.11-slim"
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"


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


def test_cmd_is_the_exec_form_mnist_serve_script() -> None:
    runtime = final_stage()
    assert runtime.exec_form("ENTRYPOINT") is None
    assert runtime.exec_form("CMD") == ["mnist-serve"]
    assert PYPROJECT["project"]["scripts"]["mnist-serve"] == "service.cli:main"


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
    assert runtime.values("EXPOSE") == [str(port)]


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


def test_build_context_has_what_the_dockerfile_copies_and_nothing_else() -> None:
    context = build_context()
    for stage in dockerfile_stages():
        for source in copy_sources(stage):
            assert source in context, f"COPY {source}: excluded by .dockerignore or missing"
        for source in requirement_files(stage) if stage.name != "builder" else []:
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
