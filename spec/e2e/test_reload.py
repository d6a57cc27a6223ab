"""Hot reload: `crater --reload` picks up edits to the app and the modules it
requires (saved in place or by rename-over, in new subdirectories too),
keeps serving the old generation when an edit is broken (and says so with
file:line; with --dev, as a stale 500), SIGHUP reloads with or without
--reload, and in --workers mode the parent relays SIGHUP to every worker.
Requests in flight finish on the old generation; keep-alive connections
carry on across the swap."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

from harness import BIN, Server, read_response, run, wait_for


def app_src(body="v1", extra="", top=""):
    return """local crater = require "crater"
%s
local app = crater.app()
app:get("/", function() return %s end)
%s
return app
""" % (top, body if body[0] in "(\"" else '"%s"' % body, extra)


class AppDir:
    """A temporary app directory whose files the tests rewrite."""

    def __init__(self, files):
        self.dir = tempfile.mkdtemp(prefix="crater-reload-")
        for rel, text in files.items():
            self.write(rel, text)

    def path(self, rel="app.lua"):
        return os.path.join(self.dir, rel)

    def write(self, rel, text, how="rename"):
        """how="rename": write a new file and rename it over (inode changes);
        how="inplace": truncate and write the same inode."""
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if how == "inplace":
            with open(p, "w") as f:
                f.write(text)
        else:
            tmp = p + ".tmp~"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, p)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Base(unittest.TestCase):
    """Each test gets its own app directory and server."""

    args = ("--reload",)

    def start(self, files, *extra):
        self.appdir = AppDir(files)
        self.srv = Server(self.appdir.path(), *self.args, *extra)
        return self.srv

    def tearDown(self):
        srv = getattr(self, "srv", None)
        if srv is not None:
            self.assertEqual(srv.stop(), 0, srv.log())
            os.unlink(srv.log_file.name)
        self.appdir.cleanup()

    def body(self, path="/"):
        return self.srv.get(path)[2]

    def wait_body(self, expected, path="/"):
        got = wait_for(lambda: self.body(path) == expected)
        self.assertTrue(got, "never served %r; log:\n%s" % (expected, self.srv.log()))

    def reloads(self):
        return self.srv.log().count("] reloaded ")

    def failures(self):
        return self.srv.log().count("reload failed")


class Reload(Base):
    # --- edits that load ------------------------------------------------

    def test_changed_body_is_served(self):
        self.start({"app.lua": app_src("v1")})
        self.assertEqual(self.body(), b"v1")
        self.appdir.write("app.lua", app_src("v2"))
        self.wait_body(b"v2")
        self.assertRegex(self.srv.log(), r"\[info\] reloaded .*app\.lua: generation 2 in [\d.]+ ms, 1 route\n")

    def test_in_place_and_rename_over_saves(self):
        self.start({"app.lua": app_src("v1")})
        ino = os.stat(self.appdir.path()).st_ino
        self.appdir.write("app.lua", app_src("in place"), how="inplace")
        self.wait_body(b"in place")
        self.assertEqual(os.stat(self.appdir.path()).st_ino, ino)
        self.appdir.write("app.lua", app_src("renamed over"), how="rename")
        self.wait_body(b"renamed over")
        self.assertNotEqual(os.stat(self.appdir.path()).st_ino, ino)
        # The watch survives the inode change: a further in-place save works too.
        self.appdir.write("app.lua", app_src("again"), how="inplace")
        self.wait_body(b"again")

    def test_add_and_remove_route(self):
        self.start({"app.lua": app_src("v1")})
        self.assertEqual(self.srv.get("/new")[0], 404)
        self.appdir.write("app.lua", app_src("v1", 'app:get("/new", function() return "new" end)'))
        self.wait_body(b"new", "/new")
        self.assertIn("2 routes", self.srv.log())
        self.appdir.write("app.lua", app_src("v1"))
        self.assertTrue(wait_for(lambda: self.srv.get("/new")[0] == 404), self.srv.log())
        self.assertEqual(self.body(), b"v1")

    def test_required_module_is_reloaded(self):
        mod = 'return { greeting = "%s" }\n'
        self.start({"app.lua": app_src('(require "greet").greeting'), "greet.lua": mod % "hello"})
        self.assertEqual(self.body(), b"hello")
        self.appdir.write("greet.lua", mod % "bonjour", how="inplace")
        self.wait_body(b"bonjour")

    def test_new_subdirectory_module(self):
        self.start({"app.lua": app_src("v1")})
        # A package in a directory created after the server started: its
        # files must be watched too, not only the app that requires it.
        self.appdir.write("lib/deep/names.lua", 'return { name = "first" }\n', how="inplace")
        self.appdir.write("app.lua", app_src('(require "lib.deep.names").name'))
        self.wait_body(b"first")
        self.appdir.write("lib/deep/names.lua", 'return { name = "second" }\n', how="inplace")
        self.wait_body(b"second")

    def test_module_outside_the_app_directory(self):
        # Shared code in a folder of its own, put on package.path by the app:
        # watched too (its directory only), and so is a folder a later
        # generation starts requiring from.
        shared = tempfile.mkdtemp(prefix="crater-shared-")
        other = tempfile.mkdtemp(prefix="crater-other-")
        try:
            with open(os.path.join(shared, "shared_greet.lua"), "w") as f:
                f.write('return { greeting = "hello" }\n')
            with open(os.path.join(other, "other_greet.lua"), "w") as f:
                f.write('return { greeting = "hi" }\n')
            top = 'package.path = %r .. "/?.lua;" .. %r .. "/?.lua;" .. package.path' % (shared, other)
            top = top.replace("'", '"') + "\nlocal greet = require(MOD)"
            self.start({"app.lua": app_src("(greet.greeting)", top=top.replace("MOD", '"shared_greet"'))})
            self.assertEqual(self.body(), b"hello")
            self.assertIn("also watching %s" % os.path.realpath(shared), self.srv.log())
            self.assertNotIn("also watching /usr", self.srv.log())
            with open(os.path.join(shared, "shared_greet.lua"), "w") as f:
                f.write('return { greeting = "bonjour" }\n')
            self.wait_body(b"bonjour")
            self.appdir.write("app.lua", app_src("(greet.greeting)", top=top.replace("MOD", '"other_greet"')))
            self.wait_body(b"hi")
            with open(os.path.join(other, "other_greet.lua"), "w") as f:
                f.write('return { greeting = "hallo" }\n')
            self.wait_body(b"hallo")
        finally:
            shutil.rmtree(shared, ignore_errors=True)
            shutil.rmtree(other, ignore_errors=True)

    def test_keepalive_connection_carries_on(self):
        self.start({"app.lua": app_src("v1")})
        s = self.srv.connect()
        f = s.makefile("rb")
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(read_response(f)[2], b"v1")
        self.appdir.write("app.lua", app_src("v2"))
        self.wait_body(b"v2")
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        st, h, body = read_response(f)
        self.assertEqual((st, body), (200, b"v2"))
        self.assertNotIn("connection", h)
        s.close()

    def test_in_flight_stream_finishes_on_old_generation(self):
        stream = """app:get("/big", function()
  local piece = string.rep("%s", 65536)
  return crater.stream(function(write) for _ = 1, 128 do write(piece) end end)
end)
app:on_stop(function(info) io.stderr:write("on_stop ", info.generation, " ", info.reason, "\\n") end)"""
        self.start({"app.lua": app_src("v1", stream % "a")})
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # before connect: no autotuning
        s.settimeout(10)
        s.connect(("127.0.0.1", self.srv.port))
        s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        f = s.makefile("rb")
        # The status line: the stream has started. 8 MiB is more than the
        # socket buffers hold, so it stays suspended until we read.
        f.readline()
        self.appdir.write("app.lua", app_src("v2", stream % "b"))
        self.wait_body(b"v2")
        # Generation 1 is still busy with the stream, so it is not closed yet.
        self.assertNotIn("on_stop 1", self.srv.log())
        while f.readline() not in (b"\r\n", b""):
            pass
        chunks = []
        while True:
            size = int(f.readline(), 16)
            if size == 0:
                break
            chunks.append(f.read(size))
            f.readline()
        s.close()
        self.assertEqual(b"".join(chunks), b"a" * (128 * 65536))
        self.assertTrue(wait_for(lambda: "on_stop 1 reload" in self.srv.log()), self.srv.log())

    # --- edits that do not load -----------------------------------------

    def test_broken_edit_keeps_old_and_recovers(self):
        self.start({"app.lua": app_src("v1")})
        n = self.failures()
        self.appdir.write("app.lua", app_src("v2").replace("return app", "local x = = 1\nreturn app"))
        self.assertTrue(wait_for(lambda: self.failures() > n), self.srv.log())
        self.assertRegex(self.srv.log(), r"\[error\] reload failed, generation 1 keeps serving: "
                                         r".*app\.lua:6: unexpected symbol near '='\n")
        st, h, body = self.srv.get("/")
        self.assertEqual((st, body), (200, b"v1"))
        self.assertNotIn("x-crater-stale", h)  # only --dev says so to clients
        self.appdir.write("app.lua", app_src("v3"))
        self.wait_body(b"v3")

    def test_load_error_and_duplicate_route_name_file_line(self):
        self.start({"app.lua": app_src("v1"), "helper.lua": "return 1\n"})
        self.appdir.write("helper.lua", "local t = nil\nreturn t.field\n", how="inplace")
        self.appdir.write("app.lua", app_src("v2", top='require "helper"'))
        self.assertTrue(wait_for(lambda: "helper.lua:2:" in self.srv.log()), self.srv.log())
        self.assertEqual(self.body(), b"v1")
        dup = 'app:get("/", function() return "twice" end)'
        self.appdir.write("app.lua", app_src("v3", dup))
        self.assertTrue(wait_for(lambda: "app.lua:5: route GET / is already defined" in self.srv.log()),
                        self.srv.log())
        self.assertEqual(self.body(), b"v1")
        # An on_reload hook that fails is a failed reload as well.
        self.appdir.write("app.lua", app_src("v4", 'app:on_reload(function() error("no handover") end)'))
        self.assertTrue(wait_for(lambda: "app.lua:5: no handover" in self.srv.log()), self.srv.log())
        self.assertEqual(self.body(), b"v1")

    # --- lifecycle hooks ------------------------------------------------

    def test_hooks_and_state_handover(self):
        hooks = """app.state.hits = app.state.hits or 0
