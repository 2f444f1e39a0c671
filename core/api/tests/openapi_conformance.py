#!/usr/bin/env python3
"""OpenAPI conformance: schemas/openapi.yaml against the server that `doppel run` starts.

1. The route table (doppel_api_routes) and the OpenAPI operations are the same set, and the
   security each documents agrees (open probes, "(role X)" in every other summary).
2. Every route is called at least once against a running deployment; each response's status
   must be documented for that operation, its Content-Type must be one documented, and JSON
   bodies must validate (JSON Schema 2020-12) against the documented schema.
"""
import argparse
import copy
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import jsonschema
import yaml

ap = argparse.ArgumentParser()
ap.add_argument("--doppel", required=True)
ap.add_argument("--routes", required=True)
ap.add_argument("--source", required=True)
ap.add_argument("--plugin-path", default=None, help="folder with doppel-protocol-loopback.so")
args = ap.parse_args()

spec = yaml.safe_load(open(os.path.join(args.source, "schemas/openapi.yaml")))
assert str(spec["openapi"]).startswith("3.1"), "OpenAPI 3.1 expected (schemas are JSON Schema 2020-12)"
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def resolve(node):
    """Follows a local $ref (#/components/...)."""
    while isinstance(node, dict) and "$ref" in node and len(node) == 1:
        target = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


# Every $ref resolves.
def walk_refs(node, where):
    if isinstance(node, dict):
        if "$ref" in node:
            try:
                resolve({"$ref": node["$ref"]})
            except KeyError:
                fail(f"{where}: unresolved $ref {node['$ref']}")
        for k, v in node.items():
            walk_refs(v, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk_refs(v, f"{where}/{i}")


walk_refs(spec, "#")
jsonschema.Draft202012Validator.check_schema({"components": spec["components"]})

# ---- 1. route table == OpenAPI operations ----------------------------------------------------
routes = [json.loads(line) for line in subprocess.check_output([args.routes], text=True).splitlines()]
table = {(r["method"], r["path"]): r for r in routes}
documented = {}
for path, item in spec["paths"].items():
    for method, op in item.items():
        if method in ("get", "put", "post", "patch", "delete"):
            documented[(method.upper(), path)] = op
for key in sorted(set(table) - set(documented)):
    fail(f"served but not documented: {key[0]} {key[1]}")
for key in sorted(set(documented) - set(table)):
    fail(f"documented but not served: {key[0]} {key[1]}")
for key, r in table.items():
    op = documented.get(key)
    if op is None:
        continue
    open_op = op.get("security") == []
    if open_op == r["auth"]:
        fail(f"{key[0]} {key[1]}: security in openapi.yaml disagrees with the server (auth={r['auth']})")
    if r["auth"] and f"(role {r['role']})" not in op.get("summary", ""):
        fail(f"{key[0]} {key[1]}: summary should say '(role {r['role']})': {op.get('summary')}")


# ---- 2. responses against a running deployment ----------------------------------------------
def template_of(method, path):
    path = path.split("?")[0]
    for (m, p) in table:
        if m != method:
            continue
        rx = "^" + re.sub(r"\\\{(path)\\\}", "(.+)", re.sub(r"\\\{[A-Za-z]+\\\}", "[^/]+", re.escape(p))) + "$"
        rx = rx.replace("(.+)", ".+")
        if re.match(rx, path):
            return p
    return None


token = "conformance-" + os.urandom(8).hex()
tmp = tempfile.mkdtemp()
with open(os.path.join(tmp, "tokens.txt"), "w") as f:
    f.write(hashlib.sha256(token.encode()).hexdigest() + " admin conformance\n")
plugin_block = ""
if args.plugin_path:
    plugin_block = ("plugins:\n  - {name: devices, kind: protocol, library: loopback, "
                    "config: {respond: 'true'}}\n")
with open(os.path.join(tmp, "deploy.yaml"), "w") as f:
    f.write(f"""apiVersion: doppel/v1
name: conformance
models: ["{args.source}/examples/models/factory"]
{plugin_block}twins:
  - {{id: line-1, model: "dtmi:example:factory:ProductionLine;1"}}
  - {{id: "motor-{{i}}", count: 4, model: "dtmi:example:factory:Motor;1"}}
relationships:
  - {{source: line-1, name: contains, target: "motor-{{i}}", count: 2}}
api: {{listen: "127.0.0.1:0", tokens_file: tokens.txt}}
""")
cmd = [args.doppel, "run", os.path.join(tmp, "deploy.yaml")]
if args.plugin_path:
    cmd += ["--plugin-path", args.plugin_path]
log_path = os.path.join(tmp, "doppel.log")
proc = subprocess.Popen(cmd, stderr=open(log_path, "w"))
base = None
deadline = time.monotonic() + 15
while time.monotonic() < deadline and base is None and proc.poll() is None:
    m = re.search(r"url=(http://[0-9.:]+)", open(log_path).read())
    if m:
        base = m.group(1)
    else:
        time.sleep(0.05)
if base is None:
    print(open(log_path).read())
    proc.kill()
    sys.exit("doppel run did not log its API URL")

called = set()


def call(method, path, body=None, auth=True, headers=None, ctype="application/json"):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method=method)
    if auth:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", ctype)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, rh, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, rh, raw = e.code, e.headers, e.read()
    check(method, path, status, rh.get("Content-Type", ""), raw)
    return status, rh, raw


