#!/usr/bin/env bash
# The README's main command: install what podwire needs, build it, and bring up the sandbox cluster
# (NODES=3 NAME=pw PROXY_MODE=iptables by default), then print how to use it.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(iptables conntrack iproute2 dnsutils socat util-linux containernetworking-plugins curl)
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
name="${NAME:-pw}"
./bin/podwire up --nodes "${NODES:-3}" --name "$name" --proxy-mode "${PROXY_MODE:-iptables}"
kc="/var/lib/podwire/sandbox/$name/kubeconfig"
cat <<USAGE

Try it:
  export KUBECONFIG=$kc
  kubectl get nodes -o wide
  kubectl create deployment web --image=registry.k8s.io/e2e-test-images/agnhost:2.47 --replicas=3 -- /agnhost netexec --http-port=8080
  kubectl expose deployment web --port=80 --target-port=8080
  kubectl get pods -o wide; kubectl get svc web
  ip netns exec $name-node1 curl -s \$(kubectl get svc web -o jsonpath='{.spec.clusterIP}')/hostname
  ./bin/podwire status --name $name
  ./bin/podwire down --name $name     # removes every namespace, process and file it made
USAGE
