"""Image rehearsal, since no Docker engine runs here: do what `docker build` and `docker compose up`
would do, as far as a plain Linux machine can, and serve from the result.

The build context (after .dockerignore) is copied, the builder stage's COPYs and `pip wheel` build
the wheel, a fresh venv stands for the runtime image's Python and gets the runtime stage's pip
commands run in it as written (the hash-pinned requirements file from the copied context, the
wheel alone, `pip check`), the runtime stage's COPYs lay the weights out under a
stand-in image root. The server then runs with the Dockerfile's CMD and its ENV overlaid with the
compose api environment (defaults), from the image's WORKDIR, as a user that cannot write to the
install; only the host, the port and the image-root prefix of the weights path are changed.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from testkit.server import HOST, free_port, running_command
from tests.deploy.deploy_files import (
    PYPROJECT,
    InstallStep,
    apply_copies,
    compose,
    compose_environment,
    copy_build_context,
    final_stage,
    healthcheck_command,
    in_image,
    install_step,
    stage_named,
)
from training.data import Mnist

pytestmark = [pytest.mark.slow, pytest.mark.mnist]

N_DIGITS = 10
PIP_TIMEOUT = 300


@pytest.fixture
def image_root() -> Iterator[Path]:
    """A world-readable scratch folder (pytest's tmp_path is private to root, so `nobody` cannot enter)."""
    root = Path(tempfile.mkdtemp(prefix="mnist-serve-image-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        for path in [root, *root.rglob("*")]:  # the non-root fallback made it read-only
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(root)


def as_unprivileged(command: list[str]) -> list[str]:
    """As root: run as `nobody`, who owns nothing here. Otherwise the install is made read-only."""
    if os.geteuid() == 0:
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
    return command


def run(command: list[str], env: dict[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT, env=env, cwd=cwd)


def build_wheel(context: Path, image: Path) -> Path:
    """The builder stage: its build backend installed as its install step says (into a venv standing
    for the stage's Python), its COPYs, then its `pip wheel` RUN with image paths mapped under `image`."""
    builder = stage_named("builder")
    step = install_step(builder)
    venv = image / "venv"
    assert run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    for command in step.commands:
        args = [on_host(step, word, context, image) for word in command[1:]]
        result = run([str(venv / "bin" / "pip"), *args, "--quiet"])
        assert result.returncode == 0, f"pip {' '.join(args)}:\n{result.stdout}{result.stderr}"
    apply_copies(builder, context, image)
    (command,) = [value for value in builder.values("RUN") if "pip wheel" in value]
    words = shlex.split(command)
    assert words[:2] == ["pip", "wheel"], command
    args = [str(in_image(image, builder.workdir())) if w == "." else
            str(in_image(image, w)) if w.startswith("/") else w for w in words[2:]]
    result = run([str(venv / "bin" / "pip"), "wheel", "--quiet", *args])
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = Path(args[args.index("--wheel-dir") + 1]).glob("mnist_serve-*.whl")
    return wheel


def on_host(step: InstallStep, word: str, context: Path, builder: Path) -> str:
    """An install command's word with its image path (in a bind mount) mapped to where that file is
    here: the build context, or the builder stage's root; globs and `$(ls ...)` expanded as the shell does."""
    listed = re.fullmatch(r"\$\(ls (\S+)\)(.*)", word)
    path, suffix = (listed.group(1), listed.group(2)) if listed else (word, "")
    if not path.startswith("/"):
        return word
    mount = step.mount_for(path)
    assert mount.get("from", "builder") == "builder", mount
    base = in_image(builder, mount["source"]) if "from" in mount else context / mount["source"]
    host = str(base) + path.removeprefix(mount["target"])
    if "*" in host:
        (host,) = glob.glob(host)
    return host + suffix


def install_runtime(context: Path, builder: Path, venv: Path) -> None:
    """The runtime stage's install step, command by command with the same options (the hash-pinned
    requirements file, then the wheel alone, then `pip check`), into a fresh venv."""
    step = install_step(final_stage())
    result = run([sys.executable, "-m", "venv", str(venv)])
    assert result.returncode == 0, result.stderr
    for command in step.commands:
        args = [on_host(step, word, context, builder) for word in command[1:]]
        result = run([str(venv / "bin" / "pip"), *args, *(["--quiet"] if args[0] == "install" else [])])
        assert result.returncode == 0, f"pip {' '.join(args)}:\n{result.stdout}{result.stderr}"


def installed(venv: Path) -> set[str]:
    listing = run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"])
    assert listing.returncode == 0, listing.stderr
    return {canonicalize_name(p["name"]) for p in json.loads(listing.stdout)}


def not_for_serving() -> set[str]:
    """The distributions the train and dev extras add (tqdm, matplotlib, pytest, ...)."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    return {canonicalize_name(Requirement(r).name) for r in extras["train"] + extras["dev"]} - {"mnist-serve"}


def test_image_rehearsal_serves_a_real_digit_and_stops_cleanly(mnist: Mnist, image_root: Path,
                                                               tmp_path: Path) -> None:
    runtime = final_stage()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert python in runtime.base, f"rehearse with the image's Python, not {python}"
    context, image, venv = image_root / "context", image_root / "image", image_root / "image" / "venv"
    copy_build_context(context)
    build_wheel(context, image_root / "builder")
    install_runtime(context, image_root / "builder", venv)
    apply_copies(runtime, context, image)

    packages = installed(venv)
    assert {"fastapi", "numpy", "uvicorn", "httptools", "uvloop"} <= packages
    assert not packages & not_for_serving(), "training or test packages in the serving install"

    # The server: the Dockerfile's ENV, then compose's api environment, as `docker compose up` sets them.
    env = {**runtime.env, **compose_environment(compose()["services"]["api"])}
    port = free_port()
    env |= {"MNIST_HOST": HOST, "MNIST_PORT": str(port),
            "MNIST_WEIGHTS_DIR": str(in_image(image, runtime.env["MNIST_WEIGHTS_DIR"])),
            "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent"}
    # This machine's OpenBLAS settings (see the environment notes) are kept: NumPy needs them here.
    env |= {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}
    if os.geteuid() != 0:
        for path in [image, *image.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & ~0o222)
    workdir = in_image(image, runtime.workdir())
    probe = run(as_unprivileged(["python", "-c", f"open({str(venv / 'probe')!r}, 'w')"]), env=env)
    assert probe.returncode != 0 and "PermissionError" in probe.stderr, "the install must not be writable"

    command = runtime.command()
    with running_command(as_unprivileged(command), port=port, env=env, cwd=workdir, timeout=60,
                         log_dir=tmp_path) as server, \
            httpx.Client(base_url=server.base_url, timeout=10, trust_env=False) as client:
        if os.geteuid() == 0:
            assert Path(f"/proc/{server.process.pid}").stat().st_uid == pwd.getpwnam("nobody").pw_uid
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["model"]["name"] == env["MNIST_MODEL"]

        # The Dockerfile's and compose's health checks, run as the container would run them.
        for check in (healthcheck_command(runtime),
                      compose()["services"]["api"]["healthcheck"]["test"][1:]):
            result = run(as_unprivileged(check), env=env, cwd=workdir)
            assert result.returncode == 0, result.stderr

        digits = zip(mnist.test_images[:N_DIGITS], mnist.test_labels[:N_DIGITS], strict=True)
        for pixels, label in digits:
            response = client.post("/v1/predict", json={"pixels": pixels.tolist()})
            assert response.status_code == 200, response.text
            assert response.json()["digit"] == int(label)
        code = server.stop()
        log = server.log_text()
    assert code == 0, f"exit code {code} after SIGTERM ({signal.SIGTERM!r}); log:\n{log}"
    assert "Traceback" not in log, log
    assert "httptools on uvloop" in log, "the image must serve with uvicorn's C parser and loop"
