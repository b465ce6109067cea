# Quick start targets. `make serve` installs the service (with the `client` extra the README's
# Python examples use) into .venv and serves the shipped models; `make test` installs the project
# with its dev extra and runs every test, reading MNIST from $MNIST_DATA_DIR or data/mnist
# (`make data` downloads it there).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# A venv with the project installed (editable) with the given extras, then the target's marker file
# ($(comma) in the extras: call splits its arguments at commas).
comma := ,
define venv_with
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.$(1)'
	touch $@
endef

.PHONY: serve test data lint lock grpc-stubs install-dev fuzz train-quick train-mlp train-cnn clean notebook notebook-outputs bench-peers \
	bench-cnn-torch soak

$(BIN)/.installed-dev: pyproject.toml
	$(call venv_with,[dev])

install-dev: $(BIN)/.installed-dev

$(BIN)/.installed: pyproject.toml
	$(call venv_with,[client])

serve: $(BIN)/.installed
	$(BIN)/mnist-serve

# Without the OpenBLAS overrides some machines set (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE): a forced
# kernel may compute a batched image's last bits differently, and the service then turns batching
# off (neuralnet/blas_rows.py), while the tests check batching on the kernel NumPy picks itself.
# A module's tests stay on one worker (--dist loadfile): they share the servers its fixtures start.
# Modules go out in collection order, slow ones first (tests/conftest.py), not by their test count.
test: $(BIN)/.installed-dev
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/pytest -n auto --maxprocesses 4 --dist loadfile \
		--no-loadscope-reorder

# ruff, mypy, then the deployment validators (deploy/kserve against KServe's CRDs, see
# tests/deploy/kserve_manifests.py); kustomization.yaml is no Kubernetes object (tests/deploy
# validates the rendered kustomization, generated ConfigMap included).
lint: $(BIN)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	$(BIN)/kubernetes-validate --strict --quiet --kubernetes-version 1.33.0 \
		deploy/kubernetes/deployment.yaml deploy/kubernetes/service.yaml deploy/kubernetes/hpa.yaml \
		deploy/kubernetes/pdb.yaml
	$(BIN)/python -m tests.deploy.kserve_manifests deploy/kserve/servingruntime.yaml deploy/kserve/inferenceservice.yaml

# The image's hash-pinned installs (Dockerfile): requirements/runtime.txt, then requirements/train.txt
# held to the same versions, and requirements/build.txt, the build backend the wheel is made with. Run after changing dependencies in pyproject.toml; a pin pyproject still
# allows is kept, `make lock LOCK_ARGS=--upgrade` moves every pin to the newest release. Written to
# a copy, then moved into place, so an interrupted run leaves the old file whole. With Python 3.11,
# the image's.
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes \
	--strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)

lock: $(BIN)/.installed-dev
	cp requirements/runtime.txt requirements/runtime.txt.tmp
	$(PIP_COMPILE) --output-file requirements/runtime.txt.tmp pyproject.toml
	mv requirements/runtime.txt.tmp requirements/runtime.txt
	cp requirements/train.txt requirements/train.txt.tmp
	$(PIP_COMPILE) --extra train --constraint requirements/runtime.txt --output-file requirements/train.txt.tmp \
		pyproject.toml
	mv requirements/train.txt.tmp requirements/train.txt
	cp requirements/build.txt requirements/build.txt.tmp
	$(PIP_COMPILE) --only-build-deps --build-deps-for wheel --output-file requirements/build.txt.tmp pyproject.toml
	mv requirements/build.txt.tmp requirements/build.txt

# The gRPC stubs beside service/grpc/protos/inference.proto, committed (the wheel and the image need
# no protoc); run after changing the .proto. tests/service/grpc checks they are current.
grpc-stubs: $(BIN)/.installed-dev
	$(BIN)/python -m service.grpc.protos.generate

# The exact commands that produced the shipped weights (see README).
# MNIST into data/mnist, where the tests and mnist-train read it by default (needs internet once).
data: $(BIN)/.installed
	$(BIN)/python -m training.download data/mnist

$(BIN)/.installed-train: pyproject.toml
	$(call venv_with,[client$(comma)train])

# A first training run: the MLP, 3 epochs (~98 % test accuracy), no report; at least 30 s on 2 idle
# cores, minutes on busy ones (README "Training").
train-quick: $(BIN)/.installed-train
	$(BIN)/mnist-train --arch mlp --epochs 3 --no-report

train-mlp: $(BIN)/.installed-train
	$(BIN)/mnist-train --arch mlp --epochs 25

train-cnn: $(BIN)/.installed-train
	$(BIN)/mnist-train --arch cnn --epochs 11

# The walkthrough notebook: open it in JupyterLab, or re-run it and save its outputs in place.
$(BIN)/.installed-notebook: pyproject.toml
	$(call venv_with,[notebook])

notebook: $(BIN)/.installed-notebook
	$(BIN)/jupyter lab notebooks/walkthrough.ipynb

notebook-outputs: $(BIN)/.installed-dev
	$(BIN)/python notebooks/execute.py notebooks/walkthrough.ipynb

# mnist-serve against MLServer 1.7.1, a minimal FastAPI app and the bare forward pass (benchmarks/README.md,
# "Peers"); MLServer and torch go into their own benchmarks/peers/.venv. PEERS_ARGS="--duration 5" etc.
bench-peers: $(BIN)/.installed-dev
	$(BIN)/python benchmarks/peers/run.py $(PEERS_ARGS)

bench-cnn-torch: $(BIN)/.installed-dev
	$(BIN)/python benchmarks/peers/cnn_vs_torch.py

# A mixed load at 80 % of the measured maximum against the real server, with PASS/FAIL targets
# (benchmarks/README.md, "Soak"). SOAK_ARGS="--workers 2 --kill-worker-at 30" etc.
SOAK_ARGS ?= --duration 180 --requests-min 100000
soak: $(BIN)/.installed-dev
	$(BIN)/python benchmarks/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info

# Coverage-guided fuzzing (atheris, the `fuzz` extra): each harness of fuzz/ for FUZZ_SECONDS, one
# after another, from fuzz/seeds/<target>; the grown corpus and any crashing input go to .fuzz/.
# A crash stops the run with the input's path; keep it as a regression test once it is fixed.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= artifact v1_parser v2_json v2_binary images

$(BIN)/.installed-fuzz: pyproject.toml
	$(call venv_with,[dev$(comma)fuzz])

fuzz: $(BIN)/.installed-fuzz
	for target in $(FUZZ_TARGETS); do \
		fuzz/run_one.sh $$target $(FUZZ_SECONDS) $(CURDIR)/$(BIN)/python || exit 1; \
	done
