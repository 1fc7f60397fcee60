from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from loneguard.device.clock_sync import MAX_ERROR_US, clock_synchronised, kernel_max_error_us
from loneguard.device.firmware import DeviceApp
from loneguard.device.simulator import ClockedMockFactory
from loneguard.protocol.clock import FakeClock
from tests.device.helpers import FakeLink, make_config


def test_timesyncd_s_flag_file_means_synchronised(tmp_path: Path) -> None:
    flag = tmp_path / "synchronized"
    flag.touch()
    assert clock_synchronised(flag) is True


def test_without_the_flag_the_kernel_s_ntp_state_decides(tmp_path: Path) -> None:
    max_error = kernel_max_error_us()
    assert max_error is not None and max_error >= 0  # adjtimex answers on any Linux
    assert clock_synchronised(tmp_path / "absent") is (max_error < MAX_ERROR_US)


def test_reading_the_kernel_s_ntp_state_starts_no_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # It is read for every event until the clock is set: ctypes.util.find_library ran ldconfig
    # in a child process for each one (3.6 ms on the x86 bench machine, more on a Pi Zero).
    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError("a child process was started")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    monkeypatch.setattr(os, "popen", no_process)
    assert kernel_max_error_us() is not None


def test_events_made_before_the_clock_is_set_say_so(tmp_path: Path, clock: FakeClock) -> None:
    synced = [False]
    link = FakeLink()
    app = DeviceApp(
        make_config(tmp_path),
        pin_factory=ClockedMockFactory(clock),
        clock=clock,
        link=link,
        clock_synced=lambda: synced[0],
    )
    app.start()
    try:
        pin = app.buttons[next(iter(app.buttons))].pin_factory.pin(17)
        for now_synced in (False, True):
            synced[0] = now_synced
            pin.drive_low()
            clock.advance(0.1)
            pin.drive_high()
            clock.advance(0.1)
        assert [e.unsynced for e in link.published] == [True, False]
    finally:
        app.stop("done")
