#!/usr/bin/env bash
# Captures golden OpenVPN 2.6 packets for Postern's wire and crypto tests.
#
# For each scenario it builds a network namespace of its own, runs a real `openvpn` server and
# client in it over 127.0.0.1, records the loopback link with tcpdump, and writes
#   <scenario>.pcap   the packets as captured
#   <scenario>.json   the same packets as hex, plus the keying material that protected them
# next to this script. The data-channel key block is not printed by OpenVPN, so both peers run
# with ekm-log.so (built here from ekm-log.c) in LD_PRELOAD, which logs every RFC 5705 export.
#
# The tls-crypt and tls-crypt-v2 keys are committed and reused; delete them to make new ones.
# The PKI is throwaway. Nothing touches the root namespace: every process runs inside the
# namespace, which is deleted on exit, failure included.
#
# Needs root, openvpn (2.6), tcpdump, openssl, iputils-ping, gcc with libc headers, node.
# Usage: sudo test/vectors/openvpn/capture.sh [scenario...]
#   scenarios: udp-tls-crypt (with one renegotiation), udp-tls-crypt-v2, tcp-tls-crypt
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d /tmp/postern-ovpn-capture.XXXXXX)"
NS=""
PIDS=()

cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.3
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  PIDS=()
  if [[ -n "$NS" ]]; then ip netns del "$NS" 2>/dev/null || true; NS=""; fi
  if [[ "${KEEP_WORK:-}" == 1 ]]; then echo "# kept $WORK" >&2; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT INT TERM

need() { command -v "$1" >/dev/null || { echo "capture.sh: $1 is missing" >&2; exit 1; }; }
[[ "$(id -u)" == 0 ]] || { echo "capture.sh: run as root (network namespaces)" >&2; exit 1; }
for tool in openvpn tcpdump openssl ping gcc node ip; do need "$tool"; done

gcc -shared -fPIC -O2 -o "$WORK/ekm-log.so" "$HERE/ekm-log.c" -ldl

# Throwaway PKI: an EC CA, one server and one client certificate.
pki() {
  cd "$WORK"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
    -out ca.crt -days 30 -subj /CN=postern-capture-ca 2>/dev/null
  for name in server client; do
    local usage=serverAuth
    [[ "$name" == client ]] && usage=clientAuth
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$name.key" \
      -out "$name.csr" -subj "/CN=$name" 2>/dev/null
    printf 'keyUsage=digitalSignature\nextendedKeyUsage=%s\n' "$usage" >"$name.ext"
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$name.crt" \
      -days 30 -extfile "$name.ext" 2>/dev/null
  done
  cd - >/dev/null
}
pki

# The client's TUN gets no address (server and client share one namespace), but it must be up:
# OpenVPN stalls on a TUN write to a down device, and the server pings through the tunnel.
printf '#!/bin/sh\nexec ip link set dev "$1" up\n' >"$WORK/tun-up.sh"
chmod 755 "$WORK/tun-up.sh"

# Committed keys: created once, reused on every later capture.
[[ -f "$HERE/tls-crypt.key" ]] || openvpn --genkey tls-crypt "$HERE/tls-crypt.key"
[[ -f "$HERE/tls-crypt-v2-server.key" ]] ||
  openvpn --genkey tls-crypt-v2-server "$HERE/tls-crypt-v2-server.key"
[[ -f "$HERE/tls-crypt-v2-client.key" ]] ||
  openvpn --tls-crypt-v2 "$HERE/tls-crypt-v2-server.key" \
    --genkey tls-crypt-v2-client "$HERE/tls-crypt-v2-client.key"
# A second client key with USER metadata (base64 of "postern user metadata").
[[ -f "$HERE/tls-crypt-v2-client-user.key" ]] ||
  openvpn --tls-crypt-v2 "$HERE/tls-crypt-v2-server.key" \
    --genkey tls-crypt-v2-client "$HERE/tls-crypt-v2-client-user.key" \
    "$(printf 'postern user metadata' | base64)"

wait_for() { # wait_for <file> <pattern> <count> <seconds>
  local deadline=$((SECONDS + $4))
  while ((SECONDS < deadline)); do
    if [[ -f "$1" ]] && (($(grep -c -- "$2" "$1" || true) >= $3)); then return 0; fi
    sleep 0.2
  done
  echo "capture.sh: timed out waiting for '$2' in $1" >&2
  tail -20 "$1" >&2 || true
  return 1
}

wait_for_ivs() { # wait_for_ivs <log> <count> <seconds>: distinct implicit IVs used to decrypt
  local deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    if (($(grep -o 'DECRYPT IV: .*' "$1" | awk '{print $4 $5}' | sort -u | wc -l) >= $2)); then
      return 0
    fi
    sleep 0.2
  done
  echo "capture.sh: $1 never decrypted under $2 keys" >&2
  return 1
}

