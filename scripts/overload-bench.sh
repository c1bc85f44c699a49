#!/usr/bin/env bash
# Measures issue 4's overload targets the way docs/overload.md reports them:
# a real `peakwallet serve` in one process, `peakwallet bench --target` in
# another (its measured requests sent with fasthttp, from 64 operators).
#
#   scripts/overload-bench.sh SCENARIO DURATION OUT.json [store flags…]
#
# SCENARIO is overload or mixed; store flags (`--postgres postgres://…`)
# pick the store, SQLite in a fresh temporary directory by default; more
# serve flags go in $SERVE_FLAGS, more bench flags in $BENCH_FLAGS (e.g.
# `--offered-rps 10000` to offer the same load to two builds), more build
# flags in $BUILD_FLAGS (`-tags modernc` for the pure-Go SQLite driver), and
# $SERVE_WRAP is a command the server runs under (e.g. `env GOGC=400`). BENCH_NICE=19 runs the generator at that
# nice value, so that it takes only the CPU the server leaves: nearer to a
# load machine of its own than an equal share of the server's cores. SAMPLE=FILE
# writes scripts/batch-sampler.sh's second-by-second commits and admission
# state to FILE during the run; SERVE_LOG=FILE keeps the server's log (warnings and
# errors; SERVE_FLAGS="--log-level info" for more). After the run the server is stopped,
# `peakwallet verify` checks the store, and the temporary data is removed.
set -euo pipefail
scenario=${1:?scenario: overload or mixed}
duration=${2:?duration, e.g. 30s}
out=${3:?output JSON file}
shift 3
export GOTOOLCHAIN=auto
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
# shellcheck disable=SC2086 # BUILD_FLAGS is a list of flags
(cd "$root" && go build ${BUILD_FLAGS:-} -o "$work/peakwallet" ./cmd/peakwallet)
export PEAKWALLET_OPERATOR_KEY=overload-bench-operator-key-$RANDOM$RANDOM
# below the ephemeral range (32768-60999 here), where the generator's own connections could take it
addr=127.0.0.1:$((20000 + RANDOM % 12000))
# shellcheck disable=SC2086 # SERVE_WRAP and SERVE_FLAGS are lists of words
${SERVE_WRAP:-} "$work/peakwallet" serve --data "$work/data" --addr "$addr" --log-level warn ${SERVE_FLAGS:-} "$@" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do
	curl -sf "http://$addr/readyz" >/dev/null && break
	sleep 0.1
done
sampler=""
if [ -n "${SAMPLE:-}" ]; then
	"$root/scripts/batch-sampler.sh" "http://$addr" >"$SAMPLE" 2>/dev/null &
	sampler=$!
fi
# shellcheck disable=SC2086 # BENCH_FLAGS is a list of flags
nice -n "${BENCH_NICE:-0}" "$work/peakwallet" bench --target "http://$addr" --scenario "$scenario" --duration "$duration" \
	--users 2000 --merchants 100 --callers 64 --principals 64 ${BENCH_FLAGS:-} >"$out"
[ -z "$sampler" ] || kill "$sampler" 2>/dev/null || true
echo "report: $out; machine load now: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
kill -TERM "$server"
wait "$server" || true
[ -z "${SERVE_LOG:-}" ] || cp "$work/serve.log" "$SERVE_LOG"
"$work/peakwallet" verify --data "$work/data" "$@" >&2
