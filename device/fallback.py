"""The second path: panic and duress by SMS when MQTT or the hub cannot be relied on.

``ModemWorker`` owns the modem. One thread runs every exchange (the fallback SMS, the periodic
health check), so a slow or hung modem never stalls the clock thread that plays the LED and times
the gestures. The health check reads signal (AT+CSQ) and registration (AT+CREG?) for the
heartbeat; a modem that does not answer is recovered (``Modem.recover``: AT, AT+CFUN toggle,
power cycle) in place, without restarting the process.

At start the worker makes sure the modem is on: when ``AT`` gets no answer and a power key is
wired (``power_on``), it presses it and waits for the module to boot. It then asks the model
(``AT+CGMM``) and the SIM (``AT+CPIN?``), and uses the model's command set (``gsm.models``):
where the modem has a GNSS receiver (SIM7600: ``AT+CGPS=1``/``AT+CGPSINFO``; A76xx:
``AT+CGNSSPWR=1``/``AT+CGNSSINFO``), it switches it on and reads the position with every health
check; the app attaches the last fix to a panic or duress (``last_location``), never to anything
else. Registration counts LTE (``+CEREG``) as well as ``+CREG``, SMS-only states included.

``SmsFallback`` decides when an alarm also goes by SMS, as the fallback line of DESIGN §4
(``FallbackLine.encode(secret)``) to the hub's number:

- at once, when the broker cannot be reached or the hub's retained status says offline;
- when the link is lost or the hub goes offline while an alarm waits for its ack;
- when no ack has come ``ack_timeout`` seconds (injected clock) after the alarm was made.

Each alarm goes by SMS at most once (remembered in the outbox, across restarts). The event stays
in the outbox and still goes over MQTT when the link returns; the hub dedupes on the event id.
Check-ins and every other kind never go by SMS.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable

from loneguard.device.link import ModemReport
from loneguard.device.outbox import ALARM_KINDS, Outbox
from loneguard.gsm.at import ModemError, ModemTimeout
from loneguard.gsm.gnss import GnssFix
from loneguard.gsm.models import (
    UNKNOWN,
    ModelFamily,
    family_of,
    model_name,
    read_gnss,
    sim_status,
    start_gnss,
)
from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import Clock, Timer
from loneguard.protocol.errors import ProtocolError
from loneguard.protocol.messages import Event, Location
from loneguard.protocol.sms import FallbackLine

log = logging.getLogger(__name__)

Job = Callable[[Modem], None]


class ModemWorker:
    """One thread for every modem exchange; ``report()`` is the last health check's result."""

    def __init__(
        self,
        modem: Modem,
        clock: Clock,
        *,
        check_interval: float,
        power_on: Callable[[], None] | None = None,
    ) -> None:
        self.modem = modem
        self._power_on = power_on  # e.g. a PWRKEY press; used when the modem is silent at start
        self.family: ModelFamily = UNKNOWN
        self._clock = clock
        self._check_interval = check_interval
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._report = ModemReport(None, None, modem.health)
        self._timer: Timer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._gps = False
        self._fix: tuple[Location, float] | None = None  # and its monotonic time
        self._job_started: float | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="modem", daemon=True)
        self._thread.start()
        self.submit(self._initialise)
        self._schedule_check()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def submit(self, job: Job) -> None:
        self._jobs.put(job)

    def check(self) -> None:
        """Queue a health check (signal, registration; recovery if the modem does not answer)."""
        self.submit(self._check)

    def wait_idle(self, timeout: float) -> bool:
        """True once every queued job has run (for tests and an orderly stop)."""
        done = threading.Event()
        self.submit(lambda modem: done.set())
        return done.wait(timeout)

    def report(self) -> ModemReport:
        with self._lock:
            report = self._report
        # Recovery may be under way right now: the driver's health is the freshest word.
        return ModemReport(report.rssi, report.registered, self.modem.health)

    def last_location(self, max_age: float) -> Location | None:
        """The last GNSS fix if it is at most ``max_age`` seconds old (injected clock)."""
        with self._lock:
            fix = self._fix
        if fix is None or self._clock.monotonic() - fix[1] > max_age:
            return None
        return fix[0]

    def busy_for(self) -> float:
        """Seconds (injected clock) the job under way has run; 0 when idle.

        Every exchange has a deadline, so even a full recovery (probes, AT+CFUN, a power cycle,
        the boot) ends within a few minutes; a job running far longer means the worker is stuck
        and the SMS path with it.
        """
        with self._lock:
            started = self._job_started
        return 0.0 if started is None else self._clock.monotonic() - started

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            started = self._clock.monotonic()  # never under self._lock: see _read_fix
            with self._lock:
                self._job_started = started
            try:
                job(self.modem)
            except Exception:  # one failed job must not end the worker
                log.exception("modem job failed")
            finally:
                with self._lock:
                    self._job_started = None

    def _initialise(self, modem: Modem) -> None:
        if not _answers(modem, attempts=2) and self._power_on is not None:
            # A module that is off says nothing: press its power key, then wait for it to boot.
            log.warning("modem silent at start: pressing its power key")
            self._power_on()
            deadline = time.monotonic() + modem.boot_timeout
            while not _answers(modem, attempts=1) and time.monotonic() < deadline:
                threading.Event().wait(0.5)
        try:
            modem.initialise()
        except ModemError as exc:
            log.warning("modem initialisation failed (%s); recovering", exc)
            modem.recover()
        self._identify(modem)
        self._start_gps(modem)

    def _identify(self, modem: Modem) -> None:
        try:
            name = model_name(modem)
            sim = sim_status(modem)
        except ModemError as exc:
            log.warning("modem model or SIM not read: %s", exc)
            return
        self.family = family_of(name)
        log.info("modem %s (%s command set), SIM %s", name or "?", self.family.name, sim)
        if sim != "READY":
            log.error("modem SIM is %s: no SMS until it is READY", sim)

    def _start_gps(self, modem: Modem) -> None:
        try:
            self._gps = start_gnss(modem, self.family)
        except ModemError as exc:
            log.warning("GNSS not started: %s", exc)
            return
        log.info("modem GNSS: %s", "on" if self._gps else "none on this modem")
        self._read_fix(modem)

    def _read_fix(self, modem: Modem) -> None:
        if not self._gps:
            return
        try:
            fix = read_gnss(modem, self.family)
        except ModemError as exc:
            log.warning("GNSS position not read: %s", exc)
            return
        location = _location(fix) if fix is not None else None
        if location is not None:
            # The clock is read before taking self._lock: a FakeClock holds its own lock while
            # it runs timers, and those take self._lock (last_location), so the other order
            # would deadlock.
            now = self._clock.monotonic()
            with self._lock:
                self._fix = (location, now)

    def _check(self, modem: Modem) -> None:
        if modem.health != "ok" and modem.recover():
            self._start_gps(modem)  # a power cycle switched the receiver off
        rssi: int | None = None
        registered: bool | None = None
        try:
            rssi = modem.signal()
            registered = modem.registration().registered
        except ModemTimeout as exc:
            log.warning("modem did not answer (%s); recovering", exc)
            if modem.recover():
                self._start_gps(modem)
                self._check_quietly(modem)
                return
        except ModemError as exc:
            log.warning("modem health check failed: %s", exc)
        self._read_fix(modem)
        with self._lock:
            self._report = ModemReport(rssi, registered, modem.health)

    def _check_quietly(self, modem: Modem) -> None:
        try:
            rssi = modem.signal()
            registered = modem.registration().registered
        except ModemError:
            rssi, registered = None, None
        with self._lock:
            self._report = ModemReport(rssi, registered, modem.health)

    def _schedule_check(self) -> None:
        with self._lock:
            if not self._stopped:
                self._timer = self._clock.call_later(self._check_interval, self._tick)

    def _tick(self) -> None:
        self.check()
        self._schedule_check()


