#!/usr/bin/env bash
# CoAP ingest throughput through protocol-coap: starts `doppel run` with deployment.yaml (N
# motors, memory storage, the CoAP server on a free UDP port), waits until the port answers,
# runs doppel_coap_ingest_load against twins/motor-{i}/telemetry and stops doppel.
#   run_coap_ingest.sh BUILD_DIR [--server doppel|coap-server] [--tool PATH] [load tool options]
# Load tool options: --messages N --twins M --type con|non --window W --sessions S --rate R
# --json (see coap_ingest_load.cpp). --server coap-server runs the same load against libcoap's
# coap-server-openssl instead (4.04 answers: the client and loopback ceiling, no Doppel).
# Needs the targets doppel, doppel-storage-memory, doppel-protocol-coap, doppel_coap_ingest_load
# (--tool: the load tool from another build).
set -euo pipefail
[[ $# -ge 1 ]] || { sed -n 2,10p "$0"; exit 2; }
build=$(cd "$1" && pwd)
shift
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../.." && pwd)
server=doppel
twins=10
args=()
tool=
while [[ $# -gt 0 ]]; do
  case $1 in
    --server) server=$2; shift 2 ;;
    --tool) tool=$2; shift 2 ;;
    --twins) twins=$2; args+=("$1" "$2"); shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ -n $tool ]] || tool=$(find "$build" -name doppel_coap_ingest_load -type f -perm -u+x | head -1)
[[ -n $tool ]] || { echo "build doppel_coap_ingest_load first"; exit 2; }

dir=$(mktemp -d)
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
case $server in
  doppel)
    sed -e "s|listen: \"127.0.0.1:5683\"|listen: \"127.0.0.1:$port\"|" \
        -e "s|count: 10 |count: $twins |" \
        -e "s|\[\.\./\.\./\.\./examples/models/factory\]|[\"$src/examples/models/factory\"]|" \
        "$here/deployment.yaml" >"$dir/deployment.yaml"
    "$build/tools/doppel/doppel" run "$dir/deployment.yaml" --plugin-path "$build/plugins" \
      >"$dir/doppel.log" 2>&1 &
    pid=$!
    ;;
  coap-server)
    coap-server-openssl -A 127.0.0.1 -p "$port" >"$dir/server.log" 2>&1 &
    pid=$!
    ;;
  *) echo "--server must be doppel or coap-server"; exit 2 ;;
esac

# Any answer (even 4.04/4.05) means the CoAP server is up.
up=
for _ in $(seq 1 100); do
  kill -0 "$pid" 2>/dev/null || break
  if coap-client-openssl -B 1 "coap://127.0.0.1:$port/twins/motor-1/telemetry" >"$dir/probe" 2>&1 &&
    [[ -s $dir/probe ]]; then
    up=1
    break
  fi
done
if [[ -z $up ]]; then
  echo "run_coap_ingest: the $server CoAP server on port $port did not answer" >&2
  cat "$dir"/*.log >&2 || true
  exit 1
fi

echo "run_coap_ingest: $server on coap://127.0.0.1:$port, $twins motors" >&2
rc=0
"$tool" --uri "coap://127.0.0.1:$port/twins/motor-{i}/telemetry" --twins "$twins" "${args[@]}" || rc=$?
if [[ $server == doppel ]] && ! kill -0 "$pid" 2>/dev/null; then
  echo "run_coap_ingest: doppel exited during the run" >&2
  cat "$dir/doppel.log" >&2
  exit 1
fi
exit $rc
