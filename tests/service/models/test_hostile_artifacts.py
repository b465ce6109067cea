"""Artifacts that are broken, forged or built to hurt: each is refused with a reason (ArtifactError
from the reader, LoadRefused from the load gate, 409 from the load route), never served, and never
a MemoryError, a ValueError escaping, or a traceback. The files are built from the shipped ones."""

from __future__ import annotations

import contextlib
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from neuralnet.artifact import ArtifactError, load_artifact, read_metadata
from service.config import Settings
from service.main import create_app
from service.models.checks import LoadRefused, load_checked
from testkit.hostile_artifacts import rewritten, with_header_declaring, with_zip_bomb
from testkit.shipped import shipped_weights

REGRESSIONS = Path(__file__).resolve().parents[2] / "neuralnet" / "fuzz_regressions"


def shipped(model: str = "mnist-cnn", version: int = 2) -> Path:
    return shipped_weights() / model / f"{version}.npz"


def refused(path: Path, *words: str, min_accuracy: float = 0.98) -> str:
    """The gate's refusal of `path` (the load route answers it with 409), checked to name `words`."""
    with pytest.raises(LoadRefused) as excinfo:
        load_checked(path, min_accuracy)
    message = str(excinfo.value)
    assert str(path) in message
    for word in words:
        assert word in message, message
    return message


def test_every_shipped_version_passes_the_gate() -> None:
    for path in sorted(shipped_weights().glob("*/*.npz")):
        model = load_checked(path, 0.98)
        assert (model.name, f"{model.version}.npz") == (path.parent.name, path.name)


def test_a_zip_bomb_in_an_extra_entry_is_refused_from_the_directory(tmp_path: Path) -> None:
    path = with_zip_bomb(shipped(), tmp_path / "mnist-cnn" / "3.npz", gib=0.0625)
    assert path.stat().st_size < shipped().stat().st_size + 1_000_000  # 64 MiB in well under 1 MB
    refused(path, "unexpected ['padding']")


def test_a_zip_bomb_in_place_of_a_parameter_is_refused_by_its_size(tmp_path: Path) -> None:
    path = with_zip_bomb(shipped(), tmp_path / "mnist-cnn" / "3.npz", gib=0.0625, member="layers.3.W.npy")
    refused(path, "layers.3.W", "more than an array of shape (3, 3, 32, 64) needs")


@pytest.mark.parametrize(("key", "shape"), [("layers.9.W", (1 << 40,)), ("__metadata__", (1 << 42,))],
                         ids=["parameter of 4 TiB", "metadata of 4 TiB"])
def test_an_npy_header_declaring_terabytes_is_refused_before_its_data(tmp_path: Path, key: str,
                                                                      shape: tuple[int, ...]) -> None:
    dtype = "|u1" if key == "__metadata__" else "<f4"
    path = with_header_declaring(shipped(), tmp_path / "mnist-cnn" / "3.npz", key, shape, dtype)
    refused(path, key, str(shape[0]))


Change = Callable[[dict[str, Any]], None]


def set_input_mean(meta: dict[str, Any]) -> None:
    meta["input"]["mean"] = "abc"


def set_stride_zero(meta: dict[str, Any]) -> None:
    meta["architecture"][0]["stride"] = 0


def set_kernel_too_big(meta: dict[str, Any]) -> None:
    meta["architecture"][0]["kernel_size"] = 40
    meta["architecture"][0]["padding"] = 0


def set_std_zero(meta: dict[str, Any]) -> None:
    meta["input"]["std"] = 0


def set_dense_misfit(meta: dict[str, Any]) -> None:
    meta["architecture"][9]["in_features"] = 3135


def set_bool_version(meta: dict[str, Any]) -> None:
    meta["version"] = True


@pytest.mark.parametrize(("change", "words"), [
    (set_input_mean, ["input.mean", "'abc'"]), (set_stride_zero, ["layer 0 (conv2d)", "stride", "got 0"]),
    (set_kernel_too_big, ["layer 0", "kernel 40"]), (set_std_zero, ["input.std", "positive"]),
    (set_dense_misfit, ["layer 9 (dense)", "in_features 3135"]), (set_bool_version, ["version"]),
], ids=["input.mean abc", "conv stride 0", "kernel larger than its input", "input.std 0",
        "dense layer that does not fit", "version true"])
def test_metadata_the_network_cannot_run_with_is_an_artifact_error(tmp_path: Path, change: Change,
                                                                   words: list[str]) -> None:
    path = rewritten(shipped(), tmp_path / "mnist-cnn" / "2.npz", metadata=change)
    with pytest.raises(ArtifactError) as excinfo:
        load_artifact(path)
    for word in words:
        assert word in str(excinfo.value)
    refused(path, "cannot be loaded", *words)