run() { # run <scenario> <description> <transport udp|tcp> <renegotiate 0|1> <wrap args...>
  local scenario=$1 description=$2 transport=$3 reneg=$4
  shift 4
  local dir="$WORK/$scenario"
  mkdir -p "$dir"
  NS="postern-ovcap-$$-$RANDOM"
  ip netns add "$NS"
  ip netns exec "$NS" ip link set lo up

  ip netns exec "$NS" tcpdump -i lo -U -Z root -w "$dir/capture.pcap" "port 1194" \
    2>"$dir/tcpdump.log" &
  PIDS+=($!)
  wait_for "$dir/tcpdump.log" 'listening on' 1 5

  local sproto=udp4 cproto=udp4 exitnotify=(--explicit-exit-notify 1)
  if [[ "$transport" == tcp ]]; then sproto=tcp4-server cproto=tcp4-client exitnotify=(); fi
  local renegopt=()
  if [[ "$reneg" == 1 ]]; then renegopt=(--reneg-sec 4); fi

  ip netns exec "$NS" env LD_PRELOAD="$WORK/ekm-log.so" openvpn \
    --server 100.64.0.0 255.255.255.0 --topology subnet --dev tun --dh none \
    --ca "$WORK/ca.crt" --cert "$WORK/server.crt" --key "$WORK/server.key" \
    --data-ciphers AES-256-GCM --proto "$sproto" --local 127.0.0.1 --port 1194 \
    --keepalive 1 10 --verb 9 "${SERVER_WRAP[@]}" >"$dir/server.log" 2>&1 &
  PIDS+=($!)
  wait_for "$dir/server.log" 'Initialization Sequence Completed' 1 10

  ip netns exec "$NS" env LD_PRELOAD="$WORK/ekm-log.so" openvpn \
    --client --dev tun --ifconfig-noexec --route-noexec --nobind \
    --script-security 2 --up "$WORK/tun-up.sh" \
    --remote 127.0.0.1 1194 --proto "$cproto" --remote-cert-tls server \
    --ca "$WORK/ca.crt" --cert "$WORK/client.crt" --key "$WORK/client.key" \
    --data-ciphers AES-256-GCM --verb 9 "${exitnotify[@]}" "${renegopt[@]}" "$@" \
    >"$dir/client.log" 2>&1 &
  local client=$!
  PIDS+=("$client")
  wait_for "$dir/client.log" 'Initialization Sequence Completed' 1 15

  # An ICMP echo from the server side: a real IPv4 packet inside a server-to-client DATA_V2.
  ip netns exec "$NS" ping -c 2 -i 0.5 -W 1 100.64.0.2 >/dev/null 2>&1 || true
  if [[ "$reneg" == 1 ]]; then
    wait_for "$dir/client.log" 'Outgoing Data Channel: CIPHER KEY' 2 15
    # Both sides must have decrypted data under both keys (keepalive pings every second).
    wait_for_ivs "$dir/client.log" 2 10
    wait_for_ivs "$dir/server.log" 2 10
  else
    sleep 1.5
  fi

  kill -TERM "$client" # explicit-exit-notify (UDP): the client says goodbye
  sleep 1.5
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 0.5
  PIDS=()
  ip netns del "$NS"
  NS=""

  cp "$dir/capture.pcap" "$HERE/$scenario.pcap"
  node "$HERE/extract.mjs" "$scenario" "$dir/capture.pcap" "$dir/server.log" "$dir/client.log" \
    "$description" >"$HERE/$scenario.json"
  # Format as the repository's prettier check expects (no-op when prettier is not installed).
  (cd "$HERE/../../.." && npx --no-install prettier --write "test/vectors/openvpn/$scenario.json" \
    >/dev/null 2>&1) || true
  echo "# $scenario: $(grep -c '"dir"' "$HERE/$scenario.json") packets"
}

scenarios=("$@")
[[ ${#scenarios[@]} -gt 0 ]] || scenarios=(udp-tls-crypt udp-tls-crypt-v2 tcp-tls-crypt)
for s in "${scenarios[@]}"; do
  case "$s" in
    udp-tls-crypt)
      SERVER_WRAP=(--tls-crypt "$HERE/tls-crypt.key")
      run "$s" 'UDP, tls-crypt, AES-256-GCM, client renegotiates after 4 s, ping through tunnel' \
        udp 1 --tls-crypt "$HERE/tls-crypt.key"
      ;;
    udp-tls-crypt-v2)
      SERVER_WRAP=(--tls-crypt-v2 "$HERE/tls-crypt-v2-server.key")
      run "$s" 'UDP, tls-crypt-v2 (timestamp metadata), AES-256-GCM, ping through tunnel' \
        udp 0 --tls-crypt-v2 "$HERE/tls-crypt-v2-client.key"
      ;;
    tcp-tls-crypt)
      SERVER_WRAP=(--tls-crypt "$HERE/tls-crypt.key")
      run "$s" 'TCP, tls-crypt, AES-256-GCM, ping through tunnel' \
        tcp 0 --tls-crypt "$HERE/tls-crypt.key"
      ;;
    *)
      echo "capture.sh: unknown scenario $s" >&2
      exit 2
      ;;
  esac
done
