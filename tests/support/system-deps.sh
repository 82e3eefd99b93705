#!/usr/bin/env bash
# Installs the Debian packages the test suite needs when they are missing: the PostgreSQL
# server and Redis (throw-away servers are started by the tests), Chromium (browser tests),
# haproxy (in front of several hub workers), coturn (TURN relay), janus (the SFU of rooms with
# more than two parties), iproute2 (network cuts) and dovecot-imapd (the hub's MSSanté mailbox).
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-dejavu-core)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v turnserver >/dev/null 2>&1 || need+=(coturn)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v janus >/dev/null 2>&1 || need+=(janus)
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
if ((${#need[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing system packages: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian starts the servers it installs; the tests start their own on free loopback ports.
for unit in redis-server haproxy coturn janus dovecot; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$unit" 2>/dev/null; then
    systemctl stop "$unit" || true
  fi
done
