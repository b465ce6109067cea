"""The weights artifact: save/load round trip, immutable versions, and clear load errors."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neuralnet.artifact import (
    FORMAT_VERSION,
    METADATA_KEY,
    ArtifactError,
    list_versions,
    load_artifact,
    read_metadata,
    save_artifact,
)

NAME = "mlp-test"


def architecture() -> list[dict[str, Any]]:
    return [
        {"type": "flatten"},
        {"type": "dense", "in_features": 4, "out_features": 3},
        {"type": "relu"},
        {"type": "dropout", "rate": 0.1},
        {"type": "dense", "in_features": 3, "out_features": 2},
    ]


def metadata(**extra: Any) -> dict[str, Any]:
    return {"model_name": NAME, "architecture": architecture(),
            "input": {"shape": [2, 2, 1], "mean": 0.1, "std": 0.3}, "labels": ["no", "yes"], **extra}


def arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "layers.1.W": rng.standard_normal((4, 3)).astype(np.float32),
        "layers.1.b": rng.standard_normal(3).astype(np.float32),
        "layers.4.W": rng.standard_normal((3, 2)).astype(np.float32),
        "layers.4.b": rng.standard_normal(2).astype(np.float32),
    }


def write_raw_npz(path: Path, meta: Any, arrs: dict[str, np.ndarray]) -> Path:
    """An npz laid out like an artifact but written by hand, bypassing save_artifact's checks."""
    payload = dict(arrs)
    payload[METADATA_KEY] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, **payload)
    return path


def valid_meta(**changes: Any) -> dict[str, Any]:
    return {**metadata(), "format_version": FORMAT_VERSION, "version": 1, **changes}


