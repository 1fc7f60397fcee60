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
"$prefix/.venv/bin/python" -m pip install -q --upgrade "${src}[hub]"
install -d -m 0755 "$prefix/src/docs"
install -m 0644 "$src/docs/install.md" "$prefix/src/docs/install.md"

echo "== configuration in $etc (kept if present)"
install -d -m 0750 -o root -g "$user" "$etc"
if [ ! -e "$etc/hub.toml" ]; then
  printf '%s\n' "# loneguard hub settings: see docs/configuration.md" "[log]" 'level = "info"' \
    > "$etc/hub.toml"
  chown root:"$user" "$etc/hub.toml"; chmod 0640 "$etc/hub.toml"
fi
if [ ! -e "$etc/hub.env" ]; then
  install -m 0600 -o root -g root "$src/systemd/hub.env.example" "$etc/hub.env"
fi

echo "== data in $state (kept)"
# The same folder systemd's StateDirectory= makes; created here so migrate can run first.
install -d -m 0700 -o "$user" -g "$user" "$state"

echo "== database migration"
(
  set -a
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
systemctl restart loneguard-hub.service
echo "done. Token for the console: runuser -u $user -- env -C $state $prefix/.venv/bin/loneguard-hub token create --name admin --role admin --config $etc/hub.toml"
