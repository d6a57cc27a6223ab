"""A throwaway redis-server for the specs (test_redis.py, and test_docs.py
for docs/redis.md): no persistence, its files in a temporary folder, on a
unix socket and optionally a free TCP port, stopped at the end."""
import atexit
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse

from harness import free_port

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")
MISSING = None if REDIS_SERVER and REDIS_CLI else \
    "redis-server and redis-cli are not installed (.ci/setup.sh installs Debian's redis-server)"


class RedisServer:
    def __init__(self, tcp=True, password=None, tls=None):
        """tls: (cert, key) to serve TLS on the TCP port (self.port)."""
        self.dir = tempfile.mkdtemp(prefix="crater-redis-")
        self.sock = os.path.join(self.dir, "redis.sock")
        self.port = free_port() if tcp else 0
        self.password = password
        self.tls = tls
        self.proc = None
        atexit.register(self.stop)  # as PgServer: a failed setUp must not leave it running
        self.start()

    def start(self):
        port = ["--port", str(self.port)]
        if self.tls:
            port = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", self.tls[0],
                    "--tls-key-file", self.tls[1], "--tls-auth-clients", "no"]
        args = [REDIS_SERVER, *port, "--bind", "127.0.0.1",
                "--unixsocket", self.sock, "--unixsocketperm", "700",
                "--save", "", "--appendonly", "no", "--dir", self.dir,
                "--logfile", os.path.join(self.dir, "redis.log")]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("redis-server exited at startup:\n" + self.log())
            try:
                if self.cli("PING") == "PONG":
                    return
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.02)
        raise AssertionError("redis-server did not start:\n" + self.log())

    def log(self):
        try:
            with open(os.path.join(self.dir, "redis.log")) as f:
                return f.read()
        except OSError:
            return ""

    def url(self, db=None, auth=True):
        cred = ":%s@" % urllib.parse.quote(self.password, safe="") if self.password and auth else ""
        return "redis://%s127.0.0.1:%d%s" % (cred, self.port, "/%d" % db if db is not None else "")

    def unix_url(self, db=None):
        return "redis+unix://%s%s" % (self.sock, "?db=%d" % db if db is not None else "")

    def cli(self, *args, db=0):
        """Runs redis-cli on the unix socket; returns its output, stripped."""
        argv = [REDIS_CLI, "-s", self.sock, "-n", str(db)]
        env = dict(os.environ)
        if self.password:
            env["REDISCLI_AUTH"] = self.password
        out = subprocess.run(argv + [str(a) for a in args], capture_output=True, timeout=10, env=env,
                             check=True)
        return out.stdout.decode().strip()

    def kill(self):
        """Stops the server at once (SIGKILL), as a crash would."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
