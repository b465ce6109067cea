"""Per-version statistics in the shape of Triton's statistics extension, read back from the
metrics' counters: in multi-process mode those aggregate every worker, so the totals are the same
whichever worker answers the call."""

from __future__ import annotations

from typing import Any

from service.metrics import PHASES, Metrics

Key = tuple[str, str]  # (model, version)
# Every successful request went through each of these phases: their counts are the successes'
COUNTED_AS = {"queue": "success", "compute_input": "success", "compute_infer": "success",
              "compute_output": "success"}


def _sums(metrics: Metrics) -> dict[Key, dict[str, float]]:
    """{(model, version): {sample key: summed value}} of the counters the statistics come from."""
    wanted = {"mnist_inference_phase_total": "count", "mnist_inference_phase_seconds_total": "seconds",
              "mnist_model_inferences_total": "inferences", "mnist_model_executions_total": "executions",
              "mnist_model_last_inference_timestamp_seconds": "last"}
    sums: dict[Key, dict[str, float]] = {}
    for family in metrics.collected().collect():
        for sample in family.samples:
            kind = wanted.get(sample.name)
            if kind is None:
                continue
            labels = sample.labels
            values = sums.setdefault((labels["model"], labels["version"]), {})
            key = f"{kind}:{labels['phase']}" if "phase" in labels else kind
            values[key] = max(values.get(key, 0.0), sample.value) if kind == "last" else \
                values.get(key, 0.0) + sample.value
    return sums


def model_statistics(metrics: Metrics, versions: list[Key]) -> list[dict[str, Any]]:
    """One entry per (model, version) asked for, zeros where nothing was counted yet."""
    sums = _sums(metrics)
    entries = []
    for name, version in versions:
        values = sums.get((name, version), {})
        entries.append({
            "name": name, "version": version,
            "last_inference": int(values.get("last", 0.0) * 1000),  # ms since the epoch
            "inference_count": int(values.get("inferences", 0.0)),
            "execution_count": int(values.get("executions", 0.0)),
            "inference_stats": {phase: {"count": int(values.get(f"count:{COUNTED_AS.get(phase, phase)}", 0)),
                                        "ns": int(values.get(f"seconds:{phase}", 0.0) * 1e9)}
                                for phase in PHASES},
            "batch_stats": []})
    return entries
