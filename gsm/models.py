"""The modems of the BOM and what differs between them: identity, GNSS, SIM and registration.

``identify`` asks the modem its model (``AT+CGMM``, 3GPP TS 27.007 "Request model
identification") and picks its command set:

- SIM7600 series (SIM7500/SIM7600 Series AT Command Manual, chapter "GPS"/"GNSS"): the receiver
  is switched on with ``AT+CGPS=1``; ``AT+CGPSINFO`` reports the position as NMEA-style degrees
  and minutes (``ddmm.mmmmmm,N,dddmm.mmmmmm,E``).
- A76xx series, A7670E included (A76XX Series AT Command Manual, chapter "GNSS"): the receiver
  is powered with ``AT+CGNSSPWR=1`` (it answers ``OK`` and later ``+CGNSSPWR: READY!``);
  ``AT+CGNSSINFO`` reports the position in decimal degrees (``dd.dddddd,N,ddd.dddddd,E``).
  ``AT+CGPS`` is not part of its command set.
- anything else (or no answer to ``AT+CGMM``): the SIM7600 commands are tried, and a modem that
  answers them with an error is taken to have no GNSS.

``sim_status`` reads ``AT+CPIN?`` (READY, SIM PIN, SIM PUK, ... or NOT INSERTED), and
``network_registration`` reads both ``AT+CEREG?`` (EPS, the LTE network) and ``AT+CREG?``
(circuit switched): on a 4G-only network the CREG answer may say "not registered" while
CEREG says registered, or registered for "SMS only" (stat 6 at home, 7 roaming, TS 27.007
§7.2 and §10.1.22). Every registered state, SMS-only included, is registered for us: SMS is all
the fallback path needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from loneguard.gsm.at import ModemError, ModemTimeout, Registration, parse_fields
from loneguard.gsm.gnss import GnssFix, parse_gnss

if TYPE_CHECKING:  # the driver uses this module for its own registration()
    from loneguard.gsm.modem import Modem

# TS 27.007 <stat>: 1 home, 5 roaming, 6 SMS only (home), 7 SMS only (roaming).
REGISTERED_STATES = frozenset({1, 5, 6, 7})


@dataclass(frozen=True)
class ModelFamily:
    """One command set: how to switch GNSS on and read a position, and in which format."""

    name: str
    gnss_on: str | None  # None: no GNSS on this modem
    gnss_read: str | None
    decimal_degrees: bool


SIM7600 = ModelFamily("SIM7600", "AT+CGPS=1", "AT+CGPSINFO", decimal_degrees=False)
A76XX = ModelFamily("A76XX", "AT+CGNSSPWR=1", "AT+CGNSSINFO", decimal_degrees=True)
UNKNOWN = ModelFamily("unknown", "AT+CGPS=1", "AT+CGPSINFO", decimal_degrees=False)


def family_of(model: str) -> ModelFamily:
    """The command set for an ``AT+CGMM`` answer (``SIMCOM_SIM7600E-H``, ``A7670E-FASE``)."""
    upper = model.upper()
    if "SIM7600" in upper or "SIM7500" in upper:
        return SIM7600
    if upper.startswith("A76") or "SIM767" in upper:  # the SIM767x are A76xx inside
        return A76XX
    return UNKNOWN


def model_name(modem: Modem) -> str:
    """``AT+CGMM``'s answer; empty when the modem gives none."""
    lines = [line for line in modem.command("AT+CGMM") if line.strip()]
    return lines[0].removeprefix("+CGMM:").strip() if lines else ""


def identify(modem: Modem) -> ModelFamily:
    return family_of(model_name(modem))


def sim_status(modem: Modem) -> str:
    """``READY`` when the SIM needs no PIN; ``SIM PIN``, ``SIM PUK``, ... or ``NOT INSERTED``."""
    try:
        lines = modem.command("AT+CPIN?", expect="+CPIN:")
    except ModemTimeout:
        raise
    except ModemError as exc:
        if "not inserted" in exc.reason.lower() or exc.reason.rsplit(" ", 1)[-1] == "10":
            return "NOT INSERTED"
        raise
    for line in lines:
        if line.startswith("+CPIN:"):
            return line[6:].strip()
    raise ModemError("AT+CPIN", "no +CPIN in the reply", modem.port_name)


def _stat(modem: Modem, command: str) -> int | None:
    prefix = command[2:].rstrip("?") + ":"
    try:
        lines = modem.command(command, expect=prefix)
    except ModemTimeout:
        raise
    except ModemError:
        return None  # a modem or network without this domain
    for line in lines:
        fields = parse_fields(line[len(prefix) :]) if line.startswith(prefix) else []
        if len(fields) >= 2 and fields[1].isdigit():
            return int(fields[1])
    return None


def network_registration(modem: Modem) -> Registration:
    """Registered on LTE (``+CEREG``) or the circuit-switched network (``+CREG``), SMS-only
    states included; the stat reported is the registered one, else CEREG's, else CREG's."""
    eps = _stat(modem, "AT+CEREG?")
    cs = _stat(modem, "AT+CREG?")
    for stat in (eps, cs):
        if stat in REGISTERED_STATES:
            return Registration(stat, True)
    stat = eps if eps is not None else cs
    if stat is None:
        raise ModemError("AT+CREG", "no +CEREG or +CREG in the reply", modem.port_name)
    return Registration(stat, False)


def start_gnss(modem: Modem, family: ModelFamily) -> bool:
    """Switch the receiver on; False on a modem without one (or that refuses)."""
    if family.gnss_on is None:
        return False
    try:
        modem.command(family.gnss_on, timeout=modem.slow_timeout)
        return True
    except ModemTimeout:
        raise
    except ModemError:
        pass
    # Already on: some firmware answers an error; a position read tells the two apart.
    try:
        read_gnss(modem, family)
        return True
    except ModemTimeout:
        raise
    except ModemError:
        return False


def read_gnss(modem: Modem, family: ModelFamily) -> GnssFix | None:
    """The receiver's position, None without a fix. Raises ModemError on an error reply."""
    if family.gnss_read is None:
        return None
    prefix = family.gnss_read.removeprefix("AT") + ":"
    for line in modem.command(family.gnss_read, expect=prefix):
        if line.startswith(prefix):
            return parse_gnss(line[len(prefix) :], decimal_degrees=family.decimal_degrees)
    return None
