"""The model repository: which models and versions the weights directory holds, and which to load."""

from __future__ import annotations

from pathlib import Path

from neuralnet.artifact import MODEL_NAME, ArtifactError, list_versions, read_metadata


def available_models(weights_dir: Path) -> dict[str, list[int]]:
    """{model name: sorted versions} for every model folder holding at least one version."""
    if not weights_dir.is_dir():
        return {}
    found = {p.name: list_versions(p) for p in sorted(weights_dir.iterdir())
             if p.is_dir() and MODEL_NAME.match(p.name)}
    return {name: versions for name, versions in found.items() if versions}


def best_model(weights_dir: Path) -> str:
    """The model whose latest version records the best test accuracy."""
    models = available_models(weights_dir)
    if not models:
        raise ArtifactError(f"{weights_dir}: no artifacts (<model>/<version>.npz) found")
    latest = {name: weights_dir / name / f"{versions[-1]}.npz" for name, versions in models.items()}
    return max(sorted(models), key=lambda name: _recorded_accuracy(latest[name]))


def _recorded_accuracy(path: Path) -> float:
    """The test accuracy recorded in an artifact's metadata (0 if none), -1 if it cannot be read.

    Reads only the metadata (`read_metadata`): the weights are never read to rank the models.
    """
    try:
        metrics = read_metadata(path).get("metrics")
    except ArtifactError:  # missing, not an npz, no or bad metadata: ranked last, as an unloadable artifact
        return -1.0
    accuracy = metrics.get("test_accuracy", 0.0) if isinstance(metrics, dict) else 0.0
    return float(accuracy) if isinstance(accuracy, int | float) and not isinstance(accuracy, bool) else 0.0


def resolve(weights_dir: Path, model: str | None, version: str) -> Path:
    """Path of the artifact to serve for a (model, version) choice; ArtifactError if absent."""
    if not weights_dir.is_dir():
        raise ArtifactError(f"{weights_dir}: weights directory does not exist")
    name = model or best_model(weights_dir)
    versions = available_models(weights_dir).get(name, [])
    if not versions:
        raise ArtifactError(f"{weights_dir / name}: model {name!r} has no versions")
    if version == "latest":
        return weights_dir / name / f"{versions[-1]}.npz"
    path = weights_dir / name / f"{int(version)}.npz"
    if int(version) not in versions:
        raise ArtifactError(f"{path}: no such version (available: {versions})")
    return path
