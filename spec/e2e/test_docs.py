"""Runs the examples in docs/*.md, so the documentation cannot drift from
what Crater does.

- A ```lua app block is a complete app: it is written to a file and served.
  A block whose info string is `LANG file PATH` (```html file
  templates/page.html) is written to PATH beside the page's apps (each page
  has a temporary folder of its own, removed after it), for the apps to read.
- A ```console block after it holds `$ curl ...` lines, each followed by the
  exact output expected; `localhost:8080` is replaced by the server's port.
  A `$ crater ...` line runs the binary (with the app file as APP.lua).
  An expected line `Name: *` matches any value of that header.
- A ```lua test block is a standalone script run with luajit (crater.json and
  the pure-Lua modules are on the path); it passes when it exits 0.
- A ```lua crater-test block is a spec run with `crater test` (inside a Crater
  VM, so crater.test can inject requests); it passes when it exits 0.
- An app that reads `os.getenv("REDIS_URL")` is served with REDIS_URL naming
  a throwaway redis-server (spec/e2e/redis_server.py) started for its page;
  the page's test is skipped when redis-server is not installed.
- An app that calls `crater.pg.connect(os.getenv("DATABASE_URL"))` is served
  with DATABASE_URL naming a throwaway PostgreSQL (spec/e2e/pg_server.py,
  an empty database the app's user owns, TLS on with its own CA) started for
  its page, and libpq's PGHOST (localhost), PGPORT, PGUSER, PGPASSWORD,
  PGDATABASE and PGSSLROOTCERT (that CA) naming it too; the page's test is
  skipped when PostgreSQL is not installed.
- A ```c embed block is a complete C program: it is compiled against the build
  tree's library (build/dev/libcrater_dev.a, whose Lua files are the source
  tree's) and run from the repository root; it passes when it exits 0.
"""
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN, ROOT, Server, run
from pg_server import DATABASE, MISSING as PG_MISSING, PASSWORD, USER, PgServer
from redis_server import MISSING as REDIS_MISSING, RedisServer

BLOCK = re.compile(r"^```([^\n]*)\n(.*?)^```\s*$", re.M | re.S)


def blocks(path):
    with open(path) as f:
        text = f.read()
    for m in BLOCK.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        yield m.group(1).strip(), m.group(2), line


class Docs(unittest.TestCase):
    pass


def make_test(md):
    def test(self):
        srv, app_file, ran, redis, env, pg = None, None, 0, None, None, None
        with open(md) as f:
            text = f.read()
        if 'os.getenv("REDIS_URL")' in text:
            if REDIS_MISSING:
                self.skipTest(REDIS_MISSING)
            redis = RedisServer()
            env = {"REDIS_URL": redis.url()}
        if 'crater.pg.connect(os.getenv("DATABASE_URL"))' in text:
            if PG_MISSING:
                self.skipTest(PG_MISSING)
            pg = PgServer(ssl=True)
            env = {**(env or {}), "DATABASE_URL": pg.url, "PGHOST": "localhost", "PGPORT": str(pg.port),
                   "PGUSER": USER, "PGPASSWORD": PASSWORD, "PGDATABASE": DATABASE, "PGSSLROOTCERT": pg.ca}
        # An example's sqlite: file would land beside its app, in the temporary
        # folder, and outlive the run: each page starts from an empty database.
        env = {"DATABASE_URL": "sqlite::memory:", **(env or {})}
        folder = tempfile.mkdtemp(prefix="docapp-")
        try:
            for info, body, line in blocks(md):
                where = "%s:%d" % (os.path.relpath(md, ROOT), line)
                file_block = re.match(r"^\w+ file (\S+)$", info)
                if file_block:
                    path = os.path.join(folder, file_block.group(1))
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "w") as f:
                        f.write(body)
                elif info == "lua app":
                    if srv:
                        srv.stop()
                    fd, app_file = tempfile.mkstemp(suffix=".lua", prefix="docapp-", dir=folder)
                    with os.fdopen(fd, "w") as f:
                        f.write(body)
                    srv = Server(app_file, env=env)
                    ran += 1
                elif info == "console":
                    self.run_console(srv, app_file, body, where)
                    ran += 1
                elif info == "lua test":
                    env = dict(os.environ)
                    build = os.path.dirname(BIN)
                    env["LUA_PATH"] = "%s/lua/?.lua;%s/lua/?/init.lua;;" % (ROOT, ROOT)
                    env["LUA_CPATH"] = "%s/lua/?.so;;" % build
                    out = subprocess.run(["luajit", "-"], input=body.encode(), env=env,
                                         capture_output=True, cwd=ROOT)
                    self.assertEqual(out.returncode, 0, "%s: lua test block failed:\n%s" %
                                     (where, out.stderr.decode()))
                    ran += 1
                elif info == "lua crater-test":
                    self.run_crater_test(body, where)
                    ran += 1
                elif info == "c embed":
                    self.run_c_embed(body, where)
                    ran += 1
        finally:
            if srv:
                srv.stop()
            shutil.rmtree(folder, ignore_errors=True)
            if redis:
                redis.stop()
            if pg:
                pg.close()
        self.assertGreater(ran, 0, "%s has no runnable example" % os.path.relpath(md, ROOT))

    return test


