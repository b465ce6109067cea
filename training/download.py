"""Download the four MNIST files from public mirrors, verified by SHA-256.

Each file is streamed (stdlib `urllib.request`) into a temporary file next to its final place,
hashed while it streams, checked against its expected SHA-256 and its announced length, then
fsync'ed and renamed into place with `os.replace`. A failed attempt (network or HTTP error,
truncated body, checksum mismatch) deletes its temporary file and moves on to the next mirror,
so the destination directory never holds a partial file. A file already present with the right
checksum is not downloaded again.

Usage: ``python -m training.download [DEST_DIR] [--mirror URL ...]``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from training.data import MNIST_FILES, default_data_dir, sha256_file

MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

MNIST_SHA256: dict[str, str] = {
    "t10k-images-idx3-ubyte.gz": "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
    "t10k-labels-idx1-ubyte.gz": "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
    "train-images-idx3-ubyte.gz": "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
    "train-labels-idx1-ubyte.gz": "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
}

CHUNK_SIZE = 1 << 16
USER_AGENT = "mnist-serve-download (python urllib)"


class DownloadError(RuntimeError):
    """A file could not be downloaded (with a matching checksum) from any mirror."""


class _Bar(Protocol):
    def update(self, n: int) -> object: ...


class _NoBar:
    def update(self, n: int) -> None:
        pass


@contextlib.contextmanager
def _progress_bar(name: str, total: int | None, enabled: bool) -> Iterator[_Bar]:
    """A tqdm bar if `enabled` and tqdm is installed (it is in the `train` extra), else a no-op."""
    if not enabled:
        yield _NoBar()
        return
    try:
        from tqdm import tqdm
    except ImportError:  # progress is a nicety: download without it rather than fail
        yield _NoBar()
        return
    with tqdm(
        total=total, desc=name, unit="B", unit_scale=True, unit_divisor=1024, leave=False
    ) as bar:
        yield bar


def _file_url(mirror: str, name: str) -> str:
    return (mirror if mirror.endswith("/") else mirror + "/") + name


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP Error {exc.code}: {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"connection failed: {exc.reason}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


def _stream(url: str, out: BinaryIO, name: str, timeout: float, progress: bool) -> str:
    """GET `url` into `out`; return the hex SHA-256 of the body. Raises on any failure."""
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length_header = response.headers.get("Content-Length")
        expected = int(length_header) if length_header and length_header.isdigit() else None
        received = 0
        with _progress_bar(name, expected, progress) as bar:
            # `read(n)` does not raise when the connection closes early, it just returns b""
            # (http.client keeps that for compatibility), hence the length check below.
            while chunk := response.read(CHUNK_SIZE):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if expected is not None and received != expected:
        raise http.client.IncompleteRead(b"", expected - received)
    return digest.hexdigest()


def _fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable (POSIX only; best effort)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def download_file(
    name: str,
    dest_dir: str | os.PathLike[str],
    mirrors: Sequence[str] = MIRRORS,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Download `name` into `dest_dir` from the first mirror that serves it correctly.

    The URL is ``mirror + name`` (a ``/`` is added to a mirror lacking one). With `sha256`,
    the body must have that hex digest, and an existing file with it is kept as is; without
    `sha256`, an existing file is trusted (a download never leaves a partial file in place).
    `timeout` (seconds) applies to connecting and to each read. Raises `DownloadError` naming
    every mirror tried and why it failed; leaves no partial or temporary file behind.
    """
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"file name must be a plain name, got {name!r}")
    if not mirrors:
        raise DownloadError(f"{name}: no mirrors to download from")
    expected_sha = sha256.lower() if sha256 is not None else None
    dest = Path(dest_dir)
    final = dest / name
    if final.is_file() and (expected_sha is None or sha256_file(final) == expected_sha):
        return final

    failures: list[str] = []
    for mirror in mirrors:
        url = _file_url(mirror, name)
        fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=f".{name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                got = _stream(url, out, name, timeout, progress)
                if expected_sha is not None and got != expected_sha:
                    failures.append(f"{url}: sha256 mismatch: got {got} expected {expected_sha}")
                    continue
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)  # mkstemp creates 0600
            os.replace(tmp, final)
            _fsync_dir(dest)
            return final
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # OSError covers URLError/HTTPError, timeouts and resets; HTTPException covers
            # IncompleteRead and malformed responses; ValueError an unusable URL.
            failures.append(f"{url}: {_describe(exc)}")
        finally:
            tmp.unlink(missing_ok=True)  # no-op after a successful os.replace

    details = "\n".join(f"  - {failure}" for failure in failures)
    raise DownloadError(
        f"could not download {name} from any of {len(mirrors)} mirror(s):\n{details}"
    )


def download_mnist(
    dest_dir: str | os.PathLike[str],
    mirrors: Sequence[str] = MIRRORS,
    checksums: Mapping[str, str] | None = MNIST_SHA256,
    progress: bool = True,
    timeout: float = 30.0,
) -> dict[str, Path]:
    """Download the four MNIST files into `dest_dir` (created if needed).

    Returns ``{key: path}`` with the keys of `training.data.MNIST_FILES`. `checksums` maps each
    file name to its hex SHA-256 and must cover all four files; ``None`` disables verification.
    """
    if checksums is not None:
        missing = sorted(set(MNIST_FILES.values()) - set(checksums))
        if missing:
            raise ValueError(f"checksums has no entry for {', '.join(missing)}")
    dest = Path(dest_dir)
    created = [folder for folder in (dest, *dest.parents) if not folder.exists()]  # deepest first
    dest.mkdir(parents=True, exist_ok=True)
    try:
        return {
            key: download_file(
                name,
                dest,
                mirrors=mirrors,
                sha256=None if checksums is None else checksums[name],
                progress=progress,
                timeout=timeout,
            )
            for key, name in MNIST_FILES.items()
        }
    except BaseException:
        # A folder made here and left empty would read as "MNIST is there" (the tests stop
        # skipping): remove it; files already downloaded stay for the next try.
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: download MNIST into DEST_DIR; exit status 0 on success, 1 on failure."""
    parser = argparse.ArgumentParser(
        prog="python -m training.download", description="Download and verify the MNIST files."
    )
    parser.add_argument(
        "dest_dir",
        nargs="?",
        type=Path,
        default=None,
        help="destination directory (default: $MNIST_DATA_DIR, else data/mnist)",
    )
    parser.add_argument(
        "--mirror",
        action="append",
        metavar="URL",
        help="mirror base URL to try, in order; repeatable; replaces the built-in list",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="network timeout in seconds")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    dest: Path = args.dest_dir if args.dest_dir is not None else default_data_dir()
    mirrors: tuple[str, ...] = tuple(args.mirror) if args.mirror else MIRRORS
    try:
        paths = download_mnist(
            dest,
            mirrors=mirrors,
            checksums=MNIST_SHA256,
            progress=not args.no_progress,
            timeout=args.timeout,
        )
    except (DownloadError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in paths.values():
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
