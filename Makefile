# One place for the project's commands; README.md names `make wordcount` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: venv browser build test wordcount bench lint clean

# Idempotent: a fresh clone gets a venv with the package (compiled core) and its test deps.
$(VENV)/.installed: pyproject.toml setup.py $(wildcard src/fastdstream/*.pyx src/fastdstream/*.pxi)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "setuptools>=77" "Cython>=3.0"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

venv: $(VENV)/.installed

# The status page's test loads it in a real browser: Debian's headless-capable chromium.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the status page test (apt-get, ~300 MB)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	    >/dev/null; }

# dist/: the sdist and a stripped manylinux wheel built from it (tools/build_dist.py).
build: venv
	$(PY) tools/build_dist.py dist

test: venv browser
	$(PY) -m ruff check $(wildcard src tests bench)
	$(PY) -m mypy
	$(PY) -m pytest tests $(PYTEST_ARGS)

wordcount: venv
	$(VENV)/bin/fastdstream example network_wordcount $(ARGS)

# The benchmarks' peers in a venv of their own: Quix Streams and Bytewax (latency; Quix
# pins an older confluent-kafka, which must not replace the one fastdstream is measured on)
# and PySpark 3.5 (pyspark.streaming's DStream, on the machine's Java 17; the
# socket word count is measured against it side by side).
PEERS := .venv-peers
$(PEERS)/.installed: Makefile
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet numpy "quixstreams>=3.20" "bytewax>=0.21" \
	  "pyspark>=3.5,<3.6"
	touch $@

bench: venv $(PEERS)/.installed
	$(PY) -m pytest bench --benchmark-only $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check $(wildcard src tests bench)
	$(PY) -m mypy

clean:
	rm -rf build dist $(VENV) src/fastdstream/*.so src/fastdstream/_core.c
