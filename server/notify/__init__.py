"""Notifiers: the console stream, SMS through the GSM modem, apprise URLs, and the dispatcher
that retries them until someone takes charge."""

from server.notify.apprise_channel import AppriseChannel
from server.notify.base import CHANNEL_NAMES, Channel, DeliveryResult, Notification, Recipient
from server.notify.console import Broadcaster, ConsoleChannel
from server.notify.dispatcher import Dispatcher
from server.notify.sms import CallChannel, SmsChannel, alarm_sms

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
