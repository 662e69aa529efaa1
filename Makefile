# Verbs of the project. `make local` and `make test` are the two commands of a fresh machine.
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: local sam-local sam-local-check sam-local-docker test bench bench-smoke check fuzz arm64-smoke diagram

# The local stack (no AWS account, no Docker): moto + the functions under cargo lambda watch,
# replays events/, prints answers, the table and the notifications, then serves on loopback.
local:
	tools/setup.sh
	cargo run -q -p integration-tests --bin local

# The local store for `sam local invoke` with events/env.local.json: moto on the file's port, on
# loopback unless BIND=<address> (BIND=0.0.0.0: all interfaces, warned), the table, topic and
# queues of template.yaml; prints the sam local invoke line of each sample event, then serves
# until Ctrl-C or SAM_LOCAL_MINUTES (default 30).
sam-local:
	tools/setup.sh
	BIND=$(BIND) cargo run -q -p integration-tests --bin local -- --sam

# The same store, with the printed events run through cargo lambda invoke and the same env file
# instead of Docker, each answer compared with what events/expected.json promises under sam local invoke (CI).
sam-local-check:
	tools/setup.sh
	cargo run -q -p integration-tests --bin local -- --sam --check

# The printed lines themselves, under Docker (CI, after `make build`; Linux, as root): sets up
# what is missing (Debian's docker.io, qemu's arm64 emulation, SAM's arm64 base image made
# locally), starts a Docker engine of its own and the same store on the Docker bridge's address,
# runs each line and compares its answer with events/expected.json; then stops both.
sam-local-docker:
	tools/setup.sh
	tools/sam-docker.sh

# Every test of the workspace.
test:
	tools/setup.sh
	cargo test --workspace

# Benchmarks: the core (criterion), each case beside serde_json's value tree of the same bytes,
# then the system bench (cold start, warm path, memory, sizes), which prints one table with each
# figure's ratio to the bare-runtime floor (benchmarks/floor) and writes benchmarks/system.json.
# Builds what it measures first: the arm64 release bootstraps, then the floor's alone (sizes: built
# with the workspace, the floor took the features cargo unifies across it, tokio's process, signal
# and fs among them, 0.90 MiB instead of 0.70), and the host release builds of a function and of
# the floor (cold start and memory). The core bench runs with the workspace's features (`--workspace
# --bench core`): the core takes no workspace-hack, so alone it would build its dependencies again.
bench:
	tools/setup.sh --arm64
	cargo lambda build --release --arm64
	cargo lambda build --release --arm64 -p floor
	cargo build --release -p shipments -p floor
	cargo bench --workspace --bench core
	cargo bench -p integration-tests --bench system
	cargo bench -p integration-tests --bench large

# The same benchmarks as a smoke run with tiny counts on the debug build (CI runs this).
bench-smoke:
	tools/setup.sh
	cargo build -p shipments -p floor
	cargo test --workspace --bench core
	cargo test -p integration-tests --bench system
	cargo test -p integration-tests --bench large

# The deployable arm64 bootstrap of ShipmentsFunction (from `make build`), run under qemu against a
# loopback Runtime API and moto: it must start and answer real deliveries. Installs qemu and the
# arm64 C library from Debian's packages when missing (as root).
ARM64_SYSROOT := /usr/aarch64-linux-gnu
arm64-smoke:
	tools/setup.sh
	@test -x .aws-sam/build/ShipmentsFunction/bootstrap || { echo "no arm64 bootstrap: run make build first" >&2; exit 1; }
	@if ! command -v qemu-aarch64-static >/dev/null || ! test -e $(ARM64_SYSROOT)/lib/ld-linux-aarch64.so.1; then \
	  echo "arm64-smoke: installing qemu-user-static and the arm64 C library" >&2; \
	  apt-get update -qq && apt-get install -y -qq qemu-user-static libc6-arm64-cross libgcc-s1-arm64-cross >/dev/null; fi
	QAPLA_BENCH_BINARY=$(CURDIR)/.aws-sam/build/ShipmentsFunction/bootstrap \
	QAPLA_BENCH_RUNNER="qemu-aarch64-static -L $(ARM64_SYSROOT)" \
	QAPLA_BENCH_OUT=$(CURDIR)/target/arm64-smoke.json \
	cargo test -p integration-tests --bench system

