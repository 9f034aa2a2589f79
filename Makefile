# Sustainability audits of GenAI content pipelines.  `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KERNEL := genai-audit
OUT ?= reports/sample
# pytest workers for `make test` (pytest-xdist, in the test extras); PYTEST_WORKERS=0 runs in one
# process. Each test module runs on one worker, so its module fixtures are built once; the three
# notebooks checked by nbval run in order on one worker; the costliest modules (kernels,
# LibreOffice, Chromium, child runs) are handed out first, largest first (tests/conftest.py).
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL = $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder)
# nbval re-executes notebooks/*.ipynb and compares the outputs (tests/nbval_sanitize.cfg), in the
# same pytest session as tests/ so that the notebooks run beside the other tests.
NBVAL = notebooks --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-current-env

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

# uv installs in seconds; pip is the fallback where uv cannot be had. Bytecode is compiled at
# install time so that the first `audit run` does not pay for it.
PIP_INSTALL = if [ -x $(BIN)/uv ]; then $(BIN)/uv pip install --python $(BIN)/python --compile-bytecode $(1); \
	else $(BIN)/python -m pip install --compile $(1); fi

$(STAMP): pyproject.toml
	@echo "Creating $(VENV) and installing the toolkit (about 20 s the first time; log: $(VENV)/install.log)…"
	@$(PYTHON) -m venv $(VENV)
	@{ $(BIN)/python -m pip install -q uv || echo "(uv unavailable: installing with pip)"; \
	   $(call PIP_INSTALL,-e .); } > $(VENV)/install.log 2>&1 \
		|| { tail -30 $(VENV)/install.log; echo "install failed: see $(VENV)/install.log"; exit 1; }
	@$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (genai-audit)" >/dev/null
	@touch $(STAMP)

$(VENV)/.installed-%: $(STAMP)
	@echo "Installing the toolkit's '$*' extras into $(VENV)…"
	@{ $(call PIP_INSTALL,-e ".[$*]"); } >> $(VENV)/install.log 2>&1 \
		|| { tail -30 $(VENV)/install.log; echo "install failed: see $(VENV)/install.log"; exit 1; }
	@touch $@

install: $(STAMP) ## Create .venv, install the toolkit (no test or lab extras) and register the Jupyter kernel

system-deps: ## Install LibreOffice and Chromium from Debian (needs root) for PDF and output tests
	@bash scripts/ensure_system_deps.sh

demo: install ## Set up everything and run the sample audit
	@bash scripts/ensure_system_deps.sh --quiet || echo "(continuing without PDF: Chromium unavailable)"
	$(BIN)/audit run data/sample_engagement --out $(OUT)
	@echo
	@echo "Open $(OUT)/report.html in a browser, $(OUT)/report.xlsx in Excel, or run 'make lab'."

lint: $(VENV)/.installed-test ## Check the architecture: layers (import-linter), no import cycles, no private imports, PLC0415
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_import_cycles.py
	$(BIN)/python scripts/check_private_imports.py
	$(BIN)/ruff check audit scripts

# The Impact Framework (npm @grnsft/if, pinned) into .if/, for the test that recomputes the sample's
# manifest with if-run (tests/test_impact_manifest.py). Without npm the test skips and says why.
IF_VERSION := 1.1.0
IF_RUN := .if/node_modules/.bin/if-run

$(IF_RUN):
	@if command -v npm >/dev/null 2>&1; then \
		echo "Installing @grnsft/if@$(IF_VERSION) into .if/ (npm; log: .if/install.log)…"; \
		mkdir -p .if && npm install --prefix .if --no-audit --no-fund @grnsft/if@$(IF_VERSION) > .if/install.log 2>&1 \
			|| { tail -20 .if/install.log; echo "WARNING: @grnsft/if not installed: the if-run test will skip"; }; \
	else echo "WARNING: npm not found: @grnsft/if not installed, the if-run recomputation test will SKIP"; fi

if-run: ## Install the Impact Framework's if-run (npm @grnsft/if, pinned) into .if/ when npm is present
	@$(MAKE) --no-print-directory $(IF_RUN)

test: $(VENV)/.installed-test $(VENV)/.installed-lab lint if-run ## Run the lint step, pytest and the nbval notebook regression tests (installs the test extras)
	@bash scripts/ensure_system_deps.sh --quiet || echo "(LibreOffice/Chromium unavailable: those tests will skip loudly)"
	$(BIN)/python -m pytest -p tests.skip_slow_imports tests $(NBVAL) -m "not fuzz" -q $(PYTEST_PARALLEL)

test-full: system-deps test ## Everything in `test`, with LibreOffice and Chromium installed first

fuzz: $(VENV)/.installed-test ## Fuzz the intake with 10,000 generated engagements (about 15 minutes)
	AUDIT_FUZZ_EXAMPLES=10000 $(BIN)/python -m pytest tests/test_properties.py -k fuzzed_intake -q -p no:cacheprovider

lab: $(VENV)/.installed-lab ## Open the notebooks in JupyterLab with the project kernel (installs the lab extras)
	$(BIN)/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root)

benchmark: install ## Run the benchmark scripts (prints ratios against in-process baselines)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean: ## Remove generated reports and caches (keeps .venv)
	rm -rf reports .pytest_cache .hypothesis notebooks/.ipynb_checkpoints

distclean: clean ## Also remove the virtual environment
	rm -rf $(VENV)

.PHONY: help install system-deps demo lint if-run test test-full fuzz lab benchmark clean distclean
