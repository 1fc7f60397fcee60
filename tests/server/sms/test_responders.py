"""Who an ``ACK`` reply comes from: numbers compared in E.164, never by their last digits."""

from __future__ import annotations

from loneguard.protocol.clock import FakeClock
from loneguard.server.config import Person
from loneguard.server.sms.responders import SmsAcks
from loneguard.server.store import Worker
from loneguard.server.store.sqlite import SqlStore


def test_a_sender_is_matched_in_e164_whatever_the_format(store: SqlStore) -> None:
    store.save_worker(Worker("w-max", "Max Manager", mobile="+447700900002")).result()
    store.save_worker(Worker("w-old", "Olga Older", mobile="07700 900003")).result()  # legacy
    acks = SmsAcks(store, FakeClock(), (Person("Office", "+441632960009"),), lambda _: None)
    assert acks.who("+447700900002") == "Max Manager"
    assert acks.who("07700900002") == "Max Manager"  # a network that gives it nationally
    assert acks.who("00447700900003") == "Olga Older"
    assert acks.who("+441632960009") == "Office"
    # The same last nine digits in another country are another phone.
    assert acks.who("+337700900002") is None
    assert acks.who("not a number") is None
