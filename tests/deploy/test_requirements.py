"""requirements/*.txt, the hash-pinned installs of the image, checked against pyproject.toml and the
Dockerfile that reads them, so a raised floor or a new dependency cannot leave them behind."""

from __future__ import annotations

import re

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.deploy.deploy_files import (
    PYPROJECT,
    REPO_ROOT,
    build_context,
    final_stage,
    install_step,
    requirement_files,
    stage_named,
)

RUNTIME = "requirements/runtime.txt"
TRAIN = "requirements/train.txt"
BUILD = "requirements/build.txt"  # the builder stage's build backend
# The image's interpreter and platform (python:3.11-slim), for the markers in pyproject.toml
IMAGE_MARKERS = {"python_version": "3.11", "python_full_version": "3.11.0", "sys_platform": "linux",
                 "platform_system": "Linux", "os_name": "posix", "implementation_name": "cpython",
                 "platform_python_implementation": "CPython", "platform_machine": "x86_64"}


def pins(path: str) -> dict[str, tuple[Version, list[str]]]:
    """{canonical name: (pinned version, hashes)} of a pip-compile output file."""
    text = re.sub(r"\s*\\\n\s*", " ", (REPO_ROOT / path).read_text())
    found: dict[str, tuple[Version, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *hashes = line.split(" --hash=")
        requirement = Requirement(spec)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{path}: {spec} is not pinned"
        found[canonicalize_name(requirement.name)] = (Version(specifier.version), hashes)
    return found


def required(extra: str | None = None) -> list[Requirement]:
    """pyproject's runtime dependencies (or one extra's) that apply in the image."""
    project = PYPROJECT["project"]
    listed = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [r for r in map(Requirement, listed) if r.marker is None or r.marker.evaluate(IMAGE_MARKERS)]


@pytest.mark.parametrize(("path", "extra"), [(RUNTIME, None), (TRAIN, None), (TRAIN, "train")])
def test_every_dependency_is_pinned_within_its_floor(path: str, extra: str | None) -> None:
    pinned = pins(path)
    for requirement in required(extra):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{path} does not pin {requirement} (make lock)"
        assert requirement.specifier.contains(pinned[name][0], prereleases=True), \
            f"{path} pins {name}=={pinned[name][0]}, outside {requirement} (make lock)"


def test_the_build_backend_is_pinned_within_pyprojects_build_requirements() -> None:
    pinned = pins(BUILD)
    for requirement in map(Requirement, PYPROJECT["build-system"]["requires"]):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{BUILD} does not pin {requirement} (make lock)"
        assert requirement.specifier.contains(pinned[name][0]), f"{BUILD}: {name} outside {requirement}"
    assert BUILD in build_context()


@pytest.mark.parametrize("path", [RUNTIME, TRAIN, BUILD])
def test_every_pin_carries_hashes(path: str) -> None:
    for name, (_, hashes) in pins(path).items():
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name


def test_the_training_image_runs_the_serving_versions() -> None:
    runtime, train = pins(RUNTIME), pins(TRAIN)
    assert {name: version for name, (version, _) in runtime.items()} == \
        {name: train[name][0] for name in runtime if name in train}
    assert set(runtime) <= set(train)


def test_the_serving_lock_has_no_training_or_test_packages() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    others = {canonicalize_name(Requirement(r).name)
              for r in extras["train"] + extras["dev"] + extras["client"]}
    assert not set(pins(RUNTIME)) & (others - {"mnist-serve"})


@pytest.mark.parametrize(("stage", "path"), [("runtime", RUNTIME), ("train", TRAIN)])
def test_each_image_stage_installs_from_its_lock_with_hashes(stage: str, path: str) -> None:
    image_stage = final_stage() if stage == "runtime" else stage_named(stage)
    assert requirement_files(image_stage) == [path]
    commands = install_step(image_stage).commands
    assert "--require-hashes" in commands[0]
    # the wheel itself brings nothing along, and pip check proves the lock was complete
    assert {"--no-deps", "--no-index"} <= set(commands[1]) and commands[-1] == ["pip", "check"]
    assert path in build_context(), f"{path} is left out of the build context (.dockerignore)"


@pytest.mark.parametrize("path", [RUNTIME, TRAIN, BUILD])
def test_the_lock_says_how_to_regenerate_it(path: str) -> None:
    assert "#    make lock" in (REPO_ROOT / path).read_text()
    assert re.search(r"^lock:", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE)