app:get("/hit", function() app.state.hits = app.state.hits + 1; return { hits = app.state.hits } end)
app:on_start(function(i) io.stderr:write("on_start ", i.generation, " ", tostring(i.previous), "\\n") end)
app:on_reload(function(i)
  io.stderr:write("on_reload ", i.generation, " from ", i.previous, "\\n")
  app.state.hits = i.state.hits
end)
app:on_stop(function(i) io.stderr:write("on_stop ", i.generation, " ", i.reason, "\\n") end)"""
        self.start({"app.lua": app_src("v1", hooks)})
        self.assertIn("on_start 1 nil", self.srv.log())
        for _ in range(3):
            self.srv.get("/hit")
        self.appdir.write("app.lua", app_src("v2", hooks))
        self.wait_body(b"v2")
        self.assertEqual(self.srv.get("/hit")[2], b'{"hits":4}')
        log = self.srv.log()
        self.assertLess(log.index("on_reload 2 from 1"), log.index("on_start 2 1"))
        self.assertTrue(wait_for(lambda: "on_stop 1 reload" in self.srv.log()))
        self.assertEqual(self.srv.stop(), 0)
        self.assertIn("on_stop 2 shutdown", self.srv.log())


class StartHook(unittest.TestCase):
    def test_failing_on_start_stops_startup_with_file_line(self):
        d = AppDir({"app.lua": app_src("v1", 'app:on_start(function() error("database unreachable") end)')})
        try:
            out = subprocess.run([BIN, "--port", "0", d.path()], capture_output=True, timeout=30)
            self.assertEqual(out.returncode, 1, out)
            self.assertRegex(out.stderr.decode(), r"app\.lua:5: database unreachable")
        finally:
            d.cleanup()


class DevStale(Base):
    args = ("--reload", "--dev")

    def test_dev_answers_stale_error_until_fixed(self):
        self.start({"app.lua": app_src("v1")})
        self.appdir.write("app.lua", app_src("v2").replace("return app", "return app)"))
        self.assertTrue(wait_for(lambda: self.failures() > 0), self.srv.log())
        s = self.srv.connect()
        f = s.makefile("rb")
        for _ in range(2):  # the connection stays open after a stale answer
            s.sendall(b"GET /anything HTTP/1.1\r\nHost: x\r\n\r\n")
            st, h, body = read_response(f)
            self.assertEqual(st, 500)
            self.assertEqual(h["x-crater-stale"], "1")
            self.assertEqual(h["content-type"], "application/problem+json")
            self.assertRegex(body.decode(), r'"detail":".*app\.lua:6: .*"')
            self.assertIn('"stale":true', body.decode())
        s.close()
        self.appdir.write("app.lua", app_src("v3"))
        self.wait_body(b"v3")
        self.assertNotIn("x-crater-stale", self.srv.get("/")[1])


class Sighup(unittest.TestCase):
    def test_sighup_reloads_without_watching(self):
        d = AppDir({"app.lua": app_src("v1")})
        srv = Server(d.path())
        try:
            self.assertNotIn("watching", srv.log())
            d.write("app.lua", app_src("v2"))
            self.assertEqual(srv.get("/")[2], b"v1")
            srv.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: srv.get("/")[2] == b"v2"), srv.log())
            self.assertIn("generation 2", srv.log())
            self.assertEqual(srv.stop(), 0)
        finally:
            srv.stop()
            os.unlink(srv.log_file.name)
            d.cleanup()

    def test_sighup_reaches_every_worker(self):
        top = 'local ffi = require "ffi"\nffi.cdef "int getpid(void);"'
        d = AppDir({"app.lua": app_src('"v1 " .. ffi.C.getpid()', top=top)})
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        srv = Server(d.path(), "--workers", "2", port=port, wait=False)
        srv.port = port
        try:
            self.assertTrue(wait_for(lambda: "worker 1 serving" in srv.log() and "worker 2 serving" in srv.log()),
                            srv.log())

            def pids(version):
                seen = set()
                for _ in range(200):  # new connections: SO_REUSEPORT spreads them
                    body = srv.get("/")[2].decode()
                    self.assertTrue(body.startswith(version + " "), body)
                    seen.add(body.split()[1])
                    if len(seen) == 2:
                        break
                return seen

            before = pids("v1")
            self.assertEqual(len(before), 2, srv.log())
            d.write("app.lua", app_src('"v2 " .. ffi.C.getpid()', top=top))
            srv.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: srv.log().count("] reloaded ") == 2), srv.log())
            self.assertEqual(pids("v2"), before)  # both workers, and neither was restarted
            self.assertNotIn("restarting", srv.log())
            self.assertEqual(srv.stop(), 0)
        finally:
            srv.stop()
            os.unlink(srv.log_file.name)
            d.cleanup()

    def test_reload_flag_in_every_worker(self):
        d = AppDir({"app.lua": app_src("v1")})
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        srv = Server(d.path(), "--workers", "2", "--reload", port=port, wait=False)
        srv.port = port
        try:
            self.assertTrue(wait_for(lambda: srv.log().count("watching ") == 2
                                     and "worker 2 serving" in srv.log() and "worker 1 serving" in srv.log()),
                            srv.log())
            d.write("app.lua", app_src("v2"))
            self.assertTrue(wait_for(lambda: srv.log().count("] reloaded ") == 2), srv.log())
            for _ in range(20):
                self.assertEqual(srv.get("/")[2], b"v2")
            self.assertEqual(srv.stop(), 0)
        finally:
            srv.stop()
            os.unlink(srv.log_file.name)
            d.cleanup()


if __name__ == "__main__":
    run()
