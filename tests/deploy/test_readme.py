"""The README for operators: its examples run as written against the real server and print what it
says, and its configuration and metrics tables list what the code has.

An example is a fenced `sh` or `python` block right after a `<!-- readme-test -->` line; the
fenced `text` block after it is its output, where `...` stands for any text (doctest's ELLIPSIS).
Examples run from the repository root, with the README's port 8000 replaced by the test server's.
"""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from service.api.metrics import Metrics
from testkit.server import ServerProcess, running_server
from tests.deploy.deploy_files import REPO_ROOT, settings_env_names

README = REPO_ROOT / "README.md"
MARKER = "<!-- readme-test -->"
FENCE = re.compile(r"```(\w+)\n(.*?)```\n", re.S)
README_ADDRESS = re.compile(r"(127\.0\.0\.1|localhost):8000\b")


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


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    """The server as `make serve` runs it: the shipped weights, the default (best) model."""
    with running_server("--weights-dir", str(REPO_ROOT / "weights"), timeout=60) as process:
        yield process


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=[f"README.md:{e.line}" for e in EXAMPLES])
def test_readme_example_runs_as_written(example: Example, server: ServerProcess) -> None:
    code = README_ADDRESS.sub(f"127.0.0.1:{server.port}", example.code)
    assert code != example.code, "the example does not call the server on port 8000"
    command = ["bash", "-e", "-o", "pipefail", "-c", code] if example.language == "sh" else \
        [sys.executable, "-c", code]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    assert checker.check_output(example.expected, result.stdout, flags), (
        f"README.md:{example.line} prints\n{result.stdout}\nnot what the README shows:\n{example.expected}")


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
