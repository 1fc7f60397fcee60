"""The two modems of the BOM as the fake modem plays them, each from its own AT manual.

``FakeModem(model=SIM7600())`` or ``FakeModem(model=A7670E())``: the model answers the commands
where the two differ (identity, GNSS, EPS registration, SIM status) before the fake's common
SMS and 27.007 core does. Modelled from, and cited in docs/device.md:

- SIM7600: SIM7500_SIM7600 Series AT Command Manual — "AT+CGMM Request model identification"
  (``SIMCOM_SIM7600E-H``), "AT+CGPS Start/Stop GPS session" (an error when a session is already
  running), "AT+CGPSINFO Get GPS fixed position information" (``ddmm.mmmmmm,N,dddmm.mmmmmm,E,
  ddmmyy,hhmmss.s,alt,speed,course``; empty fields without a fix), "AT+CEREG", "AT+CPIN".
- A7670E: A76XX Series AT Command Manual — "AT+CGMM" (``A7670E-FASE``), "AT+CGNSSPWR GNSS power
  control" (``OK``, then ``+CGNSSPWR: READY!`` once the engine is up), "AT+CGNSSINFO Get GNSS
  fixed position information" (mode, satellite counts, then ``dd.dddddd,N,ddd.dddddd,E,ddmmyy,
  hhmmss.ss,alt,speed,course,PDOP,HDOP,VDOP`` in decimal degrees; empty fields without a fix);
  no ``AT+CGPS``.

Both power on with a PWRKEY pulse (the fake's ``pwrkey``) and say nothing until then when made
with ``FakeModem(powered=False)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loneguard.gsm.fake import FakeModem

# The same place in both formats: 31°13.330650' N = 31.222177 N, 121°21.262554' E = 121.354376 E.
SIM7600_FIX = "3113.330650,N,12121.262554,E,131117,091918.0,32.9,0.0,0"
A7670_FIX = "3,09,05,00,00,31.222177,N,121.354376,E,131117,091918.00,32.9,0.000,,1.1,0.8,0.7"


class CommandRefused(Exception):
    """The model does not take this command: ``+CME ERROR`` ``code`` (4: not supported)."""

    def __init__(self, code: int = 4) -> None:
        super().__init__(code)
        self.code = code


class FakeModel:
    """What one modem model answers differently; ``None`` from ``answer`` leaves it to the core."""

    cgmm = ""

    def __init__(self, *, cereg_stat: int = 1, fix: str | None = None, sim: str = "READY") -> None:
        self.cereg_stat = cereg_stat
        self.fix = fix  # the receiver's answer once on; None: no fix yet
        self.sim = sim  # +CPIN: READY, SIM PIN, ...; "" for no SIM inserted
        self.gnss_on = False

    def reset(self) -> None:
        """A power cycle: the receiver is off again."""
        self.gnss_on = False

    def answer(self, fake: FakeModem, upper: str, value: str) -> tuple[list[str], str] | None:
        if upper == "AT+CGMM":
            return [self.cgmm], "OK"
        if upper == "AT+CPIN?":
            if not self.sim:
                raise CommandRefused(10)  # SIM not inserted
            return [f"+CPIN: {self.sim}"], "OK"
        if upper == "AT+CEREG?":
            return [f"+CEREG: 0,{self.cereg_stat if fake.radio_on else 0}"], "OK"
        return self.gnss(fake, upper, value)

    def gnss(self, fake: FakeModem, upper: str, value: str) -> tuple[list[str], str] | None:
        return None

    def registered(self) -> bool:
        return self.cereg_stat in (1, 5, 6, 7)


class SIM7600(FakeModel):
    cgmm = "SIMCOM_SIM7600E-H"

    def gnss(self, fake: FakeModem, upper: str, value: str) -> tuple[list[str], str] | None:
        if upper.startswith("AT+CGPS="):
            on = value.strip().split(",")[0] == "1"
            if on and self.gnss_on:
                raise CommandRefused(3)  # a session is already running
            self.gnss_on = on
            return [], "OK"
        if upper == "AT+CGPSINFO":
            fix = self.fix if self.gnss_on and self.fix else ",,,,,,,,"
            return [f"+CGPSINFO: {fix}"], "OK"
        if upper.startswith(("AT+CGNSSPWR", "AT+CGNSSINFO")):
            raise CommandRefused(4)
        return None


class A7670E(FakeModel):
    cgmm = "A7670E-FASE"

    def gnss(self, fake: FakeModem, upper: str, value: str) -> tuple[list[str], str] | None:
        if upper == "AT+CGNSSPWR?":
            return [f"+CGNSSPWR: {int(self.gnss_on)}"], "OK"
        if upper.startswith("AT+CGNSSPWR="):
            on = value.strip() == "1"
            was, self.gnss_on = self.gnss_on, on
            if on and not was:
                fake.emit_urc_after_reply("+CGNSSPWR: READY!")
            return [], "OK"
        if upper == "AT+CGNSSINFO":
            fix = self.fix if self.gnss_on and self.fix else ",,,,,,,,,,,,,,,,"
            return [f"+CGNSSINFO: {fix}"], "OK"
        if upper.startswith(("AT+CGPS", "AT+CGPSINFO")):
            raise CommandRefused(4)
        return None
