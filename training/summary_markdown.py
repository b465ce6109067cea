"""The report's `summary.md`: the metrics recorded in the artifact, the test set re-scored, the
calibration and the "not a digit" decision with their figures, and how to reproduce the run.
Written from the `summary` dict `training.report.write_report` also saves as `summary.json`."""

from __future__ import annotations

from typing import Any


def _md_row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def calibration_markdown(calibration: dict[str, Any] | None) -> list[str]:
    if not calibration:
        return ["", "## Calibration", "", "Not calibrated (no temperature recorded)."]
    lines = ["", "## Calibration", "",
             f"`{calibration['method']}` T = **{calibration['temperature']:.4f}** (fitted on the "
             f"{calibration['fitted_on']} split by minimising NLL; see neuralnet/calibration.py). ECE with "
             f"{calibration['bins']} equal-width bins.", "",
             _md_row(["split", "ECE before", "ECE after", "NLL before", "NLL after", "Brier before",
                      "Brier after"]), _md_row(["---"] + ["---:"] * 6)]
    for split in ("validation", "test"):
        before, after = calibration[f"{split}_before"], calibration[f"{split}_after"]
        lines.append(_md_row([split, *(f"{d[k]:.5f}" for k in ("ece", "nll", "brier")
                                      for d in (before, after))]))
    return lines


def ood_markdown(ood: dict[str, Any] | None) -> list[str]:
    if not ood:
        return ["", "## Not a digit", "", "No decision recorded (answers say `is_digit: null`)."]
    lines = ["", "## Not a digit", "",
             f"Method `{ood['method']}` ({ood['score']}), threshold **{ood['threshold']:.4f}**, "
             f"accepting {ood['validation_accepted']:.2%} of validation and {ood['test_accepted']:.2%} "
             f"of test digits; trained with {ood['outlier_training']}. Generated sets (seed "
             f"{ood['evaluation']['seed']}, {ood['evaluation']['size']} images each), against the test "
             "digits:", "",
             _md_row(["set", "AUROC %", "answered as a digit %", "confidence > 0.95 %"]),
             _md_row(["---", "---:", "---:", "---:"])]
    for name, row in ood["evaluation"]["sets"].items():
        lines.append(_md_row([name, f"{100 * row['auroc']:.2f}", f"{100 * row['answered_as_digit']:.1f}",
                              f"{100 * row['confident_without_decision']:.1f}"]))
    if ood.get("shifted"):
        lines += ["", f"Threshold fitted on {ood['fitted_on']} (shifted: "
                  f"{ood['shifted_validation_accepted']:.2%} accepted). Shifted test digits "
                  "(training/shifts.py), prepared as the image route prepares a file:", "",
                  _md_row(["shift", "accuracy %", "accepted as a digit %", "ECE %"]),
                  _md_row(["---", "---:", "---:", "---:"])]
        for name, row in ood["shifted"].items():
            lines.append(_md_row([name, f"{100 * row['accuracy']:.2f}", f"{100 * row['accepted']:.2f}",
                                  f"{100 * row['ece']:.2f}"]))
    return lines


def summary_markdown(summary: dict[str, Any]) -> str:
    labels = summary["labels"]
    test = summary["test"]
    lines = [
        f"# {summary['model_name']} v{summary['version']}: training report",
        "",
        f"Artifact `{summary['artifact']}`, report written {summary['created_at']}.",
        "",
        "## Metrics recorded in the artifact",
        "",
        _md_row(["metric", "value"]),
        _md_row(["---", "---:"]),
    ]
    lines += [_md_row([k, _fmt(v)]) for k, v in summary["metrics"].items()]
    recorded = summary["recorded_test_accuracy"]
    diff = summary["recorded_difference_images"]
    if diff is None:
        check = "no recorded value to compare"
    elif diff == 0:
        check = "matches the recorded value"
    elif summary["matches_recorded"]:
        check = f"matches the recorded value to within {diff:+d} image (float noise)"
    else:
        check = f"**does not match** the recorded value ({diff:+d} images correct)"
    lines += [
        "",
        "## Test set, re-scored from the saved artifact",
        "",
        f"Accuracy **{test['accuracy']:.4f}** ({test['correct']}/{test['images']}), "
        f"loss {test['loss']:.4f}; {check}"
        + (f" ({recorded:.4f})." if isinstance(recorded, int | float) else "."),
        "",
        _md_row(["class", "precision", "recall", "support"]),
        _md_row(["---:", "---:", "---:", "---:"]),
    ]
    for row in summary["per_class"]:
        lines.append(_md_row([row["label"], _fmt(row["precision"]), _fmt(row["recall"]), row["support"]]))
    lines += ["", "Confusion matrix (rows: true label, columns: predicted label):", "",
              _md_row(["true \\ pred", *labels]), _md_row(["---:"] * (len(labels) + 1))]
    for label, counts in zip(labels, summary["confusion_matrix"], strict=True):
        lines.append(_md_row([f"**{label}**", *counts]))
    lines += calibration_markdown(summary.get("calibration")) + ood_markdown(summary.get("ood"))
    wall = summary["wall_time_seconds"]
    wall_text = "unknown" if wall is None else f"{float(wall):.0f} s ({float(wall) / 60:.1f} min)"
    epochs = len(summary["epochs"])
    lines += [
        "",
        "## Training",
        "",
        f"Wall time: {wall_text}; "
        + (f"{epochs} epochs." if epochs else "no per-epoch history was recorded."),
        "",
        "Reproduce with:",
        "",
        "```sh",
        summary["reproduce_command"] or "# (no command recorded in the artifact)",
        "```",
        "",
        "![learning curves](learning_curves.png)",
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
        "![test digits](test_samples.png)",
        "",
    ]
    return "\n".join(lines)
