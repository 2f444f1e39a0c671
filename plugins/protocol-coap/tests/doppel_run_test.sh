#!/usr/bin/env bash
# `doppel run` with protocol-coap and RocksDB (durability: sync): coap-client-openssl posts
# telemetry; a 2.04 means the value is durable, so it survives a kill -9 right after the
# answer. Bad requests get their codes and are dead-lettered (REST API, /metrics via curl).
#   doppel_run_test.sh DOPPEL_BINARY REPO_ROOT
set -u
doppel=$1
root=$2
source "$root/tests/support/testlib.sh"

free_udp_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
coap=$(free_udp_port)
api=$(free_port)
cat >"$tmp/deploy.yaml" <<YAML
apiVersion: doppel/v1
name: coap-run
models: [$root/examples/models/factory]
model_options: {undefined_extensions: per-default}
plugins:
  - name: store
    kind: storage
    library: rocksdb
    config: {path: "$tmp/db", durability: sync}
  - name: coap
    kind: protocol
    library: coap
    config:
      listen: "127.0.0.1:$coap"
      ingest: [{topic: "twins/{twin}/telemetry"}]
twins:
  - {id: "motor-{i}", count: 3, model: "dtmi:example:factory:Motor;1"}
api: {listen: "127.0.0.1:$api", auth: none}
YAML

start_doppel() { # start_doppel N: a `doppel run`, its log in $tmp/doppel-N.log
  "$doppel" run "$tmp/deploy.yaml" 2>"$tmp/doppel-$1.log" &
  pid=$!
  pids+=($pid)
  wait_for 30 grep -q "running;" "$tmp/doppel-$1.log" || fail "doppel did not start ($1)"
  wait_for 10 grep -q "coap: started" "$tmp/doppel-$1.log" || fail "coap did not start ($1)"
}
post() { # post PATH PAYLOAD: prints the response code coap-client saw
  coap-client-openssl -B 10 -v 6 -m post -t json -e "$2" "coap://127.0.0.1:$coap/$1" 2>&1 |
    grep -oE 't:(CON|ACK|NON) c:[2-5]\.[0-9]{2}' | tail -1 | cut -d: -f3
}

start_doppel 1
code=$(post twins/motor-2/telemetry '{"temperature": 61.5}')
[[ $code == 2.04 ]] || fail "telemetry answered '$code', not 2.04"
kill -9 "$pid"  # right after the 2.04: no clean shutdown
wait "$pid" 2>/dev/null

start_doppel 2
twin=$(curl -s "http://127.0.0.1:$api/api/v1/twins/motor-2")
echo "$twin" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["telemetry"]["temperature"]["value"] == 61.5, d' ||
  fail "the acknowledged value did not survive kill -9: $twin"

code=$(post twins/motor-99/telemetry '{"temperature": 1}')
[[ $code == 4.04 ]] || fail "unknown twin answered '$code', not 4.04"
code=$(post twins/motor-1/telemetry 'not json')
[[ $code == 4.00 ]] || fail "bad JSON answered '$code', not 4.00"
metrics=$(curl -s "http://127.0.0.1:$api/metrics")
grep -qE '^doppel_dead_letters_total\{reason="unknown-twin"\} 1' <<<"$metrics" ||
  fail "unknown-twin not dead-lettered: $(grep dead_letters <<<"$metrics")"
grep -qE '^doppel_dead_letters_total\{reason="not-json"\} 1' <<<"$metrics" ||
  fail "not-json not dead-lettered: $(grep dead_letters <<<"$metrics")"
grep -qE '^doppel_coap_requests_total\{plugin="coap"\} 2' <<<"$metrics" ||
  fail "requests not counted: $(grep doppel_coap <<<"$metrics")"
echo "ok: 2.04 survived kill -9; 4.04 and 4.00 dead-lettered"
