"""A damaged outbox (SD-card corruption) is moved aside at start; the unit starts and works."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest

from loneguard.device.firmware import DeviceApp
from loneguard.device.outbox import FILE_NAME, Outbox
from loneguard.device.simulator import ClockedMockFactory
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind, new_event_id
from tests.device.helpers import FakeLink, make_config


def random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def header_over_garbage(path: Path) -> None:
    """A real outbox whose pages after the first are overwritten: a valid SQLite header."""
    outbox = Outbox(path)
    for seq in range(200):
        outbox.add(Event(new_event_id(), EventKind.CHECKIN, 1_767_225_600_000, seq))
    outbox.begin_boot()
    outbox.close()
    data = bytearray(path.read_bytes())
    assert data.startswith(b"SQLite format 3\x00")
    data[4096:] = os.urandom(len(data) - 4096)
    path.write_bytes(bytes(data))
    for side in ("-wal", "-shm"):
        path.with_name(path.name + side).unlink(missing_ok=True)


DAMAGE = [random_bytes, header_over_garbage]


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda d: d.__name__)
def test_a_damaged_file_is_moved_aside_and_a_fresh_outbox_works(
    tmp_path: Path, damage: object, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / FILE_NAME
    damage(path)  # type: ignore[operator]
    damaged = path.read_bytes()
    with caplog.at_level(logging.ERROR):
        outbox = Outbox(path)
    assert outbox.moved_aside is not None and outbox.moved_aside.parent == tmp_path
    assert outbox.moved_aside.name.startswith(f"{FILE_NAME}.corrupt-")
    assert outbox.moved_aside.read_bytes() == damaged  # kept for whoever wants to look
    assert "is damaged" in caplog.text and outbox.moved_aside.name in caplog.text
    event = Event(new_event_id(), EventKind.CHECKIN, 1_767_225_600_000, outbox.next_seq())
    outbox.add(event)
    assert outbox.pending() == [event]
    assert outbox.begin_boot() > 1_700_000_000  # above any boot count the hub has seen
    outbox.close()
    again = Outbox(path)  # the fresh file is sound from now on
    assert again.moved_aside is None and again.pending() == [event]
    again.close()


def test_a_sound_outbox_is_left_alone(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / FILE_NAME)
    assert outbox.moved_aside is None
    assert outbox.begin_boot() == 1
    outbox.close()
    assert [p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name] == []


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda d: d.__name__)
def test_the_firmware_starts_on_a_damaged_outbox_says_so_and_events_flow(
    tmp_path: Path, clock: FakeClock, damage: object
) -> None:
    config = make_config(tmp_path)
    config.device.data_dir.mkdir(parents=True, exist_ok=True)
    damage(config.device.data_dir / FILE_NAME)  # type: ignore[operator]
    link = FakeLink()
    app = DeviceApp(config, pin_factory=ClockedMockFactory(clock), clock=clock, link=link)
    app.start()
    try:
        assert app.outbox_replaced() is True  # what the heartbeat reports
        assert "outbox was damaged, moved to outbox.sqlite3.corrupt-" in app.status_line()
        assert app.health_problems() == []
        checkin = app.buttons[next(iter(app.buttons))].pin_factory.pin(17)
        checkin.drive_low()
        clock.advance(0.1)
        checkin.drive_high()
        clock.advance(0.1)
        assert [e.kind for e in link.published] == [EventKind.CHECKIN]
        link.ack(link.published[0].id)
        assert app.outbox.count() == 0
    finally:
        app.stop("done")


def test_sqlite_really_refuses_the_damaged_files(tmp_path: Path) -> None:
    # The premise of the tests above: without the recovery, opening these files fails.
    for damage in DAMAGE:
        path = tmp_path / f"{damage.__name__}.sqlite3"
        damage(path)
        with pytest.raises(sqlite3.DatabaseError):
            db = sqlite3.connect(path)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                (verdict,) = db.execute("PRAGMA quick_check").fetchone()
                if verdict != "ok":
                    raise sqlite3.DatabaseError(verdict)
                db.execute("SELECT count(*) FROM pending").fetchone()
            finally:
                db.close()
