import pytest
from hypothesis import given
from hypothesis import strategies as st

from loneguard.protocol.errors import ProtocolError
from loneguard.protocol.topics import (
    HUB_STATUS_TOPIC,
    Channel,
    DeviceTopic,
    device_filter,
    shared_device_filter,
)

device_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", fullmatch=True)


def test_builds_the_documented_topic() -> None:
    assert str(DeviceTopic("dev-001", Channel.EVENT)) == "loneguard/v1/dev/dev-001/event"
    assert HUB_STATUS_TOPIC == "loneguard/v1/hub/status"


@given(device_ids, st.sampled_from(list(Channel)))
def test_round_trips(device_id: str, channel: Channel) -> None:
    topic = DeviceTopic(device_id, channel)
    assert DeviceTopic.parse(str(topic)) == topic


@pytest.mark.parametrize(
    "topic, field",
    [
        ("loneguard/v1/dev/dev-1/unknown", "topic"),
        ("loneguard/v2/dev/dev-1/event", "topic"),
        ("loneguard/v1/dev/dev-1/event/extra", "topic"),
        ("loneguard/v1/dev//event", "topic.device_id"),
        ("loneguard/v1/dev/+/event", "topic.device_id"),
        ("loneguard/v1/dev/a b/event", "topic.device_id"),
    ],
)
def test_rejects_topics_naming_the_part(topic: str, field: str) -> None:
    with pytest.raises(ProtocolError) as info:
        DeviceTopic.parse(topic)
    assert info.value.field == field


@pytest.mark.parametrize("bad", ["", "#", "a/b", "-lead", "x" * 65, "ü"])
def test_device_id_is_checked_at_construction(bad: str) -> None:
    with pytest.raises(ProtocolError, match=r"device_id"):
        DeviceTopic(bad, Channel.EVENT)


def test_filters() -> None:
    assert device_filter(Channel.STATUS) == "loneguard/v1/dev/+/status"
    assert shared_device_filter(Channel.EVENT) == "$share/loneguard-hub/loneguard/v1/dev/+/event"
