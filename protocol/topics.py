"""MQTT topics as value objects that validate themselves.

Every topic lives under ``loneguard/v1``. Device topics are ``dev/{device_id}/{channel}``;
the hub's retained status is ``hub/status``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from loneguard.protocol.errors import ProtocolError

PREFIX = "loneguard/v1"
HUB_STATUS_TOPIC = f"{PREFIX}/hub/status"
SHARED_GROUP = "loneguard-hub"

# No MQTT wildcards, separators or spaces can appear in an id, so a topic always parses back.
DEVICE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class Channel(StrEnum):
    STATUS = "status"
    EVENT = "event"
    HEARTBEAT = "heartbeat"
    ACK = "ack"
    CMD = "cmd"


def check_device_id(device_id: object, field: str = "device_id") -> str:
    if not isinstance(device_id, str):
        raise ProtocolError(field, f"must be a string, got {type(device_id).__name__}")
    if not DEVICE_ID_PATTERN.fullmatch(device_id):
        raise ProtocolError(
            field, "must be 1-64 characters of letters, digits, '-' or '_', starting alphanumeric"
        )
    return device_id


@dataclass(frozen=True)
class DeviceTopic:
    device_id: str
    channel: Channel

    def __post_init__(self) -> None:
        check_device_id(self.device_id)
        if not isinstance(self.channel, Channel):
            raise ProtocolError("channel", f"unknown channel {self.channel!r}")

    def __str__(self) -> str:
        return f"{PREFIX}/dev/{self.device_id}/{self.channel.value}"

    @classmethod
    def parse(cls, topic: str) -> DeviceTopic:
        parts = topic.split("/")
        if len(parts) != 5 or "/".join(parts[:2]) != PREFIX or parts[2] != "dev":
            raise ProtocolError(
                "topic", f"not a loneguard/v1/dev/{{id}}/{{channel}} topic: {topic[:120]!r}"
            )
        try:
            channel = Channel(parts[4])
        except ValueError:
            raise ProtocolError("topic", f"unknown channel {parts[4][:40]!r}") from None
        return cls(check_device_id(parts[3], "topic.device_id"), channel)


def device_filter(channel: Channel) -> str:
    """The subscription filter matching ``channel`` of every device."""
    return f"{PREFIX}/dev/+/{channel.value}"


def shared_device_filter(channel: Channel, group: str = SHARED_GROUP) -> str:
    """The same filter as a shared subscription, so several hubs split the load."""
    return f"$share/{group}/{device_filter(channel)}"
