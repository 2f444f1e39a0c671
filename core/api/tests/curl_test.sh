#!/usr/bin/env bash
# `doppel run` with an api: block, driven by curl as an independent HTTP client: every auth
# case, a GET with its ETag, a PATCH of desired properties (with a stale If-Match: 412).
# Usage: curl_test.sh DOPPEL_BINARY SOURCE_DIR
set -euo pipefail
doppel=$1
src=$2
dir=$(mktemp -d)
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- doppel log ---" >&2; cat "$dir/doppel.log" >&2; exit 1; }

reader=reader-$RANDOM$RANDOM
operator=operator-$RANDOM$RANDOM
scoped=scoped-$RANDOM$RANDOM
hash() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
cat >"$dir/tokens.txt" <<TOKENS
# sha256(token) role name
$(hash "$reader") reader grafana
$(hash "$operator") operator
$(hash "$scoped") reader night shift twins=motor-2
TOKENS
cat >"$dir/deploy.yaml" <<YAML
apiVersion: doppel/v1
name: curl-test
models: ["$src/examples/models/factory"]
twins:
  - {id: "motor-{i}", count: 3, model: "dtmi:example:factory:Motor;1"}
api: {listen: "127.0.0.1:0", tokens_file: tokens.txt}
YAML

"$doppel" run "$dir/deploy.yaml" 2>"$dir/doppel.log" &
pid=$!
# Wait (bounded) for the logged URL.
url=
for _ in $(seq 1 200); do
  url=$(grep -o 'url=http://[0-9.:]*' "$dir/doppel.log" | head -1 | cut -d= -f2 || true)
  [[ -n $url ]] && break
  kill -0 "$pid" 2>/dev/null || fail "doppel run exited"
  sleep 0.05
done
[[ -n $url ]] || fail "no API URL logged within 10 s"

# status METHOD PATH [curl args...] -> prints the HTTP status; body in $dir/body, headers in $dir/headers
status() {
  local method=$1 path=$2
  shift 2
  curl -sS -o "$dir/body" -D "$dir/headers" -w '%{http_code}' -X "$method" "$@" "$url$path"
}
expect() {
  local want=$1 got=$2 what=$3
  [[ $got == "$want" ]] || fail "$what: HTTP $got, expected $want; body: $(cat "$dir/body")"
  echo "ok: $what -> $got"
}
problem() {
  grep -qi '^content-type: application/problem+json' "$dir/headers" || fail "$1: not problem+json"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert {"type","title","status","detail","instance"} <= d.keys(), d' "$dir/body" ||
    fail "$1: not a problem details body"
}

expect 401 "$(status GET /api/v1/twins/motor-1)" "no token"
problem "no token"
grep -qi '^www-authenticate: Bearer' "$dir/headers" || fail "no WWW-Authenticate challenge"
expect 401 "$(status GET /api/v1/twins/motor-1 -H "Authorization: Bearer wrong-$reader")" "unknown token"
problem "unknown token"
expect 403 "$(status PATCH /api/v1/twins/motor-1/desired -H "Authorization: Bearer $reader" \
  -H 'Content-Type: application/json-patch+json' --data '[{"op":"replace","path":"/targetSpeed","value":1}]')" \
  "reader may not PATCH"
problem "reader may not PATCH"
expect 200 "$(status GET /healthz)" "healthz without token"

expect 200 "$(status GET /api/v1/twins/motor-1 -H "Authorization: Bearer $reader")" "GET twin"
etag=$(grep -i '^etag:' "$dir/headers" | cut -d' ' -f2 | tr -d '\r')
[[ -n $etag ]] || fail "GET twin: no ETag"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["id"]=="motor-1" and "targetSpeed" in d["properties"], d' "$dir/body" ||
  fail "GET twin body"

