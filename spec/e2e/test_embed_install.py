"""Embedding, from the outside: install libcrater to a temporary prefix,
build examples/embed against the *installed* library twice (pkg-config and
find_package(crater)), run each, talk to it with curl, and stop it with
SIGINT. Proves the installed header, libraries, crater.pc,
crater-config.cmake and Lua files work together without the source tree."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import ASAN, BIN, ROOT, run

BUILD = os.path.dirname(BIN)
EXAMPLE = os.path.join(ROOT, "examples", "embed")


def sh(argv, **kw):
    out = subprocess.run(argv, capture_output=True, timeout=120, **kw)
    if out.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (" ".join(argv), out.returncode,
                                                       out.stdout.decode(), out.stderr.decode()))
    return out.stdout.decode()


@unittest.skipIf(ASAN, "builds against the installed (non-ASan) library; once is enough")
class EmbedInstall(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="crater-install-")
        cls.prefix = os.path.join(cls.tmp, "prefix")
        sh(["cmake", "--install", BUILD, "--prefix", cls.prefix])
        cls.env = {**os.environ, "PKG_CONFIG_PATH": os.path.join(cls.prefix, "lib", "pkgconfig")}
        cls.env.pop("CRATER_LUA_PATH", None)
        # A copy of the app outside the source tree, so nothing can find lua/ beside it.
        cls.app = os.path.join(cls.tmp, "app.lua")
        shutil.copy(os.path.join(EXAMPLE, "app.lua"), cls.app)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_installed_files(self):
        for rel in ("include/crater.h", "lib/libcrater.a", "lib/libcrater.so",
                    "lib/libcrater.so.0", "lib/pkgconfig/crater.pc",
                    "lib/cmake/crater/crater-config.cmake", "share/crater/lua/crater/init.lua",
                    "share/crater/lua/crater/test.lua", "bin/crater"):
            self.assertTrue(os.path.exists(os.path.join(self.prefix, rel)), rel)
        soname = sh(["readelf", "-d", os.path.join(self.prefix, "lib", "libcrater.so")])
        self.assertIn("Library soname: [libcrater.so.0]", soname)
        flags = sh(["pkg-config", "--cflags", "--libs", "crater"], env=self.env)
        self.assertIn("-lcrater", flags)
        self.assertIn("-I", flags)

    def test_installed_library_does_not_use_the_source_tree(self):
        strings = sh(["strings", os.path.join(self.prefix, "lib", "libcrater.so")])
        self.assertNotIn(os.path.join(ROOT, "lua"), strings)

    def test_pkg_config_build(self):
        src = os.path.join(self.tmp, "pc-build")
        os.mkdir(src)
        for f in ("main.c", "Makefile"):
            shutil.copy(os.path.join(EXAMPLE, f), src)
        sh(["make", "-s", "-C", src, "embed"], env=self.env)
        self.serve_and_stop(os.path.join(src, "embed"))

    def test_find_package_build(self):
        bdir = os.path.join(self.tmp, "cmake-build")
        sh(["cmake", "-S", EXAMPLE, "-B", bdir, "-DCMAKE_PREFIX_PATH=" + self.prefix], env=self.env)
        sh(["cmake", "--build", bdir], env=self.env)
        self.serve_and_stop(os.path.join(bdir, "embed"))

    def serve_and_stop(self, exe):
        log = tempfile.NamedTemporaryFile(prefix="embed-", suffix=".log", delete=False)
        proc = subprocess.Popen([exe, self.app, "0"], stdout=log, stderr=subprocess.STDOUT,
                                cwd=self.tmp, env=self.env)
        try:
            port = self.wait_port(proc, log.name)
            url = "http://127.0.0.1:%d" % port
            got = json.loads(self.curl(url + "/counter"))
            self.assertGreaterEqual(got["value"], got["ticks"])
            got = json.loads(self.curl("-X", "POST", "-H", "Content-Type: application/json",
                                       "-d", '{"add": 1000}', url + "/counter"))
            self.assertGreaterEqual(got["value"], 1000)
            got = json.loads(self.curl(url + "/counter/ffi"))
            self.assertGreaterEqual(got["value"], 1000)
            out = self.curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                            "-d", '{"add": "x"}', url + "/counter")
            self.assertEqual(out, "422")
            proc.send_signal(signal.SIGINT)
            self.assertEqual(proc.wait(timeout=20), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            with open(log.name) as f:
                text = f.read()
            os.unlink(log.name)
        self.assertIn("SIGINT, closing the server", text)
        self.assertIn("closed cleanly after 4 requests (loop close: 0)", text)

    def wait_port(self, proc, log_name):
        deadline = time.time() + 20
        while time.time() < deadline:
            with open(log_name) as f:
                m = re.search(r"on http://127\.0\.0\.1:(\d+)", f.read())
            if m:
                return int(m.group(1))
            if proc.poll() is not None:
                with open(log_name) as f:
                    raise AssertionError("embed exited at startup:\n" + f.read())
            time.sleep(0.02)
        raise AssertionError("embed did not start")

    def curl(self, *args):
        out = subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True)
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        return out.stdout.decode()


if __name__ == "__main__":
    run()
