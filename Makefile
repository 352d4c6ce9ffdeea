# Two entry points (see README): `make demo` runs the pipeline, `make test` runs the tests.
# Both create .venv and install what is missing first; re-running skips what is already done.
# On a machine with a CUDA GPU, `make gpu-check` measures and checks training, inference, serving and Ray Train there.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export NO_ALBUMENTATIONS_UPDATE := 1
export RAY_USAGE_STATS_ENABLED := 0
# No pip wheel cache: the CUDA build of torch alone fills 5.5 GB of the venv; a second copy of every
# downloaded wheel in ~/.cache has run a CI disk out of space.
export PIP_NO_CACHE_DIR := 1

.PHONY: setup demo lint test gpu-check pictures

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch + torchvision first and alone: these exact versions come from local disk; others pull gigabytes.
$(VENV)/.torch-installed: | $(PY)
	@echo "installing torch==2.14.1 torchvision==0.29.1 (about a minute)"
	$(PIP) install -qq torch==2.14.1 torchvision==0.29.1
	@touch $@

$(VENV)/.deps-installed: pyproject.toml $(VENV)/.torch-installed
	@echo "installing rpsdet and its pinned dependencies"
	$(PIP) install -qq -e '.[test]'
	@touch $@

# DVC's site cache lives inside the project, not in a system temp folder.
.dvc/config.local:
	dvc config --local core.site_cache_dir $(CURDIR)/.dvc/site_cache

setup: $(VENV)/.deps-installed .dvc/config.local

# Ends with one screen of results (also metrics/summary.md); every key of every file: dvc metrics show --md
demo: setup
	time dvc repro
	@echo
	@rpsdet summary

# Style first (configured in pyproject.toml): a lint failure stops `make test` before the slow part.
lint: setup
	ruff check .
	ruff format --check .

test: setup lint
	pytest

# The README's pictures, from a finished run (after make demo): docs/gallery.png, docs/pr_curve.png, docs/phone.png.
# Needs the system chromium (sudo apt-get install -y chromium); serves round 2's model for a minute on loopback.
pictures: setup
	python docs/make_pictures.py

# Under 8 minutes on one GPU -> metrics/bench_gpu.json; without a GPU it says so in one line and writes nothing.
gpu-check: setup
	python bench/gpu_check.py
