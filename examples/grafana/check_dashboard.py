#!/usr/bin/env python3
"""Checks examples/grafana/doppel-dashboard.json: a Grafana dashboard model (panels with ids,
grid positions and Prometheus targets, a datasource variable of type prometheus) whose every
PromQL expression names only metrics that Doppel's code exports (a quoted metric name in a
.cpp/.hpp under core/, plugins/ or tools/, test folders excluded).

Also checks that docs/operations.md lists exactly the exported metrics (every exported name
appears there, and every metric name written there in backticks is exported).

usage: check_dashboard.py SOURCE_DIR
"""
import json
import pathlib
import re
import sys

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
                "unless", "bool", "offset", "le", "inf", "nan"}


def exported_metrics(src):
    names = set()
    for top in ("core", "plugins", "tools"):
        for f in (src / top).rglob("*"):
            if f.suffix not in (".cpp", ".hpp") or "tests" in f.parts or "bench" in f.parts:
                continue
            text = f.read_text(encoding="utf-8", errors="replace")
            # counter("name", ...), gauge(\n "name", ...)
            names.update(re.findall(r'\b(?:counter|gauge|histogram)\(\s*"([a-z_:][a-z0-9_:]*)"',
                                    text))
    return names


def metric_names(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)           # strings
    e = re.sub(r"\{[^}]*\}", "", e)                          # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                         # ranges
    e = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", e)  # grouping labels
    out = []
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        word = m.group(0)
        rest = e[m.end():].lstrip()
        if rest.startswith("("):        # a function or aggregation
            continue
        if word.lower() in PROMQL_WORDS or word.startswith("$"):
            continue
        if m.start() > 0 and e[m.start() - 1] == "$":  # $__rate_interval, $instance
            continue
        out.append(word)
    return out


def main():
    src = pathlib.Path(sys.argv[1])
    dash = json.loads((src / "examples/grafana/doppel-dashboard.json").read_text())
    errors = []
    for key in ("title", "uid", "panels", "templating", "schemaVersion"):
        if key not in dash:
            errors.append(f"dashboard has no '{key}'")
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        errors.append("no 'datasource' variable of type datasource with query prometheus")
    exported = exported_metrics(src)
    if len(exported) < 20:
        errors.append(f"found only {len(exported)} exported metric names in the source")
    ids = set()
    used = set()
    for p in dash.get("panels", []):
        pid = p.get("id")
        if pid in ids:
            errors.append(f"panel id {pid} used twice")
        ids.add(pid)
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in ("h", "w", "x", "y")) or g["x"] + g["w"] > 24:
            errors.append(f"panel {pid} '{p.get('title')}': bad gridPos {g}")
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${datasource}":
            errors.append(f"panel {pid} '{p.get('title')}': datasource is not ${{datasource}}")
        targets = p.get("targets", [])
        if not targets:
            errors.append(f"panel {pid} '{p.get('title')}': no targets")
        for t in targets:
            expr = t.get("expr", "")
            if not t.get("refId") or not expr:
                errors.append(f"panel {pid}: a target without refId or expr")
            names = metric_names(expr)
            if not names:
                errors.append(f"panel {pid}: no metric in '{expr}'")
            for n in names:
                used.add(n)
                if n not in exported:
                    errors.append(f"panel {pid} '{p.get('title')}': metric '{n}' is not "
                                  f"exported by the code (expr: {expr})")
    for v in variables.values():
        q = v.get("definition", "")
        for n in re.findall(r"label_values\(\s*([a-z_:][a-z0-9_:]*)", q):
            used.add(n)
            if n not in exported:
                errors.append(f"variable {v.get('name')}: metric '{n}' is not exported")
    doc = (src / "docs/operations.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`((?:doppel|anomaly|predict|derived)_[a-z0-9_]+)", doc))
    for n in sorted(exported - documented):
        errors.append(f"docs/operations.md does not list the exported metric '{n}'")
    for n in sorted(documented - exported):
        errors.append(f"docs/operations.md lists '{n}', which the code does not export")
    for e in errors:
        print("FAIL: " + e, file=sys.stderr)
    print(f"{len(ids)} panels, {len(used)} metrics used, all exported" if not errors else
          f"{len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
