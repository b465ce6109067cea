"""README "Rolling out a new version", run as written: the server started as its first block says,
then every `<!-- readme-rollout -->` block in order, each printing what the README shows.

The walkthrough trains into the served folder, so here that folder is a copy of the shipped weights
(MNIST_WEIGHTS_DIR, which both `mnist-serve` and `mnist-train` read) and the record a temporary
file; the commands themselves are the README's, with its port 8000 replaced by the test server's.
"""

from __future__ import annotations

import doctest
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.server import running_server
from testkit.shipped import shipped_weights
from tests.deploy.deploy_files import REPO_ROOT
from tests.deploy.test_readme import FENCE, README, README_ADDRESS, Example

SERVER_MARKER = "<!-- readme-rollout-server -->"
MARKER = "<!-- readme-rollout -->"


def rollout_examples() -> tuple[str, list[Example]]:
    text = README.read_text()
    start = text.index(SERVER_MARKER) + len(SERVER_MARKER) + 1
    server = FENCE.match(text, start)
    assert server and server.group(1) == "sh", "no sh block after the server marker"
    examples = []
    for match in re.finditer(re.escape(MARKER) + r"\n", text):
        block = FENCE.match(text, match.end())
        assert block, f"README: no code block after the marker at offset {match.start()}"
        output = FENCE.match(text, block.end() + 1)
        assert output and output.group(1) == "text", f"no ```text output after {block.group(0)!r}"
        examples.append(Example(line=text.count("\n", 0, block.start()) + 1, language=block.group(1),
                                code=block.group(2), expected=output.group(2)))
    return server.group(2).strip(), examples


@pytest.mark.slow
def test_the_rollout_walkthrough_runs_as_written(tmp_path: Path, mnist_data_dir: Path) -> None:
    server_line, examples = rollout_examples()
    assert len(examples) >= 6
    words = shlex.split(server_line)
    env = {k: v for k, v in (w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))}
    command = [w for w in words if "=" not in w or w.startswith("-")]
    assert command[0] == ".venv/bin/mnist-serve", server_line
    shipped_before = sorted((REPO_ROOT / "weights").rglob("*.npz"))
    weights = tmp_path / "weights"
    shutil.copytree(shipped_weights(), weights)
    env.update({"MNIST_WEIGHTS_DIR": str(weights), "MNIST_STATE_PATH": str(tmp_path / "serving.json"),
                "MNIST_DATA_DIR": str(mnist_data_dir)})
    bin_dir = Path(sys.executable).parent
    exported = tmp_path / "exported.sh"  # what a block exports (`NEW`) the next ones see, as in a terminal
    with running_server(*command[1:], env=env, timeout=60) as server:
        for example in examples:
            code = README_ADDRESS.sub(f"127.0.0.1:{server.port}", example.code)
            code = code.replace(".venv/bin/", f"{bin_dir}/")
            if example.language == "sh":
                code = f"if [ -f {exported} ]; then . {exported}; fi\n{code}\nexport -p > {exported}\n"
            run = ["bash", "-e", "-o", "pipefail", "-c", code] if example.language == "sh" else \
                [sys.executable, "-c", code]
            result = subprocess.run(run, capture_output=True, text=True, cwd=REPO_ROOT, timeout=600,
                                    env={**os.environ, **env})
            assert result.returncode == 0, f"README.md:{example.line}\n{result.stdout}{result.stderr}"
            flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
            assert doctest.OutputChecker().check_output(example.expected, result.stdout, flags), (
                f"README.md:{example.line} prints\n{result.stdout}\nnot what the README shows:\n"
                f"{example.expected}")
    assert sorted((REPO_ROOT / "weights").rglob("*.npz")) == shipped_before  # the shipped folder untouched
