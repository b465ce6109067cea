# mnist-serve image. Stages: `builder` makes the wheel; `train` adds the training extra (used by
# the compose `train` service); the last stage, the default target, is the service alone.
# Needs BuildKit (`RUN --mount`): Docker 23 and later use it by default, Docker 20.10 with
# DOCKER_BUILDKIT=1. No `# syntax=` line: the engine's own frontend builds it, nothing is pulled
# for the build itself (offline and air-gapped builders work).
# The base, pinned by digest (of the multi-platform index), so every build starts from the same
# files; move it on deliberately. Any Python 3.11 image with pip on PATH may stand in.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# The wheel, built with the build backend requirements/build.txt pins (hashes checked) and no
# build isolation, so pip fetches nothing unpinned.
FROM ${PYTHON_IMAGE} AS builder
WORKDIR /src
RUN --mount=type=bind,source=requirements/build.txt,target=/tmp/requirements.txt \
    pip install --no-cache-dir --require-hashes -r /tmp/requirements.txt
COPY pyproject.toml README.md ./
COPY neuralnet/ neuralnet/
COPY service/ service/
COPY training/ training/
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels .

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
# The served-versions record goes to /app/state (the weights may be mounted read-only); mount a
# volume there to keep it across containers. The shutdown budget fits `docker stop`'s default
# 10 s; compose and Kubernetes raise it together with their grace periods.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MNIST_HOST=0.0.0.0 \
    MNIST_PORT=8000 \
    MNIST_WEIGHTS_DIR=/app/weights \
    MNIST_STATE_PATH=/app/state/serving.json \
    MNIST_WORKERS=1 \
    MNIST_SHUTDOWN_TIMEOUT_SECONDS=8 \
    MNIST_LOG_LEVEL=info
USER 10001:10001
# HTTP (REST) and the Open Inference Protocol over gRPC (MNIST_GRPC_PORT)
EXPOSE 8000 8001
# Ready within seconds of the start: checked every 5 s, so healthy soon after.
HEALTHCHECK --interval=5s --timeout=4s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('MNIST_PORT', '8000')}/health/ready\", timeout=3)"]
# Arguments after the image name are mnist-serve flags: `docker run IMAGE --model mnist-mlp`.
ENTRYPOINT ["mnist-serve"]
CMD []
