import sqlite3
import threading
from concurrent.futures import Future
from pathlib import Path

import pytest

from loneguard.server.store.sqlite import connect
from loneguard.server.store.writer import Writer, WriterClosed


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "w.db"
    conn = connect(path)
    conn.execute("CREATE TABLE t (v INTEGER UNIQUE)")
    conn.close()
    return path


def count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])


def has_row(path: Path, v: int) -> bool:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT 1 FROM t WHERE v = ?", (v,)).fetchone() is not None


def insert(v: int):  # type: ignore[no-untyped-def]
    def run(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (v) VALUES (?)", (v,))
        return v

    return run


def test_results_resolve_only_after_commit(db: Path) -> None:
    gate = threading.Event()
    writer = Writer(lambda: connect(db))
    try:
        blocker = writer.submit(lambda conn: gate.wait(5))
        queued = [writer.submit(insert(i)) for i in range(50)]
        seen_on_disk: dict[int, bool] = {}
        # Each callback reads the database from another connection: its own row must be committed.
        # (The writer may have taken some of the 50 into the blocker's transaction, so the count
        # seen by a callback is not always 50; its own row is always there.)
        all_seen = threading.Event()

        def record(i: int) -> None:
            seen_on_disk[i] = has_row(db, i)
            if len(seen_on_disk) == 50:
                all_seen.set()

        for i, f in enumerate(queued):
            f.add_done_callback(lambda _f, i=i: record(i))
        assert not any(f.done() for f in queued)
        gate.set()
        assert blocker.result(timeout=5) is True
        assert [f.result(timeout=5) for f in queued] == list(range(50))
        assert all_seen.wait(5)  # callbacks run after result() wakes its waiter
        assert seen_on_disk == {i: True for i in range(50)}
        assert writer.batches <= 2  # the 50 queued behind the blocker went in one transaction
    finally:
        writer.close()


def test_a_failing_item_does_not_sink_the_others(db: Path) -> None:
    gate = threading.Event()
    writer = Writer(lambda: connect(db))
    try:
        writer.submit(lambda conn: gate.wait(5))
        good1 = writer.submit(insert(1))
        duplicate = writer.submit(insert(1))  # violates UNIQUE

        def half_done(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t (v) VALUES (99)")
            raise ValueError("changed my mind")

        broken = writer.submit(half_done)
        good2 = writer.submit(insert(2))
        gate.set()
        assert good1.result(timeout=5) == 1
        assert good2.result(timeout=5) == 2
        with pytest.raises(sqlite3.IntegrityError):
            duplicate.result(timeout=5)
        with pytest.raises(ValueError, match="changed my mind"):
            broken.result(timeout=5)
        assert count(db) == 2  # 99 was rolled back with its item
    finally:
        writer.close()


def test_close_finishes_the_queue_then_refuses(db: Path) -> None:
    writer = Writer(lambda: connect(db))
    futures: list[Future[int]] = [writer.submit(insert(i)) for i in range(10)]
    writer.close()
    assert all(f.done() and not f.exception() for f in futures)
    assert count(db) == 10
    with pytest.raises(WriterClosed):
        writer.submit(insert(11))


def test_a_full_disk_fails_the_batch_with_its_own_error_then_recovers(db: Path) -> None:
    # SQLITE_FULL makes SQLite roll the whole transaction back by itself: every item of the
    # batch must hear "disk is full" (not a confusing savepoint error), and nothing is on disk.
    writer = Writer(lambda: connect(db))
    try:

        def cap(conn: sqlite3.Connection) -> None:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count={int(pages)}")

        writer.submit(cap).result(timeout=5)
        gate = threading.Event()
        writer.submit(lambda conn: gate.wait(5))
        small = writer.submit(insert(1))

        def big(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t (v) VALUES (zeroblob(100000))")

        too_big = writer.submit(big)
        gate.set()
        with pytest.raises(sqlite3.OperationalError, match="full"):
            too_big.result(timeout=5)
        # Whether SQLite undid only the statement or the whole transaction, an item that heard
        # success is on disk and one that heard the error is not.
        try:
            small.result(timeout=5)
        except sqlite3.OperationalError as exc:
            assert "full" in str(exc)
            assert not has_row(db, 1)
        else:
            assert has_row(db, 1)

        writer.submit(lambda conn: conn.execute("PRAGMA max_page_count=1073741823")).result(5)
        assert writer.submit(big).result(timeout=5) is None
        assert writer.submit(insert(2)).result(timeout=5) == 2
    finally:
        writer.close()


def test_an_urgent_item_is_committed_alone_ahead_of_the_queue(db: Path) -> None:
    writer = Writer(lambda: connect(db))
    started, gate = threading.Event(), threading.Event()
    ran: list[int] = []

    def hold(conn: sqlite3.Connection) -> None:
        started.set()
        gate.wait(10)

    def noting(v: int):  # type: ignore[no-untyped-def]
        def run(conn: sqlite3.Connection) -> int:
            ran.append(v)
            return int(insert(v)(conn))

        return run

    try:
        held = writer.submit(hold)
        assert started.wait(10)
        backlog = [writer.submit(noting(v)) for v in range(1, 51)]
        rows_at_commit: list[int] = []
        urgent = writer.submit(noting(99), urgent=True)
        # Runs on the writer's thread right after the urgent item's commit, before the next.
        urgent.add_done_callback(lambda _: rows_at_commit.append(count(db)))
        gate.set()
        held.result(10)
        assert urgent.result(10) == 99 and [f.result(10) for f in backlog] == list(range(1, 51))
    finally:
        writer.close()
    assert ran == [99, *range(1, 51)]
    assert rows_at_commit == [1]  # committed on its own: the backlog was not yet on disk
