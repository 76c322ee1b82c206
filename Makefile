# rnnexport: every target installs what it needs first, so a fresh clone needs nothing but `make`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Offline, point the data at an existing copy: make train NAMES_DIR=../shared/data/names
NAMES_DIR ?= $(RNNEXPORT_NAMES_DIR)
# An unpinned `torch` resolves to the CUDA build (several GB). Install the pinned CPU wheel first so the
# package's torch range is already met. Where this pin would fetch a CUDA wheel from PyPI, add the CPU index:
#   make install TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
MODEL_DIR ?= exported
WEB_PORT ?= 8000

.PHONY: install data train export aoti model-card cv-report verify classify test docs-figures test-embed test-consumers consumer-envs cpp-deps lint bench bench-train clean browser web serve-web

install: $(STAMP)

# pip runs --quiet (its log is pages long), so each step says first what it does and how big it is.
$(STAMP): pyproject.toml
	@echo "install 1/3: creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "install 2/3: $(TORCH_SPEC), the CPU wheel (about 180 MB; the longest step, minutes on a slow link)"
	$(BIN)/pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	@echo "install 3/3: rnnexport (editable) and its dependencies with the dev and dask extras (about 50 packages)"
	$(BIN)/pip install --quiet -e ".[dev,dask]"
	touch $(STAMP)
	@echo "install: done ($(VENV); \`make install\` does nothing more until pyproject.toml changes)"

data: install
	$(BIN)/rnnexport data $(if $(NAMES_DIR),--from "$(NAMES_DIR)")

# The repository's model is exported/ (MODEL_DIR); commands are given it explicitly: without --model-dir they
# load $RNNEXPORT_MODEL_DIR, else the model packaged with rnnexport, never ./exported by accident.
train: data
	$(BIN)/rnnexport train --out $(MODEL_DIR)

# Exporting the repository's model (exported/) also rewrites its card, docs/model_card.md (make model-card).
export: install
	$(BIN)/rnnexport export --out $(MODEL_DIR)
	$(if $(filter exported,$(MODEL_DIR)),$(MAKE) model-card)

# docs/model_card.md from exported/'s training.json and manifest.json and the committed cross-validation report
# (CV_REPORT, written by make cv-report: 10 folds of the default recipe, long on a small machine). The test
# tests/test_model_card.py fails when the committed card differs from what these reports give.
CV_REPORT ?= docs/reports/cv10_default.json

model-card: install
	$(BIN)/rnnexport model-card --model-dir exported --cv-report $(CV_REPORT) -o docs/model_card.md

cv-report: data
	$(BIN)/rnnexport evaluate --cv 10 --jobs 2 --report $(CV_REPORT)

# MODEL_DIR's checkpoint exported into AOTI_DIR with char_rnn_aoti.pt2, the AOTInductor package for C++
# (classify_names_aoti). Not part of `export`: the package runs only on this CPU's kind with this torch, so it is
# built where it runs, outside the committed exported/, and its compile (36-90 s on 2 cores, docs/embedding.md)
# would make every `make train export` about half as long again.
AOTI_DIR ?= build/aoti-model
aoti: install
	$(BIN)/rnnexport export --aoti --checkpoint $(MODEL_DIR)/checkpoint.pt --out $(AOTI_DIR)

verify: install
	$(BIN)/rnnexport verify --model-dir $(MODEL_DIR)

test: install lint browser cpp-deps consumer-envs
	$(BIN)/pytest

# The C++ (LibTorch: TorchScript and AOTInductor) and Node.js (onnxruntime-node) consumers, built and compared with
# Python (also part of `test`). The AOTInductor consumer's model folder is MODEL_DIR's checkpoint exported with
# --aoti under build/aoti/ (compiled once, cached).
test-embed: install cpp-deps
	RNNEXPORT_EMBED_MODEL_DIR=$(MODEL_DIR) $(BIN)/pytest -m embed tests/test_embed.py -ra

# Debian's Chromium for tests/test_web.py (driven by playwright-core: no browser download). Installed when missing
# and running as root (CI); otherwise the browser tests skip and say why.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	  else echo "note: /usr/bin/chromium missing; as root: apt-get update && apt-get install -y chromium"; fi; \
	fi

