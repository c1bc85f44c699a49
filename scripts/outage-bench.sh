#!/usr/bin/env bash
# Measures issue 4's outage target the way docs/overload.md reports it: a
# private PostgreSQL cluster (scripts/pg-private.sh), a real
# `peakwallet serve` on it, and `peakwallet bench --scenario outage`
# stopping and starting that cluster under load; then `peakwallet verify`.
#
#   scripts/outage-bench.sh fast|immediate|stall OUT.json [bench flags…]
#
# Defaults: 30 s of payments at half the measured capacity, the database
# stopped after 5 s for 10 s (fast or immediate: pg_ctl's stop modes), or
# stalled for 10 s (stall: every server process frozen with SIGSTOP, its
# connections open, then SIGCONT). The cluster and the server's data are made
# fresh in a temporary directory and removed at the end. SAMPLE_DIR=DIR keeps
# the server's /metrics, read about every 0.45 s, in DIR, for
# scripts/outage-timeline.sh.
set -euo pipefail
mode=${1:?stop mode: fast, immediate or stall}
out=${2:?output JSON file}
shift 2
export GOTOOLCHAIN=auto
root=$(cd "$(dirname "$0")/.." && pwd)
pg=$root/scripts/pg-private.sh
work=$(mktemp -d /tmp/outage-bench.XXXXXX)
chmod 755 "$work"
# free_port prints a port in [$1, $1+10000) that nothing listens on.
free_port() {
	local p
	while :; do
		p=$(($1 + RANDOM % 10000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p" && return; }
	done
}
# below the ephemeral range (32768-60999 here): in it, a connection of
# the machine's (the bench's own, of an earlier run) could hold the port
# and the cluster fail to start ("Address already in use", twice on
# 2026-11-29)
port=$(free_port 10000)
server=
cleanup() {
	[ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
	"$pg" destroy "$work/pg" "$port" || true
	rm -rf "$work"
}
trap cleanup EXIT
(cd "$root" && go build -o "$work/peakwallet" ./cmd/peakwallet)
"$pg" init "$work/pg" "$port"
dsn=$("$pg" dsn "$work/pg" "$port")
export PEAKWALLET_OPERATOR_KEY=outage-bench-operator-key-$RANDOM$RANDOM
addr=127.0.0.1:$(free_port 20000)
"$work/peakwallet" serve --data "$work/data" --postgres "$dsn" --addr "$addr" --log-level warn >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do
	curl -sf "http://$addr/readyz" >/dev/null && break
	sleep 0.1
done
stop="$pg stop $work/pg $port $mode" start="$pg start $work/pg $port"
if [ "$mode" = stall ]; then
	stop="$pg pause $work/pg $port" start="$pg resume $work/pg $port"
fi
sampler=""
if [ -n "${SAMPLE_DIR:-}" ]; then
	# /metrics about every 0.45 s, one file a read named by its time, until
	# the server stops answering (scripts/outage-timeline.sh reads them)
	mkdir -p "$SAMPLE_DIR"
	(while curl -sf -H "Authorization: Bearer $PEAKWALLET_OPERATOR_KEY" "http://$addr/metrics" -o "$SAMPLE_DIR/m.$(date +%s.%N)"; do sleep 0.4; done) &
	sampler=$!
fi
echo "machine load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$work/peakwallet" bench --target "http://$addr" --scenario outage \
	--outage-stop "$stop" --outage-start "$start" \
	--outage-warmup 5s --outage-for 10s --duration 30s \
	--users 2000 --merchants 100 --callers 64 --principals 64 "$@" >"$out" || status=$?
echo "report: $out; machine load now: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
[ -z "$sampler" ] || kill "$sampler" 2>/dev/null || true
kill -TERM "$server"
wait "$server" || true
server=
# The server's warnings and errors stay beside the report.
cp "$work/serve.log" "${out%.json}.serve.log"
"$work/peakwallet" verify --postgres "$dsn" >&2
exit "${status:-0}"
