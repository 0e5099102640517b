#!/usr/bin/env bash
# Runs the test stages in scripts/stages/ in name order, each timed, against
# the PostgreSQL that with-postgres.sh started. Every stage runs even if one
# fails; the exit status says whether all passed. TEST_STAGES=cargo,chart
# (names without number and .sh) runs only those. Arguments go to the cargo
# stage (`cargo test` filters).
set -uo pipefail
cd "$(dirname "$0")/.."
failed=()
summary=()
for stage in scripts/stages/[0-9]*.sh; do
  name=$(basename "$stage" .sh); name=${name#*-}
  if [[ -n ${TEST_STAGES:-} && ",$TEST_STAGES," != *",$name,"* ]]; then continue; fi
  echo "=== stage $name" >&2
  start=$(date +%s)
  if bash "$stage" "$@"; then result=ok; else result=FAILED; failed+=("$name"); fi
  summary+=("$(printf '%-12s %-6s %4ds' "$name" "$result" $(( $(date +%s) - start )))")
done
echo "=== stages" >&2
printf '%s\n' "${summary[@]}" >&2
((${#failed[@]} == 0)) || { echo "failed stages: ${failed[*]}" >&2; exit 1; }
