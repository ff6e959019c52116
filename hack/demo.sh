#!/usr/bin/env bash
# make demo: three control-plane hosts and a client in network namespaces on a
# bridge of their own, vipd on each host, then a crash, a recovery and a graceful
# hand-off, with `vipctl status` and the outage a client saw at each step.
# Everything it creates carries the prefix below and is removed on exit, even on
# Ctrl-C. No packet leaves the namespaces; addresses are in 198.18.0.0/15.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: needs root (network namespaces)"; exit 1; }
for b in bin/vipd bin/vipctl; do [ -x "$b" ] || { echo "demo: $b missing; run make build"; exit 1; }; done
command -v ping >/dev/null || { echo "demo: ping missing; run make deps"; exit 1; }

P="vd$$"                       # unique prefix for this run
RUN=$(mktemp -d "/tmp/$P.XXXX")
VIP=198.18.0.100
INTERVAL=100ms
declare -A PID PRIO=([1]=150 [2]=120 [3]=100) MAC

cleanup() {
	set +e
	for p in "${PID[@]}" "${PINGPID:-}"; do [ -n "$p" ] && { kill -9 "$p"; wait "$p"; } 2>/dev/null; done
	for ns in h1 h2 h3 c sw; do ip netns del "$P-$ns" 2>/dev/null; done
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
inns() { local ns=$1; shift; ip netns exec "$P-$ns" "$@"; }

say "building a switch, three hosts and a client (prefix $P)"
ip netns add "$P-sw"
inns sw ip link add br0 type bridge
inns sw ip link set br0 up
plug() { # plug NAME ADDR: a namespace with eth0 cabled to the switch
	ip netns add "$P-$1"
	ip link add eth0 netns "$P-$1" type veth peer name "$1" netns "$P-sw"
	inns sw ip link set "$1" master br0 up
	inns "$1" ip link set lo up
	inns "$1" ip addr add "$2/24" dev eth0
	inns "$1" ip link set eth0 up
}
for h in 1 2 3; do plug "h$h" "198.18.0.1$h"; MAC[$h]=$(inns "h$h" cat /sys/class/net/eth0/address); done
plug c 198.18.0.2

startd() { # startd HOST
	ip netns exec "$P-h$1" bin/vipd --interface eth0 --vip "$VIP" --vrid 51 --priority "${PRIO[$1]}" \
		--advert-interval "$INTERVAL" --control-socket "$RUN/h$1.sock" >>"$RUN/h$1.log" 2>&1 &
	PID[$1]=$!
}
status() { for h in 1 2 3; do [ -S "$RUN/h$h.sock" ] && inns "h$h" bin/vipctl --socket "$RUN/h$h.sock" status | sed "s/^/  h$h  /"; done; return 0; }
master() { for h in 1 2 3; do inns "h$h" ip -o addr show dev eth0 | grep -q " $VIP/32" && printf 'h%s ' "$h"; done; echo; }
wait_master() { # wait_master HOST
	for _ in $(seq 100); do [ "$(master)" = "h$1 " ] && return 0; sleep 0.1; done
	echo "demo: h$1 did not become master"; status; exit 1
}
answering() { local mac; mac=$(inns c ip neigh show "$VIP" | awk '{print $5}'); for h in 1 2 3; do [ "${MAC[$h]}" = "$mac" ] && echo "h$h"; done; }

# The client pings the VIP every 10 ms; lost replies are the outage it saw.
probe_start() { ip netns exec "$P-c" ping -D -n -i 0.01 -W 1 "$VIP" >"$RUN/ping" 2>&1 & PINGPID=$!; sleep 0.5; }
probe_stop() {
	{ kill -INT "$PINGPID"; wait "$PINGPID"; } 2>/dev/null || true; PINGPID=
	# The outage is the longest time between two replies (ping -D stamps each one).
	awk -F'[][]' '/bytes from/ { t = $2 + 0; if (last && t - last > gap) gap = t - last; last = t; n++ }
		END { printf "  client: %d replies; longest time without an answer: %d ms\n", n, gap * 1000 }' "$RUN/ping"
}

say "starting vipd on h1 (priority 150), h2 (120), h3 (100), advert interval $INTERVAL"
for h in 1 2 3; do startd "$h"; done
wait_master 1
sleep 0.5
status
echo "  VIP $VIP is on: $(master)"

say "crash: h1's cable is pulled and its vipd killed with -9"
probe_start
inns c ping -c1 -W1 "$VIP" >/dev/null && echo "  client reaches $VIP at $(answering)"
inns sw ip link set h1 down
{ kill -9 "${PID[1]}"; wait "${PID[1]}"; } 2>/dev/null || true; PID[1]=
wait_master2() { for _ in $(seq 100); do inns h2 ip -o addr show dev eth0 | grep -q " $VIP/32" && return 0; sleep 0.1; done; echo "demo: h2 did not take over"; exit 1; }
wait_master2
sleep 1
probe_stop
rm -f "$RUN/h1.sock"
status
echo "  client's ARP entry for $VIP now points at $(answering)"

say "recovery: h1 comes back; the VIP that kill -9 left on it is cleaned up first, then it preempts"
inns h1 ip -o addr show dev eth0 | grep -q " $VIP/32" && echo "  h1 still carries the stale VIP from before the crash"
probe_start
inns sw ip link set h1 up
startd 1
wait_master 1
sleep 1
probe_stop
status

say "graceful: SIGTERM to h1; it sends priority 0 but keeps the VIP until h2 (after its Skew_Time) has taken it: make before break"
probe_start
kill -TERM "${PID[1]}"; wait "${PID[1]}" || true; PID[1]=
wait_master2
sleep 1
probe_stop
status
echo "  VIP $VIP is on: $(master)"
say "done; cleaning up"
