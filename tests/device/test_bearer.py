from __future__ import annotations

from pathlib import Path

from loneguard.device.bearer import kind_of, route_interface

# /proc/net/route as a Pi with Wi-Fi (metric 600) and a cellular modem (metric 700) shows it,
# plus a host route to the broker over the modem. Addresses are little-endian hex.
ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
wwan0\t00000000\t01000A0A\t0003\t0\t0\t700\t00000000\t0\t0\t0
wlan0\t0001A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0
wwan0\t0000000A\t00000000\t0001\t0\t0\t700\t000000FF\t0\t0\t0
wwan0\t0102A8C0\t00000000\t0005\t0\t0\t50\tFFFFFFFF\t0\t0\t0
eth9\t00000000\t00000000\t0000\t0\t0\t1\t00000000\t0\t0\t0
"""


def test_the_lowest_metric_default_route_wins() -> None:
    assert route_interface("203.0.113.7", ROUTES) == "wlan0"


def test_the_most_specific_route_wins_over_the_metric() -> None:
    assert route_interface("10.1.2.3", ROUTES) == "wwan0"  # 10.0.0.0/8 beats the default
    assert route_interface("192.168.2.1", ROUTES) == "wwan0"  # the /32 host route
    assert route_interface("192.168.1.9", ROUTES) == "wlan0"


def test_no_route_and_routes_that_are_down_give_none() -> None:
    only_down = ROUTES.splitlines()[0] + "\n" + ROUTES.splitlines()[-1]
    assert route_interface("203.0.113.7", only_down) is None
    assert route_interface("not an address", ROUTES) is None


def test_interfaces_are_told_apart_by_sysfs_then_by_name(tmp_path: Path) -> None:
    (tmp_path / "wlp1s0" / "wireless").mkdir(parents=True)
    (tmp_path / "cdc-wdm-ish").mkdir()
    (tmp_path / "cdc-wdm-ish" / "uevent").write_text("DEVTYPE=wwan\nINTERFACE=cdc-wdm-ish\n")
    assert kind_of("wlp1s0", tmp_path) == "wifi"
    assert kind_of("cdc-wdm-ish", tmp_path) == "cellular"
    assert kind_of("wlan0", tmp_path) == "wifi"  # no sysfs entry: by name
    assert kind_of("ppp0", tmp_path) == "cellular"
    assert kind_of("wwan0", tmp_path) == "cellular"
    assert kind_of("eth0", tmp_path) == "wired"
