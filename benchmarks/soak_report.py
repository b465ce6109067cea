"""The soak run's summary as a person reads it: totals, latency, memory, and each check's verdict."""

from __future__ import annotations

from typing import Any


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
