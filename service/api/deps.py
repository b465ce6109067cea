"""Route dependencies: the worker's data plane, the model a /v1 request asks for, an uploaded image
file.

The prediction routes call `plane_of` and `query_ref` and read the body (buffered and size-checked
by the middleware) directly: resolving dependencies costs a one-image request about 6 % of its
time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from service.dataplane.plane import DataPlane, ModelRef
from service.errors import ServiceError

IMAGE_TYPES = ("image/png", "image/jpeg")
FILE_FIELD = "file"


def plane_of(request: Request) -> DataPlane:
    plane: DataPlane = request.app.state.dataplane
    return plane


def query_ref(request: Request) -> ModelRef:
    """The /v1 model choice: `?model=` and `?version=` (a version alone: the default model's)."""
    if not request.scope.get("query_string"):  # the common request: no query to parse
        return ModelRef(None, None)
    params = request.query_params
    return ModelRef(params.get("model"), params.get("version"))


class InMemoryMultiPartParser(MultiPartParser):
    """Starlette's parser, with file parts kept in memory: the body is already there, buffered and
    size-checked by the middleware, and a file would only land in /tmp (a small emptyDir in
    Kubernetes, read-only in compose) to be read straight back."""

    spool_max_size = 0  # SpooledTemporaryFile: 0 = never roll over to disk


async def read_form(request: Request) -> FormData:
    """The multipart body's parts (at most a few: only one is wanted); 400 if it is malformed."""
    parser = InMemoryMultiPartParser(request.headers, request.stream(), max_files=8, max_fields=8)
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise ServiceError(400, exc.message) from None


@dataclass
class ImageUpload:
    data: bytes
    loc: list[Any]  # where the file was in the request, for error details


async def image_upload(request: Request) -> ImageUpload:
    """The image file: the `file` part of a multipart/form-data body, or a raw PNG/JPEG body."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media in IMAGE_TYPES:
        return ImageUpload(await request.body(), ["body"])
    if media != "multipart/form-data":
        raise ServiceError(415, f"body must be multipart/form-data with a `{FILE_FIELD}` part, or a raw "
                       f"{' or '.join(IMAGE_TYPES)} image; got {media or 'no Content-Type'}")
    form = await read_form(request)
    try:
        loc: list[Any] = ["body", FILE_FIELD]
        extra = sorted(set(form) - {FILE_FIELD})
        if extra:
            raise ServiceError(422, f"body.{extra[0]}: unknown form field; send only `{FILE_FIELD}`",
                           [{"loc": ["body", k], "msg": "unknown field", "type": "extra_forbidden"}
                            for k in extra])
        parts = form.getlist(FILE_FIELD)
        if not parts:
            raise ServiceError(422, f"body.{FILE_FIELD}: field required (the image file)",
                           [{"loc": loc, "msg": "field required", "type": "missing"}])
        if len(parts) > 1 or not isinstance(parts[0], UploadFile):
            what = f"{len(parts)} files" if len(parts) > 1 else "a text value, not a file"
            raise ServiceError(422, f"body.{FILE_FIELD}: expected one image file, got {what}",
                           [{"loc": loc, "msg": "expected one file", "type": "file_type"}])
        return ImageUpload(await parts[0].read(), loc)
    finally:
        await form.close()
