"""A Docker engine for the image tests, and a stand-in for `python:3.11-slim` built without a registry.

There is no image registry here, so the base image the Dockerfile's `PYTHON_IMAGE` build argument
takes is made from Debian's packages: `debootstrap --variant=minbase bookworm` with Python 3.11 and
python3-venv, a venv whose `python`/`pip` come first on PATH (as python:3.11-slim's do), the CA
certificates (here they include the one of the network's TLS proxy, which may change between
sessions), then `docker import`. The root file tree is kept as a tarball under CACHE_DIR, keyed by
its recipe, so a later run imports it in seconds instead of bootstrapping again (minutes); the
certificates are added on top, in a layer of their own.

`engine_problem()` says why no engine can be used (None when one answers); the tests skip with it,
or fail where MNIST_DOCKER_TESTS=required (.ci/run starts dockerd and sets it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

REQUIRED = os.environ.get("MNIST_DOCKER_TESTS") == "required"
CACHE_DIR = Path(os.environ.get("MNIST_IMAGE_CACHE", "/var/cache/mnist-serve"))
# Debian's docker.io client (20.10): its `docker build` has BuildKit built in. A newer client
# elsewhere on PATH may need the buildx plugin for the same build.
DOCKER = next((c for c in ("/usr/bin/docker", shutil.which("docker")) if c and Path(c).is_file()), "docker")
MIRROR = os.environ.get("MNIST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
VENV = "/opt/venv"
BASE_RECIPE = {
    "suite": "bookworm",
    "variant": "minbase",
    "include": ["python3", "python3-venv", "ca-certificates"],
    "venv": VENV,
    "env": {"PATH": f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8"},
    "cmd": ["python"],
}
BASE_KEY = hashlib.sha256(json.dumps(BASE_RECIPE, sort_keys=True).encode()).hexdigest()[:12]
RAW_IMAGE = f"mnist-serve-test-base-raw:{BASE_KEY}"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BOOTSTRAP_TIMEOUT = 1200


def docker(*args: str, timeout: float = 120, check: bool = True, env: dict[str, str] | None = None,
           cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **(env or {})}, cwd=cwd)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout}{result.stderr}")
    return result


def engine_problem() -> str | None:
    """Why the Docker engine cannot be used here, or None when it answers."""
    if not Path(DOCKER).is_file() and not shutil.which(DOCKER):
        return "no docker client (Debian: apt-get install docker.io)"
    try:
        result = subprocess.run([DOCKER, "version", "--format", "{{.Server.Version}}"], capture_output=True,
                                text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "the Docker engine does not answer within 30 s"
    if result.returncode != 0:
        return f"no Docker engine answers ({result.stderr.strip().splitlines()[-1:]}); start dockerd"
    return None


def base_problem() -> str | None:
    """Why the stand-in base image cannot be made here, or None."""
    if not CA_BUNDLE.is_file():
        return f"no {CA_BUNDLE} to give the image"
    if image_exists(RAW_IMAGE) or (CACHE_DIR / f"base-{BASE_KEY}.tar").is_file():
        return None
    if os.geteuid() != 0:
        return "debootstrap needs root to make the base image"
    if not shutil.which("debootstrap"):
        return "no debootstrap (Debian: apt-get install debootstrap)"
    return None


def image_exists(image: str) -> bool:
    return docker("image", "inspect", image, check=False).returncode == 0


def bootstrap_tarball(tarball: Path) -> None:
    """The base's root tree: Debian bookworm, Python 3.11, a venv first on PATH, as a tarball."""
    with tempfile.TemporaryDirectory(prefix="mnist-serve-base-") as scratch:
        root = Path(scratch) / "root"
        subprocess.run(["debootstrap", f"--variant={BASE_RECIPE['variant']}",
                        f"--include={','.join(BASE_RECIPE['include'])}", str(BASE_RECIPE["suite"]), str(root),
                        MIRROR], check=True, capture_output=True, timeout=BOOTSTRAP_TIMEOUT)
        subprocess.run(["chroot", str(root), "python3", "-m", "venv", VENV], check=True, capture_output=True,
                        timeout=300)
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (root / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        partial = tarball.with_suffix(".tar.part")
        subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."], check=True,
                       timeout=600)
        partial.rename(tarball)  # whole or absent: an interrupted run leaves no cache entry


def ensure_base_image() -> str:
    """The stand-in for python:3.11-slim, in the engine: imported from the cached tarball (made
    first when missing), with this machine's CA certificates on top."""
    if not image_exists(RAW_IMAGE):
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tarball = CACHE_DIR / f"base-{BASE_KEY}.tar"
        if not tarball.is_file():
            bootstrap_tarball(tarball)
        env = BASE_RECIPE["env"]
        assert isinstance(env, dict)
        changes = [f"ENV {name}={value}" for name, value in env.items()]
        changes.append(f"CMD {json.dumps(BASE_RECIPE['cmd'])}")
        flags = [arg for change in changes for arg in ("--change", change)]
        docker("import", *flags, str(tarball), RAW_IMAGE, timeout=600)
    bundle = CA_BUNDLE.read_bytes()
    image = f"mnist-serve-test-base:{BASE_KEY}-{hashlib.sha256(bundle).hexdigest()[:12]}"
    if not image_exists(image):
        with tempfile.TemporaryDirectory(prefix="mnist-serve-ca-") as context:
            (Path(context) / "ca-certificates.crt").write_bytes(bundle)
            (Path(context) / "Dockerfile").write_text(
                f"FROM {RAW_IMAGE}\nCOPY ca-certificates.crt {CA_BUNDLE}\n")
            docker("build", "--quiet", "--tag", image, context, timeout=300)
    return image
