"""Does the broker let anyone in? Checked once at hub start, with an anonymous connection.

A broker that accepts clients without a login lets anyone publish as any device: forged
check-ins end visits, forged panics raise alarms. The hub refuses to start on one unless its
configuration says it is a demo (``mqtt.demo``). If the broker cannot be reached at all, nothing
is decided here: the hub starts and keeps trying to connect, as it always does.
"""

from __future__ import annotations

import logging
import ssl

import aiomqtt

from loneguard.server.config import ConfigError, HubConfig

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 5.0
PROBE_CLIENT_ID = "loneguard-hub-anonymous-probe"


async def accepts_anonymous(config: HubConfig) -> bool | None:
    """True if the broker took a connection with no user name; None if it could not be asked."""
    url = config.mqtt.url
    client = aiomqtt.Client(
        url.host,
        url.port,
        identifier=PROBE_CLIENT_ID,
        tls_context=ssl.create_default_context() if url.tls else None,
        timeout=PROBE_TIMEOUT_S,
    )
    try:
        async with client:
            return True
    except aiomqtt.MqttCodeError as exc:  # a CONNACK refusing us: the broker wants a login
        log.debug("anonymous probe refused: %s", exc)
        return False
    except (aiomqtt.MqttError, OSError) as exc:
        log.warning("could not check whether %s lets anyone in: %s", url, exc)
        return None


async def refuse_open_broker(config: HubConfig) -> None:
    """Raise ``ConfigError`` if the broker lets anyone in and this hub is not a demo."""
    if config.mqtt.demo:
        log.warning("demo hub: devices' messages are not checked against a broker login")
        return
    if await accepts_anonymous(config):
        raise ConfigError(
            f"mqtt.url: the broker at {config.mqtt.url} lets clients connect without a login, "
            "so anyone could send messages as any device. Use the shipped broker config "
            "(docs/broker.md), or set mqtt.demo = true for a demo or a test."
        )
