"""An interrupted test run (SIGTERM to its process group, as when `make test` is stopped) leaves no
server behind: the servers the tests start run in process groups of their own, out of the signal's
reach, and the run's teardown stops them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO_ROOT

HELD_SERVER_TEST = '''
import os, sys, time
from pathlib import Path

import pytest

from testkit.server import free_port, running_command


@pytest.fixture(scope="module")
def server():
    port = free_port()
    command = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    with running_command(command, port=port, env=dict(os.environ), cwd="/", ready_path="/") as process:
        yield process


def test_held(server):
    Path(os.environ["PID_FILE"]).write_text(str(server.process.pid))
    time.sleep(120)
'''


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_sigterm_to_the_runs_group_stops_the_servers_it_started(tmp_path: Path) -> None:
    (tmp_path / "test_held.py").write_text(HELD_SERVER_TEST)
    pid_file = tmp_path / "server.pid"
    pytest_args = ["-q", "-p", "tests.conftest", "-p", "no:cacheprovider", str(tmp_path / "test_held.py")]
    run = subprocess.Popen([sys.executable, "-m", "pytest", *pytest_args], cwd=REPO_ROOT,
                           start_new_session=True, env={**os.environ, "PID_FILE": str(pid_file)},
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pid_file.exists(), run.communicate(timeout=10)[0] if run.poll() is not None else "no server"
        server = int(pid_file.read_text())
        os.killpg(run.pid, signal.SIGTERM)  # as `make test` stopped: the run's whole group
        output = run.communicate(timeout=60)[0]
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    survived = alive(server)
    if survived:
        os.killpg(server, signal.SIGKILL)  # it leads a group of its own
    assert not survived, f"the server (pid {server}) outlived the interrupted run:\n{output}"
