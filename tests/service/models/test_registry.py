"""service.models.registry: which loaded version answers a request, and building the deployments a
recorded state asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.models.checks import LoadRefused
from service.models.loaded_model import LoadedModel
from service.models.registry import Deployment, NotServed, Registry
from service.models.served_state import Candidate, Served
from testkit.artifacts import tiny_artifact


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    """tiny-mlp versions 1 to 3 on disk (untrained: they load, but fail the checks), and `other` v1."""
    for version in (1, 2, 3):
        tiny_artifact(tmp_path, "tiny-mlp", version=version, seed=version)
    tiny_artifact(tmp_path, "other", version=1)
    registry = Registry(tmp_path, min_accuracy=0.98, default="tiny-mlp")
    deployments = registry.build({"tiny-mlp": Served(1, Candidate(2, "canary", 25.0)), "other": Served(1)},
                                 strict=True, loader=LoadedModel.load)
    registry.swap(deployments)
    return registry


def test_the_default_model_and_named_versions_answer(registry: Registry) -> None:
    assert registry.route("other").model.ident == {"name": "other", "version": 1}
    for version in ("1", "2"):  # the served version and the candidate, each exactly when named
        route = registry.route("tiny-mlp", version)
        assert route.model.version == int(version) and route.compare is None
    assert registry.pick().version == 1  # describing a model: the served one, never a rollout's choice


def test_a_canary_answers_its_share_and_is_compared_with_the_served_version(registry: Registry) -> None:
    registry.random.seed(7)
    routes = [registry.route() for _ in range(2000)]
    by_candidate = [r for r in routes if r.model.version == 2]
    assert 0.2 < len(by_candidate) / len(routes) < 0.3
    assert all(r.compare is not None and r.compare.version == 1 for r in by_candidate)
    assert all(r.compare is None for r in routes if r.model.version == 1)


def test_a_shadow_never_answers_but_computes_every_request(registry: Registry) -> None:
    canary = registry.deployments["tiny-mlp"]
    registry.swap({**registry.deployments, "tiny-mlp": Deployment(canary.served, canary.candidate, "shadow")})
    routes = [registry.route() for _ in range(50)]
    assert {r.model.version for r in routes} == {1}
    assert all(r.compare is not None and r.compare.version == 2 for r in routes)


def test_what_is_not_loaded_is_named_with_what_is(registry: Registry) -> None:
    with pytest.raises(NotServed, match=r"unknown model 'gamma': not loaded; loaded models: 'other', 'tiny"):
        registry.route("gamma")
    with pytest.raises(NotServed, match=r"unknown version '3' of model 'tiny-mlp'.*loaded versions: 1 and 2"):
        registry.route("tiny-mlp", "3")


def test_building_reuses_loaded_versions_and_checks_new_ones(registry: Registry) -> None:
    before = registry.deployments["tiny-mlp"].served
    rebuilt = registry.build({"tiny-mlp": Served(1)}, strict=True)
    assert rebuilt["tiny-mlp"].served is before  # not loaded again
    with pytest.raises(LoadRefused, match="below the minimum"):  # version 3 is new: checked
        registry.build({"tiny-mlp": Served(3)}, strict=True)
    assert "below the minimum" in registry.failures[("tiny-mlp", 3)]
    lenient = registry.build({"tiny-mlp": Served(3), "other": Served(1)}, strict=False)
    assert set(lenient) == {"other"}  # the refused model is left out, the others built


def test_the_recorded_state_is_what_is_served(registry: Registry) -> None:
    assert registry.state() == {"tiny-mlp": Served(1, Candidate(2, "canary", 25.0)), "other": Served(1)}
