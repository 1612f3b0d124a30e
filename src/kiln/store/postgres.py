"""What kiln does differently on PostgreSQL: the psycopg 3 driver, advisory locks (migrations
run once when several servers start together; one server runs the endpoint controller), and
MLflow's sibling database."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from kiln.errors import InvalidSpec, MissingExtra, Unavailable
from kiln.extras import missing_extra

log = logging.getLogger(__name__)

DRIVER = "postgresql+psycopg"
MLFLOW_DATABASE_SUFFIX = "_mlflow"
KNOWN_SCHEMES = ("sqlite", "postgresql", "postgres")
URL_HELP = "use sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a kiln-wide name."""
    return int.from_bytes(hashlib.sha256(f"kiln:{name}".encode()).digest()[:8], "big", signed=True)


MIGRATIONS_LOCK = lock_key("migrations")
MLFLOW_MIGRATIONS_LOCK = lock_key("mlflow-migrations")
ENDPOINT_CONTROLLER_LOCK = lock_key("endpoint-controller")


def normalize_url(url: str, setting: str = "database_url") -> str:
    """``postgres://`` and ``postgresql://`` go through psycopg 3; other URLs stay as given.

    A URL SQLAlchemy cannot parse, or one without a scheme, is an InvalidSpec that names the setting.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidSpec(f"{setting}: '{_scrub(url)}' is not a database URL; {URL_HELP}") from None
    if parsed.drivername in ("postgres", "postgresql"):
        driver = DRIVER
    elif parsed.drivername.startswith("postgres+"):
        driver = "postgresql+" + parsed.drivername.split("+", 1)[1]
    else:
        return url  # as given (a SQLite path stays byte for byte)
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def is_postgres(url: str) -> bool:
    try:
        return make_url(url).get_backend_name() in ("postgresql", "postgres")
    except ArgumentError:
        return False


def display_url(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return _scrub(url)


def _scrub(url: str) -> str:
    """Hide what looks like a password in a URL that does not parse (``user:secret@host``)."""
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme, sep, credentials = head.rpartition("//")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{tail}" if ":" in credentials else url


def connection_error(
    url: str, exc: BaseException, setting: str = "database_url"
) -> Unavailable | InvalidSpec | MissingExtra:
    """A user-facing error for a database that cannot be reached or used; never shows the password."""
    shown = display_url(url)
    password = _password(url)
    if isinstance(exc, NoSuchModuleError):
        scheme = url.split("://", 1)[0]
        return InvalidSpec(f"{setting}: kiln cannot use '{scheme}://' databases ({shown}); {URL_HELP}")
    if isinstance(exc, ImportError):
        if is_postgres(url):
            return missing_extra("postgres", "psycopg", needed_by=f"{setting} {shown}", cause=exc)
        return InvalidSpec(f"{setting}: kiln cannot use {shown}: its driver is not installed ({exc}); {URL_HELP}")
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = " ".join(line.strip() for line in detail if line.strip() and not line.startswith("(Background"))
    if password:
        reason = reason.replace(password, "***")
    return Unavailable(f"cannot connect to the database {shown} ({setting}): {reason}")


def _password(url: str) -> str | None:
    try:
        return make_url(url).password
    except ArgumentError:
        return None


def check_connection(engine: Engine, url: str, setting: str = "database_url") -> None:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, ImportError) as exc:
        raise connection_error(url, exc, setting) from None


# Advisory locks ------------------------------------------------------------------------------------
def transaction_lock(connection: Connection, key: int) -> None:
    """Wait for ``key`` until the end of the connection's transaction (no-op off PostgreSQL)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


