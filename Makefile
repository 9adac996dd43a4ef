# The two commands: `make demo` and `make test`. Everything else is a helper.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
S3_PORT ?= 4566
export S3_PORT

.PHONY: demo test test-fast test-tools bytecode bench s3 lint typecheck fuzz clean install

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip >/dev/null
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

## Start the embedded S3, seed a Redpanda-layout bucket, replicate it to a second region, serve it on Kafka + HTTP.
demo: $(STAMP)
	$(BIN)/python localstack/demo.py

# The files holding tests marked `timing`: the second run collects only them (collecting the whole suite
# again imports every test module's libraries, ~9 s of CPU before the first timing test starts).
TIMING_TESTS := $(shell grep -l 'mark\.timing' tests/test_*.py)

## Lint, type-check and run the whole suite (unit, property, integration against a real S3 server process).
test: $(STAMP) test-tools bytecode
	$(BIN)/ruff check app segment_format tests localstack bench
	$(BIN)/mypy
	$(BIN)/pytest -q -x -n 3 --dist loadfile --no-loadscope-reorder --durations=15 -m "not timing"
	$(BIN)/pytest -q -x -m timing $(TIMING_TESTS)

## What the end-to-end tests drive besides Python (Debian's chromium, kcat and Node.js; kafkajs from npm),
## installed once before the workers start (the tests install what is still missing, one at a time).
test-tools:
	sh tests/debian/install.sh chromium chromium fonts-dejavu-core
	sh tests/debian/install.sh kcat kcat
	sh tests/kafka_tools/install_kafkajs.sh

## Compiled modules of the project's own code, written once: the tests start a few hundred Python processes,
## and where PYTHONDONTWRITEBYTECODE is set (CI machines often set it) each would compile every module again.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q -j 0 app segment_format localstack tests bench >/dev/null

## The inner loop: lint, types and every test not marked slow (the end-to-end ones), in about a minute.
test-fast: $(STAMP) bytecode
	$(BIN)/ruff check app segment_format tests localstack bench
	$(BIN)/mypy
	HYPOTHESIS_PROFILE=fast $(BIN)/pytest -q -x -n 3 --dist loadfile -m "not slow"

## Benchmarks: every figure printed as a ratio against a baseline measured in the same run.
bench: $(STAMP)
	bash bench/install_tools.sh
	$(BIN)/python -m bench

## Fuzzing at volume (bench/fuzz.py): >= 100,000 hypothesis cases over the Kafka and segment decoders, cases/s.
fuzz: $(STAMP)
	$(BIN)/python -m bench fuzz

## The embedded local S3 in the foreground: buckets `source` (us-east-1) and `dest` (eu-west-1).
s3: $(STAMP)
	$(BIN)/python localstack/s3server.py --port $(S3_PORT)

lint: $(STAMP)
	$(BIN)/ruff check app segment_format tests localstack bench

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis tests/output .demo .bench .s3data
	find app segment_format localstack tests bench -name __pycache__ -prune -exec rm -rf {} +
