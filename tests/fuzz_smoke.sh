#!/usr/bin/env bash
# Runs one libFuzzer target briefly on its seed corpus; skipped (exit 77) when the fuzz
# build (scripts/fuzz --build-only, clang) is not there.
#   fuzz_smoke.sh FUZZ_BINARY SEED_DIR SECONDS
set -u
binary=$1 seeds=$2 seconds=$3
[[ -x "$binary" ]] || { echo "not built: $binary (run scripts/fuzz --build-only)"; exit 77; }
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp -r "$seeds"/. "$corpus"/ 2>/dev/null || true
ASAN_OPTIONS=detect_leaks=1 "$binary" -max_total_time="$seconds" -artifact_prefix="$corpus/" "$corpus" 2>"$corpus/log"
rc=$?
grep -E '^Done|ERROR|runtime error' "$corpus/log" | head -20
exit $rc