def _answers(modem: Modem, attempts: int) -> bool:
    """Whether ``AT`` gets an answer (a line just opened may eat the first bytes: try again)."""
    for _ in range(attempts):
        try:
            modem.command("AT", timeout=1.0)
            return True
        except ModemError:
            continue
    return False


def _location(fix: GnssFix) -> Location | None:
    """The fix as the wire contract's Location; None for a position the contract refuses.

    Checked here, once, so a garbled reply can never stop a panic from being made.
    """
    try:
        return Location.from_json({"lat": round(fix.latitude, 6), "lon": round(fix.longitude, 6)})
    except (ProtocolError, ValueError):
        log.warning("GNSS position out of range: ignored")
        return None


class _Unarmed:
    """Stands for a timer being made, so a second ``_arm`` of the same event does nothing."""

    def cancel(self) -> None:
        pass


class SmsFallback:
    """When to send an alarm by SMS, and doing it once (see the module docstring)."""

    def __init__(
        self,
        worker: ModemWorker,
        outbox: Outbox,
        clock: Clock,
        *,
        device_id: str,
        hub_number: str,
        secret: bytes,
        ack_timeout: float,
    ) -> None:
        self._worker = worker
        self._outbox = outbox
        self._clock = clock
        self._device_id = device_id
        self._number = hub_number
        self._secret = secret
        self.ack_timeout = ack_timeout
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()
        self._timers: dict[str, Timer] = {}
        self._stopped = False

    def watch(self, event: Event, *, reachable: bool) -> None:
        """A new event: an alarm goes now if the hub is out of reach, else after ``ack_timeout``."""
        if event.kind not in ALARM_KINDS:
            return
        if reachable:
            self._arm(event)
        else:
            self.send(event)

    def resume(self) -> None:
        """At start: alarms of an earlier run still unacknowledged get a fresh ``ack_timeout``."""
        for event in self._outbox.pending():
            if event.kind in ALARM_KINDS and not self._outbox.sms_sent(event.id):
                self._arm(event)

    def unreachable(self) -> None:
        """The link dropped or the hub went offline: every alarm still waiting goes now."""
        for event in self._outbox.pending():
            if event.kind in ALARM_KINDS:
                self.send(event)

    def send(self, event: Event) -> None:
        with self._lock:
            if self._stopped or event.id in self._in_flight:
                return
            if self._outbox.sms_sent(event.id) or not self._outbox.is_pending(event.id):
                return
            self._in_flight.add(event.id)
            timer = self._timers.pop(event.id, None)
        if timer is not None:
            timer.cancel()
        self._worker.submit(functools.partial(self._send, event))

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            timers, self._timers = list(self._timers.values()), {}
        for timer in timers:
            timer.cancel()

    def _arm(self, event: Event) -> None:
        # The timer is made outside self._lock: a FakeClock holds its own lock while it runs
        # timers, and _ack_overdue takes self._lock, so holding both here could deadlock.
        placeholder = _Unarmed()
        with self._lock:
            if self._stopped or event.id in self._timers:
                return
            self._timers[event.id] = placeholder
        timer = self._clock.call_later(
            self.ack_timeout, functools.partial(self._ack_overdue, event)
        )
        with self._lock:
            if self._timers.get(event.id) is placeholder:
                self._timers[event.id] = timer
                return
        timer.cancel()  # sent or stopped meanwhile

    def _ack_overdue(self, event: Event) -> None:
        with self._lock:
            self._timers.pop(event.id, None)
        log.warning(
            "no ack for %s %s in %gs: sending it by SMS", event.kind, event.id, self.ack_timeout
        )
        self.send(event)

    def _send(self, event: Event, modem: Modem) -> None:
        line = FallbackLine(self._device_id, event.kind, event.id, event.ts).encode(self._secret)
        try:
            if modem.health != "ok":
                modem.recover()
            modem.send_sms(self._number, line)
        except ModemError as exc:
            log.error(
                "fallback SMS for %s failed: %s; retrying in %gs", event.id, exc, self.ack_timeout
            )
            if isinstance(exc, ModemTimeout):
                modem.recover()
            with self._lock:
                self._in_flight.discard(event.id)
            self._arm(event)
            return
        with self._lock:
            self._in_flight.discard(event.id)
            if self._stopped:
                return
        self._outbox.mark_sms_sent(event.id)
        log.warning("%s %s sent by SMS", event.kind, event.id)