# Fuzzes FUZZ_TARGET for FUZZ_SECONDS (default 180): `parse` (strict JSON, webhook kinds,
# validation, ids; the default), starting from the fixtures, or `dates` (the date reader).
# cargo fuzz needs nightly features of rustc; RUSTC_BOOTSTRAP lets the stable toolchain provide them.
# A crash lands in fuzz/artifacts/parse/: add it as a regression case to the unit tests.
FUZZ_SECONDS ?= 180
FUZZ_TARGET ?= parse
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked
	mkdir -p fuzz/corpus/parse fuzz/corpus/dates && cp shared/fixtures/*.json fuzz/corpus/parse/
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $(FUZZ_TARGET) -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048

# The picture of the stack in README: docs/stack.dot drawn into docs/stack.svg (commit both).
# Installs Graphviz from Debian's packages when missing (as root); no test needs it.
diagram:
	@command -v dot >/dev/null || { echo "diagram: installing graphviz" >&2; \
	  apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; }
	dot -Tsvg docs/stack.dot -o docs/stack.svg

# What CI checks besides the tests.
check:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# ---- AWS: build, check and deploy the stack (template.yaml, samconfig.toml) ----
.PHONY: build deploy deploy-guided channel lint-template events events-check stack-check

# Offline template checks: no AWS account or network needed (dummy region and credentials).
LINT_ENV := AWS_DEFAULT_REGION=eu-south-1 AWS_ACCESS_KEY_ID=dummy AWS_SECRET_ACCESS_KEY=dummy SAM_CLI_TELEMETRY=0

# The four arm64 Lambda binaries, via `sam build` (rust-cargolambda), into .aws-sam/build.
build:
	tools/setup.sh --arm64
	sam build

# The stack as CloudFormation deploys it (CI, after `make build`): LocalStack on loopback (pinned,
# Python 3.13, .venv-localstack), `sam deploy` of the built template twice under two stack names,
# every sample event through the first one's API, the table, the alerts on a subscribed queue,
# the scheduled functions, an update and a delete; then stops all it started. What a green run
# proves and what it cannot: docs/testing.md. Installs qemu's arm64 emulation when missing (as root).
stack-check:
	tools/setup.sh
	tools/stack-check.sh

# First deploy: asks for every parameter (Channels above all) and saves the answers in samconfig.toml.
deploy-guided: build
	sam deploy --guided

# Later deploys: reuse what the guided deploy saved; shows the change set and asks before applying.
deploy: build
	sam deploy

# Prints a channel's entry for the Channels parameter. The key is read from the terminal without echo
# (or from standard input), never from the command line: make channel NAME=shop-it [TRIGGER=transmitted]
channel:
	@test -n "$(NAME)" || { echo "usage: make channel NAME=<channel> [TRIGGER=created|transmitted]" >&2; exit 2; }
	@IFS= read -rsp "Private API key of channel $(NAME) (from Qapla's control panel, not echoed): " key; echo >&2; \
	  printf '%s' "$$key" | cargo run -q -p qapla-cli --bin qapla -- channel '$(NAME)' $(TRIGGER)

# Recovery over Qapla's API (the reconciler). STACK and REGION as deployed (samconfig.toml's).
STACK ?= qapla-webhooks
REGION ?= eu-south-1
.PHONY: recover channel-key

# Runs the deployed reconciler over a span, without moving its checkpoints back:
# make recover SINCE="2026-03-02 08:00:00" [UNTIL="2026-03-02 20:00:00"] (Qapla's time, Italian; or RFC 3339).
recover:
	@test -n "$(SINCE)" || { echo 'usage: make recover SINCE="YYYY-MM-DD HH:MM:SS" [UNTIL=...]' >&2; exit 2; }
	sam remote invoke ReconcilerFunction --stack-name $(STACK) --region $(REGION) \
	  --event '{"since": "$(SINCE)"$(if $(UNTIL),$(comma) "until": "$(UNTIL)")}'

comma := ,

# Stores a channel's private API key for recovery: read without echo, checked against the channel's
# entry (CHANNELS, or the deployed stack's Channels parameter), kept as the SecureString
# /<stack>/keys/<channel>. The key never appears on a command line.
channel-key:
	@test -n "$(NAME)" || { echo "usage: make channel-key NAME=<channel> [CHANNELS=<entries>]" >&2; exit 2; }
	@channels='$(CHANNELS)'; \
	  if [ -z "$$channels" ]; then channels=$$(aws cloudformation describe-stacks --stack-name $(STACK) --region $(REGION) \
	    --query "Stacks[0].Parameters[?ParameterKey=='Channels'].ParameterValue" --output text) || exit 1; fi; \
	  IFS= read -rsp "Private API key of channel $(NAME) (from Qapla's control panel, not echoed): " key; echo >&2; \
	  entry=$$(printf '%s' "$$key" | cargo run -q -p qapla-cli --bin qapla -- channel '$(NAME)') || exit 1; \
	  digest=$$(printf '%s' "$$entry" | cut -d: -f2); \
	  if ! printf '%s' ",$$channels," | tr -d ' ' | grep -q ",$(NAME):$$digest[:,]"; then \
	    echo "channel-key: that key's digest is not channel $(NAME)'s entry in Channels: nothing stored" >&2; exit 1; fi; \
	  KEY="$$key" python3 -c 'import json, os; print(json.dumps({"Name": "/$(STACK)/keys/$(NAME)", "Type": "SecureString", "Overwrite": True, "Value": os.environ["KEY"]}))' \
	  | aws ssm put-parameter --region $(REGION) --cli-input-json file:///dev/stdin >/dev/null && \
	  echo "channel-key: stored /$(STACK)/keys/$(NAME); the reconciler reads it at its next cold start" >&2

lint-template:
	tools/setup.sh
	$(LINT_ENV) sam validate --lint
	cfn-lint template.yaml

# events/ is generated from shared/fixtures/.
events:
	python3 tools/gen_events.py

events-check:
	python3 tools/gen_events.py --check
