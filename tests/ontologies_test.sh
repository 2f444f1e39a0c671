#!/usr/bin/env bash
# Every public ontology loads with zero errors, and its interface count equals the reference
# parser's (../shared/dtdl/README.md: RealEstateCore 767, smart cities 63, energy grid 113).
#   ontologies_test.sh DOPPEL_BINARY DTDL_DATA
set -u
doppel=$1
data=$2
failures=0
for spec in realestatecore:767 smartcities:63 energygrid:113; do
  folder=${spec%%:*} expected=${spec##*:}
  out=$("$doppel" models check --json "$data/$folder")
  rc=$?
  count=$(python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d["interfaces"], len(d["errors"]))' <<<"$out")
  if [[ $rc -ne 0 || "$count" != "$expected 0" ]]; then
    echo "FAIL $folder: exit $rc, (interfaces errors) = ($count), expected ($expected 0)"
    failures=$((failures + 1))
  else
    echo "ok   $folder: $expected interfaces, no errors"
  fi
done
exit $((failures > 0))