# The static page (examples/web) under build/web with onnxruntime-web's wasm files and MODEL_DIR's model.
WEB_MODULES := examples/web/node_modules/.installed

$(WEB_MODULES): examples/web/package-lock.json
	cd examples/web && npm ci --no-audit --no-fund
	touch $@

web: $(WEB_MODULES)
	node examples/web/assemble.js $(MODEL_DIR) build/web

# Serve it on localhost only: http://127.0.0.1:$(WEB_PORT)/
serve-web: web
	$(PYTHON) -m http.server $(WEB_PORT) --bind 127.0.0.1 --directory build/web

# The Debian packages the C++ and Node.js consumers need, installed only when missing (CI runs as root).
CPP_DEB_PACKAGES := nlohmann-json3-dev libssl-dev
# Tools the consumers need, as command=Debian package; each is installed only when its command is missing (a
# machine may have them from elsewhere, e.g. a newer Node.js).
TOOL_DEB_PACKAGES := cmake=cmake g++=g++ node=nodejs npm=npm
cpp-deps:
	@missing="$$(for p in $(CPP_DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done; \
	  for pair in $(TOOL_DEB_PACKAGES); do command -v $${pair%%=*} >/dev/null 2>&1 || echo $${pair#*=}; done)"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y --no-install-recommends $$missing; \
	  else echo "missing Debian packages: $$missing; as root: apt-get install -y $$missing" >&2; exit 1; fi; \
	fi

# Every artifact through third-party runtimes, each installed from the registries into its own environment under
# build/consumers/ (pinned in tests/consumers/requirements/*.txt and tests/consumers/ort_web/package-lock.json;
# rebuilt only when its pins change). Also part of `test`.
CONSUMERS_DIR := build/consumers
PY_CONSUMERS := $(basename $(notdir $(wildcard tests/consumers/requirements/*.txt)))
CONSUMER_STAMPS := $(PY_CONSUMERS:%=$(CONSUMERS_DIR)/%/.installed) $(CONSUMERS_DIR)/ort-web/.installed

# torch-newest is the newest torch on PyPI, beyond the cap a machine's pip configuration may set (this one's caps
# torch at 2.14.1): it is installed with PIP_CONFIG_FILE=/dev/null. PyPI's Linux wheel is the CUDA build (it runs on
# the CPU): 5.4 GB installed, 2 min 55 s to download and install on this machine with no pip cache.
UNCAPPED_CONSUMERS := torch-newest

consumer-envs: $(CONSUMER_STAMPS)

$(CONSUMERS_DIR)/%/.installed: tests/consumers/requirements/%.txt
	@echo "consumer environment $*: installing $< into $(CONSUMERS_DIR)/$* (once; again only when its pins change)"
	rm -rf $(CONSUMERS_DIR)/$*
	$(PYTHON) -m venv $(CONSUMERS_DIR)/$*
	$(if $(filter $*,$(UNCAPPED_CONSUMERS)),PIP_CONFIG_FILE=/dev/null) $(CONSUMERS_DIR)/$*/bin/pip install --quiet -r $<
	touch $@

$(CONSUMERS_DIR)/ort-web/.installed: tests/consumers/ort_web/package.json tests/consumers/ort_web/package-lock.json
	rm -rf $(CONSUMERS_DIR)/ort-web
	mkdir -p $(CONSUMERS_DIR)/ort-web
	cp $^ $(CONSUMERS_DIR)/ort-web/
	cd $(CONSUMERS_DIR)/ort-web && npm ci --no-audit --no-fund --ignore-scripts
	touch $@

test-consumers: install consumer-envs
	$(BIN)/pytest -m consumers tests/test_consumers.py -ra

# After a re-export: rewrite every model figure the docs show (README, docs/, --help) from exported/, then
# read the diff (tests/test_docs.py holds them; without --write it lists the stale ones).
docs-figures: install
	$(BIN)/python -m tests.test_docs --write

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: data
	$(BIN)/rnnexport bench --model-dir $(MODEL_DIR)

bench-train: data
	$(BIN)/rnnexport bench-train

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build *.egg-info examples/cpp/build examples/node/node_modules examples/web/node_modules bench
