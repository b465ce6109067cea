"""The soak run's verdict: each check against its target (`checks`), and the summary as a person
reads it (`report`): totals, latency, memory, and each check's result."""

from __future__ import annotations

import argparse
from typing import Any

WARM_FRACTION = 0.2  # RSS growth is measured from this fraction of the duration to the end
RSS_GROWTH_LIMIT = 5.0  # percent
# seconds after the kill for uvicorn's new worker to serve: generous, because a worker importing
# its stack while the load holds both cores takes several times its quiet start
REPLACE_TIMEOUT = 30.0


def report(s: dict[str, Any]) -> None:
    rss, lat = s["rss_mib"], s["latency_ms"]
    measured = f"max {s['max_rate']:,.0f}/s" if s["max_rate"] is not None else "max not measured"
    print(f"\n{s['requests']:,} requests in {s['duration_s']:g} s ({s['achieved_rate']:,.0f}/s; target "
          f"{s['target_rate']:,.0f}/s, {measured}), {s['answered']:,} answered, p50 {lat['p50']:.1f} ms, "
          f"p99 {lat['p99']:.1f} ms, worst schedule lag {s['schedule_lag_max_s'] * 1000:.0f} ms")
    print(f"unexpected {s['unexpected']} {s['unexpected_by_kind'] or ''} "
          f"{s['max_burst_unexpected'] or ''}; lost with the killed worker {s['lost_with_killed_worker']}")
    for sample in s["unexpected_samples"][:10]:
        print(f"  e.g. {sample}")
    print(f"RSS idle {rss['idle']:.1f} MiB, warm {rss['warm']:.1f}, end {rss['end']:.1f}, "
          f"max {rss['max']:.1f}")
    if s.get("kill"):
        print(f"kill: {s['kill']}")
    for line in s["server_log_problems"][:10]:
        print(f"  server log: {line}")
    for c in s["checks"]:
        print(f"{'PASS' if c['passed'] else 'FAIL'}  {c['name']}: {c['detail']}")


def checks(args: argparse.Namespace, summary: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def check(name: str, passed: bool, detail: str) -> None:
        found.append({"name": name, "passed": bool(passed), "detail": detail})

    answered, unexpected, rss = summary["answered"], summary["unexpected"], summary["rss_mib"]
    check("requests", answered >= args.requests_min, f"{answered:,} answered >= {args.requests_min:,}")
    check("no unexpected errors", unexpected == 0, f"{unexpected} unexpected")
    missing = [k for k, v in summary["kinds"].items() if not v["outcomes"].get(str(v["expect"]))]
    check("every kind answered as expected", not missing, f"{len(summary['kinds'])} kinds; "
          f"never answered with the expected status: {missing or 'none'}")
    check("RSS growth", rss["growth_pct"] < RSS_GROWTH_LIMIT,
          f"{rss['warm']:.1f} MiB at {WARM_FRACTION:.0%} of the run -> {rss['end']:.1f} MiB at the end: "
          f"{rss['growth_pct']:+.2f} % (< {RSS_GROWTH_LIMIT:g} %)")
    ready = summary["readiness"]
    check("readiness held", not ready["failures"] and len(ready["lost_with_killed_worker"]) <= 1
          and ready["polls"] > 0,
          f"{ready['polls']} polls, {len(ready['failures'])} failed, "
          f"{len(ready['lost_with_killed_worker'])} lost with the killed worker (at most 1), "
          f"slowest {ready['slowest_ms']:.0f} ms")
    check("clean shutdown", summary["server_exit_code"] == 0,
          f"exit code {summary['server_exit_code']} after SIGTERM")
    if args.kill_worker_at is not None:
        kill = summary.get("kill") or {}
        alive = list(kill.get("workers_at_end", {}))
        replaced, ready_after = kill.get("replaced_after_s"), kill.get("ready_after_s")
        check("worker replaced", ready_after is not None and ready_after <= REPLACE_TIMEOUT
              and kill.get("new_pid") in alive and len(alive) == args.workers,
              f"killed {kill.get('pid')}; {kill.get('new_pid')} started after {replaced} s, serving after "
              f"{ready_after} s (<= {REPLACE_TIMEOUT:g}); workers at end {alive}")
        bound, lost = args.clients * args.connections, summary["lost_with_killed_worker"]
        check("only in-flight requests lost", lost <= bound and unexpected == 0,
              f"{lost} lost with the killed worker (at most {bound} in flight), {unexpected} unexpected")
    return found
