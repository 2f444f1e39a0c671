#!/usr/bin/env bash
# Black-box tests of `doppel validate` and `doppel run`: exit codes, located errors (also in
# plugin config), and a restart on the same RocksDB database with a changed deployment file:
# stored twins come back, new ones are created, removed ones are kept and reported.
#   deploy_test.sh DOPPEL_BINARY REPO_ROOT
set -u
doppel=$(realpath "$1")
root=$2
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
failures=0
fail() {
  echo "FAIL $1"
  shift
  for f in "$@"; do sed 's/^/    /' "$f" | head -20; done
  failures=$((failures + 1))
}
check() {  # check NAME EXPECTED_EXIT COMMAND...
  local name=$1 expected=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [[ $rc -ne $expected ]]; then fail "$name: exit $rc, expected $expected" "$tmp/out" "$tmp/err"; else echo "ok   $name"; fi
}
contains() {  # contains NAME FILE TEXT
  grep -qF -- "$3" "$2" || fail "$1: output lacks '$3'" "$2"
}
wait_for() {  # wait_for FILE TEXT [SECONDS]: until FILE contains TEXT, with a deadline
  local deadline=$((SECONDS + ${3:-20}))
  until grep -qF -- "$2" "$1" 2>/dev/null; do
    ((SECONDS > deadline)) && return 1
    sleep 0.05
  done
}

# --- validate ----------------------------------------------------------------------------
for f in "$root"/examples/deployments/*.yaml; do
  check "validate $(basename "$f")" 0 "$doppel" validate "$f"
  contains "validate $(basename "$f") summary" "$tmp/out" "ok: "
done
check "validate missing file" 2 "$doppel" validate "$tmp/nope.yaml"
bad="$root/tests/data/deployments/bad/bad-api-version.yaml"
check "validate bad file" 1 "$doppel" validate "$bad"
contains "validate bad file names the place" "$tmp/err" "bad-api-version.yaml:3:13"
check "validate --json bad file" 1 "$doppel" validate --json "$bad"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["valid"] is False and d["errors"], d' "$tmp/out" ||
  fail "validate --json prints a JSON verdict" "$tmp/out"

models="$root/examples/models/factory"
cat >"$tmp/plugin-typo.yaml" <<EOF
apiVersion: doppel/v1
name: typo
models: [$models]
plugins:
  - name: store
    kind: storage
    library: rocksdb
    config: {path: $tmp/db-typo, durabilty: sync}
twins:
  - {id: m1, model: "dtmi:example:factory:Motor;1"}
EOF
check "validate plugin config typo" 1 "$doppel" validate "$tmp/plugin-typo.yaml"
contains "plugin config typo is located" "$tmp/err" "plugin-typo.yaml:8:"
contains "plugin config typo suggests the key" "$tmp/err" "durability"
[[ ! -e "$tmp/db-typo" ]] || fail "validate opened the database"

cat >"$tmp/api-typo.yaml" <<EOF
apiVersion: doppel/v1
name: api-typo
models: [$models]
twins:
  - {id: m1, model: "dtmi:example:factory:Motor;1"}
api: {listn: "127.0.0.1:0", auth: none}
EOF
check "validate checks the api block" 1 "$doppel" validate "$tmp/api-typo.yaml"
contains "api typo is located" "$tmp/err" "api-typo.yaml:6:"
contains "api typo suggests the key" "$tmp/err" "did you mean 'listen'"

# A library given as a relative path is found relative to the deployment file, not the cwd.
mkdir -p "$tmp/rel/lib"
cp "$(dirname "$doppel")/../../plugins/doppel-storage-memory.so" "$tmp/rel/lib/store.so"
cat >"$tmp/rel/deploy.yaml" <<EOF
apiVersion: doppel/v1
name: relative-library
models: [$models]
plugins:
  - {name: store, kind: storage, library: lib/store.so}
twins:
  - {id: m1, model: "dtmi:example:factory:Motor;1"}
EOF
(cd / && "$doppel" validate "$tmp/rel/deploy.yaml" >"$tmp/out" 2>"$tmp/err") ||
  fail "a relative library path is not resolved against the deployment file" "$tmp/err"

# Every plugin's sample.yaml (a whole deployment, or a `plugins:` fragment of one) is valid.
for sample in "$root"/plugins/*/sample.yaml; do
  name=$(basename "$(dirname "$sample")")
  if grep -q '^apiVersion:' "$sample"; then
    check "sample.yaml of $name validates" 0 "$doppel" validate "$sample"
    continue
  fi
  {
    echo "apiVersion: doppel/v1"
    echo "name: sample"
    echo "models: [$models]"
    sed "s|/var/lib/doppel|$tmp/var|g" "$sample"
    grep -q '^twins:' "$sample" || printf 'twins:\n  - {id: m1, model: "dtmi:example:factory:Motor;1"}\n'
  } >"$tmp/sample-$name.yaml"
  check "sample.yaml of $name validates" 0 "$doppel" validate "$tmp/sample-$name.yaml"