def check(method, path, status, ctype, raw):
    tpl = template_of(method, path)
    where = f"{method} {path} -> {status}"
    if tpl is None:
        if status != 404:
            fail(f"{where}: no route matches and status is not 404")
        return
    called.add((method, tpl))
    op = documented[(method, tpl)]
    response = op["responses"].get(str(status))
    if response is None:
        fail(f"{where}: status {status} is not documented for {method} {tpl}")
        return
    response = resolve(response)
    content = response.get("content")
    if not content:
        if raw:
            fail(f"{where}: documented without a body but got {raw[:80]!r}")
        return
    media = ctype.split(";")[0].strip()
    if media not in content:
        fail(f"{where}: Content-Type {media} not documented ({list(content)})")
        return
    schema = content[media].get("schema", {})
    if media.endswith("json"):
        try:
            doc = json.loads(raw)
        except ValueError as e:
            fail(f"{where}: body is not JSON: {e}")
            return
        root = copy.deepcopy(resolve(schema)) if "$ref" in schema else copy.deepcopy(schema)
        if isinstance(root, dict):
            root["components"] = spec["components"]
        errors = sorted(jsonschema.Draft202012Validator(root).iter_errors(doc), key=str)
        for e in errors[:3]:
            fail(f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}")
    print(f"ok: {where}")


