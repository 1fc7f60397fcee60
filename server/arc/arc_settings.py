"""The ``[arc]`` settings: where the Alarm Receiving Centre's receivers are, the account and key
the ARC gave, and how often the link is tested. Declared here, read by ``server.config``.

An empty ``arc.primary`` means no ARC: the link is not configured and sends nothing. The key is
kept out of reprs and error messages (``ArcKeyText``), and may come from ``LONEGUARD_ARC_KEY`` so
it can stay out of the settings file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import model_validator

from loneguard.server.escalation.policy import PolicyError, parse_duration
from loneguard.server.settings_schema import Parsed, SettingsModel, ValueProblem, setting

_HEX = re.compile(r"[0-9A-Fa-f]+")
_HOST = re.compile(r"[A-Za-z0-9.\-:]{1,253}")
# SIA DC-09: the account is 3 to 16 hex digits; receiver and line numbers 1 to 6 hex digits.
ACCOUNT_DIGITS = (3, 16)
PREFIX_DIGITS = (1, 6)
KEY_DIGITS = (32, 48, 64)  # AES-128, -192, -256


@dataclass(frozen=True)
class ReceiverEndpoint:
    """One ARC receiver as configured: ``host:port``."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ArcKeyText:
    """The account's AES key as hex digits; never shown (``repr``, ``str``, errors)."""

    hex: str = field(repr=False)

    def __str__(self) -> str:
        return f"<AES-{len(self.hex) * 4} key>"


def _endpoint(text: str) -> ReceiverEndpoint | None:
    if not text:
        return None
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not _HOST.fullmatch(host):
        raise ValueProblem(f"must be host:port, got {text[:60]!r}")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueProblem("the port must be a number from 1 to 65535")
    return ReceiverEndpoint(host, int(port_text))


def _hex_digits(text: str, low: int, high: int) -> str:
    if not _HEX.fullmatch(text) or not low <= len(text) <= high:
        raise ValueProblem(f"must be {low} to {high} hex digits (0-9, A-F), got {text[:20]!r}")
    return text.upper()


def _account(text: str) -> str:
    return "" if not text else _hex_digits(text, *ACCOUNT_DIGITS)


def _prefix(text: str) -> str:
    return "" if not text else _hex_digits(text, *PREFIX_DIGITS)


def _line(text: str) -> str:
    return _hex_digits(text, *PREFIX_DIGITS)


def _key(text: str) -> ArcKeyText | None:
    if not text:
        return None
    # The value is a secret: the problem says what is wrong, never what was given.
    if not _HEX.fullmatch(text) or len(text) not in KEY_DIGITS:
        raise ValueProblem(
            f"must be 32, 48 or 64 hex digits (an AES-128, -192 or -256 key), got {len(text)}"
            " characters (not shown)"
        )
    return ArcKeyText(text.upper())


def _duration(text: str, low: float, high: float) -> float:
    try:
        seconds = parse_duration(text)
    except PolicyError as exc:
        raise ValueProblem(exc.problem) from None
    if not low <= seconds <= high:
        raise ValueProblem(f"must be from {low:g}s to {high:g}s, got {text!r}")
    return seconds


def _ack_timeout(text: str) -> float:
    return _duration(text, 1, 120)


def _supervision(text: str) -> float:
    seconds = _duration(text, 0, 25 * 3600)
    if 0 < seconds < 60:
        raise ValueProblem(f'must be "0s" (off) or at least 60s, got {text!r}')
    return seconds


def _device_accounts(table: dict[str, Any]) -> dict[str, str]:
    accounts = {}
    for device_id, account in table.items():
        if not isinstance(account, str):
            raise ValueProblem("must be an account of 3 to 16 hex digits", at=f".{device_id}")
        try:
            accounts[device_id] = _hex_digits(account, *ACCOUNT_DIGITS)
        except ValueProblem as problem:
            raise ValueProblem(problem.problem, at=f".{device_id}") from None
    return accounts


_PHONE = re.compile(r"\+?[0-9][0-9 ()-]{2,29}")


def _phone(text: str) -> str:
    text = text.strip()
    if text and not _PHONE.fullmatch(text):
        raise ValueProblem(
            "must be a phone number: digits, spaces, ( ) and -, with an optional leading +"
        )
    return text


