# Pufa: two commands for a fresh machine (see README).
#   make run    set up, import the bundled sample content, build a model if none is active,
#               serve the API on http://127.0.0.1:8000 with SQLite (./pufa.db)
#   make test   set up and run the tests, the linter and the type checker
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run test lint bench eval clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

setup: $(BIN)/.installed

run: setup
	$(BIN)/pufa serve --bootstrap --host $(HOST) --port $(PORT)

test: setup
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check .
	$(BIN)/mypy

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/tokenizer.py
	$(BIN)/python bench/recommend.py
	$(BIN)/python bench/related.py
	$(BIN)/python bench/http_api.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
