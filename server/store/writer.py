"""The one writer: a thread that owns the write connection and group-commits its queue.

Whatever is queued when the thread wakes runs in one transaction, each item inside its own
SAVEPOINT so a failing item is rolled back alone. Every item's future resolves only after the
COMMIT returns, so a caller that sees a result knows it is on disk. Many callers in flight share
one fsync, which is what makes durable ingest fast.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
WriteFn = Callable[[sqlite3.Connection], T]

_STOP = object()


class WriterClosed(RuntimeError):
    pass


class _Item:
    __slots__ = ("fn", "future")

    def __init__(self, fn: WriteFn[Any], future: Future[Any]) -> None:
        self.fn = fn
        self.future = future


class Writer:
    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        max_batch: int = 2000,
        name: str = "store-writer",
    ) -> None:
        self._connect = connect
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | object] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.batches = 0  # transactions committed, for tests and metrics
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def submit(self, fn: WriteFn[T]) -> Future[T]:
        """Queue ``fn(connection)``; its future resolves after its transaction commits."""
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise WriterClosed("the store is closed")
            self._queue.put(_Item(fn, future))
        return future

    def close(self, timeout: float = 30.0) -> None:
        """Finish everything already queued, then stop the thread and close the connection."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
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
                if stop:
                    return
        finally:
            conn.close()

    def _take_batch(self) -> tuple[list[_Item], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        assert isinstance(first, _Item)
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            assert isinstance(item, _Item)
            batch.append(item)
        return batch, False

    def _commit(self, conn: sqlite3.Connection, batch: list[_Item]) -> None:
        outcomes: list[tuple[_Item, bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for item in batch:
                if not item.future.set_running_or_notify_cancel():
                    continue
                conn.execute("SAVEPOINT item")
                try:
                    result = item.fn(conn)
                except Exception as exc:
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
        except Exception as exc:  # the whole transaction is lost: every caller must hear it
            log.error("store transaction of %d items failed: %s", len(batch), exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for item in batch:
                future = item.future
                if future.cancelled():
                    continue
                if not future.running() and not future.set_running_or_notify_cancel():
                    continue
                future.set_exception(exc)
            return
        self.batches += 1
        for item, ok, value in outcomes:
            if ok:
                item.future.set_result(value)
            else:
                item.future.set_exception(value)
