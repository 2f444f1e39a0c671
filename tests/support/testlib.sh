# Shared helpers for the shell tests (sourced): a temp folder cleaned up with the processes the
# test started, failure reports with the logs, waits with deadlines, a free port, a broker.
#   source "$root/tests/support/testlib.sh"
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT

# fail MESSAGE: prints it and the tail of every log and output file of the test, exits 1.
fail() {
  echo "FAIL $*"
  for f in "$tmp"/*.log "$tmp"/*.out; do [[ -f $f ]] && { echo "--- $f"; tail -20 "$f"; }; done
  exit 1
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds; returns 1 at the deadline.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_mosquitto [CONFIG LINES...]: a broker on a free loopback port with queue limits lifted
# (its log in $tmp/mosquitto.log); sets $mqtt to the port.
start_mosquitto() {
  mqtt=$(free_port)
  {
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n' "$mqtt"
    for line in "$@"; do echo "$line"; done
  } >"$tmp/mosquitto.conf"
  mosquitto -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
  pids+=($!)
  wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$mqtt" || fail "mosquitto did not start"
}
