"""An MLServer 1.7 custom runtime serving a mnist-serve artifact with the repo's own NumPy forward pass.

Runs inside `benchmarks/peers/.venv` (MLServer is never a dependency of the service), with the repo
root on PYTHONPATH so that `neuralnet` (NumPy only) imports. `run.py` writes the model folder:

    model-settings.json  {"name": "mnist-mlp", "implementation": "mlserver_runtime.MnistRuntime",
                          "parameters": {"uri": "<repo>/weights/mnist-mlp/1.npz"}}

Input: one v2 tensor `images`, UINT8 or FP32 (any numeric datatype), shape [N, 784] or [N, 28, 28],
raw 0-255 pixels. Outputs: `probabilities` FP32 [N, 10] and `digit` INT64 [N]. Decoding and
encoding go through MLServer's own NumpyCodec, as a typical custom runtime would.
"""

from __future__ import annotations

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import MLServerError
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri

from neuralnet.artifact import load_artifact
from neuralnet.inference import InferenceModel

INPUT_NAME = "images"
PIXELS = 784


class MnistRuntime(MLModel):
    """`load` reads the artifact once; `predict` runs `InferenceModel.predict_proba` on the batch."""

    async def load(self) -> bool:
        path = await get_model_uri(self.settings)
        self._model = InferenceModel.from_artifact(load_artifact(path))
        self.ready = True
        return self.ready

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        tensors = [t for t in payload.inputs if t.name == INPUT_NAME]
        if len(tensors) != 1:
            raise MLServerError(f"expected one input named '{INPUT_NAME}'", status_code=400)
        pixels = NumpyCodec.decode_input(tensors[0])
        if pixels.ndim < 2 or pixels[0].size != PIXELS:
            raise MLServerError(f"input '{INPUT_NAME}': shape {list(pixels.shape)} is not "
                                "[N, 784] or [N, 28, 28]", status_code=400)
        proba = self._model.predict_proba(pixels.reshape(len(pixels), PIXELS))
        digits = proba.argmax(axis=1).astype(np.int64)
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            id=payload.id,
            outputs=[NumpyCodec.encode_output("probabilities", proba.astype(np.float32, copy=False)),
                     NumpyCodec.encode_output("digit", digits)],
        )
