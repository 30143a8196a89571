#!/usr/bin/env bash
# Installs what dropscope needs to build and test on a fresh Debian machine.
# Idempotent: skips apt when every package is already present.
set -euo pipefail

packages=(libpcap-dev mosquitto mosquitto-clients tcpdump iptables iproute2 conntrack
          librsvg2-bin python3-paho-mqtt tcpreplay time chromium
          systemd groff-base man-db logrotate nats-server)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust with rustup" >&2; exit 1; }
