"""The standard Triton HTTP client (tritonclient.http) against the real `mnist-serve` process, on real
MNIST test digits: every /v2 endpoint, JSON and binary tensors both ways, checked against /v1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from testkit.answers import v1_batch_answer
from testkit.server import ServerProcess, running_server
from testkit.shipped import newest_shipped, shipped_weights
from training.data import Mnist

pytestmark = [pytest.mark.mnist, pytest.mark.slow]
MODEL = "mnist-cnn"  # the default model; its newest version has the "not a digit" decision (is_digit)
VERSION = str(newest_shipped(MODEL))  # served: a fresh server serves the newest version
ALL_OUTPUTS = [("probabilities", True), ("digit", True), ("is_digit", True)]
N_IMAGES = 64
SHAPES = {"[N,28,28]": (28, 28), "[N,784]": (784,), "[N,1,28,28]": (1, 28, 28)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server("--weights-dir", str(shipped_weights()), "--model", MODEL,
                        log_dir=tmp_path_factory.mktemp("v2-client")) as process:
        yield process


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[triton.InferenceServerClient]:
    triton_client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}", network_timeout=60)
    yield triton_client
    triton_client.close()


@pytest.fixture(scope="module")
def images(mnist: Mnist) -> np.ndarray:
    """The first N_IMAGES - 4 MNIST test digits, then two blank images and two of uniform noise,
    (N, 28, 28) uint8."""
    noise = np.random.default_rng(16).integers(0, 256, (2, 28, 28), dtype=np.uint8)
    return np.concatenate([mnist.test_images[: N_IMAGES - 4], np.zeros((2, 28, 28), np.uint8), noise])


@pytest.fixture(scope="module")
def v1_answer(server: ServerProcess, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(digits, probabilities, is_digit) from /v1/predict/batch for the same images and a few
    non-digits (blank, noise) after them."""
    return v1_batch_answer(server.base_url, images)


def image_input(images: np.ndarray, datatype: str, shape: str, binary: bool) -> triton.InferInput:
    array = images.reshape(len(images), *SHAPES[shape]).astype(np.float32 if datatype == "FP32" else np.uint8)
    tensor = triton.InferInput("images", list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def test_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    server = client.get_server_metadata()
    assert server["name"] == "mnist-serve" and "binary_tensor_data" in server["extensions"]
    expected = {"name": MODEL, "versions": [VERSION], "platform": "numpy_npz",
                "inputs": [{"name": "images", "datatype": "FP32", "shape": [-1, 28, 28]}],
                "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
                            {"name": "digit", "datatype": "INT64", "shape": [-1]},
                            {"name": "is_digit", "datatype": "BOOL", "shape": [-1]}]}
    assert client.get_model_metadata(MODEL) == expected
    assert client.get_model_metadata(MODEL, model_version=VERSION) == expected
    assert client.is_model_ready(MODEL) and client.is_model_ready(MODEL, model_version=VERSION)
    assert not client.is_model_ready("mnist-dnn")
    assert not client.is_model_ready(MODEL, model_version=str(int(VERSION) + 1))


def test_unknown_model_or_version_is_a_404_the_client_reports(client: triton.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException) as unknown_model:
        client.get_model_metadata("mnist")
    assert unknown_model.value.status() == "404"
    assert "unknown model 'mnist'" in unknown_model.value.message()
    with pytest.raises(InferenceServerException) as unknown_version:
        client.get_model_metadata(MODEL, model_version="7")
    assert unknown_version.value.status() == "404" and "'7'" in unknown_version.value.message()


