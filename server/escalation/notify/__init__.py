"""Notifiers: the console stream, SMS and voice calls through the GSM modem (calls made from the
console where no modem rings), apprise URLs, and the dispatcher that retries them until someone
takes charge."""

from loneguard.server.escalation.notify.apprise_channel import AppriseChannel
from loneguard.server.escalation.notify.call_channel import ConsoleCallChannel, ModemCallChannel
from loneguard.server.escalation.notify.console_channel import Broadcaster, ConsoleChannel
from loneguard.server.escalation.notify.dispatcher import Dispatcher
from loneguard.server.escalation.notify.notification import (
    Channel,
    DeliveryResult,
    Notification,
    Recipient,
    channel_gap,
)
from loneguard.server.escalation.notify.sms_channel import SmsChannel

__all__ = [
    "AppriseChannel",
    "Broadcaster",
    "Channel",
    "ConsoleCallChannel",
    "ConsoleChannel",
    "DeliveryResult",
    "Dispatcher",
    "ModemCallChannel",
    "Notification",
    "Recipient",
    "SmsChannel",
    "channel_gap",
]
