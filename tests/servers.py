"""Real servers for tests, started on 127.0.0.1 and stopped by the tests themselves, bounded in time.

* ``s3_server``: moto's S3-compatible HTTP server (PyPI ``moto[s3]`` + flask), one process.
* ``postgres_server``: a throw-away PostgreSQL cluster (``initdb`` + ``postgres`` from the
  Debian package; ``.ci/run`` and ``make postgres-tools`` install it when it is missing).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 60.0


# moto's server, made as faithful as S3 where our writes depend on it:
# - requests are handled one at a time. moto checks `If-None-Match: *` and then stores the
#   object in two steps, so two threads could both pass the check and the second PUT of a
#   `_delta_log` commit silently replaced the first (seen once: a race round whose loser had
#   "committed" but whose commit was gone). S3's conditional writes are atomic.
# - SIGTERM is restored: an ignored SIGTERM is inherited (see tests/conftest.py).
_MOTO_LAUNCH = """
import signal, sys, threading
signal.signal(signal.SIGTERM, signal.SIG_DFL)
from moto.moto_server import werkzeug_app
_lock, _call = threading.Lock(), werkzeug_app.DomainDispatcherApplication.__call__
def _one_at_a_time(self, environ, start_response):
    with _lock:
        return _call(self, environ, start_response)
werkzeug_app.DomainDispatcherApplication.__call__ = _one_at_a_time
from moto.server import main
main(sys.argv[1:])
"""

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_until(proc: subprocess.Popen, probe: Callable[[], object], what: str, log: str) -> None:
    """Poll ``probe`` until it stops raising; fail fast if the server exits, and after START_TIMEOUT_S."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; log: {log}")
        try:
            probe()
            return
        except Exception:  # noqa: BLE001 - any refusal means "not up yet" until the deadline
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not answer in {START_TIMEOUT_S}s; log: {log}") from None
            time.sleep(0.2)


@dataclass
class S3Server:
    endpoint: str
    proc: subprocess.Popen

    def options(self, **overrides: str) -> dict[str, str]:
        """deltalake storage options for this server (conditional put: safe concurrent commits)."""
        opts = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "aws_conditional_put": "etag",
        }
        opts.update(overrides)
        return opts

    def new_bucket(self, prefix: str = "lake") -> str:
        """A fresh bucket, so tests sharing one server never see each other's objects."""
        import boto3

        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        client = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                              aws_secret_access_key="testing", region_name="us-east-1")
        client.create_bucket(Bucket=name)
        return name


@contextlib.contextmanager
def s3_server(log_dir: Path, port: int | None = None, env: dict[str, str] | None = None) -> Iterator[S3Server]:
    """moto's server on 127.0.0.1:``port``; ``env`` adds variables (e.g. moto's auth switch)."""
    port = port or free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(log_dir / f"moto-{port}.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([sys.executable, "-c", _MOTO_LAUNCH, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        _wait_until(proc, lambda: urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).read(),
                    f"moto S3 server on {endpoint}", log.name)
        yield S3Server(endpoint, proc)
    finally:
        _stop(proc)
        log.close()


def postgres_bin() -> Path | None:
    """The folder holding initdb/pg_ctl/postgres, or None when PostgreSQL is not installed."""
    if shutil.which("initdb") and shutil.which("postgres"):
        return Path(shutil.which("initdb")).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    database: str

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{self.database}"

    def connect(self, database: str | None = None):
        import psycopg2

        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=database or self.database)
        conn.autocommit = True
        return conn

    def new_database(self) -> str:
        """A fresh database URL, so tests sharing one server never see each other's runs."""
        name = f"dagster_{uuid.uuid4().hex[:10]}"
        conn = self.connect("postgres")
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        conn.close()
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{name}"


def _as_postgres_user() -> dict:
    """initdb refuses to run as root: drop to the 'nobody' account (or 'postgres') when root."""
    if os.geteuid() != 0:
        return {}
    import pwd

    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return {"user": entry.pw_uid, "group": entry.pw_gid}
    raise RuntimeError("running as root and no 'postgres' or 'nobody' account to run PostgreSQL as")


@contextlib.contextmanager
def postgres_server(data_dir: Path) -> Iterator[PostgresServer]:
    """initdb a cluster in ``data_dir``, start it on 127.0.0.1:<free port>, stop and keep nothing."""
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed: run `make postgres-tools` (apt-get install postgresql)")
    creds = _as_postgres_user()
    if creds:  # pytest's tmp dirs are root-only (0700): the server's own user gets a folder of its own
        data_dir = Path(tempfile.mkdtemp(prefix="evidence-lake-pg-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    sock_dir = data_dir / "sock"
    sock_dir.mkdir(exist_ok=True)
    if creds:
        for path in (data_dir, sock_dir):
            os.chown(path, creds["user"], creds["group"])
    pgdata = data_dir / "pgdata"
    user = "evidence"
    subprocess.run([str(bindir / "initdb"), "-D", str(pgdata), "-U", user, "--auth=trust", "-E", "UTF8",
                    "--locale=C"], check=True, capture_output=True, timeout=120, **creds)
    port = free_port()
    log = open(data_dir / "postgres.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([str(bindir / "postgres"), "-D", str(pgdata), "-h", "127.0.0.1", "-p", str(port),
                             "-k", str(sock_dir), "-c", "fsync=off", "-c", "max_connections=200"],
                            stdout=log, stderr=subprocess.STDOUT, **creds)
    try:
        import psycopg2

        _wait_until(proc, lambda: psycopg2.connect(host="127.0.0.1", port=port, user=user, dbname="postgres").close(),
                    f"postgres on 127.0.0.1:{port}", log.name)
        conn = psycopg2.connect(host="127.0.0.1", port=port, user=user, dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE dagster")
        conn.close()
        yield PostgresServer("127.0.0.1", port, user, "dagster")
    finally:
        _stop(proc)
        log.close()
        if creds:
            shutil.rmtree(data_dir, ignore_errors=True)
