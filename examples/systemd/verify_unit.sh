#!/usr/bin/env bash
# `systemd-analyze verify` on examples/systemd/doppel.service, with the doppel binary path
# replaced by a built one (verify checks that ExecStart commands exist). Exit 77 (ctest SKIP)
# when systemd-analyze is not installed.
# Usage: verify_unit.sh UNIT_FILE DOPPEL_BINARY
set -euo pipefail
unit=$1
doppel=$(realpath "$2")
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIP: systemd-analyze is not installed"
  exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s#/usr/local/bin/doppel#$doppel#g" "$unit" >"$dir/doppel.service"
# Warnings count as failures: verify prints them on stderr and still exits 0.
if ! systemd-analyze verify --man=no "$dir/doppel.service" 2>"$dir/out"; then
  cat "$dir/out" >&2
  exit 1
fi
if [[ -s $dir/out ]]; then
  echo "systemd-analyze verify reported:" >&2
  cat "$dir/out" >&2
  exit 1
fi
echo "ok: $unit verifies"
