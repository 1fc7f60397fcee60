#!/usr/bin/env bash
# Install or upgrade loneguard-device on Raspberry Pi OS (bookworm), from this checkout.
# Safe to run again: an upgrade reinstalls the code and the unit, keeps /etc/loneguard/device.toml,
# device.env and the outbox in /var/lib/loneguard-device. Run as root: sudo install/device.sh
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
prefix=/opt/loneguard
etc=/etc/loneguard
user=loneguard

if [ "$(id -u)" -ne 0 ]; then echo "install/device.sh: run as root (sudo)" >&2; exit 1; fi

echo "== packages"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-lgpio >/dev/null

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
install -d -m 0755 "$prefix/src/docs"
install -m 0644 "$src/docs/install.md" "$prefix/src/docs/install.md"

echo "== configuration in $etc (kept if present)"
install -d -m 0750 -o root -g "$user" "$etc"
if [ ! -e "$etc/device.toml" ]; then
  "$prefix/.venv/bin/python" -m loneguard.device.config > "$etc/device.toml"
  chown root:"$user" "$etc/device.toml"; chmod 0640 "$etc/device.toml"
  echo "   wrote $etc/device.toml: set device.id and mqtt before starting"
fi
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

echo "== service"
install -m 0644 "$src/systemd/loneguard-device.service" /etc/systemd/system/
systemctl daemon-reload
systemctl enable loneguard-device.service
if grep -q '^id = "unit-01"  # required' "$etc/device.toml"; then
  echo "   not started: edit $etc/device.toml first, then: systemctl start loneguard-device"
else
  systemctl restart loneguard-device.service
fi
echo "done. A change to $boot_config needs a reboot."
