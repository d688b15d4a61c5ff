# xiaoer: the two commands are `make run` and `make test`; the rest are for trainers and developers.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
RASA      := $(VENV)/bin/rasa
STAMP     := $(VENV)/.installed
MODEL     := models/current.tar.gz

export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONPATH := $(CURDIR)
export XIAOER_ACTION_URL ?= http://localhost:5055/webhook
export XIAOER_TRACKER_DIALECT ?= sqlite
export XIAOER_TRACKER_URL ?= sqlite:///$(CURDIR)/var/rasa_tracker.db
export XIAOER_SHOP_DB_URL ?= sqlite+aiosqlite:///$(CURDIR)/var/shop.db
export XIAOER_LOCK_STORE ?= in_memory
export XIAOER_LOCK_STORE_HOST ?= 127.0.0.1
export XIAOER_LOCK_STORE_PORT ?= 6379
export XIAOER_LOCK_STORE_PASSWORD ?=

# What the model is trained from: a change to any of these retrains. Only the
# lexicon files the NLU components (rasa_ext/nlu.py) read; the rest of lexicon/
# (subtopics, phrases, platforms, follow-ups, guard wording) is read by the
# action server, the NLG and the guard at start-up and needs no retraining.
NLU_LEXICON := lexicon/typos.yml lexicon/words.txt lexicon/entities.yml lexicon/places.yml lexicon/clauses.yml
TRAINING_INPUTS := config.yml $(shell find domain data -type f -name '*.yml' 2>/dev/null) $(NLU_LEXICON) rasa_ext/nlu.py xiaoer/text.py xiaoer/lexicon.py xiaoer/geo.py

.PHONY: help install run stop status run-scaled test format train evaluate validate lint-replies bench lock clean demo-data shell review review-export compare-models

help:
	@echo "make run    - install, train if needed, start every service (supervised; make stop / make status)"
	@echo "make run-scaled - the same on PostgreSQL + Redis with several Rasa workers and desks"
	@echo "make test   - install, train, run every test"
	@echo "make evaluate | validate | lint-replies | shell | demo-data | bench | clean"
	@echo "make review | review-export [STORY=sender] | compare-models A B   - the trainer's loop"

$(STAMP): requirements.txt constraints.txt
	@test -x $(PY) || $$(scripts/find-python.sh) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==24.0"
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	@touch $(STAMP)

install: $(STAMP)

$(MODEL): $(STAMP) $(TRAINING_INPUTS)
	@mkdir -p models var
	$(RASA) train --domain domain --fixed-model-name current --out models
	@touch $(MODEL)

train: $(MODEL)

validate: $(STAMP)
	$(RASA) data validate --domain domain

NLU_SETS := --data tests/nlu/dev.yml --data tests/nlu/holdout.yml --data tests/nlu/wild.yml --data tests/nlu/multi.yml

evaluate: $(MODEL)
	$(PY) scripts/evaluate_nlu.py --model $(MODEL) $(NLU_SETS)

# The trainer's loop from the command line (README "A trainer's loop").
review: $(STAMP)
	$(PY) -m trainer review

# make compare-models A B  (or A=... B=...): two model archives on every dev set + the reviewed messages
ifeq (compare-models,$(firstword $(MAKECMDGOALS)))
  COMPARE_ARGS := $(wordlist 2,$(words $(MAKECMDGOALS)),$(MAKECMDGOALS))
  $(eval $(COMPARE_ARGS):;@:)
endif
compare-models: $(STAMP)
	$(PY) scripts/compare_models.py $(or $(COMPARE_ARGS),$(A) $(B))

review-export: $(STAMP)
	$(PY) -m trainer export $(foreach s,$(STORY),--story $(s))

lint-replies: $(STAMP)
	$(PY) -m guard lint

demo-data: $(STAMP)
	@mkdir -p var
	$(PY) -m shop.demo

run: $(MODEL)
	@mkdir -p var logs
	scripts/run.sh

run-scaled: $(MODEL)
	@mkdir -p var logs
	scripts/run-scaled.sh

stop:
	@scripts/run.sh stop

status:
	@scripts/run.sh status

# lint fixes and formatting (ruff.toml); `make test` fails on a tree that needs this
format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

shell: $(MODEL)
	$(RASA) shell --model $(MODEL)

test: $(MODEL)
	@mkdir -p var results
	@scripts/ensure-chromium.sh || echo "chromium could not be installed: the desk's browser test will say so and skip"
	@scripts/ensure-services.sh || echo "postgresql/redis-server could not be installed: the integration suite will say so and skip"
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q
	$(RASA) data validate --domain domain
	$(PY) scripts/evaluate_nlu.py --model $(MODEL) --no-misses --gate tests/nlu/dev.yml=0.90 --gate tests/nlu/holdout.yml=0.95 --gate tests/nlu/wild.yml=0.88 --gate tests/nlu/multi.yml=0.88
	$(RASA) test core --model $(MODEL) --stories tests/stories --fail-on-prediction-errors --out results/core
	@echo "make test: all checks passed"

bench: $(MODEL)
	$(PY) benchmarks/rasa_latency.py
	$(PY) benchmarks/guard_throughput.py
	$(PY) benchmarks/desk_load.py

lock: $(STAMP)
	( echo "# Full resolved dependency set (pip freeze of a working .venv); \`make lock\` rewrites it."; \
	  $(PY) -m pip freeze --exclude-editable ) > constraints.txt

clean:
	rm -rf models results .rasa var/*.db logs