class ArcSettings(SettingsModel):
    primary: Annotated[ReceiverEndpoint | None, Parsed(str, _endpoint)] = setting(
        "",
        "The ARC's primary receiver, `host:port` as the ARC gives it; empty: no ARC (the `arc` "
        "channel sends nothing and the console shows no ARC link).",
    )
    backup: Annotated[ReceiverEndpoint | None, Parsed(str, _endpoint)] = setting(
        "",
        "The ARC's backup receiver, `host:port`: a message the primary NAKs or does not answer "
        "(`arc.attempts` times) goes there. Empty: none.",
    )
    transport: Literal["tcp", "udp"] = setting(
        "tcp", "How messages reach the receivers: `tcp` (as most ARCs expect) or `udp`."
    )
    account: Annotated[str, Parsed(str, _account)] = setting(
        "",
        "The account number the ARC gave this organisation: 3 to 16 hex digits (SIA DC-09). "
        "Needed when `arc.primary` is set.",
    )
    device_accounts: Annotated[dict[str, str], Parsed(dict, _device_accounts)] = setting(
        {},
        "Accounts of single devices where the ARC gave them their own, as a table of device id "
        'to account: `device_accounts = { "pi-0001" = "1234AB" }`. Other devices use '
        "`arc.account`.",
    )
    receiver: Annotated[str, Parsed(str, _prefix)] = setting(
        "",
        "The receiver number (`R` field, 1 to 6 hex digits) if the ARC asks for one; empty: "
        "the field is left out.",
    )
    line: Annotated[str, Parsed(str, _line)] = setting(
        "0", "The line number (`L` field, 1 to 6 hex digits) the ARC asks for; `0` if none."
    )
    key: Annotated[ArcKeyText | None, Parsed(str, _key)] = setting(
        "",
        "The account's AES key as 32, 48 or 64 hex digits (AES-128, -192, -256); empty: "
        "messages go unencrypted (a warning at start). A secret: set it by the environment "
        "variable to keep it out of the file; it is never logged.",
        env="LONEGUARD_ARC_KEY",
    )
    ack_timeout: Annotated[float, Parsed(str, _ack_timeout)] = setting(
        "10s",
        "How long the hub waits for a receiver's ACK before it counts the attempt as "
        "unanswered and tries again (1s to 120s).",
    )
    attempts: int = setting(
        3,
        "Attempts at each receiver (primary, then backup) in one round before the round fails; "
        "a failed alarm message is tried again, round after round, until an ARC acks it.",
        ge=1,
        le=10,
    )
    supervision_interval: Annotated[float, Parsed(str, _supervision)] = setting(
        "10m",
        "How often the hub sends the ARC a periodic test report (Contact ID 602) so both ends "
        "know the link works; `0s`: none. A failed test turns the link down on the console. "
        "10 minutes plus the retries notices a broken link well within the 30 minutes of EN "
        "50136-1 category SP3/DP2; agree the category with the ARC.",
    )
    group: int = setting(
        1, "The Contact ID group (partition) of every event, 0 to 99.", ge=0, le=99
    )
    send_location: bool = setting(
        True,
        "Send the alarm's last GNSS fix as DC-09 extended data (`[X<longitude>][Y<latitude>]`). "
        "A receiver that NAKs a message with it gets the same message again at once without it "
        "(same sequence number), so it never holds an alarm up. `false`: never sent, for an ARC "
        "whose receiver is known not to read it (the organisation's own messages carry the fix).",
    )
    phone: Annotated[str, Parsed(str, _phone)] = setting(
        "",
        "The ARC's operations phone number, as the ARC gives it: while the link is down the "
        "console's red banner tells the office to ring it with every alarm. Empty: the banner "
        "says to ring the ARC on the number agreed with it.",
    )

    @property
    def configured(self) -> bool:
        return self.primary is not None

    @model_validator(mode="after")
    def _account_with_receiver(self) -> ArcSettings:
        if self.primary is not None and not self.account:
            raise ValueProblem("is needed when arc.primary is set", at=".account")
        if self.backup is not None and self.primary is None:
            raise ValueProblem("needs arc.primary: set the primary receiver first", at=".backup")
        return self
