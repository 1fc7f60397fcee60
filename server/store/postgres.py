"""The PostgreSQL store: the same SQL as SQLite's through psycopg 3, so several hubs can share it.

``PgConnection`` makes a psycopg connection look like the ``sqlite3`` one the store's code is
written for: ``?`` placeholders become ``%s``, and ``in_transaction`` reads the server's view.
Connections run in autocommit mode; the writer opens its own transactions (``BEGIN``) and a
batch that loses a deadlock or a serialization check to another hub is run again.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import errors
from psycopg.pq import TransactionStatus

from loneguard.server.config import ConfigError
from loneguard.server.store.migrations import migrate
from loneguard.server.store.pg_migrations import POSTGRES
from loneguard.server.store.sqlite import SqlStore
from loneguard.server.store.writer import Writer

CONNECT_TIMEOUT_S = 10

# Errors that mean "another transaction got in the way; try again", not "this is wrong".
_TRANSIENT = (errors.DeadlockDetected, errors.SerializationFailure, errors.LockNotAvailable)


@lru_cache(maxsize=1024)
def _placeholders(sql: str) -> str:
    """``?`` to ``%s``; a literal ``%`` is doubled so psycopg leaves it alone."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgConnection:
    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    def execute(self, sql: str, parameters: Any = (), /) -> psycopg.Cursor[Any]:
        return self.raw.execute(_placeholders(sql), tuple(parameters))

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
        self.writer = Writer(self._connect, begin="BEGIN", retryable=is_transient)
