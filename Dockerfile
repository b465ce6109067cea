# syntax=docker/dockerfile:1
# mnist-serve image. Stages: `builder` makes the wheel; `train` adds the training extra (used by
# the compose `train` service); the last stage, the default target, is the service alone.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
WORKDIR /src
COPY pyproject.toml README.md ./
COPY neuralnet/ neuralnet/
COPY service/ service/
COPY training/ training/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# Training: the same wheel with the `train` extra (tqdm, matplotlib). Not the default target.
# Installed like the runtime stage below, from its own lock (the runtime's pins plus the extra's).
FROM ${PYTHON_IMAGE} AS train
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib
RUN --mount=type=bind,source=requirements/train.txt,target=/tmp/requirements.txt \
    --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --require-hashes -r /tmp/requirements.txt \
    && pip install --no-cache-dir --no-deps --no-index "$(ls /wheels/mnist_serve-*.whl)[train]" \
    && pip check
WORKDIR /app
USER 10001:10001
ENTRYPOINT ["mnist-train"]
CMD ["--help"]

# Serving: the wheel without extras, the shipped weights, a non-root user. The dependencies are
# exactly those requirements/runtime.txt pins, each file checked against its hash (`make lock`
# regenerates it); then the wheel alone (--no-deps --no-index: nothing more is fetched), and
# `pip check` fails the build if the lock misses anything the wheel requires.
FROM ${PYTHON_IMAGE} AS runtime
RUN --mount=type=bind,source=requirements/runtime.txt,target=/tmp/requirements.txt \
    --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --require-hashes -r /tmp/requirements.txt \
    && pip install --no-cache-dir --no-deps --no-index /wheels/mnist_serve-*.whl \
    && pip check \
    && groupadd --system --gid 10001 mnist \
    && useradd --system --uid 10001 --gid mnist --no-create-home --shell /usr/sbin/nologin mnist \
    && install -d -o 10001 -g 10001 /app/state
WORKDIR /app
COPY weights/ weights/
# Settings are MNIST_* variables (service/config.py); MNIST_MODEL unset serves the best model.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MNIST_HOST=0.0.0.0 \
    MNIST_PORT=8000 \
    MNIST_WEIGHTS_DIR=/app/weights \
    MNIST_WORKERS=1 \
    MNIST_LOG_LEVEL=info
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('MNIST_PORT', '8000')}/health/ready\", timeout=4)"]
CMD ["mnist-serve"]
