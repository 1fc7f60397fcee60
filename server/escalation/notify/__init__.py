"""Notifiers: the console stream, SMS through the GSM modem, apprise URLs, and the dispatcher
that retries them until someone takes charge."""

from loneguard.server.escalation.notify.apprise_channel import AppriseChannel
from loneguard.server.escalation.notify.base import (
    CHANNEL_NAMES,
    Channel,
    DeliveryResult,
    Notification,
    Recipient,
)
from loneguard.server.escalation.notify.console import Broadcaster, ConsoleChannel
from loneguard.server.escalation.notify.dispatcher import Dispatcher
from loneguard.server.escalation.notify.sms import CallChannel, SmsChannel, alarm_sms

__all__ = [
    "CHANNEL_NAMES",
    "AppriseChannel",
    "Broadcaster",
    "CallChannel",
    "Channel",
    "ConsoleChannel",
    "DeliveryResult",
    "Dispatcher",
    "Notification",
    "Recipient",
    "SmsChannel",
    "alarm_sms",
]
