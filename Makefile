# One command to see the ward, one to test it. See README.md.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= /tmp/icu-monitor-target

.PHONY: help demo test lint fmt contracts image chart fuzz
.DEFAULT_GOAL := help

help:            ## this list: every target with its `## ` comment
	@grep -hE '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([^:]+):[^#]*## (.*)/  \1\t\2/' | expand -t 18

demo:            ## the whole ward in one process, on a throwaway PostgreSQL, without access control (AUTH_MODE=none)
	cargo build -p icu
	scripts/with-postgres.sh $(CARGO_TARGET_DIR)/debug/icu demo

test:            ## every test, on a throwaway PostgreSQL and real (mock) Kafka brokers
	scripts/test.sh

lint:            ## formatting and clippy, warnings are errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt:             ## format the workspace
	cargo fmt --all

contracts:       ## regenerate api/schemas from the Rust wire types (review the diff)
	UPDATE_CONTRACTS=1 cargo test -p vitals --test contract

image:           ## the container image (static release binaries + the Dockerfile's runtime stage, podman)
	scripts/build-image.sh

chart:           ## the Helm chart's checks alone (helm lint/template, schemas, checkov, NetworkPolicy reachability)
	bash scripts/stages/40-chart.sh

fuzz:            ## each fuzz target for FUZZ_SECONDS (default 60) with libFuzzer; fails on a finding (README "Fuzzing")
	scripts/fuzz.sh
