"""The two modems of the BOM through the driver: identity, SIM, LTE registration, GNSS."""

from __future__ import annotations

import time

import pytest

from loneguard.gsm.fake import FakeModem
from loneguard.gsm.fake_models import A7670_FIX, A7670E, SIM7600, SIM7600_FIX
from loneguard.gsm.models import (
    A76XX,
    family_of,
    identify,
    read_gnss,
    sim_status,
    start_gnss,
)
from loneguard.gsm.models import SIM7600 as SIM7600_SET
from loneguard.gsm.modem import Modem

# Both fixes are 31 deg 13.330650' N, 121 deg 21.262554' E.
WHERE = (31.222177, 121.354376)


def modem_on(fake: FakeModem) -> Modem:
    modem = Modem(fake.path, command_timeout=0.5, slow_timeout=0.5, sweep_interval=None)
    modem.initialise()
    return modem


def test_model_names_pick_their_command_sets() -> None:
    assert family_of("SIMCOM_SIM7600E-H") is SIM7600_SET
    assert family_of("SIMCOM_SIM7600G-H") is SIM7600_SET
    assert family_of("A7670E-FASE") is A76XX
    assert family_of("A7672SA-FASE") is A76XX
    assert family_of("SIM800L").name == "unknown"


@pytest.mark.parametrize(
    ("model", "family", "commands"),
    [
        (SIM7600(fix=SIM7600_FIX), SIM7600_SET, ["AT+CGPS=1", "AT+CGPSINFO"]),
        (A7670E(fix=A7670_FIX), A76XX, ["AT+CGNSSPWR=1", "AT+CGNSSINFO"]),
    ],
    ids=["SIM7600", "A7670E"],
)
def test_each_model_gets_a_fix_with_its_own_commands(
    model: SIM7600 | A7670E, family: object, commands: list[str]
) -> None:
    with FakeModem(model=model) as fake, modem_on(fake) as modem:
        assert identify(modem) is family
        assert read_gnss(modem, identify(modem)) is None  # the receiver is still off
        assert start_gnss(modem, identify(modem)) is True
        fix = read_gnss(modem, identify(modem))
        assert fix is not None
        assert (round(fix.latitude, 6), round(fix.longitude, 6)) == WHERE
        assert fix.altitude_m == 32.9
        sent = fake.commands()
        assert all(c in sent for c in commands)
        other = {"AT+CGPS=1", "AT+CGNSSPWR=1"} - set(commands)
        assert not other & set(sent)  # never the other model's command


def test_the_a7670_refuses_the_sim7600_gnss_commands() -> None:
    with FakeModem(model=A7670E(fix=A7670_FIX)) as fake, modem_on(fake) as modem:
        assert start_gnss(modem, SIM7600_SET) is False  # what the old firmware did: no location


def test_the_a7670_says_when_its_receiver_is_ready() -> None:
    with FakeModem(model=A7670E()) as fake, modem_on(fake) as modem:
        start_gnss(modem, A76XX)
        seen: list[str] = []
        deadline = time.monotonic() + 5
        while "+CGNSSPWR: READY!" not in seen:  # the URC follows the OK
            assert time.monotonic() < deadline, seen
            seen += modem.take_unsolicited()
            time.sleep(0.01)


@pytest.mark.parametrize("cereg", [1, 5, 6, 7])
@pytest.mark.parametrize("model_class", [SIM7600, A7670E])
def test_lte_registration_alone_is_registered_sms_only_included(
    model_class: type[SIM7600] | type[A7670E], cereg: int
) -> None:
    # A 4G-only network: the circuit-switched domain says "not registered" (0).
    with (
        FakeModem(creg_stat=0, model=model_class(cereg_stat=cereg)) as fake,
        modem_on(fake) as modem,
    ):
        assert modem.registration() == (cereg, True)
        modem.send_sms("+447700900123", "LG1 test")  # and SMS does go
        assert fake.sent == [("+447700900123", "LG1 test")]


def test_not_registered_on_either_domain_is_not_registered() -> None:
    with FakeModem(creg_stat=2, model=A7670E(cereg_stat=2)) as fake, modem_on(fake) as modem:
        assert modem.registration() == (2, False)


def test_a_modem_without_cereg_still_reads_creg() -> None:
    with FakeModem(creg_stat=5) as fake, modem_on(fake) as modem:  # the generic fake: no CEREG
        assert modem.registration() == (5, True)


def test_sim_status() -> None:
    with FakeModem(model=SIM7600()) as fake, modem_on(fake) as modem:
        assert sim_status(modem) == "READY"
    with FakeModem(model=A7670E(sim="SIM PIN")) as fake, modem_on(fake) as modem:
        assert sim_status(modem) == "SIM PIN"
    with FakeModem(model=A7670E(sim="")) as fake, modem_on(fake) as modem:
        assert sim_status(modem) == "NOT INSERTED"
