#!/usr/bin/env bash
# Install or upgrade loneguard-hub on Debian 12, from this checkout. Safe to run again: an upgrade
# reinstalls the code and the unit, migrates the database, and keeps /etc/loneguard/hub.toml,
# hub.env and the data in /var/lib/loneguard-hub. Run as root: sudo install/hub.sh
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
prefix=/opt/loneguard
etc=/etc/loneguard
state=/var/lib/loneguard-hub
user=loneguard-hub

if [ "$(id -u)" -ne 0 ]; then echo "install/hub.sh: run as root (sudo)" >&2; exit 1; fi

echo "== packages"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv mosquitto >/dev/null

echo "== user $user"
if ! id "$user" >/dev/null 2>&1; then
  useradd --system --user-group --home-dir "$state" --no-create-home \
    --shell /usr/sbin/nologin "$user"
fi

echo "== code in $prefix"
install -d -m 0755 "$prefix"
[ -x "$prefix/.venv/bin/python" ] || python3 -m venv "$prefix/.venv"
"$prefix/.venv/bin/python" -m pip install -q --upgrade pip
# --upgrade moves only as far as constraints.txt: to the versions this source tree was tested with.
"$prefix/.venv/bin/python" -m pip install -q --upgrade -c "$src/constraints.txt" "${src}[hub]"
install -d -m 0755 "$prefix/src/docs"
install -m 0644 "$src/docs/install.md" "$prefix/src/docs/install.md"

echo "== configuration in $etc (kept if present)"
# 0755: the broker (user mosquitto) reads its files in $etc/broker; each file below guards itself.
install -d -m 0755 -o root -g root "$etc"
if [ ! -e "$etc/hub.toml" ]; then
  printf '%s\n' "# loneguard hub settings: see docs/configuration.md" "[log]" 'level = "info"' \
    > "$etc/hub.toml"
  chown root:"$user" "$etc/hub.toml"; chmod 0640 "$etc/hub.toml"
fi
if [ ! -e "$etc/hub.env" ]; then
  install -m 0600 -o root -g root "$src/systemd/hub.env.example" "$etc/hub.env"
fi

echo "== broker: shipped config, TLS certificate, hub account and ACL in $etc/broker"
broker_dir="$etc/broker"
install -d -m 0755 "$broker_dir"
# Idempotent: keeps the CA and the hub's password when run again. It prints the hub's broker URL,
# which it also keeps in $broker_dir/hub.env (0600), read by loneguard-hub.service.
"$prefix/.venv/bin/loneguard-hub" broker init --broker-dir "$broker_dir" \
  --host "$(hostname -f 2>/dev/null || hostname)" --host localhost >/dev/null
install -m 0644 "$src/broker/mosquitto.conf" "$src/broker/acl" "$broker_dir/"
# Debian's mosquitto.service runs the shipped config instead of /etc/mosquitto/mosquitto.conf.
install -d -m 0755 /etc/systemd/system/mosquitto.service.d
printf '%s\n' "[Service]" "ExecStart=" \
  "ExecStart=/usr/sbin/mosquitto -c $broker_dir/mosquitto.conf" \
  > /etc/systemd/system/mosquitto.service.d/loneguard.conf

echo "== data in $state (kept)"
# The same folder systemd's StateDirectory= makes; created here so migrate can run first.
install -d -m 0700 -o "$user" -g "$user" "$state"

echo "== database migration"
(
  set -a
  # shellcheck disable=SC1091
  . "$broker_dir/hub.env"
  # shellcheck disable=SC1091
  . "$etc/hub.env"
  set +a
  cd "$state"
  runuser -u "$user" -- "$prefix/.venv/bin/loneguard-hub" migrate --config "$etc/hub.toml"
)

echo "== service"
install -m 0644 "$src/systemd/loneguard-hub.service" /etc/systemd/system/
systemctl daemon-reload
systemctl enable mosquitto.service loneguard-hub.service
systemctl restart mosquitto.service loneguard-hub.service
echo "Add a device: $prefix/.venv/bin/loneguard-hub devices provision ID --broker-dir $broker_dir --mqtt-url mqtts://$(hostname -f 2>/dev/null || hostname):8883 --out ID.toml --mosquitto-pid \"\$(pidof mosquitto)\""
echo "done. Token for the console: runuser -u $user -- env -C $state $prefix/.venv/bin/loneguard-hub token create --name admin --role admin --config $etc/hub.toml"
