# log-forwarder — every developer task is a target here. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

LF_TOOLS ?= $(HOME)/.cache/log-forwarder-tools
export LF_TOOLS
VENV := $(LF_TOOLS)/venv
# cargo-lambda finds zig through the first python3 on PATH: the tools venv goes first.
TOOLS_PATH := $(VENV)/bin:$(PATH)

.PHONY: help tools test demo lint lint-template sam-build deploy fmt build bench masking-budget events watch invoke clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

tools: ## Install the pinned test tools (moto, osmem-server, cargo-lambda, zig); idempotent
	@scripts/install-tools.sh

test: tools ## Install what the tests need and run every test
	@echo "==> test: cargo test (starts its own osmem-server and moto servers)"
	@cargo test --locked

demo: ## Run the whole forwarder locally (osmem-server, moto, cargo lambda) on the sample events
	@scripts/demo.sh

lint: ## cargo fmt --check, clippy with warnings as errors, and the template checks
	@echo "==> lint: cargo fmt --check"
	@cargo fmt --all -- --check
	@echo "==> lint: cargo clippy -D warnings"
	@cargo clippy --all-targets --locked -- -D warnings
	@scripts/lint-template.sh

lint-template: ## Check template.yaml offline: sam validate --lint, cfn-lint and moto scenarios on the SAM-expanded template
	@scripts/lint-template.sh

sam-build: tools lint-template ## sam build for x86_64, as CI checks it (the template's default is arm64)
	@echo "==> sam-build: sam build --parameter-overrides Architecture=x86_64 (a cargo lambda release build)"
	@PATH="$(TOOLS_PATH)" $(LF_TOOLS)/venv-sam/bin/sam build --parameter-overrides Architecture=x86_64 \
		--build-dir .aws-sam/build-x86_64
	@test -s .aws-sam/build-x86_64/ForwarderFunction/bootstrap \
		|| { echo "sam-build: no bootstrap binary was produced" >&2; exit 1; }
	@echo "==> sam-build: ok (.aws-sam/build-x86_64/ForwarderFunction/bootstrap)"

deploy: tools lint-template ## sam build + sam deploy --guided into your AWS account
	@PATH="$(TOOLS_PATH)" $(LF_TOOLS)/venv-sam/bin/sam build
	@PATH="$(TOOLS_PATH)" $(LF_TOOLS)/venv-sam/bin/sam deploy --guided

fmt: ## Format the code
	@cargo fmt --all

build: tools ## Release build of the Lambda (x86_64) with cargo lambda
	@echo "==> build: cargo lambda build --release --x86-64"
	@PATH="$(TOOLS_PATH)" cargo lambda build --release --x86-64 --locked

bench: ## Criterion benchmarks on maximum-size batches
	@cargo bench --bench pipeline

masking-budget: ## What masking adds to the pipeline's CPU time (masked and unmasked passes alternating)
	@cargo bench --bench masking_budget

events: ## Regenerate the sample Lambda events in events/
	@python3 scripts/make-events.py

watch: tools ## Run the function locally (needs ES_ENDPOINT and DLQ_QUEUE_URL in the environment)
	@PATH="$(TOOLS_PATH)" cargo lambda watch -A 127.0.0.1 -P 9001

invoke: tools ## Invoke the local function with EVENT=events/cloudwatch-data.json
	@PATH="$(TOOLS_PATH)" cargo lambda invoke log-forwarder -A 127.0.0.1 -P 9001 \
		--data-file $(or $(EVENT),events/cloudwatch-data.json)

clean: ## Remove build output
	@cargo clean
