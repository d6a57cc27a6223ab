"""A throwaway PostgreSQL 15 for the specs (test_pg.py, and test_docs.py for
docs/postgres.md): a fresh cluster in a temporary folder (owned by the
postgres OS user: postgres refuses to run as root), on 127.0.0.1 at a free
port and a unix socket in that folder, scram-sha-256 for TCP, no fsync;
stopped and deleted at the end. PgServer(ssl=True) serves TLS with a
server certificate for localhost and 127.0.0.1 signed by a throwaway CA
(made with the openssl command; its certificate is .ca); hostssl_only=True
refuses TCP clients without TLS; settings are more `-c` options."""
import atexit
import os
import shutil
import subprocess
import tempfile

from harness import free_port

PGBIN = "/usr/lib/postgresql/15/bin"
USER, PASSWORD, DATABASE = "crater", "crater-secret", "crater_test"


def _missing():
    if not os.path.exists(os.path.join(PGBIN, "initdb")):
        return "PostgreSQL 15 is not installed (.ci/setup.sh installs Debian's postgresql)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "runuser is needed to run postgres as its own user"
    if shutil.which("openssl") is None:
        return "the openssl command is needed for the TLS server's certificates (.ci/setup.sh installs it)"
    return None


MISSING = _missing()


def make_ca(folder, name):
    """A self-signed certificate authority in folder: (certificate path, key path)."""
    crt, key = os.path.join(folder, name + ".crt"), os.path.join(folder, name + ".key")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=" + name,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return crt, key


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _as_postgres(args, **kw):
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, **kw)


class PgServer:
    def __init__(self, ssl=False, hostssl_only=False, settings=None):
        self.ssl, self.settings = ssl, dict(settings or {})
        self.dir = tempfile.mkdtemp(prefix="crater-pg-")
        # Stopped at the interpreter's exit too: a setUpClass or setUpModule
        # that fails after this never reaches its tearDown, and a server left
        # running outlives the test run.
        self.closed = False
        atexit.register(self.close)
        os.chmod(self.dir, 0o700)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.url = "postgres://%s:%s@127.0.0.1:%d/%s" % (USER, PASSWORD, self.port, DATABASE)
        _as_postgres([os.path.join(PGBIN, "initdb"), "-D", self.data, "-U", "postgres", "-E", "UTF8",
                      "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256"])
        if ssl:
            self._make_certificates()
        if hostssl_only:
            hba = os.path.join(self.data, "pg_hba.conf")
            with open(hba) as f:
                lines = f.read().split("\n")
            with open(hba, "w") as f:
                f.write("\n".join("hostssl" + l[4:] if l.startswith("host ") else l for l in lines))
        self.start()
        self.psql("SET password_encryption = 'scram-sha-256'; "
                  "CREATE ROLE %s LOGIN PASSWORD '%s'" % (USER, PASSWORD), db="postgres")
        self.psql("CREATE DATABASE %s OWNER %s" % (DATABASE, USER), db="postgres")

    def _make_certificates(self):
        self.ca, ca_key = make_ca(self.dir, "ca")
        key, csr = os.path.join(self.dir, "server.key"), os.path.join(self.dir, "server.csr")
        self.cert = os.path.join(self.dir, "server.crt")
        ext = os.path.join(self.dir, "server.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key, "-CAcreateserial",
                 "-out", self.cert, "-days", "2", "-extfile", ext)
        os.chmod(key, 0o600)  # postgres refuses a key others can read
        if os.geteuid() == 0:
            shutil.chown(key, "postgres", "postgres")
        self.settings.update(ssl="on", ssl_cert_file=self.cert, ssl_key_file=key)

    def start(self):
        opts = ("-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off -c max_connections=100" % (self.dir, self.port))
        opts += "".join(" -c %s=%s" % kv for kv in self.settings.items())
        _as_postgres([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-l",
                      os.path.join(self.dir, "postgres.log"), "-w", "-t", "30", "-o", opts, "start"])

    def stop(self, mode="fast"):
        try:
            _as_postgres([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop"])
        except subprocess.CalledProcessError:
            pass

    def restart(self):
        self.stop()
        self.start()

    def psql(self, sql, db=None):
        """Runs sql as the superuser over the unix socket; returns the output (unaligned, tuples only)."""
        out = _as_postgres([os.path.join(PGBIN, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                            "-h", self.dir, "-p", str(self.port), "-U", "postgres",
                            "-d", db or DATABASE, "-c", sql])
        return out.stdout.strip()

    def backends(self):
        """The number of client connections of the test user."""
        return int(self.psql("SELECT count(*) FROM pg_stat_activity WHERE usename = '%s'" % USER))

    def log(self):
        try:
            with open(os.path.join(self.dir, "postgres.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def close(self):
        if self.closed:
            return
        self.closed = True
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
