#!/bin/bash
# Run inside the emulated Pi by the image's loneguard-rig.service, from the firmware partition
# (/boot/firmware/rig/), in one boot. Each step prints one "RIG <step> <result> [detail]" line on
# the console, which tests/pi/test_emulated_pi.py reads; the host side (broker, fake modem)
# follows the steps. The host starts the broker only after "RIG want-broker": until then MQTT is
# unreachable, as on a unit that boots with no network.
set -u
rig=/boot/firmware/rig
say() { echo "RIG $*"; }
unit=loneguard-device
wait_for() {  # wait_for SECONDS COMMAND...: poll every 2 s until COMMAND succeeds
  local until=$((SECONDS + $1)); shift
  until "$@"; do
    [ $SECONDS -lt $until ] || return 1
    sleep 2
  done
}
is_active() { [ "$(systemctl show -P ActiveState "$1")" = active ]; }
status_has() { systemctl show -P StatusText "$unit" | grep -q "$1"; }
restarts() { systemctl show -P NRestarts "$unit"; }

# The host's time (the guest has no clock source and no network time).
date -s "@$(cat "$rig/epoch")" >/dev/null
# QEMU's usb-net is an RNDIS device the kernel names usb0, which no predictable name replaces on
# this board (no PCI path): give systemd-networkd a match for it too (the image matches en*).
if ! ip -4 -br addr | grep -q '10\.0\.2\.'; then
  printf '[Match]\nName=usb*\n[Network]\nDHCP=ipv4\n' > /etc/systemd/network/21-usb0.network
  networkctl reload
fi
say net "$(ip -br link | tr -s ' ' | tr '\n' ';')"
say boot ok "$(uname -r) $(tr -d '\000' < /proc/device-tree/model)"

mkdir -p /root/src /root/wheels
tar -xf "$rig/src.tar" -C /root/src
cp "$rig"/wheels/* /root/wheels/
# The provisioned configuration, as 'loneguard-hub devices provision' wrote it for this unit.
install -d -m 0750 /etc/loneguard
install -m 0640 "$rig/device.toml" /etc/loneguard/device.toml
install -m 0600 "$rig/device.env" /etc/loneguard/device.env
printf 'LONEGUARD_SELFTEST_ARGS=--sms --no-buttons\n' > /etc/loneguard/selftest.env

say install start
start=$SECONDS
if PIP_NO_INDEX=1 PIP_FIND_LINKS=/root/wheels bash /root/src/install/device.sh; then
  say install ok "$((SECONDS - start))s"
else
  say install FAIL "exit $?"
fi
say serial0 "$(readlink -f /dev/serial0 || echo missing)"

# The service under the shipped unit, with the broker unreachable (the host has not started it).
if wait_for 240 is_active "$unit"; then
  say ready ok "$(systemctl show -P StatusText "$unit")"
else
  say ready FAIL "$(systemctl show -P ActiveState,Result "$unit" | tr '\n' ' ')"
  journalctl -u "$unit" -b --no-pager | tail -30
fi

# The self-test as its oneshot unit: a test SMS over the emulated UART, no broker yet.
systemctl start loneguard-device-selftest.service
say selftest "$(systemctl show -P Result loneguard-device-selftest.service)"
journalctl -u loneguard-device-selftest.service -b --no-pager -o cat | sed 's/^/RIG selftest-out /'
systemctl start "$unit"

say net "$(ip -br addr | tr -s ' ' | tr '\n' ';') route: $(ip route | tr '\n' ';')"
say want-broker
if wait_for 180 status_has ' online,'; then
  say online ok "$(systemctl show -P StatusText "$unit")"
  # Online; let a heartbeat or two reach the host's broker before the freeze below (the test
  # sets timing.heartbeat_interval = 10; the first beat goes one interval after connecting).
  sleep 22
else
  say online FAIL "$(systemctl show -P StatusText "$unit")"
fi

# A frozen main loop: the watchdog (WatchdogSec) must restart the unit.
before="$(restarts)"
pid="$(systemctl show -P MainPID "$unit")"
kill -STOP "$pid"
say frozen "$pid"
if wait_for 150 bash -c "[ \"\$(systemctl show -P NRestarts $unit)\" -gt $before ]" &&
   wait_for 120 is_active "$unit"; then
  say watchdog ok "restarts $before -> $(restarts), $(systemctl show -P StatusText "$unit")"
else
  say watchdog FAIL "restarts $(restarts) $(systemctl show -P ActiveState "$unit")"
fi
wait_for 120 status_has ' online,' || true

# A copy of the shipped unit with ProcSubset=pid put back must fail: the check above would catch
# the regression.
systemctl stop "$unit"
sed 's/^ProtectProc=invisible$/ProtectProc=invisible\nProcSubset=pid/' \
  /etc/systemd/system/$unit.service > /etc/systemd/system/$unit-procsubset.service
systemctl daemon-reload
timeout 180 systemctl start $unit-procsubset.service
if is_active $unit-procsubset; then
  say procsubset active
else
  say procsubset failed "$(systemctl show -P Result $unit-procsubset)"
fi
journalctl -u $unit-procsubset -b --no-pager -o cat | grep -m2 'loneguard-device:' |
  sed 's/^/RIG procsubset-out /'
systemctl stop $unit-procsubset.service
say finished
