"""Settings of the delivery manager's copy, the calendar feeds and the signal black spots: the
``[delivery_manager]``, ``[calendar]`` and ``[signal]`` sections, declared here."""

from __future__ import annotations

import re
from typing import Annotated, Any

from loneguard.server.settings_schema import Parsed, SettingsModel, ValueProblem, setting

_PHONE = re.compile(r"\+?[0-9][0-9 ]{5,19}")


def _apprise_urls(entries: list[Any]) -> tuple[str, ...]:
    for i, item in enumerate(entries):
        if not isinstance(item, str) or "://" not in item:
            raise ValueProblem('must be an apprise URL like "mailto://..."', at=f"[{i}]")
    return tuple(entries)


def _phones(entries: list[Any]) -> tuple[str, ...]:
    found = []
    for i, item in enumerate(entries):
        if not isinstance(item, str) or not _PHONE.fullmatch(item.strip()):
            raise ValueProblem('must be a phone number like "+447700900123"', at=f"[{i}]")
        found.append(item.strip().replace(" ", ""))
    return tuple(found)


def _minutes(text: str) -> int:
    match = re.fullmatch(r"(\d{1,4})m", text)
    if match is None or int(match.group(1)) > 7 * 24 * 60:
        raise ValueProblem(f'must be minutes like "30m" (at most a week), got {text[:20]!r}')
    return int(match.group(1))


class DeliveryManagerSettings(SettingsModel):
    apprise_urls: Annotated[tuple[str, ...], Parsed(list, _apprise_urls)] = setting(
        [],
        "Where the delivery manager's copy of every visit arrangement (planned, changed, "
        "cancelled; CIC App.1 1.1) is sent: apprise URLs, e.g. "
        '`["mailto://user:password@mail.example.org?to=delivery@example.org"]`. They hold '
        "credentials: never logged.",
    )
    sms: Annotated[tuple[str, ...], Parsed(list, _phones)] = setting(
        [],
        "Phone numbers that get a one-SMS summary of each arrangement through the hub's modem "
        '(`modem.port`), e.g. `["+447700900123"]`; empty: no SMS.',
    )


class CalendarSettings(SettingsModel):
    reminder: Annotated[int, Parsed(str, _minutes)] = setting(
        "30m",
        "How long before a planned visit's start its calendar entry reminds (the `VALARM` of "
        'the ICS feeds): minutes, like `"30m"`; `"0m"` reminds at the start.',
    )


class SignalSettings(SettingsModel):
    poor_dbm: int = setting(
        -95,
        "A heartbeat during a visit whose signal is below this many dBm (`AT+CSQ` 9 is -95 dBm, "
        "the edge of a usable call) counts as poor signal at the visit's address; a unit not "
        "registered on the network counts as no signal.",
        ge=-150,
        le=0,
    )
