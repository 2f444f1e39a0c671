#!/usr/bin/env bash
# Black-box tests of the doppel CLI: exit codes, located errors, JSON output, conversion
# round trips and JSON Schema export (checked with python3-jsonschema, an independent validator).
#   cli_test.sh DOPPEL_BINARY REPO_ROOT
set -u
doppel=$1
root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
check() {  # check NAME EXPECTED_EXIT COMMAND...
  local name=$1 expected=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [[ $rc -ne $expected ]]; then
    echo "FAIL $name: exit $rc, expected $expected"; sed 's/^/    /' "$tmp/out" "$tmp/err" | head -20
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}
contains() {  # contains NAME FILE TEXT
  if ! grep -qF -- "$3" "$2"; then
    echo "FAIL $1: output lacks '$3'"; sed 's/^/    /' "$2" | head -20
    failures=$((failures + 1))
  fi
}

check "version" 0 "$doppel" version
contains "version text" "$tmp/out" "doppel "
check "help" 0 "$doppel" --help
contains "help lists models" "$tmp/out" "models"
check "models check --help" 0 "$doppel" models check --help
contains "check help" "$tmp/out" "--undefined-extensions"
check "no subcommand is a usage error" 2 "$doppel"
check "unknown flag is a usage error" 2 "$doppel" models check --bogus "$root/examples/models"
check "bad option value is a usage error" 2 "$doppel" models check --undefined-extensions sometimes "$root/examples/models"
check "missing path is a usage error" 2 "$doppel" models check "$tmp/does-not-exist"

check "examples are valid" 0 "$doppel" models check "$root/examples/models"
contains "examples summary" "$tmp/out" "ok: 5 interfaces"

check "two errors in one pass" 1 "$doppel" models check "$root/tests/data/models/bad/two-errors.json"
contains "first error located" "$tmp/err" "two-errors.json:6:36: error:"
contains "second error located" "$tmp/err" "two-errors.json:7:53: error:"
contains "second error names the DTMI" "$tmp/err" "dtmi:example:bad:Missing;1"
check "not JSON" 1 "$doppel" models check "$root/tests/data/models/bad/not-json.json"
contains "JSON syntax error located" "$tmp/err" "not-json.json:4:3: error: not valid JSON"
check "bad YAML model" 1 "$doppel" models check "$root/tests/data/models/bad/bad.yaml"
contains "YAML error located" "$tmp/err" "bad.yaml:7:13: error:"

check "json output" 1 "$doppel" models check --json "$root/tests/data/models/bad/two-errors.json"
python3 - "$tmp/out" <<'PY' || failures=$((failures + 1))
import json, sys
d = json.load(open(sys.argv[1]))
assert d["interfaces"] == 0, d
assert len(d["errors"]) == 2, d["errors"]
assert all({"file", "line", "column", "message", "code"} <= e.keys() for e in d["errors"])
assert d["errors"][0]["line"] == 6
print("ok   json output shape")
PY

check "show flattened" 0 "$doppel" models show "dtmi:example:factory:Motor;1" --models "$root/examples/models"
contains "show lists telemetry" "$tmp/out" "temperature"
contains "show expands components" "$tmp/out" "vibrationSpectrum"
check "show unknown interface" 1 "$doppel" models show "dtmi:example:Nope;1" --models "$root/examples/models"

# JSON -> YAML -> JSON keeps the model set.
check "convert to yaml" 0 "$doppel" models convert --to yaml -o "$tmp/yaml" "$root/examples/models"
check "converted yaml is valid" 0 "$doppel" models check "$tmp/yaml"
contains "converted count" "$tmp/out" "ok: 5 interfaces"
check "convert back to json" 0 "$doppel" models convert --to json -o "$tmp/json" "$tmp/yaml"
check "round-tripped json is valid" 0 "$doppel" models check "$tmp/json"
"$doppel" models show "dtmi:example:factory:Motor;1" --json --models "$root/examples/models" >"$tmp/a.json"
"$doppel" models show "dtmi:example:factory:Motor;1" --json --models "$tmp/json" >"$tmp/b.json"
if ! cmp -s "$tmp/a.json" "$tmp/b.json"; then echo "FAIL round trip changed the flattened view"; failures=$((failures + 1)); else echo "ok   round trip keeps the flattened view"; fi

# JSON Schema export agrees with Doppel's own payload validation.
check "schema export" 0 "$doppel" models schema "dtmi:example:factory:Motor;1" --part telemetry --models "$root/examples/models"
python3 - "$tmp/out" <<'PY' || failures=$((failures + 1))
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
assert v.is_valid({"temperature": 81.5, "vibration": 0.2, "bearing": {"temperature": 60}})
assert not v.is_valid({"temperature": "hot"})
assert not v.is_valid({"pressure": 1})
assert not v.is_valid({"bearing": {"vibrationSpectrum": {"rms": "x"}}})
print("ok   exported telemetry schema validates like Doppel")
PY
check "command schema" 0 "$doppel" models schema "dtmi:example:factory:Motor;1" --part command:reduceLoad:request --models "$root/examples/models"
contains "command schema type" "$tmp/out" '"type":"integer"'

echo "$failures failure(s)"
exit $((failures > 0))