def files_in(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


# ----------------------------------------------------------------------------- round trip

def test_save_then_load_round_trips(tmp_path: Path) -> None:
    arrs = arrays()
    meta = metadata(notes={"val_accuracy": 0.5, "nested": [1, 2]})
    path = save_artifact(tmp_path, meta, arrs)
    assert path == tmp_path / NAME / "1.npz"
    art = load_artifact(path)
    assert art.path == path
    assert art.name == NAME and art.version == 1
    assert art.metadata["format_version"] == FORMAT_VERSION
    for key in ("architecture", "input", "labels", "notes"):
        assert art.metadata[key] == meta[key]
    assert sorted(art.arrays) == sorted(arrs)
    for key, value in arrs.items():
        assert art.arrays[key].dtype == np.float32
        np.testing.assert_array_equal(art.arrays[key], value)
    assert sorted(art.layer_params(1)) == ["W", "b"]
    np.testing.assert_array_equal(art.layer_params(4)["W"], arrs["layers.4.W"])
    assert art.layer_params(0) == {}
    assert "version" not in meta  # the caller's dict is not modified


def test_saved_file_is_a_plain_npz_without_pickles(tmp_path: Path) -> None:
    path = save_artifact(tmp_path, metadata(), arrays())
    with np.load(path, allow_pickle=False) as npz:
        assert METADATA_KEY in npz.files
        meta = json.loads(npz[METADATA_KEY].tobytes().decode("utf-8"))
    assert meta["model_name"] == NAME and meta["version"] == 1


# ----------------------------------------------------------------------------- versions

def test_versions_increase_and_never_overwrite(tmp_path: Path) -> None:
    paths = [save_artifact(tmp_path, metadata(), arrays(seed)) for seed in range(3)]
    assert [p.name for p in paths] == ["1.npz", "2.npz", "3.npz"]
    assert list_versions(tmp_path / NAME) == [1, 2, 3]
    for seed, path in enumerate(paths):
        art = load_artifact(path)
        assert art.version == seed + 1
        np.testing.assert_array_equal(art.arrays["layers.1.W"], arrays(seed)["layers.1.W"])
    assert files_in(tmp_path / NAME) == ["1.npz", "2.npz", "3.npz"]  # no temp files left


def test_explicit_existing_version_raises_and_leaves_file_untouched(tmp_path: Path) -> None:
    path = save_artifact(tmp_path, metadata(), arrays(0))
    before = path.read_bytes()
    with pytest.raises(ArtifactError, match="immutable") as info:
        save_artifact(tmp_path, metadata(), arrays(1), version=1)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before
    assert files_in(tmp_path / NAME) == ["1.npz"]


def test_explicit_new_version(tmp_path: Path) -> None:
    path = save_artifact(tmp_path, metadata(), arrays(), version=7)
    assert path.name == "7.npz"
    assert load_artifact(path).version == 7
    assert save_artifact(tmp_path, metadata(), arrays()).name == "8.npz"


def test_next_version_skips_foreign_file_without_touching_it(tmp_path: Path) -> None:
    model_dir = tmp_path / NAME
    model_dir.mkdir()
    foreign = model_dir / "2.npz"
    foreign.write_bytes(b"someone else's bytes")
    path = save_artifact(tmp_path, metadata(), arrays())
    assert path.name == "3.npz"
    assert foreign.read_bytes() == b"someone else's bytes"


def test_race_for_a_version_number_takes_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer creates 1.npz between our existence check and the link: we get 2."""
    real_link = os.link
    calls: list[str] = []

    def racing_link(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(os.fspath(dst))
        if len(calls) == 1:
            Path(dst).write_bytes(b"the other writer")
            raise FileExistsError(dst)
        real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "link", racing_link)
    path = save_artifact(tmp_path, metadata(), arrays())
    monkeypatch.undo()
    assert path.name == "2.npz"
    assert (tmp_path / NAME / "1.npz").read_bytes() == b"the other writer"
    assert load_artifact(path).version == 2
    assert files_in(tmp_path / NAME) == ["1.npz", "2.npz"]


def test_race_with_explicit_version_raises_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def racing_link(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        Path(dst).write_bytes(b"the other writer")
        raise FileExistsError(dst)

    monkeypatch.setattr(os, "link", racing_link)
    with pytest.raises(ArtifactError, match="immutable"):
        save_artifact(tmp_path, metadata(), arrays(), version=4)
    monkeypatch.undo()
    assert files_in(tmp_path / NAME) == ["4.npz"]
    assert (tmp_path / NAME / "4.npz").read_bytes() == b"the other writer"


def test_failed_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_link(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        raise PermissionError("link not allowed")

    monkeypatch.setattr(os, "link", broken_link)
    with pytest.raises(PermissionError):
        save_artifact(tmp_path, metadata(), arrays())
    monkeypatch.undo()
    assert files_in(tmp_path / NAME) == []


def test_save_rejects_inconsistent_arrays_and_writes_nothing(tmp_path: Path) -> None:
    bad = arrays()
    bad["layers.1.W"] = bad["layers.1.W"].T.copy()
    with pytest.raises(ArtifactError, match=r"layers\.1\.W"):
        save_artifact(tmp_path, metadata(), bad)
    assert list_versions(tmp_path / NAME) == []
    assert not (tmp_path / NAME).exists() or files_in(tmp_path / NAME) == []


@pytest.mark.parametrize("name", ["Bad Name", "../escape", "", "-dash", "UPPER"])
def test_save_rejects_bad_model_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ArtifactError, match="model name"):
        save_artifact(tmp_path, {**metadata(), "model_name": name}, arrays())
    assert list(tmp_path.iterdir()) == []


def test_list_versions_ignores_non_version_entries(tmp_path: Path) -> None:
    d = tmp_path / NAME
    d.mkdir()
    for name in ["1.npz", "2.npz", "10.npz", "latest.npz", "01.npz", "0.npz", "3.npz.tmp", ".4.abc.tmp",
                 "5.NPZ", "notes.txt", "6"]:
        (d / name).write_bytes(b"x")
    (d / "1-report").mkdir()
    assert list_versions(d) == [1, 2, 10]
    assert list_versions(tmp_path / "missing") == []
    assert save_artifact(tmp_path, metadata(), arrays()).name == "11.npz"


# ----------------------------------------------------------------------------- load errors

def assert_rejected(path: Path, match: str | None = None) -> str:
    with pytest.raises(ArtifactError, match=match) as info:
        load_artifact(path)
    message = str(info.value)
    assert str(path) in message
    return message


def test_load_missing_file(tmp_path: Path) -> None:
    assert_rejected(tmp_path / "nope" / "1.npz", "no such file")
    (tmp_path / "dir.npz").mkdir()
    assert_rejected(tmp_path / "dir.npz", "no such file")


def test_load_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "1.npz"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes())
    assert_rejected(path)


def test_load_text_file_is_reported_as_not_an_npz(tmp_path: Path) -> None:
    path = tmp_path / "1.npz"
    path.write_bytes(b"this is not an npz file\n" * 10)
    message = assert_rejected(path)
    assert "not a valid .npz" in message


def test_load_truncated_npz(tmp_path: Path) -> None:
    good = save_artifact(tmp_path, metadata(), arrays())
    data = good.read_bytes()
    path = tmp_path / "cut.npz"
    path.write_bytes(data[: len(data) // 2])
    assert_rejected(path, "not a valid .npz")


def test_load_refuses_pickled_object_array(tmp_path: Path) -> None:
    arrs: dict[str, np.ndarray] = dict(arrays())
    arrs["layers.1.b"] = np.array([{"evil": 1}, None, 3], dtype=object)  # np.savez pickles object arrays
    path = write_raw_npz(tmp_path / "1.npz", valid_meta(), arrs)
    assert_rejected(path, "pickled")


def test_load_unknown_format_version(tmp_path: Path) -> None:
    path = write_raw_npz(tmp_path / "1.npz", valid_meta(format_version=99), arrays())
    assert_rejected(path, "format_version 99")
    meta = valid_meta()
    del meta["format_version"]
    assert_rejected(write_raw_npz(tmp_path / "2.npz", meta, arrays()), "format_version")


def test_load_shape_disagrees_with_architecture(tmp_path: Path) -> None:
    arrs = arrays()
    arrs["layers.4.W"] = np.zeros((3, 5), np.float32)
    path = write_raw_npz(tmp_path / "1.npz", valid_meta(), arrs)
    message = assert_rejected(path, r"layers\.4\.W")
    assert "(3, 5)" in message and "(3, 2)" in message


def test_load_missing_array(tmp_path: Path) -> None:
    arrs = arrays()
    del arrs["layers.1.b"]
    path = write_raw_npz(tmp_path / "1.npz", valid_meta(), arrs)
    assert_rejected(path, r"missing \['layers\.1\.b'\]")


def test_load_unexpected_array(tmp_path: Path) -> None:
    arrs = {**arrays(), "layers.2.W": np.zeros((1,), np.float32)}
    path = write_raw_npz(tmp_path / "1.npz", valid_meta(), arrs)
    assert_rejected(path, r"unexpected \['layers\.2\.W'\]")


def test_load_unknown_layer_type(tmp_path: Path) -> None:
    meta = valid_meta()
    meta["architecture"][2] = {"type": "gelu"}
    path = write_raw_npz(tmp_path / "1.npz", meta, arrays())
    assert_rejected(path, "unknown layer type 'gelu'")


def test_load_layer_spec_missing_field(tmp_path: Path) -> None:
    meta = valid_meta()
    del meta["architecture"][1]["out_features"]
    path = write_raw_npz(tmp_path / "1.npz", meta, arrays())
    assert_rejected(path, "out_features")


@pytest.mark.parametrize(("layer", "field", "value"), [
    (4, "in_features", "three"), (3, "rate", None)], ids=["bad value", "dropout without a rate"])
def test_load_layer_spec_bad_or_missing_field_is_an_artifact_error(tmp_path: Path, layer: int, field: str,
                                                                   value: Any) -> None:
    meta = valid_meta()
    if value is None:
        del meta["architecture"][layer][field]
    else:
        meta["architecture"][layer][field] = value
    assert_rejected(write_raw_npz(tmp_path / "1.npz", meta, arrays()), f"layer {layer}")


def test_load_integer_weights(tmp_path: Path) -> None:
    arrs = arrays()
    arrs["layers.1.b"] = np.zeros(3, np.int32)
    path = write_raw_npz(tmp_path / "1.npz", valid_meta(), arrs)
    assert_rejected(path, "dtype")


def test_load_bad_metadata(tmp_path: Path) -> None:
    path = tmp_path / "no-meta.npz"
    np.savez(path, **arrays())
    assert_rejected(path, METADATA_KEY)
    path = tmp_path / "bad-json.npz"
    np.savez(path, **arrays(), **{METADATA_KEY: np.frombuffer(b"{not json", dtype=np.uint8)})
    assert_rejected(path, "JSON")
    path = write_raw_npz(tmp_path / "list.npz", [1, 2], arrays())
    assert_rejected(path, "JSON object")
    meta = valid_meta()
    del meta["labels"]
    assert_rejected(write_raw_npz(tmp_path / "no-labels.npz", meta, arrays()), "labels")


def test_loaded_artifact_carries_the_sha256_of_its_file(tmp_path: Path) -> None:
    path = save_artifact(tmp_path, metadata(), arrays())
    assert load_artifact(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_read_metadata_reads_no_arrays(tmp_path: Path) -> None:
    """Metadata is readable from a file whose arrays are wrong, which load_artifact refuses."""
    meta = valid_meta(metrics={"test_accuracy": 0.97})
    arrs = arrays()
    arrs["layers.1.W"] = np.zeros((9, 9), np.float32)
    path = write_raw_npz(tmp_path / "1.npz", meta, arrs)
    assert read_metadata(path) == meta
    assert_rejected(path, "layers.1.W")
    assert read_metadata(save_artifact(tmp_path, metadata(), arrays()))["model_name"] == NAME


def test_read_metadata_rejects_what_load_rejects_about_metadata(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no such file"):
        read_metadata(tmp_path / "9.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ArtifactError, match=r"not a valid \.npz"):
        read_metadata(tmp_path / "text.npz")
    np.savez(tmp_path / "bare.npz", **arrays())
    with pytest.raises(ArtifactError, match=METADATA_KEY):
        read_metadata(tmp_path / "bare.npz")
