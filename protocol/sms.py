"""The SMS fallback line a device sends when MQTT or the hub is unreachable.

``LG1 <device_id> <KIND> <event_id> <ts_ms> <hmac8>``, where ``hmac8`` is the first 8 hex
digits of HMAC-SHA256 over everything before it (single spaces) with the device's secret.
``KIND`` is an event kind that may go by SMS, or ``TEST``: the line ``selftest --sms`` sends,
which the hub records as a test and never as an event or an alarm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from loneguard.protocol.errors import ProtocolError
from loneguard.protocol.fields import EVENT_ID_PATTERN, MAX_TS_MS
from loneguard.protocol.messages import Event, EventKind, Link
from loneguard.protocol.topics import check_device_id

MAGIC = "LG1"
MAX_LINE_LENGTH = 160  # one SMS of the GSM 7-bit alphabet
TEST_KIND: Literal["test"] = "test"


def _mac(secret: bytes, body: str) -> str:
    # Imported here: hmac maps OpenSSL's libcrypto (~4 MB), which a unit needs only on the day
    # it sends its fallback line.
    import hashlib
    import hmac

    return hmac.new(secret, body.encode("ascii"), hashlib.sha256).hexdigest()[:8]


@dataclass(frozen=True)
class FallbackLine:
    device_id: str
    kind: EventKind | Literal["test"]
    event_id: str
    ts: int

    def body(self) -> str:
        return f"{MAGIC} {self.device_id} {self.kind.upper()} {self.event_id} {self.ts}"

    def encode(self, secret: bytes) -> str:
        return f"{self.body()} {_mac(secret, self.body())}"

    @property
    def is_test(self) -> bool:
        return self.kind == TEST_KIND

    def to_event(self, seq: int = 0) -> Event:
        if self.kind == TEST_KIND:
            raise ProtocolError("sms.kind", "a TEST line is no event")
        return Event(id=self.event_id, kind=self.kind, ts=self.ts, seq=seq, link=Link.SMS)

    @classmethod
    def parse_unverified(cls, text: str) -> tuple[FallbackLine, str]:
        """Split a line into its fields and the claimed MAC; ``verify`` checks the MAC."""
        line = text.strip()
        if len(line) > MAX_LINE_LENGTH:
            raise ProtocolError("sms", f"longer than {MAX_LINE_LENGTH} characters")
        parts = line.split(" ")
        if len(parts) != 6 or parts[0] != MAGIC:
            raise ProtocolError("sms", f"not a '{MAGIC} <device> <KIND> <id> <ts> <hmac8>' line")
        _, device_id, kind_text, event_id, ts_text, mac = parts
        check_device_id(device_id, "sms.device_id")
        kind: EventKind | Literal["test"]
        try:
            kind = TEST_KIND if kind_text == "TEST" else EventKind(kind_text.lower())
        except ValueError:
            raise ProtocolError("sms.kind", f"unknown kind {kind_text[:20]!r}") from None
        if kind_text != kind_text.upper() or kind in (EventKind.SESSION_START,):
            raise ProtocolError("sms.kind", f"{kind_text[:20]!r} cannot be sent by SMS")
        if not EVENT_ID_PATTERN.fullmatch(event_id):
            raise ProtocolError("sms.event_id", "must be a lowercase UUID or an uppercase ULID")
        if not ts_text.isdigit() or int(ts_text) > MAX_TS_MS:
            raise ProtocolError("sms.ts", "must be a millisecond timestamp")
        if len(mac) != 8 or any(c not in "0123456789abcdef" for c in mac):
            raise ProtocolError("sms.hmac", "must be 8 lowercase hex digits")
        return cls(device_id, kind, event_id, int(ts_text)), mac

    def verify(self, mac: str, secret: bytes) -> None:
        import hmac  # see _mac

        if not hmac.compare_digest(mac, _mac(secret, self.body())):
            raise ProtocolError("sms.hmac", f"does not match the secret of device {self.device_id}")
