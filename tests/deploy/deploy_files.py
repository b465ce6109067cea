"""The deployment files read the way Docker, compose and kustomize read them, for the deploy tests.

- `dockerfile_stages()`: the Dockerfile's stages (dockerfile-parse), each with its base image,
  instructions and environment.
- `build_context()`: the files `docker build .` sends, after `.dockerignore` (docker-py's matcher).
- `interpolate()`: compose's `${VAR}` / `${VAR:-default}` substitution.
- `render_kustomization()`: the objects `kubectl apply -k deploy/kubernetes` creates (resources,
  generated ConfigMaps, image tags, labels; without kustomize's name hash suffix).
"""

from __future__ import annotations

import itertools
import json
import posixpath
import re
import shlex
import shutil
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from docker.utils.build import exclude_paths
from dockerfile_parse import DockerfileParser

from service.config import Settings
from service.main import create_app
from service.models.lifecycle import plan_start
from service.models.repository import available_models

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
K8S_DIR = REPO_ROOT / "deploy" / "kubernetes"
KUSTOMIZATION = K8S_DIR / "kustomization.yaml"
PYPROJECT: dict[str, Any] = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
PROJECT_VERSION: str = PYPROJECT["project"]["version"]  # the image tag the files use
ENV_PREFIX = "MNIST_"
# Variables read by libraries, not by Settings, that the deployment files may set.
LIBRARY_ENV = {"OPENBLAS_NUM_THREADS", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "MPLCONFIGDIR"}
# What a stopping server needs after its shutdown budget: closing, the exit, the runtime seeing it.
EXIT_MARGIN_SECONDS = 2
DOCKER_STOP_SECONDS = 10  # `docker stop`'s default wait before SIGKILL


@dataclass
class Stage:
    name: str | None
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, value)
    env: dict[str, str] = field(default_factory=dict)  # ENV in force at the end of the stage

    def values(self, instruction: str) -> list[str]:
        return [value for name, value in self.instructions if name == instruction]

    def last(self, instruction: str) -> str | None:
        found = self.values(instruction)
        return found[-1] if found else None

    def exec_form(self, instruction: str) -> list[str] | None:
        """CMD/ENTRYPOINT as a list; AssertionError if it is in shell form."""
        value = self.last(instruction)
        if value is None:
            return None
        parsed = json.loads(value)
        assert isinstance(parsed, list), f"{instruction} is not in exec form: {value}"
        return [str(part) for part in parsed]

    def command(self) -> list[str]:
        """What a container of the stage runs with no arguments: ENTRYPOINT, then CMD."""
        return (self.exec_form("ENTRYPOINT") or []) + (self.exec_form("CMD") or [])

    def workdir(self) -> str:
        return self.last("WORKDIR") or "/"

    def user(self) -> str | None:
        return self.last("USER")


def dockerfile_stages(path: Path = DOCKERFILE) -> list[Stage]:
    parser = DockerfileParser(path=str(path))
    bases = iter(parser.parent_images)  # with build-arg defaults substituted
    stages: list[Stage] = []
    for item, context in zip(parser.structure, parser.context_structure, strict=True):
        instruction, value = item["instruction"], item["value"]
        if instruction == "FROM":
            words = value.split()
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else None
            stages.append(Stage(name=name, base=next(bases)))
        elif stages and instruction != "COMMENT":
            stages[-1].instructions.append((instruction, value))
            stages[-1].env = dict(context.envs)
    return stages


def stage_named(name: str, path: Path = DOCKERFILE) -> Stage:
    for stage in dockerfile_stages(path):
        if stage.name == name:
            return stage
    raise AssertionError(f"{path} has no stage {name!r}")


def final_stage(path: Path = DOCKERFILE) -> Stage:
    """What `docker build .` produces (no --target): the last stage."""
    return dockerfile_stages(path)[-1]


def healthcheck_command(stage: Stage) -> list[str]:
    """The HEALTHCHECK's CMD, which must be in exec form."""
    value = stage.last("HEALTHCHECK")
    assert value is not None, "no HEALTHCHECK"
    _options, _, command = value.partition("CMD ")
    parsed = json.loads(command)
    assert isinstance(parsed, list), f"HEALTHCHECK CMD is not in exec form: {command}"
    return [str(part) for part in parsed]


