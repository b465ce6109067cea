"""IDX reading (raw and gzip), its error messages, load_mnist and the train/val split."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from testkit.idx import idx_bytes, write_idx
from training.data import MNIST_FILES, IdxError, load_mnist, read_idx, sha256_file, train_val_split


def sample_images(n: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def sample_labels(n: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 10, n, dtype=np.uint8)


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ----------------------------------------------------------------------------- read_idx

@pytest.mark.parametrize("name", ["images.idx", "images.idx.gz"])
def test_read_idx_raw_and_gzip(tmp_path: Path, name: str) -> None:
    arr = sample_images()
    write_idx(tmp_path / name, arr)
    out = read_idx(tmp_path / name, expected_ndim=3)
    assert out.dtype == np.uint8 and out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)
    out[0, 0, 0] ^= 1  # a writable copy, not a view of a bytes buffer


def test_gzip_detected_by_magic_not_name(tmp_path: Path) -> None:
    labels = sample_labels(9)
    write_bytes(tmp_path / "labels.bin", gzip.compress(idx_bytes(labels)))
    np.testing.assert_array_equal(read_idx(tmp_path / "labels.bin", expected_ndim=1), labels)
    write_bytes(tmp_path / "labels.gz", idx_bytes(labels))  # raw content under a .gz name
    np.testing.assert_array_equal(read_idx(str(tmp_path / "labels.gz")), labels)


def test_read_idx_empty_and_one_dimensional(tmp_path: Path) -> None:
    write_idx(tmp_path / "empty", np.zeros((0, 28, 28), np.uint8))
    assert read_idx(tmp_path / "empty").shape == (0, 28, 28)
    write_idx(tmp_path / "labels", np.arange(10, dtype=np.uint8))
    np.testing.assert_array_equal(read_idx(tmp_path / "labels", expected_ndim=1), np.arange(10))


def good_bytes() -> bytes:
    return idx_bytes(sample_images(3))


def _bad_cases() -> dict[str, tuple[bytes, str]]:
    good = good_bytes()
    header3 = bytes([0, 0, 8, 3]) + struct.pack(">3I", 3, 28, 28)
    return {
        "truncated_data": (good[:-1], "truncated"),
        "trailing_bytes": (good + b"\x00", "trailing"),
        "bad_magic": (b"\x01" + good[1:], "magic"),
        "bad_magic_second_byte": (b"\x00\x07" + good[2:], "magic"),
        "float_type_code": (good[:2] + b"\x0d" + good[3:], "type code"),
        "int_type_code": (good[:2] + b"\x0c" + good[3:], "type code"),
        "truncated_header": (header3[:9], "header"),
        "too_short": (b"\x00\x00", "short"),
        "empty_file": (b"", "short"),
        "gzip_truncated": (gzip.compress(good, mtime=0)[:200], "gzip"),
        "gzip_bad_crc": (gzip.compress(good, mtime=0)[:-8] + b"\x00" * 8, "gzip"),
        "gzip_bad_header": (b"\x1f\x8b" + b"not really gzip" * 4, "gzip"),
        "gzip_truncated_idx": (gzip.compress(good[:-5], mtime=0), "truncated"),
    }


@pytest.mark.parametrize("case", sorted(_bad_cases()))
def test_read_idx_rejects_bad_files_naming_them(tmp_path: Path, case: str) -> None:
    data, words = _bad_cases()[case]
    path = write_bytes(tmp_path / f"{case}.idx", data)
    with pytest.raises(IdxError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    assert words in message.lower()


def test_read_idx_corrupt_deflate_stream_raises_idx_error(tmp_path: Path) -> None:
    gz = gzip.compress(idx_bytes(sample_images(50)), mtime=0)
    body = np.random.default_rng(0).integers(0, 256, len(gz) - 28, dtype=np.uint8).tobytes()
    path = write_bytes(tmp_path / "corrupt.gz", gz[:20] + body + gz[-8:])  # valid header, garbage data
    with pytest.raises(IdxError) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_wrong_ndim(tmp_path: Path) -> None:
    path = tmp_path / "images.gz"
    write_idx(path, sample_images())
    with pytest.raises(IdxError, match="expected 1") as info:
        read_idx(path, expected_ndim=1)
    assert str(path) in str(info.value)
    assert read_idx(path, expected_ndim=3).shape == (6, 28, 28)


def test_read_idx_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.gz"
    with pytest.raises(IdxError, match="not found") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_error_is_a_value_error() -> None:
    assert issubclass(IdxError, ValueError)


# ----------------------------------------------------------------------------- load_mnist

def make_mnist_dir(root: Path, n_train: int = 8, n_test: int = 5, gz: bool = True) -> dict[str, np.ndarray]:
    arrays = {
        "train_images": sample_images(n_train, 1),
        "train_labels": sample_labels(n_train, 2),
        "test_images": sample_images(n_test, 3),
        "test_labels": sample_labels(n_test, 4),
    }
    for key, name in MNIST_FILES.items():
        write_idx(root / (name if gz else name.removesuffix(".gz")), arrays[key])
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_small_generated_files(tmp_path: Path, gz: bool) -> None:
    arrays = make_mnist_dir(tmp_path, gz=gz)
    mnist = load_mnist(tmp_path)
    for key, arr in arrays.items():
        np.testing.assert_array_equal(getattr(mnist, key), arr)
    names = [n if gz else n.removesuffix(".gz") for n in MNIST_FILES.values()]
    assert sorted(mnist.sha256) == sorted(names)
    for name in names:
        assert mnist.sha256[name] == sha256_file(tmp_path / name)


def test_load_mnist_uses_env_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_mnist_dir(tmp_path)
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path))
    assert len(load_mnist().train_images) == 8


def test_load_mnist_count_mismatch(tmp_path: Path) -> None:
    make_mnist_dir(tmp_path)
    write_idx(tmp_path / MNIST_FILES["train_labels"], sample_labels(7))
    with pytest.raises(IdxError, match="8 images but 7 labels"):
        load_mnist(tmp_path)


def test_load_mnist_test_count_mismatch(tmp_path: Path) -> None:
    make_mnist_dir(tmp_path)
    write_idx(tmp_path / MNIST_FILES["test_images"], sample_images(4))
    with pytest.raises(IdxError, match="test"):
        load_mnist(tmp_path)


def test_load_mnist_labels_above_nine(tmp_path: Path) -> None:
    make_mnist_dir(tmp_path)
    labels = sample_labels(5, 4)
    labels[2] = 10
    write_idx(tmp_path / MNIST_FILES["test_labels"], labels)
    with pytest.raises(IdxError, match="0-9"):
        load_mnist(tmp_path)


def test_load_mnist_images_with_wrong_ndim(tmp_path: Path) -> None:
    make_mnist_dir(tmp_path)
    path = tmp_path / MNIST_FILES["train_images"]
    write_idx(path, sample_images(8).reshape(8, -1))
    with pytest.raises(IdxError, match="expected 3") as info:
        load_mnist(tmp_path)
    assert str(path) in str(info.value)


def test_load_mnist_missing_file(tmp_path: Path) -> None:
    make_mnist_dir(tmp_path)
    (tmp_path / MNIST_FILES["test_labels"]).unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels"):
        load_mnist(tmp_path)


# ----------------------------------------------------------------------------- train_val_split

def test_train_val_split_disjoint_and_complete() -> None:
    train, val = train_val_split(100, val_size=20, seed=0)
    assert len(train) == 80 and len(val) == 20
    assert not set(train) & set(val)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(100))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)


def test_train_val_split_fixed_by_seed_and_differs_across_seeds() -> None:
    a = train_val_split(100, val_size=20, seed=5)
    b = train_val_split(100, val_size=20, seed=5)
    c = train_val_split(100, val_size=20, seed=6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


@pytest.mark.parametrize("val_size", [0, 100, -1, 150])
def test_train_val_split_rejects_bad_sizes(val_size: int) -> None:
    with pytest.raises(ValueError):
        train_val_split(100, val_size=val_size)
