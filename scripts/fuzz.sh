#!/usr/bin/env bash
# `make fuzz`: every fuzz target of fuzz/ for a bounded time each, with
# libFuzzer (cargo fuzz); fails on the first finding. See README "Fuzzing".
#   FUZZ_SECONDS=60        time per target
#   FUZZ_TARGETS="a b"     which targets (default: all of fuzz/Cargo.toml's)
#   FUZZ_TOOLCHAIN=nightly|stable   default: nightly when rustup has it, else
#                          stable with RUSTC_BOOTSTRAP=1 (cargo fuzz needs -Z flags)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
CARGO_FUZZ_VERSION=0.13.2
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-/tmp/icu-monitor-target}-fuzz}

if [[ -z ${FUZZ_TOOLCHAIN:-} ]]; then
  if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then FUZZ_TOOLCHAIN=nightly; else FUZZ_TOOLCHAIN=stable; fi
fi
case $FUZZ_TOOLCHAIN in
  nightly) cargo=(cargo +nightly) ;;
  # The stable compiler takes the unstable flags (-Zsanitizer, sancov) when told it is bootstrapping.
  stable) cargo=(cargo +stable); export RUSTC_BOOTSTRAP=1 ;;
  *) echo "FUZZ_TOOLCHAIN must be nightly or stable" >&2; exit 2 ;;
esac
if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION"; then
  cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" >&2
fi

targets=${FUZZ_TARGETS:-$(sed -n 's/^name = "\(.*\)"/\1/p' Cargo.toml | grep -v '^icu-monitor-fuzz$' | tr '\n' ' ')}
echo "fuzzing with $("${cargo[@]}" --version) ($FUZZ_TOOLCHAIN), ${FUZZ_SECONDS}s per target: $targets" >&2
for target in $targets; do "${cargo[@]}" fuzz build -O "$target" >&2; done

for target in $targets; do
  mkdir -p "corpus/$target" "regressions/$target" "seeds/$target"
  dict=()
  [[ -f dictionaries/$target.dict ]] && dict=("-dict=dictionaries/$target.dict")
  echo "== $target: ${FUZZ_SECONDS}s" >&2
  # corpus/ (not committed) grows; the seeds and the kept findings are read as starting points.
  if ! "${cargo[@]}" fuzz run -O "$target" "corpus/$target" "seeds/$target" "regressions/$target" -- \
      -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" >&2; then
    echo "FINDING in $target: the input is under fuzz/artifacts/$target/." >&2
    echo "Fix the code, then keep the input: cp fuzz/artifacts/$target/<file> fuzz/regressions/$target/<what-it-was>" >&2
    exit 1
  fi
done
echo "fuzz: every target ran ${FUZZ_SECONDS}s without a finding" >&2
