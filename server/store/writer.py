"""The one writer: a thread that owns the write connection and group-commits its queue.

Whatever is queued when the thread wakes runs in one transaction, each item inside its own
SAVEPOINT so a failing item is rolled back alone. Every item's future resolves only after the
COMMIT returns, so a caller that sees a result knows it is on disk. Many callers in flight share
one fsync, which is what makes durable ingest fast.

An urgent item (a panic, a duress) skips the queue: the next transaction takes the urgent items
alone, ahead of any backlog of check-ins, statuses and heartbeats, so a flood never holds up the
commit (and so the ack) of a call for help by more than the one transaction already running.
Items queued under the urgent item's ``key`` (the same device's earlier events: the session start
sent just before the panic) go ahead with it, in their order, so the alarm knows the visit.

On PostgreSQL other hubs write the same tables at once, so a transaction may lose a deadlock or a
serialization check; such a batch is rolled back whole and run again (``retryable`` says which
errors those are), and its callers never see the loss.

Given ``pipeline`` (PostgreSQL's pipeline mode), a batch first runs without savepoints inside it,
so its statements do not each wait for a round trip; if any item fails, the batch is rolled back
and run again the careful way, each item in its own savepoint, so only the failing one fails.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from loneguard.server.store.sql import Connection, is_broken

log = logging.getLogger(__name__)

T = TypeVar("T")
WriteFn = Callable[[Connection], T]
Pipeline = Callable[[Connection], AbstractContextManager[None]]

MAX_RETRIES = 5


class WriterClosed(RuntimeError):
    pass


class _Retry(Exception):
    """A batch lost to a transient conflict with another writer: run it again."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Item:
    __slots__ = ("fn", "future", "key")

    def __init__(self, fn: WriteFn[Any], future: Future[Any], key: str | None = None) -> None:
        self.fn = fn
        self.future = future
        self.key = key


