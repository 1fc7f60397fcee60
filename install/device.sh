#!/usr/bin/env bash
# Install or upgrade loneguard-device on Raspberry Pi OS (bookworm) or plain Debian bookworm on a
# Pi, from this checkout. Where the system lacks a piece Raspberry Pi OS has (python3-lgpio,
# raspi-config, the /dev/serial0 rule, NetworkManager/ModemManager), it says so and takes the
# nearest equivalent. Offline installs: PIP_NO_INDEX=1 PIP_FIND_LINKS=DIR (a wheelhouse).
# Safe to run again: an upgrade reinstalls the code and the unit, keeps /etc/loneguard/device.toml,
# device.env and the outbox in /var/lib/loneguard-device. Run as root: sudo install/device.sh
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
prefix=/opt/loneguard
etc=/etc/loneguard
user=loneguard

if [ "$(id -u)" -ne 0 ]; then echo "install/device.sh: run as root (sudo)" >&2; exit 1; fi

# lgpio from PyPI (0.2.2.0 has a cp311 manylinux aarch64 wheel) where the archive has no
# python3-lgpio.
lgpio_pypi="lgpio>=0.2.2,<0.3"

echo "== packages"
missing=()
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
lgpio_from_pypi=no
if ! python3 -c 'import lgpio' >/dev/null 2>&1; then
  if apt-cache show python3-lgpio >/dev/null 2>&1; then
    missing+=(python3-lgpio)
  else
    lgpio_from_pypi=yes
    echo "   no python3-lgpio in this system's archive (plain Debian): lgpio comes from PyPI"
  fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "== user $user (groups gpio, dialout, i2c)"
for group in gpio dialout i2c; do getent group "$group" >/dev/null || groupadd --system "$group"; done
if ! id "$user" >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /var/lib/loneguard-device --no-create-home \
    --shell /usr/sbin/nologin "$user"
fi
usermod -a -G gpio,dialout,i2c "$user"

echo "== code in $prefix"
install -d -m 0755 "$prefix"
# --system-site-packages lets gpiozero use Debian's lgpio (a compiled module) on the Pi.
[ -x "$prefix/.venv/bin/python" ] || python3 -m venv --system-site-packages "$prefix/.venv"
"$prefix/.venv/bin/python" -m pip install -q --upgrade pip
# --upgrade moves only as far as constraints.txt: to the versions this source tree was tested with.
"$prefix/.venv/bin/python" -m pip install -q --upgrade -c "$src/constraints.txt" "${src}[device]"
if [ "$lgpio_from_pypi" = yes ]; then
  "$prefix/.venv/bin/python" -m pip install -q "$lgpio_pypi"
fi
install -d -m 0755 "$prefix/src/docs"
install -m 0644 "$src/docs/install.md" "$prefix/src/docs/install.md"

echo "== configuration in $etc (kept if present)"
install -d -m 0750 -o root -g "$user" "$etc"
if [ ! -e "$etc/device.toml" ]; then
  "$prefix/.venv/bin/python" -m loneguard.device.config > "$etc/device.toml"
  chown root:"$user" "$etc/device.toml"; chmod 0640 "$etc/device.toml"
  echo "   wrote $etc/device.toml: set device.id and mqtt before starting"
fi
# A provisioned device.toml copied in by root must still be readable by the service's user.
chown root:"$user" "$etc/device.toml"
chmod 0640 "$etc/device.toml"
if [ ! -e "$etc/device.env" ]; then
  install -m 0600 -o root -g root "$src/systemd/device.env.example" "$etc/device.env"
fi

echo "== serial port for the modem (UART on, serial console off)"
if command -v raspi-config >/dev/null 2>&1; then
  raspi-config nonint do_serial_cons 1   # 1 = no login console on the serial port
  raspi-config nonint do_serial_hw 0     # 0 = serial hardware enabled
  raspi-config nonint do_i2c 0           # 0 = I2C on: the battery board's fuel gauge
fi
boot_config=/boot/firmware/config.txt
[ -e "$boot_config" ] || boot_config=/boot/config.txt
if [ -e "$boot_config" ]; then
  for line in enable_uart=1 dtoverlay=disable-bt; do
    grep -qx "$line" "$boot_config" || echo "$line" >> "$boot_config"
  done
  # Bluetooth's UART helper would fight over the port once disable-bt is on.
  systemctl disable --now hciuart.service >/dev/null 2>&1 || true
fi

echo "== device nodes: /dev/serial0 (the UART on GPIO14/15, the modem's), GPIO and I2C groups"
system_rule=no
for rules in /usr/lib/udev/rules.d/*.rules /lib/udev/rules.d/*.rules /etc/udev/rules.d/*.rules; do
  case "$rules" in *loneguard*) continue ;; esac
  if grep -qs 'SYMLINK+="serial%c"' "$rules"; then system_rule=yes; fi
done
if [ "$system_rule" = yes ]; then
  echo "   the system's own udev rules make them (Raspberry Pi OS)"
else
  echo "   no udev rule makes them here (plain Debian): installing Raspberry Pi OS's equivalent"
  install -d -m 0755 /usr/local/lib/loneguard
  install -m 0755 "$src/install/udev/loneguard-serial-alias" /usr/local/lib/loneguard/serial-alias
  install -m 0644 "$src/install/udev/60-loneguard-pi.rules" /etc/udev/rules.d/
  udevadm control --reload
  udevadm trigger --action=add --subsystem-match=tty --subsystem-match=gpio \
    --subsystem-match=i2c-dev --subsystem-match=bcm2835-gpiomem
  udevadm settle --timeout=10 || true
fi
[ -e /dev/serial0 ] || echo "   warning: no /dev/serial0 yet (it appears once the UART is enabled)"

echo "== mobile data (NetworkManager + ModemManager)"
if command -v nmcli >/dev/null 2>&1 && { command -v ModemManager >/dev/null 2>&1 ||
     [ -x /usr/sbin/ModemManager ]; }; then
  "$prefix/.venv/bin/python" -m loneguard.device.cellular --config "$etc/device.toml"
  udevadm control --reload
  nmcli connection reload || true
  nmcli general reload conf >/dev/null 2>&1 || true
else
  echo "   NetworkManager or ModemManager is not installed: no data over the 4G modem; MQTT"
  echo "   goes over Wi-Fi or Ethernet only (panic and duress still go by SMS). To add it:"
  echo "   apt-get install network-manager modemmanager, then run this script again."
fi

echo "== service"
install -m 0644 "$src/systemd/loneguard-device.service" /etc/systemd/system/
install -m 0644 "$src/systemd/loneguard-device-selftest.service" /etc/systemd/system/
systemctl daemon-reload
systemctl enable loneguard-device.service
if grep -q '^id = "unit-01"  # required' "$etc/device.toml"; then
  echo "   not started: edit $etc/device.toml first, then: systemctl start loneguard-device"
else
  systemctl restart loneguard-device.service
fi
echo "done. A change to $boot_config needs a reboot."
