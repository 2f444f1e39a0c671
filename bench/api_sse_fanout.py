#!/usr/bin/env python3
"""SSE fan-out: N subscribers on /api/v1/events?twin=motor-1 of a `doppel run`; the bench PATCHes
motor-1's desired targetSpeed M times and measures, per event and subscriber, the time from
sending the PATCH to the subscriber reading the event. Manual bench, not a ctest.

  bench/api_sse_fanout.py --doppel build/tools/doppel/doppel --source . [--subscribers 100]
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
import http.client

ap = argparse.ArgumentParser()
ap.add_argument("--doppel", required=True)
ap.add_argument("--source", required=True)
ap.add_argument("--subscribers", type=int, default=100)
ap.add_argument("--events", type=int, default=200)
ap.add_argument("--interval", type=float, default=0.01, help="seconds between PATCHes")
a = ap.parse_args()

tmp = tempfile.mkdtemp()
with open(os.path.join(tmp, "deploy.yaml"), "w") as f:
    f.write(f"""apiVersion: doppel/v1
name: sse-fanout
models: ["{os.path.abspath(a.source)}/examples/models/factory"]
twins:
  - {{id: "motor-{{i}}", count: 10, model: "dtmi:example:factory:Motor;1"}}
api: {{listen: "127.0.0.1:0", auth: none, max_event_subscribers: {a.subscribers + 8}, event_queue: 4096}}
""")
log = os.path.join(tmp, "doppel.log")
proc = subprocess.Popen([a.doppel, "run", os.path.join(tmp, "deploy.yaml")], stderr=open(log, "w"))
base = None
for _ in range(300):
    m = re.search(r"url=http://([0-9.]+):([0-9]+)", open(log).read())
    if m:
        host, port = m.group(1), int(m.group(2))
        break
    time.sleep(0.05)
else:
    proc.kill()
    raise SystemExit("no API URL logged")

sent = {}  # value -> time sent
received = [[] for _ in range(a.subscribers)]  # (value, time)
ready = threading.Barrier(a.subscribers + 1)
done = threading.Event()


def subscriber(i):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/api/v1/events?twin=motor-1")
    r = conn.getresponse()
    assert r.status == 200, r.status
    r.readline()  # retry:
    r.readline()  # : connected
    ready.wait()
    while not done.is_set():
        line = r.readline()
        if not line:
            break
        if line.startswith(b"data: "):
            d = json.loads(line[6:])
            if d.get("kind") == "desired":
                received[i].append((d["desired"]["targetSpeed"], time.monotonic()))
                if len(received[i]) == a.events:
                    break
    conn.close()


threads = [threading.Thread(target=subscriber, args=(i,), daemon=True) for i in range(a.subscribers)]
for t in threads:
    t.start()
ready.wait()
conn = http.client.HTTPConnection(host, port, timeout=30)
start = time.monotonic()
for v in range(1, a.events + 1):
    body = json.dumps([{"op": "replace", "path": "/targetSpeed", "value": v}])
    sent[v] = time.monotonic()
    conn.request("PATCH", "/api/v1/twins/motor-1/desired", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200, resp.status
    time.sleep(a.interval)
for t in threads:
    t.join(30)
done.set()
elapsed = time.monotonic() - start
lat = [(t - sent[int(v)]) * 1000 for rs in received for (v, t) in rs]
got = sum(len(r) for r in received)
metrics = urllib.request.urlopen(f"http://{host}:{port}/metrics").read().decode()
dropped = re.search(r"^doppel_api_events_dropped_total (\d+)", metrics, re.M)
proc.send_signal(signal.SIGTERM)
proc.wait(15)
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"{a.subscribers} subscribers x {a.events} events in {elapsed:.1f}s: delivered {got}/{a.subscribers * a.events}, "
      f"dropped (server) {dropped.group(1) if dropped else '?'}")
print(f"PATCH -> subscriber latency ms: p50 {q(0.5):.1f}  p99 {q(0.99):.1f}  max {lat[-1]:.1f}  mean {statistics.mean(lat):.1f}")
