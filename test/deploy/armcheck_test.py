#!/usr/bin/env python3
"""Self-test of armcheck.py: arm/ must pass, every template in broken/ must fail with the one
message broken/expected.tsv names for it and no other error. Prints one "ok - ..." or
"not ok - ..." line per check and "N passed, N failed" last; exits 1 when anything failed.

    test/deploy/armcheck_test.py          (CTest: deploy.arm)
"""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import armcheck  # noqa: E402  (re-runs this script under /usr/bin/python3 if jsonschema is missing)

REPO = os.path.dirname(os.path.dirname(HERE))
CHECKER = os.path.join(HERE, "armcheck.py")
BROKEN = os.path.join(HERE, "broken")
ARM = os.path.join(REPO, "arm")
FIELDS = os.path.join(REPO, "config", "fields.def")
FIXTURE_DAY = "2026-12-02"   # the day the fixtures were written; their apiVersions age from it

results = []


def report(ok, what, detail=""):
    results.append(ok)
    print("%s - %s" % ("ok" if ok else "not ok", what))
    if not ok and detail:
        for line in detail.rstrip().splitlines():
            print("#   " + line)


def errors_of(out):
    return [l.split(": error: ", 1)[1] for l in out.splitlines() if ": error: " in l]


def run_cli(*args):
    """The checker as a command (what CI and people run)."""
    p = subprocess.run([sys.executable, CHECKER, "--fields", FIELDS] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    return p.returncode, errors_of(p.stdout), p.stdout


def run_here(*args):
    """The checker in this process (the fixtures: one interpreter instead of seventy)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = armcheck.main(["--fields", FIELDS] + list(args))
    return rc, errors_of(buf.getvalue()), buf.getvalue()


def main():
    # the real template and its example parameters, measured from today
    rc, errors, out = run_cli(ARM)
    report(rc == 0 and not errors, "arm/ passes (azuredeploy.json and its parameters example)", out)

    # ... and ages: far enough ahead, its apiVersions are too old
    rc, errors, out = run_cli("--today", "2031-01-01", ARM)
    report(rc == 1 and any("older than two years" in e for e in errors),
           "arm/ fails with --today 2031-01-01 (apiVersions older than two years)", out)

    # the cloud-config renderer's round trip: load, change variables('cloudInit'), dump
    with open(os.path.join(ARM, "azuredeploy.json"), encoding="utf-8") as f:
        doc = json.load(f)
    tmp = tempfile.mkdtemp(prefix="armcheck-")
    try:
        doc["variables"]["cloudInit"] = ("#cloud-config\nwrite_files:\n- path: /etc/pqrt/.keep\n"
                                         "  content: ''\nruncmd:\n- [true]\n")
        with open(os.path.join(tmp, "azuredeploy.json"), "w", encoding="utf-8") as f:
            f.write(json.dumps(doc, indent=2) + "\n")
        shutil.copy(os.path.join(ARM, "azuredeploy.parameters.example.json"), tmp)
        rc, errors, out = run_here(tmp)
        report(rc == 0, "arm/ with a rewritten cloudInit (json.dumps(indent=2)) still passes", out)
        doc["variables"]["cloudInit"] = "#cloud-config\n" + "#" * 65536 + "\n"
        with open(os.path.join(tmp, "azuredeploy.json"), "w", encoding="utf-8") as f:
            f.write(json.dumps(doc, indent=2) + "\n")
        rc, errors, out = run_here(tmp)
        report(rc == 1 and errors and all("over Azure's 65535" in e for e in errors),
               "arm/ with a cloudInit over 65,535 bytes fails on every VM", out)
    finally:
        shutil.rmtree(tmp)

    # the broken fixtures, one fault each
    expected = {}
    with open(os.path.join(BROKEN, "expected.tsv"), encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name, message = line.rstrip("\n").split("\t", 1)
                expected[name] = message
    files = sorted(f for f in os.listdir(BROKEN)
                   if f.endswith(".json") and not f.endswith(".parameters.json"))
    report(set(files) == set(expected),
           "every broken/ template has an expected message and every message a template",
           "no message: %s\nno file: %s" % (sorted(set(files) - set(expected)),
                                          sorted(set(expected) - set(files))))
    for name in files:
        if name not in expected:
            continue
        args = ["--today", FIXTURE_DAY, os.path.join(BROKEN, name)]
        params = os.path.join(BROKEN, name[:-len(".json")] + ".parameters.json")
        if os.path.exists(params):
            args += ["--parameters", params]
        rc, errors, out = run_here(*args)
        want = expected[name]
        ok = rc == 1 and len(errors) == 1 and want in errors[0]
        report(ok, "broken/%s fails with: %s" % (name, want), out)

    passed = sum(1 for r in results if r)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
