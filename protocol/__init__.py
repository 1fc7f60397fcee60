"""The loneguard wire contract: MQTT topics, JSON messages and the SMS fallback line.

Standard library only, so the device (a Pi Zero 2 W) and the hub share one definition.
"""

from loneguard.protocol.errors import ProtocolError

__all__ = ["ProtocolError"]
