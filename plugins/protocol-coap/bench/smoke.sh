#!/usr/bin/env bash
# Smoke test of doppel_coap_ingest_load against coap-server-openssl on a free UDP port: every
# request (CON, then NON, then paced) must get its response (4.04 from that server).
#   smoke.sh <doppel_coap_ingest_load> [coap-server-openssl]
set -euo pipefail
tool=$1
server=${2:-coap-server-openssl}
client=$(dirname "$(command -v "$server")")/coap-client-openssl
work=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_udp_port() {
  python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A port freed by python can be taken again before the server binds it: retry a few times.
for attempt in 1 2 3 4 5; do
  port=$(free_udp_port)
  "$server" -A 127.0.0.1 -p "$port" >"$work/server.log" 2>&1 &
  server_pid=$!
  ready=
  for _ in $(seq 1 100); do
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    if "$client" -B 1 "coap://127.0.0.1:$port/.well-known/core" >"$work/probe" 2>&1 && [[ -s $work/probe ]]; then
      ready=1
      break
    fi
  done
  [[ -n $ready ]] && break
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
done
[[ -n $ready ]] || { echo "smoke: coap-server-openssl did not come up"; cat "$work/server.log"; exit 1; }

check() {  # check <json report> <messages>
  python3 - "$1" "$2" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); n = int(sys.argv[2])
assert r["completed"] == n, r
assert r["lost"] == 0 and r["send_failed"] == 0, r
assert r["codes"] == {"4.04": n}, r
assert r["msg_per_s"] > 0 and r["latency_ms"]["p50"] > 0, r
print("ok:", r["type"], r["completed"], "responses,", round(r["msg_per_s"]), "msg/s, p99",
      r["latency_ms"]["p99"], "ms")
PY
}
uri="coap://127.0.0.1:$port/twins/motor-{i}/telemetry"
out=$("$tool" --uri "$uri" --messages 2000 --twins 10 --type con --window 32 --sessions 4 --json) || true
check "$out" 2000
out=$("$tool" --uri "$uri" --messages 2000 --twins 10 --type non --window 32 --sessions 2 --json) || true
check "$out" 2000
out=$("$tool" --uri "$uri" --messages 200 --twins 3 --type con --rate 400 --json) || true
check "$out" 200
python3 - "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
# 200 messages at 400/s take about half a second; far less would mean the rate is ignored.
assert r["elapsed_s"] >= 0.45, r
PY
