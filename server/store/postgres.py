"""The PostgreSQL store: the same SQL as SQLite's through psycopg 3, so several hubs can share it.

``PgConnection`` makes a psycopg connection look like the ``sqlite3`` one the store's code is
written for: ``?`` placeholders become ``%s``, and ``in_transaction`` reads the server's view.
Connections run in autocommit mode; the writer opens its own transactions (``BEGIN``) and a
batch that loses a deadlock or a serialization check to another hub is run again.

The writer runs each batch in psycopg's pipeline mode: statements go out without waiting for
their answers, and the connection waits only where the code reads a result (a row, a rowcount),
so a batch of check-ins costs a couple of round trips an event instead of one a statement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import errors
from psycopg.pq import TransactionStatus

from loneguard.server.config import ConfigError
from loneguard.server.store.migrations import migrate
from loneguard.server.store.pg_migrations import POSTGRES
from loneguard.server.store.sql import Connection, Cursor
from loneguard.server.store.sqlite import SqlStore
from loneguard.server.store.writer import Writer

CONNECT_TIMEOUT_S = 10

# Errors that mean "another transaction got in the way; try again", not "this is wrong".
_TRANSIENT = (errors.DeadlockDetected, errors.SerializationFailure, errors.LockNotAvailable)


@lru_cache(maxsize=1024)
def _placeholders(sql: str) -> str:
    """``?`` to ``%s``; a literal ``%`` is doubled so psycopg leaves it alone."""
    return sql.replace("%", "%%").replace("?", "%s")


class _PipelinedCursor:
    """A cursor in pipeline mode, whose answer may not have come yet: reading the rowcount
    waits for it (psycopg would say -1), as fetching a row does by itself."""

    __slots__ = ("_cursor", "_pipeline")

    def __init__(self, cursor: psycopg.Cursor[Any], pipeline: psycopg.Pipeline) -> None:
        self._cursor = cursor
        self._pipeline = pipeline

    @property
    def rowcount(self) -> int:
        if self._cursor.rowcount < 0:
            self._pipeline.sync()
        return self._cursor.rowcount

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()


class PgConnection:
    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn
        self._pipeline: psycopg.Pipeline | None = None

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        cursor = self.raw.execute(_placeholders(sql), tuple(parameters))
        if self._pipeline is None:
            return cursor
        return _PipelinedCursor(cursor, self._pipeline)

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        """Send statements without waiting for each answer until the block ends."""
        with self.raw.pipeline() as pipeline:
            self._pipeline = pipeline
            try:
                yield
            finally:
                self._pipeline = None

    @property
    def broken(self) -> bool:
        return self.raw.broken or self.raw.closed

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        self.raw.close()


def connect(url: str) -> PgConnection:
    return PgConnection(psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S))


def where(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, _TRANSIENT)


def pipelined(conn: Connection) -> AbstractContextManager[None]:
    """The writer's batches in pipeline mode (the writer's connection is always ours)."""
    assert isinstance(conn, PgConnection)
    return conn.pipeline()


class PostgresStore(SqlStore):
    def __init__(self, url: str, *, now_ms: Callable[[], int]) -> None:
        super().__init__(lambda: connect(url), now_ms=now_ms)
        try:
            conn = connect(url)
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"db.url: cannot connect to {where(url)}: {reason}") from None
        try:
            migrate(conn, now_ms(), POSTGRES)
        finally:
            conn.close()
        self.writer = Writer(
            self._connect, begin="BEGIN", retryable=is_transient, pipeline=pipelined
        )
