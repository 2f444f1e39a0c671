#!/usr/bin/env python3
"""Agreement test: schemas/deployment.schema.json and Doppel's own checks give the same verdict.

Every file in examples/deployments/ (all valid) and tests/data/deployments/bad/ (one mistake
each) is checked twice: by python3-jsonschema (Draft 2020-12, after yaml.safe_load) and by
Doppel (the deployment_check tool, which runs load_deployment). Both must accept every
example and reject every bad case, except bad cases whose header says

    # schema: accepts (reason)

because the mistake needs what a schema cannot see (the model set, ids after {i} expansion,
duplicate YAML keys): the schema must accept those, and Doppel must still reject them.

With --with-api the files of tests/data/deployments/bad-api/ (mistakes in the `api:` block,
which the REST API's parser checks) are bad cases too; --check must then be a tool that checks
the api: block as well (core/api/tests/api_deployment_check).

usage: deployment_schema_test.py --check path/to/deployment_check --source path/to/doppel
                                 [--with-api]
"""
import argparse
import json
import pathlib
import subprocess
import sys

import yaml
from jsonschema import Draft202012Validator


def schema_verdict(validator, text):
    """(accepted, first error) for one YAML text."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        return False, "YAML: " + str(e).splitlines()[0]
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if not errors:
        return True, ""
    e = errors[0]
    where = "/".join(str(p) for p in e.absolute_path) or "(root)"
    return False, f"{where}: {e.message}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", required=True, help="the deployment_check executable")
    ap.add_argument("--source", required=True, help="the source tree")
    ap.add_argument("--with-api", action="store_true",
                    help="also the api: bad cases (needs an api-aware --check tool)")
    args = ap.parse_args()
    src = pathlib.Path(args.source)

    schema = json.loads((src / "schemas/deployment.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)

    good = sorted((src / "examples/deployments").glob("*.yaml"))
    bad = sorted((src / "tests/data/deployments/bad").glob("*.yaml"))
    if args.with_api:
        api_bad = sorted((src / "tests/data/deployments/bad-api").glob("*.yaml"))
        if len(api_bad) < 5:
            print(f"too few api: bad cases: {len(api_bad)}", file=sys.stderr)
            return 1
        bad += api_bad
    if len(good) < 2 or len(bad) < 10:
        print(f"too few files: {len(good)} examples, {len(bad)} bad cases", file=sys.stderr)
        return 1

    run = subprocess.run([args.check, "--json", *map(str, good + bad)],
                         capture_output=True, text=True)
    if run.returncode not in (0, 1):
        print(f"deployment_check failed ({run.returncode}):\n{run.stderr}", file=sys.stderr)
        return 1
    doppel = {}
    for line in run.stdout.splitlines():
        r = json.loads(line)
        doppel[pathlib.Path(r["file"])] = r

    failures = []
    for f in good + bad:
        text = f.read_text(encoding="utf-8")
        is_bad = f in bad
        schema_blind = "# schema: accepts" in text
        if schema_blind and not is_bad:
            failures.append(f"{f}: only bad cases may say '# schema: accepts'")
        schema_ok, schema_why = schema_verdict(validator, text)
        r = doppel.get(f)
        if r is None:
            failures.append(f"{f}: no verdict from deployment_check")
            continue
        doppel_ok = r["valid"]
        doppel_why = r["errors"][0]["message"] if r["errors"] else ""
        expected_schema = not is_bad or schema_blind
        expected_doppel = not is_bad
        line = (f"{f.relative_to(src)}: schema {'accepts' if schema_ok else 'rejects'}, "
                f"doppel {'accepts' if doppel_ok else 'rejects'}")
        print(line + (" (schema cannot see it)" if schema_blind else ""))
        if schema_ok != expected_schema:
            failures.append(f"{line}; expected the schema to "
                            f"{'accept' if expected_schema else 'reject'} it"
                            + (f" [{schema_why}]" if schema_why else ""))
        if doppel_ok != expected_doppel:
            failures.append(f"{line}; expected Doppel to "
                            f"{'accept' if expected_doppel else 'reject'} it"
                            + (f" [{doppel_why}]" if doppel_why else ""))

    print(f"{len(good)} examples, {len(bad)} bad cases, {len(failures)} disagreement(s)")
    for msg in failures:
        print("FAIL: " + msg, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