def healthcheck_options(stage: Stage) -> dict[str, str]:
    """The HEALTHCHECK's --options, e.g. {"interval": "5s"}."""
    value = stage.last("HEALTHCHECK")
    assert value is not None, "no HEALTHCHECK"
    options, _, _command = value.partition("CMD ")
    return dict(word.removeprefix("--").split("=", 1) for word in options.split())


def seconds(duration: str) -> float:
    """A Docker/compose duration such as `5s`, `1m30s` or `500ms`, in seconds."""
    parts = re.findall(r"([0-9.]+)(ms|s|m|h)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    return sum(float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u] for n, u in parts)


@dataclass
class InstallStep:
    """The stage's one RUN that installs with pip: its bind mounts and its `pip ...` commands."""
    mounts: list[dict[str, str]]  # each --mount=type=bind's fields (target, source, from)
    commands: list[list[str]]  # the words of each `pip ...` command, in order

    def mount_for(self, path: str) -> dict[str, str]:
        """The bind mount an image path lies in."""
        for mount in self.mounts:
            if path == mount["target"] or path.startswith(mount["target"].rstrip("/") + "/"):
                return mount
        raise AssertionError(f"{path} is in no bind mount of the install step")


def install_step(stage: Stage) -> InstallStep:
    runs = [value for value in stage.values("RUN") if "pip install" in value]
    if stage.name == "builder":  # its build backend; the wheel is built by another RUN
        runs = [value for value in runs if "pip wheel" not in value]
    assert len(runs) == 1, f"stage {stage.name}: expected one RUN with pip install, got {runs}"
    words = shlex.split(runs[0])
    mounts = []
    while words and words[0].startswith("--mount="):
        fields = dict(item.split("=", 1) for item in words.pop(0).removeprefix("--mount=").split(","))
        assert fields.get("type") == "bind", f"only bind mounts are rehearsed: {fields}"
        mounts.append(fields)
    commands: list[list[str]] = [[]]
    for word in words:
        if word == "&&":
            commands.append([])
        else:
            commands[-1].append(word)
    return InstallStep(mounts, [command for command in commands if command[:1] == ["pip"]])


def requirement_files(stage: Stage) -> list[str]:
    """The build-context paths of the files the stage's `pip install -r` reads (bind-mounted)."""
    step = install_step(stage)
    files = []
    for command in step.commands:
        for flag, value in itertools.pairwise(command):
            if flag in ("-r", "--requirement"):
                mount = step.mount_for(value)
                assert "from" not in mount, f"{value}: from the build context, not another stage"
                files.append(mount["source"])
    return files


def pip_install(stage: Stage) -> tuple[list[str], set[str]]:
    """(pip install options, extras of the project wheel) of the command that installs the wheel."""
    for command in install_step(stage).commands:
        wheel = next((w for w in command if re.search(r"mnist_serve-[^\s\"']*\.whl", w)), None)
        if command[:2] == ["pip", "install"] and wheel is not None:
            extras = re.search(r"\.whl\)?\[([^\]]*)\]$", wheel)
            names = {e.strip() for e in (extras.group(1) if extras else "").split(",") if e.strip()}
            return [word for word in command if word.startswith("--")], names
    raise AssertionError(f"stage {stage.name} does not install the project wheel")


def copies(stage: Stage) -> Iterator[tuple[list[str], str]]:
    """(sources, absolute destination) of each `COPY` of the stage, with the WORKDIR then in force."""
    workdir = "/"
    for instruction, value in stage.instructions:
        if instruction == "WORKDIR":
            workdir = posixpath.join(workdir, value)
        elif instruction == "COPY":
            assert "--" not in value, f"COPY options are not rehearsed here: {value}"
            *sources, dest = value.split()
            absolute = posixpath.join(workdir, dest)
            yield [s.rstrip("/") for s in sources], absolute + ("/" if dest.endswith("/") else "")


def copy_sources(stage: Stage) -> list[str]:
    return [source for sources, _ in copies(stage) for source in sources]


def copy_destination(stage: Stage, source: str) -> str:
    """Absolute path in the image where `COPY <source> <dest>` puts a folder `source`."""
    for sources, dest in copies(stage):
        if source in sources:
            return dest.rstrip("/")
    raise AssertionError(f"stage {stage.name} does not COPY {source}")


def in_image(image: Path, path: str) -> Path:
    """Where the image path `path` is when `image` stands for the image's root."""
    return image / path.lstrip("/")


def apply_copies(stage: Stage, context: Path, image: Path) -> None:
    """Carry out the stage's COPY instructions from the build context `context` into `image`."""
    for sources, dest in copies(stage):
        target = in_image(image, dest)
        for source in sources:
            path = context / source
            if path.is_dir():
                shutil.copytree(path, target, dirs_exist_ok=True)
            elif dest.endswith("/") or len(sources) > 1:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / path.name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def build_context(root: Path = REPO_ROOT) -> set[str]:
    """Paths (files and folders, relative, `/`-separated) in the build context of `root`."""
    return set(exclude_paths(str(root), dockerignore_patterns(), dockerfile="Dockerfile"))


def copy_build_context(destination: Path, root: Path = REPO_ROOT) -> None:
    """The files `docker build` would send, copied to `destination`."""
    for relative in sorted(build_context(root)):
        source = root / relative
        if source.is_file():
            (destination / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / relative)


_VARIABLE = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?-)?(?P<default>[^}]*)\}"
                       r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's interpolation of `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$VAR` and `$$`."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, default = match.group("op"), match.group("default") or ""
        assert op or not default, f"unsupported interpolation {match.group(0)!r}"
        if op == ":-":
            return env.get(name) or default
        if op == "-":
            return env.get(name, default)
        return env.get(name, "")

    return _VARIABLE.sub(substitute, value)


def compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """docker-compose.yml with `env` (default: none set, so every default) interpolated."""
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    result: dict[str, Any] = interpolate(loaded, env or {})
    return result


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def mebibytes(quantity: str) -> float:
    """A memory size as Kubernetes (`768Mi`, `1Gi`) or compose (`768M`, `1G`: binary there) write it."""
    number, unit = re.fullmatch(r"([0-9.]+)\s*([KMG]?)i?[Bb]?", quantity).groups()  # type: ignore[union-attr]
    return float(number) * {"": 2**-20, "K": 2**-10, "M": 1, "G": 2**10}[unit]


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def kustomization() -> dict[str, Any]:
    loaded = yaml.safe_load(KUSTOMIZATION.read_text())
    assert isinstance(loaded, dict)
    return loaded


def generated_configmaps(kust: dict[str, Any]) -> list[dict[str, Any]]:
    maps = []
    for generator in kust.get("configMapGenerator", []):
        assert set(generator) <= {"name", "literals"}, f"unsupported generator fields: {generator}"
        data = dict(literal.split("=", 1) for literal in generator.get("literals", []))
        maps.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]},
                     "data": data})
    return maps


def render_kustomization() -> list[dict[str, Any]]:
    """The objects the kustomization creates (the fields it uses; others fail the assertion)."""
    kust = kustomization()
    supported = {"apiVersion", "kind", "labels", "resources", "configMapGenerator", "images"}
    assert set(kust) <= supported, f"kustomization fields not rendered here: {set(kust) - supported}"
    objects = [doc for name in kust["resources"] for doc in load_yaml_documents(K8S_DIR / name)]
    objects += generated_configmaps(kust)
    images = {image["name"]: image for image in kust.get("images", [])}
    for obj in objects:
        for group in kust.get("labels", []):
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(group["pairs"])
        for container in pod_spec(obj).get("containers", []):
            image = images.get(container["image"])
            if image:
                container["image"] = f"{image.get('newName', container['image'])}:{image['newTag']}"
    return objects


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj.get("spec", {}).get("template", {}).get("spec", {})
    return spec


def objects_of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj.get("kind") == kind]


def served_get_paths() -> set[str]:
    """GET paths the real app serves (default settings, no model loaded), from its OpenAPI schema."""
    paths: dict[str, dict[str, Any]] = create_app(Settings(), load=False).openapi()["paths"]
    return {path for path, operations in paths.items() if "get" in operations}


def settings_env_names() -> set[str]:
    return {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def default_port() -> int:
    default = Settings.model_fields["port"].default
    assert isinstance(default, int)
    return default


def served_at_start(settings: Settings, weights: Path) -> dict[str, int | None]:
    """{model: version} that start-up serves from `weights` with these settings, as the service
    decides it (service/models/lifecycle.py); LifecycleError if the configured model or version
    is not there."""
    pinned = int(settings.version) if settings.model and settings.version != "latest" else None
    state = plan_start(available_models(weights), None, settings.model, pinned)
    return {name: served.version for name, served in state.items()}
