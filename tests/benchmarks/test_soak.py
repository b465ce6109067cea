"""benchmarks/soak.py for real but briefly: the script as a subprocess against real servers (one
worker; two with one SIGKILLed), judged by its JSON summary; and its error accounting on its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO_ROOT / "benchmarks"
sys.path.insert(0, str(BENCH_DIR))

from soak_load import Totals, classify  # noqa: E402
from soak_mix import WEIGHTS, build_mix  # noqa: E402
from soak_monitor import ReadinessPoller  # noqa: E402

RUNS = {  # both run at once (light load: 150 requests/s each), so the module takes ~15 s, not ~30
    "one worker": ["--duration", "6", "--rate", "150"],
    "kill": ["--workers", "2", "--kill-worker-at", "3", "--duration", "14", "--rate", "150"],
}
CONNECTIONS = 16  # soak.py's default


@pytest.fixture(scope="module")
def soaks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, dict[str, Any]]]:
    """{run: (exit status, stdout, JSON summary)}."""
    out = tmp_path_factory.mktemp("soak")
    processes = {name: subprocess.Popen([sys.executable, str(BENCH_DIR / "soak.py"), "--model", "mnist-mlp",
                                         *args, "--json-out", str(out / f"{i}.json")],
                                        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for i, (name, args) in enumerate(RUNS.items())}
    results = {}
    for i, (name, process) in enumerate(processes.items()):
        stdout, _ = process.communicate(timeout=120)
        results[name] = (process.returncode, stdout.decode(), json.loads((out / f"{i}.json").read_text()))
    return results


def assert_every_kind_as_expected(summary: dict[str, Any], allowed_errors: int = 0) -> None:
    assert set(summary["kinds"]) == set(WEIGHTS)
    errors = 0
    for name, kind in summary["kinds"].items():
        expected = kind["outcomes"].pop(str(kind["expect"]), 0)
        assert expected > 0, (name, kind)
        # anything else may only be a transport error lost with the killed worker
        assert all(not key.isdigit() and key != "wrong-answer" for key in kind["outcomes"]), (name, kind)
        errors += sum(kind["outcomes"].values())
    assert errors == allowed_errors


@pytest.mark.slow
def test_one_worker(soaks: dict[str, tuple[int, str, dict[str, Any]]]) -> None:
    code, stdout, summary = soaks["one worker"]
    assert code == 0, stdout
    assert summary["requests"] == summary["answered"] > 0
    assert summary["unexpected"] == 0 and summary["lost_with_killed_worker"] == 0
    assert_every_kind_as_expected(summary)
    assert summary["readiness"]["polls"] > 0 and summary["readiness"]["failures"] == []
    assert summary["rss_mib"]["end"] > 0 and len(summary["rss_mib"]["samples"]) >= 5
    assert {c["name"] for c in summary["checks"]} >= {"requests", "no unexpected errors", "RSS growth",
                                                      "readiness held", "every kind answered as expected"}
    assert "FAIL" not in stdout and "PASS  RSS growth" in stdout


@pytest.mark.slow
def test_worker_killed(soaks: dict[str, tuple[int, str, dict[str, Any]]]) -> None:
    code, stdout, summary = soaks["kill"]
    assert code == 0, stdout
    kill = summary["kill"]
    assert kill["pid"] in kill["before"] and len(kill["before"]) == 2
    assert kill["new_pid"] not in kill["before"] and kill["ready_after_s"] is not None
    assert sorted(int(pid) for pid in kill["workers_at_end"]) == sorted(
        [pid for pid in kill["before"] if pid != kill["pid"]] + [kill["new_pid"]])
    assert summary["unexpected"] == 0
    assert summary["lost_with_killed_worker"] <= CONNECTIONS
    assert_every_kind_as_expected(summary, allowed_errors=summary["lost_with_killed_worker"])
    assert summary["readiness"]["failures"] == [] and summary["readiness"]["polls"] > 50
    assert len(summary["readiness"]["lost_with_killed_worker"]) <= 1
    assert {c["name"]: c["passed"] for c in summary["checks"]}["worker replaced"] is True


def test_classify_counts_only_in_flight_failures_as_lost() -> None:
    expect = {kind.name: kind.expect for kind in build_mix("mnist-mlp")}
    totals = Totals()
    totals.add({"counts": {"v1-single": {"200": 5, "503": 1, "ReadError": 3}, "bad-json": {"400": 2},
                           "v1-batch-32": {"wrong-answer": 1}},
                "latencies_ms": {"v1-single": [1.0] * 6}, "samples": [], "lag_s": 0.0, "measured": 0,
                "transport": [("v1-single", "ReadError: reset", 99.9, 100.2),  # in flight at the kill
                              ("v1-single", "ReadError: reset", 100.1, 100.1),  # sent just after it
                              ("v1-single", "ReadError: reset", 130.0, 130.1)]})  # long after: unexpected
    unexpected, lost = classify(totals, expect, kill_at=100.0)
    assert len(lost) == 2
    assert unexpected == {"v1-single": {"503": 1, "ReadError": 1}, "v1-batch-32": {"wrong-answer": 1}}
    unexpected, lost = classify(totals, expect, kill_at=None)  # no kill: every transport error counts
    assert lost == [] and unexpected["v1-single"]["ReadError"] == 3


def test_a_readiness_poll_fails_only_if_the_killed_worker_had_its_connection() -> None:
    poller = ReadinessPoller("127.0.0.1", 1)
    poller.failures = [(99.99, 100.01, "RemoteDisconnected: closed without response"),  # the worker's
                       (99.99, 100.01, "status 503"),  # an answer: the server said not ready
                       (100.5, 100.5, "ConnectionRefusedError: refused"),  # after the kill: nobody listens
                       (50.0, 50.1, "RemoteDisconnected: closed without response")]  # no kill near it
    failed, lost = poller.split_failures(kill_at=100.0)
    assert lost == [(99.99, "RemoteDisconnected: closed without response")]
    assert [what for _, what in failed] == ["status 503", "ConnectionRefusedError: refused",
                                            "RemoteDisconnected: closed without response"]
    failed, lost = poller.split_failures(kill_at=None)
    assert lost == [] and len(failed) == 4
