"""Hot reload under load (bounded, loopback only): for about 10 seconds,
clients send requests without pause -- over keep-alive connections and over
a new connection each -- while the app is rewritten 50 times (alternately in
place and by rename-over). Every response must be a 200 with a valid JSON
body, no socket error may occur, and a keep-alive connection must never see
an older version after a newer one. Prints the counts."""
import http.client
import json
import os
import shutil
import tempfile
import threading
import time
import unittest

from harness import Server, read_response, run

EDITS = 50
EDIT_EVERY = 0.2     # seconds between rewrites: 50 edits take ~10 s
KEEPALIVE_CLIENTS = 2
NEW_CONN_CLIENTS = 2

APP = """local crater = require "crater"
local helper = require "lib.helper"
local app = crater.app()
app:get("/", function() return { version = %d, items = helper.items(%d) } end)
app:get("/v%d", function() return "route %d" end)
return app
"""

HELPER = """local M = {}
function M.items(n)
  local t = {}
  for i = 1, 5 do t[i] = n * 10 + i end
  return t
end
return M
"""


def check_body(data):
    doc = json.loads(data)
    v = doc["version"]
    assert doc["items"] == [v * 10 + i for i in range(1, 6)], doc
    return v


class ReloadUnderLoad(unittest.TestCase):
    def test_rewrites_under_load_drop_nothing(self):
        d = tempfile.mkdtemp(prefix="crater-reload-load-")
        os.makedirs(os.path.join(d, "lib"))
        app = os.path.join(d, "app.lua")
        with open(os.path.join(d, "lib", "helper.lua"), "w") as f:
            f.write(HELPER)
        with open(app, "w") as f:
            f.write(APP % (0, 0, 0, 0))
        srv = Server(app, "--reload", "--log-level", "info")
        stop = threading.Event()
        lock = threading.Lock()
        counts = {"keepalive": 0, "new_conn": 0}
        errors = []

        def keepalive_client():
            n, last = 0, -1
            try:
                s = srv.connect()
                f = s.makefile("rb")
                while not stop.is_set():
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    st, h, body = read_response(f)
                    if st != 200:
                        raise AssertionError("status %d: %r" % (st, body))
                    v = check_body(body)
                    if v < last:
                        raise AssertionError("version went back from %d to %d" % (last, v))
                    last = v
                    n += 1
                s.close()
            except Exception as e:  # noqa: BLE001 - every failure counts
                errors.append("keep-alive: %r" % e)
            with lock:
                counts["keepalive"] += n

        def new_conn_client():
            n = 0
            try:
                while not stop.is_set():
                    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
                    c.request("GET", "/", headers={"Connection": "close"})
                    r = c.getresponse()
                    body = r.read()
                    c.close()
                    if r.status != 200:
                        raise AssertionError("status %d: %r" % (r.status, body))
                    check_body(body)
                    n += 1
            except Exception as e:  # noqa: BLE001
                errors.append("new connection: %r" % e)
            with lock:
                counts["new_conn"] += n

        threads = [threading.Thread(target=keepalive_client) for _ in range(KEEPALIVE_CLIENTS)]
        threads += [threading.Thread(target=new_conn_client) for _ in range(NEW_CONN_CLIENTS)]
        t0 = time.time()
        try:
            for t in threads:
                t.start()
            for i in range(1, EDITS + 1):
                time.sleep(EDIT_EVERY)
                src = APP % (i, i, i, i)
                if i % 2:
                    with open(app, "w") as f:  # in place
                        f.write(src)
                else:
                    with open(app + ".tmp~", "w") as f:  # rename-over
                        f.write(src)
                    os.replace(app + ".tmp~", app)
            # The last edit must win: wait for it, then stop the clients.
            deadline = time.time() + 20
            while time.time() < deadline and srv.get("/v%d" % EDITS)[0] != 200:
                time.sleep(0.02)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        elapsed = time.time() - t0
        log = srv.log()
        code = srv.stop()
        shutil.rmtree(d, ignore_errors=True)
        reloads = log.count("] reloaded ")
        total = counts["keepalive"] + counts["new_conn"]
        print("\nreload under load: %.1f s, %d edits, %d reloads, %d requests "
              "(%d keep-alive, %d new connections), %d errors"
              % (elapsed, EDITS, reloads, total, counts["keepalive"], counts["new_conn"], len(errors)))
        self.assertEqual(errors, [])
        self.assertEqual(code, 0, log)
        self.assertNotIn("reload failed", log)
        self.assertGreaterEqual(reloads, EDITS // 2, log)  # bursts may merge; most edits are apart
        self.assertIn("generation", log)
        self.assertGreater(counts["keepalive"], 0)
        self.assertGreater(counts["new_conn"], 0)
        os.unlink(srv.log_file.name)


if __name__ == "__main__":
    run()
