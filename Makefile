# Quick start: `make run` and `make test`. Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The exact versions CI last passed with; `make lock` rewrites it on purpose.
LOCK := constraints.txt

.PHONY: setup run test lock clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet -c $(LOCK) --upgrade pip
	# CPU build of torch first, pinned: an open range would download a multi-GB CUDA build.
	$(BIN)/pip install --quiet -c $(LOCK) torch==2.13.0
	$(BIN)/pip install --quiet -c $(LOCK) -e '.[dev,materials,cluster]'
	touch $(STAMP)

# --check: exit 4 when the numbers do not agree with the reference run shipped with elpagen
# (exact models exactly, the others within 4 standard errors; docs/results.md).
run: setup
	$(BIN)/elpagen run --check

test: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest

# Resolve the newest versions that pyproject.toml allows in a throwaway venv and pin
# them in $(LOCK). Run it deliberately, then `make clean test` and commit the file.
lock:
	rm -rf .lock-venv
	$(PY) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet torch==2.13.0
	.lock-venv/bin/pip install --quiet -e '.[dev,materials,cluster]'
	( echo "# Exact versions for \`make setup\` (written by \`make lock\`; edit by rerunning it)."; \
	  .lock-venv/bin/pip freeze --all --exclude-editable | sed -e 's/+cpu$$//' | sort -f ) > $(LOCK)
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .lock-venv build *.egg-info src/*.egg-info
