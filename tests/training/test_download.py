"""Tests for training.download against a local HTTP server on 127.0.0.1 (no internet)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from testkit.idx import write_idx
from training import download
from training.data import MNIST_FILES, read_idx
from training.download import DownloadError, download_file, download_mnist

TIMEOUT = 1.0  # seconds; everything is local, so a healthy request takes milliseconds
IMAGES = "t10k-images-idx3-ubyte.gz"


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files, plus `/truncated/NAME` (announces the full length, sends half, closes)
    and `/stall/NAME` (sends headers and a few bytes, then goes quiet)."""

    server: _Server

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests.append(self.path)
        kind, _, name = self.path.lstrip("/").partition("/")
        if kind in ("truncated", "stall"):
            data = (self.server.root / "good" / name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if kind == "truncated":
                self.wfile.write(data[: len(data) // 2])
            else:
                self.wfile.write(data[:10])
                self.wfile.flush()
                time.sleep(3 * TIMEOUT)
            self.close_connection = True
            return
        super().do_GET()


class _Server(http.server.ThreadingHTTPServer):
    root: Path
    requests: list[str]
    lock: threading.Lock


@dataclass
class Mirror:
    """The running local server and what it serves."""

    base: str
    server: _Server
    arrays: dict[str, np.ndarray]  # MNIST_FILES key -> array in good/
    checksums: dict[str, str]  # file name -> sha256 of good/ file
    bad_checksums: dict[str, str] = field(default_factory=dict)

    def url(self, kind: str) -> str:
        return f"{self.base}/{kind}/"

    @property
    def requests(self) -> list[str]:
        with self.server.lock:
            return list(self.server.requests)


def _make_files(directory: Path, seed: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True)
    arrays: dict[str, np.ndarray] = {}
    checksums: dict[str, str] = {}
    for key, name in MNIST_FILES.items():
        if key.endswith("images"):
            array = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
        else:
            array = rng.integers(0, 10, size=5, dtype=np.uint8)
        arrays[key] = array
        checksums[name] = hashlib.sha256(write_idx(directory / name, array)).hexdigest()
    return arrays, checksums


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    root = tmp_path / "served"
    arrays, checksums = _make_files(root / "good", seed=0)
    _, bad_checksums = _make_files(root / "bad", seed=1)  # valid files, other contents
    server = _Server(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    server.root, server.requests, server.lock = root, [], threading.Lock()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield Mirror(f"http://{host!s}:{port}", server, arrays, checksums, bad_checksums)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    path = tmp_path / "dest"
    path.mkdir()
    return path


@pytest.fixture
def refused_url() -> str:
    """A 127.0.0.1 URL nothing listens on (the port was just freed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def _contents(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_download_mnist_all_files(mirror: Mirror, tmp_path: Path) -> None:
    dest = tmp_path / "new" / "mnist"  # created by download_mnist
    paths = download_mnist(
        dest,
        mirrors=(mirror.url("good"),),
        checksums=mirror.checksums,
        progress=False,
        timeout=TIMEOUT,
    )
    assert set(paths) == set(MNIST_FILES)
    assert _contents(dest) == sorted(MNIST_FILES.values())
    for key, path in paths.items():
        assert path == dest / MNIST_FILES[key]
        expected = mirror.arrays[key]
        got = read_idx(path, expected_ndim=expected.ndim)
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, expected)
    assert len(mirror.requests) == 4


def test_first_mirrors_down_second_works(mirror: Mirror, dest: Path, refused_url: str) -> None:
    mirrors = (refused_url, mirror.url("missing"), mirror.url("good"))
    paths = download_mnist(
        dest, mirrors=mirrors, checksums=mirror.checksums, progress=False, timeout=TIMEOUT
    )
    assert _contents(dest) == sorted(MNIST_FILES.values())
    np.testing.assert_array_equal(read_idx(paths["test_images"]), mirror.arrays["test_images"])
    assert f"/missing/{IMAGES}" in mirror.requests  # the 404 mirror was tried first


def test_mirror_without_trailing_slash(mirror: Mirror, dest: Path) -> None:
    path = download_file(
        IMAGES,
        dest,
        mirrors=(mirror.url("good").rstrip("/"),),
        sha256=mirror.checksums[IMAGES],
        progress=False,
        timeout=TIMEOUT,
    )
    assert path == dest / IMAGES


def test_all_mirrors_fail_lists_each_reason(mirror: Mirror, dest: Path, refused_url: str) -> None:
    mirrors = (refused_url, mirror.url("missing"), mirror.url("bad"))
    with pytest.raises(DownloadError) as info:
        download_file(
            IMAGES,
            dest,
            mirrors=mirrors,
            sha256=mirror.checksums[IMAGES],
            progress=False,
            timeout=TIMEOUT,
        )
    lines = str(info.value).splitlines()
    assert len(lines) == 4 and IMAGES in lines[0]
    assert lines[1].startswith(f"  - {refused_url}{IMAGES}: connection failed")
    assert lines[2] == f"  - {mirror.url('missing')}{IMAGES}: HTTP Error 404: File not found"
    assert lines[3] == (
        f"  - {mirror.url('bad')}{IMAGES}: sha256 mismatch: "
        f"got {mirror.bad_checksums[IMAGES]} expected {mirror.checksums[IMAGES]}"
    )
    assert _contents(dest) == []


def test_bad_checksum_everywhere_leaves_nothing(mirror: Mirror, dest: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(DownloadError, match="sha256 mismatch") as info:
        download_file(
            IMAGES,
            dest,
            mirrors=(mirror.url("good"), mirror.url("bad")),
            sha256=wrong,
            progress=False,
            timeout=TIMEOUT,
        )
    assert str(info.value).count("sha256 mismatch") == 2
    assert _contents(dest) == []  # no final file, no temp file


def test_download_mnist_bad_checksums_leaves_nothing(mirror: Mirror, dest: Path) -> None:
    with pytest.raises(DownloadError, match="sha256"):
        download_mnist(
            dest,
            mirrors=(mirror.url("bad"),),
            checksums=mirror.checksums,
            progress=False,
            timeout=TIMEOUT,
        )
    assert _contents(dest) == []


@pytest.mark.parametrize("verify", [True, False])
def test_truncated_body_leaves_nothing(mirror: Mirror, dest: Path, verify: bool) -> None:
    # Without a checksum only the Content-Length check catches the short body.
    sha = mirror.checksums[IMAGES] if verify else None
    with pytest.raises(DownloadError, match="IncompleteRead"):
        download_file(
            IMAGES,
            dest,
            mirrors=(mirror.url("truncated"),),
            sha256=sha,
            progress=False,
            timeout=TIMEOUT,
        )
    assert _contents(dest) == []


def test_truncated_then_good_mirror(mirror: Mirror, dest: Path) -> None:
    path = download_file(
        IMAGES,
        dest,
        mirrors=(mirror.url("truncated"), mirror.url("good")),
        sha256=None,
        progress=False,
        timeout=TIMEOUT,
    )
    assert path.read_bytes() == (mirror.server.root / "good" / IMAGES).read_bytes()
    assert _contents(dest) == [IMAGES]


def test_stalled_server_times_out(mirror: Mirror, dest: Path) -> None:
    start = time.monotonic()
    with pytest.raises(DownloadError, match="timed out"):
        download_file(
            IMAGES, dest, mirrors=(mirror.url("stall"),), sha256=None, progress=False, timeout=0.2
        )
    assert time.monotonic() - start < 2.0
    assert _contents(dest) == []


def test_present_correct_file_not_downloaded_again(mirror: Mirror, dest: Path) -> None:
    kwargs: dict[str, Any] = {
        "mirrors": (mirror.url("good"),),
        "checksums": mirror.checksums,
        "progress": False,
        "timeout": TIMEOUT,
    }
    first = download_mnist(dest, **kwargs)
    assert len(mirror.requests) == 4
    mtimes = {key: path.stat().st_mtime_ns for key, path in first.items()}
    second = download_mnist(dest, **kwargs)
    assert second == first
    assert len(mirror.requests) == 4  # no new request
    assert {key: path.stat().st_mtime_ns for key, path in second.items()} == mtimes


def test_present_wrong_file_is_replaced(mirror: Mirror, dest: Path) -> None:
    (dest / IMAGES).write_bytes(b"stale junk")
    path = download_file(
        IMAGES,
        dest,
        mirrors=(mirror.url("good"),),
        sha256=mirror.checksums[IMAGES],
        progress=False,
        timeout=TIMEOUT,
    )
    assert path.read_bytes() == (mirror.server.root / "good" / IMAGES).read_bytes()
    assert len(mirror.requests) == 1
    assert _contents(dest) == [IMAGES]


def test_present_file_without_checksum_is_kept(mirror: Mirror, dest: Path) -> None:
    (dest / IMAGES).write_bytes(b"user's own file")
    download_file(IMAGES, dest, mirrors=(mirror.url("good"),), progress=False, timeout=TIMEOUT)
    assert (dest / IMAGES).read_bytes() == b"user's own file"
    assert mirror.requests == []


def test_progress_bar(mirror: Mirror, dest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    path = download_file(
        IMAGES,
        dest,
        mirrors=(mirror.url("good"),),
        sha256=mirror.checksums[IMAGES],
        progress=True,
        timeout=TIMEOUT,
    )
    assert path.is_file()
    assert IMAGES in capsys.readouterr().err


def test_rejects_path_in_name(mirror: Mirror, dest: Path) -> None:
    for name in ("../evil.gz", "sub/x.gz", "", ".."):
        with pytest.raises(ValueError, match="plain name"):
            download_file(name, dest, mirrors=(mirror.url("good"),), progress=False)
    assert mirror.requests == []


def test_incomplete_checksums_rejected(mirror: Mirror, dest: Path) -> None:
    partial = dict(list(mirror.checksums.items())[:3])
    with pytest.raises(ValueError, match="no entry for"):
        download_mnist(dest, mirrors=(mirror.url("good"),), checksums=partial, progress=False)
    assert mirror.requests == []


def test_cli_success_uses_env_dir(
    mirror: Mirror,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dest = tmp_path / "from-env"
    monkeypatch.setenv("MNIST_DATA_DIR", str(dest))
    monkeypatch.setattr(download, "MNIST_SHA256", mirror.checksums)
    status = download.main(
        [
            "--mirror",
            mirror.url("missing"),
            "--mirror",
            mirror.url("good"),
            "--no-progress",
            "--timeout",
            str(TIMEOUT),
        ]
    )
    assert status == 0
    assert _contents(dest) == sorted(MNIST_FILES.values())
    assert capsys.readouterr().out.splitlines() == [str(dest / n) for n in MNIST_FILES.values()]


def test_cli_failure_exit_status(
    mirror: Mirror, dest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The real MNIST checksums do not match the generated files.
    status = download.main([str(dest), "--mirror", mirror.url("good"), "--no-progress"])
    assert status == 1
    assert "sha256 mismatch" in capsys.readouterr().err
    assert _contents(dest) == []


def test_a_failed_download_leaves_no_empty_folder_behind(refused_url: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    # `make data` offline: the folder it would have made must not be there to pass for MNIST
    target = tmp_path / "data" / "mnist"
    assert download.main([str(target), "--mirror", refused_url, "--no-progress", "--timeout", "5"]) == 1
    assert "could not download" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()
