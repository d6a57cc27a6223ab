#!/usr/bin/env python3
"""Differential test of crater.schema against ajv (draft 2020-12, ajv-formats).

schema_diff_gen.js (Node) makes random schemas and near-valid instances and
ajv's verdicts; schema_diff_check.lua (stock luajit) validates the same pairs
with crater.schema in both modes and reports every disagreement, error pointer
that is not in the instance, and first-error-mode inconsistency. Differences
that are ajv's documented-here bugs or crater's documented format choices are
excluded by named rules in schema_diff_check.lua; anything else fails.

  python3 spec/fuzz/schema_diff.py                       # the ctest run
  SCHEMA_DIFF_SEED=7 SCHEMA_DIFF_CASES=200000 python3 spec/fuzz/schema_diff.py

Needs ajv and ajv-formats in $CRATER_TOOLS/node_modules (.ci/setup-npm.sh,
run by .ci/setup.sh): missing, the test FAILS unless CRATER_ALLOW_SKIP=1.
BUILD_DIR (default build) holds lua/crater/_json.so; LUAJIT names the
interpreter (default luajit); SCHEMA_DIFF_SHOW how many findings to print.
"""
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.environ.get("CRATER_TOOLS", "/usr/local/share/crater/tools")
SEED = int(os.environ.get("SCHEMA_DIFF_SEED", "1"))
CASES = int(os.environ.get("SCHEMA_DIFF_CASES", "25000"))
LUAJIT = os.environ.get("LUAJIT", "luajit")
BUILD = os.path.join(ROOT, os.environ.get("BUILD_DIR", "build"))
SHOW = int(os.environ.get("SCHEMA_DIFF_SHOW", "5"))


def unavailable(why):
    """A tool .ci/setup.sh installs is missing: fail, unless CRATER_ALLOW_SKIP=1."""
    print("schema_diff: %s: run .ci/setup.sh (or set CRATER_ALLOW_SKIP=1)" % why)
    if os.environ.get("CRATER_ALLOW_SKIP") == "1":
        print("0 passed, 0 failed, 1 skipped")
        return 0
    return 1


def main():
    missing = [p for p in ("ajv", "ajv-formats")
               if not os.path.isfile(os.path.join(TOOLS, "node_modules", p, "package.json"))]
    if missing:
        return unavailable("%s not installed in %s" % (" and ".join(missing), TOOLS))
    if shutil.which("node") is None:
        return unavailable("node not found")
    env = dict(os.environ)
    env["CRATER_TOOLS"] = TOOLS
    env["LUA_PATH"] = "%s/lua/?.lua;%s/lua/?/init.lua;;" % (ROOT, ROOT)
    env["LUA_CPATH"] = "%s/lua/?.so;;" % BUILD
    gen = subprocess.Popen(["node", os.path.join(ROOT, "spec/fuzz/schema_diff_gen.js"), str(SEED), str(CASES)],
                           stdout=subprocess.PIPE, env=env)
    chk = subprocess.Popen([LUAJIT, os.path.join(ROOT, "spec/fuzz/schema_diff_check.lua")],
                           stdin=gen.stdout, stdout=subprocess.PIPE, env=env, encoding="utf-8")
    gen.stdout.close()
    out, _ = chk.communicate()
    gen.wait()
    if gen.returncode != 0 or chk.returncode != 0:
        print("schema_diff: generator exited %s, checker %s" % (gen.returncode, chk.returncode))
        return 1
    summary, bad = None, []
    for line in out.split("\n"):  # not splitlines: U+2028 may be in a line
        if not line:
            continue
        rec = json.loads(line)
        if "summary" in rec:
            summary = rec["summary"]
        elif not rec.get("excluded"):
            bad.append(rec)
    if summary is None:
        print("schema_diff: the checker wrote no summary")
        return 1
    print("schema_diff: seed %d: %d cases (%d valid, %d invalid) on %d schemas" % (
        SEED, summary["cases"], summary["valid"], summary["invalid"], summary["schemas"]))
    for name, n in sorted((summary.get("by_rule") or {}).items()):
        print("  excluded by %s: %d" % (name, n))
    for rec in bad[:SHOW]:
        print("DISAGREEMENT " + json.dumps(rec, ensure_ascii=False))
    if len(bad) > SHOW:
        print("... and %d more (SCHEMA_DIFF_SHOW=N shows more)" % (len(bad) - SHOW))
    print("%d passed, %d failed" % (summary["cases"] - len(bad), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
