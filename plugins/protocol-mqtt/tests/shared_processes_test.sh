#!/usr/bin/env bash
# Two `doppel run` processes in one MQTT v5 shared-subscription group split a fleet: every
# message published with mosquitto_pub reaches exactly one of them, and both get a share.
# Each process is asked through its REST API (curl) which twins it saw.
#   shared_processes_test.sh DOPPEL_BINARY REPO_ROOT
set -u
doppel=$1
root=$2
source "$root/tests/support/testlib.sh"

start_mosquitto

fleet=100
for who in a b; do
  port=$(free_port)
  echo "$port" >"$tmp/port-$who"
  cat >"$tmp/deploy-$who.yaml" <<EOF
apiVersion: doppel/v1
name: shared-$who
models: [$root/examples/models/factory]
plugins:
  - name: devices
    kind: protocol
    library: mqtt
    config:
      broker: "tcp://127.0.0.1:$mqtt"
      client_id: doppel-$who
      shared_group: line-7
      qos: 1
      ingest: [{topic: "fleet/{twin}/telemetry"}]
twins:
  - {id: "motor-{i}", count: $fleet, model: "dtmi:example:factory:Motor;1"}
api: {listen: "127.0.0.1:$port", auth: none}
EOF
  "$doppel" run "$tmp/deploy-$who.yaml" 2>"$tmp/doppel-$who.log" &
  pids+=($!)
done
for who in a b; do
  wait_for 30 grep -q "running;" "$tmp/doppel-$who.log" || fail "doppel $who did not start"
  wait_for 10 grep -q "mqtt: connected" "$tmp/doppel-$who.log" || fail "doppel $who did not connect"
  # Subscribed (the broker acknowledged the shared subscription), as its metrics say.
  wait_for 10 bash -c "curl -s http://127.0.0.1:$(cat "$tmp/port-$who")/metrics |
    grep -qE '^doppel_mqtt_subscribed_total(\\{[^}]*\\})? [1-9]'" ||
    fail "doppel $who did not subscribe"
done
# Each process subscribed its share when it connected (the subscription is made on connect).
for i in $(seq 1 $fleet); do
  mosquitto_pub -p "$mqtt" -q 1 -V mqttv5 -t "fleet/motor-$i/telemetry" -m "{\"temperature\": $i.5}" ||
    fail "mosquitto_pub"
done

count() { # count WHO: twins with a temperature in that process
  curl -s -X POST -H 'Content-Type: application/json' \
    -d '{"query": "SELECT COUNT() FROM DIGITALTWINS T WHERE IS_DEFINED(T.temperature)"}' \
    "http://127.0.0.1:$(cat "$tmp/port-$1")/api/v1/query" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["items"][0]["COUNT"] if "items" in d else d)'
}
deadline=$((SECONDS + 20))
while :; do
  a=$(count a)
  b=$(count b)
  [[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]] || fail "query answers: a=$a b=$b"
  ((a + b >= fleet)) && break
  ((SECONDS < deadline)) || fail "only $((a + b)) of $fleet messages arrived (a=$a, b=$b)"
  sleep 0.1
done
echo "process a took $a twins, process b took $b twins"
((a + b == fleet)) || fail "$((a + b)) twins updated for $fleet messages: a message went to both"
((a > 0 && b > 0)) || fail "one process got every message (a=$a, b=$b)"
echo "ok: $fleet messages split between two doppel processes ($a + $b)"