class Writer:
    def __init__(
        self,
        connect: Callable[[], Connection],
        *,
        max_batch: int = 2000,
        name: str = "store-writer",
        begin: str = "BEGIN IMMEDIATE",
        retryable: Callable[[BaseException], bool] = lambda exc: False,
        pipeline: Pipeline | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._connect = connect
        self._max_batch = max_batch
        self._begin = begin
        self._retryable = retryable
        self.retries = 0  # batches run again after a transient conflict
        self._urgent: deque[_Item] = deque()
        self._queue: deque[_Item] = deque()
        self._closed = False
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.batches = 0  # transactions committed, for tests and metrics
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def submit(self, fn: WriteFn[T], *, urgent: bool = False, key: str | None = None) -> Future[T]:
        """Queue ``fn(connection)``; its future resolves after its transaction commits.
        ``urgent`` items run in the next transaction, ahead of everything queued before them
        except the items queued under the same ``key``, which go just before them."""
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise WriterClosed("the store is closed")
            if urgent:
                if key is not None:
                    self._promote(key)
                self._urgent.append(_Item(fn, future, key))
            else:
                self._queue.append(_Item(fn, future, key))
            self._wake.notify()
        return future

    def _promote(self, key: str) -> None:
        """Under the lock: the items queued under ``key`` join the urgent ones, in order."""
        if not any(item.key == key for item in self._queue):
            return
        kept: deque[_Item] = deque()
        for item in self._queue:
            (self._urgent if item.key == key else kept).append(item)
        self._queue = kept

    def close(self, timeout: float = 30.0) -> None:
        """Finish everything already queued, then stop the thread and close the connection."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                batch, stop = self._take_batch()
                if batch:
                    self._commit(conn, batch)
                    if is_broken(conn):
                        conn = self._reconnect(conn)
                if stop:
                    return
        finally:
            conn.close()

    def _reconnect(self, conn: Connection) -> Connection:
        """The server dropped the connection (a restart): the batch failed and its callers heard
        it; open a new one for the next batch, or keep failing fast until one can be opened."""
        try:
            fresh = self._connect()
        except Exception as exc:
            log.error("store connection lost and not yet back: %s", exc)
            return conn
        log.warning("store connection lost; reconnected")
        conn.close()
        return fresh

    def _take_batch(self) -> tuple[list[_Item], bool]:
        """The next transaction's items, and whether the writer is to stop after it (closed, and
        nothing else queued)."""
        with self._wake:
            while not self._urgent and not self._queue and not self._closed:
                self._wake.wait()
            # Urgent items alone: a panic's commit must not wait on a thousand check-ins' SQL.
            source = self._urgent if self._urgent else self._queue
            batch: list[_Item] = []
            while source and len(batch) < self._max_batch:
                batch.append(source.popleft())
            return batch, self._closed and not self._urgent and not self._queue

    def _commit(self, conn: Connection, batch: list[_Item]) -> None:
        batch = [item for item in batch if item.future.set_running_or_notify_cancel()]
        for attempt in range(MAX_RETRIES + 1):
            try:
                if not self._commit_pipelined(conn, batch):
                    self._commit_once(conn, batch)
                return
            except _Retry as retry:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if attempt == MAX_RETRIES:
                    self._fail(conn, batch, retry.cause)
                    return
                self.retries += 1
                log.info("store transaction conflicted (%s); running it again", retry.cause)
                time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))

    def _commit_pipelined(self, conn: Connection, batch: list[_Item]) -> bool:
        """The batch in one pipelined transaction, no savepoints; False (rolled back) if any
        item failed, for ``_commit_once`` to find which."""
        if self._pipeline is None:
            return False
        results: list[Any] = []
        try:
            with self._pipeline(conn):
                conn.execute(self._begin)
                for item in batch:
                    results.append(item.fn(conn))
                conn.execute("COMMIT")
        except Exception as exc:
            if self._retryable(exc):
                raise _Retry(exc) from exc
            if is_broken(conn):  # the server went: no careful run will do better
                self._fail(conn, batch, exc)
                return True
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except Exception as rollback_exc:
                self._fail(conn, batch, rollback_exc)
                return True
            return False
        self.batches += 1
        for item, value in zip(batch, results, strict=True):
            item.future.set_result(value)
        return True

    def _commit_once(self, conn: Connection, batch: list[_Item]) -> None:
        outcomes: list[tuple[_Item, bool, Any]] = []
        try:
            conn.execute(self._begin)
            for item in batch:
                conn.execute("SAVEPOINT item")
                try:
                    result = item.fn(conn)
                except Exception as exc:
                    if self._retryable(exc):
                        raise _Retry(exc) from exc
                    if not conn.in_transaction:
                        # SQLite rolled the whole transaction back by itself (disk full, I/O
                        # error): the batch is lost, and this error, not the savepoint, says why.
                        raise
                    conn.execute("ROLLBACK TO item")
                    conn.execute("RELEASE item")
                    outcomes.append((item, False, exc))
                else:
                    conn.execute("RELEASE item")
                    outcomes.append((item, True, result))
            conn.execute("COMMIT")
        except _Retry:
            raise
        except Exception as exc:
            if self._retryable(exc):
                raise _Retry(exc) from exc
            self._fail(conn, batch, exc)
            return
        self.batches += 1
        for item, ok, value in outcomes:
            if ok:
                item.future.set_result(value)
            else:
                item.future.set_exception(value)

    def _fail(self, conn: Connection, batch: list[_Item], exc: BaseException) -> None:
        """The whole transaction is lost: every caller must hear it."""
        log.error("store transaction of %d items failed: %s", len(batch), exc)
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except Exception as rollback_exc:  # a broken connection: the callers still hear it
            log.error("store rollback failed: %s", rollback_exc)
        for item in batch:
            if not item.future.done():
                item.future.set_exception(exc)
