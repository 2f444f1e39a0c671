#!/usr/bin/env bash
# A rule's command action reaches a device through the MQTT plugin and a real broker:
# telemetry published with mosquitto_pub (event times 1 minute apart, above 80 °C for 5 minutes)
# makes `doppel run` raise the alert and publish `reduceLoad` with its payload, which
# mosquitto_sub (the device) receives.
#   rules_mqtt_command_test.sh DOPPEL_BINARY REPO_ROOT
set -u
doppel=$1
root=$2
source "$root/tests/support/testlib.sh"

start_mosquitto "log_type all"

cat >"$tmp/deploy.yaml" <<EOF
apiVersion: doppel/v1
name: rules-mqtt
models: [$root/examples/models/factory]
plugins:
  - name: devices
    kind: protocol
    library: mqtt
    config:
      broker: "tcp://127.0.0.1:$mqtt"
      ingest: [{topic: "devices/{twin}/telemetry", timestamp: "\$.ts"}]
      commands: {topic: "devices/{twin}/commands/{name}", timeout: 2s}
  - {name: rules, kind: analytics, library: rules}
twins:
  - {id: motor-1, model: "dtmi:example:factory:Motor;1"}
rules:
  - name: overheating
    "on": "dtmi:example:factory:Motor;1"
    when: "temperature > 80 degC"
    for: 5m
    then: [{alert: {severity: warning, message: "{twin} is hot"}},
           {command: {name: reduceLoad, payload: 20}}]
EOF
"$doppel" run "$tmp/deploy.yaml" 2>"$tmp/doppel.log" &
pids+=($!)
wait_for 30 grep -q "running;" "$tmp/doppel.log" || fail "doppel did not start"
wait_for 10 grep -q "mqtt: connected" "$tmp/doppel.log" || fail "doppel did not connect"

# The device listens for commands (MQTT 5: the request carries a response topic).
mosquitto_sub -p "$mqtt" -V mqttv5 -q 1 -t 'devices/+/commands/#' -C 1 -W 30 -v >"$tmp/device.out" 2>&1 &
sub=$!
pids+=($sub)
wait_for 10 grep -qF "devices/+/commands/#" "$tmp/mosquitto.log" || fail "the device did not subscribe"
t0=1700000000000
for minute in 0 1 2 3 4; do  # 4 min 59 s of excess first (the plugin's tests pin the boundary)
  mosquitto_pub -p "$mqtt" -q 1 -t devices/motor-1/telemetry \
    -m "{\"temperature\": 85, \"ts\": $((t0 + minute * 60000))}" || fail "mosquitto_pub"
done
mosquitto_pub -p "$mqtt" -q 1 -t devices/motor-1/telemetry -m "{\"temperature\": 86, \"ts\": $((t0 + 299000))}"
mosquitto_pub -p "$mqtt" -q 1 -t devices/motor-1/telemetry -m "{\"temperature\": 86, \"ts\": $((t0 + 300000))}"
wait "$sub" || fail "the device received no command within 30 s"
cat "$tmp/device.out"
grep -q "^devices/motor-1/commands/reduceLoad 20$" "$tmp/device.out" || fail "unexpected command"
grep -q "alert.raised twin=motor-1 source=overheating" "$tmp/doppel.log" || fail "no alert logged"
echo "ok: the rule's command reached the device through mosquitto"