def test_non_json_metadata_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mnist-zzz" / "1.npz"
    path.parent.mkdir()
    arrays = dict(np.load(shipped("mnist-mlp", 1), allow_pickle=False))
    arrays["__metadata__"] = np.frombuffer(b"{not json", np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(ArtifactError, match="not valid JSON"):
        read_metadata(path)
    refused(path, "not valid JSON")


def test_nan_weights_are_refused(tmp_path: Path) -> None:
    def all_nan(arrays: dict[str, np.ndarray]) -> None:
        for key in arrays:
            arrays[key] = np.full_like(arrays[key], np.nan)

    path = rewritten(shipped(), tmp_path / "mnist-cnn" / "2.npz", arrays=all_nan)
    refused(path, "NaN or infinite")


def test_an_artifact_under_another_name_and_version_is_refused_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "mnist-mlp" / "19.npz"
    path.parent.mkdir()
    shutil.copyfile(shipped("mnist-cnn", 2), path)
    refused(path, "records model 'mnist-cnn' version 2", "path says model 'mnist-mlp' version '19'")
    other = tmp_path / "mnist-cnn" / "5.npz"
    other.parent.mkdir()
    shutil.copyfile(shipped("mnist-cnn", 2), other)
    refused(other, "version 2", "version '5'")


def test_a_model_that_only_claims_accuracy_is_measured_and_refused(tmp_path: Path) -> None:
    """Zero weights and a bias that says 7: it answers the example digit (a 7) right."""
    def always_seven(arrays: dict[str, np.ndarray]) -> None:
        for key in arrays:
            arrays[key] = np.zeros_like(arrays[key])
        arrays["layers.12.b"][7] = 10.0

    def claims(meta: dict[str, Any]) -> None:
        meta["metrics"]["test_accuracy"] = 0.999

    path = rewritten(shipped(), tmp_path / "mnist-cnn" / "2.npz", metadata=claims, arrays=always_seven)
    refused(path, "measured accuracy 10.00%", "gate_digits.npz", "MNIST_MIN_ACCURACY")


def test_a_measured_accuracy_far_from_the_recorded_one_is_refused(tmp_path: Path) -> None:
    def swap_three_and_five(arrays: dict[str, np.ndarray]) -> None:
        for key in ("layers.12.W", "layers.12.b"):
            arrays[key][..., [3, 5]] = arrays[key][..., [5, 3]]

    path = rewritten(shipped(), tmp_path / "mnist-cnn" / "2.npz", arrays=swap_three_and_five)
    refused(path, "disagrees with the recorded test accuracy 99.55%", min_accuracy=0.5)


def test_a_digit_decision_that_accepts_anything_is_refused(tmp_path: Path) -> None:
    def accept_all(meta: dict[str, Any]) -> None:
        meta["ood"]["threshold"] = -1e9

    path = rewritten(shipped(), tmp_path / "mnist-cnn" / "2.npz", metadata=accept_all)
    refused(path, "calls a blank image a digit")


def test_a_digit_decision_that_refuses_real_digits_is_refused(tmp_path: Path) -> None:
    def refuse_many(meta: dict[str, Any]) -> None:
        meta["ood"]["threshold"] = 12.0

    path = rewritten(shipped(), tmp_path / "mnist-cnn" / "2.npz", metadata=refuse_many)
    refused(path, "\"not a digit\" decision accepts", "the artifact records 99.62%")


def test_entries_an_artifact_never_has_are_refused(tmp_path: Path) -> None:
    many = tmp_path / "mnist-cnn" / "3.npz"
    many.parent.mkdir()
    with zipfile.ZipFile(shipped()) as old, zipfile.ZipFile(many, "w") as new:
        for info in old.infolist():
            new.writestr(info, old.read(info))
        for i in range(300):
            new.writestr(f"x{i}.npy", b"")
    refused(many, "the zip directory lists 311 entries")
    packed = tmp_path / "mnist-cnn" / "4.npz"
    with zipfile.ZipFile(shipped()) as old, zipfile.ZipFile(packed, "w") as new:
        for info in old.infolist():
            new.writestr(info.filename, old.read(info), compress_type=zipfile.ZIP_BZIP2)
    refused(packed, "stored or deflate")


@pytest.mark.parametrize("path", sorted(REGRESSIONS.glob("*.npz")), ids=lambda p: p.name)
def test_inputs_the_fuzzer_found_are_artifact_errors(path: Path) -> None:
    for read in (read_metadata, load_artifact):
        with contextlib.suppress(ArtifactError):  # and no other exception
            read(path)


@pytest.mark.parametrize("change", [set_input_mean, set_stride_zero], ids=["input.mean abc", "conv stride 0"])
def test_the_load_route_answers_409_with_the_reason(tmp_path: Path, change: Change) -> None:
    weights = tmp_path / "weights"
    (weights / "mnist-cnn").mkdir(parents=True)
    shutil.copyfile(shipped(), weights / "mnist-cnn" / "2.npz")
    rewritten(shipped(), weights / "mnist-cnn" / "3.npz", metadata=change)
    settings = Settings(weights_dir=weights, state_path=tmp_path / "serving.json", admin_token="t",
                        model="mnist-cnn", version="2")
    with TestClient(create_app(settings)) as client:
        answer = client.post("/v2/repository/models/mnist-cnn/load", json={"parameters": {"version": "3"}},
                             headers={"Authorization": "Bearer t"})
        assert answer.status_code == 409
        assert "3.npz" in answer.json()["error"] and "cannot be loaded" in answer.json()["error"]
        assert client.post("/v1/predict", json={"pixels": [0] * 784}).json()["model"]["version"] == 2
