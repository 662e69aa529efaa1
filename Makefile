# Verbs of the project. `make local` and `make test` are the two commands of a fresh machine.
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: local test bench check

# Runs the core over the sample deliveries (no AWS account, no Docker).
local:
	tools/setup.sh
	cargo run -q -p qapla --example replay-memory

# Every test of the workspace.
test:
	tools/setup.sh
	cargo test --workspace

# Core benchmarks (criterion).
bench:
	cargo bench -p qapla --bench core

# What CI checks besides the tests.
check:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
