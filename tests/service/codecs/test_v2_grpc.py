"""service.codecs.v2.grpc: ModelInferRequest to pixels, outputs to ModelInferResponse. Responses are
read back the way clients read them: as tritonclient's own message type and InferResult."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tritonclient.grpc import InferResult, service_pb2

from service.codecs.v2.grpc import CONTENTS_FIELDS, encode_model_infer, parse_model_infer
from service.codecs.v2.outputs import model_outputs
from service.codecs.v2.protocol import DATATYPES
from service.errors import ServiceError
from service.grpc.protos import inference_pb2 as pb

RNG = np.random.default_rng(7)
PIXELS = RNG.integers(0, 256, (3, 28, 28)).astype(np.uint8)
EXPECTED = PIXELS.reshape(3, 784).astype(np.float32)


def raw_request(arr: np.ndarray, datatype: str, shape: list[int] | None = None, **fields: Any) -> Any:
    request = pb.ModelInferRequest(**fields)
    request.inputs.add(name="images", datatype=datatype, shape=shape or list(arr.shape))
    request.raw_input_contents.append(arr.astype(DATATYPES.get(datatype, arr.dtype)).tobytes())
    return request


def typed_request(values: Any, datatype: str, shape: list[int], field: str | None = None) -> Any:
    request = pb.ModelInferRequest()
    tensor = request.inputs.add(name="images", datatype=datatype, shape=shape)
    getattr(tensor.contents, field or CONTENTS_FIELDS[datatype]).extend(values)
    return request


def error_of(request: Any, max_batch: int = 1024) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        parse_model_infer(request, max_batch, model_outputs(True))
    assert info.value.status == 400
    return info.value


@pytest.mark.parametrize("datatype", ["UINT8", "UINT16", "INT32", "INT64", "FP16", "FP32", "FP64"])
@pytest.mark.parametrize("shape", [(3, 28, 28), (3, 784), (3, 1, 28, 28)])
def test_raw_input_of_any_pixel_datatype_and_image_shape(datatype: str, shape: tuple[int, ...]) -> None:
    parsed = parse_model_infer(raw_request(PIXELS.reshape(shape), datatype), 1024)
    np.testing.assert_array_equal(parsed.images, EXPECTED)
    assert parsed.raw_outputs  # raw in, raw out: what tritonclient reads


@pytest.mark.parametrize("datatype", [d for d in CONTENTS_FIELDS if d in DATATYPES])
def test_typed_contents_in_the_field_of_their_datatype(datatype: str) -> None:
    pixels = PIXELS // 2 if datatype == "INT8" else PIXELS
    parsed = parse_model_infer(typed_request(pixels.ravel().tolist(), datatype, [3, 28, 28]), 1024)
    np.testing.assert_array_equal(parsed.images, pixels.reshape(3, 784).astype(np.float32))
    assert not parsed.raw_outputs  # typed in, typed out


def test_request_id_and_requested_outputs_come_back_in_order() -> None:
    request = raw_request(PIXELS, "UINT8", id="req-42")
    request.outputs.add(name="digit")
    request.outputs.add(name="probabilities")
    parsed = parse_model_infer(request, 1024, model_outputs(False))
    assert parsed.id == "req-42"
    assert [name for name, _ in parsed.outputs] == ["digit", "probabilities"]


def _values() -> dict[str, np.ndarray | None]:
    proba = RNG.random((3, 10)).astype(np.float32)
    return {"probabilities": proba, "digit": proba.argmax(1), "is_digit": np.array([True, False, True])}


@pytest.mark.parametrize("raw", [True, False])
def test_response_reads_back_as_the_clients_message(raw: bool) -> None:
    request = raw_request(PIXELS, "UINT8", id="abc") if raw else typed_request(PIXELS.ravel().tolist(),
                                                                                 "UINT8", [3, 784])
    parsed = parse_model_infer(request, 1024, model_outputs(True))
    values = _values()
    wire = encode_model_infer("mnist-cnn", "3", parsed, values).SerializeToString()
    theirs = service_pb2.ModelInferResponse.FromString(wire)
    assert (theirs.model_name, theirs.model_version, theirs.id) == ("mnist-cnn", "3", "abc" if raw else "")
    assert [(o.name, o.datatype, list(o.shape)) for o in theirs.outputs] == [
        ("probabilities", "FP32", [3, 10]), ("digit", "INT64", [3]), ("is_digit", "BOOL", [3])]
    if raw:
        result = InferResult(theirs)
        for name, expected in values.items():
            np.testing.assert_array_equal(result.as_numpy(name), expected)
    else:
        assert not theirs.raw_output_contents
        np.testing.assert_array_equal(theirs.outputs[0].contents.fp32_contents,
                                      values["probabilities"].ravel())  # type: ignore[union-attr]
        np.testing.assert_array_equal(theirs.outputs[1].contents.int64_contents, values["digit"])
        np.testing.assert_array_equal(theirs.outputs[2].contents.bool_contents, values["is_digit"])


def test_binary_data_output_false_asks_for_typed_outputs() -> None:
    request = raw_request(PIXELS, "UINT8")
    request.parameters["binary_data_output"].bool_param = False
    assert not parse_model_infer(request, 1024).raw_outputs


@pytest.mark.parametrize(("make", "expected"), [
    (lambda: raw_request(PIXELS, "UINT8", shape=[3, 27, 28]),
     "input 'images': shape [3, 27, 28] is not an image batch; use [N, 28, 28], [N, 784] or [N, 1, 28, 28]"),
    (lambda: raw_request(PIXELS.astype(bool), "BOOL"), "input 'images': datatype BOOL cannot carry pixels"),
    (lambda: raw_request(PIXELS, "UINT8", shape=[3, 784 * 2]), "not an image batch"),
    (lambda: typed_request([1.0] * 784, "FP16", [1, 784], "fp32_contents"),
     "input 'images': datatype FP16 has no typed contents field; send it in raw_input_contents"),
    (lambda: typed_request([1] * 784, "FP32", [1, 784], "int_contents"),
     "input 'images': datatype FP32 takes its data in contents.fp32_contents; got contents.int_contents"),
    (lambda: typed_request([], "FP32", [1, 784]),
     "input 'images': no data; give it in contents.fp32_contents or in raw_input_contents"),
    (lambda: typed_request([1.0] * 700, "FP32", [1, 784]),
     "input 'images': data has 700 values, but shape [1, 784] needs 784"),
    (lambda: typed_request([0.0] * 100 + [256.0] + [0.0] * 683, "FP32", [1, 28, 28]),
     "input 'images': element [0, 3, 16] is 256, outside the pixel range 0-255"),
    (lambda: typed_request([0.0] * 5 + [float("nan")] + [0.0] * 778, "FP32", [1, 784]),
     "input 'images': element [0, 5] is nan; pixels must be finite numbers"),
    (lambda: typed_request([200] * 784, "INT8", [1, 784]),
     "input 'images': element [0, 0] is 200, which datatype INT8 cannot hold"),
    (lambda: raw_request(np.full((1, 784), -1.0), "FP32"),
     "input 'images': element [0, 0] is -1, outside the pixel range 0-255"),
])
def test_bad_input_says_what_and_where(make: Any, expected: str) -> None:
    assert expected in error_of(make()).message


def test_batch_over_the_limit() -> None:
    assert error_of(raw_request(PIXELS, "UINT8"), max_batch=2).message == (
        "input 'images': batch size 3 must be 1 to 2 (MNIST_MAX_BATCH_SIZE)")


def test_raw_size_that_disagrees_with_the_shape() -> None:
    request = raw_request(PIXELS, "UINT8", shape=[2, 28, 28])
    assert error_of(request).message == ("input 'images': raw_input_contents[0] is 2352 bytes, but shape "
                                         "[2, 28, 28] of UINT8 needs 1568")


def test_raw_entries_must_match_the_inputs() -> None:
    request = raw_request(PIXELS, "UINT8")
    request.raw_input_contents.append(b"extra")
    assert error_of(request).message.startswith("raw_input_contents has 2 entries for 1 inputs")


def test_both_contents_and_raw_is_refused() -> None:
    request = raw_request(PIXELS, "UINT8")
    request.inputs[0].contents.uint_contents.extend([1, 2])
    assert "give either contents or raw_input_contents, not both" in error_of(request).message


def test_wrong_input_name() -> None:
    request = raw_request(PIXELS, "UINT8")
    request.inputs[0].name = "pixels"
    assert error_of(request).message == "the model takes one input, 'images'; got ['pixels']"


def test_unknown_output_names_the_models_outputs() -> None:
    request = raw_request(PIXELS, "UINT8")
    request.outputs.add(name="logits")
    assert error_of(request).message == ("unknown output 'logits'; the model's outputs are 'probabilities', "
                                         "'digit', 'is_digit'")