@pytest.mark.parametrize("binary_input", [False, True], ids=["json-in", "binary-in"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("datatype", ["FP32", "UINT8"])
def test_infer_agrees_with_v1(client: triton.InferenceServerClient, images: np.ndarray, mnist: Mnist,
                              v1_answer: tuple[np.ndarray, np.ndarray, np.ndarray], datatype: str,
                              shape: str, binary_input: bool) -> None:
    digits, proba, is_digit = v1_answer
    tensor = image_input(images, datatype, shape, binary_input)
    requested: dict[str, list[tuple[str, bool]] | None] = {  # (output, as binary)
        "all (default: binary)": None,
        "both, JSON": [("digit", False), ("probabilities", False)],
        "both, binary": [("probabilities", True), ("digit", True)],
        "mixed": [("probabilities", False), ("digit", True)],
        "digit only, binary": [("digit", True)],
        "probabilities only, JSON": [("probabilities", False)],
        "is_digit only, JSON": [("is_digit", False)],
        "digit and is_digit, binary": [("digit", True), ("is_digit", True)],
    }
    for label, wanted in requested.items():
        outputs = None if wanted is None else [triton.InferRequestedOutput(name, binary_data=binary)
                                               for name, binary in wanted]
        result = client.infer(MODEL, [tensor], outputs=outputs)
        answered = [(o["name"], "data" not in o) for o in result.get_response()["outputs"]]
        # tritonclient asks for every output in binary when it names none
        assert answered == (wanted or ALL_OUTPUTS), label
        names = [name for name, _ in answered]
        if "digit" in names:
            got = result.as_numpy("digit")
            assert got.dtype == np.int64 and got.shape == (N_IMAGES,), label
            np.testing.assert_array_equal(got, digits, err_msg=label)
        if "probabilities" in names:
            got = result.as_numpy("probabilities")
            assert got.dtype == np.float32 and got.shape == (N_IMAGES, 10), label
            np.testing.assert_allclose(got, proba, rtol=0, atol=1e-6, err_msg=label)
        if "is_digit" in names:
            got = result.as_numpy("is_digit")
            assert got.dtype == np.bool_ and got.shape == (N_IMAGES,), label
            np.testing.assert_array_equal(got, is_digit, err_msg=label)
    real = N_IMAGES - 4
    assert np.mean(digits[:real] == mnist.test_labels[:real]) >= 0.95  # real digits, read correctly
    assert is_digit[:real].mean() >= 0.95 and not is_digit[real:].any()  # blank and noise are not


def test_id_parameters_version_and_compression(client: triton.InferenceServerClient, images: np.ndarray,
                                               v1_answer: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    tensor = image_input(images, "UINT8", "[N,28,28]", binary=True)
    for request_compression in (None, "gzip", "deflate"):
        result = client.infer(MODEL, [tensor], model_version=VERSION, request_id=f"id-{request_compression}",
                              parameters={"note": "any parameter is accepted"},
                              request_compression_algorithm=request_compression,
                              response_compression_algorithm="gzip")
        response = result.get_response()
        assert (response["id"], response["model_name"], response["model_version"]) == (
            f"id-{request_compression}", MODEL, VERSION)
        np.testing.assert_array_equal(result.as_numpy("digit"), v1_answer[0])


def test_bad_requests_are_reported_by_the_client(client: triton.InferenceServerClient,
                                                 images: np.ndarray) -> None:
    wrong_shape = triton.InferInput("images", [N_IMAGES, 28, 27], "UINT8")
    wrong_shape.set_data_from_numpy(images[:, :, :27].copy(), binary_data=True)
    with pytest.raises(InferenceServerException) as shape_error:
        client.infer(MODEL, [wrong_shape])
    assert shape_error.value.status() == "400" and "[64, 28, 27]" in shape_error.value.message()

    too_bright = triton.InferInput("images", [1, 784], "FP32")
    too_bright.set_data_from_numpy(np.full((1, 784), 300, np.float32), binary_data=True)
    with pytest.raises(InferenceServerException) as range_error:
        client.infer(MODEL, [too_bright])
    assert range_error.value.status() == "400" and "0-255" in range_error.value.message()

    good = image_input(images[:1], "UINT8", "[N,784]", binary=False)
    with pytest.raises(InferenceServerException) as version_error:
        client.infer(MODEL, [good], model_version=str(int(VERSION) + 1))
    assert version_error.value.status() == "404"
    with pytest.raises(InferenceServerException) as output_error:
        client.infer(MODEL, [good], outputs=[triton.InferRequestedOutput("logits")])
    assert output_error.value.status() == "400" and "'logits'" in output_error.value.message()


def test_model_config_as_tritonclient_reads_it(client: triton.InferenceServerClient) -> None:
    config = client.get_model_config(MODEL)
    assert config == client.get_model_config(MODEL, model_version=VERSION)
    assert (config["name"], config["platform"], config["max_batch_size"]) == (MODEL, "numpy_npz", 1024)
    assert config["input"] == [{"name": "images", "data_type": "TYPE_FP32", "format": "FORMAT_NONE",
                                "dims": [28, 28]}]
    assert [(o["name"], o["data_type"], o["dims"]) for o in config["output"]] == [
        ("probabilities", "TYPE_FP32", [10]), ("digit", "TYPE_INT64", [1]), ("is_digit", "TYPE_BOOL", [1])]
    assert config["version_policy"] == {"specific": {"versions": [int(VERSION)]}}
    with pytest.raises(InferenceServerException) as unknown:
        client.get_model_config("mnist")
    assert unknown.value.status() == "404"


def test_statistics_count_what_was_inferred(client: triton.InferenceServerClient, images: np.ndarray) -> None:
    def stat() -> dict[str, Any]:
        (entry,) = client.get_inference_statistics(MODEL)["model_stats"]
        return dict(entry)

    before = stat()
    tensor = image_input(images[:5], "UINT8", "[N,28,28]", binary=True)
    for _ in range(3):
        client.infer(MODEL, [tensor])
    bad = triton.InferInput("images", [1, 28, 27], "UINT8")
    bad.set_data_from_numpy(images[:1, :, :27].copy(), binary_data=True)
    with pytest.raises(InferenceServerException):
        client.infer(MODEL, [bad])
    after = stat()
    assert (after["name"], after["version"]) == (MODEL, VERSION)
    assert after["inference_count"] - before["inference_count"] == 15
    assert after["execution_count"] - before["execution_count"] == 3
    counts = {phase: after["inference_stats"][phase]["count"] - before["inference_stats"][phase]["count"]
              for phase in ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")}
    assert counts == {"success": 3, "fail": 1, "queue": 3, "compute_input": 3, "compute_infer": 3,
                      "compute_output": 3}
    assert after["last_inference"] > 0 and after["last_inference"] >= before["last_inference"]
    everything = client.get_inference_statistics()["model_stats"]
    assert (MODEL, VERSION) in {(s["name"], s["version"]) for s in everything}