@contextmanager
def session_lock(engine: Engine, key: int) -> Iterator[None]:
    """Hold ``key`` for the body of the ``with`` (waits for it); no-op off PostgreSQL."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


class Leadership:
    """Runs ``on_elected`` in the one server that holds the advisory lock ``key``; the others
    try again every ``retry`` seconds, so one of them takes over when the holder dies (its
    connection closes and PostgreSQL lets the lock go)."""

    def __init__(
        self,
        engine: Engine,
        key: int,
        name: str,
        on_elected: Callable[[], None],
        on_lost: Callable[[], None] | None = None,
        retry: float = 2.0,
    ) -> None:
        self._engine = engine
        self._key = key
        self._name = name
        self._on_elected = on_elected
        self._on_lost = on_lost  # the lock's connection broke and another server took the lock
        self._retry = retry
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: Connection | None = None
        self.leader = threading.Event()

    def start(self) -> None:
        if self._try():  # most often at once: the first server, or the only one
            return
        log.info("another server runs the %s; this one takes over if it stops", self._name)
        self._thread = threading.Thread(target=self._wait_for_turn, name=f"{self._name}-standby", daemon=True)
        self._thread.start()

    def _try(self) -> bool:
        connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            won = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}).scalar())
        except DBAPIError:
            connection.close()
            raise
        if not won:
            connection.close()
            return False
        self._connection = connection  # the lock lives as long as this connection
        self.leader.set()
        log.info("this server runs the %s", self._name)
        self._on_elected()
        self._thread = threading.Thread(target=self._keep, name=f"{self._name}-lease", daemon=True)
        self._thread.start()
        return True

    def _wait_for_turn(self) -> None:
        while not self._stopping.wait(self._retry):
            try:
                if self._try():
                    return
            except Exception:
                log.exception("could not ask the database who runs the %s", self._name)

    def _keep(self) -> None:
        """While leading: if the lock's connection breaks (the database restarted), take the lock again
        at once; if another server has it by then, stop (``on_lost``) rather than run two of a kind."""
        while not self._stopping.wait(self._retry * 2):
            connection = self._connection
            if connection is None:
                return
            try:
                connection.execute(text("SELECT 1"))
                continue
            except SQLAlchemyError:
                log.warning("lost the database connection that holds the %s lock; taking it again", self._name)
            try:
                connection.close()
            except SQLAlchemyError:
                pass
            while not self._stopping.is_set():
                try:
                    fresh = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                    won = fresh.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}).scalar()
                except SQLAlchemyError:
                    self._stopping.wait(self._retry)  # the database is still away: try again
                    continue
                if won:
                    self._connection = fresh
                    break
                fresh.close()
                self._connection = None
                self.leader.clear()
                log.error("another server took over the %s; this one stops its own (restart it to rejoin)", self._name)
                if self._on_lost is not None:
                    self._on_lost()
                return

    def stop_waiting(self) -> None:
        """A standby server stops trying to take over (first step of a shutdown)."""
        self._stopping.set()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._retry + 30)

    def release(self) -> None:
        """Let the lock go (after the work it guarded has stopped), so another server takes over."""
        self.stop_waiting()
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
                self._connection.close()
            except SQLAlchemyError:
                pass
            self._connection = None
            self.leader.clear()


# MLflow's database ------------------------------------------------------------------------------------
def sibling_database_url(url: str, suffix: str = MLFLOW_DATABASE_SUFFIX) -> str:
    """The same server and role, database ``<name><suffix>``."""
    parsed: URL = make_url(url)
    return parsed.set(database=f"{parsed.database or parsed.username}{suffix}").render_as_string(hide_password=False)


def ensure_database(engine: Engine, url: str, setting_hint: str) -> bool:
    """Create the database ``url`` names on ``engine``'s server if it is missing; True if created.

    Several servers may do this at once: a lost race (the database exists after all) is fine.
    """
    name = make_url(url).database
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).first()
        if exists:
            return False
        quoted = connection.dialect.identifier_preparer.quote(str(name))
        try:
            connection.execute(text(f"CREATE DATABASE {quoted}"))
        except DBAPIError as exc:
            state = getattr(exc.orig, "sqlstate", None)
            if state in ("42P04", "23505"):  # duplicate_database / unique_violation: another server won
                return False
            if state == "42501":  # insufficient_privilege
                role = make_url(url).username
                raise Unavailable(
                    f"MLflow's tracking data lives in its own database, '{name}' on the same PostgreSQL server "
                    f"({display_url(url)}), and the role '{role}' may not create it. Create it (as a superuser: "
                    f'CREATE DATABASE "{name}" OWNER "{role}"), or point {setting_hint} at an existing database.'
                ) from None
            raise connection_error(url, exc, setting_hint) from None
    log.info("created MLflow's database %s", display_url(url))
    return True
