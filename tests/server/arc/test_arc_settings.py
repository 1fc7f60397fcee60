"""The ``[arc]`` settings: no ARC by default, a configured one read whole, and every wrong value
refused with an error naming ``arc.<key>`` (the key's error never shows the key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loneguard.server.arc.arc_settings import ReceiverEndpoint
from loneguard.server.config import ConfigError, HubConfig, load_config

KEY = "00112233445566778899AABBCCDDEEFF"


def config_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> HubConfig:
    path = tmp_path / "hub.toml"
    path.write_text(text)
    return load_config(path, env=env or {})


def test_no_arc_by_default() -> None:
    arc = load_config(env={}).arc
    assert not arc.configured
    assert arc.supervision_interval == 600.0
    assert arc.key is None


def test_a_configured_arc(tmp_path: Path) -> None:
    arc = config_of(
        tmp_path,
        '[arc]\nprimary = "arc.example.org:5001"\nbackup = "10.0.0.2:5002"\ntransport = "udp"\n'
        'account = "12ab"\nreceiver = "2"\nline = "3"\nack_timeout = "5s"\nattempts = 2\n'
        'supervision_interval = "0s"\ngroup = 7\nsend_location = true\n'
        'device_accounts = { "pi-0001" = "beef01" }\n',
        {"LONEGUARD_ARC_KEY": KEY.lower()},
    ).arc
    assert arc.configured
    assert (arc.primary, arc.backup) == (
        ReceiverEndpoint("arc.example.org", 5001),
        ReceiverEndpoint("10.0.0.2", 5002),
    )
    assert (arc.transport, arc.account, arc.receiver, arc.line) == ("udp", "12AB", "2", "3")
    assert (arc.ack_timeout, arc.attempts, arc.supervision_interval, arc.group) == (5, 2, 0, 7)
    assert arc.device_accounts == {"pi-0001": "BEEF01"}
    assert arc.send_location
    assert arc.key is not None and arc.key.hex == KEY
    assert KEY not in repr(arc) and KEY not in str(arc.key)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('primary = "nohost"\naccount = "1234"', "arc.primary: must be host:port"),
        ('primary = "h:99999"\naccount = "1234"', "arc.primary: the port must be"),
        ('primary = "h:5000"', "arc.account: is needed when arc.primary is set"),
        ('primary = "h:5000"\naccount = "12"', "arc.account: must be 3 to 16 hex digits"),
        ('primary = "h:5000"\naccount = "12G4"', "arc.account: must be 3 to 16 hex digits"),
        ('backup = "h:5000"', "arc.backup: needs arc.primary"),
        ('transport = "sctp"', "arc.transport: must be one of tcp, udp"),
        ('line = ""', "arc.line: must be 1 to 6 hex digits"),
        ('supervision_interval = "30s"', 'arc.supervision_interval: must be "0s" (off)'),
        ('ack_timeout = "5m"', "arc.ack_timeout: must be from 1s to 120s"),
        ("attempts = 0", "arc.attempts: must be at least 1"),
        ("group = 100", "arc.group: must be at most 99"),
        ('device_accounts = { "pi-1" = 12 }', "arc.device_accounts.pi-1: must be an account"),
    ],
)
def test_wrong_values_name_the_key(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_of(tmp_path, f"[arc]\n{text}\n")
    assert str(caught.value).startswith(error)


def test_a_wrong_key_is_refused_without_showing_it(tmp_path: Path) -> None:
    wrong = KEY[:-2] + "ZZ"
    with pytest.raises(ConfigError) as caught:
        config_of(tmp_path, "", {"LONEGUARD_ARC_KEY": wrong})
    assert str(caught.value).startswith("arc.key (from LONEGUARD_ARC_KEY): must be 32, 48 or 64")
    assert wrong not in str(caught.value) and KEY[:10] not in str(caught.value)