patch='[{"op":"replace","path":"/targetSpeed","value":1450}]'
expect 200 "$(status PATCH /api/v1/twins/motor-1/desired -H "Authorization: Bearer $operator" \
  -H 'Content-Type: application/json-patch+json' -H "If-Match: $etag" --data "$patch")" "operator PATCH with If-Match"
expect 412 "$(status PATCH /api/v1/twins/motor-1/desired -H "Authorization: Bearer $operator" \
  -H 'Content-Type: application/json-patch+json' -H "If-Match: $etag" --data "$patch")" "stale If-Match"
problem "stale If-Match"
expect 400 "$(status PATCH /api/v1/twins/motor-1/desired -H "Authorization: Bearer $operator" \
  -H 'Content-Type: application/json-patch+json' --data '[{"op":"replace"')" "bad JSON"
problem "bad JSON"
expect 200 "$(status GET /api/v1/twins/motor-1 -H "Authorization: Bearer $reader")" "GET after PATCH"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); p=d["properties"]["targetSpeed"]; assert p["desired"]==1450 and p["sync"]!="none", p' "$dir/body" ||
  fail "desired value not visible"
# A token with an ACL (twins=motor-2): other twins are 404 as if missing, query rows filtered.
expect 200 "$(status GET /api/v1/twins/motor-2 -H "Authorization: Bearer $scoped")" "ACL: own twin"
expect 404 "$(status GET /api/v1/twins/motor-1 -H "Authorization: Bearer $scoped")" "ACL: other twin"
problem "ACL: other twin"
grep -q "within this token's ACL" "$dir/body" || fail "ACL: the 404 does not name the ACL"
expect 200 "$(status POST /api/v1/query -H "Authorization: Bearer $scoped" -H 'Content-Type: application/json' \
  --data '{"query": "SELECT T.$dtId FROM DIGITALTWINS T"}')" "ACL: query"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [r["$dtId"] for r in d["items"]]==["motor-2"], d' "$dir/body" ||
  fail "ACL: query rows not filtered to motor-2"

expect 200 "$(status GET /metrics -H "Authorization: Bearer $reader")" "metrics"
grep -q '^doppel_api_requests_total{method="PATCH",route="/api/v1/twins/{id}/desired",status="412"} 1$' "$dir/body" ||
  fail "metrics lack the 412 PATCH"

# Token rotation: SIGHUP reads the tokens file again (systemctl reload), a bad file changes nothing.
rotated=rotated-$RANDOM$RANDOM
cat >"$dir/tokens.txt" <<TOKENS
$(hash "$operator") operator
$(hash "$rotated") reader rotated
TOKENS
# wait_log TEXT WHAT: waits (bounded, 10 s) until doppel's log has TEXT.
wait_log() {
  for _ in $(seq 1 200); do
    grep -q "$1" "$dir/doppel.log" && return 0
    sleep 0.05
  done
  fail "$2: '$1' not logged within 10 s"
}
kill -HUP "$pid"
wait_log 'API tokens reloaded' "SIGHUP"
expect 200 "$(status GET /api/v1/twins/motor-1 -H "Authorization: Bearer $rotated")" "SIGHUP: new token"
expect 401 "$(status GET /api/v1/twins/motor-1 -H "Authorization: Bearer $reader")" "SIGHUP: removed token"
echo "not-a-hash reader" >"$dir/tokens.txt"
kill -HUP "$pid"
wait_log 'API tokens file not reloaded' "SIGHUP with a bad file"
expect 200 "$(status GET /api/v1/twins/motor-1 -H "Authorization: Bearer $rotated")" "SIGHUP: bad file changes nothing"

kill -TERM "$pid"
wait "$pid" || fail "doppel run did not exit cleanly"
pid=
for secret in "$reader" "$operator" "$scoped" "$rotated"; do
  if grep -q "$secret" "$dir/doppel.log"; then fail "a token appears in the log"; fi
done
grep -q 'API stopped' "$dir/doppel.log" || fail "the API was not stopped"
echo "all curl cases passed"
