"""A real PostgreSQL server for tests (and benches): ``initdb`` + ``pg_ctl start`` from the
Debian package's ``/usr/lib/postgresql/*/bin`` into a temporary folder, listening on
127.0.0.1 and a free port (and a unix socket in that folder); stopped and removed at the end.

``initdb`` refuses to run as root: when the euid is 0 the PostgreSQL commands run as the
``postgres`` system user, in a folder that user owns.

    with PostgresServer.start() as server:
        url = server.create_database("kiln_test")   # postgresql://kiln:…@127.0.0.1:PORT/kiln_test

Missing binaries are an error, never a skip: ``scripts/test.sh`` (what ``.ci/run`` runs)
installs the Debian ``postgresql`` package when they are missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from tests.lanes import require_slow_lane, server_fixture

SUPERUSER = "postgres"
ROLE = "kiln"
TEMPLATE = "kiln_template"  # migrated once per cluster, copied by create_migrated_database
MLFLOW_SUFFIX = "_mlflow"  # MLflow's sibling database, as kiln names it
PASSWORD = "kiln-test-secret"
MISSING = (
    "PostgreSQL's server binaries are missing (no /usr/lib/postgresql/*/bin/initdb). The PostgreSQL tests "
    "need them: .ci/run (through scripts/test.sh) installs the Debian 'postgresql' package; by hand: "
    "apt-get install -y postgresql"
)


def postgres_bin_dir() -> Path:
    """The newest installed PostgreSQL's bin folder; a RuntimeError that says what to install if none."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: _version(Path(p).parent.parent.name))
    if not found:
        raise RuntimeError(MISSING)
    return Path(found[-1]).parent


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One throw-away cluster. ``role``/``password`` may create databases; ``postgres`` is the superuser."""

    def __init__(self, root: Path, bin_dir: Path, port: int) -> None:
        self.root = root
        self.bin_dir = bin_dir
        self.port = port
        self.host = "127.0.0.1"
        self.role = ROLE
        self.password = PASSWORD
        self.data = root / "data"
        self.socket_dir = root / "socket"
        self.log = root / "postgres.log"
        self._as_postgres = os.geteuid() == 0
        self._running = False
        self._templates_lock = threading.Lock()
        self._templates_ready = False

    # Life ---------------------------------------------------------------------------------
    @classmethod
    def start(cls, max_connections: int = 300) -> PostgresServer:
        require_slow_lane("a PostgreSQL cluster")
        bin_dir = postgres_bin_dir()
        root = Path(tempfile.mkdtemp(prefix="kiln-postgres-"))
        server = cls(root, bin_dir, _free_port())
        try:
            server._init_and_start(max_connections)
        except BaseException:
            server.stop()
            raise
        return server

    def _init_and_start(self, max_connections: int) -> None:
        self.socket_dir.mkdir()
        if self._as_postgres:  # initdb will not run as root: the postgres user owns the folder
            user = pwd.getpwnam(SUPERUSER)
            for path in (self.root, self.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        password_file = self.root / "superuser-password"
        password_file.write_text(self.password + "\n")
        if self._as_postgres:
            os.chown(password_file, pwd.getpwnam(SUPERUSER).pw_uid, -1)
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--pwfile", str(password_file),
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        options = (
            f"-c listen_addresses={self.host} -p {self.port} -k {self.socket_dir} "
            f"-c max_connections={max_connections} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c shared_buffers=64MB"
        )
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options)
        self._running = True
        self.execute(
            f"CREATE ROLE {self.role} LOGIN CREATEDB PASSWORD '{self.password}'",
            f"CREATE DATABASE {self.role} OWNER {self.role}",
        )

    def stop(self) -> None:
        if self._running:
            try:
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30")
            except RuntimeError:
                pass
            self._running = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self, program: str, *args: str) -> None:
        extra: dict[str, Any] = {}
        if self._as_postgres:  # the same as `runuser -u postgres --`
            extra = {"user": SUPERUSER, "group": SUPERUSER, "extra_groups": []}
        env = {"PATH": f"{self.bin_dir}:/usr/bin:/bin", "HOME": str(self.root), "LC_ALL": "C.UTF-8"}
        result = subprocess.run(
            [str(self.bin_dir / program), *args], capture_output=True, text=True, env=env, cwd=self.root,
            timeout=120, **extra,
        )  # fmt: skip
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n{log}")

    # Use ----------------------------------------------------------------------------------
    def url(self, database: str | None = None, role: str | None = None, password: str | None = None) -> str:
        """A ``postgresql://`` URL over TCP on loopback."""
        return (
            f"postgresql://{role or self.role}:{password if password is not None else self.password}"
            f"@{self.host}:{self.port}/{database or self.role}"
        )

    def connect(self, database: str = "postgres", autocommit: bool = True) -> Any:
        """A psycopg connection as the superuser, through the unix socket."""
        import psycopg

        return psycopg.connect(
            host=str(self.socket_dir), port=self.port, user=SUPERUSER, dbname=database, autocommit=autocommit
        )

    def execute(self, *statements: str, database: str = "postgres") -> None:
        with self.connect(database) as connection:
            for statement in statements:
                connection.execute(statement)  # type: ignore[union-attr]

    def query(self, statement: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        with self.connect(database) as connection:
            return list(connection.execute(statement).fetchall())  # type: ignore[union-attr]

    def create_database(self, name: str, owner: str | None = None) -> str:
        """A fresh database owned by ``owner`` (default the test role); its URL."""
        self.execute(f'CREATE DATABASE "{name}" OWNER "{owner or self.role}"')
        return self.url(name, role=owner)

    def create_migrated_database(self, name: str) -> str:
        """A database with kiln's tables and its MLflow sibling ``<name>_mlflow`` with MLflow's, as a server's
        first start leaves them before it writes a row; its URL. Both are copies (``CREATE DATABASE … TEMPLATE``)
        of databases migrated once per cluster, so a server here migrates nothing. A test of the migrations
        themselves (several servers migrating one database at once) takes ``create_database`` instead."""
        self._ensure_templates()
        for suffix in ("", MLFLOW_SUFFIX):
            self.execute(f'CREATE DATABASE "{name}{suffix}" TEMPLATE "{TEMPLATE}{suffix}" OWNER "{self.role}"')
        return self.url(name)

    def _ensure_templates(self) -> None:
        """The template databases, made by the functions a server's start runs (``open_stores``)."""
        from kiln.config import Settings
        from kiln.store.database import create_database_engine, migrate
        from kiln.tracking.mlflow_store import prepare_mlflow_store

        with self._templates_lock:
            if self._templates_ready:
                return
            url = self.create_database(TEMPLATE)
            engine = create_database_engine(url)
            try:
                migrate(engine)
                prepare_mlflow_store(Settings(home=self.root, database_url=url), engine)  # makes TEMPLATE_mlflow
            finally:
                engine.dispose()  # a template must have no connections when it is copied
            self._templates_ready = True

    def create_role(self, name: str, password: str, createdb: bool = False) -> None:
        self.execute(f"CREATE ROLE \"{name}\" LOGIN {'CREATEDB' if createdb else 'NOCREATEDB'} PASSWORD '{password}'")

    def databases(self) -> set[str]:
        return {row[0] for row in self.query("SELECT datname FROM pg_database")}

    def tables(self, database: str) -> set[str]:
        rows = self.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", database=database)
        return {row[0] for row in rows}


@server_fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the session; each test makes its own databases in it."""
    try:
        postgres_bin_dir()
    except RuntimeError as exc:  # a failure, never a skip: CI must install the package
        pytest.fail(str(exc), pytrace=False)
    started = time.monotonic()
    server = PostgresServer.start()
    print(f"PostgreSQL on 127.0.0.1:{server.port} started in {time.monotonic() - started:.1f}s")
    yield server
    server.stop()