done

# --- run, stop, restart with a changed deployment -----------------------------------------
deployment() {  # deployment MOTORS WITH_LINE
  {
    echo "apiVersion: doppel/v1"
    echo "name: restart"
    echo "models: [$models]"
    echo "plugins:"
    echo "  - {name: store, kind: storage, library: rocksdb, config: {path: $tmp/db}}"
    echo "twins:"
    echo "  - {id: \"motor-{i}\", count: $1, model: \"dtmi:example:factory:Motor;1\"}"
    if [[ $2 == yes ]]; then
      echo "  - {id: line-1, model: \"dtmi:example:factory:ProductionLine;1\"}"
      echo "relationships:"
      echo "  - {source: line-1, name: contains, target: \"motor-{i}\", count: $1}"
    fi
  } >"$tmp/deploy.yaml"
}
run_once() {  # run_once LOG: starts doppel run, waits until it runs, stops it with SIGTERM
  "$doppel" run "$tmp/deploy.yaml" 2>"$1" &
  local pid=$!
  pids+=("$pid")
  if ! wait_for "$1" "running;"; then
    fail "doppel run did not start" "$1"
    kill -9 "$pid"
    return 1
  fi
  kill -TERM "$pid"
  wait "$pid"
  local rc=$?
  [[ $rc -eq 0 ]] || fail "doppel run exit $rc after SIGTERM" "$1"
  contains "doppel run stops cleanly" "$1" "stopped"
}
deployment 3 yes
run_once "$tmp/run1.log" && echo "ok   first run"
contains "first run creates the twins" "$tmp/run1.log" "recovered=0 created=4 relationships_created=3"

deployment 5 no  # two more motors, the line is gone from the file
run_once "$tmp/run2.log" && echo "ok   second run"
contains "restart recovers stored twins" "$tmp/run2.log" "recovered=4 created=2"
contains "restart reports twins no longer declared" "$tmp/run2.log" "stored twins no longer in the deployment are kept"
contains "the orphan is named" "$tmp/run2.log" "first=line-1"

deployment 5 no
run_once "$tmp/run3.log" && echo "ok   third run"
contains "an unchanged deployment creates nothing" "$tmp/run3.log" "recovered=6 created=0 relationships_created=0"

cat >"$tmp/missing-plugin.yaml" <<EOF
apiVersion: doppel/v1
name: missing
models: [$models]
plugins:
  - {name: devices, kind: protocol, library: nosuchthing}
twins:
  - {id: m1, model: "dtmi:example:factory:Motor;1"}
EOF
check "run with a missing plugin refuses to start" 1 "$doppel" run "$tmp/missing-plugin.yaml"
contains "missing plugin is named" "$tmp/err" "nosuchthing"

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "all deployment CLI checks passed"
