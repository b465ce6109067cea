"""The README as a newcomer meets it: on a clone-like copy of the repository (the files git tracks),
`make serve` as the quick start says, then every example in order, run as written, printing what
the README shows; and its configuration and metrics tables list what the code has.

An example is a fenced `sh` or `python` block right after a `<!-- readme-test -->` line; the
fenced `text` block after it is its output, where `...` stands for any text (doctest's ELLIPSIS).
Examples run in the copy, Python ones with its `.venv/bin/python` (what `make serve` made), with
the README's ports 8000 and 8001 (gRPC) replaced by the server's (MNIST_PORT and MNIST_GRPC_PORT:
the one thing changed).
"""

from __future__ import annotations

import contextlib
import doctest
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service.metrics import Metrics
from testkit.server import ServerProcess, free_port, running_command
from testkit.shipped import newest_shipped, served_ref
from tests.deploy.deploy_files import REPO_ROOT, settings_env_names

README = REPO_ROOT / "README.md"
MARKER = "<!-- readme-test -->"
FENCE = re.compile(r"```(\w+)\n(.*?)```\n", re.S)
README_ADDRESS = re.compile(r"(127\.0\.0\.1|localhost):8000\b")
README_GRPC_ADDRESS = re.compile(r"(127\.0\.0\.1|localhost):8001\b")


@dataclass
class Example:
    line: int
    language: str
    code: str
    expected: str


def readme_examples() -> list[Example]:
    text = README.read_text()
    examples = []
    for match in re.finditer(re.escape(MARKER) + r"\n", text):
        block = FENCE.match(text, match.end())
        line = text.count("\n", 0, match.start()) + 1
        assert block, f"README line {line}: no code block after the marker"
        output = FENCE.match(text, block.end() + 1)  # after one blank line
        assert output and output.group(1) == "text", f"no ```text output block after {block.group(0)!r}"
        examples.append(Example(line=text.count("\n", 0, block.start()) + 1, language=block.group(1),
                                code=block.group(2), expected=output.group(2)))
    return examples


EXAMPLES = readme_examples()


def test_readme_has_curl_and_python_examples() -> None:
    assert {e.language for e in EXAMPLES} == {"sh", "python"}
    assert sum("curl" in e.code for e in EXAMPLES) >= 3
    assert any("httpx" in e.code for e in EXAMPLES if e.language == "python")


def clone_like_copy(destination: Path) -> Path:
    """The files git tracks (a fresh clone's), copied to `destination`; else the whole tree."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True)
    for name in listed.stdout.decode().split("\0"):
        if name and (REPO_ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, destination / name)
    return destination


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    """`make serve` in a clone-like copy, until it answers (the first run installs: minutes)."""
    clone = clone_like_copy(tmp_path_factory.mktemp("clone"))
    port, grpc_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MNIST_", "VIRTUAL_ENV"))}
    env.update({"MNIST_PORT": str(port), "MNIST_GRPC_PORT": str(grpc_port)})
    with running_command(["make", "serve"], port=port, env=env, cwd=clone, timeout=600) as server:
        server.grpc_port = grpc_port
        try:
            yield server, clone
        finally:  # make does not pass SIGTERM on to the server: the whole group gets it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGTERM)


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=[f"README.md:{e.line}" for e in EXAMPLES])
def test_readme_example_runs_as_written(example: Example, newcomer: tuple[ServerProcess, Path]) -> None:
    server, clone = newcomer
    code = README_ADDRESS.sub(f"127.0.0.1:{server.port}", example.code)
    code = README_GRPC_ADDRESS.sub(f"127.0.0.1:{server.grpc_port}", code)
    assert code != example.code, "the example does not call the server on port 8000 (or gRPC's 8001)"
    command = ["bash", "-e", "-o", "pipefail", "-c", code] if example.language == "sh" else \
        [str(clone / ".venv" / "bin" / "python"), "-c", code]
    result = subprocess.run(command, capture_output=True, text=True, cwd=clone, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    assert checker.check_output(example.expected, result.stdout, flags), (
        f"README.md:{example.line} prints\n{result.stdout}\nnot what the README shows:\n{example.expected}")


@pytest.mark.slow
def test_a_first_training_run_is_neither_served_nor_offered_to_git(newcomer: tuple[ServerProcess, Path],
                                                                    mnist_data_dir: Path) -> None:
    """`make train-quick` in the copy (made a git repository first): the new version lands in
    weights/, git does not offer it, and the running server still answers with the shipped one."""
    server, clone = newcomer
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "clone"]):
        subprocess.run([*git, *args], cwd=clone, check=True, capture_output=True)
    trained = subprocess.run(["make", "train-quick"], cwd=clone, capture_output=True, text=True, timeout=600,
                             env={**os.environ, "MNIST_DATA_DIR": str(mnist_data_dir.resolve())})
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert f"artifact: weights/mnist-mlp/{newest_shipped('mnist-mlp') + 1}.npz" in trained.stdout
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True)
    assert status.stdout == ""
    answer = httpx.post(f"{server.base_url}/v1/predict?model=mnist-mlp",
                        json={"pixels": [[0] * 28] * 28}).json()
    assert answer["model"] == served_ref("mnist-mlp")


def readme_table_names(heading: str, prefix: str) -> set[str]:
    """The backquoted first-column names of the table under a README heading."""
    section = README.read_text().split(f"\n{heading}\n", 1)[1].split("\n#", 1)[0]
    return set(re.findall(rf"^\| `({prefix}\w+)` \|", section, re.M))


def test_configuration_table_lists_every_setting() -> None:
    assert readme_table_names("### Configuration", "MNIST_") == settings_env_names()


def test_metrics_table_lists_the_metrics_the_app_exports() -> None:
    families = Metrics().registry.collect()
    exported = {f.name + ("_total" if f.type == "counter" else "") for f in families}
    assert readme_table_names("### Metrics", "mnist_") == exported