try:
    call("GET", "/healthz", auth=False)
    call("GET", "/readyz", auth=False)
    call("GET", "/metrics")
    call("GET", "/metrics", auth=False)  # 401
    call("GET", "/api/v1/models")
    call("GET", "/api/v1/models/dtmi:example:factory:Motor;1")
    call("GET", "/api/v1/models/dtmi:example:factory:Nope;1")
    call("POST", "/api/v1/query", {"query": "SELECT T FROM DIGITALTWINS T", "page_size": 2})
    call("POST", "/api/v1/query", {"query": "SELECT FROM"})
    status, headers, _ = call("GET", "/api/v1/twins/motor-1")
    etag = headers.get("ETag")
    call("GET", "/api/v1/twins/ghost")
    call("PUT", "/api/v1/twins/motor-9", {"model": "dtmi:example:factory:Motor;1", "properties": {"ratedPower": 3}})
    call("PUT", "/api/v1/twins/motor-9", {"model": "dtmi:example:factory:Motor;1"})  # 409
    call("PUT", "/api/v1/twins/motor-10", b"{not json")
    call("PUT", "/api/v1/twins/motor-11", b"[" + b"1," * 600000 + b"1]")  # 413 (default 1 MiB)

    # An event stream, opened before the PATCH so it sees the desired change.
    event = {}

    def stream():
        req = urllib.request.Request(base + "/api/v1/events?twin=motor-1")
        req.add_header("Authorization", "Bearer " + token)
        with urllib.request.urlopen(req, timeout=10) as r:
            event["ctype"] = r.headers.get("Content-Type", "")
            event["status"] = r.status
            for line in r:
                line = line.decode()
                if line.startswith(": connected"):
                    event["connected"] = True
                if line.startswith("data: "):
                    event["data"] = json.loads(line[6:])
                    return

    t = threading.Thread(target=stream, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while "connected" not in event and time.monotonic() < deadline:
        time.sleep(0.01)
    patch = [{"op": "replace", "path": "/targetSpeed", "value": 1000}]
    call("PATCH", "/api/v1/twins/motor-1/desired", patch, headers={"If-Match": etag}, ctype="application/json-patch+json")
    call("PATCH", "/api/v1/twins/motor-1/desired", patch, headers={"If-Match": etag}, ctype="application/json-patch+json")  # 412
    call("PATCH", "/api/v1/twins/motor-1/desired", [{"op": "move", "path": "/targetSpeed"}])
    t.join(10)
    if "data" not in event:
        fail("GET /api/v1/events: no event within 10 s")
    else:
        check("GET", "/api/v1/events", event["status"], event["ctype"], b"")
        root = {"$ref": "#/components/schemas/ChangeEvent", "components": spec["components"]}
        for e in jsonschema.Draft202012Validator(root).iter_errors(event["data"]):
            fail(f"event data: {e.message}")
    call("GET", "/api/v1/events?model=dtmi:nope;1")

    call("GET", "/api/v1/twins/motor-1/relationships")
    call("GET", "/api/v1/twins/line-1/relationships")
    call("PUT", "/api/v1/twins/line-1/relationships/has-9", {"name": "contains", "target": "motor-9"})
    call("PUT", "/api/v1/twins/line-1/relationships/has-9", {"name": "contains", "target": "motor-9"})
    call("DELETE", "/api/v1/twins/line-1/relationships/has-9")
    call("DELETE", "/api/v1/twins/line-1/relationships/has-9")
    call("POST", "/api/v1/twins/motor-1/commands/reduceLoad?timeout=2s", 20)
    call("POST", "/api/v1/twins/motor-1/commands/nope", 20)
    call("GET", "/api/v1/twins/motor-1/telemetry/temperature/history?step=1m")
    call("GET", "/api/v1/twins/motor-1/telemetry/temperature/history?from=yesterday")
    call("GET", "/api/v1/dead-letters?limit=5")
    call("GET", "/api/v1/dead-letters?limit=5000")
    call("GET", "/api/v1/dead-letters/counts")
    call("GET", "/api/v1/alerts")
    call("GET", "/api/v1/alerts?twin=motor-1")
    call("POST", "/api/v1/alerts/motor-1/overheating/acknowledge")  # 404: none active
    call("GET", "/api/v1/events/recent?limit=5")
    call("GET", "/api/v1/events/recent?limit=0")  # 400
    call("DELETE", "/api/v1/twins/motor-9")
    call("DELETE", "/api/v1/twins/motor-1")  # 409: line-1 contains it
    call("GET", "/api/v1/no-such-route")
finally:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail("doppel run did not stop within 15 s")
    log = open(log_path).read()
    if token in log:
        fail("the token appears in the log")

for key in sorted(set(table) - called):
    fail(f"route never exercised: {key[0]} {key[1]}")
if failures:
    print(f"{len(failures)} conformance failure(s)")
    print("--- doppel log ---\n" + open(log_path).read())
    sys.exit(1)
print(f"openapi conformance: {len(table)} routes, all documented, all exercised")
