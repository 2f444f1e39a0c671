#!/usr/bin/env bash
# Load test of the REST API: GET /api/v1/twins/{id} with 8 concurrent clients (autocannon), on a
# `doppel run` with 50 motor twins, memory storage, bearer-token auth. Manual bench, not a ctest:
# it installs autocannon from npm into a temporary folder.
# Usage: bench/api_load.sh BUILD_DIR [SECONDS]
set -euo pipefail
build=$(cd "$1" && pwd)
seconds=${2:-10}
src=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

(cd "$dir" && npm install --silent --no-audit --no-fund autocannon@7 >/dev/null)
token=$(openssl rand -hex 24)
echo "$(printf %s "$token" | sha256sum | cut -d' ' -f1) reader bench" >"$dir/tokens.txt"
cat >"$dir/deploy.yaml" <<YAML
apiVersion: doppel/v1
name: api-bench
models: ["$src/examples/models/factory"]
twins:
  - {id: line-1, model: "dtmi:example:factory:ProductionLine;1"}
  - {id: "motor-{i}", count: 50, model: "dtmi:example:factory:Motor;1", properties: {ratedPower: 7.5}}
relationships:
  - {source: line-1, name: contains, target: "motor-{i}", count: 50}
api: {listen: "127.0.0.1:0", tokens_file: tokens.txt}
YAML
"$build/tools/doppel/doppel" run "$dir/deploy.yaml" 2>"$dir/doppel.log" &
pid=$!
url=
for _ in $(seq 1 200); do
  url=$(grep -o 'url=http://[0-9.:]*' "$dir/doppel.log" | head -1 | cut -d= -f2 || true)
  [[ -n $url ]] && break
  sleep 0.05
done
[[ -n $url ]] || { cat "$dir/doppel.log"; exit 1; }
run() {
  "$dir/node_modules/.bin/autocannon" -c 8 -d "$seconds" -H "Authorization=Bearer $token" "$@"
}
echo "== GET twin, 8 connections, ${seconds}s"
run "$url/api/v1/twins/motor-7"
echo "== POST query (one page of 50 motors), 8 connections, ${seconds}s"
run -m POST -H 'Content-Type=application/json' \
  -b '{"query":"SELECT T FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '"'dtmi:example:factory:Motor;1'"')","page_size":50}' \
  "$url/api/v1/query"
