#!/usr/bin/env bash
# The README's main command: install what podwire needs, build it, and bring up the sandbox cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(iptables conntrack iproute2 dnsutils socat util-linux containernetworking-plugins)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
npm ci --no-audit --no-fund --loglevel=error >/dev/null
npm run --silent build
exec ./bin/podwire up --nodes "${NODES:-3}" --name "${NAME:-pw}"
