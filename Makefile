# Phase 11 — serving many LoRA adapters from one base model.
# Two commands matter:  `make grade` (grade your labs)  and  `make test` (the course's own suite).
# Both build .venv/ by themselves from the pins in pyproject.toml, only when it is missing or stale.

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
BASE   := $(VENV)/.stamp-base
LAB02  := $(VENV)/.stamp-lab02
MODEL  := labs/lab02_serve_many_loras/model/.stamp
LAB    ?=
SUBMISSIONS ?=
JOBS   ?= 2
ALLOW_UNSANDBOXED ?=
export MPLBACKEND := Agg
# Nothing in this course may reach a model hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# `import grader` (the course's tooling) from any target, notebook kernel or test.
export PYTHONPATH := $(CURDIR)
.PHONY: suite-present help grade test test-lab release reset stubs bench-lab01 bench-lab04 bench-grade lab02-setup lab02-model \
        lab02-capture lab02-serve nbgrader-course nbgrader-release autograde notebooks clean

help:
	@echo "make grade          grade labs/ (a score table; never writes into labs/)"
	@echo "make test           the course's own test suite (installs the lab02 engine too)"
	@echo "make stubs          maintainers: regenerate stubs, notebook graded cells, public-test fingerprints"
	@echo "make test-lab LAB=lab01  one lab's public tests with plain pytest, in-process (prints shown)"
	@echo "make reset LAB=name [MODULE=m]  restore a lab's stub module(s) (your file is backed up first)"
	@echo "make release        build the student release in dist/student/"
	@echo "make bench-lab01    lab01 benchmark (table + PNG in build/bench/)"
	@echo "make bench-lab04    lab04 simulator benchmark"
	@echo "make bench-grade    what the grader's sandbox costs (direct vs out-of-process vs sandboxed)"
	@echo "make lab02-setup    install the pinned vLLM (CPU or CUDA build) into .venv"
	@echo "make lab02-model    build the tiny offline model and its three adapters"
	@echo "make lab02-capture  record real engine runs into labs/lab02_serve_many_loras/captured/"
	@echo "make lab02-serve    record real OpenAI-server runs into labs/lab02_serve_many_loras/captured/server/"
	@echo "make nbgrader-course / nbgrader-release / autograde SUBMISSIONS=DIR   (instructors;"
	@echo "                    autograde refuses to run without a sandbox unless ALLOW_UNSANDBOXED=1)"

# --- environment -------------------------------------------------------------------------
$(BASE): pyproject.toml grader/authoring/deps.py
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) grader/authoring/deps.py base > $(VENV)/requirements-base.txt
	$(VPY) -m pip install -q --disable-pip-version-check -r $(VENV)/requirements-base.txt
	@$(VPY) grader/authoring/deps.py sandbox
	@touch $@

$(LAB02): $(BASE) grader/authoring/deps.py
	$(VPY) grader/authoring/deps.py lab02-install
	@touch $@

lab02-setup: $(LAB02)

# --- students ----------------------------------------------------------------------------
grade: $(BASE)
	$(VPY) -m grader --impl labs $(if $(LAB),--lab $(LAB))

# The public tests of one lab, run by plain pytest in this process (no sandbox, no hidden tests):
# quick to iterate with, prints shown as they happen (-s). `make grade` is what counts.
test-lab: $(BASE)
	@test -n "$(LAB)" || { echo "usage: make test-lab LAB=lab01"; exit 2; }
	PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTHONPATH=labs:. $(VPY) -m pytest -q -s -p no:cacheprovider $(wildcard labs/$(LAB)*/tests)

reset: $(BASE)
	$(VPY) -m grader.authoring.reset $(LAB) $(MODULE)

notebooks: $(BASE)
	$(VENV)/bin/jupyter lab notebooks/

bench-lab01: $(BASE)
	$(VPY) -m grader.bench.lab01

bench-lab04: $(BASE)
	$(VPY) -m grader.bench.lab04

bench-grade: $(BASE)
	$(VPY) -m grader.bench.grade

$(MODEL): $(LAB02) labs/lab02_serve_many_loras/tools/build_tiny_model.py
	$(VPY) labs/lab02_serve_many_loras/tools/build_tiny_model.py --out labs/lab02_serve_many_loras/model

lab02-model: $(MODEL)

lab02-capture: $(MODEL)
	$(VPY) labs/lab02_serve_many_loras/tools/capture.py --impl solutions

lab02-serve: $(MODEL)
	$(VPY) labs/lab02_serve_many_loras/tools/capture_server.py

# --- maintainers -------------------------------------------------------------------------
# Two workers (pytest-xdist), each test file on one of them: module fixtures (the mutants, the
# nbgrader course) run once. TEST_JOBS=1 runs the suite in this process, one test at a time.
TEST_JOBS ?= 2
test: suite-present $(BASE) $(LAB02) $(MODEL)
	$(VPY) -m pytest grader/tests -q --durations=15 $(if $(filter-out 1,$(TEST_JOBS)),-n $(TEST_JOBS) --dist loadfile)

suite-present:
	@test -d grader/tests || { echo "make test is the maintainers' suite; this copy has none. Use: make grade"; exit 2; }

stubs: $(BASE)
	$(VPY) -m grader.authoring.stubs --write
	$(VPY) -m grader.authoring.nbcells --write
	$(VPY) -m grader.authoring.manifest --write
	$(VPY) -m grader.grading.time_limits --write

release: $(BASE)
	$(VPY) -m grader.authoring.release dist/student

# --- instructors (nbgrader) --------------------------------------------------------------
nbgrader-course: $(BASE)
	$(VPY) -m grader.classroom.nbgrader_course build

nbgrader-release: $(BASE)
	$(VPY) -m grader.classroom.nbgrader_course release

autograde: $(BASE)
	$(VPY) -m grader.classroom.nbgrader_course autograde --submissions "$(SUBMISSIONS)" --jobs $(JOBS) \
	    $(if $(ALLOW_UNSANDBOXED),--allow-unsandboxed)

clean:
	rm -rf build dist .grade
