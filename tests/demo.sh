#!/usr/bin/env bash
# `make demo`: snid's whole path on this machine with real parts.
#
# A dnsmasq with host records, two TLS services (openssl s_server, each with
# its own self-signed certificate), snid on 127.0.0.1, and curl fetching each
# name through snid, plus one name outside the allow-list that snid refuses.
#
# Two names must lead to two backends, and snid connects to the port the
# client used, so the two services need two addresses.  ::1 is the only IPv6
# loopback address, hence:
#   as root   everything runs in a private network namespace (snid-demo-PID)
#             whose loopback also carries 2001:db8::a and 2001:db8::b, one
#             service each, on port 443, snid allowing 2001:db8::/112 -- the
#             shape of a real deployment, nothing touches the host's network;
#   otherwise on the host's loopback: alpha on [::1], beta on 127.0.0.2 (an A
#             record; snid asks for A only because an IPv4 prefix is allowed),
#             on free high ports.
# Everything started is stopped by PID on exit (trap), the namespace deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
SNID=${SNID:-./snid}
[ -x "$SNID" ] || { echo "demo: no $SNID; run 'make' first" >&2; exit 1; }

TMP=$(mktemp -d /tmp/snid-demo.XXXXXX)
chmod 755 "$TMP"
PIDS=()
NS=""
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	done
	[ -n "$NS" ] && ip netns del "$NS" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if [ -t 1 ]; then B=$'\033[1m' N=$'\033[0m'; else B= N=; fi
say() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
# In the namespace when there is one.  Background jobs use "${NSX[@]}" CMD &
# directly (not a function) so that $! is the PID of CMD itself: ip netns
# exec execs it.
NSX=()
inns() { "${NSX[@]}" "$@"; }
free_port() {
	python3 -c 'import socket
for _ in range(50):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    try:
        for h, f in (("::1", socket.AF_INET6), ("127.0.0.2", socket.AF_INET)):
            t = socket.socket(f); t.bind((h, p)); t.close()
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", p)); u.close()
        print(p); break
    except OSError: pass'
}
# Wait (at most 5 s) until something accepts on host port.
wait_tcp() {
	local i
	for i in $(seq 50); do
		inns python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 0.2).close()' "$1" "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "demo: nothing listening on $1 port $2" >&2; return 1
}

if [ "$(id -u)" = 0 ]; then
	NS=snid-demo-$$
	ip netns add "$NS"
	NSX=(ip netns exec "$NS")
	ip -n "$NS" link set lo up
	ip -n "$NS" -6 addr add 2001:db8::a/128 dev lo nodad
	ip -n "$NS" -6 addr add 2001:db8::b/128 dev lo nodad
	ALPHA=2001:db8::a BETA=2001:db8::b BETA_REC=$BETA OUTSIDE=::1
	PORT=443 BPORT=443 DNSPORT=53
	CIDRS=(-backend-cidr 2001:db8::/112)
	WHERE="private network namespace $NS (loopback with 2001:db8::a and 2001:db8::b)"
else
	ALPHA=::1 BETA=127.0.0.2 BETA_REC=127.0.0.2 OUTSIDE=2001:db8::dead
	PORT=$(free_port) BPORT=$(free_port) DNSPORT=$(free_port)
	CIDRS=(-backend-cidr ::1/128 -backend-cidr 127.0.0.2/32)
	WHERE="host loopback (not root: no namespace; beta on 127.0.0.2)"
fi
hp() { case $1 in *:*) echo "[$1]:$2";; *) echo "$1:$2";; esac; }

say "snid demo in the $WHERE"

say "1. DNS: dnsmasq on 127.0.0.1:$DNSPORT"
"${NSX[@]}" dnsmasq --no-daemon --keep-in-foreground --conf-file=/dev/null --user="$(id -un)" \
	--port="$DNSPORT" --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts \
	--pid-file="$TMP/dnsmasq.pid" --local=/demo.test/ \
	--host-record=alpha.demo.test,$ALPHA --host-record=beta.demo.test,$BETA_REC \
	--host-record=outside.demo.test,$OUTSIDE 2>"$TMP/dnsmasq.log" &
