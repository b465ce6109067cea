"""The requests the peers benchmark sends and how their answers are read: one `Kind` per load
(a single image, a batch of `BATCH`) and endpoint (/v1 JSON, v2 JSON, v2 binary tensor extension),
built by `request_kinds` from the same digits; the decoders that turn each kind of answer into an
(n, 10) array of probabilities; `check_answer`, which compares one answer with the in-process model;
and `drain`, which waits out the requests wrk left in flight."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import numpy as np

BATCH = 256
INPUT = "images"
LOADS = {"single": 1, f"batch-{BATCH}": BATCH}


@dataclass(frozen=True)
class Kind:
    """One kind of request: endpoint label, path, body, headers, images, and how to read its answer."""

    load: str
    endpoint: str
    path: str
    body: bytes
    headers: dict[str, str]
    images: int
    probabilities: Callable[[httpx.Response], np.ndarray]


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _v1_probabilities(response: httpx.Response) -> np.ndarray:
    obj = response.json()
    rows = ([p["probabilities"] for p in obj["predictions"]] if "predictions" in obj
            else [obj["probabilities"]])
    return np.asarray(rows, dtype=np.float64)


def _v2_json_probabilities(response: httpx.Response) -> np.ndarray:
    out = next(o for o in response.json()["outputs"] if o["name"] == "probabilities")
    return np.asarray(out["data"], dtype=np.float64).reshape(-1, 10)


def _v2_binary_probabilities(response: httpx.Response) -> np.ndarray:
    length = response.headers.get("inference-header-content-length")
    if length is None:
        return _v2_json_probabilities(response)
    content = response.content
    header = json.loads(content[: int(length)])
    offset = int(length)
    for out in header["outputs"]:
        size = (out.get("parameters") or {}).get("binary_data_size")
        if size is None:
            if out["name"] == "probabilities":
                return np.asarray(out["data"], dtype=np.float64).reshape(-1, 10)
            continue
        if out["name"] == "probabilities":
            return np.frombuffer(content[offset : offset + size], "<f4").astype(np.float64).reshape(-1, 10)
        offset += size
    raise ValueError("no 'probabilities' output in the answer")


def request_kinds(images: np.ndarray, model: str) -> dict[tuple[str, str], Kind]:
    """Every (load, endpoint) kind for uint8 `images` (BATCH, 28, 28)."""
    kinds: dict[tuple[str, str], Kind] = {}
    json_headers = {"Content-Type": "application/json"}
    infer = f"/v2/models/{model}/infer"
    for load, n in LOADS.items():
        part = images[:n]
        v1_body = ({"pixels": part[0].tolist()} if n == 1 else {"images": part.tolist()})
        v1_path = "/v1/predict" if n == 1 else "/v1/predict/batch"
        kinds[load, "/v1 JSON"] = Kind(load, "/v1 JSON", v1_path, _dumps(v1_body), json_headers, n,
                                       _v1_probabilities)
        v2 = {"inputs": [{"name": INPUT, "shape": [n, 784], "datatype": "UINT8",
                          "data": part.reshape(-1).tolist()}]}
        kinds[load, "v2 JSON"] = Kind(load, "v2 JSON", infer, _dumps(v2), json_headers, n,
                                      _v2_json_probabilities)
        header = _dumps({"inputs": [{"name": INPUT, "shape": [n, 784], "datatype": "UINT8",
                                     "parameters": {"binary_data_size": n * 784}}],
                         "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]})
        kinds[load, "v2 binary"] = Kind(
            load, "v2 binary", infer, header + np.ascontiguousarray(part, dtype=np.uint8).tobytes(),
            {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))},
            n, _v2_binary_probabilities)
    return kinds


class AnswerError(RuntimeError):
    """A server answered a check request with a status other than 200."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_answer(base_url: str, kind: Kind, expected: np.ndarray) -> float:
    """POST `kind` once; the max abs difference of its probabilities from `expected` (raises on non-200)."""
    with httpx.Client(base_url=base_url, timeout=60.0, trust_env=False) as client:
        response = client.post(kind.path, content=kind.body, headers=kind.headers)
    if response.status_code != 200:
        raise AnswerError(response.status_code,
                          f"{kind.endpoint} {kind.load}: HTTP {response.status_code}: {response.text[:300]}")
    got = kind.probabilities(response)
    if got.shape != expected.shape:
        raise RuntimeError(f"{kind.endpoint} {kind.load}: probabilities of shape {got.shape}, "
                           f"expected {expected.shape}")
    return float(np.max(np.abs(got - expected)))


def drain(base_url: str, kind: Kind) -> None:
    """Wait out requests wrk left in flight: one more of the same kind finishes about when they do."""
    with contextlib.suppress(httpx.HTTPError), \
            httpx.Client(base_url=base_url, timeout=120.0, trust_env=False) as client:
        client.post(kind.path, content=kind.body, headers=kind.headers)