def run_console(self, srv, app_file, body, where):
    lines = body.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("$ "):
            i += 1
            continue
        cmd = line[2:]
        expected = []
        i += 1
        while i < len(lines) and not lines[i].startswith("$ "):
            expected.append(lines[i])
            i += 1
        while expected and expected[-1] == "":
            expected.pop()
        argv = shlex.split(cmd)
        if argv[0] == "curl":
            self.assertIsNotNone(srv, "%s: curl before any app block" % where)
            argv = [a.replace("localhost:8080", "127.0.0.1:%d" % srv.port) for a in argv]
        elif argv[0] == "crater":
            argv = [BIN] + [app_file if a == "APP.lua" else a for a in argv[1:]]
        else:
            self.fail("%s: only curl and crater commands are run: %s" % (where, cmd))
        out = subprocess.run(argv, capture_output=True, cwd=ROOT, timeout=30)
        got = (out.stdout + out.stderr).decode().rstrip("\n").split("\n")
        if app_file:
            got = [g.replace(app_file, "APP.lua") for g in got]
        got = [g.rstrip() for g in got]
        while got and got[-1] == "":
            got.pop()
        want = [e.rstrip() for e in expected]
        # "Date: *" stands for any value of that header.
        got = [re.sub(r"^([A-Za-z-]+): .*$", r"\1: *", g) if re.match(r"^([A-Za-z-]+): \*$", w) else g
               for g, w in zip(got, want + [""] * len(got))]
        # JSON objects have no key order in Lua tables: compare JSON lines (objects,
        # arrays of rows) as values.
        got = [w if same_json(g, w) else g for g, w in zip(got, want + [""] * len(got))]
        self.assertEqual(got, want, "%s: output of `%s`" % (where, cmd))


def run_crater_test(self, body, where):
    fd, path = tempfile.mkstemp(suffix="_spec.lua", prefix="docspec-")
    with os.fdopen(fd, "w") as f:
        f.write(body)
    try:
        out = subprocess.run([BIN, "test", path], capture_output=True, cwd=ROOT, timeout=60)
    finally:
        os.unlink(path)
    self.assertEqual(out.returncode, 0, "%s: crater-test block failed:\n%s%s" %
                     (where, out.stdout.decode(), out.stderr.decode()))
    if re.search(r"^\s*it\(", body, re.M):
        # busted's blocks must really have run: as many successes as `it`s
        its = len(re.findall(r"^\s*it\(", body, re.M))
        self.assertRegex(out.stdout.decode(), r"\b%d success(es)? / 0 failures / 0 errors" % its,
                         "%s: busted did not run the block's tests" % where)


def run_c_embed(self, body, where):
    build = os.path.dirname(BIN)
    lib = os.path.join(build, "dev", "libcrater_dev.a")
    tmp = tempfile.mkdtemp(prefix="docembed-")
    src, exe = os.path.join(tmp, "main.c"), os.path.join(tmp, "main")
    with open(src, "w") as f:
        f.write(body)
    try:
        deps = subprocess.run(["pkg-config", "--cflags", "--libs", "libuv", "luajit", "openssl", "sqlite3",
                               "libpq", "zlib", "libbrotlienc"],
                              capture_output=True, check=True).stdout.decode().split()
        cc = subprocess.run(["cc", "-std=c11", "-D_DEFAULT_SOURCE", "-Wall", "-Wextra", "-Werror",
                             "-I", os.path.join(ROOT, "host", "include"), src, "-o", exe, lib,
                             *deps, "-lm", "-ldl", "-lpthread"], capture_output=True, timeout=120)
        self.assertEqual(cc.returncode, 0, "%s: c embed block does not compile:\n%s" %
                         (where, cc.stderr.decode()))
        out = subprocess.run([exe], capture_output=True, cwd=ROOT, timeout=60)
        self.assertEqual(out.returncode, 0, "%s: c embed block failed (%d):\n%s%s" %
                         (where, out.returncode, out.stdout.decode(), out.stderr.decode()))
    finally:
        for f in (src, exe):
            if os.path.exists(f):
                os.unlink(f)
        os.rmdir(tmp)


def same_json(a, b):
    if not (a[:1] in ("{", "[") and b[:1] == a[:1]):
        return False
    try:
        return json.loads(a) == json.loads(b)
    except ValueError:
        return False


Docs.run_console = run_console
Docs.run_crater_test = run_crater_test
Docs.run_c_embed = run_c_embed
for md in sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
    name = "test_" + re.sub(r"\W", "_", os.path.basename(md)[:-3])
    setattr(Docs, name, make_test(md))

if __name__ == "__main__":
    run()
