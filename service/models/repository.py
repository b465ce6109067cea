"""The model repository: which models and versions the weights directory holds."""

from __future__ import annotations

from pathlib import Path

from neuralnet.artifact import MODEL_NAME, list_versions


def available_models(weights_dir: Path) -> dict[str, list[int]]:
    """{model name: sorted versions} for every model folder holding at least one version."""
    if not weights_dir.is_dir():
        return {}
    found = {p.name: list_versions(p) for p in sorted(weights_dir.iterdir())
             if p.is_dir() and MODEL_NAME.match(p.name)}
    return {name: versions for name, versions in found.items() if versions}