PIDS+=($!)
echo "   alpha.demo.test   -> $ALPHA"
echo "   beta.demo.test    -> $BETA"
echo "   outside.demo.test -> $OUTSIDE   (outside the allow-list)"

say "2. Two TLS services (openssl s_server, each with its own certificate)"
for svc in alpha beta; do
	addr=$ALPHA; [ $svc = beta ] && addr=$BETA
	mkdir -p "$TMP/$svc"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-keyout "$TMP/$svc/key.pem" -out "$TMP/$svc/cert.pem" -subj "/CN=$svc.demo.test" \
		-addext "subjectAltName=DNS:$svc.demo.test" 2>/dev/null
	printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nHello from the %s service (%s, certificate CN=%s.demo.test)\n' \
		"$svc" "$(hp "$addr" "$BPORT")" "$svc" >"$TMP/$svc/index.txt"
	cat "$TMP/$svc/cert.pem" >>"$TMP/ca.pem"
	six=(); case $addr in *:*) six=(-6);; esac
	(cd "$TMP/$svc" && exec "${NSX[@]}" openssl s_server -quiet -HTTP "${six[@]}" \
		-accept "$(hp "$addr" "$BPORT")" -cert cert.pem -key key.pem >"$TMP/$svc.log" 2>&1) &
	PIDS+=($!)
	wait_tcp "$addr" "$BPORT"
	echo "   $svc: openssl s_server on $(hp "$addr" "$BPORT")"
done

say "3. snid on 127.0.0.1:$PORT"
ARGS=(-listen "tcp:127.0.0.1:$PORT" "${CIDRS[@]}" -dns-server "127.0.0.1:$DNSPORT")
[ "$BPORT" != "$PORT" ] && ARGS+=(-backend-port "$BPORT")
echo "   $SNID ${ARGS[*]}"
"${NSX[@]}" "$SNID" "${ARGS[@]}" 2>"$TMP/snid.log" &
SNID_PID=$!
PIDS+=($SNID_PID)
for _ in $(seq 50); do grep -q "info: ready: " "$TMP/snid.log" 2>/dev/null && break; sleep 0.1; done
grep -q "info: ready: " "$TMP/snid.log" || { echo "demo: snid did not start:"; cat "$TMP/snid.log"; exit 1; }

fail=0
say "4. curl through snid: each name reaches its own service"
for svc in alpha beta; do
	url="https://$svc.demo.test:$PORT/index.txt"
	echo "   \$ curl --cacert ca.pem --resolve $svc.demo.test:$PORT:127.0.0.1 $url"
	if out=$(inns curl -sS --max-time 10 --cacert "$TMP/ca.pem" \
		--resolve "$svc.demo.test:$PORT:127.0.0.1" "$url" 2>&1) && [[ $out == *"the $svc service"* ]]; then
		echo "   $out"
	else
		echo "   UNEXPECTED: $out"; fail=1
	fi
done

say "5. A name outside the allow-list is refused (TLS alert unrecognized_name)"
url="https://outside.demo.test:$PORT/"
echo "   \$ curl --cacert ca.pem --resolve outside.demo.test:$PORT:127.0.0.1 $url"
if out=$(inns curl -sS --max-time 10 --cacert "$TMP/ca.pem" \
	--resolve "outside.demo.test:$PORT:127.0.0.1" "$url" 2>&1); then
	echo "   UNEXPECTED success: $out"; fail=1
else
	echo "   $out"
	[[ $out == *"unrecognized name"* ]] || { echo "   UNEXPECTED: no unrecognized_name alert"; fail=1; }
fi

say "6. snid's log (one access line per connection)"
kill -TERM "$SNID_PID"
rc=0
wait "$SNID_PID" || rc=$?
sed 's/^/   /' "$TMP/snid.log"
echo "   (snid exited with status $rc after SIGTERM)"
[ "$rc" = 0 ] || fail=1

echo
if [ $fail = 0 ]; then echo "demo: OK (everything it started is stopped on exit)"; else echo "demo: FAILED"; fi
exit $fail
